//! What each plugin has handled, persisted so that a restart resumes where the plugin left off.
//!
//! A [`Checkpoint`] belongs to one plugin and lives on that plugin's worker thread. Per object the
//! plugin has handled it keeps the key (the uid, or `namespace/name` for objects without one), the
//! `resourceVersion` handled last, and what a synthesized `DELETED` needs: kind, apiVersion and
//! the metadata name, namespace, uid, resourceVersion and labels (the identity
//! [`crate::source::reconcile`] keeps with `deleted_object = "identity"`).
//!
//! - **Recording.** [`Checkpoint::record`] is called once the plugin has handled an event for
//!   good: `ADDED` and `MODIFIED` store the object's version and identity, `DELETED` forgets it.
//!   Each change is also a *record* (upsert: key, resourceVersion, identity; delete: key), framed
//!   into a buffer for the journal.
//! - **Saving.** A [`Flusher`] writes the checkpoint through a [`CheckpointStore`]; the worker
//!   calls [`Flusher::tick`] after every event it handles and [`Flusher::flush`] at shutdown.
//!   The [`FileStore`] keeps two files per plugin: the *snapshot* `<dir>/<plugin>.checkpoint`,
//!   replaced atomically and synced, and the *journal* `<dir>/<plugin>.journal`, to which every
//!   tick appends the records made since the previous one, with one `write` and no sync. The
//!   journal is synced at most every interval ([`DEFAULT_INTERVAL`], 2 s), by the first tick an
//!   interval after the last sync ([`Flusher::wait`] tells an idle worker when). When the
//!   journal grows past the snapshot's size (and at least [`JOURNAL_MIN_LIMIT`]), and at
//!   [`Flusher::flush`], a new snapshot is saved and the journal reset behind it (compaction).
//!   Both formats are compact binary with crc32s: a torn or corrupt snapshot is reported as
//!   [`CheckpointError::Corrupt`] (the plugin then starts as if it had no checkpoint); in the
//!   journal each record has its length and crc32, so the torn tail an interrupted append leaves
//!   is detected and ignored, and the journal is tied to its snapshot (the snapshot's lineage and
//!   record number in its header), so a journal left from an older snapshot, or from a lost
//!   checkpoint, is ignored (see the module documentation of `checkpoint::journal`). A store
//!   that cannot append (a ConfigMap, say) keeps no journal: the [`Flusher`] then saves a
//!   snapshot at most every interval while there are changes (see *Without a journal* below).
//! - **Loading.** [`CheckpointStore::load`] decodes the snapshot and replays the journal's valid
//!   prefix on top of it: the records after the snapshot's, up to the first torn or corrupt one
//!   ([`Checkpoint::replayed`] says what it found).
//! - **Resuming.** A loaded checkpoint filters the events of the first lists after a restart
//!   ([`Checkpoint::admit`]): an `ADDED` for an object at the version the plugin handled last is
//!   dropped; at another version it becomes `MODIFIED`; an unknown object stays `ADDED`; `MODIFIED`
//!   and `DELETED` pass, being live changes. When the lists are complete,
//!   [`Checkpoint::finish_list`] (per list) and [`Checkpoint::finish`] synthesize a `DELETED` for
//!   every object of the checkpoint that no list contained.
//!
//! ## The guarantee
//!
//! Every change is delivered at least once; an object is never delivered again at the
//! `resourceVersion` the loaded checkpoint holds for it; and every object the loaded checkpoint
//! holds that vanished while the controller was down gets a `DELETED`. What the loaded
//! checkpoint holds depends on how the controller stopped (with the [`FileStore`], and a worker
//! that ticks after every event):
//!
//! - **Clean shutdown** ([`Flusher::flush`]): every record. After the restart the plugin receives
//!   exactly the changes made meanwhile.
//! - **Process crash** (SIGKILL, OOM kill, abort): every record appended by a tick that returned
//!   before the process died, since appended bytes are in the kernel's page cache. What is lost
//!   is the record of the one event the worker was on: the event being handled (not recorded
//!   yet), or the event just handled if the process died between [`Checkpoint::record`] and the
//!   end of the tick's `write` (its record absent, or a torn tail that is ignored). That event's
//!   object is delivered again: listed at a version the checkpoint does not have, as `MODIFIED`
//!   (or `ADDED` if the checkpoint never had it), or, if it vanished and the checkpoint had it,
//!   as a synthesized `DELETED`. The one loss: if that event was the first the plugin handled of
//!   its object (its `ADDED`) and the object vanished before the restart's lists, it is in
//!   neither, and its `DELETED` is not delivered. Every other vanished object gets its `DELETED`.
//!   (If appending fails, an I/O error the worker logs, the records since are only in memory
//!   until a snapshot succeeds, tried at once and then every interval: those are also lost by a
//!   crash in between.)
//! - **Node crash** (power loss, kernel panic): the snapshot, and the journal as of its last sync:
//!   the records appended since, at most an interval's worth (plus the time to the next tick, if
//!   the worker is busy in a plugin when the sync falls due), may be lost, wholly or from any
//!   point on (a torn tail is ignored). Their objects are delivered again, as above; and an
//!   object the plugin first handled in that window that vanished before the restart's lists
//!   gets no `DELETED`. A compaction does not widen the window: the snapshot is synced, and its
//!   rename made durable, before the journal is reset.
//! - **Unchanged objects** are never delivered again: an object listed at the version the loaded
//!   checkpoint holds is dropped. So after a clean shutdown no object is delivered again at a
//!   version the plugin has handled; after a process crash only the object of the lost record
//!   can be; after a node crash, only those handled in the lost window.
//! - **Deletions.** For an object that vanished while the controller was down the plugin receives
//!   a `DELETED` whose object is its identity as last handled (kind, apiVersion, metadata name,
//!   namespace, uid, resourceVersion and labels), not the full object: byte for byte what the
//!   live source synthesizes for `deleted_object = "identity"`. They come after the lists'
//!   events, so an object deleted and created again under the same name (a new uid) arrives as
//!   `ADDED` for the new one, then `DELETED` for the old one, as with a relist.
//! - **Queued events** are not lost: the lists after the restart contain their outcome.
//! - **Not handled, not recorded.** An event the plugin has not handled for good (a retry pending,
//!   skipped during a back-off) is not recorded, so the object is delivered again after a
//!   restart.
//! - **Unwatched resources.** Objects of resources the controller no longer watches are dropped
//!   from the checkpoint without any event (and counted, see [`ResumeStats`]).
//! - **Without a journal** (a store that cannot append), a crash of either kind loses the records
//!   made since the last snapshot: at most an interval's worth plus the duration of a save, with
//!   the consequences of a node crash above.
//!
//! Resuming needs the first list of every watched resource to reach [`Checkpoint::admit`] in
//! full: with `initial_events = "skip"` nothing would be listed and every object would be
//! deleted, so the source must deliver the first list to a plugin that has a checkpoint.
//!
//! ## Without a volume
//!
//! The [`ConfigMapStore`] keeps each plugin's checkpoint in ConfigMaps instead of files, for a
//! controller without a state directory; every replica of a leader-elected deployment reads and
//! writes the same objects. A snapshot is one ConfigMap, or a head and chunks of at most
//! [`MAX_CHUNK_BYTES`] when it is larger, written atomically (the chunks of a new generation,
//! then the head, replaced with optimistic concurrency: a concurrent writer is a
//! [`CheckpointError::Conflict`], never overwritten silently) and checked on reading (length and
//! sha256). It keeps no journal: the guarantee is the *Without a journal* case above, for one
//! request per interval while changes flow (more for a snapshot of several chunks).

mod configmap;
mod encoding;
mod intern;
mod journal;
mod store;

pub use configmap::{ConfigMapStore, DEFAULT_REQUEST_TIMEOUT, MAX_CHUNK_BYTES, MAX_OBJECT_BYTES};
pub use encoding::DecodeError;
pub use journal::{JournalReplay, JOURNAL_MIN_LIMIT};
pub use store::{CheckpointStore, FileStore, Flusher, FlusherStats, DEFAULT_INTERVAL};

use crate::event::{event_bytes, EventError, EventMeta, EventType, WatchEvent};
pub(crate) use encoding::{put_bytes, read_packed_str};
use encoding::{put_varint, read_packed_label};
use intern::Interner;
use std::collections::HashMap;
use std::path::PathBuf;

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The plugin's name cannot name a checkpoint (empty, hidden, a path, too long).
    #[error("plugin name {plugin:?} cannot name a checkpoint: {reason}")]
    InvalidPluginName {
        /// The name.
        plugin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The state directory cannot be created or listed.
    #[error("checkpoint directory {}: cannot {action}: {source}", path.display())]
    Directory {
        /// What was being done, e.g. `create`.
        action: &'static str,
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Reading, writing, syncing or renaming a file failed.
    #[error("checkpoint of plugin {plugin:?}: cannot {action} {}: {source}", path.display())]
    Io {
        /// The plugin.
        plugin: String,
        /// What was being done, e.g. `write`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The store keeps no journal ([`CheckpointStore::journals`] is false), yet was asked to
    /// append to one.
    #[error("checkpoint of plugin {plugin:?} at {location}: the store keeps no journal")]
    NoJournal {
        /// The plugin.
        plugin: String,
        /// Where its checkpoint is stored.
        location: String,
    },
    /// The stored checkpoint is torn, corrupt or of another format: the plugin must start
    /// without it (every current object is delivered as `ADDED`).
    #[error("checkpoint of plugin {plugin:?} at {location} is unusable: {source}")]
    Corrupt {
        /// The plugin.
        plugin: String,
        /// Where it is stored (a file's path; a ConfigMap, and which of its chunks is wrong).
        location: String,
        /// What is wrong.
        #[source]
        source: DecodeError,
    },
    /// A store's settings cannot work (a namespace or prefix that cannot name ConfigMaps).
    #[error("invalid checkpoint store settings: {0}")]
    Settings(String),
    /// A request to the Kubernetes API server failed: refused with an error Status, or not
    /// answered (in time).
    #[error("checkpoint of plugin {plugin:?}: cannot {action} {object}: {message}")]
    Kube {
        /// The plugin.
        plugin: String,
        /// What was being done, e.g. `update`.
        action: &'static str,
        /// The object, e.g. `configmap ns/name`.
        object: String,
        /// The HTTP status of a refusal; `None` when there was no answer.
        status: Option<u16>,
        /// The status, reason and message of a refusal, or why there was no answer.
        message: String,
    },
    /// Another writer (another replica) changed the stored checkpoint since this store last
    /// read or wrote it: nothing was overwritten. The next write reads it anew and replaces it.
    #[error(
        "checkpoint of plugin {plugin:?} at {location} was changed by another writer since it \
         was last read or written here; not overwritten: {message}"
    )]
    Conflict {
        /// The plugin.
        plugin: String,
        /// Where it is stored.
        location: String,
        /// The server's message, and who wrote the checkpoint if known.
        message: String,
    },
    /// The object that would hold the plugin's checkpoint holds something else: the checkpoint
    /// of another plugin whose name maps to the same object name, or an object the controller
    /// did not make. It is neither read nor written.
    #[error("checkpoint of plugin {plugin:?}: {location} is taken: {holder}")]
    NameTaken {
        /// The plugin.
        plugin: String,
        /// The object, e.g. `configmap ns/name`.
        location: String,
        /// What holds it.
        holder: String,
    },
}

/// The key of an object: its uid (16 bytes when it is a canonical lowercase UUID, as Kubernetes
/// makes them), or `namespace/name` for objects without one. The live source's reconciler keys
/// objects the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Key {
    Uuid([u8; 16]),
    Uid(Box<str>),
    Ref(Box<str>),
}

impl Key {
    /// The key of the object `meta` identifies.
    pub(crate) fn of(meta: &EventMeta) -> Key {
        match meta.uid() {
            Some(uid) => match parse_uuid(uid) {
                Some(bytes) => Key::Uuid(bytes),
                None => Key::Uid(uid.into()),
            },
            None => Key::Ref(meta.object_ref().into()),
        }
    }

    /// The uid as the object has it, if it has one.
    pub(crate) fn uid(&self) -> Option<String> {
        match self {
            Key::Uuid(bytes) => Some(format_uuid(bytes)),
            Key::Uid(uid) => Some(uid.to_string()),
            Key::Ref(_) => None,
        }
    }
}

/// `uid` as 16 bytes when it is a UUID written the canonical way (lowercase, 8-4-4-4-12), so
/// that [`format_uuid`] gives back the same text.
fn parse_uuid(uid: &str) -> Option<[u8; 16]> {
    let text = uid.as_bytes();
    if text.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut nibbles = 0;
    for (i, &c) in text.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let value = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        out[nibbles / 2] |= value << (4 * (1 - nibbles % 2));
        nibbles += 1;
    }
    Some(out)
}

fn format_uuid(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 15)] as char);
    }
    out
}

/// A `resourceVersion`: a number when it is a canonical decimal `u64` (no sign, no leading
/// zero), as etcd-backed servers write them; otherwise the text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ObjectVersion {
    Absent,
    Number(u64),
    Text(Box<str>),
}

/// `text` as a number when it is a canonical decimal `u64` (no sign, no leading zero), so that
/// the number written in decimal gives back the same text.
pub(crate) fn canonical_u64(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let canonical = !bytes.is_empty()
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes[0] != b'0' || bytes.len() == 1);
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

impl ObjectVersion {
    fn of(version: Option<&str>) -> ObjectVersion {
        match version {
            None => ObjectVersion::Absent,
            Some(text) => match canonical_u64(text) {
                Some(n) => ObjectVersion::Number(n),
                None => ObjectVersion::Text(text.into()),
            },
        }
    }

    /// True when `version` is this one; an absent version equals an empty one, as in the live
    /// source.
    fn matches(&self, version: Option<&str>) -> bool {
        let other = version.unwrap_or("");
        match self {
            ObjectVersion::Absent => other.is_empty(),
            ObjectVersion::Number(n) => canonical_u64(other) == Some(*n),
            ObjectVersion::Text(text) => **text == *other,
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            ObjectVersion::Absent => None,
            ObjectVersion::Number(n) => Some(n.to_string()),
            ObjectVersion::Text(text) => Some(text.to_string()),
        }
    }
}

/// The resource and namespace of objects, shared by the entries that have them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scope {
    pub(crate) api_version: Box<str>,
    pub(crate) kind: Box<str>,
    pub(crate) namespace: Option<Box<str>>,
}

impl Scope {
    fn empty() -> Scope {
        Scope {
            api_version: "".into(),
            kind: "".into(),
            namespace: None,
        }
    }
}

/// The interned values of a checkpoint (or of the live source's reconciler): scopes, and label
/// names for labels packed by [`Interned::pack_labels`].
#[derive(Debug, Default)]
pub(crate) struct Interned {
    scopes: Interner<Scope>,
    label_names: Interner<Box<str>>,
}

impl Interned {
    /// The number of a scope, with one more user.
    pub(crate) fn scope(&mut self, api_version: &str, kind: &str, namespace: Option<&str>) -> u32 {
        self.scopes.acquire(
            &(api_version, kind, namespace),
            |s| {
                *s.api_version == *api_version
                    && *s.kind == *kind
                    && s.namespace.as_deref() == namespace
            },
            || Scope {
                api_version: api_version.into(),
                kind: kind.into(),
                namespace: namespace.map(Into::into),
            },
        )
    }

    fn label_name(&mut self, name: &str) -> u32 {
        self.label_names
            .acquire(name, |n| **n == *name, || name.into())
    }

    /// The scope numbered `n`.
    pub(crate) fn scope_of(&self, n: u32) -> &Scope {
        self.scopes.get(n)
    }

    /// Appends `labels`, in order, each as the varint number of its interned name and the value
    /// as by [`put_bytes`]; release them with [`Interned::release`].
    pub(crate) fn pack_labels(
        &mut self,
        out: &mut Vec<u8>,
        labels: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) {
        for (name, value) in labels {
            put_varint(out, self.label_name(name.as_ref()).into());
            put_bytes(out, value.as_ref().as_bytes());
        }
    }

    /// The labels packed by [`Interned::pack_labels`] into `packed`, as (name, value).
    pub(crate) fn labels<'a>(
        &'a self,
        packed: &'a [u8],
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        PackedLabels(packed).map(|(name, value)| (&**self.label_names.get(name), value))
    }

    /// The number of scopes and of label names in use.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> (usize, usize) {
        (self.scopes.len(), self.label_names.len())
    }

    /// Releases the scope numbered `scope` and the names of the labels packed in `labels`.
    pub(crate) fn release(&mut self, scope: u32, labels: &[u8]) {
        self.scopes.release(scope, Scope::empty);
        for (name, _) in PackedLabels(labels) {
            self.label_names.release(name, Box::default);
        }
    }
}

/// Where an entry stands while resuming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Not (yet) in any list since the restart.
    No,
    /// Listed, or changed, since the restart.
    Yes,
    /// Not listed: its `DELETED` has been synthesized (and is removed when recorded).
    Deleted,
}

/// What is kept of one object the plugin has handled.
#[derive(Debug, Clone)]
struct HandledObject {
    version: ObjectVersion,
    name: Box<str>,
    /// Labels, in document order, each as the varint number of its interned name and the value
    /// as a varint length and bytes.
    labels: Box<[u8]>,
    scope: u32,
    seen: Seen,
}

/// The labels of an entry, as packed in [`HandledObject::labels`].
struct PackedLabels<'a>(&'a [u8]);

impl<'a> Iterator for PackedLabels<'a> {
    type Item = (u32, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let (name, value, rest) = read_packed_label(self.0)?;
        self.0 = rest;
        Some((name, value))
    }
}

/// What resuming did, for the caller to log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumeStats {
    /// `ADDED` events dropped: the plugin had handled the object at that version.
    pub unchanged: u64,
    /// `ADDED` events delivered as `MODIFIED`: the object changed since the plugin handled it.
    pub modified: u64,
    /// `ADDED` events for objects the checkpoint did not know, delivered as they are.
    pub added: u64,
    /// `MODIFIED` and `DELETED` events, passed as they are.
    pub live: u64,
    /// `DELETED` events synthesized for objects no list contained.
    pub deleted: u64,
    /// Objects dropped from the checkpoint without an event: their resource is no longer watched.
    pub unwatched: u64,
    /// Objects whose `DELETED` could not be synthesized (not expected), dropped.
    pub invalid: u64,
}

/// The end of resuming: the `DELETED` events to deliver, and what resuming did.
#[derive(Debug, Default)]
pub struct Resumed {
    /// A synthesized `DELETED` for each vanished object, ordered by namespace, name, kind,
    /// apiVersion and uid.
    pub deleted: Vec<WatchEvent>,
    /// The counts of the whole resume.
    pub stats: ResumeStats,
}

/// What [`Checkpoint::admit`] decided for one event.
#[derive(Debug)]
pub enum Admission {
    /// Deliver the event as it is.
    Deliver,
    /// Deliver this event instead: the same object, retyped `MODIFIED`.
    Retyped(WatchEvent),
    /// Drop it: the plugin has handled this version of the object.
    Skip,
}

impl Admission {
    /// The event to deliver, given the one that was admitted, if any.
    pub fn into_event(self, admitted: WatchEvent) -> Option<WatchEvent> {
        match self {
            Admission::Deliver => Some(admitted),
            Admission::Retyped(event) => Some(event),
            Admission::Skip => None,
        }
    }
}

/// What one plugin has handled: per object its key, last handled `resourceVersion` and
/// identity. See the [module documentation](self).
#[derive(Debug, Default)]
pub struct Checkpoint {
    entries: HashMap<Key, HandledObject, foldhash::fast::RandomState>,
    shared: Interned,
    /// True from loading until [`Checkpoint::finish`].
    resuming: bool,
    /// Changed since the last snapshot.
    dirty: bool,
    stats: ResumeStats,
    /// The records made since the last snapshot, to append to the journal.
    journal: journal::Journal,
}

impl Checkpoint {
    /// An empty checkpoint, for a plugin without a stored one: nothing to resume.
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it holds no object.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when it differs from the last snapshot saved or loaded: it has changed since, or
    /// the journal replayed on loading changed it.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Marks it saved, after [`CheckpointStore::save`] saved a snapshot of it. ([`Flusher`] does
    /// this and more by itself.)
    pub fn mark_saved(&mut self) {
        self.dirty = false;
    }

    /// True between loading and [`Checkpoint::finish`]: [`Checkpoint::admit`] filters events.
    pub fn is_resuming(&self) -> bool {
        self.resuming
    }

    /// Ends resuming without synthesizing anything: every event is delivered as it is from now
    /// on, and the objects stay as they are (for a plugin that joins while events flow, or when
    /// the lists skip the objects present at start-up).
    pub fn stop_resuming(&mut self) {
        self.resuming = false;
    }

    /// The counts of resuming so far.
    pub fn stats(&self) -> ResumeStats {
        self.stats
    }

    /// The `resourceVersion` recorded for the object of `event`, if the checkpoint has it
    /// (`Some("")` for an object recorded without one).
    pub fn version_of(&self, event: &WatchEvent) -> Option<String> {
        let entry = self.entries.get(&Key::of(event.meta()))?;
        Some(entry.version.text().unwrap_or_default())
    }

    /// The plugin has handled `event` for good: `ADDED` and `MODIFIED` store the object's
    /// version and identity, `DELETED` forgets the object. Other types are ignored. Fails only
    /// when the labels cannot be read from the event, which then leaves the checkpoint as it was.
    pub fn record(&mut self, event: &WatchEvent) -> Result<(), EventError> {
        let meta = event.meta();
        match meta.event_type {
            EventType::Added | EventType::Modified => {
                let mut labels = Vec::new();
                self.shared.pack_labels(&mut labels, event.labels()?);
                let scope = self
                    .shared
                    .scope(meta.api_version(), meta.kind(), meta.namespace());
                let entry = HandledObject {
                    version: ObjectVersion::of(meta.resource_version()),
                    name: meta.name().into(),
                    labels: labels.into_boxed_slice(),
                    scope,
                    seen: Seen::Yes,
                };
                let key = Key::of(meta);
                self.log_upsert(&key, &entry);
                self.insert_entry(key, entry);
                self.dirty = true;
            }
            EventType::Deleted => {
                self.forget(&Key::of(meta));
            }
            EventType::Bookmark | EventType::Error => {}
        }
        Ok(())
    }

    /// Whether the plugin must receive `event`, while resuming (after resuming, and for a
    /// checkpoint that was not loaded, every event is delivered as it is):
    ///
    /// - `ADDED` for an object at the version in the checkpoint → [`Admission::Skip`];
    /// - `ADDED` for an object at another version → [`Admission::Retyped`] as `MODIFIED` (or, if
    ///   the event's bytes cannot be retyped, [`Admission::Deliver`] as `ADDED`);
    /// - `ADDED` for an object the checkpoint does not have, `MODIFIED` and `DELETED` →
    ///   [`Admission::Deliver`].
    ///
    /// Each object it sees is marked present, so that [`Checkpoint::finish`] does not delete it.
    pub fn admit(&mut self, event: &WatchEvent) -> Admission {
        if !self.resuming {
            return Admission::Deliver;
        }
        let meta = event.meta();
        if !meta.event_type.is_object_change() {
            return Admission::Deliver;
        }
        let entry = self.entries.get_mut(&Key::of(meta));
        if meta.event_type != EventType::Added {
            if let Some(entry) = entry {
                entry.seen = Seen::Yes;
            }
            self.stats.live += 1;
            return Admission::Deliver;
        }
        let Some(entry) = entry else {
            self.stats.added += 1;
            return Admission::Deliver;
        };
        entry.seen = Seen::Yes;
        if entry.version.matches(meta.resource_version()) {
            self.stats.unchanged += 1;
            return Admission::Skip;
        }
        self.stats.modified += 1;
        match event.with_type(EventType::Modified) {
            Ok(modified) => Admission::Retyped(modified),
            Err(_) => Admission::Deliver,
        }
    }

    /// A list is complete: for each object of the checkpoint that `covered` (apiVersion, kind,
    /// namespace) places in that list and that was not seen, a synthesized `DELETED`, in the
    /// order of [`Resumed::deleted`]. The objects stay in the checkpoint until their `DELETED`
    /// is recorded. Does nothing when not resuming.
    pub fn finish_list(
        &mut self,
        covered: impl Fn(&str, &str, Option<&str>) -> bool,
    ) -> Vec<WatchEvent> {
        if !self.resuming {
            return Vec::new();
        }
        self.synthesize_deletions(|_, scope| {
            covered(&scope.api_version, &scope.kind, scope.namespace.as_deref())
        })
    }

    /// Resuming is over (every watched resource has been listed): a synthesized `DELETED` for
    /// each object of the checkpoint that no list contained, when `still_watched` (apiVersion,
    /// kind, namespace) says its resource is still watched; objects of resources no longer
    /// watched are dropped without an event and counted. From now on every event is delivered as
    /// it is. Does nothing when not resuming.
    pub fn finish(&mut self, still_watched: impl Fn(&str, &str, Option<&str>) -> bool) -> Resumed {
        if !self.resuming {
            return Resumed::default();
        }
        // Ask once per scope.
        let mut watched: HashMap<u32, bool> = HashMap::new();
        let mut is_watched = |i: u32, scope: &Scope| {
            *watched.entry(i).or_insert_with(|| {
                still_watched(&scope.api_version, &scope.kind, scope.namespace.as_deref())
            })
        };
        let mut unwatched = Vec::new();
        for (key, entry) in &self.entries {
            if entry.seen == Seen::No
                && !is_watched(entry.scope, self.shared.scopes.get(entry.scope))
            {
                unwatched.push(key.clone());
            }
        }
        for key in unwatched {
            if self.forget(&key) {
                self.stats.unwatched += 1;
            }
        }
        let deleted = self.synthesize_deletions(|_, _| true);
        self.resuming = false;
        Resumed {
            deleted,
            stats: self.stats,
        }
    }

    /// Synthesizes the `DELETED` of every unseen entry that `select` picks, marking it deleted.
    fn synthesize_deletions(&mut self, select: impl Fn(&Key, &Scope) -> bool) -> Vec<WatchEvent> {
        let mut gone: Vec<(&Key, &mut HandledObject)> = Vec::new();
        for (key, entry) in self.entries.iter_mut() {
            if entry.seen == Seen::No && select(key, self.shared.scopes.get(entry.scope)) {
                gone.push((key, entry));
            }
        }
        let shared = &self.shared;
        let scopes = &shared.scopes;
        gone.sort_by(|(ka, a), (kb, b)| {
            let (sa, sb) = (scopes.get(a.scope), scopes.get(b.scope));
            (&sa.namespace, &a.name, &sa.kind, &sa.api_version, *ka).cmp(&(
                &sb.namespace,
                &b.name,
                &sb.kind,
                &sb.api_version,
                *kb,
            ))
        });
        let mut out = Vec::with_capacity(gone.len());
        let mut invalid = Vec::new();
        for (key, entry) in gone {
            entry.seen = Seen::Deleted;
            let object = identity(key, entry, shared);
            match WatchEvent::parse(event_bytes(EventType::Deleted, &object)) {
                Ok(event) => out.push(event),
                Err(_) => invalid.push(key.clone()),
            }
        }
        self.stats.deleted += out.len() as u64;
        for key in invalid {
            if self.forget(&key) {
                self.stats.invalid += 1;
            }
        }
        out
    }

    /// Puts `entry` under `key`, releasing what the entry it replaces held.
    fn insert_entry(&mut self, key: Key, entry: HandledObject) {
        if let Some(old) = self.entries.insert(key, entry) {
            self.shared.release(old.scope, &old.labels);
        }
    }

    /// Removes the entry of `key`, if any, releasing what it held. True if there was one.
    fn remove_entry(&mut self, key: &Key) -> bool {
        match self.entries.remove(key) {
            Some(old) => {
                self.shared.release(old.scope, &old.labels);
                true
            }
            None => false,
        }
    }

    /// Forgets the object `key`, recording it. True if the checkpoint had it.
    fn forget(&mut self, key: &Key) -> bool {
        if !self.remove_entry(key) {
            return false;
        }
        self.log_delete(key);
        self.dirty = true;
        true
    }

    /// Every object, sorted by key, as (uid or `namespace/name`, resourceVersion, identity):
    /// what a checkpoint means, for comparisons in tests.
    #[cfg(test)]
    fn dump(&self) -> Vec<(String, Option<String>, String)> {
        let mut out: Vec<_> = self
            .entries
            .iter()
            .map(|(key, entry)| {
                let id = match key {
                    Key::Ref(r) => format!("ref:{r}"),
                    _ => format!("uid:{}", key.uid().unwrap_or_default()),
                };
                let object = identity(key, entry, &self.shared);
                (
                    id,
                    entry.version.text(),
                    String::from_utf8(object).expect("utf8"),
                )
            })
            .collect();
        out.sort();
        out
    }
}

/// The `object` of a synthesized `DELETED`: byte for byte what the live source's reconciler
/// writes for `deleted_object = "identity"` from the same event.
fn identity(key: &Key, entry: &HandledObject, shared: &Interned) -> Vec<u8> {
    let scope = shared.scopes.get(entry.scope);
    let uid = key.uid();
    let version = entry.version.text();
    let mut out = Vec::with_capacity(160 + entry.labels.len());
    Identity {
        kind: &scope.kind,
        api_version: &scope.api_version,
        name: &entry.name,
        namespace: scope.namespace.as_deref(),
        uid: uid.as_deref(),
        resource_version: version.as_deref(),
    }
    .write(&mut out, shared.labels(&entry.labels));
    out
}

/// What the `object` of a synthesized `DELETED` holds, but for the labels.
pub(crate) struct Identity<'a> {
    pub(crate) kind: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) name: &'a str,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) uid: Option<&'a str>,
    pub(crate) resource_version: Option<&'a str>,
}

impl Identity<'_> {
    /// Appends the object, with `labels` in order: `{"kind":..,"apiVersion":..,"metadata":
    /// {"name":..,"namespace":..,"uid":..,"resourceVersion":..,"labels":{..}}}`, where the
    /// absent fields (and `labels` when there are none) are left out.
    pub(crate) fn write<'l>(
        &self,
        out: &mut Vec<u8>,
        labels: impl IntoIterator<Item = (&'l str, &'l str)>,
    ) {
        let json = |text: &str, out: &mut Vec<u8>| {
            // Writing a `str` into a `Vec` cannot fail.
            let _ = serde_json::to_writer(&mut *out, text);
        };
        out.extend_from_slice(br#"{"kind":"#);
        json(self.kind, out);
        out.extend_from_slice(br#","apiVersion":"#);
        json(self.api_version, out);
        out.extend_from_slice(br#","metadata":{"name":"#);
        json(self.name, out);
        for (key, value) in [
            (&br#","namespace":"#[..], self.namespace),
            (br#","uid":"#, self.uid),
            (br#","resourceVersion":"#, self.resource_version),
        ] {
            if let Some(value) = value {
                out.extend_from_slice(key);
                json(value, out);
            }
        }
        let mut labels = labels.into_iter().peekable();
        if labels.peek().is_some() {
            out.extend_from_slice(br#","labels":{"#);
            for (i, (name, value)) in labels.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json(name, out);
                out.push(b':');
                json(value, out);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::reconcile::{arbitrary_event, identity_object};
    use proptest::prelude::*;

    const UID_A: &str = "0b9e6f3c-5a1d-4c2e-9f7a-1d2c3b4a5e6f";

    fn event(event_type: &str, name: &str, uid: &str, rv: &str) -> WatchEvent {
        let line = format!(
            r#"{{"type":"{event_type}","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"ns","uid":"{uid}","resourceVersion":"{rv}","labels":{{"app":"{name}","tier":"web"}}}},"spec":{{"nodeName":"n1"}}}}}}"#
        );
        WatchEvent::parse(line.into_bytes()).expect("valid event")
    }

    fn text(event: &WatchEvent) -> &str {
        std::str::from_utf8(event.raw()).expect("utf8")
    }

    /// A checkpoint that has recorded `events`, saved and loaded again.
    fn reloaded(events: &[WatchEvent]) -> Checkpoint {
        let mut checkpoint = Checkpoint::new();
        for e in events {
            checkpoint.record(e).expect("recorded");
        }
        Checkpoint::decode(&checkpoint.encode()).expect("decoded")
    }

    fn admitted(checkpoint: &mut Checkpoint, events: &[WatchEvent]) -> Vec<WatchEvent> {
        events
            .iter()
            .filter_map(|e| checkpoint.admit(e).into_event(e.clone()))
            .collect()
    }

    fn types_and_names(events: &[WatchEvent]) -> Vec<(EventType, String)> {
        events
            .iter()
            .map(|e| (e.meta().event_type, e.meta().name().to_owned()))
            .collect()
    }

    #[test]
    fn uuids_are_kept_as_bytes_only_when_they_format_back_the_same() {
        let bytes = parse_uuid(UID_A).expect("uuid");
        assert_eq!(format_uuid(&bytes), UID_A);
        for not in [
            "0B9E6F3C-5A1D-4C2E-9F7A-1D2C3B4A5E6F",
            "0b9e6f3c5a1d4c2e9f7a1d2c3b4a5e6f",
            "0b9e6f3c-5a1d-4c2e-9f7a-1d2c3b4a5e6g",
            "0b9e6f3c-5a1d-4c2e-9f7a_1d2c3b4a5e6f",
            "",
        ] {
            assert_eq!(parse_uuid(not), None, "{not}");
        }
    }

    #[test]
    fn versions_are_numbers_only_when_canonical() {
        assert_eq!(ObjectVersion::of(Some("123")), ObjectVersion::Number(123));
        assert_eq!(ObjectVersion::of(Some("0")), ObjectVersion::Number(0));
        for text in ["0123", "", "+1", "12a", "99999999999999999999999"] {
            assert_eq!(
                ObjectVersion::of(Some(text)),
                ObjectVersion::Text(text.into())
            );
        }
        assert!(ObjectVersion::Number(7).matches(Some("7")));
        assert!(!ObjectVersion::Number(7).matches(Some("07")));
        assert!(ObjectVersion::Absent.matches(Some("")));
        assert!(ObjectVersion::Text("".into()).matches(None));
    }

    #[test]
    fn a_restart_delivers_only_what_changed() {
        let before = [
            event("ADDED", "a", UID_A, "1"),
            event("ADDED", "b", "uid-b", "2"),
            event("ADDED", "c", "uid-c", "3"),
            event("MODIFIED", "b", "uid-b", "4"),
        ];
        let mut checkpoint = reloaded(&before);
        assert!(checkpoint.is_resuming() && !checkpoint.is_dirty());
        assert_eq!(checkpoint.len(), 3);
        // While away: b changed, c was deleted, d was created; a is unchanged.
        let listed = [
            event("ADDED", "d", "uid-d", "9"),
            event("ADDED", "b", "uid-b", "7"),
            event("ADDED", "a", UID_A, "1"),
        ];
        let out = admitted(&mut checkpoint, &listed);
        assert_eq!(
            types_and_names(&out),
            [
                (EventType::Added, "d".into()),
                (EventType::Modified, "b".into())
            ]
        );
        assert!(text(&out[1]).starts_with(r#"{"type":"MODIFIED","object":{"kind":"Pod""#));
        for e in &out {
            checkpoint.record(e).expect("recorded");
        }
        let resumed = checkpoint.finish(|_, _, _| true);
        assert_eq!(resumed.deleted.len(), 1);
        assert_eq!(
            text(&resumed.deleted[0]),
            r#"{"type":"DELETED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"c","namespace":"ns","uid":"uid-c","resourceVersion":"3","labels":{"app":"c","tier":"web"}}}}"#
        );
        assert_eq!(
            resumed.stats,
            ResumeStats {
                unchanged: 1,
                modified: 1,
                added: 1,
                deleted: 1,
                ..ResumeStats::default()
            }
        );
        // The DELETED is forgotten once handled; afterwards every event passes.
        checkpoint.record(&resumed.deleted[0]).expect("recorded");
        assert_eq!(checkpoint.len(), 3);
        assert!(!checkpoint.is_resuming());
        let again = event("ADDED", "a", UID_A, "1");
        assert!(matches!(checkpoint.admit(&again), Admission::Deliver));
        assert_eq!(checkpoint.version_of(&again).as_deref(), Some("1"));
    }

    #[test]
    fn a_fresh_checkpoint_filters_nothing() {
        let mut checkpoint = Checkpoint::new();
        checkpoint
            .record(&event("ADDED", "a", UID_A, "1"))
            .expect("recorded");
        assert!(checkpoint.is_dirty());
        let listed = event("ADDED", "a", UID_A, "1");
        assert!(matches!(checkpoint.admit(&listed), Admission::Deliver));
        assert!(checkpoint.finish(|_, _, _| true).deleted.is_empty());
    }

    #[test]
    fn live_changes_pass_and_count_as_seen() {
        let mut checkpoint = reloaded(&[
            event("ADDED", "a", "uid-a", "1"),
            event("ADDED", "b", "uid-b", "2"),
        ]);
        let live = [
            event("MODIFIED", "a", "uid-a", "1"),
            event("DELETED", "b", "uid-b", "5"),
        ];
        assert_eq!(admitted(&mut checkpoint, &live).len(), 2);
        // The DELETED of b is still being retried (not recorded): no second DELETED for it.
        let resumed = checkpoint.finish(|_, _, _| true);
        assert!(resumed.deleted.is_empty());
        assert_eq!(resumed.stats.live, 2);
    }

    #[test]
    fn objects_of_resources_no_longer_watched_are_dropped_silently() {
        let route = WatchEvent::parse(
            br#"{"type":"ADDED","object":{"kind":"Route","apiVersion":"route.openshift.io/v1","metadata":{"name":"r","namespace":"ns","uid":"uid-r","resourceVersion":"4"}}}"#.to_vec(),
        )
        .expect("valid");
        let mut checkpoint = reloaded(&[event("ADDED", "a", "uid-a", "1"), route]);
        let resumed = checkpoint.finish(|api_version, kind, namespace| {
            assert_eq!(namespace, Some("ns"));
            (api_version, kind) == ("v1", "Pod")
        });
        assert_eq!(
            types_and_names(&resumed.deleted),
            [(EventType::Deleted, "a".into())]
        );
        assert_eq!(resumed.stats.unwatched, 1);
        assert_eq!(checkpoint.len(), 1);
        assert!(checkpoint.is_dirty());
    }

    #[test]
    fn each_list_settles_its_own_objects_once() {
        let service = WatchEvent::parse(
            br#"{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"s","namespace":"ns","uid":"uid-s","resourceVersion":"4"}}}"#.to_vec(),
        )
        .expect("valid");
        let mut checkpoint = reloaded(&[
            event("ADDED", "b", "uid-b", "1"),
            event("ADDED", "a", "uid-a", "1"),
            service,
        ]);
        let pods = checkpoint.finish_list(|_, kind, _| kind == "Pod");
        assert_eq!(
            types_and_names(&pods),
            [
                (EventType::Deleted, "a".into()),
                (EventType::Deleted, "b".into())
            ]
        );
        assert!(checkpoint
            .finish_list(|_, kind, _| kind == "Pod")
            .is_empty());
        let resumed = checkpoint.finish(|_, _, _| true);
        assert_eq!(
            types_and_names(&resumed.deleted),
            [(EventType::Deleted, "s".into())]
        );
        assert_eq!(resumed.stats.deleted, 3);
    }

    #[test]
    fn objects_without_uid_are_keyed_by_namespace_and_name() {
        let cm = |rv: &str| {
            WatchEvent::parse(
                format!(r#"{{"type":"ADDED","object":{{"kind":"ConfigMap","apiVersion":"v1","metadata":{{"name":"c","namespace":"ns","resourceVersion":"{rv}"}}}}}}"#)
                    .into_bytes(),
            )
            .expect("valid")
        };
        let mut checkpoint = reloaded(&[cm("1")]);
        assert!(matches!(checkpoint.admit(&cm("1")), Admission::Skip));
        let node = WatchEvent::parse(
            br#"{"type":"ADDED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"n"}}}"#.to_vec(),
        )
        .expect("valid");
        let mut checkpoint = reloaded(std::slice::from_ref(&node));
        assert!(matches!(checkpoint.admit(&node), Admission::Skip));
        let mut checkpoint = reloaded(&[node]);
        let resumed = checkpoint.finish(|_, _, _| true);
        assert_eq!(
            text(&resumed.deleted[0]),
            r#"{"type":"DELETED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"n"}}}"#
        );
    }

    #[test]
    fn shared_values_are_freed_with_their_last_object() {
        let mut checkpoint = Checkpoint::new();
        let record =
            |checkpoint: &mut Checkpoint, e: WatchEvent| checkpoint.record(&e).expect("ok");
        record(&mut checkpoint, event("ADDED", "a", "uid-a", "1"));
        record(&mut checkpoint, event("MODIFIED", "a", "uid-a", "2"));
        record(&mut checkpoint, event("ADDED", "b", "uid-b", "1"));
        assert_eq!(
            (
                checkpoint.shared.scopes.len(),
                checkpoint.shared.label_names.len()
            ),
            (1, 2)
        );
        record(&mut checkpoint, event("DELETED", "a", "uid-a", "3"));
        record(&mut checkpoint, event("DELETED", "b", "uid-b", "3"));
        assert_eq!(
            (
                checkpoint.shared.scopes.len(),
                checkpoint.shared.label_names.len()
            ),
            (0, 0)
        );
        record(&mut checkpoint, event("ADDED", "c", "uid-c", "1"));
        assert_eq!(
            checkpoint.shared.scopes.slots(),
            1,
            "the free slot is reused"
        );
    }

    proptest! {
        /// The synthesized DELETED carries what the live source would synthesize, byte for byte,
        /// also after a save and a load.
        #[test]
        fn identity_is_the_reconcilers(event in arbitrary_event()) {
            let mut checkpoint = reloaded(std::slice::from_ref(&event));
            let resumed = checkpoint.finish(|_, _, _| true);
            prop_assert_eq!(resumed.deleted.len(), 1);
            let expected = event_bytes(EventType::Deleted, &identity_object(&event).expect("identity"));
            prop_assert_eq!(resumed.deleted[0].raw(), &expected[..]);
        }

        /// Without a journal (snapshots only, as with a store that keeps none): whatever the
        /// history, the plugin's view (the last version delivered of each object) equals the
        /// world after a restart, however many of its changes the last save missed, but for
        /// the objects first handled after the last save that vanished meanwhile; and an object
        /// the last save has at its current version is not delivered again.
        #[test]
        fn a_restart_converges_and_skips_the_unchanged(
            steps in prop::collection::vec((0u8..4, any::<usize>(), any::<bool>()), 1..60),
            clean_shutdown in any::<bool>(),
        ) {
            let pod = |t: &str, n: u64, rv: u64| event(t, &format!("p{n}"), &format!("uid-{n}"), &rv.to_string());
            let mut world: Vec<(u64, u64)> = Vec::new(); // (n, rv)
            let mut view: HashMap<String, String> = HashMap::new();
            let mut checkpoint = Checkpoint::new();
            let mut saved = Checkpoint::new().encode();
            let (mut rv, mut next) = (0u64, 0u64);
            let deliver = |e: &WatchEvent, cp: &mut Checkpoint, view: &mut HashMap<String, String>| {
                let m = e.meta();
                match m.event_type {
                    EventType::Deleted => { view.remove(m.name()); }
                    _ => { view.insert(m.name().to_owned(), m.resource_version().unwrap_or_default().to_owned()); }
                }
                cp.record(e).expect("recorded");
            };
            for (op, which, handled) in steps {
                rv += 1;
                match op {
                    0 => {
                        next += 1;
                        world.push((next, rv));
                        if handled { deliver(&pod("ADDED", next, rv), &mut checkpoint, &mut view); }
                    }
                    1 if !world.is_empty() => {
                        let i = which % world.len();
                        world[i].1 = rv;
                        if handled { deliver(&pod("MODIFIED", world[i].0, rv), &mut checkpoint, &mut view); }
                    }
                    2 if !world.is_empty() => {
                        let (n, _) = world.remove(which % world.len());
                        if handled { deliver(&pod("DELETED", n, rv), &mut checkpoint, &mut view); }
                    }
                    _ => saved = checkpoint.encode(),
                }
            }
            if clean_shutdown {
                saved = checkpoint.encode();
            }
            // Crash: what was handled since the last save is lost from the checkpoint (not
            // from the view: the plugin acted on it). Restart and list the world.
            let at_save = Checkpoint::decode(&saved).expect("decoded");
            let leaked: Vec<String> = view
                .keys()
                .filter(|name| {
                    let n: u64 = name[1..].parse().expect("number");
                    !world.iter().any(|(w, _)| *w == n) && at_save.version_of(&pod("ADDED", n, 0)).is_none()
                })
                .cloned()
                .collect();
            let mut checkpoint = Checkpoint::decode(&saved).expect("decoded");
            for &(n, v) in &world {
                let listed = pod("ADDED", n, v);
                let admission = checkpoint.admit(&listed);
                let unchanged = at_save.version_of(&listed) == Some(v.to_string());
                prop_assert_eq!(matches!(admission, Admission::Skip), unchanged);
                if let Some(e) = admission.into_event(listed) {
                    deliver(&e, &mut checkpoint, &mut view);
                }
            }
            for e in checkpoint.finish(|_, _, _| true).deleted {
                deliver(&e, &mut checkpoint, &mut view);
            }
            let truth: HashMap<String, String> = world.iter().map(|(n, v)| (format!("p{n}"), v.to_string())).collect();
            // The one loss: an object the plugin first handled after the last save, that then
            // vanished, is in no list and not in the checkpoint, so its deletion is not
            // delivered. Everything else converges.
            view.retain(|name, _| truth.contains_key(name) || !leaked.contains(name));
            prop_assert_eq!(&view, &truth);
            prop_assert_eq!(checkpoint.len(), world.len());
            if clean_shutdown {
                prop_assert!(leaked.is_empty());
            }
        }
    }

    /// A store in memory that dies on demand, in the middle of an operation, and can show what
    /// a process crash or a power cut leaves of it.
    #[derive(Default)]
    struct Disk {
        state: std::sync::Mutex<DiskState>,
    }

    #[derive(Default, Clone)]
    struct DiskState {
        snapshot: Option<Vec<u8>>,
        journal: Option<Vec<u8>>,
        /// What a power cut leaves of the journal: it as of its last sync.
        durable_journal: Option<Vec<u8>>,
        /// Appended to since everything was last durable (a sync or a snapshot).
        appended_since_durable: bool,
        /// Operations before the one the process dies in (`None`: it does not).
        ops_left: Option<usize>,
        /// Where in the operation it dies: how much of a write makes it.
        cut: usize,
        dead: bool,
    }

    impl DiskState {
        /// True when the process dies in this operation; an error when it is dead already.
        fn dying(&mut self) -> Result<bool, CheckpointError> {
            if self.dead {
                return Err(CheckpointError::NoJournal {
                    plugin: "dead".into(),
                    location: "disk".into(),
                });
            }
            Ok(match &mut self.ops_left {
                Some(0) => {
                    self.dead = true;
                    true
                }
                Some(n) => {
                    *n -= 1;
                    false
                }
                None => false,
            })
        }

        fn died() -> CheckpointError {
            CheckpointError::NoJournal {
                plugin: "died".into(),
                location: "disk".into(),
            }
        }
    }

    impl Disk {
        fn new(state: DiskState) -> Disk {
            Disk {
                state: std::sync::Mutex::new(state),
            }
        }

        fn state(&self) -> std::sync::MutexGuard<'_, DiskState> {
            self.state.lock().expect("lock")
        }

        /// What a restart finds: after a process crash, everything written (the page cache
        /// survives); after a power cut, the snapshots (synced before they are renamed into
        /// place) and the journal as of its last sync, with some of what was appended since
        /// when nothing was reset since, or else maybe the new journal's start.
        fn after_crash(&self, power_cut: bool, choice: usize) -> DiskState {
            let state = self.state().clone();
            let journal = if !power_cut {
                state.journal.clone()
            } else {
                match (&state.durable_journal, &state.journal) {
                    (Some(durable), Some(journal)) if journal.starts_with(durable) => {
                        let extra = choice % (journal.len() - durable.len() + 1);
                        Some(journal[..durable.len() + extra].to_vec())
                    }
                    (durable, Some(journal)) if choice % 2 == 1 => {
                        let _ = durable;
                        Some(journal[..choice / 2 % (journal.len() + 1)].to_vec())
                    }
                    (durable, _) => durable.clone(),
                }
            };
            DiskState {
                snapshot: state.snapshot,
                durable_journal: journal.clone(),
                journal,
                ..DiskState::default()
            }
        }
    }

    impl CheckpointStore for Disk {
        fn read(&self, _: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
            Ok(self.state().snapshot.clone())
        }
        fn write(&self, _: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
            let mut state = self.state();
            if state.dying()? {
                // Killed before or after the rename.
                if state.cut % 2 == 1 {
                    state.snapshot = Some(bytes.to_vec());
                }
                return Err(DiskState::died());
            }
            state.snapshot = Some(bytes.to_vec());
            state.appended_since_durable = false;
            Ok(())
        }
        fn remove(&self, _: &str) -> Result<(), CheckpointError> {
            unreachable!("not removed")
        }
        fn location(&self, _: &str) -> String {
            "disk".into()
        }
        fn journals(&self) -> bool {
            true
        }
        fn append(&self, _: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
            let mut state = self.state();
            let dying = state.dying()?;
            let cut = state.cut % (bytes.len() + 1);
            let journal = state
                .journal
                .as_mut()
                .expect("appending to a journal that exists");
            if dying {
                journal.extend_from_slice(&bytes[..cut]);
                return Err(DiskState::died());
            }
            journal.extend_from_slice(bytes);
            state.appended_since_durable = true;
            Ok(())
        }
        fn sync_journal(&self, _: &str) -> Result<(), CheckpointError> {
            let mut state = self.state();
            if state.dying()? {
                if state.cut % 2 == 1 {
                    state.durable_journal = state.journal.clone();
                }
                return Err(DiskState::died());
            }
            state.durable_journal = state.journal.clone();
            state.appended_since_durable = false;
            Ok(())
        }
        fn read_journal(&self, _: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
            Ok(self.state().journal.clone())
        }
        fn reset_journal(&self, _: &str, header: &[u8]) -> Result<(), CheckpointError> {
            let mut state = self.state();
            let dying = state.dying()?;
            let created = state.journal.is_none();
            if dying {
                let cut = state.cut % (header.len() + 1);
                state.journal = Some(header[..cut].to_vec());
                return Err(DiskState::died());
            }
            state.journal = Some(header.to_vec());
            if created {
                // The file store syncs a journal it creates.
                state.durable_journal = state.journal.clone();
            }
            Ok(())
        }
    }

    /// One run of the controller against a [`Disk`], until it ends or dies.
    struct Life<'a> {
        disk: Arc<Disk>,
        checkpoint: Checkpoint,
        flusher: Flusher,
        now: std::time::Instant,
        view: &'a mut HashMap<String, String>,
        /// Objects handled since the last tick that returned: a process crash may lose their
        /// records (at most one: the worker ticks after every event).
        unticked: std::collections::HashSet<String>,
        /// Objects handled since everything recorded was last durable: a power cut may lose
        /// their records.
        undurable: std::collections::HashSet<String>,
        /// While resuming: the objects whose records a crash may have lost.
        resuming: Option<std::collections::HashSet<String>>,
    }

    use std::sync::Arc;

    impl Life<'_> {
        /// The plugin handles `event`, the worker records it and ticks. False if the process
        /// died in the tick.
        fn handle(&mut self, event: &WatchEvent) -> bool {
            let meta = event.meta();
            if let Some(lost) = &self.resuming {
                // Nothing is delivered again but what a crash may have lost the record of.
                let again = match meta.event_type {
                    EventType::Deleted => !self.view.contains_key(meta.name()),
                    _ => self.view.get(meta.name()).map(String::as_str) == meta.resource_version(),
                };
                assert!(
                    !again || lost.contains(meta.name()),
                    "{} delivered again",
                    meta.name()
                );
            }
            match meta.event_type {
                EventType::Deleted => {
                    self.view.remove(meta.name());
                }
                _ => {
                    self.view.insert(
                        meta.name().to_owned(),
                        meta.resource_version().unwrap_or_default().to_owned(),
                    );
                }
            }
            self.checkpoint.record(event).expect("recorded");
            self.unticked.insert(meta.name().to_owned());
            self.undurable.insert(meta.name().to_owned());
            self.tick()
        }

        /// Ticks; false if the process died in it.
        fn tick(&mut self) -> bool {
            match self.flusher.tick(&mut self.checkpoint, self.now) {
                Ok(_) => {
                    self.unticked.clear();
                    let settled = !self.disk.state().appended_since_durable;
                    if settled && self.checkpoint.journal_pending().is_empty() {
                        self.undurable.clear();
                    }
                    true
                }
                Err(error) => {
                    assert!(self.disk.state().dead, "{error}");
                    false
                }
            }
        }
    }

    fn numbered_pod(t: &str, n: u64, rv: u64) -> WatchEvent {
        event(t, &format!("p{n}"), &format!("uid-{n}"), &rv.to_string())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// With the journal: whatever the history, and wherever the process dies (between two
        /// events, in the middle of appending a record, of saving a snapshot or of resetting
        /// the journal), every object handled before the crash that vanished before the
        /// restart gets its DELETED, but for the object of the event whose record was being
        /// appended (or not yet) when the process died; after a power cut, but for the objects
        /// handled since the journal was last synced. And the plugin's view converges to the
        /// world, across several crashes.
        #[test]
        fn after_a_crash_every_vanished_object_is_deleted(
            lives in prop::collection::vec(
                (
                    prop::collection::vec((0u8..4, any::<usize>(), any::<bool>()), 0..40),
                    prop::option::weighted(0.8, 0usize..30),
                    any::<usize>(),
                    any::<bool>(),
                    prop::collection::vec((0u8..3, any::<usize>()), 0..6),
                ),
                1..4,
            ),
        ) {
            let mut world: Vec<(u64, u64)> = Vec::new(); // (n, rv)
            let mut view: HashMap<String, String> = HashMap::new();
            let (mut rv, mut next) = (0u64, 0u64);
            // The objects whose records a crash may have lost: their DELETED may be lost, their
            // last change delivered again.
            let mut may_leak: std::collections::HashSet<String> = Default::default();
            let mut image = DiskState::default();
            let last = lives.len();
            for (life, (steps, dies_at, cut, power_cut, while_down)) in
                lives.into_iter().chain(std::iter::once((Vec::new(), None, 0, false, Vec::new()))).enumerate()
            {
                let final_life = life == last;
                let disk = Arc::new(Disk::new(DiskState { ops_left: dies_at, cut, ..image.clone() }));
                let store: Arc<dyn CheckpointStore> = disk.clone();
                let loaded = store.load("p").expect("load");
                let at_load: Option<Vec<_>> = loaded.as_ref().map(|c| c.dump());
                let mut checkpoint = loaded.unwrap_or_default();
                checkpoint.journal.min_limit = 300;
                let mut life = Life {
                    flusher: Flusher::new(store.clone(), "p", DEFAULT_INTERVAL),
                    disk,
                    checkpoint,
                    now: std::time::Instant::now(),
                    view: &mut view,
                    unticked: Default::default(),
                    undurable: Default::default(),
                    resuming: Some(may_leak.clone()),
                };
                // Resume: the world is listed, then the vanished objects deleted.
                let mut alive = true;
                for &(n, v) in &world {
                    let listed = numbered_pod("ADDED", n, v);
                    let admission = life.checkpoint.admit(&listed);
                    // An object the checkpoint has at its current version is not delivered.
                    let unchanged = at_load.as_ref().is_some_and(|dump| {
                        dump.iter().any(|(id, version, _)| *id == format!("uid:uid-{n}") && *version == Some(v.to_string()))
                    });
                    prop_assert_eq!(matches!(admission, Admission::Skip), unchanged);
                    if let Some(e) = admission.into_event(listed) {
                        if !life.handle(&e) {
                            alive = false;
                            break;
                        }
                    }
                }
                if alive {
                    for e in life.checkpoint.finish(|_, _, _| true).deleted {
                        if !life.handle(&e) {
                            alive = false;
                            break;
                        }
                    }
                }
                life.resuming = None;
                if final_life {
                    prop_assert!(alive);
                    break;
                }
                // Then the live history.
                for (op, which, handled) in steps {
                    if !alive {
                        break;
                    }
                    rv += 1;
                    let event = match op {
                        0 => {
                            next += 1;
                            world.push((next, rv));
                            numbered_pod("ADDED", next, rv)
                        }
                        1 if !world.is_empty() => {
                            let i = which % world.len();
                            world[i].1 = rv;
                            numbered_pod("MODIFIED", world[i].0, rv)
                        }
                        2 if !world.is_empty() => {
                            let (n, _) = world.remove(which % world.len());
                            numbered_pod("DELETED", n, rv)
                        }
                        _ => {
                            life.now += std::time::Duration::from_millis(700);
                            alive = life.tick();
                            continue;
                        }
                    };
                    if handled {
                        alive = life.handle(&event);
                    }
                }
                // The process dies (if it has not yet): killed, or the machine loses power.
                prop_assert!(life.unticked.len() <= 1);
                may_leak.extend(life.unticked.iter().cloned());
                if power_cut {
                    may_leak.extend(life.undurable.iter().cloned());
                }
                image = life.disk.after_crash(power_cut, cut / 7);
                // While the controller is down, the world changes.
                for (op, which) in while_down {
                    rv += 1;
                    match op {
                        0 => {
                            next += 1;
                            world.push((next, rv));
                        }
                        1 if !world.is_empty() => {
                            let i = which % world.len();
                            world[i].1 = rv;
                        }
                        _ if !world.is_empty() => {
                            world.remove(which % world.len());
                        }
                        _ => {}
                    }
                }
            }
            let truth: HashMap<String, String> = world.iter().map(|(n, v)| (format!("p{n}"), v.to_string())).collect();
            let leaked: Vec<&String> = view.keys().filter(|name| !truth.contains_key(*name)).collect();
            for name in &leaked {
                prop_assert!(may_leak.contains(*name), "{} vanished without its DELETED", name);
            }
            view.retain(|name, _| truth.contains_key(name));
            prop_assert_eq!(&view, &truth);
        }
    }
}
