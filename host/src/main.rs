//! The `event-controller` binary: a thin command line over the library.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use event_controller::cluster::ClusterSettings;
use event_controller::config::{FileConfig, LeaderElectionSection, OneOrMany, DEFAULT_PLUGINS_DIR};
use event_controller::controller::{
    self, Checkpoints, ControllerSetup, PluginsSetup, StateStore, DEFAULT_METRICS_ADDRESS,
};
use event_controller::election::LeaseSettings;
use event_controller::logging::{self, LogFormat, LogSettings};
use event_controller::reload::DEFAULT_RESCAN;
use event_controller::source::kube::watch::DEFAULT_PAGE_SIZE;
use event_controller::source::kube::{KubeSettings, Namespaces, REDISCOVER_EVERY};
use event_controller::source::reconcile::InitialEvents;
use event_controller::{checkpoint, commands};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

#[derive(Parser)]
#[command(name = "event-controller", version, about, long_about = None)]
struct Cli {
    /// TOML config file (see conf/config.toml).
    #[arg(long, env = "CONFIG_FILE", global = true)]
    config: Option<PathBuf>,
    /// Directory of `*.wasm` plugins [default: /etc/event-controller/plugins].
    #[arg(long, env = "PLUGINS_DIR", global = true)]
    plugins_dir: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true)]
    log_format: Option<LogFormat>,
    /// Log level (trace, debug, info, warn/warning, error) or RUST_LOG-style directives
    /// [default: RUST_LOG, else info].
    #[arg(long, env = "LOG_LEVEL", global = true)]
    log_level: Option<String>,
    /// Write the log to this file instead of stderr.
    #[arg(long, env = "LOG_FILE", global = true)]
    log_file: Option<PathBuf>,
    /// Address of /metrics, /plugins, /healthz and /readyz for `run` (and the one `status` asks),
    /// or `off` [default: 0.0.0.0:9090].
    #[arg(long, env = "METRICS_ADDRESS", global = true)]
    metrics_address: Option<String>,
    /// Directory of compiled plugins, or `off` [default: $XDG_CACHE_HOME or ~/.cache
    /// /event-controller/modules when writable].
    #[arg(long, env = "MODULE_CACHE_DIR", global = true)]
    module_cache_dir: Option<String>,
    /// Reload plugins and the config file when they change (`run`) [default: true].
    #[arg(long, env = "HOT_RELOAD", global = true)]
    hot_reload: Option<bool>,
    /// Directory of the plugins' checkpoints (resume without replay) [default: none].
    #[arg(long, env = "STATE_DIR", global = true)]
    state_dir: Option<PathBuf>,
    /// Keep the checkpoints in ConfigMaps `PREFIX-<plugin>` in the controller's namespace
    /// instead of a directory [default: none].
    #[arg(long, env = "STATE_CONFIGMAP_PREFIX", global = true)]
    state_configmap_prefix: Option<String>,
    /// Milliseconds between checkpoint writes [default: 2000].
    #[arg(long, env = "CHECKPOINT_INTERVAL_MS", global = true)]
    checkpoint_interval_ms: Option<u64>,
    #[command(flatten)]
    election: ElectionArgs,
    #[command(flatten)]
    kube: KubeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Connection and watch settings of the live controller (`run`).
#[derive(clap::Args)]
struct KubeArgs {
    /// Kubernetes API server, `host:port` or a URL [default: kubeconfig or in-cluster].
    #[arg(long, env = "K8S_API_ENDPOINT", global = true)]
    api_endpoint: Option<String>,
    /// Bearer token for the API server.
    #[arg(long, env = "K8S_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token; re-read when it rotates.
    #[arg(long, env = "K8S_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
    /// CA bundle (PEM) to verify the API server with.
    #[arg(long = "ca-file", env = "K8S_CA", global = true)]
    ca_file: Option<PathBuf>,
    /// Resources to watch, kubectl-style, comma-separated (pods,deployments.apps,routes).
    #[arg(long = "resource", env = "K8S_RESOURCE", global = true)]
    resources: Option<String>,
    /// Namespaces to watch: one, a comma-separated list, or `*` for all [default: all].
    #[arg(long = "namespace", env = "K8S_NAMESPACE", global = true)]
    namespaces: Option<String>,
    /// Label selector passed to the server.
    #[arg(long, env = "K8S_LABEL_SELECTOR", global = true)]
    label_selector: Option<String>,
    /// Field selector passed to the server.
    #[arg(long, env = "K8S_FIELD_SELECTOR", global = true)]
    field_selector: Option<String>,
    /// Deliver the objects present at start-up as ADDED, or skip them [default: deliver].
    #[arg(long, env = "INITIAL_EVENTS", value_enum, global = true)]
    initial_events: Option<InitialEventsArg>,
    /// Seconds between lookups of a resource the server does not serve yet [default: 30].
    #[arg(long, env = "K8S_REDISCOVER_SECONDS", global = true)]
    rediscover_seconds: Option<u64>,
    /// List with streaming lists (sendInitialEvents) where supported [default: true].
    #[arg(long, env = "K8S_STREAMING_LISTS", global = true)]
    streaming_lists: Option<bool>,
    /// Objects per page of a paginated list [default: 500].
    #[arg(long, env = "K8S_LIST_PAGE_SIZE", global = true)]
    list_page_size: Option<NonZeroU32>,
}

/// Leader election among replicas (`run`); each overrides `[leader_election]`.
#[derive(clap::Args)]
struct ElectionArgs {
    /// Elect one delivering replica on a Lease [default: false].
    #[arg(long, env = "LEADER_ELECTION", global = true)]
    leader_election: Option<bool>,
    /// The Lease's name [default: event-controller].
    #[arg(long, env = "LEASE_NAME", global = true)]
    lease_name: Option<String>,
    /// The Lease's namespace [default: the service account's namespace, else default].
    #[arg(long, env = "POD_NAMESPACE", global = true)]
    lease_namespace: Option<String>,
    /// This replica's name in the Lease [default: hostname-pid].
    #[arg(long, env = "POD_NAME", global = true)]
    identity: Option<String>,
    /// Milliseconds a standby waits after the last renewal it saw [default: 15000].
    #[arg(long, env = "LEASE_DURATION_MS", global = true)]
    lease_duration_ms: Option<u64>,
    /// Milliseconds within which the leader must renew, or stop [default: 10000].
    #[arg(long, env = "RENEW_DEADLINE_MS", global = true)]
    renew_deadline_ms: Option<u64>,
    /// Milliseconds between attempts to acquire or renew [default: 2000].
    #[arg(long, env = "RETRY_PERIOD_MS", global = true)]
    retry_period_ms: Option<u64>,
}

/// Where a pod's service account says it runs.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

impl ElectionArgs {
    /// The Lease to hold, or `None` without election. Flags and env vars over the file.
    fn settings(&self, file: &LeaderElectionSection) -> Option<LeaseSettings> {
        if !self.leader_election.unwrap_or(file.enabled) {
            return None;
        }
        let namespace = self.namespace(file);
        let name = self
            .lease_name
            .clone()
            .or_else(|| file.lease_name.clone())
            .unwrap_or_else(|| "event-controller".to_owned());
        let identity = self
            .identity
            .clone()
            .or_else(|| file.identity.clone())
            .unwrap_or_else(default_identity);
        let ms = |flag: Option<u64>, key: Option<u64>, default: Duration| {
            flag.or(key).map_or(default, Duration::from_millis)
        };
        let mut settings = LeaseSettings::new(namespace, name, identity);
        settings.lease_duration = ms(
            self.lease_duration_ms,
            file.lease_duration_ms,
            settings.lease_duration,
        );
        settings.renew_deadline = ms(
            self.renew_deadline_ms,
            file.renew_deadline_ms,
            settings.renew_deadline,
        );
        settings.retry_period = ms(
            self.retry_period_ms,
            file.retry_period_ms,
            settings.retry_period,
        );
        Some(settings)
    }
}

impl ElectionArgs {
    /// The namespace the controller runs in, when a pod says so: `POD_NAMESPACE`, else its
    /// service account's. Plugins may not reach into it.
    fn known_namespace(&self) -> Option<String> {
        self.lease_namespace.clone().or_else(|| {
            let text = std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok()?;
            Some(text.trim().to_owned()).filter(|ns| !ns.is_empty())
        })
    }

    /// The controller's own namespace, for its Lease and checkpoint ConfigMaps: `POD_NAMESPACE`,
    /// else `[leader_election] namespace`, else the service account's, else `default`.
    fn namespace(&self, file: &LeaderElectionSection) -> String {
        self.lease_namespace
            .clone()
            .or_else(|| file.namespace.clone())
            .or_else(|| {
                let text = std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok()?;
                Some(text.trim().to_owned()).filter(|ns| !ns.is_empty())
            })
            .unwrap_or_else(|| "default".to_owned())
    }
}

/// `hostname-pid`: unique among replicas on one machine and across machines.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "event-controller".to_owned());
    format!("{host}-{}", std::process::id())
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum InitialEventsArg {
    Deliver,
    Skip,
}

impl KubeArgs {
    /// Flags and env vars over the config file.
    fn settings(&self, file: &FileConfig) -> KubeSettings {
        let list = |flag: &Option<String>, key: &Option<OneOrMany>| match flag {
            Some(text) => OneOrMany::One(text.clone()).items(),
            None => key.as_ref().map(OneOrMany::items).unwrap_or_default(),
        };
        KubeSettings {
            cluster: ClusterSettings {
                api_endpoint: self
                    .api_endpoint
                    .clone()
                    .or_else(|| file.api_endpoint.clone()),
                token: self.token.clone(),
                token_file: self.token_file.clone().or_else(|| file.token_file.clone()),
                ca_file: self.ca_file.clone().or_else(|| file.ca_file.clone()),
            },
            resources: list(&self.resources, &file.resources),
            namespaces: Namespaces::parse(&list(&self.namespaces, &file.namespaces).join(",")),
            label_selector: self
                .label_selector
                .clone()
                .or_else(|| file.label_selector.clone()),
            field_selector: self
                .field_selector
                .clone()
                .or_else(|| file.field_selector.clone()),
            initial_events: match self.initial_events {
                Some(InitialEventsArg::Deliver) => InitialEvents::Deliver,
                Some(InitialEventsArg::Skip) => InitialEvents::Skip,
                None => file.initial_events.unwrap_or_default(),
            },
            deleted_object: file.deleted_object.unwrap_or_default(),
            rediscover_every: self
                .rediscover_seconds
                .or(file.rediscover_seconds)
                .map_or(REDISCOVER_EVERY, Duration::from_secs),
            streaming_lists: self
                .streaming_lists
                .or(file.streaming_lists)
                .unwrap_or(true),
            list_page_size: self
                .list_page_size
                .or(file.list_page_size)
                .unwrap_or(DEFAULT_PAGE_SIZE),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Watch the cluster and feed the plugins (the default).
    Run,
    /// Run recorded watch events (one JSON event per line; `-` for stdin) through the plugins.
    Replay {
        /// The file of events, or `-` for stdin.
        file: PathBuf,
    },
    /// Record the configured resources' watch events into FILE (`-`: stdout), in the form
    /// `replay` reads, until --count events, --seconds, or Ctrl-C.
    Record {
        /// The file to write, or `-` for stdout.
        file: PathBuf,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Check a plugin against the ABI and call it with a sample event.
    Check {
        /// The plugin's `.wasm` file.
        plugin: PathBuf,
        /// A file holding one watch event to use instead of the built-in sample Pod.
        #[arg(long)]
        event: Option<PathBuf>,
    },
    /// Show what runs in a live controller (its /plugins endpoint): each plugin's state,
    /// source, sha256, load time, queue, calls, failures, back-off and refused version.
    Status {
        /// The controller's metrics address, HOST:PORT [default: --metrics-address,
        /// METRICS_ADDRESS or `metrics_address` (a wildcard host as loopback), else
        /// 127.0.0.1:9090].
        #[arg(long)]
        address: Option<String>,
        /// Print the JSON of /plugins instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Write a new plugin project in DIR/NAME: the `Kind: X; Name: Y` plugin with the language's
    /// guest helper, unit tests, sample events and a README of three commands (build, check,
    /// replay).
    New {
        /// The plugin's name: lowercase letters, digits, `_` and `-`, starting with a letter.
        name: String,
        /// The plugin's language.
        #[arg(long, value_enum)]
        lang: commands::new::Lang,
        /// The directory to write the project's directory in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Publish a plugin to an OCI registry (CNCF wasm artifact layout), optionally with a
    /// cosign signature; prints its digest reference. Credentials, CA and plain-HTTP hosts come
    /// from the config's `[registry]` section.
    Push {
        /// The plugin's `.wasm` file.
        plugin: PathBuf,
        /// Where to push it: oci://HOST/REPO:TAG.
        target: String,
        /// Sign it with this ECDSA P-256 private key (PEM: PKCS#8 or SEC1, unencrypted).
        #[arg(long)]
        sign_key: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut cli: Cli) -> Result<ExitCode> {
    let file_config = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let log_settings = LogSettings {
        format: cli
            .log_format
            .or(file_config.log_format)
            .unwrap_or_default(),
        filter: cli
            .log_level
            .clone()
            .or_else(|| std::env::var("RUST_LOG").ok())
            .or_else(|| file_config.log_level.clone())
            .unwrap_or_else(|| "info".to_owned()),
        file: cli.log_file.clone(),
    };
    // Kept until the end of `run` so that every line is flushed.
    let _log_guard = logging::init(&log_settings)?;
    let plugins_dir = cli
        .plugins_dir
        .clone()
        .or_else(|| file_config.plugins_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PLUGINS_DIR));
    match cli.command.take().unwrap_or(Command::Run) {
        Command::Run => {
            let plugins = PluginsSetup {
                dir: plugins_dir,
                config_path: cli.config.clone(),
                module_cache_dir: cli
                    .module_cache_dir
                    .clone()
                    .or_else(|| file_config.module_cache_dir.clone()),
                hot_reload: cli.hot_reload.or(file_config.hot_reload).unwrap_or(true),
                rescan: file_config
                    .rescan_seconds
                    .map_or(DEFAULT_RESCAN, Duration::from_secs),
            };
            let metrics_address = cli
                .metrics_address
                .clone()
                .or_else(|| file_config.metrics_address.clone())
                .unwrap_or_else(|| DEFAULT_METRICS_ADDRESS.to_owned());
            let settings = cli.kube.settings(&file_config);
            let election = cli.election.settings(&file_config.leader_election);
            let dir = cli
                .state_dir
                .clone()
                .or_else(|| file_config.state_dir.clone());
            let prefix = cli
                .state_configmap_prefix
                .clone()
                .or_else(|| file_config.state_configmap_prefix.clone());
            let store = match (dir, prefix) {
                (Some(_), Some(_)) => bail!(
                    "checkpoints go to a directory (STATE_DIR) or to ConfigMaps \
                     (STATE_CONFIGMAP_PREFIX), not both"
                ),
                (Some(dir), None) => StateStore::Directory(dir),
                (None, Some(prefix)) => StateStore::ConfigMaps {
                    namespace: cli.election.namespace(&file_config.leader_election),
                    prefix,
                },
                (None, None) => StateStore::None,
            };
            let checkpoints = Checkpoints {
                store,
                interval: cli
                    .checkpoint_interval_ms
                    .or(file_config.checkpoint_interval_ms)
                    .map_or(checkpoint::DEFAULT_INTERVAL, Duration::from_millis),
            };
            let controller = ControllerSetup {
                plugins,
                checkpoints,
                election,
                metrics_address,
                own_namespace: cli.election.known_namespace(),
            };
            controller::run(&settings, &controller, file_config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { file } => {
            let cache = cli.module_cache_dir.as_deref();
            commands::replay::run(&file, &plugins_dir, &file_config, cache)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Record {
            file,
            count,
            seconds,
        } => {
            let settings = cli.kube.settings(&file_config);
            let until = commands::record::RecordUntil {
                count,
                duration: seconds.map(Duration::from_secs),
            };
            let recorded = commands::record::run(&settings, &file, until)?;
            tracing::info!(
                events = recorded.events,
                stopped_by = recorded.stopped_by,
                file = %file.display(),
                "recording finished"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { plugin, event } => {
            let cache = cli.module_cache_dir.as_deref();
            let report = commands::check::run(&plugin, event.as_deref(), &file_config, cache)?;
            print!("{report}");
            match report.call_error() {
                Some(error) => bail!("plugin {}: handle_event failed: {error}", report.name()),
                None => Ok(ExitCode::SUCCESS),
            }
        }
        Command::Status { address, json } => {
            let configured = address
                .or_else(|| cli.metrics_address.clone())
                .or_else(|| file_config.metrics_address.clone());
            let address = commands::status::address_to_ask(configured.as_deref())?;
            let answer = commands::status::fetch(&address)?;
            if json {
                println!("{}", answer.json.trim_end());
            } else {
                let table = commands::status::table(&answer.report, SystemTime::now());
                print!("{table}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::New { name, lang, dir } => {
            let project = commands::new::scaffold(&name, lang, &dir)?;
            print!("{project}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Push {
            plugin,
            target,
            sign_key,
        } => {
            let settings = file_config.registry.settings();
            let pushed = commands::push::run(&plugin, &target, sign_key.as_deref(), &settings)?;
            println!("pushed {}", pushed.pinned);
            if let Some(tag) = pushed.signature_tag {
                println!("signed: {tag}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
