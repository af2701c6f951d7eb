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
//! Per object it keeps the uid, the `resourceVersion` and the object to put in a synthesized
//! `DELETED`: by default a compact copy of its identity, not the whole object.

use crate::event::{event_bytes, EventError, EventType, WatchEvent};
use bytes::Bytes;
use event_controller_guest::head::{EventHead, Fields};
use std::collections::{HashMap, HashSet};

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
    /// `labels` of the last state seen: a few hundred bytes per object.
    #[default]
    Identity,
    /// The whole last state seen: memory grows with the size of the objects.
    LastState,
}

/// What is remembered of one object plugins have seen (or, with [`InitialEvents::Skip`], would
/// have seen).
struct Known {
    resource_version: Box<str>,
    /// `namespace/name`, to order synthesized deletions.
    object_ref: Box<str>,
    /// The `object` of a synthesized `DELETED`.
    deleted_object: Bytes,
}

/// Turns lists and watch events into the events plugins receive.
pub struct Reconciler {
    known: HashMap<Box<str>, Known>,
    /// The keys listed so far during a relist; `None` while watching.
    relisting: Option<HashSet<Box<str>>>,
    synced_once: bool,
    initial_events: InitialEvents,
    deleted_object: DeletedObject,
}

/// The key of an object: its uid, or `namespace/name` for objects without one.
fn key_of(event: &WatchEvent) -> Box<str> {
    let meta = event.meta();
    match &meta.uid {
        Some(uid) => uid.as_str().into(),
        None => meta.object_ref().into(),
    }
}

fn resource_version_of(event: &WatchEvent) -> &str {
    event.meta().resource_version.as_deref().unwrap_or("")
}

impl Reconciler {
    /// A reconciler that has seen nothing yet.
    pub fn new(initial_events: InitialEvents, deleted_object: DeletedObject) -> Reconciler {
        Reconciler {
            known: HashMap::new(),
            relisting: None,
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
        self.relisting = Some(HashSet::new());
    }

    /// One object of the current list, as an event of any type (a streaming list's `ADDED`, or a
    /// list item made into an event). Returns what plugins must receive, if anything.
    pub fn listed(&mut self, event: &WatchEvent) -> Result<Option<WatchEvent>, EventError> {
        let key = key_of(event);
        if let Some(seen) = &mut self.relisting {
            seen.insert(key.clone());
        }
        let delivered = match self.known.get(&key) {
            Some(known) if *known.resource_version == *resource_version_of(event) => None,
            Some(_) => Some(EventType::Modified),
            None if !self.synced_once && self.initial_events == InitialEvents::Skip => None,
            None => Some(EventType::Added),
        };
        self.remember(key, event)?;
        delivered.map(|t| event.with_type(t)).transpose()
    }

    /// The list is complete: every remembered object that was not listed has been deleted
    /// meanwhile. Returns their synthesized `DELETED` events, ordered by namespace and name.
    pub fn finish_list(&mut self) -> Result<Vec<WatchEvent>, EventError> {
        let listed = self.relisting.take().unwrap_or_default();
        self.synced_once = true;
        let mut gone: Vec<Known> = self
            .known
            .extract_if(|key, _| !listed.contains(key))
            .map(|(_, known)| known)
            .collect();
        gone.sort_by(|a, b| a.object_ref.cmp(&b.object_ref));
        gone.into_iter()
            .map(|known| WatchEvent::parse(event_bytes(EventType::Deleted, &known.deleted_object)))
            .collect()
    }

    /// One event of the watch that follows a list. Returns what plugins must receive, if
    /// anything. BOOKMARK and ERROR events are the source's business and return nothing.
    pub fn watched(&mut self, event: &WatchEvent) -> Result<Option<WatchEvent>, EventError> {
        let key = key_of(event);
        match event.meta().event_type {
            EventType::Added | EventType::Modified => {
                let delivered = match self.known.get(&key) {
                    Some(known) if *known.resource_version == *resource_version_of(event) => None,
                    Some(_) => Some(EventType::Modified),
                    None => Some(EventType::Added),
                };
                if delivered.is_some() {
                    self.remember(key, event)?;
                }
                delivered.map(|t| event.with_type(t)).transpose()
            }
            EventType::Deleted => Ok(self.known.remove(&key).map(|_| event.clone())),
            EventType::Bookmark | EventType::Error => Ok(None),
        }
    }

    fn remember(&mut self, key: Box<str>, event: &WatchEvent) -> Result<(), EventError> {
        let deleted_object = match self.deleted_object {
            DeletedObject::Identity => identity_object(event)?,
            DeletedObject::LastState => event.object_bytes()?,
        };
        self.known.insert(
            key,
            Known {
                resource_version: resource_version_of(event).into(),
                object_ref: event.meta().object_ref().into(),
                deleted_object,
            },
        );
        Ok(())
    }
}

/// The compact object of a synthesized `DELETED`: kind, apiVersion and the metadata identity
/// and labels, read in one pass over the event's head and written straight out as JSON.
pub(crate) fn identity_object(event: &WatchEvent) -> Result<Bytes, EventError> {
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
                    m.name.clone(),
                    m.resource_version.clone().unwrap_or_default(),
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
                                Deleted => { view.remove(&m.name); }
                                _ => { view.insert(m.name.clone(), m.resource_version.clone().unwrap_or_default()); }
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
                let v: u64 = m.resource_version.as_deref().unwrap_or("0").parse().expect("number");
                per_object.entry(m.name.clone()).or_default().push((m.event_type, v));
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
