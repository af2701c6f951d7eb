// Reads and extends the top level of a WebAssembly binary, core module or component, without a
// dependency: its imports (for a component) and its custom sections. Used by build.mjs and the
// dev tools beside it.
//
// A binary is the magic `\0asm`, a 4-byte version/layer (01 00 00 00 for a core module,
// 0d 00 01 00 for a component), then sections: an id byte, the LEB128 size of the rest, the
// contents. A custom section (id 0) is the LEB128 length of its name, the name, the payload; it
// may stand anywhere at the top level.

const MAGIC = 0x6d736100;
const COMPONENT_IMPORT_SECTION = 10;
const SORTS = { 0x00: "core module", 0x01: "func", 0x02: "value", 0x03: "type", 0x04: "component", 0x05: "instance" };

class Reader {
  constructor(bytes, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }
  byte() {
    if (this.pos >= this.end) throw new Error("unexpected end of the wasm binary");
    return this.bytes[this.pos++];
  }
  u32() {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new Error("LEB128 integer too long");
    }
  }
  name() {
    const len = this.u32();
    if (this.pos + len > this.end) throw new Error("a name runs past its section");
    const text = new TextDecoder("utf-8", { fatal: true }).decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return text;
  }
}

/** `{kind: "module" | "component", sections: [{id, start, end, name?}]}`; throws if not wasm. */
export function readSections(bytes) {
  if (bytes.length < 8 || new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(0, true) !== MAGIC) {
    throw new Error("not a WebAssembly binary (no \\0asm magic)");
  }
  const layer = bytes[6] | (bytes[7] << 8);
  const kind = layer === 1 ? "component" : "module";
  const r = new Reader(bytes, 8);
  const sections = [];
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    const end = start + size;
    if (end > bytes.length) throw new Error(`section ${id} at ${start} runs past the end of the binary`);
    const section = { id, start, end };
    if (id === 0) section.name = new Reader(bytes, start, end).name();
    sections.push(section);
    r.pos = end;
  }
  return { kind, sections };
}

/** The names of the custom sections at the top level. */
export function customSectionNames(bytes) {
  return readSections(bytes).sections.filter((s) => s.id === 0).map((s) => s.name);
}

/** A component's top-level imports: `[{name, sort}]`, e.g. `{name: "wasi:io/poll@0.2.12", sort: "instance"}`. */
export function componentImports(bytes) {
  const { kind, sections } = readSections(bytes);
  if (kind !== "component") throw new Error("not a component (a core module)");
  const imports = [];
  for (const s of sections) {
    if (s.id !== COMPONENT_IMPORT_SECTION) continue;
    const r = new Reader(bytes, s.start, s.end);
    for (let n = r.u32(); n > 0; n--) {
      // importname': 0x00 name, or 0x01 name plus a version suffix (or, in older encodings, a URL).
      const tag = r.byte();
      const name = r.name();
      if (tag === 0x01) r.name();
      else if (tag !== 0x00) throw new Error(`unknown import name encoding 0x${tag.toString(16)}`);
      // externdesc
      const sortByte = r.byte();
      const sort = SORTS[sortByte];
      if (sort === undefined) throw new Error(`unknown extern sort 0x${sortByte.toString(16)} for import ${name}`);
      if (sortByte === 0x00) {
        r.byte(); // 0x11: core module
        r.u32();
      } else if (sortByte === 0x02) {
        if (r.byte() === 0x00) r.u32(); // a type index, else a primitive value type
      } else if (sortByte === 0x03) {
        if (r.byte() === 0x00) r.u32(); // eq bound, else sub resource
      } else {
        r.u32();
      }
      imports.push({ name, sort });
    }
  }
  return imports;
}

function leb128(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Uint8Array.from(out);
}

/** `bytes` with a custom section `name` holding `payload` appended; throws if one is there. */
export function appendCustomSection(bytes, name, payload) {
  if (customSectionNames(bytes).includes(name)) {
    throw new Error(`the binary already has a custom section ${name}`);
  }
  const nameBytes = new TextEncoder().encode(name);
  const body = [leb128(nameBytes.length), nameBytes, payload];
  const size = body.reduce((n, b) => n + b.length, 0);
  const parts = [bytes, Uint8Array.of(0), leb128(size), ...body];
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
