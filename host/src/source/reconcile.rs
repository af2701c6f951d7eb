//! The event semantics of a live source, independent of HTTP: what plugins receive after a
//! (re)list and during a watch, so that they see only the truth.
//!
//! A watch is not reliable: it expires (410 Gone), the connection drops, the server restarts.
//! After each break the source lists again, and [`Reconciler`] turns that list into exactly the
//! changes plugins missed:
//!
//! - an object whose `resourceVersion` changed while the watch was down → `MODIFIED`;
//! - an object that is no longer listed → a synthesized `DELETED` (see [`DeletedObject`]);
//! - a new object → `ADDED`;
//! - an unchanged object → nothing, ever.
//!
//! During the watch it drops what plugins have already seen (an event for a `resourceVersion`
//! already delivered, a `DELETED` for an object never delivered or already deleted) and keeps
//! per-object order: a plugin never sees `MODIFIED` before `ADDED`, or anything after `DELETED`.
//!
//! Per object it keeps what a synthesized `DELETED` needs, packed as the checkpoint packs it
//! ([`crate::checkpoint`]): the uid as the map's key (16 bytes when it is a UUID), the
//! `resourceVersion` (a number when it is one), the name, the kind, apiVersion and namespace
//! (interned: shared by all the objects that have them), and, by default, the labels (names
//! interned); the `DELETED` object is written from these when it is synthesized, byte for byte
//! what the event would give. A relist marks the objects it lists in place, with no set of its
//! own. That is 110-130 bytes of heap per object, the map's spare room included (140-160 with
//! four labels), for 20,000 to 100,000 ConfigMaps; keeping the identity as JSON cost 520-550
//! (780-810).

use crate::checkpoint::{canonical_u64, put_bytes, read_packed_str, Identity, Interned, Key};
use crate::event::{event_bytes, EventError, EventType, WatchEvent};
use std::collections::hash_map::Entry;
use std::collections::HashMap;

/// Whether the objects that exist when the controller starts are delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialEvents {
    /// As `ADDED` events, as the Python controller did.
    #[default]
    Deliver,
    /// Not at all: plugins see only changes made after start-up.
    Skip,
}

/// What the `object` of a synthesized `DELETED` holds (for deletions missed during a break).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletedObject {
    /// `kind`, `apiVersion` and `metadata` `name`, `namespace`, `uid`, `resourceVersion` and
    /// `labels` of the last state seen: 110-130 bytes per object, a few more per label.
    #[default]
    Identity,
    /// The whole last state seen: memory grows with the size of the objects.
    LastState,
}

/// [`Known::flags`]: how the `resourceVersion` is kept (bits 0-1).
const VERSION_MASK: u8 = 0b11;
/// No `resourceVersion`.
const VERSION_ABSENT: u8 = 0;
/// [`Known::version`].
const VERSION_NUMBER: u8 = 1;
/// Text in [`Known::packed`].
const VERSION_TEXT: u8 = 2;
/// [`Known::flags`]: listed by the current relist.
const LISTED: u8 = 0b100;

/// What is remembered of one object plugins have seen (or, with [`InitialEvents::Skip`], would
/// have seen), besides its key.
struct Known {
    /// The `resourceVersion`, when `flags` say it is a number.
    version: u64,
    /// The name, then the `resourceVersion` when it is not a number (each a varint length and
    /// UTF-8 bytes), then, with [`DeletedObject::Identity`], the labels packed by
    /// [`Interned::pack_labels`], or with [`DeletedObject::LastState`] the whole object.
    packed: Box<[u8]>,
    /// The kind, apiVersion and namespace, interned.
    scope: u32,
    /// How the `resourceVersion` is kept, and [`LISTED`].
    flags: u8,
}

/// The parts of [`Known::packed`].
struct Unpacked<'a> {
    name: &'a str,
    version_text: Option<&'a str>,
    /// The packed labels, or the whole object.
    rest: &'a [u8],
}

impl Known {
    fn unpack(&self) -> Unpacked<'_> {
        // `packed` is written by `Reconciler::remember` alone: reading it back cannot fail.
        let (name, rest) = read_packed_str(&self.packed).unwrap_or_default();
        let (version_text, rest) = match self.flags & VERSION_MASK {
            VERSION_TEXT => match read_packed_str(rest) {
                Some((text, rest)) => (Some(text), rest),
                None => (Some(""), &[][..]),
            },
            _ => (None, rest),
        };
        Unpacked {
            name,
            version_text,
            rest,
        }
    }

    /// True when `version` is the one remembered; an absent version equals an empty one.
    fn has_version(&self, version: Option<&str>) -> bool {
        let version = version.unwrap_or("");
        match self.flags & VERSION_MASK {
            VERSION_NUMBER => canonical_u64(version) == Some(self.version),
            VERSION_TEXT => self.unpack().version_text == Some(version),
            _ => version.is_empty(),
        }
    }

    fn listed(&self) -> bool {
        self.flags & LISTED != 0
    }
}

/// Turns lists and watch events into the events plugins receive.
pub struct Reconciler {
    known: HashMap<Key, Known, foldhash::fast::RandomState>,
    /// The scopes and label names of `known`.
    shared: Interned,
    /// True during a relist: the objects listed so far are marked [`LISTED`].
    relisting: bool,
    synced_once: bool,
    initial_events: InitialEvents,
    deleted_object: DeletedObject,
}

impl Reconciler {
    /// A reconciler that has seen nothing yet.
    pub fn new(initial_events: InitialEvents, deleted_object: DeletedObject) -> Reconciler {
        Reconciler {
            known: HashMap::default(),
            shared: Interned::default(),
            relisting: false,
            synced_once: false,
            initial_events,
            deleted_object,
        }
    }

    /// How many objects are remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// True when no object is remembered.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// True once a first list has completed.
    pub fn synced(&self) -> bool {
        self.synced_once
    }

    /// A (re)list begins: each current object will come through [`Reconciler::listed`].
    pub fn start_list(&mut self) {
        if self.relisting {
            // The previous list did not complete: what it listed does not count.
            for known in self.known.values_mut() {
                known.flags &= !LISTED;
            }
        }
        self.relisting = true;
    }

    /// One object of the current list, as an event of any type (a streaming list's `ADDED`, or a
    /// list item made into an event). Returns what plugins must receive, if anything.
    pub fn listed(&mut self, event: &WatchEvent) -> Result<Option<WatchEvent>, EventError> {
        let meta = event.meta();
        let key = Key::of(meta);
        let delivered = match self.known.get_mut(&key) {
            Some(known) => {
                if self.relisting {
                    known.flags |= LISTED;
                }
                if known.has_version(meta.resource_version()) {
                    None
                } else {
                    Some(EventType::Modified)
                }
            }
            None if !self.synced_once && self.initial_events == InitialEvents::Skip => None,
            None => Some(EventType::Added),
        };
        self.remember(key, event, self.relisting)?;
        delivered.map(|t| event.with_type(t)).transpose()
    }

    /// The list is complete: every remembered object that was not listed has been deleted
    /// meanwhile. Returns their synthesized `DELETED` events, ordered by namespace and name.
    pub fn finish_list(&mut self) -> Result<Vec<WatchEvent>, EventError> {
        // Without `start_list`, nothing was listed.
        let relisting = std::mem::take(&mut self.relisting);
        self.synced_once = true;
        let gone: Vec<(Key, Known)> = self
            .known
            .extract_if(|_, known| {
                let listed = relisting && known.listed();
                known.flags &= !LISTED;
                !listed
            })
            .collect();
        let mut gone: Vec<(String, Key, Known)> = gone
            .into_iter()
            .map(|(key, known)| {
                let name = known.unpack().name;
                let object_ref = match &self.shared.scope_of(known.scope).namespace {
                    Some(namespace) => format!("{namespace}/{name}"),
                    None => name.to_owned(),
                };
                (object_ref, key, known)
            })
            .collect();
        gone.sort_by(|a, b| a.0.cmp(&b.0));
        let deleted = gone
            .iter()
            .map(|(_, key, known)| {
                WatchEvent::parse(event_bytes(
                    EventType::Deleted,
                    &self.deleted_object(key, known),
                ))
            })
            .collect();
        for (_, _, known) in &gone {
            self.release(known);
        }
        deleted
    }

    /// One event of the watch that follows a list. Returns what plugins must receive, if
    /// anything. BOOKMARK and ERROR events are the source's business and return nothing.
    pub fn watched(&mut self, event: &WatchEvent) -> Result<Option<WatchEvent>, EventError> {
        let meta = event.meta();
        let key = Key::of(meta);
        match meta.event_type {
            EventType::Added | EventType::Modified => {
                let delivered = match self.known.get(&key) {
                    Some(known) if known.has_version(meta.resource_version()) => None,
                    Some(_) => Some(EventType::Modified),
                    None => Some(EventType::Added),
                };
                if delivered.is_some() {
                    self.remember(key, event, false)?;
                }
                delivered.map(|t| event.with_type(t)).transpose()
            }
            EventType::Deleted => Ok(self.known.remove(&key).map(|known| {
                self.release(&known);
                event.clone()
            })),
            EventType::Bookmark | EventType::Error => Ok(None),
        }
    }

    /// Remembers the object of `event` under `key`, marked listed if `listed` or if the entry
    /// it replaces was. Fails, leaving everything as it was, when the labels or the object
    /// cannot be read from the event.
    fn remember(&mut self, key: Key, event: &WatchEvent, listed: bool) -> Result<(), EventError> {
        let meta = event.meta();
        let mut packed = Vec::with_capacity(meta.name().len() + 1);
        put_bytes(&mut packed, meta.name().as_bytes());
        let (version, mut flags) = match meta.resource_version() {
            None => (0, VERSION_ABSENT),
            Some(text) => match canonical_u64(text) {
                Some(number) => (number, VERSION_NUMBER),
                None => {
                    put_bytes(&mut packed, text.as_bytes());
                    (0, VERSION_TEXT)
                }
            },
        };
        match self.deleted_object {
            DeletedObject::Identity => {
                let labels = event.labels()?;
                self.shared.pack_labels(&mut packed, labels);
            }
            DeletedObject::LastState => packed.extend_from_slice(&event.object_bytes()?),
        }
        if listed {
            flags |= LISTED;
        }
        let known = Known {
            version,
            packed: packed.into_boxed_slice(),
            scope: self
                .shared
                .scope(meta.api_version(), meta.kind(), meta.namespace()),
            flags,
        };
        match self.known.entry(key) {
            Entry::Occupied(mut entry) => {
                let old = std::mem::replace(entry.get_mut(), known);
                if old.listed() {
                    entry.get_mut().flags |= LISTED;
                }
                self.release(&old);
            }
            Entry::Vacant(entry) => {
                entry.insert(known);
            }
        }
        Ok(())
    }

    /// Releases the interned values `known` holds.
    fn release(&mut self, known: &Known) {
        let labels = match self.deleted_object {
            DeletedObject::Identity => known.unpack().rest,
            DeletedObject::LastState => &[],
        };
        self.shared.release(known.scope, labels);
    }

    /// The `object` of a synthesized `DELETED` of the object `key`.
    fn deleted_object(&self, key: &Key, known: &Known) -> Vec<u8> {
        let unpacked = known.unpack();
        if self.deleted_object == DeletedObject::LastState {
            return unpacked.rest.to_vec();
        }
        let scope = self.shared.scope_of(known.scope);
        let uid = key.uid();
        let number;
        let resource_version = match known.flags & VERSION_MASK {
            VERSION_NUMBER => {
                number = known.version.to_string();
                Some(number.as_str())
            }
            VERSION_TEXT => unpacked.version_text,
            _ => None,
        };
        let mut out = Vec::with_capacity(160 + unpacked.rest.len());
        Identity {
            kind: &scope.kind,
            api_version: &scope.api_version,
            name: unpacked.name,
            namespace: scope.namespace.as_deref(),
            uid: uid.as_deref(),
            resource_version,
        }
        .write(&mut out, self.shared.labels(unpacked.rest));
        out
    }
}

/// The compact object of a synthesized `DELETED`, written from the event as it is: what
/// [`Reconciler`] (and the checkpoint) must write from what they keep, for tests to compare.
#[cfg(test)]
pub(crate) fn identity_object(event: &WatchEvent) -> Result<bytes::Bytes, EventError> {
    use event_controller_guest::head::{EventHead, Fields};
    let head = EventHead::read_fields(event.raw(), Fields::ALL).map_err(EventError::Malformed)?;
    let mut out = Vec::with_capacity(256);
    let json = |text: &str, out: &mut Vec<u8>| {
        // Writing a `str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    };
    out.extend_from_slice(br#"{"kind":"#);
    json(head.kind.as_deref().unwrap_or_default(), &mut out);
    out.extend_from_slice(br#","apiVersion":"#);
    json(head.api_version.as_deref().unwrap_or_default(), &mut out);
    out.extend_from_slice(br#","metadata":{"name":"#);
    json(head.name.as_deref().unwrap_or_default(), &mut out);
    for (key, value) in [
        ("namespace", &head.namespace),
        ("uid", &head.uid),
        ("resourceVersion", &head.resource_version),
    ] {
        if let Some(value) = value {
            out.extend_from_slice(format!(r#","{key}":"#).as_bytes());
            json(value, &mut out);
        }
    }
    if !head.labels.is_empty() {
        out.extend_from_slice(br#","labels":{"#);
        for (i, (key, value)) in head.labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json(key, &mut out);
            out.push(b':');
            json(value, &mut out);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"}}");
    Ok(out.into())
}

/// A string for a JSON field: often plain, sometimes anything.
#[cfg(test)]
fn json_string() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        "[a-z0-9.-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

/// An event with arbitrary identity fields, each one maybe absent (a UUID uid in either case,
/// numeric and non-canonical resourceVersions among them), for the reconciler's and the
/// checkpoint's tests of the synthesized `DELETED`.
#[cfg(test)]
pub(crate) fn arbitrary_event() -> impl proptest::strategy::Strategy<Value = WatchEvent> {
    use proptest::prelude::*;
    (
        (json_string(), json_string(), json_string()),
        (
            prop::option::of(json_string()),
            prop::option::of(prop_oneof![
                json_string(),
                Just("0b9e6f3c-5a1d-4c2e-9f7a-1d2c3b4a5e6f".to_owned()),
                Just("0B9E6F3C-5A1D-4C2E-9F7A-1D2C3B4A5E6F".to_owned()),
            ]),
            prop::option::of(prop_oneof![
                json_string(),
                any::<u64>().prop_map(|n| n.to_string()),
                Just("007".to_owned()),
            ]),
        ),
        prop::collection::vec((json_string(), json_string()), 0..4),
    )
        .prop_map(|((kind, api_version, name), (namespace, uid, rv), labels)| {
            let mut metadata = serde_json::Map::new();
            metadata.insert("name".into(), name.into());
            for (key, value) in [("namespace", namespace), ("uid", uid), ("resourceVersion", rv)] {
                if let Some(value) = value {
                    metadata.insert(key.into(), value.into());
                }
            }
            if !labels.is_empty() {
                let labels: serde_json::Map<String, serde_json::Value> =
                    labels.into_iter().map(|(k, v)| (k, v.into())).collect();
                metadata.insert("labels".into(), labels.into());
            }
            let event = serde_json::json!({
                "type": "ADDED",
                "object": {"kind": kind, "apiVersion": api_version, "metadata": metadata, "spec": {}},
            });
            WatchEvent::parse(serde_json::to_vec(&event).expect("json")).expect("valid")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pod(event_type: &str, name: &str, uid: &str, rv: u64) -> WatchEvent {
        let line = format!(
            r#"{{"type":"{event_type}","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"ns","uid":"{uid}","resourceVersion":"{rv}","labels":{{"app":"{name}"}}}},"spec":{{"nodeName":"n1"}}}}}}"#
        );
        WatchEvent::parse(line.into_bytes()).expect("valid event")
    }

    /// (type, name, resourceVersion) of each delivered event.
    fn summary(events: &[WatchEvent]) -> Vec<(EventType, String, String)> {
        events
            .iter()
            .map(|e| {
                let m = e.meta();
                (
                    m.event_type,
                    m.name().to_owned(),
                    m.resource_version().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn list(r: &mut Reconciler, objects: &[WatchEvent]) -> Vec<WatchEvent> {
        r.start_list();
        let mut out: Vec<WatchEvent> = objects
            .iter()
            .filter_map(|o| r.listed(o).expect("listed"))
            .collect();
        out.extend(r.finish_list().expect("finished"));
        out
    }

    use EventType::{Added, Deleted, Modified};

    fn s(t: EventType, name: &str, rv: &str) -> (EventType, String, String) {
        (t, name.to_owned(), rv.to_owned())
    }

    #[test]
    fn a_relist_delivers_only_what_changed() {
        let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::Identity);
        let first = list(
            &mut r,
            &[
                pod("ADDED", "a", "ua", 1),
                pod("ADDED", "b", "ub", 2),
                pod("ADDED", "c", "uc", 3),
            ],
        );
        assert_eq!(
            summary(&first),
            [s(Added, "a", "1"), s(Added, "b", "2"), s(Added, "c", "3")]
        );
        // While away: b changed, c was deleted, d was created; a is unchanged.
        let again = list(
            &mut r,
            &[
                pod("ADDED", "a", "ua", 1),
                pod("ADDED", "b", "ub", 7),
                pod("ADDED", "d", "ud", 8),
            ],
        );
        assert_eq!(
            summary(&again),
            [
                s(Modified, "b", "7"),
                s(Added, "d", "8"),
                s(Deleted, "c", "3")
            ]
        );
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn a_synthesized_deletion_carries_the_identity_or_the_last_state() {
        let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::Identity);
        list(&mut r, &[pod("ADDED", "a", "ua", 1)]);
        let gone = list(&mut r, &[]);
        assert_eq!(
            std::str::from_utf8(gone[0].raw()).expect("utf8"),
            r#"{"type":"DELETED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","uid":"ua","resourceVersion":"1","labels":{"app":"a"}}}}"#
        );

        let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::LastState);
        list(&mut r, &[pod("MODIFIED", "a", "ua", 1)]);
        let gone = list(&mut r, &[]);
        let expected = pod("DELETED", "a", "ua", 1);
        assert_eq!(gone[0].raw(), expected.raw());
    }

    #[test]
    fn initial_objects_can_be_skipped_but_are_still_tracked() {
        let mut r = Reconciler::new(InitialEvents::Skip, DeletedObject::Identity);
        assert!(list(&mut r, &[pod("ADDED", "a", "ua", 1)]).is_empty());
        assert!(r.synced());
        let later = list(
            &mut r,
            &[pod("ADDED", "a", "ua", 2), pod("ADDED", "b", "ub", 3)],
        );
        assert_eq!(summary(&later), [s(Modified, "a", "2"), s(Added, "b", "3")]);
        let deleted = r.watched(&pod("DELETED", "a", "ua", 4)).expect("ok");
        assert_eq!(
            summary(&deleted.into_iter().collect::<Vec<_>>()),
            [s(Deleted, "a", "4")]
        );
    }

    #[test]
    fn the_watch_drops_what_plugins_have_seen_and_keeps_order() {
        let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::Identity);
        list(&mut r, &[pod("ADDED", "a", "ua", 1)]);
        let mut out = Vec::new();
        for event in [
            pod("ADDED", "a", "ua", 1),    // replayed after a re-watch: dropped
            pod("MODIFIED", "a", "ua", 1), // same version: dropped
            pod("MODIFIED", "a", "ua", 2),
            pod("ADDED", "a", "ua", 3), // already known: becomes MODIFIED
            pod("MODIFIED", "b", "ub", 4), // never seen: becomes ADDED
            pod("DELETED", "a", "ua", 5),
            pod("DELETED", "a", "ua", 5), // already deleted: dropped
            pod("DELETED", "z", "uz", 6), // never seen: dropped
        ] {
            out.extend(r.watched(&event).expect("ok"));
        }
        assert_eq!(
            summary(&out),
            [
                s(Modified, "a", "2"),
                s(Modified, "a", "3"),
                s(Added, "b", "4"),
                s(Deleted, "a", "5")
            ]
        );
        assert_eq!(
            std::str::from_utf8(out[1].raw()).map(|t| t.starts_with(r#"{"type":"MODIFIED","#)),
            Ok(true)
        );
    }

    #[test]
    fn versions_that_are_not_numbers_are_compared_as_text() {
        let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::Identity);
        let with = |rv: Option<&str>| {
            let rv = rv
                .map(|v| format!(r#","resourceVersion":"{v}""#))
                .unwrap_or_default();
            let line = format!(
                r#"{{"type":"ADDED","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"a","uid":"ua"{rv}}}}}}}"#
            );
            WatchEvent::parse(line.into_bytes()).expect("valid event")
        };
        list(&mut r, &[with(Some("007"))]);
        assert!(list(&mut r, &[with(Some("007"))]).is_empty());
        assert_eq!(
            summary(&list(&mut r, &[with(Some("7"))])),
            [s(Modified, "a", "7")]
        );
        assert!(list(&mut r, &[with(Some("7"))]).is_empty());
        // An absent version is an empty one.
        assert_eq!(
            summary(&list(&mut r, &[with(None)])),
            [s(Modified, "a", "")]
        );
        assert!(list(&mut r, &[with(Some(""))]).is_empty());
        assert_eq!(
            summary(&list(&mut r, &[with(Some("x"))])),
            [s(Modified, "a", "x")]
        );
    }

    #[test]
    fn a_list_that_did_not_complete_marks_nothing() {
        let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::Identity);
        list(
            &mut r,
            &[pod("ADDED", "a", "ua", 1), pod("ADDED", "b", "ub", 2)],
        );
        r.start_list();
        assert!(r.listed(&pod("ADDED", "a", "ua", 1)).expect("ok").is_none());
        // The list broke off; the next one lists only b.
        let again = list(&mut r, &[pod("ADDED", "b", "ub", 2)]);
        assert_eq!(summary(&again), [s(Deleted, "a", "1")]);
        // Without a list, nothing was listed.
        assert_eq!(
            summary(&r.finish_list().expect("ok")),
            [s(Deleted, "b", "2")]
        );
    }

    #[test]
    fn synthesized_deletions_are_ordered_by_namespace_and_name() {
        let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::Identity);
        let in_ns = |ns: Option<&str>, name: &str, uid: &str| {
            let ns = ns
                .map(|n| format!(r#","namespace":"{n}""#))
                .unwrap_or_default();
            let line = format!(
                r#"{{"type":"ADDED","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}"{ns},"uid":"{uid}","resourceVersion":"1"}}}}}}"#
            );
            WatchEvent::parse(line.into_bytes()).expect("valid event")
        };
        list(
            &mut r,
            &[
                in_ns(Some("b"), "a", "u1"),
                in_ns(Some("a"), "z", "u2"),
                in_ns(None, "m", "u3"),
                in_ns(Some("a"), "b", "u4"),
            ],
        );
        let gone = list(&mut r, &[]);
        let refs: Vec<String> = gone.iter().map(|e| e.meta().object_ref()).collect();
        assert_eq!(refs, ["a/b", "a/z", "b/a", "m"]);
    }

    #[test]
    fn interned_values_are_freed_with_their_objects() {
        let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::Identity);
        list(
            &mut r,
            &[pod("ADDED", "a", "ua", 1), pod("ADDED", "b", "ub", 2)],
        );
        assert_eq!(r.shared.in_use(), (1, 1));
        r.watched(&pod("MODIFIED", "a", "ua", 3)).expect("ok");
        assert_eq!(r.shared.in_use(), (1, 1));
        r.watched(&pod("DELETED", "a", "ua", 4)).expect("ok");
        list(&mut r, &[]);
        assert_eq!(r.shared.in_use(), (0, 0));
        assert!(r.is_empty());
    }

    proptest! {
        /// A synthesized DELETED carries, byte for byte, the identity written from the event
        /// itself (or the object as it was), whatever the identity's fields hold.
        #[test]
        fn a_synthesized_deletion_is_the_identity_of_the_last_event(event in arbitrary_event()) {
            let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::Identity);
            list(&mut r, std::slice::from_ref(&event));
            let gone = list(&mut r, &[]);
            let expected = event_bytes(EventType::Deleted, &identity_object(&event).expect("identity"));
            prop_assert_eq!(gone[0].raw(), &expected[..]);
            prop_assert_eq!(r.shared.in_use(), (0, 0));

            let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::LastState);
            list(&mut r, std::slice::from_ref(&event));
            let gone = list(&mut r, &[]);
            let expected = event_bytes(EventType::Deleted, &event.object_bytes().expect("object"));
            prop_assert_eq!(gone[0].raw(), &expected[..]);
        }
    }

    /// A step of a random history: a change in the world, seen by the watch or missed during a
    /// break, or a relist.
    #[derive(Debug, Clone)]
    enum Step {
        Create { seen: bool },
        Modify { which: usize, seen: bool },
        Delete { which: usize, seen: bool },
        Relist,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            any::<bool>().prop_map(|seen| Step::Create { seen }),
            (any::<usize>(), any::<bool>()).prop_map(|(which, seen)| Step::Modify { which, seen }),
            (any::<usize>(), any::<bool>()).prop_map(|(which, seen)| Step::Delete { which, seen }),
            Just(Step::Relist),
        ]
    }

    proptest! {
        /// Whatever the watch misses, after every relist plugins have seen exactly the world,
        /// each object's events read ADDED MODIFIED* DELETED?, and no version is delivered twice.
        #[test]
        fn plugins_converge_to_the_world_without_duplicates(steps in prop::collection::vec(step(), 1..80)) {
            let mut r = Reconciler::new(InitialEvents::Deliver, DeletedObject::Identity);
            let mut world: Vec<(String, u64)> = Vec::new(); // (uid, rv), alive objects
            let (mut rv, mut next_uid) = (0u64, 0u64);
            let mut delivered: Vec<WatchEvent> = list(&mut r, &[]);
            for step in steps {
                match step {
                    Step::Create { seen } => {
                        rv += 1; next_uid += 1;
                        let uid = format!("u{next_uid}");
                        world.push((uid.clone(), rv));
                        if seen { delivered.extend(r.watched(&pod("ADDED", &uid, &uid, rv)).expect("ok")); }
                    }
                    Step::Modify { which, seen } if !world.is_empty() => {
                        rv += 1;
                        let i = which % world.len();
                        world[i].1 = rv;
                        let uid = world[i].0.clone();
                        if seen { delivered.extend(r.watched(&pod("MODIFIED", &uid, &uid, rv)).expect("ok")); }
                    }
                    Step::Delete { which, seen } if !world.is_empty() => {
                        rv += 1;
                        let (uid, _) = world.remove(which % world.len());
                        if seen { delivered.extend(r.watched(&pod("DELETED", &uid, &uid, rv)).expect("ok")); }
                    }
                    Step::Relist => {
                        let objects: Vec<WatchEvent> = world.iter().map(|(uid, v)| pod("ADDED", uid, uid, *v)).collect();
                        delivered.extend(list(&mut r, &objects));
                        // Plugins' view (last delivered version of each live object) is the world.
                        let mut view: HashMap<String, String> = HashMap::new();
                        for e in &delivered {
                            let m = e.meta();
                            match m.event_type {
                                Deleted => { view.remove(m.name()); }
                                _ => { view.insert(m.name().to_owned(), m.resource_version().unwrap_or_default().to_owned()); }
                            }
                        }
                        let truth: HashMap<String, String> = world.iter().map(|(u, v)| (u.clone(), v.to_string())).collect();
                        prop_assert_eq!(view, truth);
                    }
                    _ => {}
                }
            }
            // Per object: ADDED first, DELETED last if at all, versions strictly rising.
            let mut per_object: HashMap<String, Vec<(EventType, u64)>> = HashMap::new();
            for e in &delivered {
                let m = e.meta();
                let v: u64 = m.resource_version().unwrap_or("0").parse().expect("number");
                per_object.entry(m.name().to_owned()).or_default().push((m.event_type, v));
            }
            for (name, events) in per_object {
                prop_assert_eq!(events[0].0, Added, "{} starts with {:?}", name, events);
                for (i, (t, _)) in events.iter().enumerate().skip(1) {
                    prop_assert!(*t != Added, "{} has a second ADDED: {:?}", name, events);
                    prop_assert!(events[i - 1].0 != Deleted, "{} has events after DELETED: {:?}", name, events);
                }
                prop_assert!(events.windows(2).all(|w| w[0].1 < w[1].1 || w[1].0 == Deleted),
                    "{} repeats or reorders versions: {:?}", name, events);
            }
        }
    }
}
