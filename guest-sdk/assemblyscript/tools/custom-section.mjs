// Appends a custom section to a wasm module: node custom-section.mjs MODULE.wasm NAME PAYLOAD_FILE
//
// AssemblyScript cannot emit custom sections, so the build appends `event-controller.subscribe`
// (docs/ABI.md §6) this way. A custom section is id 0, the LEB128 size of the rest, the LEB128
// length of the name, the name, then the payload; it may follow any other section. A section of the
// same name already in the module is an error (the host refuses two), so rebuild from source first.
import { readFileSync, writeFileSync } from "node:fs";

const [file, name, payloadFile] = process.argv.slice(2);
if (!file || !name || !payloadFile) {
  console.error("usage: node custom-section.mjs MODULE.wasm NAME PAYLOAD_FILE");
  process.exit(2);
}

const leb128 = (n) => {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
};

const module = readFileSync(file);
if (module.readUInt32LE(0) !== 0x6d736100) throw new Error(`${file} is not a wasm module`);
const nameBytes = Buffer.from(name, "utf8");
const payload = readFileSync(payloadFile);
JSON.parse(payload.toString("utf8")); // the host wants JSON: fail here rather than at load time
if (WebAssembly.Module.customSections(new WebAssembly.Module(module), name).length > 0) {
  throw new Error(`${file} already has a custom section ${name}`);
}
const body = Buffer.concat([leb128(nameBytes.length), nameBytes, payload]);
writeFileSync(file, Buffer.concat([module, Buffer.from([0]), leb128(body.length), body]));
