//! The live controller (`run`): the watches, the plugins, leadership and checkpoints wired
//! together, running until a signal.
//!
//! In order: the metrics endpoints, the connection, the checkpoint store, the plugins (loaded
//! once, then hot-reloaded), the elector, then the source feeding the [`Relay`], a task beside
//! the watches. At SIGTERM the watches stop, every plugin finishes its event in flight and saves its
//! checkpoint, and only then is the Lease handed over.

use crate::capabilities::{KubeAccess, Protected};
use crate::checkpoint::{CheckpointError, CheckpointStore, ConfigMapStore, FileStore};
use crate::cluster::{self, ConnectError, Connection};
use crate::config::FileConfig;
use crate::dispatch::Dispatcher;
use crate::election::{ElectionError, Elector, LeaseSettings};
use crate::metrics::{self, Health, Metrics};
use crate::reflector::Reflector;
use crate::relay::{Ended, Leadership, Relay};
use crate::reload::{ReloadHandle, Reloader};
use crate::residency;
use crate::runtime::ModuleCache;
use crate::runtime::{Runtime, RuntimeError, RuntimeOptions};
use crate::source::kube::{KubeSettings, Observer};
use crate::source::reconcile::InitialEvents;
use crate::source::{self, SourceEvent};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Why the controller could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// No resource is configured.
    #[error("nothing to watch: set K8S_RESOURCE, --resource, or `resources` in the config file")]
    NothingToWatch,
    /// The lease settings are inconsistent, or the elector could not start.
    #[error(transparent)]
    Election(#[from] ElectionError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    AsyncRuntime(std::io::Error),
    /// A thread (the reloader) could not start.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// A plugin's workers could not start.
    #[error(transparent)]
    Workers(#[from] crate::worker::PoolError),
    /// The metrics and health endpoints cannot be served.
    #[error("cannot serve metrics on {address} (METRICS_ADDRESS): {cause}")]
    Endpoints {
        /// The address asked for.
        address: String,
        /// Why.
        cause: std::io::Error,
    },
    /// No client for the API server.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The checkpoint store cannot be used.
    #[error("cannot keep checkpoints in {store}: {cause}")]
    State {
        /// Which store.
        store: String,
        /// Why.
        cause: CheckpointError,
    },
    /// The wasm engine could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The relay (the task between the watches and the plugins) panicked.
    #[error("the relay between the watches and the plugins panicked")]
    RelayPanicked,
    /// This replica led and lost its lease: it stopped delivering.
    #[error("lost the lease: stopped delivering; restart to stand by again")]
    LostLease,
}

/// Events queued between the watches and the dispatcher; a full queue holds the watches back.
const EVENT_QUEUE: usize = 1024;

/// Where /metrics, /healthz and /readyz are served unless configured otherwise.
pub const DEFAULT_METRICS_ADDRESS: &str = "0.0.0.0:9090";

/// How `run` runs, besides what it watches.
pub struct ControllerSetup {
    /// Where the plugins come from.
    pub plugins: PluginsSetup,
    /// Where their checkpoints go.
    pub checkpoints: Checkpoints,
    /// The Lease to hold; `None`: no election, this replica delivers.
    pub election: Option<LeaseSettings>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served, or `off`.
    pub metrics_address: String,
    /// The controller's own namespace when it is known (`POD_NAMESPACE`, the service
    /// account's): no plugin request may reach into it.
    pub own_namespace: Option<String>,
}

impl ControllerSetup {
    /// The controller's own objects, which no plugin grant covers.
    fn protected(&self) -> Protected {
        Protected {
            namespace: self.own_namespace.clone(),
            lease: self
                .election
                .as_ref()
                .map(|lease| (lease.namespace.clone(), lease.name.clone())),
            checkpoints: match &self.checkpoints.store {
                StateStore::ConfigMaps { namespace, prefix } => {
                    Some((namespace.clone(), format!("{prefix}-")))
                }
                _ => None,
            },
        }
    }
}

/// Where the plugins' checkpoints are kept, and how often they are written.
pub struct Checkpoints {
    /// The store.
    pub store: StateStore,
    /// How often a checkpoint is made durable while events flow.
    pub interval: Duration,
}

/// Where checkpoints are kept.
pub enum StateStore {
    /// Nowhere: every start delivers every object.
    None,
    /// Files in a directory (`STATE_DIR`).
    Directory(PathBuf),
    /// ConfigMaps `PREFIX-<plugin>` in `namespace` (`STATE_CONFIGMAP_PREFIX`).
    ConfigMaps {
        /// The controller's namespace.
        namespace: String,
        /// The ConfigMaps' name prefix.
        prefix: String,
    },
}

impl StateStore {
    /// Opens the store; `None` without one.
    fn open(
        &self,
        connection: &Connection,
        tokio: &tokio::runtime::Runtime,
        identity: Option<&str>,
    ) -> Result<Option<Arc<dyn CheckpointStore>>, ControllerError> {
        Ok(match self {
            StateStore::None => None,
            StateStore::Directory(dir) => {
                let store = FileStore::open(dir).map_err(|cause| ControllerError::State {
                    store: format!("{} (STATE_DIR)", dir.display()),
                    cause,
                })?;
                tracing::info!(dir = %dir.display(), "plugins resume from their checkpoints");
                Some(Arc::new(store))
            }
            StateStore::ConfigMaps { namespace, prefix } => {
                let client = connection.client.clone();
                let handle = tokio.handle().clone();
                let mut store =
                    ConfigMapStore::new(client, handle, namespace.clone(), prefix.clone())
                        .map_err(|cause| ControllerError::State {
                            store: format!(
                                "ConfigMaps {namespace}/{prefix}-* (STATE_CONFIGMAP_PREFIX)"
                            ),
                            cause,
                        })?;
                if let Some(identity) = identity {
                    store = store.writer(identity);
                }
                tracing::info!(
                    configmaps = %format_args!("{namespace}/{prefix}-<plugin>"),
                    "plugins resume from their checkpoints"
                );
                Some(Arc::new(store))
            }
        })
    }
}

/// Where the plugins come from and how they are kept up to date.
pub struct PluginsSetup {
    /// The plugins directory.
    pub dir: PathBuf,
    /// The config file, reloaded with the plugins.
    pub config_path: Option<PathBuf>,
    /// The compiled-module cache: a directory, `off`, or the default.
    pub module_cache_dir: Option<String>,
    /// Whether changes are picked up while running.
    pub hot_reload: bool,
    /// How often the directory is rescanned besides notifications.
    pub rescan: Duration,
}

/// Runs the live controller until SIGTERM or SIGINT (then `Ok`), or until it loses its lease.
pub fn run(
    settings: &KubeSettings,
    setup: &ControllerSetup,
    config: FileConfig,
) -> Result<(), ControllerError> {
    if settings.resources.is_empty() {
        return Err(ControllerError::NothingToWatch);
    }
    if let Some(lease) = &setup.election {
        lease.validate()?;
    }
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ControllerError::AsyncRuntime)?;
    let endpoints = tokio.block_on(serve_endpoints(&setup.metrics_address, &metrics, &health))?;
    let mut dispatcher = Dispatcher::start(Vec::new(), metrics.clone())?;
    let connection = tokio.block_on(cluster::connect(&settings.cluster))?;
    let identity = setup.election.as_ref().map(|lease| lease.identity.as_str());
    if let Some(store) = setup
        .checkpoints
        .store
        .open(&connection, &tokio, identity)?
    {
        dispatcher.keep_checkpoints(store, setup.checkpoints.interval);
    }
    let reflector = Reflector::new();
    if setup.election.is_some() {
        reflector.keep_all_kinds();
    }
    let mut access = KubeAccess::new(
        connection.client.clone(),
        tokio.handle().clone(),
        setup.protected(),
    );
    if reads_from_watches(settings) {
        access.serve_reads_from(reflector.clone(), &config.readable_resources());
    }
    let _reloading = start_plugins(&setup.plugins, access, config, &dispatcher, &metrics)?;
    health.plugins_loaded();
    residency::release_code_pages_logged("start-up");
    let elector = match &setup.election {
        Some(lease) => Some(start_election(&tokio, &connection, lease, &metrics)?),
        None => None,
    };
    let leadership = match &elector {
        Some((_, leading)) => Leadership::Elected(leading.clone()),
        None => Leadership::Always,
    };
    let relay = Relay::new(
        dispatcher,
        settings.resources.len(),
        reflector,
        settings.initial_events == InitialEvents::Deliver,
    );
    let ended = deliver_until_the_end(&tokio, relay, leadership, |events| {
        let observer = Observer::new(metrics.clone(), health.clone());
        source::kube::run(connection, settings.clone(), events, observer)
    })?;
    drop(endpoints);
    if let Some((elector, _)) = elector {
        if ended != Ended::LostLease {
            hand_over(&tokio, elector);
        }
    }
    tokio.shutdown_timeout(Duration::from_secs(1));
    if ended == Ended::LostLease {
        return Err(ControllerError::LostLease);
    }
    Ok(())
}
/// Whether the watches see every object of their resources, so that plugins' reads may be
/// answered from them.
fn reads_from_watches(settings: &KubeSettings) -> bool {
    settings.label_selector.is_none()
        && settings.field_selector.is_none()
        && settings.initial_events == InitialEvents::Deliver
}

/// Loads the plugins directory into `dispatcher`, with the cluster access and metrics their
/// capabilities use; keeps it in line with the directory and the config file when hot reload
/// is on (dropping the handle stops that).
fn start_plugins(
    setup: &PluginsSetup,
    access: KubeAccess,
    config: FileConfig,
    dispatcher: &Dispatcher,
    metrics: &Arc<Metrics>,
) -> Result<Option<ReloadHandle>, ControllerError> {
    let mut runtime = plugin_runtime(&config, setup.module_cache_dir.as_deref())?;
    runtime.set_kube_access(Some(Arc::new(access)));
    runtime.set_metrics(Some(metrics.clone()));
    let mut reloader = Reloader::new(
        runtime,
        setup.dir.clone(),
        setup.config_path.clone(),
        config,
        dispatcher.plugins(),
        metrics.clone(),
    );
    reloader.reconcile();
    if !setup.hot_reload {
        return Ok(None);
    }
    let handle = reloader
        .spawn(setup.rescan)
        .map_err(ControllerError::Thread)?;
    Ok(Some(handle))
}

/// Runs `source` (given the queue to fill) and the relay, a task beside it, until the source
/// ends, a signal comes (the relay then stops every plugin after its event in flight), or the
/// relay ends by itself (a lost lease). Returns once the workers have finished, with why the
/// relay ended.
fn deliver_until_the_end<F>(
    tokio: &tokio::runtime::Runtime,
    relay: Relay,
    leadership: Leadership,
    source: impl FnOnce(mpsc::Sender<SourceEvent>) -> F,
) -> Result<Ended, ControllerError>
where
    F: std::future::Future<Output = ()>,
{
    let (events, queue) = mpsc::channel::<SourceEvent>(EVENT_QUEUE);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut relaying = tokio.spawn(relay_task(relay, queue, leadership, stopped));
    let joined = tokio.block_on(async {
        tokio::select! {
            () = source(events) => {}
            joined = &mut relaying => return joined,
            signal = shutdown_signal() => {
                tracing::info!("{signal} received: finishing the events in flight, then exiting");
                stop.send_replace(true);
            }
        }
        // The watches are gone (their sender with them): the relay ends, at once when stopping,
        // after the events queued otherwise.
        relaying.await
    });
    let (relay, ended) = joined.map_err(|_| ControllerError::RelayPanicked)?;
    // Each plugin ends after its event in flight (or its queue), its checkpoint saved.
    relay.finish(ended);
    Ok(ended)
}

/// The relay as a task: relays until it ends, then hands itself back to be finished off the
/// runtime.
async fn relay_task(
    mut relay: Relay,
    mut queue: mpsc::Receiver<SourceEvent>,
    mut leadership: Leadership,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> (Relay, Ended) {
    let ended = relay.run(&mut queue, &mut leadership, &mut stopped).await;
    (relay, ended)
}

/// Releases the lease (once every checkpoint is saved), so that a standby takes over at once.
fn hand_over(tokio: &tokio::runtime::Runtime, elector: Elector) {
    if let Err(error) = tokio.block_on(elector.release()) {
        tracing::warn!("cannot hand the lease over: {error}; a standby takes over when it expires");
    }
}

/// Starts the elector; returns it and a channel saying whether this replica leads (also
/// exported as `event_controller_leader`).
fn start_election(
    tokio: &tokio::runtime::Runtime,
    connection: &Connection,
    lease: &LeaseSettings,
    metrics: &Arc<Metrics>,
) -> Result<(Elector, tokio::sync::watch::Receiver<bool>), ControllerError> {
    let _entered = tokio.enter();
    tracing::info!(
        lease = %format_args!("{}/{}", lease.namespace, lease.name),
        identity = %lease.identity,
        "leader election: standing by until this replica holds the lease"
    );
    let elector = Elector::start(connection.client.clone(), lease.clone())?;
    let mut roles = elector.role();
    let (leading_tx, leading) = tokio::sync::watch::channel(false);
    metrics.set_leader(false);
    let metrics = metrics.clone();
    tokio.spawn(async move {
        loop {
            let leader = roles.borrow_and_update().is_leader();
            metrics.set_leader(leader);
            leading_tx.send_replace(leader);
            if roles.changed().await.is_err() {
                metrics.set_leader(false);
                leading_tx.send_replace(false);
                break;
            }
        }
    });
    Ok((elector, leading))
}

/// The engine and linker, metering fuel if some plugin has a budget, with the module cache
/// (`cache_dir`: a directory, `off`, or the default when writable).
pub fn plugin_runtime(
    config: &FileConfig,
    cache_dir: Option<&str>,
) -> Result<Runtime, RuntimeError> {
    let mut runtime = Runtime::with_options(RuntimeOptions {
        fuel: config.meters_fuel(),
        ..RuntimeOptions::default()
    })?;
    let cache_dir = cache_dir.or(config.module_cache_dir.as_deref());
    let dir = match cache_dir {
        Some(off) if off.eq_ignore_ascii_case("off") => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => ModuleCache::default_dir(),
    };
    let cache = dir.and_then(|dir| match ModuleCache::open(&dir, runtime.engine()) {
        Ok(cache) => {
            let pruned = cache.prune(CACHE_MAX_AGE);
            tracing::debug!(dir = %dir.display(), pruned, "compiled-module cache");
            Some(cache)
        }
        Err(error) if cache_dir.is_some() => {
            tracing::warn!("{error}; plugins are compiled every time");
            None
        }
        Err(error) => {
            tracing::debug!("no compiled-module cache: {error}");
            None
        }
    });
    runtime.set_module_cache(cache);
    Ok(runtime)
}

/// Cache entries unused for this long are removed.
const CACHE_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Binds `address` (unless `off`) and serves the metrics and health endpoints there until the
/// returned task is dropped.
async fn serve_endpoints(
    address: &str,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
) -> Result<Option<AbortOnDrop>, ControllerError> {
    if address.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let endpoints_error = |cause| ControllerError::Endpoints {
        address: address.to_owned(),
        cause,
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(endpoints_error)?;
    let bound = listener.local_addr().map_err(endpoints_error)?;
    tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
    let task = tokio::spawn(metrics::serve(listener, metrics.clone(), health.clone()));
    Ok(Some(AbortOnDrop(task)))
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits for SIGTERM or SIGINT and names the one that came.
pub(crate) async fn shutdown_signal() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!("cannot listen for SIGTERM: {error}");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}
