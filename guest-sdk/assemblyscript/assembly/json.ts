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

import { putCodePoint } from "./utf8";

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
