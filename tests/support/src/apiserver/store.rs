//! The world the server serves: objects as their raw JSON bytes, kept like etcd keeps them (every
//! revision under one global counter, compacted below a floor), the bounded history of watch
//! events (the watch cache), and the open watches that each event is broadcast to.

use super::json::Members;
use super::resources::ResourceDef;
use bytes::Bytes;
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// One stored object version: its bytes and what the server needs to read from them.
#[derive(Debug)]
pub struct Obj {
    /// The object's JSON exactly as given (with `kind` and `apiVersion`).
    pub raw: Bytes,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub labels: BTreeMap<String, String>,
    /// The object as a list item, computed when first listed.
    item: OnceLock<Bytes>,
}

#[derive(Deserialize)]
struct Head {
    metadata: Meta,
}

#[derive(Deserialize)]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

impl Obj {
    /// Reads the identity of `raw`, an object of `def`.
    pub fn parse(def: &ResourceDef, raw: Bytes) -> Result<Obj, String> {
        let head: Head =
            serde_json::from_slice(&raw).map_err(|e| format!("not a {} object: {e}", def.kind))?;
        let meta = head.metadata;
        let name = meta
            .name
            .filter(|n| !n.is_empty())
            .ok_or("no metadata.name")?;
        let namespace = meta.namespace.unwrap_or_default();
        if def.namespaced == namespace.is_empty() {
            return Err(format!(
                "{} is {}namespaced but {name:?} has namespace {namespace:?}",
                def.plural,
                if def.namespaced { "" } else { "not " }
            ));
        }
        Ok(Obj {
            raw,
            namespace,
            name,
            uid: meta.uid.unwrap_or_default(),
            resource_version: meta.resource_version.unwrap_or_default(),
            labels: meta.labels.unwrap_or_default(),
            item: OnceLock::new(),
        })
    }

    /// The storage key within the resource: `namespace/name`, or `name` when cluster-scoped.
    pub fn key(&self) -> String {
        key(&self.namespace, &self.name)
    }

    /// The object as a list item. Like the real server, items of built-in types have no `kind`
    /// and `apiVersion`; CRD items (unstructured) keep them. Everything else is the stored bytes.
    pub fn list_item(&self, def: &ResourceDef) -> &Bytes {
        self.item.get_or_init(|| {
            if def.crd {
                return self.raw.clone();
            }
            let prefix = format!(
                r#"{{"kind":"{}","apiVersion":"{}","#,
                def.kind,
                def.api_version()
            );
            if self.raw.starts_with(prefix.as_bytes()) {
                let mut item = Vec::with_capacity(self.raw.len());
                item.push(b'{');
                item.extend_from_slice(&self.raw[prefix.len()..]);
                return Bytes::from(item);
            }
            match std::str::from_utf8(&self.raw).map(Members::parse) {
                Ok(Ok(mut members)) => {
                    members.remove("kind");
                    members.remove("apiVersion");
                    Bytes::from(members.render())
                }
                _ => self.raw.clone(),
            }
        })
    }
}

pub fn key(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn parse(text: &str) -> Option<EventType> {
        match text {
            "ADDED" => Some(EventType::Added),
            "MODIFIED" => Some(EventType::Modified),
            "DELETED" => Some(EventType::Deleted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of the world, as broadcast to watches.
#[derive(Debug)]
pub struct Event {
    /// The global revision after this change (the object's resourceVersion when lines are
    /// applied in order).
    pub seq: u64,
    pub def: &'static ResourceDef,
    pub kind: EventType,
    pub obj: Arc<Obj>,
    /// The object's state before this change, for selectors that it enters or leaves.
    pub prev: Option<Arc<Obj>>,
    /// The watch line, `\n` included, byte for byte.
    pub line: Bytes,
}

/// `{"type":TYPE,"object":RAW}\n`, the way the real server frames a watch event.
pub fn event_line(kind: &str, raw: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(raw.len() + 32);
    line.extend_from_slice(br#"{"type":""#);
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(br#"","object":"#);
    line.extend_from_slice(raw);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

#[derive(Debug)]
struct Revision {
    seq: u64,
    /// `None`: deleted at `seq`.
    obj: Option<Arc<Obj>>,
}

/// The store, the history and the open watches.
pub struct World {
    /// The global revision counter: the latest `seq`.
    rv: u64,
    /// Everything at or below this revision is compacted: no history, no old revisions.
    floor: u64,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    objects: BTreeMap<&'static str, BTreeMap<String, Vec<Revision>>>,
    watchers: Vec<mpsc::UnboundedSender<Arc<Event>>>,
}

impl World {
    pub fn new(history_limit: usize) -> World {
        World {
            rv: 0,
            floor: 0,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            objects: BTreeMap::new(),
            watchers: Vec::new(),
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The current state of one object.
    pub fn current(&self, def: &ResourceDef, key: &str) -> Option<&Arc<Obj>> {
        self.objects.get(def.plural)?.get(key)?.last()?.obj.as_ref()
    }

    /// Records a change and broadcasts it; `line` is what watches receive for it.
    pub fn commit(
        &mut self,
        def: &'static ResourceDef,
        kind: EventType,
        obj: Obj,
        line: Bytes,
    ) -> Arc<Event> {
        let rv = obj.resource_version.parse::<u64>().unwrap_or(0);
        self.rv = self.rv.max(rv);
        let key = obj.key();
        let obj = Arc::new(obj);
        let prev = self.current(def, &key).cloned();
        let stored = (kind != EventType::Deleted).then(|| obj.clone());
        let floor = self.floor;
        let revisions = self
            .objects
            .entry(def.plural)
            .or_default()
            .entry(key)
            .or_default();
        revisions.push(Revision {
            seq: self.rv,
            obj: stored,
        });
        prune(revisions, floor);
        let event = Arc::new(Event {
            seq: self.rv,
            def,
            kind,
            obj,
            prev,
            line,
        });
        self.record(event.clone());
        event
    }

    fn record(&mut self, event: Arc<Event>) {
        self.watchers.retain(|tx| tx.send(event.clone()).is_ok());
        self.history.push_back(event);
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.floor = self.floor.max(old.seq);
            }
        }
    }

    /// History events after `rv`, or `Err(floor)` when `rv` is older than the history.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<Event>>, u64> {
        if rv < self.floor {
            return Err(self.floor);
        }
        Ok(self
            .history
            .iter()
            .filter(|e| e.seq > rv)
            .cloned()
            .collect())
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&mut self) -> mpsc::UnboundedReceiver<Arc<Event>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.watchers.push(tx);
        rx
    }

    /// The objects of `def` as they were at revision `at`, in key order, from key `start` on.
    pub fn objects_at<'a>(
        &'a self,
        def: &ResourceDef,
        at: u64,
        start: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Arc<Obj>)> + 'a {
        self.objects
            .get(def.plural)
            .into_iter()
            .flat_map(move |keys| keys.range::<str, _>((Bound::Included(start), Bound::Unbounded)))
            .filter_map(move |(key, revisions)| {
                let revision = revisions.iter().rev().find(|r| r.seq <= at)?;
                Some((key, revision.obj.as_ref()?))
            })
    }

    /// Forgets the history and every old revision: etcd's compaction at the current revision.
    pub fn compact(&mut self) {
        self.floor = self.rv;
        self.history.clear();
        let floor = self.floor;
        for keys in self.objects.values_mut() {
            for revisions in keys.values_mut() {
                prune(revisions, floor);
            }
            keys.retain(|_, revisions| !revisions.is_empty());
        }
    }
}

/// Drops revisions hidden by the floor: of those at or below it only the last is still visible,
/// and not even that one if it is a deletion.
fn prune(revisions: &mut Vec<Revision>, floor: u64) {
    let visible_from = revisions.iter().rposition(|r| r.seq <= floor).unwrap_or(0);
    revisions.drain(..visible_from);
    if revisions
        .first()
        .is_some_and(|r| r.seq <= floor && r.obj.is_none())
    {
        revisions.remove(0);
    }
}
