// A forward-only JSON reader over UTF-8 bytes in linear memory.
//
// It is a port of the Rust SDK's head reader (guest-sdk/src/head.rs): it never builds a tree, reads
// only the members it is asked for, and skips everything else by counting brackets outside strings,
// iteratively (no recursion, so deep nesting cannot exhaust the wasm stack). Strings are decoded
// only when asked for, with every JSON escape including `\uXXXX` surrogate pairs; an unpaired
// surrogate, an unknown escape or a raw control character is an error, as in serde_json.
//
// Walking an object:
//
//   const r = new JsonReader(ptr, len);
//   if (r.enterObject()) {
//     while (r.nextMember()) {          // the cursor is now at the member's value
//       if (r.keyIs("kind")) kind = r.optString();
//       else r.skipValue();             // every value must be consumed
//     }
//   }
//   if (r.failed) ... r.error ...
//
// After an error every call returns false/null/-1 and `error` keeps the first reason.
//
// For documents a plugin needs whole (a Kubernetes object to compare or write back), `readValue`
// builds a `JsonValue` tree, and `JsonWriter` writes one (or strings, numbers...) as UTF-8 JSON
// into unmanaged memory, with the same escaping as results.

import { putCodePoint, utf8 } from "./utf8";

const QUOTE: u32 = 0x22;
const BACKSLASH: u32 = 0x5c;

export class JsonReader {
  /** Where the JSON starts, for error offsets. */
  readonly start: usize;
  /** One past the last byte. */
  readonly end: usize;
  /** The cursor. */
  pos: usize;
  /** The first error, e.g. `expected a string at byte 12`; null while reading succeeds. */
  error: string | null = null;
  /** The current member's key, raw (between the quotes, escapes not decoded). */
  keyStart: usize = 0;
  keyEnd: usize = 0;
  keyEscaped: bool = false;
  /** True right after `enterObject`: the next member needs no comma before it. */
  private opened: bool = false;
  /** Whether the string last found by `stringEnd` has escapes. */
  private escaped: bool = false;

  constructor(ptr: usize, len: usize) {
    this.start = ptr;
    this.end = ptr + len;
    this.pos = ptr;
  }

  get failed(): bool {
    return this.error !== null;
  }

  /** Records the first error (with its byte offset), moves to the end and returns false. */
  fail(message: string): bool {
    if (this.error === null) {
      this.error = message + " at byte " + (this.pos - this.start).toString();
    }
    this.pos = this.end;
    return false;
  }

  /** The next byte that is not whitespace, not consumed; -1 at the end. */
  peek(): i32 {
    let p = this.pos;
    while (p < this.end) {
      const b = load<u8>(p);
      if (b != 0x20 && b != 0x0a && b != 0x0d && b != 0x09) break;
      p++;
    }
    this.pos = p;
    return p < this.end ? <i32>load<u8>(p) : -1;
  }

  /** Consumes `{` and starts iterating the object's members with `nextMember`. */
  enterObject(): bool {
    if (this.failed) return false;
    const c = this.peek();
    if (c < 0) return this.fail("the JSON is truncated");
    if (c != 0x7b) return this.fail("expected an object");
    this.pos++;
    this.opened = true;
    return true;
  }

  /** Reads the next member's key and `:`; the cursor is then at its value, which the caller must
   *  consume. Returns false after the object's closing `}` (consumed) or on an error. */
  nextMember(): bool {
    if (this.failed) return false;
    let c = this.peek();
    if (c == 0x7d) {
      this.pos++;
      this.opened = false;
      return false;
    }
    if (!this.opened) {
      if (c < 0) return this.fail("the JSON is truncated");
      if (c != 0x2c) return this.fail("expected `,` or `}`");
      this.pos++;
      c = this.peek();
    }
    this.opened = false;
    if (c < 0) return this.fail("the JSON is truncated");
    if (c != QUOTE) return this.fail("expected a string key");
    const close = this.stringEnd();
    if (close == 0) return false;
    this.keyStart = this.pos + 1;
    this.keyEnd = close;
    this.keyEscaped = this.escaped;
    this.pos = close + 1;
    c = this.peek();
    if (c != 0x3a) return this.fail(c < 0 ? "the JSON is truncated" : "expected `:`");
    this.pos++;
    return true;
  }

  /** True when the current key is `name` (decoding the key's escapes if it has any). */
  keyIs(name: string): bool {
    if (this.keyEscaped) {
      const key = this.decode(this.keyStart, this.keyEnd, true);
      return key !== null && key == name;
    }
    // Compare the key's UTF-8 bytes with the name's UTF-16 units while both are ASCII, without
    // allocating; a non-ASCII character in the name falls back to decoding the key.
    const len = this.keyEnd - this.keyStart;
    const units = <usize>name.length;
    const chars = changetype<usize>(name);
    for (let i: usize = 0; i < units && i < len; i++) {
      const c = <u32>load<u16>(chars + (i << 1));
      if (c >= 0x80) return String.UTF8.decodeUnsafe(this.keyStart, len) == name;
      if (<u32>load<u8>(this.keyStart + i) != c) return false;
    }
    // An ASCII prefix matched: equal only if neither has more.
    return units == len;
  }

  /** The current key, decoded. */
  key(): string {
    const key = this.decode(this.keyStart, this.keyEnd, this.keyEscaped);
    return key !== null ? key : "";
  }

  /** The string value at the cursor, decoded; an error (and null) if it is not a string. */
  readString(): string | null {
    if (this.failed) return null;
    const c = this.peek();
    if (c != QUOTE) {
      this.fail(c < 0 ? "the JSON is truncated" : "expected a string");
      return null;
    }
    const close = this.stringEnd();
    if (close == 0) return null;
    const value = this.decode(this.pos + 1, close, this.escaped);
    if (value !== null) this.pos = close + 1;
    return value;
  }

  /** The string value at the cursor, or null (the value skipped) if it is not a string. */
  optString(): string | null {
    if (this.peek() == QUOTE) return this.readString();
    this.skipValue();
    return null;
  }

  /** Consumes `[` and starts iterating the array's elements with `nextElement`. */
  enterArray(): bool {
    if (this.failed) return false;
    const c = this.peek();
    if (c < 0) return this.fail("the JSON is truncated");
    if (c != 0x5b) return this.fail("expected an array");
    this.pos++;
    this.opened = true;
    return true;
  }

  /** Moves to the next element (past its `,`); the cursor is then at the element, which the
   *  caller must consume. Returns false after the array's closing `]` (consumed) or on an error. */
  nextElement(): bool {
    if (this.failed) return false;
    let c = this.peek();
    if (c == 0x5d) {
      this.pos++;
      this.opened = false;
      return false;
    }
    if (!this.opened) {
      if (c < 0) return this.fail("the JSON is truncated");
      if (c != 0x2c) return this.fail("expected `,` or `]`");
      this.pos++;
      c = this.peek();
    }
    this.opened = false;
    if (c < 0) return this.fail("the JSON is truncated");
    return true;
  }

  /** The value at the cursor as a tree, consumed; null and an error if it is not valid JSON or
   *  nests deeper than `MAX_DEPTH`. Recursion is bounded by that depth. */
  readValue(): JsonValue | null {
    return this.readValueAt(0);
  }

  private readValueAt(depth: i32): JsonValue | null {
    if (this.failed) return null;
    const c = this.peek();
    if (c < 0) {
      this.fail("the JSON is truncated");
      return null;
    }
    if (c == 0x7b || c == 0x5b) {
      if (depth >= MAX_DEPTH) {
        this.fail("the JSON nests deeper than " + MAX_DEPTH.toString() + " levels");
        return null;
      }
      if (c == 0x7b) {
        const object = JsonValue.object();
        this.enterObject();
        while (this.nextMember()) {
          const key = this.key();
          const value = this.readValueAt(depth + 1);
          if (value === null) return null;
          object.append(key, value);
        }
        return this.failed ? null : object;
      }
      const array = JsonValue.array();
      this.enterArray();
      while (this.nextElement()) {
        const value = this.readValueAt(depth + 1);
        if (value === null) return null;
        array.push(value);
      }
      return this.failed ? null : array;
    }
    if (c == QUOTE) {
      const s = this.readString();
      return s === null ? null : JsonValue.string(s);
    }
    if (c == 0x74) return this.literal("true", JsonValue.bool(true));
    if (c == 0x66) return this.literal("false", JsonValue.bool(false));
    if (c == 0x6e) return this.literal("null", JsonValue.null());
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) {
      const text = this.readNumberText();
      return text === null ? null : JsonValue.numberText(text);
    }
    this.fail("expected a value");
    return null;
  }

  private literal(word: string, value: JsonValue): JsonValue | null {
    const n = <usize>word.length;
    if (this.pos + n <= this.end) {
      let same = true;
      for (let i: usize = 0; i < n; i++) {
        if (<u32>load<u8>(this.pos + i) != <u32>word.charCodeAt(<i32>i)) same = false;
      }
      if (same) {
        this.pos += n;
        return value;
      }
    }
    this.fail("expected a value");
    return null;
  }

  /** The number at the cursor as written (JSON's grammar: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`),
   *  consumed; null and an error otherwise. */
  readNumberText(): string | null {
    if (this.failed) return null;
    this.peek();
    const start = this.pos;
    const end = this.end;
    let p = start;
    if (p < end && load<u8>(p) == 0x2d) p++;
    const intStart = p;
    while (p < end && isDigit(load<u8>(p))) p++;
    let ok = p > intStart && !(load<u8>(intStart) == 0x30 && p - intStart > 1);
    if (ok && p < end && load<u8>(p) == 0x2e) {
      const fracStart = ++p;
      while (p < end && isDigit(load<u8>(p))) p++;
      ok = p > fracStart;
    }
    if (ok && p < end && (load<u8>(p) | 0x20) == 0x65) {
      p++;
      if (p < end && (load<u8>(p) == 0x2b || load<u8>(p) == 0x2d)) p++;
      const expStart = p;
      while (p < end && isDigit(load<u8>(p))) p++;
      ok = p > expStart;
    }
    if (!ok) {
      this.pos = p;
      this.fail("invalid number");
      return null;
    }
    this.pos = p;
    return String.UTF8.decodeUnsafe(start, p - start);
  }

  /** True when the value at the cursor is `null` (not consumed). */
  atNull(): bool {
    return this.peek() == 0x6e; // n
  }

  /** The decoded UTF-8 byte length of the string value at the cursor, consumed without allocating;
   *  -1 (the value skipped) if it is not a string, or on an error. */
  stringByteLength(): i64 {
    if (this.failed) return -1;
    if (this.peek() != QUOTE) {
      this.skipValue();
      return -1;
    }
    const close = this.stringEnd();
    if (close == 0) return -1;
    const n = this.escaped ? this.unescape(this.pos + 1, close, 0) : <i64>(close - this.pos - 1);
    if (n < 0) return -1;
    this.lastStart = this.pos + 1;
    this.lastEnd = close;
    this.lastEscaped = this.escaped;
    this.pos = close + 1;
    return n;
  }

  /** How many of the last (at most `limit`) decoded bytes of the string last measured by
   *  `stringByteLength` equal `byte`: with `0x3d`, the `=` padding of a base64 value. */
  trailingBytes(byte: u32, limit: i32): i32 {
    let from = this.lastStart;
    let to = this.lastEnd;
    let buf: usize = 0;
    if (this.lastEscaped) {
      buf = heap.alloc(to - from);
      const n = this.unescape(from, to, buf);
      from = buf;
      to = buf + <usize>max<i64>(n, 0);
    }
    let count = 0;
    while (count < limit && to > from && <u32>load<u8>(to - 1) == byte) {
      count++;
      to--;
    }
    if (buf) heap.free(buf);
    return count;
  }
  private lastStart: usize = 0;
  private lastEnd: usize = 0;
  private lastEscaped: bool = false;

  /** A non-negative integer value (digits only, as a Kubernetes count or size is written);
   *  -1 and an error otherwise. */
  readUnsigned(): i64 {
    if (this.failed) return -1;
    const c = this.peek();
    if (c < 0x30 || c > 0x39) {
      this.fail("expected a non-negative integer");
      return -1;
    }
    let value: i64 = 0;
    let p = this.pos;
    while (p < this.end) {
      const d = <i32>load<u8>(p) - 0x30;
      if (d < 0 || d > 9) break;
      if (value > (i64.MAX_VALUE - d) / 10) {
        this.fail("integer too large");
        return -1;
      }
      value = value * 10 + d;
      p++;
    }
    // A fraction or exponent makes it a float, not an integer.
    if (p < this.end && (load<u8>(p) == 0x2e || (load<u8>(p) | 0x20) == 0x65)) {
      this.fail("expected an integer");
      return -1;
    }
    this.pos = p;
    return value;
  }

  /** Skips one value: strings to their closing quote, containers to their matching bracket (only
   *  balanced brackets are checked), scalars to the next delimiter. */
  skipValue(): bool {
    if (this.failed) return false;
    const c = this.peek();
    if (c < 0) return this.fail("the JSON is truncated");
    if (c == QUOTE) {
      const close = this.stringEnd();
      if (close == 0) return false;
      this.pos = close + 1;
      return true;
    }
    if (c == 0x7b || c == 0x5b) return this.skipContainer();
    if (c == 0x7d || c == 0x5d || c == 0x2c || c == 0x3a) return this.fail("expected a value");
    let p = this.pos;
    while (p < this.end) {
      const b = load<u8>(p);
      if (b == 0x2c || b == 0x7d || b == 0x5d || b == 0x20 || b == 0x0a || b == 0x0d || b == 0x09) break;
      p++;
    }
    this.pos = p;
    // A scalar is never the last byte of an object member.
    if (p == this.end) return this.fail("the JSON is truncated");
    return true;
  }

  /** After the whole document (an object): only whitespace may follow. */
  ensureEnd(): bool {
    if (this.failed) return false;
    if (this.peek() >= 0) return this.fail("unexpected data after the JSON object");
    return true;
  }

  /** After stopping early, the cheap check on the unread rest (as the Rust SDK does): the document
   *  must end with `}`, which catches a line cut off in transit. */
  ensureClosed(): bool {
    if (this.failed) return false;
    let p = this.end;
    while (p > this.start) {
      const b = load<u8>(p - 1);
      if (b != 0x20 && b != 0x0a && b != 0x0d && b != 0x09) break;
      p--;
    }
    if (p > this.start && load<u8>(p - 1) == 0x7d) return true;
    this.pos = this.end;
    return this.fail("the JSON is truncated");
  }

  // --- internals ---

  /** The address of the quote closing the string at the cursor; 0 (and an error) if there is none,
   *  or if it holds a raw control character. Sets `escaped` when the string has a backslash. */
  private stringEnd(): usize {
    let p = this.pos + 1;
    const end = this.end;
    let escaped = false;
    while (true) {
      p = scanString(p, end, true);
      if (p >= end) break;
      const b = <u32>load<u8>(p);
      if (b == QUOTE) {
        this.escaped = escaped;
        return p;
      }
      if (b != BACKSLASH) {
        this.pos = p;
        this.fail("control character in string");
        return 0;
      }
      escaped = true;
      p += 2;
    }
    this.pos = end;
    this.fail("the JSON is truncated");
    return 0;
  }

  /** Decodes the string contents `[from, to)` (between the quotes), which have escapes if
   *  `escaped`. */
  private decode(from: usize, to: usize, escaped: bool): string | null {
    if (!escaped) return String.UTF8.decodeUnsafe(from, to - from);
    // Escapes never expand: `\n` (2 bytes) is 1 byte, `\uXXXX` (6) at most 3, a pair (12) is 4.
    const buf = heap.alloc(to - from);
    const n = this.unescape(from, to, buf);
    let value: string | null = null;
    if (n >= 0) value = String.UTF8.decodeUnsafe(buf, <usize>n);
    heap.free(buf);
    return value;
  }

  /** Writes the UTF-8 of the string contents `[from, to)`, escapes decoded, at `dst` (or only counts
   *  when `dst` is 0); returns the byte count, or -1 after an error. `to` is a closing quote found by
   *  `stringEnd`, so the byte after a backslash is always before it. */
  private unescape(from: usize, to: usize, dst: usize): i64 {
    let n: usize = 0;
    let p = from;
    while (p < to) {
      const b = <u32>load<u8>(p);
      if (b != BACKSLASH) {
        if (dst) store<u8>(dst + n, b);
        n++;
        p++;
        continue;
      }
      const e = <u32>load<u8>(p + 1);
      p += 2;
      let c: u32 = 0;
      if (e == QUOTE || e == BACKSLASH || e == 0x2f) c = e; // \" \\ \/
      else if (e == 0x62) c = 0x08; // \b
      else if (e == 0x66) c = 0x0c; // \f
      else if (e == 0x6e) c = 0x0a; // \n
      else if (e == 0x72) c = 0x0d; // \r
      else if (e == 0x74) c = 0x09; // \t
      else if (e == 0x75) { // \uXXXX, joining a surrogate pair
        c = this.hex4(p, to);
        if (c == 0xffffffff) return this.unescapeError(p, "invalid \\u escape");
        p += 4;
        if (c >= 0xdc00 && c < 0xe000) return this.unescapeError(p, "unpaired surrogate");
        if (c >= 0xd800 && c < 0xdc00) {
          if (p + 1 >= to || load<u8>(p) != BACKSLASH || load<u8>(p + 1) != 0x75) {
            return this.unescapeError(p, "unpaired surrogate");
          }
          const low = this.hex4(p + 2, to);
          if (low == 0xffffffff) return this.unescapeError(p + 2, "invalid \\u escape");
          if (low < 0xdc00 || low >= 0xe000) return this.unescapeError(p + 2, "unpaired surrogate");
          c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
          p += 6;
        }
      } else return this.unescapeError(p, "invalid escape");
      if (dst) n += putCodePoint(dst + n, c);
      else n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    return <i64>n;
  }

  private unescapeError(at: usize, message: string): i64 {
    this.pos = at;
    this.fail(message);
    return -1;
  }

  /** The value of 4 hex digits at `p` (before `to`), or 0xffffffff. */
  private hex4(p: usize, to: usize): u32 {
    if (p + 4 > to) return 0xffffffff;
    let value: u32 = 0;
    for (let i: usize = 0; i < 4; i++) {
      const d = <u32>load<u8>(p + i);
      let nibble: u32;
      if (d >= 0x30 && d <= 0x39) nibble = d - 0x30;
      else if ((d | 0x20) >= 0x61 && (d | 0x20) <= 0x66) nibble = (d | 0x20) - 0x61 + 10;
      else return 0xffffffff;
      value = (value << 4) | nibble;
    }
    return value;
  }

  /** Skips the container at the cursor: one pass counting brackets outside strings. */
  private skipContainer(): bool {
    let p = this.pos + 1;
    const end = this.end;
    let depth = 1;
    while (p < end) {
      const b = <u32>load<u8>(p++);
      if (b == QUOTE) {
        while (true) {
          p = scanString(p, end, false);
          if (p >= end || load<u8>(p) == QUOTE) break;
          p += 2; // a backslash and the byte it escapes
        }
        p++; // past the closing quote
      } else if (b == 0x7b || b == 0x5b) {
        depth++;
      } else if (b == 0x7d || b == 0x5d) {
        if (--depth == 0) {
          this.pos = p;
          return true;
        }
      }
    }
    this.pos = end;
    return this.fail("the JSON is truncated");
  }
}

/** How deep `readValue` (and so `JsonValue.parse`) nests objects and arrays at most. */
export const MAX_DEPTH: i32 = 256;

// @ts-ignore: decorator
@inline function isDigit(b: u8): bool {
  return b >= 0x30 && b <= 0x39;
}

/** The first address in `[p, end)` holding `"` or `\` (or, with `controls`, a byte below 0x20);
 *  `end` if there is none. Strings are most of a Kubernetes object's bytes, so this tests eight
 *  bytes per step ("SWAR": a byte of `x` is zero iff `(x - 0x01..) & ~x & 0x80..` flags it) and
 *  finishes byte by byte only around a hit. Non-ASCII UTF-8 bytes (>= 0x80) never match. */
// @ts-ignore: decorator
@inline function scanString(p: usize, end: usize, controls: bool): usize {
  const ONES: u64 = 0x0101010101010101;
  const HIGHS: u64 = 0x8080808080808080;
  while (p + 8 <= end) {
    const v = load<u64>(p);
    const quote = v ^ (ONES * 0x22);
    const backslash = v ^ (ONES * 0x5c);
    let hits = ((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash);
    if (controls) hits |= (v - ONES * 0x20) & ~v;
    if (hits & HIGHS) break;
    p += 8;
  }
  while (p < end) {
    const b = <u32>load<u8>(p);
    if (b == QUOTE || b == BACKSLASH || (controls && b < 0x20)) return p;
    p++;
  }
  return end;
}

// --- JSON trees ---

/** What a `JsonValue` holds. */
export enum JsonType {
  NULL = 0,
  BOOL = 1,
  NUMBER = 2,
  STRING = 3,
  ARRAY = 4,
  OBJECT = 5,
}

/** Objects with more members than this get a key index on the first lookup. */
const INDEX_FROM: i32 = 16;

/** A JSON document as a tree, for the objects a plugin reads back, compares or writes
 *  (Kubernetes objects, patches). Objects keep their members' order; when a parsed object has a
 *  key twice, the last one counts (as in serde_json). Numbers keep the text they were read with,
 *  so integers beyond 2^53 survive a round trip.
 *
 *   const cm = JsonValue.object()
 *     .setString("apiVersion", "v1").setString("kind", "ConfigMap")
 *     .set("metadata", JsonValue.object().setString("namespace", "shop").setString("name", "web"))
 *     .set("data", JsonValue.object().setString("mode", "fast"));
 *   cm.dig(["metadata", "name"])!.asString()   // "web"
 *   cm.toJson()                                // {"apiVersion":"v1",...}
 */
export class JsonValue {
  /** Why the last `parse`/`parseAt` returned null, e.g. `expected a value at byte 7`. */
  static lastError: string | null = null;

  private flag: bool = false;
  private num: f64 = 0;
  /** A string's value, or a number's literal text. */
  private text: string = "";
  /** An array's elements or an object's values. */
  private list: JsonValue[] = [];
  /** An object's keys, parallel to `list`. */
  private names: string[] = [];
  /** Key -> last position, built for large objects on demand; null when stale. */
  private index: Map<string, i32> | null = null;

  constructor(readonly type: JsonType) {}

  // --- making values ---

  static null(): JsonValue {
    return new JsonValue(JsonType.NULL);
  }
  static bool(value: bool): JsonValue {
    const v = new JsonValue(JsonType.BOOL);
    v.flag = value;
    return v;
  }
  /** A number. Integral values below 2^53 are written without a fraction (`3`, not `3.0` as
   *  `f64.toString()` writes: integer fields of Kubernetes objects want integers); NaN and
   *  infinities are written as `null`. */
  static number(value: f64): JsonValue {
    const v = new JsonValue(JsonType.NUMBER);
    v.num = value;
    v.text = formatNumber(value);
    return v;
  }
  static integer(value: i64): JsonValue {
    const v = new JsonValue(JsonType.NUMBER);
    v.num = <f64>value;
    v.text = value.toString();
    return v;
  }
  /** A number from its JSON text (already valid JSON, as `JsonReader.readNumberText` gives). */
  static numberText(text: string): JsonValue {
    const v = new JsonValue(JsonType.NUMBER);
    v.num = parseFloat(text);
    v.text = text;
    return v;
  }
  static string(value: string): JsonValue {
    const v = new JsonValue(JsonType.STRING);
    v.text = value;
    return v;
  }
  static array(): JsonValue {
    return new JsonValue(JsonType.ARRAY);
  }
  static object(): JsonValue {
    return new JsonValue(JsonType.OBJECT);
  }

  /** Parses `text` (one JSON value, whitespace around it allowed); null on an error, with the
   *  reason in `JsonValue.lastError`. */
  static parse(text: string): JsonValue | null {
    const len = utf8(text, 0, usize.MAX_VALUE, false);
    const buf = heap.alloc(len > 0 ? len : 1);
    utf8(text, buf, len, false);
    const value = JsonValue.parseAt(buf, len);
    heap.free(buf);
    return value;
  }

  /** Parses the UTF-8 JSON at `[ptr, ptr + len)` (e.g. an event: `parseAt(event.ptr, event.len)`). */
  static parseAt(ptr: usize, len: usize): JsonValue | null {
    const r = new JsonReader(ptr, len);
    const value = r.readValue();
    if (value !== null) r.ensureEnd();
    JsonValue.lastError = r.error;
    return r.failed ? null : value;
  }

  // --- reading ---

  isNull(): bool { return this.type == JsonType.NULL; }
  isBool(): bool { return this.type == JsonType.BOOL; }
  isNumber(): bool { return this.type == JsonType.NUMBER; }
  isString(): bool { return this.type == JsonType.STRING; }
  isArray(): bool { return this.type == JsonType.ARRAY; }
  isObject(): bool { return this.type == JsonType.OBJECT; }

  /** The boolean; false for any other type. */
  asBool(): bool {
    return this.type == JsonType.BOOL && this.flag;
  }
  /** The number; NaN for any other type. */
  asNumber(): f64 {
    return this.type == JsonType.NUMBER ? this.num : NaN;
  }
  /** The number as an integer (exact for integer literals up to 2^63, truncated otherwise); 0
   *  for any other type. */
  asInteger(): i64 {
    if (this.type != JsonType.NUMBER) return 0;
    if (isIntegerText(this.text)) return I64.parseInt(this.text, 10);
    return isFinite(this.num) ? <i64>this.num : 0;
  }
  /** The string; null for any other type. */
  asString(): string | null {
    return this.type == JsonType.STRING ? this.text : null;
  }

  /** Elements of an array, members of an object; 0 for other types. */
  get length(): i32 {
    return this.type == JsonType.ARRAY || this.type == JsonType.OBJECT ? this.list.length : 0;
  }

  /** The array's element `i`; null when out of range or not an array. */
  at(i: i32): JsonValue | null {
    if (this.type != JsonType.ARRAY || i < 0 || i >= this.list.length) return null;
    return this.list[i];
  }

  /** An array's elements, or an object's values, in order (the value's own list: do not change
   *  it); empty for other types. */
  values(): JsonValue[] {
    return this.type == JsonType.ARRAY || this.type == JsonType.OBJECT ? this.list : [];
  }

  /** An object's keys in order (its own list: do not change it); empty for other types. */
  keys(): string[] {
    return this.type == JsonType.OBJECT ? this.names : [];
  }

  /** True when this is an object with the member `key`. */
  has(key: string): bool {
    return this.indexOf(key) >= 0;
  }

  /** The object's member `key`; null when absent or when this is not an object. */
  get(key: string): JsonValue | null {
    const i = this.indexOf(key);
    return i >= 0 ? this.list[i] : null;
  }

  /** The member `key` if it is a string; null otherwise. */
  getString(key: string): string | null {
    const v = this.get(key);
    return v !== null ? v.asString() : null;
  }

  /** Follows object members: `dig(["metadata", "labels", "app"])`; null where one is missing. */
  dig(path: string[]): JsonValue | null {
    let v: JsonValue | null = this;
    for (let i = 0; i < path.length && v !== null; i++) v = v.get(path[i]);
    return v;
  }

  // --- changing ---

  /** Appends `value` to this array; returns this. */
  push(value: JsonValue): JsonValue {
    if (this.type == JsonType.ARRAY) this.list.push(value);
    return this;
  }

  /** Sets the object's member `key` (replacing it in place, or appending it); returns this, to
   *  chain. Does nothing on other types. */
  set(key: string, value: JsonValue): JsonValue {
    if (this.type != JsonType.OBJECT) return this;
    const i = this.indexOf(key);
    if (i >= 0) this.list[i] = value;
    else this.append(key, value);
    return this;
  }
  setString(key: string, value: string): JsonValue {
    return this.set(key, JsonValue.string(value));
  }
  setNumber(key: string, value: f64): JsonValue {
    return this.set(key, JsonValue.number(value));
  }
  setInteger(key: string, value: i64): JsonValue {
    return this.set(key, JsonValue.integer(value));
  }
  setBool(key: string, value: bool): JsonValue {
    return this.set(key, JsonValue.bool(value));
  }

  /** Removes the object's member `key` (every copy); whether there was one. */
  remove(key: string): bool {
    if (this.type != JsonType.OBJECT) return false;
    let found = false;
    for (let i = this.names.length - 1; i >= 0; i--) {
      if (this.names[i] == key) {
        this.names.splice(i, 1);
        this.list.splice(i, 1);
        found = true;
      }
    }
    if (found) this.index = null;
    return found;
  }

  /** Appends a member without looking for an existing one (the parser's path: duplicates are
   *  kept, and lookups find the last). */
  append(key: string, value: JsonValue): void {
    if (this.type != JsonType.OBJECT) return;
    this.names.push(key);
    this.list.push(value);
    const index = this.index;
    if (index !== null) index.set(key, this.list.length - 1);
  }

  /** A deep copy. */
  clone(): JsonValue {
    const v = new JsonValue(this.type);
    v.flag = this.flag;
    v.num = this.num;
    v.text = this.text;
    for (let i = 0; i < this.list.length; i++) {
      if (this.type == JsonType.OBJECT) v.names.push(this.names[i]);
      v.list.push(this.list[i].clone());
    }
    return v;
  }

  /** Deep equality: objects member by member in any order, arrays element by element, numbers
   *  by value (`1` equals `1.0`; integer literals exactly). */
  equals(other: JsonValue): bool {
    if (this.type != other.type) return false;
    switch (this.type) {
      case JsonType.NULL: return true;
      case JsonType.BOOL: return this.flag == other.flag;
      case JsonType.NUMBER:
        // Two integer literals exactly, by their text (JSON's grammar makes it canonical, `-0`
        // aside; they may differ beyond f64's 53 bits, or i64's), others by value.
        if (isIntegerText(this.text) && isIntegerText(other.text)) {
          return this.text == other.text || (this.num == 0 && other.num == 0);
        }
        return this.num == other.num;
      case JsonType.STRING: return this.text == other.text;
      case JsonType.ARRAY: {
        if (this.list.length != other.list.length) return false;
        for (let i = 0; i < this.list.length; i++) {
          if (!this.list[i].equals(other.list[i])) return false;
        }
        return true;
      }
      default: {
        // Objects: the same keys (duplicates count once), each with an equal value.
        if (this.distinctKeys() != other.distinctKeys()) return false;
        for (let i = 0; i < this.names.length; i++) {
          const mine = this.get(this.names[i])!;
          const theirs = other.get(this.names[i]);
          if (theirs === null || !mine.equals(theirs)) return false;
        }
        return true;
      }
    }
  }

  /** The value as compact JSON. */
  toJson(): string {
    const w = new JsonWriter();
    w.value(this);
    const text = w.toString();
    w.free();
    return text;
  }

  toString(): string {
    return this.toJson();
  }

  // --- internals ---

  /** The position of the last member `key`, or -1. */
  private indexOf(key: string): i32 {
    if (this.type != JsonType.OBJECT) return -1;
    const n = this.names.length;
    if (n > INDEX_FROM) {
      let index = this.index;
      if (index === null) {
        index = new Map<string, i32>();
        for (let i = 0; i < n; i++) index.set(this.names[i], i);
        this.index = index;
      }
      return index.has(key) ? index.get(key) : -1;
    }
    for (let i = n - 1; i >= 0; i--) {
      if (this.names[i] == key) return i;
    }
    return -1;
  }

  private distinctKeys(): i32 {
    let count = 0;
    for (let i = 0; i < this.names.length; i++) {
      if (this.indexOf(this.names[i]) == i) count++;
    }
    return count;
  }

  /** Writes this value (used by `JsonWriter.value`). */
  writeTo(w: JsonWriter): void {
    switch (this.type) {
      case JsonType.NULL: w.raw("null"); break;
      case JsonType.BOOL: w.raw(this.flag ? "true" : "false"); break;
      case JsonType.NUMBER: w.raw(this.text); break;
      case JsonType.STRING: w.string(this.text); break;
      case JsonType.ARRAY: {
        w.byte(0x5b);
        for (let i = 0; i < this.list.length; i++) {
          if (i > 0) w.byte(0x2c);
          this.list[i].writeTo(w);
        }
        w.byte(0x5d);
        break;
      }
      default: {
        w.byte(0x7b);
        let first = true;
        for (let i = 0; i < this.names.length; i++) {
          // A key parsed twice is written once, with the value that counts (the last).
          if (this.names.length > 1 && this.indexOf(this.names[i]) != i) continue;
          if (!first) w.byte(0x2c);
          first = false;
          w.string(this.names[i]);
          w.byte(0x3a);
          this.list[i].writeTo(w);
        }
        w.byte(0x7d);
      }
    }
  }
}

/** `text` is an integer literal (no fraction, no exponent). */
function isIntegerText(text: string): bool {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x2e || c == 0x65 || c == 0x45) return false;
  }
  return text.length > 0;
}

/** JSON text for `value`: an integer when it is integral below 2^53, `null` when not finite. */
export function formatNumber(value: f64): string {
  if (!isFinite(value)) return "null";
  if (value == Math.trunc(value) && Math.abs(value) < 9007199254740992.0) return (<i64>value).toString();
  return value.toString();
}

// --- writing ---

/** Writes JSON as UTF-8 into a growing block of unmanaged memory (`ptr`, `len`), escaping strings
 *  as results are escaped (`\"`, `\\`, `\n`, `\u001b`; a lone surrogate becomes U+FFFD). The
 *  block belongs to the writer until `free()`, which the owner must call. */
export class JsonWriter {
  ptr: usize = 0;
  len: usize = 0;
  private cap: usize = 0;

  /** Makes room for `more` bytes. */
  private reserve(more: usize): void {
    const need = this.len + more;
    if (need <= this.cap) return;
    let cap = this.cap < 128 ? <usize>128 : this.cap << 1;
    while (cap < need) cap <<= 1;
    this.ptr = this.ptr ? heap.realloc(this.ptr, cap) : heap.alloc(cap);
    this.cap = cap;
  }

  byte(b: u32): JsonWriter {
    this.reserve(1);
    store<u8>(this.ptr + this.len, <u8>b);
    this.len++;
    return this;
  }

  /** `text` as is (UTF-8, no quotes, no escaping): punctuation, literals, numbers. */
  raw(text: string): JsonWriter {
    const n = utf8(text, 0, usize.MAX_VALUE, false);
    this.reserve(n);
    this.len += utf8(text, this.ptr + this.len, n, false);
    return this;
  }

  /** `"text"`, escaped. */
  string(text: string): JsonWriter {
    const n = utf8(text, 0, usize.MAX_VALUE, true);
    this.reserve(n + 2);
    store<u8>(this.ptr + this.len, 0x22);
    this.len++;
    this.len += utf8(text, this.ptr + this.len, n, true);
    store<u8>(this.ptr + this.len, 0x22);
    this.len++;
    return this;
  }

  /** A number (see `JsonValue.number`). */
  number(value: f64): JsonWriter {
    return this.raw(formatNumber(value));
  }

  /** `"key":` after a `,` unless `first`. */
  key(key: string, first: bool = false): JsonWriter {
    if (!first) this.byte(0x2c);
    this.string(key);
    return this.byte(0x3a);
  }

  value(value: JsonValue): JsonWriter {
    value.writeTo(this);
    return this;
  }

  /** What was written, as a string. */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, this.len);
  }

  /** Frees the block; the writer is empty again. */
  free(): void {
    if (this.ptr) heap.free(this.ptr);
    this.ptr = 0;
    this.len = 0;
    this.cap = 0;
  }
}
