//! Sources of watch events. Each turns something (a file, a cluster) into [`WatchEvent`]s and
//! knows nothing of wasm.

use crate::event::WatchEvent;

pub mod kube;
pub mod reconcile;
pub mod replay;

/// What a live source sends downstream, in order.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    /// An event for the plugins.
    Event(WatchEvent),
    /// A configured resource was resolved: these watches start now, and each will send
    /// [`SourceEvent::Listed`] when its first list is complete. Sent once per resource.
    Watching(Vec<ListedTarget>),
    /// A watch completed a list (its first, or a relist): every event of that list was sent
    /// before this marker.
    Listed(ListedTarget),
}

/// Which objects a completed list covered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListedTarget {
    /// The objects' `apiVersion`, e.g. `apps/v1`.
    pub api_version: String,
    /// The objects' `kind`, e.g. `Deployment`.
    pub kind: String,
    /// The namespace listed, or `None` for all namespaces (and cluster-scoped resources).
    pub namespace: Option<String>,
}

impl ListedTarget {
    /// Whether an object of this `apiVersion`, `kind` and namespace is covered.
    pub fn covers(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> bool {
        self.api_version == api_version
            && self.kind == kind
            && (self.namespace.is_none() || self.namespace.as_deref() == namespace)
    }
}
