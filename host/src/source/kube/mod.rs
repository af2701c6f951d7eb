//! The live source: watches Kubernetes resources and yields the events plugins must receive.
//!
//! - [`connect`] builds a client: an explicit endpoint (the seed's `K8S_API_ENDPOINT`,
//!   `K8S_TOKEN`, `K8S_CA`) or, without one, what kube-rs infers (`KUBECONFIG`,
//!   `~/.kube/config`, then the in-cluster service account). Token and CA files are re-read
//!   when they rotate; TLS is always verified.
//! - [`resource`] resolves kubectl-style names through API discovery.
//! - [`watch`] lists and watches one resource in one namespace (or all), with the semantics of
//!   [`Reconciler`](crate::source::reconcile::Reconciler).
//! - [`run`] ties them together: one watch per resource and namespace, each retried until its
//!   resource exists (a CRD installed later is picked up without a restart).

pub mod resource;
pub mod watch;

use crate::metrics::{Health, Metrics};
use crate::source::reconcile::{DeletedObject, InitialEvents, Reconciler};
use crate::source::SourceEvent;
use secrecy::SecretString;
use std::collections::HashSet;
use std::path::PathBuf;
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
    /// `host:port` or a URL; `None` to infer from kubeconfig or the service account.
    pub api_endpoint: Option<String>,
    /// A bearer token.
    pub token: Option<String>,
    /// A file holding the bearer token, re-read when it changes.
    pub token_file: Option<PathBuf>,
    /// The CA bundle (PEM) to verify the server with.
    pub ca_file: Option<PathBuf>,
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
}

/// The client could not be configured (not: the server is unreachable, which is retried).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint is not a URL or `host:port`.
    #[error("invalid API endpoint {endpoint:?}: {message}")]
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it is invalid.
        message: String,
    },
    /// Neither an endpoint nor a kubeconfig nor a service account was found.
    #[error("no Kubernetes connection configured (set K8S_API_ENDPOINT, KUBECONFIG or run in a pod): {0}")]
    Infer(String),
    /// kube-rs rejected the configuration (e.g. an unreadable CA file).
    #[error("cannot build the Kubernetes client: {0}")]
    Client(String),
}

/// `host:port` → `https://host:port`; URLs are kept.
fn endpoint_uri(endpoint: &str) -> Result<http::Uri, ConnectError> {
    let url = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    };
    url.parse()
        .map_err(|e: http::uri::InvalidUri| ConnectError::Endpoint {
            endpoint: endpoint.to_owned(),
            message: e.to_string(),
        })
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

/// A client and the server it talks to (for log lines).
#[derive(Clone)]
pub struct Connection {
    /// The client.
    pub client: kube::Client,
    /// The API server's URL.
    pub url: String,
}

/// Builds the client from the settings (see the module docs for the order of sources).
pub async fn connect(settings: &KubeSettings) -> Result<Connection, ConnectError> {
    let mut config = match &settings.api_endpoint {
        Some(endpoint) => kube::Config::new(endpoint_uri(endpoint)?),
        None => kube::Config::infer()
            .await
            .map_err(|e| ConnectError::Infer(e.to_string()))?,
    };
    if let Some(ca_file) = &settings.ca_file {
        config.root_cert_file = Some(ca_file.clone());
    }
    if let Some(token) = &settings.token {
        config.auth_info.token = Some(SecretString::from(token.clone()));
    }
    if let Some(token_file) = &settings.token_file {
        config.auth_info.token_file = Some(token_file.display().to_string());
    }
    let url = config.cluster_url.to_string();
    let client =
        kube::Client::try_from(config).map_err(|e| ConnectError::Client(format!("{e:#}")))?;
    tracing::info!(server = %url, "connecting to the Kubernetes API");
    Ok(Connection { client, url })
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
    let mut backoff = watch::Backoff::default();
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
                let delay = backoff.next_delay();
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

/// `error` and all its causes, `: `-separated, each said once: kube's own `Display` stops at
/// "client error (Connect)", and the reason (a refused certificate, a refused connection) is
/// further down the chain.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let message = error.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = error.source();
    }
    text
}

/// The `message` of a `Status` body, or the body itself.
pub(crate) fn status_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Status {
        message: Option<String>,
    }
    match serde_json::from_slice::<Status>(body) {
        Ok(Status {
            message: Some(message),
        }) => message,
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    }
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

    #[test]
    fn error_chains_name_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Outer(#[source] std::io::Error);
        let io = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        assert_eq!(
            error_chain(&Outer(io)),
            "client error (Connect): invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn endpoints_may_omit_the_scheme() {
        assert_eq!(
            endpoint_uri("master.example.com:8443")
                .expect("valid")
                .to_string(),
            "https://master.example.com:8443/"
        );
        assert_eq!(
            endpoint_uri("http://127.0.0.1:8080")
                .expect("valid")
                .to_string(),
            "http://127.0.0.1:8080/"
        );
        assert!(endpoint_uri("not a url").is_err());
    }
}
