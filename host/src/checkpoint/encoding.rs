//! The stored form of a [`Checkpoint`]'s snapshot: compact binary, checksummed.
//!
//! ```text
//! header (40 bytes)
//!   magic            8 bytes  "ECTLCKPT"
//!   version          u32 LE   2
//!   lineage          u64 LE   the checkpoint's history (see `checkpoint::journal`)
//!   sequence         u64 LE   the number of the last journal record the snapshot includes
//!   body length      u64 LE
//!   crc32            u32 LE   (IEEE, over the version, lineage, sequence and length, then
//!                             the body)
//! body
//!   strings          varint count, then each: varint length, UTF-8 bytes
//!                    (apiVersions, kinds, namespaces, label names and values, each once)
//!   scopes           varint count, then each: varint apiVersion, varint kind,
//!                    varint namespace + 1 (0: cluster-scoped): indexes into strings
//!   entries          varint count, then each:
//!     flags          u8: bits 0-1 uid (0 none, 1 UUID, 2 text), bits 2-3 resourceVersion
//!                    (0 none, 1 number, 2 text); other bits 0
//!     uid            16 bytes (UUID) or string (text)
//!     name           string
//!     scope          varint index into scopes
//!     resourceVersion varint (number) or string (text)
//!     labels         varint count, then each: varint name, varint value: indexes into strings
//! ```
//!
//! A string is a varint length and UTF-8 bytes; varints are unsigned LEB128. Decoding checks
//! everything (lengths, indexes, UTF-8, duplicate objects, trailing bytes) and never panics.
//! Objects are written in no particular order. The lineage and sequence tie the snapshot to the
//! journal that extends it (`checkpoint::journal`).

use super::{Checkpoint, HandledObject, Key, ObjectVersion, PackedLabels, Seen};
use std::collections::HashMap;

const MAGIC: &[u8; 8] = b"ECTLCKPT";
/// The format version this build writes and reads.
const VERSION: u32 = 2;
const HEADER_LEN: usize = 40;
/// Where the crc32 is, in the header.
const CRC_AT: usize = 36;

pub(super) const UID_NONE: u8 = 0;
pub(super) const UID_UUID: u8 = 1;
pub(super) const UID_TEXT: u8 = 2;
pub(super) const RV_NONE: u8 = 0;
pub(super) const RV_NUMBER: u8 = 1;
pub(super) const RV_TEXT: u8 = 2;

/// Why stored bytes are not a usable checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the header: an empty or torn file.
    #[error("{len} bytes, too short for the {HEADER_LEN}-byte header (torn write?)")]
    TooShort {
        /// The length found.
        len: usize,
    },
    /// The magic bytes are wrong: not a checkpoint.
    #[error("not a checkpoint file (wrong magic bytes)")]
    BadMagic,
    /// Written by a build with another format.
    #[error("checkpoint format version {found}, this build reads version {VERSION}")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// The body is shorter or longer than the header says.
    #[error("the header announces {expected} bytes of body, there are {found} (torn write?)")]
    Length {
        /// From the header.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// The body's checksum does not match.
    #[error("checksum mismatch: stored crc32 {stored:08x}, computed {computed:08x} (corrupt)")]
    Checksum {
        /// From the header.
        stored: u32,
        /// Of the body.
        computed: u32,
    },
    /// The body is malformed although its checksum matches (written by a faulty build).
    #[error("malformed body at byte {offset}: {what}")]
    Malformed {
        /// Offset in the file.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
}

/// Appends `value` as an unsigned LEB128 varint.
pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a varint length and `bytes`.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The flags of `key` (bits 0-1) and `version` (bits 2-3), as in the snapshot and the journal.
pub(super) fn key_and_version_flags(key: &Key, version: &ObjectVersion) -> u8 {
    let uid_flag = match key {
        Key::Uuid(_) => UID_UUID,
        Key::Uid(_) => UID_TEXT,
        Key::Ref(_) => UID_NONE,
    };
    let rv_flag = match version {
        ObjectVersion::Absent => RV_NONE,
        ObjectVersion::Number(_) => RV_NUMBER,
        ObjectVersion::Text(_) => RV_TEXT,
    };
    uid_flag | rv_flag << 2
}

/// Appends `version` as flagged by [`key_and_version_flags`]: nothing, a varint or a string.
pub(super) fn put_version(out: &mut Vec<u8>, version: &ObjectVersion) {
    match version {
        ObjectVersion::Absent => {}
        ObjectVersion::Number(n) => put_varint(out, *n),
        ObjectVersion::Text(text) => put_bytes(out, text.as_bytes()),
    }
}

/// Reads a version flagged `flag` (bits 2-3 of the flags, shifted down).
pub(super) fn read_version(
    reader: &mut Reader<'_>,
    flag: u8,
) -> Result<ObjectVersion, &'static str> {
    Ok(match flag {
        RV_NONE => ObjectVersion::Absent,
        RV_NUMBER => ObjectVersion::Number(reader.varint()?),
        RV_TEXT => ObjectVersion::Text(reader.str()?.into()),
        _ => return Err("unknown resourceVersion encoding"),
    })
}

/// Reads a label packed in memory (a varint name number, then the value as by [`put_bytes`]) at
/// the start of `bytes`, and what follows it.
pub(super) fn read_packed_label(bytes: &[u8]) -> Option<(u32, &str, &[u8])> {
    let mut reader = Reader::new(bytes);
    let name = u32::try_from(reader.varint().ok()?).ok()?;
    let value = reader.str().ok()?;
    Some((name, value, &bytes[reader.pos..]))
}

/// Reads a string packed by [`put_bytes`] at the start of `bytes`, and what follows it.
pub(crate) fn read_packed_str(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let mut reader = Reader::new(bytes);
    let text = reader.str().ok()?;
    Some((text, &bytes[reader.pos..]))
}

impl Checkpoint {
    /// The stored form of its snapshot (see the module documentation of
    /// `checkpoint::encoding`): about 56 bytes per Pod with four labels. Objects come in no
    /// particular order. The snapshot includes every record made so far, so a journal of this
    /// checkpoint's records replays on top of it only the records made after this call.
    pub fn encode(&self) -> Vec<u8> {
        let shared = &self.shared;
        let mut strings = Strings::default();
        // Scopes in use, renumbered densely.
        let mut scope_numbers: Vec<u32> = vec![u32::MAX; shared.scopes.slots()];
        let mut scopes = Vec::new();
        for (n, scope) in shared.scopes.used() {
            scope_numbers[n as usize] = (scopes.len() / 3) as u32;
            scopes.push(strings.intern(&scope.api_version));
            scopes.push(strings.intern(&scope.kind));
            scopes.push(
                scope
                    .namespace
                    .as_deref()
                    .map_or(0, |ns| strings.intern(ns) + 1),
            );
        }
        // Label names' string numbers, looked up once per name.
        let mut name_numbers: Vec<u32> = vec![u32::MAX; shared.label_names.slots()];
        let mut entries = Vec::with_capacity(self.entries.len() * 64);
        put_varint(&mut entries, self.entries.len() as u64);
        for (key, entry) in &self.entries {
            entries.push(key_and_version_flags(key, &entry.version));
            match key {
                Key::Uuid(bytes) => entries.extend_from_slice(bytes),
                Key::Uid(uid) => put_bytes(&mut entries, uid.as_bytes()),
                Key::Ref(_) => {}
            }
            put_bytes(&mut entries, entry.name.as_bytes());
            put_varint(&mut entries, u64::from(scope_numbers[entry.scope as usize]));
            put_version(&mut entries, &entry.version);
            put_varint(&mut entries, PackedLabels(&entry.labels).count() as u64);
            for (name, value) in PackedLabels(&entry.labels) {
                let number = &mut name_numbers[name as usize];
                if *number == u32::MAX {
                    *number = strings.intern(shared.label_names.get(name));
                }
                put_varint(&mut entries, u64::from(*number));
                put_varint(&mut entries, u64::from(strings.intern(value)));
            }
        }

        let mut out = Vec::with_capacity(HEADER_LEN + strings.bytes.len() + entries.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.journal.lineage.to_le_bytes());
        out.extend_from_slice(&self.journal.sequence.to_le_bytes());
        out.extend_from_slice(&[0; 12]); // length and crc, below
        put_varint(&mut out, strings.count);
        out.extend_from_slice(&strings.bytes);
        put_varint(&mut out, (scopes.len() / 3) as u64);
        for index in scopes {
            put_varint(&mut out, index.into());
        }
        out.extend_from_slice(&entries);
        let body_len = (out.len() - HEADER_LEN) as u64;
        out[28..36].copy_from_slice(&body_len.to_le_bytes());
        let crc = snapshot_crc(&out[8..CRC_AT], &out[HEADER_LEN..]);
        out[CRC_AT..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a checkpoint from the stored form of its snapshot. The result is resuming (see
    /// [`Checkpoint::admit`]) and not dirty; its journal is closed until it is replayed
    /// ([`Checkpoint::replay_journal`]) or a snapshot is saved.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::TooShort { len: bytes.len() });
        }
        let (header, body) = bytes.split_at(HEADER_LEN);
        if &header[..8] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let le = |range: std::ops::Range<usize>| {
            let mut word = [0u8; 8];
            word[..range.len()].copy_from_slice(&header[range]);
            u64::from_le_bytes(word)
        };
        let version = le(8..12) as u32;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        let expected = le(28..36);
        if expected != body.len() as u64 {
            return Err(DecodeError::Length {
                expected,
                found: body.len() as u64,
            });
        }
        let stored = le(CRC_AT..HEADER_LEN) as u32;
        let computed = snapshot_crc(&header[8..CRC_AT], body);
        if stored != computed {
            return Err(DecodeError::Checksum { stored, computed });
        }
        let mut reader = Reader::new(body);
        let mut checkpoint = decode_body(&mut reader).map_err(|what| DecodeError::Malformed {
            offset: HEADER_LEN + reader.pos,
            what,
        })?;
        checkpoint.journal.lineage = le(12..20);
        checkpoint.journal.sequence = le(20..28);
        checkpoint.journal.snapshot_len = bytes.len() as u64;
        Ok(checkpoint)
    }
}

/// The crc32 of a snapshot: over the header after the magic bytes up to the crc, then the body.
fn snapshot_crc(header: &[u8], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(body);
    hasher.finalize()
}

/// Strings written once each, numbered in order of first use.
#[derive(Default)]
struct Strings<'a> {
    numbers: HashMap<&'a str, u32, foldhash::fast::RandomState>,
    bytes: Vec<u8>,
    count: u64,
}

impl<'a> Strings<'a> {
    fn intern(&mut self, text: &'a str) -> u32 {
        if let Some(&n) = self.numbers.get(text) {
            return n;
        }
        let n = self.count as u32;
        self.count += 1;
        put_bytes(&mut self.bytes, text.as_bytes());
        self.numbers.insert(text, n);
        n
    }
}

fn decode_body(reader: &mut Reader<'_>) -> Result<Checkpoint, &'static str> {
    let count = reader.count(1)?;
    let mut strings = Vec::with_capacity(count);
    for _ in 0..count {
        strings.push(reader.str()?);
    }
    let string = |n: u64| {
        usize::try_from(n)
            .ok()
            .and_then(|n| strings.get(n).copied())
            .ok_or("string index out of range")
    };

    let mut checkpoint = Checkpoint {
        resuming: true,
        ..Checkpoint::default()
    };
    let count = reader.count(3)?;
    // (apiVersion, kind, namespace) of each stored scope, and its number in memory once used.
    let mut scopes: Vec<(&str, &str, Option<&str>, Option<u32>)> = Vec::with_capacity(count);
    for _ in 0..count {
        let api_version = string(reader.varint()?)?;
        let kind = string(reader.varint()?)?;
        let namespace = match reader.varint()? {
            0 => None,
            n => Some(string(n - 1)?),
        };
        scopes.push((api_version, kind, namespace, None));
    }

    let count = reader.count(4)?;
    checkpoint.entries.reserve(count);
    let mut labels = Vec::new();
    // The number in memory of each string used as a label name.
    let mut label_names: Vec<Option<u32>> = vec![None; strings.len()];
    for _ in 0..count {
        let flags = reader.byte()?;
        if flags & !0b1111 != 0 {
            return Err("unknown flags");
        }
        let uid = match flags & 0b11 {
            UID_NONE => None,
            UID_UUID => Some(Key::Uuid(reader.array()?)),
            UID_TEXT => Some(Key::Uid(reader.str()?.into())),
            _ => return Err("unknown uid encoding"),
        };
        let name = reader.str()?;
        let scope = usize::try_from(reader.varint()?)
            .ok()
            .and_then(|n| scopes.get_mut(n))
            .ok_or("scope index out of range")?;
        let version = read_version(reader, flags >> 2)?;
        labels.clear();
        for _ in 0..reader.count(2)? {
            let index = reader.varint()?;
            let name = string(index)?;
            let value = string(reader.varint()?)?;
            // `string` checked the index.
            let number = match &mut label_names[index as usize] {
                Some(n) => {
                    checkpoint.shared.label_names.retain(*n);
                    *n
                }
                slot @ None => *slot.insert(checkpoint.shared.label_name(name)),
            };
            put_varint(&mut labels, number.into());
            put_bytes(&mut labels, value.as_bytes());
        }
        let key = uid.unwrap_or_else(|| {
            Key::Ref(match scope.2 {
                Some(ns) => format!("{ns}/{name}").into(),
                None => name.into(),
            })
        });
        if checkpoint.entries.contains_key(&key) {
            return Err("the same object twice");
        }
        let number = match scope.3 {
            Some(n) => {
                checkpoint.shared.scopes.retain(n);
                n
            }
            None => *scope
                .3
                .insert(checkpoint.shared.scope(scope.0, scope.1, scope.2)),
        };
        let entry = HandledObject {
            version,
            name: name.into(),
            labels: labels.as_slice().into(),
            scope: number,
            seen: Seen::No,
        };
        checkpoint.entries.insert(key, entry);
    }
    if reader.pos != reader.bytes.len() {
        return Err("bytes after the last object");
    }
    Ok(checkpoint)
}

/// A cursor over untrusted bytes.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// The number of bytes left.
    pub(super) fn rest(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(super) fn byte(&mut self) -> Result<u8, &'static str> {
        let byte = *self.bytes.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(byte)
    }

    pub(super) fn varint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err("varint overflows 64 bits");
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes")
    }

    /// A count of items of at least `min_size` bytes each: checked against what is left, so that
    /// a corrupt count cannot make the decoder reserve memory for it.
    fn count(&mut self, min_size: usize) -> Result<usize, &'static str> {
        let count = self.varint()?;
        match usize::try_from(count) {
            Ok(count) if count <= self.rest() / min_size => Ok(count),
            _ => Err("count larger than the bytes left"),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], &'static str> {
        if len > self.rest() {
            return Err("truncated");
        }
        let bytes = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(super) fn str(&mut self) -> Result<&'a str, &'static str> {
        let len = usize::try_from(self.varint()?).map_err(|_| "truncated")?;
        std::str::from_utf8(self.take(len)?).map_err(|_| "a string is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::WatchEvent;
    use proptest::prelude::*;

    fn pod(name: &str, uid: Option<&str>, rv: &str, labels: &[(&str, &str)]) -> WatchEvent {
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect();
        let mut metadata = serde_json::json!({"name": name, "namespace": "shop", "resourceVersion": rv, "labels": labels});
        if let Some(uid) = uid {
            metadata["uid"] = uid.into();
        }
        let event = serde_json::json!({"type": "ADDED", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": metadata}});
        WatchEvent::parse(serde_json::to_vec(&event).expect("json")).expect("valid")
    }

    fn sample() -> Checkpoint {
        let mut checkpoint = Checkpoint::new();
        for event in [
            pod(
                "web-1",
                Some("0b9e6f3c-5a1d-4c2e-9f7a-1d2c3b4a5e6f"),
                "1234",
                &[("app", "web"), ("pod-template-hash", "7d4b9c6f5")],
            ),
            pod("web-2", Some("not-a-uuid"), "0042", &[("app", "web")]),
            pod("db-0", None, "", &[]),
        ] {
            checkpoint.record(&event).expect("recorded");
        }
        checkpoint
    }

    #[test]
    fn round_trips_and_detects_damage() {
        let checkpoint = sample();
        let bytes = checkpoint.encode();
        let decoded = Checkpoint::decode(&bytes).expect("decoded");
        assert_eq!(decoded.dump(), checkpoint.dump());
        assert!(decoded.is_resuming() && !decoded.is_dirty());

        assert_eq!(
            Checkpoint::decode(&bytes[..10]).map(|_| ()),
            Err(DecodeError::TooShort { len: 10 })
        );
        assert!(matches!(
            Checkpoint::decode(&bytes[..bytes.len() - 1]),
            Err(DecodeError::Length { .. })
        ));
        let mut flipped = bytes.clone();
        *flipped.last_mut().expect("byte") ^= 1;
        assert!(matches!(
            Checkpoint::decode(&flipped),
            Err(DecodeError::Checksum { .. })
        ));
        let mut other = bytes.clone();
        other[8] = 3;
        assert_eq!(
            Checkpoint::decode(&other).map(|_| ()),
            Err(DecodeError::UnsupportedVersion { found: 3 })
        );
        // The lineage and sequence are checksummed too.
        let mut renumbered = bytes.clone();
        renumbered[20] ^= 1;
        assert!(matches!(
            Checkpoint::decode(&renumbered),
            Err(DecodeError::Checksum { .. })
        ));
        assert_eq!(
            Checkpoint::decode(b"{\"not\": \"a checkpoint at all, whatever its length\"}")
                .map(|_| ()),
            Err(DecodeError::BadMagic)
        );
        let message = Checkpoint::decode(&flipped)
            .expect_err("corrupt")
            .to_string();
        assert!(message.contains("checksum mismatch"), "{message}");
    }

    #[test]
    fn an_empty_checkpoint_is_a_header_and_three_zeros() {
        let bytes = Checkpoint::new().encode();
        assert_eq!(bytes.len(), HEADER_LEN + 3);
        assert!(Checkpoint::decode(&bytes).expect("decoded").is_empty());
    }

    /// A body with a valid checksum, for malformed-body cases.
    fn sealed(body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&7u64.to_le_bytes());
        out.extend_from_slice(&9u64.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        let crc = snapshot_crc(&out[8..CRC_AT], body);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn a_malformed_body_is_an_error_with_its_offset() {
        let cases: [(&[u8], &str); 6] = [
            (&[0, 0, 0, 0], "bytes after the last object"),
            (&[1, 1, 0xff], "a string is not UTF-8"),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                "varint overflows 64 bits",
            ),
            (&[0, 1, 0, 0, 0], "string index out of range"),
            // One entry, flags with a reserved bit.
            (&[0, 0, 1, 0x10, 0, 0, 0], "unknown flags"),
            // Two entries for the same object (no uid, same name, scope 0).
            (
                &[
                    2, 1, b'v', 3, b'P', b'o', b'd', 1, 0, 1, 0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a',
                    0, 0,
                ],
                "the same object twice",
            ),
        ];
        for (body, what) in cases {
            match Checkpoint::decode(&sealed(body)) {
                Err(DecodeError::Malformed {
                    what: found,
                    offset,
                }) => {
                    assert_eq!(found, what, "{body:?}");
                    assert!(offset >= HEADER_LEN);
                }
                other => panic!("{body:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(Checkpoint::decode(&bytes[..len]).is_err(), "length {len}");
        }
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(
            objects in prop::collection::vec((
                "[a-z0-9-]{1,20}",
                prop::option::of(prop_oneof!["[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}", any::<String>()]),
                prop_oneof![any::<u64>().prop_map(|n| n.to_string()), any::<String>()],
                prop::collection::vec((any::<String>(), any::<String>()), 0..4),
            ), 0..30),
        ) {
            let mut checkpoint = Checkpoint::new();
            for (name, uid, rv, labels) in &objects {
                let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                checkpoint.record(&pod(name, uid.as_deref(), rv, &labels)).expect("recorded");
            }
            let decoded = Checkpoint::decode(&checkpoint.encode()).expect("decoded");
            prop_assert_eq!(decoded.dump(), checkpoint.dump());
        }

        /// Arbitrary bytes, with or without a valid header and checksum, never panic.
        #[test]
        fn decoding_anything_never_panics(body in prop::collection::vec(any::<u8>(), 0..200), raw in any::<bool>()) {
            let bytes = if raw { body } else { sealed(&body) };
            let _ = Checkpoint::decode(&bytes);
        }

        /// A valid encoding with one byte of its body changed and resealed still decodes to
        /// something or fails cleanly.
        #[test]
        fn resealed_mutations_never_panic(at in any::<prop::sample::Index>(), value in any::<u8>()) {
            let bytes = sample().encode();
            let mut body = bytes[HEADER_LEN..].to_vec();
            let i = at.index(body.len());
            body[i] = value;
            let _ = Checkpoint::decode(&sealed(&body));
        }
    }
}
