//! The journal of a [`Checkpoint`]: every record made since its last snapshot, appended as it
//! is made, so that a crash loses (almost) nothing the plugin handled.
//!
//! ```text
//! header (32 bytes)
//!   magic            8 bytes  "ECTLJRNL"
//!   version          u32 LE   1
//!   lineage          u64 LE   the checkpoint's history
//!   base             u64 LE   the sequence number of the snapshot it was started after
//!   crc32            u32 LE   (IEEE, over the 20 bytes from the version)
//! records, each
//!   length           u32 LE   of the payload
//!   crc32            u32 LE   (IEEE, over the lineage and the record's sequence number as u64
//!                             LE, then the length and the payload)
//!   payload
//!     flags          u8: bits 0-1 key (0 namespace/name, 1 UUID, 2 uid text), bits 2-3
//!                    resourceVersion (0 none, 1 number, 2 text), bit 4 namespaced, bit 5
//!                    delete; other bits 0
//!     delete:        the key: 16 bytes (UUID), or a string (uid text, or `namespace/name`)
//!     upsert:        uid (16 bytes, a string, or nothing), name, apiVersion, kind,
//!                    namespace (when namespaced), resourceVersion (a varint or a string),
//!                    then the labels to the end: each a name and a value, strings
//! ```
//!
//! Strings and varints are as in the snapshot (`checkpoint::encoding`).
//!
//! **Lineage and sequence.** Every change to a checkpoint's objects is a record, numbered from 1
//! within the checkpoint's *lineage*: a random number drawn when a checkpoint starts empty
//! ([`Checkpoint::new`]) and kept by every snapshot and journal of it. A snapshot stores its
//! lineage and the number of the last record it includes; a journal stores its lineage and the
//! number of the snapshot it was started after (its base), and each record's checksum covers
//! the lineage and the record's number, which are not stored. Loading replays, on top of the
//! snapshot, the records of a journal of the same lineage numbered after the snapshot's, in
//! order, up to the first one that is incomplete or fails its checksum (the torn tail of an
//! append that a crash interrupted, or bytes of an older journal); what follows is ignored. A
//! journal of another lineage (left by a checkpoint that was lost), or one starting after the
//! snapshot, is ignored whole. So a snapshot saved at any time is consistent with the journal
//! beside it, whether or not the journal has been reset since.
//!
//! **Appending.** A record is framed into the checkpoint's pending bytes as it is made, while
//! the journal is *open*: the store's journal holds this lineage's records up to the last one
//! appended, and ends with a whole record. A [`Flusher`](super::Flusher) appends the pending
//! bytes with one write. The journal is open after a snapshot is saved and the journal reset
//! behind it, and after a load that read a journal through to its end; it is closed after a
//! load that found none or found a torn tail (appending behind a torn tail would hide the new
//! records from the next load), after a failed append or sync, and when the pending bytes grow
//! past the journal's limit. While it is closed nothing is framed, and the next save is a whole
//! snapshot.

use super::encoding::{
    key_and_version_flags, put_bytes, put_varint, put_version, read_version, Reader, UID_NONE,
    UID_TEXT, UID_UUID,
};
use super::{Checkpoint, HandledObject, Interned, Key, PackedLabels, Seen};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: &[u8; 8] = b"ECTLJRNL";
/// The journal format version this build writes and reads.
const VERSION: u32 = 1;
/// The length of a journal's header.
pub(super) const JOURNAL_HEADER_LEN: usize = 32;
/// The length of a record's frame: its length and crc32.
const FRAME_LEN: usize = 8;

const NAMESPACED: u8 = 0x10;
const DELETE: u8 = 0x20;

/// The least size a journal may reach before it is folded into a snapshot, however small the
/// snapshot: below it a journal replays in a few milliseconds, and compacting more often would
/// only cost syncs.
pub const JOURNAL_MIN_LIMIT: u64 = 1 << 20;

/// What loading found in a journal, for the caller to log ([`Checkpoint::replayed`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalReplay {
    /// The size of the journal, header included (0: there was none).
    pub bytes: u64,
    /// Records applied on top of the snapshot.
    pub applied: u64,
    /// Whole records the snapshot already included, skipped.
    pub skipped: u64,
    /// Bytes not replayed: a torn or corrupt tail, or the whole journal when it was ignored.
    pub ignored_bytes: u64,
    /// Why bytes were ignored, if some were: e.g. `"a torn or corrupt record"` (what a crash
    /// during an append leaves), `"written for another checkpoint"`.
    pub ignored: Option<&'static str>,
}

/// The journal state of a checkpoint: see the module documentation.
#[derive(Debug)]
pub(super) struct Journal {
    /// The checkpoint's history.
    pub(super) lineage: u64,
    /// The number of the last record made.
    pub(super) sequence: u64,
    /// The store's journal ends with the last record made before those pending, whole: records
    /// may be appended to it.
    pub(super) open: bool,
    /// Records made and not yet appended, framed (only while open).
    pub(super) pending: Vec<u8>,
    /// The size of the store's journal as last written or read.
    pub(super) stored: u64,
    /// The size of the last snapshot saved or loaded.
    pub(super) snapshot_len: u64,
    /// The least limit (tests lower it).
    pub(super) min_limit: u64,
    /// What loading found.
    pub(super) replayed: JournalReplay,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            lineage: fresh_lineage(),
            sequence: 0,
            open: false,
            pending: Vec::new(),
            stored: 0,
            snapshot_len: 0,
            min_limit: JOURNAL_MIN_LIMIT,
            replayed: JournalReplay::default(),
        }
    }
}

impl Journal {
    /// The size past which the journal is folded into a snapshot: the snapshot's size, and at
    /// least [`JOURNAL_MIN_LIMIT`].
    pub(super) fn limit(&self) -> u64 {
        self.snapshot_len.max(self.min_limit)
    }

    /// Stops framing records: the next save is a whole snapshot.
    pub(super) fn close(&mut self) {
        self.open = false;
        self.pending.clear();
    }

    /// The header of a journal started after the snapshot of the records made so far.
    pub(super) fn header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(JOURNAL_HEADER_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.lineage.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        let crc = crc32fast::hash(&out[8..]);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

/// A lineage: random, never 0.
fn fresh_lineage() -> u64 {
    static DRAWN: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(DRAWN.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    hasher.finish() | 1
}

/// The checksum of record number `sequence` of lineage `lineage`.
fn record_crc(lineage: u64, sequence: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&lineage.to_le_bytes());
    hasher.update(&sequence.to_le_bytes());
    hasher.update(&(payload.len() as u32).to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the payload of an upsert of `entry` under `key`.
fn put_upsert(out: &mut Vec<u8>, key: &Key, entry: &HandledObject, shared: &Interned) {
    let scope = shared.scopes.get(entry.scope);
    let mut flags = key_and_version_flags(key, &entry.version);
    if scope.namespace.is_some() {
        flags |= NAMESPACED;
    }
    out.push(flags);
    match key {
        Key::Uuid(bytes) => out.extend_from_slice(bytes),
        Key::Uid(uid) => put_bytes(out, uid.as_bytes()),
        Key::Ref(_) => {}
    }
    put_bytes(out, entry.name.as_bytes());
    put_bytes(out, scope.api_version.as_bytes());
    put_bytes(out, scope.kind.as_bytes());
    if let Some(namespace) = &scope.namespace {
        put_bytes(out, namespace.as_bytes());
    }
    put_version(out, &entry.version);
    for (name, value) in PackedLabels(&entry.labels) {
        put_bytes(out, shared.label_names.get(name).as_bytes());
        put_bytes(out, value.as_bytes());
    }
}

/// Appends the payload of a delete of `key`.
fn put_delete(out: &mut Vec<u8>, key: &Key) {
    match key {
        Key::Uuid(bytes) => {
            out.push(DELETE | UID_UUID);
            out.extend_from_slice(bytes);
        }
        Key::Uid(uid) => {
            out.push(DELETE | UID_TEXT);
            put_bytes(out, uid.as_bytes());
        }
        Key::Ref(reference) => {
            out.push(DELETE | UID_NONE);
            put_bytes(out, reference.as_bytes());
        }
    }
}

/// Counts a record and, while the journal is open, frames it into the pending bytes.
fn log(journal: &mut Journal, payload: impl FnOnce(&mut Vec<u8>)) {
    journal.sequence += 1;
    if !journal.open {
        return;
    }
    let start = journal.pending.len();
    journal.pending.extend_from_slice(&[0; FRAME_LEN]);
    payload(&mut journal.pending);
    let body = &journal.pending[start + FRAME_LEN..];
    let len = body.len() as u32;
    let crc = record_crc(journal.lineage, journal.sequence, body);
    journal.pending[start..start + 4].copy_from_slice(&len.to_le_bytes());
    journal.pending[start + 4..start + FRAME_LEN].copy_from_slice(&crc.to_le_bytes());
    if journal.pending.len() as u64 > journal.limit() {
        // Nobody appends them (a worker that does not tick): a snapshot will hold them.
        journal.close();
    }
}

impl Checkpoint {
    /// Records that the object `key` is now as `entry` says.
    pub(super) fn log_upsert(&mut self, key: &Key, entry: &HandledObject) {
        let shared = &self.shared;
        log(&mut self.journal, |out| put_upsert(out, key, entry, shared));
    }

    /// Records that the object `key` was forgotten.
    pub(super) fn log_delete(&mut self, key: &Key) {
        log(&mut self.journal, |out| put_delete(out, key));
    }

    /// The bytes of a journal started now, for a store to reset its journal to after saving
    /// the snapshot [`Checkpoint::encode`] gives now; then [`Checkpoint::journal_reset`].
    pub(super) fn journal_header(&self) -> Vec<u8> {
        self.journal.header()
    }

    /// Records made and not yet appended, framed, for a [`Flusher`](super::Flusher) to append
    /// to the journal whole. Empty while the journal is closed.
    pub fn journal_pending(&self) -> &[u8] {
        &self.journal.pending
    }

    /// True while records are framed for appending (see the module documentation of
    /// `checkpoint::journal`).
    pub fn journal_is_open(&self) -> bool {
        self.journal.open
    }

    /// The size of the stored journal, as last written or read.
    pub fn journal_len(&self) -> u64 {
        self.journal.stored
    }

    /// The size past which the journal should be folded into a snapshot.
    pub fn journal_limit(&self) -> u64 {
        self.journal.limit()
    }

    /// What loading found in the journal.
    pub fn replayed(&self) -> JournalReplay {
        self.journal.replayed
    }

    /// The pending bytes were appended to the stored journal.
    pub(super) fn journal_appended(&mut self) {
        let journal = &mut self.journal;
        journal.stored += journal.pending.len() as u64;
        journal.pending.clear();
    }

    /// The stored journal may not end with a whole record of this lineage any more (an append
    /// or a sync failed): stop appending until a snapshot is saved.
    pub(super) fn journal_failed(&mut self) {
        self.journal.close();
    }

    /// A snapshot of `len` bytes, as [`Checkpoint::encode`] gave it now, was saved: it holds
    /// every record, so the checkpoint is clean and the journal closed until it is reset.
    pub(super) fn snapshot_saved(&mut self, len: usize) {
        self.dirty = false;
        self.journal.snapshot_len = len as u64;
        self.journal.close();
    }

    /// The store's journal was reset to [`Checkpoint::journal_header`] (after
    /// [`Checkpoint::snapshot_saved`]): records are framed for appending from now on.
    pub(super) fn journal_reset(&mut self) {
        let journal = &mut self.journal;
        journal.close();
        journal.open = true;
        journal.stored = JOURNAL_HEADER_LEN as u64;
    }

    /// Replays `journal` (the stored bytes of this checkpoint's journal) on top of this
    /// checkpoint, just decoded from its snapshot: the records of the same lineage numbered
    /// after the snapshot's, up to the first incomplete or corrupt one (see the module
    /// documentation of `checkpoint::journal`). Opens the journal for appending when it was read
    /// through to its end. The checkpoint is dirty when records were applied.
    pub fn replay_journal(&mut self, journal: &[u8]) -> JournalReplay {
        self.journal.close();
        self.journal.stored = journal.len() as u64;
        let mut out = JournalReplay {
            bytes: journal.len() as u64,
            ..JournalReplay::default()
        };
        let ignore_all = |mut out: JournalReplay, why| {
            out.ignored_bytes = out.bytes;
            out.ignored = Some(why);
            out
        };
        if journal.len() < JOURNAL_HEADER_LEN {
            out = ignore_all(out, "shorter than its header (torn)");
            self.journal.replayed = out;
            return out;
        }
        let (header, records) = journal.split_at(JOURNAL_HEADER_LEN);
        let le = |range: std::ops::Range<usize>| {
            let mut word = [0u8; 8];
            word[..range.len()].copy_from_slice(&header[range]);
            u64::from_le_bytes(word)
        };
        let problem = if &header[..8] != MAGIC {
            Some("not a journal (wrong magic bytes)")
        } else if crc32fast::hash(&header[8..28]) != le(28..32) as u32 {
            Some("its header is corrupt")
        } else if le(8..12) as u32 != VERSION {
            Some("another format version")
        } else if le(12..20) != self.journal.lineage {
            Some("written for another checkpoint")
        } else if le(20..28) > self.journal.sequence {
            Some("it starts after the snapshot")
        } else {
            None
        };
        if let Some(why) = problem {
            out = ignore_all(out, why);
            self.journal.replayed = out;
            return out;
        }
        let (lineage, snapshot) = (self.journal.lineage, self.journal.sequence);
        let mut sequence = le(20..28);
        let mut pos = 0;
        while pos < records.len() {
            let rest = &records[pos..];
            if rest.len() < FRAME_LEN {
                out.ignored = Some("a torn or corrupt record");
                break;
            }
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            let Some(payload) = rest[FRAME_LEN..].get(..len) else {
                out.ignored = Some("a torn or corrupt record");
                break;
            };
            if record_crc(lineage, sequence + 1, payload) != crc {
                out.ignored = Some("a torn or corrupt record");
                break;
            }
            if sequence < snapshot {
                out.skipped += 1;
            } else if let Err(what) = self.apply(payload) {
                tracing::debug!(what, "checkpoint journal: malformed record");
                out.ignored = Some("a malformed record");
                break;
            } else {
                out.applied += 1;
                self.dirty = true;
            }
            sequence += 1;
            pos += FRAME_LEN + len;
        }
        out.ignored_bytes = (records.len() - pos) as u64;
        if sequence >= snapshot {
            self.journal.sequence = sequence;
            // Appending is safe only behind the last whole record of a journal that reaches
            // the snapshot.
            self.journal.open = out.ignored.is_none();
        }
        self.journal.replayed = out;
        out
    }

    /// Applies one record's payload.
    fn apply(&mut self, payload: &[u8]) -> Result<(), &'static str> {
        let mut reader = Reader::new(payload);
        let flags = reader.byte()?;
        if flags & !0x3f != 0 {
            return Err("unknown flags");
        }
        if flags & DELETE != 0 {
            if flags & !(DELETE | 0b11) != 0 {
                return Err("unknown flags");
            }
            let key = match flags & 0b11 {
                UID_UUID => Key::Uuid(reader.array()?),
                UID_TEXT => Key::Uid(reader.str()?.into()),
                UID_NONE => Key::Ref(reader.str()?.into()),
                _ => return Err("unknown key encoding"),
            };
            if reader.rest() != 0 {
                return Err("bytes after the key");
            }
            self.remove_entry(&key);
            return Ok(());
        }
        let uid = match flags & 0b11 {
            UID_NONE => None,
            UID_UUID => Some(Key::Uuid(reader.array()?)),
            UID_TEXT => Some(Key::Uid(reader.str()?.into())),
            _ => return Err("unknown key encoding"),
        };
        let name = reader.str()?;
        let api_version = reader.str()?;
        let kind = reader.str()?;
        let namespace = if flags & NAMESPACED != 0 {
            Some(reader.str()?)
        } else {
            None
        };
        let version = read_version(&mut reader, (flags >> 2) & 0b11)?;
        let mut read = Vec::new();
        while reader.rest() > 0 {
            read.push((reader.str()?, reader.str()?));
        }
        let mut labels = Vec::new();
        for (label, value) in read {
            put_varint(&mut labels, self.shared.label_name(label).into());
            put_bytes(&mut labels, value.as_bytes());
        }
        let key = uid.unwrap_or_else(|| {
            Key::Ref(match namespace {
                Some(ns) => format!("{ns}/{name}").into(),
                None => name.into(),
            })
        });
        let entry = HandledObject {
            version,
            name: name.into(),
            labels: labels.into_boxed_slice(),
            scope: self.shared.scope(api_version, kind, namespace),
            seen: if self.resuming { Seen::No } else { Seen::Yes },
        };
        self.insert_entry(key, entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::WatchEvent;

    fn event(event_type: &str, kind: &str, meta: &str) -> WatchEvent {
        WatchEvent::parse(
            format!(r#"{{"type":"{event_type}","object":{{"kind":"{kind}","apiVersion":"v1","metadata":{{{meta}}}}}}}"#)
                .into_bytes(),
        )
        .expect("valid")
    }

    fn pod(event_type: &str, name: &str, uid: &str, rv: &str) -> WatchEvent {
        event(
            event_type,
            "Pod",
            &format!(
                r#""name":"{name}","namespace":"ns","uid":"{uid}","resourceVersion":"{rv}","labels":{{"app":"{name}","tier":"web"}}"#
            ),
        )
    }

    /// Every kind of key, version and scope, and deletes of each kind of key.
    fn history() -> Vec<WatchEvent> {
        vec![
            pod("ADDED", "a", "0b9e6f3c-5a1d-4c2e-9f7a-1d2c3b4a5e6f", "10"),
            pod("ADDED", "b", "uid-b", "0011"),
            event(
                "ADDED",
                "ConfigMap",
                r#""name":"c","namespace":"ns","resourceVersion":"12""#,
            ),
            event(
                "ADDED",
                "Node",
                r#""name":"n","labels":{"zone":"z1","":"empty"}"#,
            ),
            pod(
                "MODIFIED",
                "a",
                "0b9e6f3c-5a1d-4c2e-9f7a-1d2c3b4a5e6f",
                "13",
            ),
            pod("ADDED", "d", "uid-d", "14"),
            pod("DELETED", "b", "uid-b", "15"),
            event(
                "DELETED",
                "ConfigMap",
                r#""name":"c","namespace":"ns","resourceVersion":"16""#,
            ),
            pod("DELETED", "a", "0b9e6f3c-5a1d-4c2e-9f7a-1d2c3b4a5e6f", "17"),
            pod("ADDED", "a2", "0b9e6f3c-5a1d-4c2e-9f7a-1d2c3b4a5e70", "18"),
            pod("DELETED", "never-recorded", "uid-x", "19"),
        ]
    }

    /// A checkpoint saved with `before` recorded, its journal reset, then `after` recorded:
    /// (the checkpoint, its snapshot, its journal with every record appended).
    fn journaled(before: &[WatchEvent], after: &[WatchEvent]) -> (Checkpoint, Vec<u8>, Vec<u8>) {
        let mut checkpoint = Checkpoint::new();
        for e in before {
            checkpoint.record(e).expect("recorded");
        }
        let snapshot = checkpoint.encode();
        checkpoint.snapshot_saved(snapshot.len());
        let mut journal = checkpoint.journal_header();
        checkpoint.journal_reset();
        for e in after {
            checkpoint.record(e).expect("recorded");
        }
        journal.extend_from_slice(checkpoint.journal_pending());
        checkpoint.journal_appended();
        assert_eq!(checkpoint.journal_len(), journal.len() as u64);
        (checkpoint, snapshot, journal)
    }

    fn loaded(snapshot: &[u8], journal: &[u8]) -> (Checkpoint, JournalReplay) {
        let mut checkpoint = Checkpoint::decode(snapshot).expect("decoded");
        let replay = checkpoint.replay_journal(journal);
        assert_eq!(checkpoint.replayed(), replay);
        (checkpoint, replay)
    }

    /// The offsets where each record of `journal` ends.
    fn record_ends(journal: &[u8]) -> Vec<usize> {
        let mut ends = Vec::new();
        let mut pos = JOURNAL_HEADER_LEN;
        while pos < journal.len() {
            let len = u32::from_le_bytes(journal[pos..pos + 4].try_into().expect("4 bytes"));
            pos += FRAME_LEN + len as usize;
            ends.push(pos);
        }
        ends
    }

    #[test]
    fn records_replay_to_the_same_checkpoint() {
        let events = history();
        let (checkpoint, snapshot, journal) = journaled(&events[..2], &events[2..]);
        let (replayed, replay) = loaded(&snapshot, &journal);
        assert_eq!(replayed.dump(), checkpoint.dump());
        assert_eq!(
            replay,
            JournalReplay {
                bytes: journal.len() as u64,
                // The DELETED of an object never recorded is not a record.
                applied: 8,
                ..JournalReplay::default()
            }
        );
        assert!(replayed.is_resuming() && replayed.is_dirty() && replayed.journal_is_open());
        assert_eq!(replayed.journal.sequence, checkpoint.journal.sequence);
        assert_eq!(replayed.journal.lineage, checkpoint.journal.lineage);
        // About 70 bytes for a Pod with two labels and a UUID; 21 for the delete of one.
        let ends = record_ends(&journal);
        assert_eq!(ends.len(), 8);
        assert!(ends[3] - ends[2] < 80, "{}", ends[3] - ends[2]);
        assert_eq!(ends[6] - ends[5], FRAME_LEN + 17);
        // The replayed objects resume like the snapshot's.
        let mut replayed = replayed;
        let resumed = replayed.finish(|_, _, _| true);
        assert_eq!(resumed.deleted.len(), 3, "n, d and a2");
    }

    #[test]
    fn a_torn_tail_is_ignored_and_closes_the_journal() {
        let events = history();
        let (_, snapshot, journal) = journaled(&events[..1], &events[1..]);
        let ends = record_ends(&journal);
        // The checkpoint after each number of records.
        let mut after: Vec<Vec<_>> = Vec::new();
        for k in 1..=events.len() {
            let (checkpoint, _, journal) = journaled(&events[..1], &events[1..k]);
            if record_ends(&journal).len() == after.len() {
                after.push(checkpoint.dump());
            }
        }
        assert_eq!(after.len(), ends.len() + 1);
        for len in JOURNAL_HEADER_LEN..=journal.len() {
            let whole = ends.iter().filter(|&&end| end <= len).count();
            let prefix = &after[whole];
            let (replayed, replay) = loaded(&snapshot, &journal[..len]);
            assert_eq!(&replayed.dump(), prefix, "length {len}");
            assert_eq!(replay.applied, whole as u64, "length {len}");
            let at_boundary = len == JOURNAL_HEADER_LEN || ends.contains(&len);
            assert_eq!(replay.ignored.is_none(), at_boundary, "length {len}");
            assert_eq!(replayed.journal_is_open(), at_boundary, "length {len}");
            let last_end = ends
                .iter()
                .copied()
                .filter(|&end| end <= len)
                .max()
                .unwrap_or(JOURNAL_HEADER_LEN);
            assert_eq!(replay.ignored_bytes, (len - last_end) as u64);
        }
        // Shorter than the header: ignored whole.
        let (replayed, replay) = loaded(&snapshot, &journal[..JOURNAL_HEADER_LEN - 1]);
        assert_eq!(replay.ignored_bytes, JOURNAL_HEADER_LEN as u64 - 1);
        assert!(!replayed.journal_is_open());
        assert_eq!(replayed.len(), 1);
    }

    #[test]
    fn a_corrupt_record_ends_the_replay() {
        let events = history();
        let (_, snapshot, journal) = journaled(&[], &events);
        let ends = record_ends(&journal);
        let mut flipped = journal.clone();
        flipped[ends[2] + FRAME_LEN + 3] ^= 0x40;
        let (replayed, replay) = loaded(&snapshot, &flipped);
        assert_eq!(replay.applied, 3);
        assert_eq!(replay.ignored, Some("a torn or corrupt record"));
        assert_eq!(replay.ignored_bytes, (journal.len() - ends[2]) as u64);
        assert!(!replayed.journal_is_open());
        // A record moved to another place fails its checksum: records are numbered.
        let mut swapped = journal[..JOURNAL_HEADER_LEN].to_vec();
        swapped.extend_from_slice(&journal[ends[0]..ends[1]]);
        swapped.extend_from_slice(&journal[JOURNAL_HEADER_LEN..ends[0]]);
        let (_, replay) = loaded(&snapshot, &swapped);
        assert_eq!(replay.applied, 0);
        // A malformed record with a valid checksum (a faulty build) ends it too.
        let (mut checkpoint, snapshot, journal) = journaled(&[], &[]);
        let mut bad = journal;
        checkpoint.log_delete(&Key::Uid("u".into()));
        let pending = checkpoint.journal_pending().to_vec();
        // Re-frame a payload with trailing bytes under the same number.
        let mut payload = pending[FRAME_LEN..].to_vec();
        payload.push(0);
        let base = u64::from_le_bytes(bad[20..28].try_into().expect("8 bytes"));
        bad.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bad.extend_from_slice(
            &record_crc(checkpoint.journal.lineage, base + 1, &payload).to_le_bytes(),
        );
        bad.extend_from_slice(&payload);
        let (_, replay) = loaded(&snapshot, &bad);
        assert_eq!(replay.ignored, Some("a malformed record"));
    }

    #[test]
    fn a_journal_of_another_snapshot_is_ignored() {
        let events = history();
        let (mut checkpoint, old_snapshot, old_journal) = journaled(&events[..2], &events[2..6]);
        // Another checkpoint's journal (a checkpoint lost and started anew): ignored whole.
        let (_, _, stranger) = journaled(&events[..2], &events[2..6]);
        let (replayed, replay) = loaded(&old_snapshot, &stranger);
        assert_eq!(replay.ignored, Some("written for another checkpoint"));
        assert_eq!(replay.ignored_bytes, stranger.len() as u64);
        assert_eq!(replayed.len(), 2);
        assert!(!replayed.journal_is_open() && !replayed.is_dirty());

        // A new snapshot, saved after the journal's records: they are skipped, not applied
        // again (here `b` would come back). Its journal was not reset yet (a crash in between).
        for e in &events[6..] {
            checkpoint.record(e).expect("recorded");
        }
        let new_snapshot = checkpoint.encode();
        let (replayed, replay) = loaded(&new_snapshot, &old_journal);
        assert_eq!((replay.applied, replay.skipped), (0, 4));
        assert_eq!(replayed.dump(), checkpoint.dump());
        assert!(
            !replayed.journal_is_open(),
            "the journal ends before the snapshot: appending to it would leave a gap"
        );
        // The journal reset after it extends it; the older snapshot cannot use it.
        let mut new_journal = checkpoint.journal_header();
        checkpoint.snapshot_saved(new_snapshot.len());
        checkpoint.journal_reset();
        checkpoint
            .record(&pod("ADDED", "e", "uid-e", "30"))
            .expect("recorded");
        new_journal.extend_from_slice(checkpoint.journal_pending());
        let (replayed, replay) = loaded(&new_snapshot, &new_journal);
        assert_eq!(replay.applied, 1);
        assert_eq!(replayed.dump(), checkpoint.dump());
        let (replayed, replay) = loaded(&old_snapshot, &new_journal);
        assert_eq!(replay.ignored, Some("it starts after the snapshot"));
        assert_eq!(replayed.len(), 2);
        // Not a journal, or a damaged header.
        let (_, replay) = loaded(&old_snapshot, &old_snapshot);
        assert_eq!(replay.ignored, Some("not a journal (wrong magic bytes)"));
        let mut damaged = old_journal.clone();
        damaged[13] ^= 1;
        let (_, replay) = loaded(&old_snapshot, &damaged);
        assert_eq!(replay.ignored, Some("its header is corrupt"));
    }

    #[test]
    fn pending_records_past_the_limit_close_the_journal() {
        let (mut checkpoint, _, _) = journaled(&[], &[]);
        checkpoint.journal.min_limit = 500;
        let mut n = 0;
        while checkpoint.journal_is_open() {
            n += 1;
            checkpoint
                .record(&pod("ADDED", &format!("p{n}"), &format!("uid-{n}"), "1"))
                .expect("recorded");
            assert!(checkpoint.journal_pending().len() <= 500 || !checkpoint.journal_is_open());
        }
        assert!(n > 3);
        assert!(checkpoint.journal_pending().is_empty() && checkpoint.is_dirty());
        // Still counted: a snapshot includes them.
        assert_eq!(checkpoint.journal.sequence, n);
    }

    #[test]
    fn lineages_differ() {
        assert_ne!(
            Checkpoint::new().journal.lineage,
            Checkpoint::new().journal.lineage
        );
        assert_ne!(fresh_lineage(), 0);
    }
}
