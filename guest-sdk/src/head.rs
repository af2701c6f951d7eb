//! The head of a watch event: its `type`, `object.kind`/`apiVersion` and `object.metadata` identity.
//!
//! [`EventHead::read_fields`] scans the JSON without building a tree and stops as soon as every
//! wanted field is either seen or known to be absent: with the API server's field order (`type`,
//! then `kind`, `apiVersion`, `metadata`, `spec`, `status`) the spec and status of a 6 KB Pod are
//! never read, and with [`Fields::IDENTITY`] neither are its annotations and `managedFields`.
//! Strings are borrowed from the input unless they contain escapes. The part after the head is not
//! validated; the only check on it is that the document ends with `}`, which catches a line cut
//! off in transit.
//!
//! This is a small hand-written scanner because no JSON crate stops at a set of fields: parsing
//! the head with `serde_json` and `IgnoredAny` costs ~3.5 µs on a 6 KB Pod (every skipped string
//! is decoded byte by byte), this ~1 µs; see docs/performance.md.

use std::borrow::Cow;
use std::fmt;

/// Label names and values, borrowed from the event where possible, in document order.
pub type Labels<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

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
    pub labels: Labels<'a>,
}

/// Which fields of the head to read: [`EventHead::read_fields`] stops as soon as these are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fields(u16);

impl Fields {
    /// `type`.
    pub const TYPE: Fields = Fields(1);
    /// `object.apiVersion`.
    pub const API_VERSION: Fields = Fields(1 << 1);
    /// `object.kind`.
    pub const KIND: Fields = Fields(1 << 2);
    /// `object.metadata.name`.
    pub const NAME: Fields = Fields(1 << 3);
    /// `object.metadata.namespace`.
    pub const NAMESPACE: Fields = Fields(1 << 4);
    /// `object.metadata.uid`.
    pub const UID: Fields = Fields(1 << 5);
    /// `object.metadata.resourceVersion`.
    pub const RESOURCE_VERSION: Fields = Fields(1 << 6);
    /// `object.metadata.labels`.
    pub const LABELS: Fields = Fields(1 << 7);
    /// Everything but the labels: with the API server's field order (`name`, `namespace`, `uid`,
    /// `resourceVersion`, then `labels`, `annotations`, `managedFields`) reading stops before the
    /// bulk of `metadata` for namespaced built-in objects.
    pub const IDENTITY: Fields = Fields(0b0111_1111);
    /// Every field of the head.
    pub const ALL: Fields = Fields(0b1111_1111);
    const METADATA: Fields = Fields(0b1111_1000);
    const OBJECT: Fields = Fields(0b1111_1110);

    /// Both sets.
    pub const fn union(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// True when every field of `other` is in `self`.
    pub const fn contains(self, other: Fields) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The reading state: what is wanted and what is already settled (seen, or known to be absent
/// because its object has ended).
struct Progress {
    wanted: Fields,
    settled: Fields,
}

impl Progress {
    fn settle(&mut self, fields: Fields) -> bool {
        self.settled = self.settled.union(fields);
        self.done()
    }

    fn done(&self) -> bool {
        self.settled.contains(self.wanted)
    }
}

impl<'a> EventHead<'a> {
    /// Reads every field of the head of the watch event `json` (see [`EventHead::read_fields`]).
    pub fn read(json: &'a [u8]) -> Result<EventHead<'a>, HeadError> {
        Self::read_fields(json, Fields::ALL)
    }

    /// Reads the `wanted` fields of the head, stopping as soon as each is either seen or known to
    /// be absent; fields not wanted may be left `None` or empty.
    ///
    /// Fields that are absent or not strings are `None`. Fails on malformed or truncated JSON in
    /// the part it reads, or when the event is not a JSON object.
    pub fn read_fields(json: &'a [u8], wanted: Fields) -> Result<EventHead<'a>, HeadError> {
        let mut reader = Reader {
            bytes: json,
            pos: 0,
        };
        let mut head = EventHead::default();
        let mut progress = Progress {
            wanted,
            settled: Fields(0),
        };
        if reader.peek()? != b'{' {
            return Err(reader.error("the event is not a JSON object"));
        }
        let stopped = reader.object(|reader, key| match key.as_ref() {
            "type" => {
                head.event_type = reader.opt_string()?;
                Ok(progress.settle(Fields::TYPE))
            }
            "object" if reader.peek()? == b'{' => {
                let stopped = read_object(reader, &mut head, &mut progress)?;
                Ok(stopped || progress.settle(Fields::OBJECT))
            }
            _ => reader.skip_value().map(|()| false),
        })?;
        if stopped {
            reader.ensure_closed()?;
        } else {
            reader.ensure_end()?;
        }
        Ok(head)
    }
}

/// Reads `kind`, `apiVersion` and `metadata` of the event's object. Returns true when reading
/// stopped inside because everything wanted is settled; the caller then stops too.
fn read_object<'a>(
    reader: &mut Reader<'a>,
    head: &mut EventHead<'a>,
    progress: &mut Progress,
) -> Result<bool, HeadError> {
    reader.object(|reader, key| match key.as_ref() {
        "kind" => {
            head.kind = reader.opt_string()?;
            Ok(progress.settle(Fields::KIND))
        }
        "apiVersion" => {
            head.api_version = reader.opt_string()?;
            Ok(progress.settle(Fields::API_VERSION))
        }
        "metadata" if reader.peek()? == b'{' => {
            let stopped = read_metadata(reader, head, progress)?;
            Ok(stopped || progress.settle(Fields::METADATA))
        }
        _ => reader.skip_value().map(|()| false),
    })
}

/// Reads the identity and labels in `metadata`; returns true when it stopped inside.
fn read_metadata<'a>(
    reader: &mut Reader<'a>,
    head: &mut EventHead<'a>,
    progress: &mut Progress,
) -> Result<bool, HeadError> {
    reader.object(|reader, key| {
        let field = match key.as_ref() {
            "name" => (&mut head.name, Fields::NAME),
            "namespace" => (&mut head.namespace, Fields::NAMESPACE),
            "uid" => (&mut head.uid, Fields::UID),
            "resourceVersion" => (&mut head.resource_version, Fields::RESOURCE_VERSION),
            "labels" if progress.wanted.contains(Fields::LABELS) && reader.peek()? == b'{' => {
                let labels = &mut head.labels;
                reader.object(|reader, key| {
                    if let Some(value) = reader.opt_string()? {
                        labels.push((key, value));
                    }
                    Ok(false)
                })?;
                return Ok(progress.settle(Fields::LABELS));
            }
            _ => return reader.skip_value().map(|()| false),
        };
        *field.0 = reader.opt_string()?;
        Ok(progress.settle(field.1))
    })
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
        match string_end(self.bytes, self.pos + 1) {
            Some(end) => {
                self.pos = end;
                Ok(())
            }
            None => {
                self.pos = self.bytes.len();
                Err(self.truncated())
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
    ///
    /// The hot loop of the reader (`managedFields` alone is a third of a Pod): one pass over the
    /// bytes, counting brackets outside strings.
    fn skip_rest_of_container(&mut self) -> Result<(), HeadError> {
        let bytes = self.bytes;
        let mut pos = self.pos;
        let mut depth = 1usize;
        while let Some(&byte) = bytes.get(pos) {
            pos += 1;
            match byte {
                b'"' => match string_end(bytes, pos) {
                    Some(end) => pos = end,
                    None => break,
                },
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos = pos;
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        self.pos = bytes.len();
        Err(self.truncated())
    }
}

/// The position just after the closing quote of the string whose contents start at `pos`.
///
/// A plain loop beats `memchr` here: strings in metadata are short, or dense with escapes
/// (`last-applied-configuration`), so a search call per run would cost more than it saves.
fn string_end(bytes: &[u8], mut pos: usize) -> Option<usize> {
    while let Some(&byte) = bytes.get(pos) {
        match byte {
            b'"' => return Some(pos + 1),
            b'\\' => pos += 2,
            _ => pos += 1,
        }
    }
    None
}

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
                if path.extension().is_none_or(|e| e != "jsonl") {
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
            // A cut inside the head must be an error: the head ends after metadata. (The only
            // check on an unread tail is the closing brace, so cuts just after a `}` are exempt.)
            let meta_end = line.find("\"spec\"").unwrap();
            for cut in (0..meta_end.saturating_sub(1))
                .filter(|&cut| cut == 0 || line.as_bytes()[cut - 1] != b'}')
            {
                assert!(
                    EventHead::read(&line.as_bytes()[..cut]).is_err(),
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn identity_stops_before_annotations_when_the_order_allows() {
        let line = br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"n","namespace":"ns","uid":"u","resourceVersion":"7","annotations":,,}}}"#;
        let head = EventHead::read_fields(line, Fields::IDENTITY).unwrap();
        assert_eq!(head.resource_version.as_deref(), Some("7"));
        assert_eq!(head.namespace.as_deref(), Some("ns"));
        assert!(
            EventHead::read(line).is_err(),
            "ALL reads on into the garbage"
        );
        // Only what is wanted: kind and name are enough to stop right after the name.
        let head = EventHead::read_fields(
            br#"{"type":"X","object":{"kind":"Pod","metadata":{"name":"n",GARBAGE}"#,
            Fields::KIND.union(Fields::NAME),
        )
        .unwrap();
        assert_eq!(
            (head.kind.as_deref(), head.name.as_deref()),
            (Some("Pod"), Some("n"))
        );
    }

    #[test]
    fn absent_fields_are_settled_when_their_object_ends() {
        // Cluster-scoped: no namespace, so metadata is read to its end, and no further.
        let line = br#"{"type":"ADDED","object":{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"shop","uid":"u","resourceVersion":"3","labels":{"a":"b"}},"spec":GARBAGE}"#;
        let head = EventHead::read_fields(line, Fields::IDENTITY).unwrap();
        assert_eq!(head.namespace, None);
        assert_eq!(head.name.as_deref(), Some("shop"));
        assert!(head.labels.is_empty(), "labels were not wanted");
        let head = EventHead::read(line).unwrap();
        assert_eq!(head.labels, vec![(Cow::Borrowed("a"), Cow::Borrowed("b"))]);
        // Every field is checked against serde_json on every fixture line by
        // `fixtures_match_serde_json`; identity reads agree with full reads on them too.
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../conf/sample-events.jsonl"
        ))
        .unwrap();
        for line in text.lines() {
            let mut full = EventHead::read(line.as_bytes()).unwrap();
            full.labels.clear();
            assert_eq!(
                EventHead::read_fields(line.as_bytes(), Fields::IDENTITY).unwrap(),
                full
            );
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
