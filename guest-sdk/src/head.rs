//! The head of a watch event: its `type`, `object.kind`/`apiVersion` and `object.metadata` identity.
//!
//! [`EventHead::read`] scans the JSON without building a tree and stops as soon as it has `type`,
//! `kind`, `apiVersion` and `metadata`: with the API server's field order (`type`, then `kind`,
//! `apiVersion`, `metadata`, `spec`, `status`) the spec and status of a 6 KB Pod are never read.
//! Strings are borrowed from the input unless they contain escapes. The part after the head is not
//! validated; the only check on it is that the document ends with `}`, which catches a line cut
//! off in transit. Skipping uses `memchr`, so a long annotation costs little.
//!
//! This is a small hand-written scanner because no JSON crate stops at a set of fields: parsing
//! the head with `serde_json` and `IgnoredAny` costs ~3.5 µs on a 6 KB Pod (every skipped string
//! is decoded byte by byte), this ~1 µs; see the README's performance section.

use std::borrow::Cow;
use std::fmt;

/// The identifying fields of a watch event, borrowed from the event's JSON where possible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventHead<'a> {
    /// `type`: `ADDED`, `MODIFIED` or `DELETED`.
    pub event_type: Option<Cow<'a, str>>,
    /// `object.apiVersion`.
    pub api_version: Option<Cow<'a, str>>,
    /// `object.kind`.
    pub kind: Option<Cow<'a, str>>,
    /// `object.metadata.name`.
    pub name: Option<Cow<'a, str>>,
    /// `object.metadata.namespace`.
    pub namespace: Option<Cow<'a, str>>,
    /// `object.metadata.uid`.
    pub uid: Option<Cow<'a, str>>,
    /// `object.metadata.resourceVersion`.
    pub resource_version: Option<Cow<'a, str>>,
    /// `object.metadata.labels`, in document order.
    pub labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> EventHead<'a> {
    /// Reads the head of the watch event `json`, stopping once it has everything it needs.
    ///
    /// Fields that are absent or not strings are `None`. Fails on malformed or truncated JSON in
    /// the part it reads, or when the event is not a JSON object.
    pub fn read(json: &'a [u8]) -> Result<EventHead<'a>, HeadError> {
        let mut reader = Reader {
            bytes: json,
            pos: 0,
        };
        let mut head = EventHead::default();
        if reader.peek()? != b'{' {
            return Err(reader.error("the event is not a JSON object"));
        }
        let (mut have_type, mut have_object) = (false, false);
        let stopped = reader.object(|reader, key| {
            match key.as_ref() {
                "type" => {
                    head.event_type = reader.opt_string()?;
                    have_type = true;
                }
                "object" if reader.peek()? == b'{' => {
                    // With `type` already read, nothing after the object's head is needed.
                    read_object(reader, &mut head, !have_type)?;
                    have_object = true;
                }
                _ => reader.skip_value()?,
            }
            Ok(have_type && have_object)
        })?;
        if stopped {
            reader.ensure_closed()?;
        } else {
            reader.ensure_end()?;
        }
        Ok(head)
    }
}

/// Reads `kind`, `apiVersion` and `metadata` of the event's object and stops after the three;
/// with `skip_rest`, skips the rest of the object so the caller can read on after it.
fn read_object<'a>(
    reader: &mut Reader<'a>,
    head: &mut EventHead<'a>,
    skip_rest: bool,
) -> Result<(), HeadError> {
    let (mut kind, mut api_version, mut metadata) = (false, false, false);
    let stopped_early = reader.object(|reader, key| {
        match key.as_ref() {
            "kind" => {
                head.kind = reader.opt_string()?;
                kind = true;
            }
            "apiVersion" => {
                head.api_version = reader.opt_string()?;
                api_version = true;
            }
            "metadata" if reader.peek()? == b'{' => {
                read_metadata(reader, head)?;
                metadata = true;
            }
            _ => reader.skip_value()?,
        }
        Ok(kind && api_version && metadata)
    })?;
    if stopped_early && skip_rest {
        reader.skip_rest_of_container()?;
    }
    Ok(())
}

fn read_metadata<'a>(reader: &mut Reader<'a>, head: &mut EventHead<'a>) -> Result<(), HeadError> {
    reader.object(|reader, key| {
        match key.as_ref() {
            "name" => head.name = reader.opt_string()?,
            "namespace" => head.namespace = reader.opt_string()?,
            "uid" => head.uid = reader.opt_string()?,
            "resourceVersion" => head.resource_version = reader.opt_string()?,
            "labels" if reader.peek()? == b'{' => {
                let labels = &mut head.labels;
                reader.object(|reader, key| {
                    if let Some(value) = reader.opt_string()? {
                        labels.push((key, value));
                    }
                    Ok(false)
                })?;
            }
            _ => reader.skip_value()?,
        }
        Ok(false)
    })?;
    Ok(())
}

/// Why the head of an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError {
    message: &'static str,
    offset: usize,
}

impl HeadError {
    /// The byte offset in the event where reading failed.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for HeadError {}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, message: &'static str) -> HeadError {
        HeadError {
            message,
            offset: self.pos,
        }
    }

    fn truncated(&self) -> HeadError {
        self.error("the JSON is truncated")
    }

    /// After a complete document: only whitespace may follow.
    fn ensure_end(&mut self) -> Result<(), HeadError> {
        match self.peek() {
            Err(_) => Ok(()),
            Ok(_) => Err(self.error("unexpected data after the JSON object")),
        }
    }

    /// After stopping early: the cheap check on the unread tail is that the document ends with
    /// `}`, which catches a line cut off in transit.
    fn ensure_closed(&mut self) -> Result<(), HeadError> {
        match self.bytes.iter().rev().find(|b| !b.is_ascii_whitespace()) {
            Some(b'}') => Ok(()),
            _ => {
                self.pos = self.bytes.len();
                Err(self.truncated())
            }
        }
    }

    /// The next non-whitespace byte, not consumed.
    fn peek(&mut self) -> Result<u8, HeadError> {
        while let Some(&byte) = self.bytes.get(self.pos) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                return Ok(byte);
            }
            self.pos += 1;
        }
        Err(self.truncated())
    }

    fn expect(&mut self, byte: u8, message: &'static str) -> Result<(), HeadError> {
        if self.peek()? != byte {
            return Err(self.error(message));
        }
        self.pos += 1;
        Ok(())
    }

    /// Calls `field` for each member with its key, the reader at the value, which `field` must
    /// consume. `field` returns `true` to stop early, leaving the reader inside the object.
    /// Returns whether it stopped early.
    fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, Cow<'a, str>) -> Result<bool, HeadError>,
    ) -> Result<bool, HeadError> {
        self.expect(b'{', "expected an object")?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(false);
        }
        loop {
            if self.peek()? != b'"' {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.expect(b':', "expected `:`")?;
            if field(self, key)? {
                return Ok(true);
            }
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(false);
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// A string value, or `None` (the value skipped) if it is not a string.
    fn opt_string(&mut self) -> Result<Option<Cow<'a, str>>, HeadError> {
        if self.peek()? == b'"' {
            self.string().map(Some)
        } else {
            self.skip_value().map(|()| None)
        }
    }

    /// Reads the string at the cursor; borrowed unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, HeadError> {
        self.expect(b'"', "expected a string")?;
        let start = self.pos;
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.truncated()),
                Some(b'"') => {
                    let text = self.utf8(start, self.pos)?;
                    self.pos += 1;
                    return Ok(Cow::Borrowed(text));
                }
                Some(b'\\') => return self.escaped_string(start).map(Cow::Owned),
                Some(&byte) if byte < 0x20 => return Err(self.error("control character in string")),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn utf8(&self, start: usize, end: usize) -> Result<&'a str, HeadError> {
        std::str::from_utf8(&self.bytes[start..end]).map_err(|_| HeadError {
            message: "invalid UTF-8 in string",
            offset: start,
        })
    }

    /// Decodes a string with escapes; `start` is just after the opening quote.
    fn escaped_string(&mut self, start: usize) -> Result<String, HeadError> {
        let mut out = String::from(self.utf8(start, self.pos)?);
        loop {
            let run_start = self.pos;
            while let Some(&byte) = self.bytes.get(self.pos) {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(self.utf8(run_start, self.pos)?);
            match self.bytes.get(self.pos) {
                None => return Err(self.truncated()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = *self.bytes.get(self.pos).ok_or_else(|| self.truncated())?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{08}'),
                        b'f' => out.push('\u{0C}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }

    /// The character of a `\uXXXX` escape (after `\u`), joining surrogate pairs.
    fn unicode_escape(&mut self) -> Result<char, HeadError> {
        let high = self.hex4()?;
        let code = match high {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(self.error("unpaired surrogate"));
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.error("unpaired surrogate"));
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("unpaired surrogate")),
            _ => high,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))
    }

    fn hex4(&mut self) -> Result<u32, HeadError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.truncated())?;
        let mut value = 0;
        for &digit in digits {
            let nibble = (digit as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            value = value * 16 + nibble;
        }
        self.pos += 4;
        Ok(value)
    }

    /// Skips a string without decoding it; the cursor is at the opening quote.
    fn skip_string(&mut self) -> Result<(), HeadError> {
        self.pos += 1;
        loop {
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            let skip = memchr::memchr2(b'"', b'\\', rest);
            self.pos += skip.unwrap_or(rest.len());
            match self.bytes.get(self.pos) {
                None => return Err(self.truncated()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => self.pos += 2,
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Skips one value (checked only for balanced brackets and terminated strings).
    fn skip_value(&mut self) -> Result<(), HeadError> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                self.pos += 1;
                self.skip_rest_of_container()
            }
            b'}' | b']' | b',' | b':' => Err(self.error("expected a value")),
            _ => {
                let start = self.pos;
                while let Some(&byte) = self.bytes.get(self.pos) {
                    if matches!(byte, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == self.bytes.len() {
                    // A scalar is never the last byte of a watch event.
                    return Err(self.truncated());
                }
                debug_assert!(self.pos > start);
                Ok(())
            }
        }
    }

    /// Skips to just after the bracket closing the container the cursor is in.
    fn skip_rest_of_container(&mut self) -> Result<(), HeadError> {
        let mut depth = 1usize;
        loop {
            // The hot loop of the reader: jump over bytes that are not structural.
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            let skip = rest.iter().position(|&b| STRUCTURAL[b as usize]);
            self.pos += skip.unwrap_or(rest.len());
            match self.bytes.get(self.pos) {
                None => return Err(self.truncated()),
                Some(b'"') => self.skip_string()?,
                Some(b'{' | b'[') => {
                    depth += 1;
                    self.pos += 1;
                }
                Some(_) => {
                    self.pos += 1;
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// The bytes `"`, `{`, `[`, `}` and `]`, which [`Reader::skip_rest_of_container`] stops at.
static STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'{' as usize] = true;
    table[b'[' as usize] = true;
    table[b'}' as usize] = true;
    table[b']' as usize] = true;
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::borrow::Cow;

    fn reference(line: &str) -> Option<EventHead<'static>> {
        let v: Value = serde_json::from_str(line).ok()?;
        let v = v.as_object()?;
        let s = |x: Option<&Value>| x.and_then(Value::as_str).map(|s| Cow::Owned(s.to_owned()));
        let o = v.get("object").filter(|o| o.is_object());
        let m = o.and_then(|o| o.get("metadata")).filter(|m| m.is_object());
        let f = |k: &str| s(m.and_then(|m| m.get(k)));
        let labels = m
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|l| {
                let mut l: Vec<_> = l
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((Cow::Owned(k.clone()), Cow::Owned(v.as_str()?.to_owned())))
                    })
                    .collect();
                l.sort();
                l
            })
            .unwrap_or_default();
        Some(EventHead {
            event_type: s(v.get("type")),
            api_version: s(o.and_then(|o| o.get("apiVersion"))),
            kind: s(o.and_then(|o| o.get("kind"))),
            name: f("name"),
            namespace: f("namespace"),
            uid: f("uid"),
            resource_version: f("resourceVersion"),
            labels,
        })
    }

    fn check(line: &str) {
        let mut got = EventHead::read(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"));
        got.labels.sort();
        assert_eq!(Some(got), reference(line), "{line}");
    }

    #[test]
    fn fixtures_match_serde_json() {
        let mut n = 0;
        let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        for dir in [
            format!("{repo}/conf"),
            format!("{repo}/plugins-wasm/plugin_crashloop/testdata"),
        ] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().map_or(true, |e| e != "jsonl") {
                    continue;
                }
                for line in std::fs::read_to_string(&path)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.is_empty())
                {
                    check(line);
                    n += 1;
                }
            }
        }
        assert!(n >= 40, "{n}");
    }

    #[test]
    fn borrowed_and_escapes() {
        let line = r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a\"b\\c\u00e9\ud83d\ude00\n","namespace":"ns","labels":{"k\/1":"v","n":1,"x":"y"}}}}"#;
        check(line);
        let h = EventHead::read(line.as_bytes()).unwrap();
        assert!(matches!(h.kind, Some(Cow::Borrowed("Pod"))));
        assert_eq!(h.name.as_deref(), Some("a\"b\\cé😀\n"));
        assert_eq!(
            h.labels,
            vec![
                (Cow::Borrowed("k/1"), Cow::Borrowed("v")),
                (Cow::Borrowed("x"), Cow::Borrowed("y"))
            ]
        );
    }

    #[test]
    fn other_orders_and_shapes() {
        for line in [
            r#"{"object":{"spec":{"a":[1,{"b":"}"}]},"metadata":{"labels":{},"name":"n"},"apiVersion":"v1","kind":"Pod","status":{}},"type":"DELETED"}"#,
            r#" { "type" : "MODIFIED" , "object" : { "kind" : "X" , "apiVersion" : "g/v1" , "metadata" : { "name" : "n" , "uid" : "u" , "resourceVersion" : "7" } , "spec" : [ true , false , null , -1.5e3 ] } } "#,
            r#"{"type":null,"object":{"kind":7,"metadata":null}}"#,
            r#"{"type":"ADDED","object":null}"#,
            r#"{"type":"ADDED"}"#,
            r#"{}"#,
            r#"{"object":{"kind":"A","apiVersion":"v","metadata":{"name":"x"},"more":1},"extra":{"deep":[[[]]]},"type":"ADDED"}"#,
        ] {
            check(line);
        }
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "   ",
            "[1]",
            "\"s\"",
            "null",
            "{",
            "{\"type\"",
            "{\"type\":",
            "{\"type\":\"ADD",
            "{\"type\":\"ADDED\",",
            "{\"type\" \"x\"}",
            "{type:1}",
            "{\"type\":\"a\\qb\"}",
            "{\"type\":\"\\ud800\"}",
        ] {
            assert!(EventHead::read(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let e = EventHead::read(b"{\"object\":{\"kind\":\"Pod\",\"spec\":{\"x\":1").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(EventHead::read(b"{\"type\":\"\xff\"}").is_err());
    }

    #[test]
    fn every_prefix_is_handled_without_panicking() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../conf/sample-events.jsonl"
        ))
        .unwrap();
        for line in text
            .lines()
            .filter(|l| l.contains(r#""object":{"kind":"Pod""#))
        {
            for cut in 0..line.len() {
                let _ = EventHead::read(&line.as_bytes()[..cut]);
            }
            // A cut inside the head must be an error: the head ends after metadata.
            let meta_end = line.find("\"spec\"").unwrap();
            for cut in 0..meta_end.saturating_sub(1) {
                assert!(
                    EventHead::read(&line.as_bytes()[..cut]).is_err(),
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn stops_after_the_head() {
        // Garbage after the head is never read when type comes first.
        let line = br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"n"},"spec":GARBAGE}"#;
        let h = EventHead::read(line).unwrap();
        assert_eq!(h.name.as_deref(), Some("n"));
        // ...but a document cut off after the head is still caught by its missing `}`.
        let cut = br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"n"},"spec":{"containers":[{"na"#;
        let e = EventHead::read(cut).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(EventHead::read(br#"{"type":"ADDED"} trailing"#).is_err());
    }
}
