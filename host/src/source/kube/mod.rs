//! The live source: watches Kubernetes resources and yields the events plugins must receive.
//!
//! - [`watch`] lists and watches one resource in one namespace (or all), with the semantics of
//!   [`Reconciler`](crate::source::reconcile::Reconciler).
//! - [`run`] ties them together (with the client [`crate::cluster`] connects, and the resources
//!   it resolves): one watch per resource and namespace, each retried until its
//!   resource exists (a CRD installed later is picked up without a restart).

pub mod watch;

use crate::cluster::{resource, ClusterSettings, Connection};
use crate::metrics::{Health, Metrics};
use crate::source::reconcile::{DeletedObject, InitialEvents, Reconciler};
use crate::source::SourceEvent;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use watch::WatchTarget;

/// How often a resource name that is not served yet is looked up again, by default.
pub const REDISCOVER_EVERY: Duration = Duration::from_secs(30);

/// Which namespaces to watch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Namespaces {
    /// Every namespace (`*`, or nothing given).
    #[default]
    All,
    /// These namespaces.
    Only(Vec<String>),
}

impl Namespaces {
    /// Parses `*`, `ns` or `a,b,c`.
    pub fn parse(text: &str) -> Namespaces {
        let names: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        if names.is_empty() || names.iter().any(|n| n == "*") {
            Namespaces::All
        } else {
            Namespaces::Only(names)
        }
    }

    fn each(&self) -> Vec<Option<String>> {
        match self {
            Namespaces::All => vec![None],
            Namespaces::Only(names) => names.iter().cloned().map(Some).collect(),
        }
    }
}

/// Everything the live source needs, resolved from flags, env vars and the config file.
#[derive(Debug, Clone)]
pub struct KubeSettings {
    /// Which API server, and how to authenticate to it.
    pub cluster: ClusterSettings,
    /// Resource names, kubectl-style.
    pub resources: Vec<String>,
    /// Namespaces to watch.
    pub namespaces: Namespaces,
    /// Passed to the server as `labelSelector`.
    pub label_selector: Option<String>,
    /// Passed to the server as `fieldSelector`.
    pub field_selector: Option<String>,
    /// Deliver or skip the objects present at start-up.
    pub initial_events: InitialEvents,
    /// What a synthesized DELETED carries.
    pub deleted_object: DeletedObject,
    /// How often a name the server does not serve yet is looked up again.
    pub rediscover_every: Duration,
    /// List with a streaming list (`sendInitialEvents`) where the server supports it.
    pub streaming_lists: bool,
    /// Objects per page of a paginated list.
    pub list_page_size: NonZeroU32,
}

/// Where the watches report their progress: metrics and readiness.
#[derive(Clone, Default)]
pub struct Observer {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// Watches that have completed a list: the next list of one is a relist.
    listed: Arc<Mutex<HashSet<String>>>,
}

impl Observer {
    /// Reports to `metrics` and `health`.
    pub fn new(metrics: Arc<Metrics>, health: Arc<Health>) -> Observer {
        Observer {
            metrics,
            health,
            listed: Arc::default(),
        }
    }

    /// `watch` must complete a list before the controller is ready.
    fn expect(&self, watch: &str) {
        self.health.expect_sync(watch);
    }

    /// `target` completed a list (its first, or a relist).
    fn listed(&self, target: &WatchTarget) {
        let what = target.describe();
        let resource = target.resource.qualified_name();
        let first = self
            .listed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(what.clone());
        if !first {
            self.metrics.relisted(&resource);
        }
        self.metrics.synced(&resource);
        self.health.synced(&what);
    }

    /// `target`'s watch is opened again (it ended, broke, or its list is repeated).
    fn restarted(&self, target: &WatchTarget) {
        self.metrics
            .watch_restarted(&target.resource.qualified_name());
    }
}

/// Watches every configured resource in every configured namespace, sending the events plugins
/// must receive to `events`, until `events` is closed. The controller is not ready until every
/// resource is resolved and each of its watches has completed its first list.
pub async fn run(
    connection: Connection,
    settings: KubeSettings,
    events: mpsc::Sender<SourceEvent>,
    observer: Observer,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for name in settings.resources.clone() {
        observer.expect(&resolving(&name));
        tasks.spawn(watch_resource(
            connection.clone(),
            name,
            settings.clone(),
            events.clone(),
            observer.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

/// What readiness waits for while `name` is not resolved yet.
fn resolving(name: &str) -> String {
    format!("discovery of {name}")
}

/// Resolves `name` (retrying until the server serves it), then watches it in each namespace.
async fn watch_resource(
    connection: Connection,
    name: String,
    settings: KubeSettings,
    events: mpsc::Sender<SourceEvent>,
    observer: Observer,
) {
    let client = connection.client;
    let mut failures = 0u32;
    let resource = loop {
        let delay = match resource::discover(&client).await {
            Ok(served) => match resource::resolve(&name, &served) {
                Ok(resource) => break resource,
                Err(error) => {
                    tracing::error!(
                        resource = %name,
                        server = %connection.url,
                        retry_in_s = settings.rediscover_every.as_secs(),
                        "{error}; looking again later (a CRD installed meanwhile is picked up)"
                    );
                    settings.rediscover_every
                }
            },
            Err(error) => {
                failures = failures.saturating_add(1);
                let delay = watch::RECONNECT.after(failures);
                tracing::warn!(
                    resource = %name,
                    server = %connection.url,
                    retry_in_ms = delay.as_millis() as u64,
                    "{error}; retrying"
                );
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = events.closed() => return,
        }
    };
    tracing::info!(resource = %name, resolved = %resource.qualified_name(), version = %resource.api_version(), "watching");
    let mut watches = tokio::task::JoinSet::new();
    let namespaces = if resource.namespaced {
        settings.namespaces.each()
    } else {
        vec![None]
    };
    let targets: Vec<WatchTarget> = namespaces
        .into_iter()
        .map(|namespace| WatchTarget {
            resource: resource.clone(),
            namespace,
            label_selector: settings.label_selector.clone(),
            field_selector: settings.field_selector.clone(),
            streaming_lists: settings.streaming_lists,
            page_size: settings.list_page_size,
        })
        .collect();
    let announced = targets.iter().map(WatchTarget::listed).collect();
    if events.send(SourceEvent::Watching(announced)).await.is_err() {
        return;
    }
    for target in targets {
        let reconciler = Reconciler::new(settings.initial_events, settings.deleted_object);
        let connection = Connection {
            client: client.clone(),
            url: connection.url.clone(),
        };
        observer.expect(&target.describe());
        watches.spawn(watch::run(
            connection,
            target,
            reconciler,
            events.clone(),
            observer.clone(),
        ));
    }
    observer.health.synced(&resolving(&name));
    while watches.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_parse_like_the_seed() {
        assert_eq!(Namespaces::parse("*"), Namespaces::All);
        assert_eq!(Namespaces::parse(""), Namespaces::All);
        assert_eq!(
            Namespaces::parse("shop, payments"),
            Namespaces::Only(vec!["shop".into(), "payments".into()])
        );
    }
}
