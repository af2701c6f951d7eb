// UTF-16 (AssemblyScript strings) to UTF-8 (everything the host reads), with optional JSON escaping.
//
// One function serves three callers: the result JSON (escaped), `log` messages and the abort handler
// (plain). It writes straight into unmanaged memory, so none of them allocates a managed buffer,
// and it never produces invalid UTF-8: a lone surrogate becomes U+FFFD.

/** Encodes `s` as UTF-8 at `dst` (at most `cap` bytes, never splitting a character) and returns the
 *  byte count. With `dst == 0` it only counts. With `escape`, `"` `\` and control characters are
 *  written as JSON escapes (`\"`, `\\`, `\n`, `\u001b`, ...), as serde_json does. */
export function utf8(s: string, dst: usize, cap: usize, escape: bool): usize {
  const units = <usize>s.length;
  const src = changetype<usize>(s);
  let n: usize = 0;
  for (let i: usize = 0; i < units; i++) {
    let c = <u32>load<u16>(src + (i << 1));
    let size: usize;
    if (escape && (c == 0x22 || c == 0x5c || c < 0x20)) {
      // Two-byte escapes where JSON has one, `\u00XX` for the other control characters.
      size = c == 0x22 || c == 0x5c || c == 0x08 || c == 0x09 || c == 0x0a || c == 0x0c || c == 0x0d ? 2 : 6;
      if (n + size > cap) break;
      if (dst) writeEscape(dst + n, c);
      n += size;
      continue;
    }
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < units) {
      const low = <u32>load<u16>(src + ((i + 1) << 1));
      if (low >= 0xdc00 && low < 0xe000) {
        if (n + 4 > cap) break;
        if (dst) putCodePoint(dst + n, 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00));
        n += 4;
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd; // a lone surrogate
    size = c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    if (n + size > cap) break;
    if (dst) putCodePoint(dst + n, c);
    n += size;
  }
  return n;
}

/** Writes code point `c` as 1 to 4 UTF-8 bytes at `dst`; returns the byte count. */
export function putCodePoint(dst: usize, c: u32): usize {
  if (c < 0x80) {
    store<u8>(dst, c);
    return 1;
  }
  if (c < 0x800) {
    store<u8>(dst, 0xc0 | (c >> 6));
    store<u8>(dst, 0x80 | (c & 0x3f), 1);
    return 2;
  }
  if (c < 0x10000) {
    store<u8>(dst, 0xe0 | (c >> 12));
    store<u8>(dst, 0x80 | ((c >> 6) & 0x3f), 1);
    store<u8>(dst, 0x80 | (c & 0x3f), 2);
    return 3;
  }
  store<u8>(dst, 0xf0 | (c >> 18));
  store<u8>(dst, 0x80 | ((c >> 12) & 0x3f), 1);
  store<u8>(dst, 0x80 | ((c >> 6) & 0x3f), 2);
  store<u8>(dst, 0x80 | (c & 0x3f), 3);
  return 4;
}

function writeEscape(dst: usize, c: u32): void {
  store<u8>(dst, 0x5c); // backslash
  let short: u32 = 0;
  if (c == 0x22) short = 0x22; // \"
  else if (c == 0x5c) short = 0x5c; // \\
  else if (c == 0x08) short = 0x62; // \b
  else if (c == 0x09) short = 0x74; // \t
  else if (c == 0x0a) short = 0x6e; // \n
  else if (c == 0x0c) short = 0x66; // \f
  else if (c == 0x0d) short = 0x72; // \r
  if (short) {
    store<u8>(dst, short, 1);
    return;
  }
  const hex = "0123456789abcdef";
  store<u8>(dst, 0x75, 1); // u
  store<u8>(dst, 0x30, 2);
  store<u8>(dst, 0x30, 3);
  store<u8>(dst, hex.charCodeAt(c >> 4), 4);
  store<u8>(dst, hex.charCodeAt(c & 0xf), 5);
}

/** Writes the decimal digits of `value` at `dst` (at most `cap` bytes); returns the byte count. */
export function putDecimal(dst: usize, cap: usize, value: u64): usize {
  let digits: usize = 1;
  for (let v = value; v >= 10; v /= 10) digits++;
  if (digits > cap) return 0;
  let v = value;
  for (let i = digits; i > 0; i--) {
    store<u8>(dst + i - 1, <u32>(v % 10) + 0x30);
    v /= 10;
  }
  return digits;
}
