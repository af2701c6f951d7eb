//! Editing JSON objects without disturbing them: the members of an object in their order, each
//! value kept as its exact bytes. Used to drop `kind`/`apiVersion` from list items and to set
//! `metadata.resourceVersion`, where re-serializing through `serde_json::Value` would reorder keys.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The members of one JSON object, in order; values are raw JSON text.
pub struct Members<'a>(Vec<(String, Cow<'a, str>)>);

impl<'a> Members<'a> {
    pub fn parse(json: &'a str) -> Result<Self, String> {
        serde_json::from_str::<Borrowed<'a>>(json)
            .map(|b| {
                Members(
                    b.0.into_iter()
                        .map(|(k, v)| (k, Cow::Borrowed(v.get())))
                        .collect(),
                )
            })
            .map_err(|e| format!("not a JSON object: {e}"))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    /// Replaces `key`'s value, or inserts it after the last of `after` present (at the start when
    /// none is).
    pub fn set(&mut self, key: &str, raw: String, after: &[&str]) {
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| k == key) {
            slot.1 = Cow::Owned(raw);
            return;
        }
        let at = self
            .0
            .iter()
            .rposition(|(k, _)| after.contains(&k.as_str()))
            .map_or(0, |i| i + 1);
        self.0.insert(at, (key.to_owned(), Cow::Owned(raw)));
    }

    /// Sets `key` only if it is absent.
    pub fn set_default(&mut self, key: &str, raw: String, after: &[&str]) {
        if self.get(key).is_none() {
            self.set(key, raw, after);
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    pub fn render(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&string(key));
            out.push(':');
            out.push_str(value);
        }
        out.push('}');
        out
    }
}

/// `s` as a JSON string literal.
pub fn string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The object `raw` with `metadata.resourceVersion` set to `rv`, everything else untouched.
pub fn with_resource_version(raw: &str, rv: u64) -> Result<String, String> {
    let mut object = Members::parse(raw)?;
    let metadata = object.get("metadata").ok_or("object has no metadata")?;
    let mut meta = Members::parse(metadata)?;
    meta.set(
        "resourceVersion",
        string(&rv.to_string()),
        &["name", "generateName", "namespace", "selfLink", "uid"],
    );
    object.set("metadata", meta.render(), &[]);
    Ok(object.render())
}

/// `text` without whitespace outside strings: one line, fit for a watch stream.
pub fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

struct Borrowed<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Borrowed<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Borrowed(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

// --- base64url without padding, the encoding of the real server's continue tokens ---

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let digit = ALPHABET.iter().position(|a| a == c)? as u32;
            n |= digit << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}
