//! The objects the watches saw, kept by kind so that they can be read without asking the API
//! server again: the standby's warm cache, replayed when it takes over ([`crate::relay`]), and
//! plugins' `get` and `list` of watched resources ([`crate::capabilities`]).
//!
//! Only the kinds asked for are kept: every kind for a standby, otherwise the kinds plugins may
//! read. A controller whose plugins read nothing keeps no object. A kind answers reads in a
//! namespace once a list covering that namespace is complete; until then, and for whatever the
//! watches do not cover, [`Lookup::Uncovered`] sends the reader to the API server. What is kept
//! is what the plugins were handed, so a read is as fresh as the events (client-go's informers
//! make the same trade): a plugin reading while it handles an event sees at least that event.
//!
//! A plugin also reads its own writes: after a write the watches have not shown yet
//! ([`Reflector::await_write`]), reads of that object, and lists of its kind, go to the API server
//! until its event arrives (or [`WRITE_SHOWN_WITHIN`] has passed). Without that, a plugin that
//! creates an object and, at its next event, reads it back from the watch would find it missing
//! and create it again.

use crate::event::{EventType, WatchEvent};
use crate::source::ListedTarget;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// How long reads of an object written by a plugin bypass the watches when its event does not
/// come (a watch reconnecting, say): then the watch is trusted again.
pub const WRITE_SHOWN_WITHIN: Duration = Duration::from_secs(10);

/// A kind: `(apiVersion, kind)`.
type KindKey = (String, String);
/// An object of a kind: `(namespace or "", name)`, in the API server's list order.
type ObjectKey = (String, String);

/// The kept objects, shared between the relay (which writes) and the readers.
#[derive(Clone, Default)]
pub struct Reflector {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Whether any kind is kept: spares the lock on every event when none is.
    keeps_any: AtomicBool,
    kept: RwLock<Kept>,
}

#[derive(Default)]
struct Kept {
    all_kinds: bool,
    kinds: HashSet<KindKey>,
    /// Shared, so that a reader holds the lock only while it counts references, not while it
    /// copies objects.
    objects: HashMap<KindKey, BTreeMap<ObjectKey, Arc<WatchEvent>>>,
    /// Lists completed for kept kinds: what reads may be answered from.
    listed: Vec<ListedTarget>,
    /// Plugins' writes whose events have not arrived yet.
    awaited: HashMap<(KindKey, ObjectKey), AwaitedWrite>,
}

/// What a plugin's write will look like in the watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The object's resourceVersion in the answer.
    version: Option<String>,
    /// Whether the write was a delete (shown by a `DELETED` as well).
    deletion: bool,
}

impl Written {
    /// A create or an update, answered with the object at `version`.
    pub fn at(version: String) -> Written {
        Written {
            version: Some(version),
            deletion: false,
        }
    }

    /// A delete, answered with the object at `version` (its last state, or one with a
    /// deletionTimestamp while finalizers run) or with a Status (`None`).
    pub fn deletion(version: Option<String>) -> Written {
        Written {
            version,
            deletion: true,
        }
    }

    /// Whether `event` shows the write.
    fn shown_by(&self, event: &WatchEvent) -> bool {
        let meta = event.meta();
        (self.deletion && meta.event_type == EventType::Deleted)
            || (self.version.is_some() && meta.resource_version() == self.version.as_deref())
    }

    /// Whether `current`, the object kept (`None`: none), already shows the write: its event
    /// came before the answer did, or the write changed nothing (and has no event).
    fn shown_in(&self, current: Option<&WatchEvent>) -> bool {
        match current {
            None => self.deletion,
            Some(event) => {
                self.version.is_some() && event.meta().resource_version() == self.version.as_deref()
            }
        }
    }
}

/// A write the watches have not shown yet, and since when.
struct AwaitedWrite {
    written: Written,
    since: Instant,
}

impl AwaitedWrite {
    fn pending(&self, now: Instant) -> bool {
        now.duration_since(self.since) < WRITE_SHOWN_WITHIN
    }
}

/// What the reflector knows of one object.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The watches do not cover it (not kept, or not listed yet): ask the API server.
    Uncovered,
    /// Covered, and not there.
    Absent,
    /// Its latest event.
    Found(Arc<WatchEvent>),
}

impl std::fmt::Debug for Reflector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.read();
        f.debug_struct("Reflector")
            .field("all_kinds", &kept.all_kinds)
            .field("kinds", &kept.kinds)
            .field("listed", &kept.listed)
            .finish_non_exhaustive()
    }
}

impl Reflector {
    /// A reflector that keeps nothing until told which kinds to keep.
    pub fn new() -> Reflector {
        Reflector::default()
    }

    /// Keeps every kind (a standby's warm cache).
    pub fn keep_all_kinds(&self) {
        self.write().all_kinds = true;
        self.shared.keeps_any.store(true, Ordering::Release);
    }

    /// Keeps the objects of `kind` in `api_version` from now on. A kind kept after its list
    /// has begun answers reads only from its next complete list.
    pub fn keep_kind(&self, api_version: &str, kind: &str) {
        self.write()
            .kinds
            .insert((api_version.to_owned(), kind.to_owned()));
        self.shared.keeps_any.store(true, Ordering::Release);
    }

    /// Takes in one event: the object's latest state, or its removal.
    pub fn observe(&self, event: &WatchEvent) {
        if !self.shared.keeps_any.load(Ordering::Acquire) {
            return;
        }
        let meta = event.meta();
        let mut kept = self.write();
        if !kept.keeps(meta.api_version(), meta.kind()) {
            return;
        }
        let kind = (meta.api_version().to_owned(), meta.kind().to_owned());
        let key = (
            meta.namespace().map(str::to_owned).unwrap_or_default(),
            meta.name().to_owned(),
        );
        let lookup = (kind, key);
        let shown = !kept.awaited.is_empty()
            && kept
                .awaited
                .get(&lookup)
                .is_some_and(|awaited| awaited.written.shown_by(event));
        if shown {
            kept.awaited.remove(&lookup);
        }
        let (kind, key) = lookup;
        kept.store(kind, key, event);
    }

    /// A plugin wrote the object `name` (in `namespace`) of `kind`, as `written`: until the
    /// watch shows it, reads of it and lists of its kind are not answered here. Nothing when the
    /// kind is not kept, or when the object kept is already at that version (a write that
    /// changed nothing has no event).
    pub fn await_write(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        written: Written,
    ) {
        if !self.shared.keeps_any.load(Ordering::Acquire) {
            return;
        }
        let mut kept = self.write();
        if !kept.keeps(api_version, kind) {
            return;
        }
        let now = Instant::now();
        kept.awaited.retain(|_, write| write.pending(now));
        let lookup = (
            (api_version.to_owned(), kind.to_owned()),
            (namespace.unwrap_or_default().to_owned(), name.to_owned()),
        );
        let current = kept
            .objects
            .get(&lookup.0)
            .and_then(|objects| objects.get(&lookup.1));
        let shown = written.shown_in(current.map(|event| &**event));
        if !shown {
            kept.awaited.insert(
                lookup,
                AwaitedWrite {
                    written,
                    since: now,
                },
            );
        }
    }

    /// A watch completed a list: its objects answer reads from now on, if its kind is kept.
    pub fn listed(&self, target: &ListedTarget) {
        if !self.shared.keeps_any.load(Ordering::Acquire) {
            return;
        }
        let mut kept = self.write();
        if kept.keeps(&target.api_version, &target.kind) && !kept.listed.contains(target) {
            if !kept.all_kinds {
                let scope = target.namespace.as_deref().unwrap_or("all namespaces");
                tracing::info!(
                    api_version = %target.api_version,
                    kind = %target.kind,
                    "plugins' reads of {} in {scope} are served from the watch",
                    target.kind
                );
            }
            kept.listed.push(target.clone());
        }
    }

    /// Every kept object's latest event.
    pub fn events(&self) -> Vec<Arc<WatchEvent>> {
        let kept = self.read();
        kept.objects
            .values()
            .flat_map(|objects| objects.values().cloned())
            .collect()
    }

    /// One object, if a complete list covers its namespace and no write of it awaits its
    /// event.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Lookup {
        let kept = self.read();
        let kind = (api_version.to_owned(), kind.to_owned());
        if !kept.covers(&kind, namespace) || kept.awaits(&kind, namespace, Some(name)) {
            return Lookup::Uncovered;
        }
        let key = (namespace.unwrap_or_default().to_owned(), name.to_owned());
        kept.objects
            .get(&kind)
            .and_then(|objects| objects.get(&key))
            .map_or(Lookup::Absent, |event| Lookup::Found(event.clone()))
    }

    /// The objects of a kind in `namespace` (`None`: all namespaces, or a cluster-scoped kind),
    /// in the API server's order, if a complete list covers it and no write there awaits its
    /// event; `None` otherwise.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Option<Vec<Arc<WatchEvent>>> {
        let kept = self.read();
        let kind = (api_version.to_owned(), kind.to_owned());
        if !kept.covers(&kind, namespace) || kept.awaits(&kind, namespace, None) {
            return None;
        }
        let Some(objects) = kept.objects.get(&kind) else {
            return Some(Vec::new());
        };
        let events = match namespace {
            None => objects.values().cloned().collect(),
            Some(namespace) => objects
                .range((namespace.to_owned(), String::new())..)
                .take_while(|((ns, _), _)| ns == namespace)
                .map(|(_, event)| event.clone())
                .collect(),
        };
        Some(events)
    }

    /// How many objects are kept.
    pub fn len(&self) -> usize {
        self.read().objects.values().map(BTreeMap::len).sum()
    }

    /// Whether no object is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> RwLockReadGuard<'_, Kept> {
        self.shared
            .kept
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Kept> {
        self.shared
            .kept
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Kept {
    /// Keeps `event` as the latest of its object, or removes the object.
    fn store(&mut self, kind: KindKey, key: ObjectKey, event: &WatchEvent) {
        let meta = event.meta();
        let objects = self.objects.entry(kind).or_default();
        if meta.event_type != EventType::Deleted {
            objects.insert(key, Arc::new(event.clone()));
            return;
        }
        // A DELETED for an object since recreated under the same name (a relist can send the
        // new object's ADDED first) must not remove the new one.
        let same_object = objects
            .get(&key)
            .is_some_and(|kept| meta.uid().is_none() || kept.meta().uid() == meta.uid());
        if same_object {
            objects.remove(&key);
        }
    }

    /// Whether a plugin's write to an object of `kind` in `namespace` (`None`: any), or to
    /// `name` there, awaits its event.
    fn awaits(&self, kind: &KindKey, namespace: Option<&str>, name: Option<&str>) -> bool {
        let now = Instant::now();
        self.awaited.iter().any(|((k, (ns, n)), write)| {
            k == kind
                && namespace.is_none_or(|namespace| namespace == ns)
                && name.is_none_or(|name| name == n)
                && write.pending(now)
        })
    }

    fn keeps(&self, api_version: &str, kind: &str) -> bool {
        self.all_kinds
            || self
                .kinds
                .iter()
                .any(|(v, k)| v == api_version && k == kind)
    }

    /// Whether a complete list of a kept kind covers `namespace` (`None`: every namespace).
    fn covers(&self, (api_version, kind): &KindKey, namespace: Option<&str>) -> bool {
        self.keeps(api_version, kind)
            && self.listed.iter().any(|target| {
                target.api_version == *api_version
                    && target.kind == *kind
                    && (target.namespace.is_none() || target.namespace.as_deref() == namespace)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, namespace: &str, name: &str, uid: &str) -> WatchEvent {
        let line = format!(
            r#"{{"type":"{event_type}","object":{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"{namespace}","uid":"{uid}"}}}}}}"#
        );
        WatchEvent::parse(line.into_bytes()).expect("a valid event")
    }

    /// An event of the ConfigMap `namespace/name` at `version`.
    fn at_version(event_type: &str, namespace: &str, name: &str, version: &str) -> WatchEvent {
        let line = format!(
            r#"{{"type":"{event_type}","object":{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"{namespace}","uid":"u-{name}","resourceVersion":"{version}"}}}}}}"#
        );
        WatchEvent::parse(line.into_bytes()).expect("a valid event")
    }

    /// A plugin wrote the ConfigMap `a1/name` as `written`.
    fn wrote(reflector: &Reflector, name: &str, written: Written) {
        reflector.await_write("v1", "ConfigMap", Some("a1"), name, written);
    }

    /// A reflector keeping ConfigMaps, listed in every namespace.
    fn listed_configmaps() -> Reflector {
        let reflector = Reflector::new();
        reflector.keep_kind("v1", "ConfigMap");
        reflector.listed(&configmaps(None));
        reflector
    }

    fn configmaps(namespace: Option<&str>) -> ListedTarget {
        ListedTarget {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: namespace.map(str::to_owned),
        }
    }

    fn names(events: &[Arc<WatchEvent>]) -> Vec<String> {
        events.iter().map(|e| e.meta().object_ref()).collect()
    }

    #[test]
    fn keeps_nothing_unless_asked() {
        let reflector = Reflector::new();
        reflector.observe(&event("ADDED", "shop", "a", "1"));
        reflector.listed(&configmaps(None));
        assert!(reflector.is_empty());
        assert!(matches!(
            reflector.get("v1", "ConfigMap", Some("shop"), "a"),
            Lookup::Uncovered
        ));
    }

    #[test]
    fn answers_only_once_a_list_covering_the_namespace_is_complete() {
        let reflector = Reflector::new();
        reflector.keep_kind("v1", "ConfigMap");
        reflector.observe(&event("ADDED", "shop", "a", "1"));
        assert!(matches!(
            reflector.get("v1", "ConfigMap", Some("shop"), "a"),
            Lookup::Uncovered
        ));
        reflector.listed(&configmaps(Some("shop")));
        assert!(matches!(
            reflector.get("v1", "ConfigMap", Some("shop"), "a"),
            Lookup::Found(_)
        ));
        assert!(matches!(
            reflector.get("v1", "ConfigMap", Some("shop"), "b"),
            Lookup::Absent
        ));
        // Another namespace, or all of them, is not covered by a list of one.
        assert!(matches!(
            reflector.get("v1", "ConfigMap", Some("payments"), "a"),
            Lookup::Uncovered
        ));
        assert!(reflector.list("v1", "ConfigMap", None).is_none());
        // Nor is another kind or version.
        assert!(reflector
            .list("v1beta1", "ConfigMap", Some("shop"))
            .is_none());
    }

    #[test]
    fn lists_in_the_servers_order_and_forgets_deleted_objects() {
        let reflector = Reflector::new();
        reflector.keep_kind("v1", "ConfigMap");
        for (ns, name, uid) in [("shop", "b", "1"), ("a-ns", "z", "2"), ("shop", "a", "3")] {
            reflector.observe(&event("ADDED", ns, name, uid));
        }
        reflector.listed(&configmaps(None));
        let all = reflector.list("v1", "ConfigMap", None).expect("covered");
        assert_eq!(names(&all), ["a-ns/z", "shop/a", "shop/b"]);
        let shop = reflector
            .list("v1", "ConfigMap", Some("shop"))
            .expect("covered");
        assert_eq!(names(&shop), ["shop/a", "shop/b"]);
        reflector.observe(&event("DELETED", "shop", "a", "3"));
        let shop = reflector
            .list("v1", "ConfigMap", Some("shop"))
            .expect("covered");
        assert_eq!(names(&shop), ["shop/b"]);
        assert!(reflector
            .list("v1", "ConfigMap", Some("empty"))
            .expect("covered")
            .is_empty());
    }

    #[test]
    fn a_late_deleted_does_not_remove_the_object_recreated_under_its_name() {
        let reflector = Reflector::new();
        reflector.keep_kind("v1", "ConfigMap");
        reflector.listed(&configmaps(None));
        reflector.observe(&event("ADDED", "shop", "a", "old"));
        reflector.observe(&event("ADDED", "shop", "a", "new"));
        reflector.observe(&event("DELETED", "shop", "a", "old"));
        match reflector.get("v1", "ConfigMap", Some("shop"), "a") {
            Lookup::Found(event) => assert_eq!(event.meta().uid(), Some("new")),
            other => panic!("the new object is kept: {other:?}"),
        }
    }

    #[test]
    fn a_standby_keeps_every_kind_for_its_replay() {
        let reflector = Reflector::new();
        reflector.keep_all_kinds();
        reflector.observe(&event("ADDED", "shop", "a", "1"));
        reflector.observe(&event("MODIFIED", "shop", "a", "1"));
        reflector.observe(&event("ADDED", "shop", "b", "2"));
        let events = reflector.events();
        assert_eq!(events.len(), 2);
        assert!(events
            .iter()
            .any(|e| e.meta().event_type == EventType::Modified));
    }

    #[test]
    fn a_plugins_write_is_read_from_the_api_server_until_the_watch_shows_it() {
        let reflector = listed_configmaps();
        wrote(&reflector, "copy", Written::at("7".into()));
        let get = || reflector.get("v1", "ConfigMap", Some("a1"), "copy");
        assert!(
            matches!(get(), Lookup::Uncovered),
            "the create is not in the watch yet"
        );
        assert!(reflector.list("v1", "ConfigMap", Some("a1")).is_none());
        assert!(reflector.list("v1", "ConfigMap", None).is_none());
        // Other namespaces and objects are still read from the watch.
        assert!(reflector.list("v1", "ConfigMap", Some("b")).is_some());
        assert!(matches!(
            reflector.get("v1", "ConfigMap", Some("a1"), "other"),
            Lookup::Absent
        ));
        // An earlier version of the object does not show the write; its own version does.
        reflector.observe(&at_version("ADDED", "a1", "copy", "6"));
        assert!(matches!(get(), Lookup::Uncovered));
        reflector.observe(&at_version("MODIFIED", "a1", "copy", "7"));
        assert!(matches!(get(), Lookup::Found(_)));
        assert!(reflector.list("v1", "ConfigMap", None).is_some());
    }

    #[test]
    fn a_write_already_shown_or_that_changed_nothing_awaits_nothing() {
        let reflector = listed_configmaps();
        reflector.observe(&at_version("ADDED", "a1", "copy", "7"));
        // Its event came first, or an apply changed nothing (same version, no event).
        wrote(&reflector, "copy", Written::at("7".into()));
        assert!(matches!(
            reflector.get("v1", "ConfigMap", Some("a1"), "copy"),
            Lookup::Found(_)
        ));
        // A delete whose DELETED came before its answer.
        wrote(&reflector, "gone", Written::deletion(None));
        assert!(matches!(
            reflector.get("v1", "ConfigMap", Some("a1"), "gone"),
            Lookup::Absent
        ));
        // A kind not kept is not tracked at all.
        reflector.await_write("v1", "Secret", Some("a1"), "s", Written::at("1".into()));
        assert!(reflector.read().awaited.is_empty());
    }

    #[test]
    fn a_delete_is_shown_by_its_deleted_or_by_the_version_it_answered() {
        let reflector = listed_configmaps();
        reflector.observe(&at_version("ADDED", "a1", "x", "3"));
        reflector.observe(&at_version("ADDED", "a1", "y", "4"));
        wrote(&reflector, "x", Written::deletion(None));
        wrote(&reflector, "y", Written::deletion(Some("9".into())));
        let get = |name| reflector.get("v1", "ConfigMap", Some("a1"), name);
        assert!(matches!(get("x"), Lookup::Uncovered));
        assert!(matches!(get("y"), Lookup::Uncovered));
        reflector.observe(&at_version("DELETED", "a1", "x", "8"));
        assert!(matches!(get("x"), Lookup::Absent));
        // Finalizers hold y: the delete set its deletionTimestamp at version 9.
        reflector.observe(&at_version("MODIFIED", "a1", "y", "9"));
        assert!(matches!(get("y"), Lookup::Found(_)));
    }

    #[test]
    fn a_write_the_watch_never_shows_stops_being_awaited() {
        let awaited = AwaitedWrite {
            written: Written::at("7".into()),
            since: Instant::now(),
        };
        assert!(awaited.pending(awaited.since + WRITE_SHOWN_WITHIN / 2));
        assert!(!awaited.pending(awaited.since + WRITE_SHOWN_WITHIN));
    }
}
