//! The TOML config file. Every key is documented in `conf/config.toml`.
//!
//! Precedence, highest first: command-line flags, environment variables, this file, defaults.
//! Flags and env vars are resolved by the CLI; this module reads the file and knows the defaults.
//! Unknown keys and wrong types are errors that name the file, line and key.

use crate::capabilities::CapabilitiesSection;
use crate::oci::{OciReference, RegistrySettings};
use crate::plugin::PluginSettings;
use crate::sandbox::Limits;
use crate::subscription::{LabelSelector, Subscription, SubscriptionError, SubscriptionSection};
use crate::worker::{Delivery, WorkerOptions, DEFAULT_QUEUE_SIZE, DEFAULT_SPILL_LIMIT_BYTES};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where plugins are looked for when neither flag, env var nor config file says.
pub const DEFAULT_PLUGINS_DIR: &str = "/etc/event-controller/plugins";

/// The config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown or has the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// The contents of the config file.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Directory of `*.wasm` plugins.
    pub plugins_dir: Option<PathBuf>,
    /// Log level (`info`, `WARNING`, ...) or `RUST_LOG`-style directives.
    pub log_level: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<crate::logging::LogFormat>,
    /// Kubernetes API server, `host:port` or a URL (`K8S_API_ENDPOINT`); default: kubeconfig or
    /// the in-cluster service account.
    pub api_endpoint: Option<String>,
    /// File holding the bearer token, re-read when it rotates.
    pub token_file: Option<PathBuf>,
    /// CA bundle (PEM) to verify the API server with (`K8S_CA`).
    pub ca_file: Option<PathBuf>,
    /// Resources to watch, kubectl-style (`K8S_RESOURCE`).
    pub resources: Option<OneOrMany>,
    /// Namespaces to watch: a name, a list, or `*` (`K8S_NAMESPACE`).
    pub namespaces: Option<OneOrMany>,
    /// `labelSelector` passed to the server.
    pub label_selector: Option<String>,
    /// `fieldSelector` passed to the server.
    pub field_selector: Option<String>,
    /// `deliver` (default) or `skip` the objects present at start-up.
    pub initial_events: Option<crate::source::reconcile::InitialEvents>,
    /// `identity` (default) or `last_state`: what a synthesized DELETED carries.
    pub deleted_object: Option<crate::source::reconcile::DeletedObject>,
    /// Seconds between lookups of a resource name the server does not serve yet (default 30).
    pub rediscover_seconds: Option<u64>,
    /// `true` (default): list with streaming lists where the server supports them.
    pub streaming_lists: Option<bool>,
    /// Objects per page of a paginated list (default 500).
    pub list_page_size: Option<std::num::NonZeroU32>,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoints (default `0.0.0.0:9090`;
    /// `off` disables them).
    pub metrics_address: Option<String>,
    /// Directory of compiled plugins (`MODULE_CACHE_DIR`); `off` disables the cache. Default:
    /// the user's cache directory, or none when it is not writable.
    pub module_cache_dir: Option<String>,
    /// `false` disables hot reload of plugins and of this file (default `true`).
    pub hot_reload: Option<bool>,
    /// Seconds between full rescans of the plugins directory, besides file notifications
    /// (default 10).
    pub rescan_seconds: Option<u64>,
    /// Directory of the plugins' checkpoints (`STATE_DIR`); unset: no checkpoints, and every
    /// start delivers every object again.
    pub state_dir: Option<PathBuf>,
    /// Keep the checkpoints in ConfigMaps `PREFIX-<plugin>` in the controller's namespace
    /// (`STATE_CONFIGMAP_PREFIX`), for replicas without a shared volume; not with `state_dir`.
    pub state_configmap_prefix: Option<String>,
    /// Milliseconds between two writes of a plugin's checkpoint while it handles events
    /// (default 2000): what a crash can deliver again.
    pub checkpoint_interval_ms: Option<u64>,
    /// `[leader_election]`: several replicas, one delivering.
    #[serde(default)]
    pub leader_election: LeaderElectionSection,
    /// `[limits]`: every plugin's limits, unless its own section overrides them.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[registry]`: how plugins with an `oci://` source are pulled.
    #[serde(default)]
    pub registry: RegistrySection,
    /// Per-plugin sections, `[plugins.NAME]`, keyed by the plugin's file stem.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginSection>,
}

/// `[registry]`: credentials, trust and the local store for plugins pulled from OCI registries.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySection {
    /// A docker `config.json` (a pull secret's `.dockerconfigjson`) with registry credentials
    /// (default: `$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`).
    pub auth_file: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust for registries.
    pub ca_file: Option<PathBuf>,
    /// Registries (`HOST:PORT`) spoken to over plain HTTP.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Where pulled plugins are kept (default: `oci/` in the compiled-module cache directory,
    /// else `~/.cache/event-controller/oci`).
    pub cache_dir: Option<PathBuf>,
}

impl RegistrySection {
    /// The settings of the registry client.
    pub fn settings(&self) -> RegistrySettings {
        RegistrySettings {
            auth_file: self.auth_file.clone(),
            ca_file: self.ca_file.clone(),
            insecure: self.insecure.clone(),
            cache_dir: self.cache_dir.clone(),
        }
    }
}

/// A value given as one string (`"a,b"`) or a list (`["a", "b"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A string, possibly comma-separated.
    One(String),
    /// A list.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The items, splitting a single string at commas.
    pub fn items(&self) -> Vec<String> {
        let split = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        match self {
            OneOrMany::One(text) => split(text),
            OneOrMany::Many(items) => items.iter().flat_map(|i| split(i)).collect(),
        }
    }
}

/// One `[plugins.NAME]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    /// `false` keeps the plugin unloaded.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Any table; handed to the plugin's `init` as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// `[plugins.NAME.limits]`: this plugin's limits, over `[limits]`.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Events kept one by one for this plugin before it counts as lagging (default 1024).
    pub queue_size: Option<usize>,
    /// What the plugin gets when it lags: `"latest_state"` (default: its backlog coalesces per
    /// object, the newest state winning) or `"every_event"` (every event, spilled to disk).
    #[serde(default)]
    pub delivery: Delivery,
    /// The spill file's limit in MiB, for `every_event` (default 1024).
    pub spill_limit_mb: Option<u64>,
    /// Instances of the plugin running in parallel, each object's events on one of them
    /// (default 1).
    pub workers: Option<usize>,
    /// `true` lets the plugin see the `data` and `stringData` of Secrets (default: redacted).
    #[serde(default)]
    pub allow_secrets: bool,
    /// `[plugins.NAME.subscribe]`: which events the plugin sees (default: all, or what the
    /// module declares).
    pub subscribe: Option<SubscriptionSection>,
    /// `[plugins.NAME.capabilities]`: what it may do beyond logging (default: nothing).
    #[serde(default)]
    pub capabilities: CapabilitiesSection,
    /// Where the plugin comes from instead of the plugins directory: `oci://HOST/REPO:TAG`
    /// (re-resolved on every rescan) or `oci://HOST/REPO@sha256:HEX` (pinned).
    pub source: Option<OciReference>,
    /// A public key (PEM, ECDSA P-256, as `cosign.pub`): the `source` must carry a cosign
    /// signature by it.
    pub verify_key: Option<PathBuf>,
}

fn enabled_by_default() -> bool {
    true
}

impl Default for PluginSection {
    fn default() -> Self {
        PluginSection {
            enabled: true,
            config: toml::Table::new(),
            limits: LimitsSection::default(),
            queue_size: None,
            delivery: Delivery::default(),
            spill_limit_mb: None,
            workers: None,
            allow_secrets: false,
            subscribe: None,
            capabilities: CapabilitiesSection::default(),
            source: None,
            verify_key: None,
        }
    }
}

/// `[leader_election]`: run several replicas; the one holding a `coordination.k8s.io/v1` Lease
/// delivers, the others keep their watches warm.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderElectionSection {
    /// `true` turns election on (`LEADER_ELECTION`; default `false`: this replica always
    /// delivers).
    #[serde(default)]
    pub enabled: bool,
    /// The Lease's name (default `event-controller`).
    pub lease_name: Option<String>,
    /// The Lease's namespace (default: `POD_NAMESPACE`, else the service account's namespace,
    /// else `default`).
    pub namespace: Option<String>,
    /// This replica's name in the Lease (default: `POD_NAME`, else `hostname-pid`).
    pub identity: Option<String>,
    /// Milliseconds a standby waits after the last renewal it saw before taking over
    /// (default 15000).
    pub lease_duration_ms: Option<u64>,
    /// Milliseconds within which the leader must renew, or stop delivering (default 10000).
    pub renew_deadline_ms: Option<u64>,
    /// Milliseconds between attempts to acquire or renew (default 2000).
    pub retry_period_ms: Option<u64>,
}

/// `[limits]` or `[plugins.NAME.limits]`: what a plugin may use (see [`Limits`] for defaults).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Milliseconds one `handle_event` call may take.
    pub call_timeout_ms: Option<u64>,
    /// Milliseconds `_initialize` and `init` may take.
    pub init_timeout_ms: Option<u64>,
    /// MiB of linear memory.
    pub memory_mb: Option<usize>,
    /// Elements a table may grow to.
    pub table_elements: Option<usize>,
    /// Fuel per call (about one unit per wasm instruction); unset: not metered.
    pub fuel: Option<u64>,
}

impl LimitsSection {
    /// `limits` with the values this section sets.
    pub fn apply(&self, limits: Limits) -> Limits {
        Limits {
            call_timeout: self
                .call_timeout_ms
                .map_or(limits.call_timeout, Duration::from_millis),
            init_timeout: self
                .init_timeout_ms
                .map_or(limits.init_timeout, Duration::from_millis),
            memory: self
                .memory_mb
                .map_or(limits.memory, |mb| mb.saturating_mul(1 << 20)),
            table_elements: self.table_elements.unwrap_or(limits.table_elements),
            fuel: self.fuel.or(limits.fuel),
        }
    }
}

impl PluginSection {
    /// The `config` table as the JSON text `init` receives (`{}` when empty).
    pub fn config_json(&self) -> String {
        toml_to_json(toml::Value::Table(self.config.clone())).to_string()
    }
}

impl FileConfig {
    /// What the plugin named `name` is loaded with: its config and its limits (its own section
    /// over `[limits]` over the defaults).
    pub fn plugin_settings(&self, name: &str) -> PluginSettings {
        let section = self.plugin(name);
        PluginSettings {
            config_json: section.config_json(),
            limits: section.limits.apply(self.limits.apply(Limits::default())),
            capabilities: section.capabilities.clone(),
        }
    }

    /// How the plugin named `name` is run: its queue size and delivery, whether it sees Secrets' data, and
    /// its subscription (this file's `subscribe` section over the module's own `defaults`).
    pub fn worker_options(
        &self,
        name: &str,
        defaults: Option<&SubscriptionSection>,
    ) -> Result<WorkerOptions, SubscriptionError> {
        let section = self.plugin(name);
        Ok(WorkerOptions {
            queue_size: section.queue_size.unwrap_or(DEFAULT_QUEUE_SIZE),
            delivery: section.delivery,
            spill_limit_bytes: section
                .spill_limit_mb
                .map_or(DEFAULT_SPILL_LIMIT_BYTES, |mb| mb.saturating_mul(1 << 20)),
            workers: section.workers.unwrap_or(1).max(1),
            allow_secrets: section.allow_secrets,
            subscription: Subscription::resolve(defaults, section.subscribe.as_ref())?,
        })
    }

    /// True when some plugin is given a fuel budget: the engine must then meter fuel.
    pub fn meters_fuel(&self) -> bool {
        self.limits.fuel.is_some() || self.plugins.values().any(|p| p.limits.fuel.is_some())
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_owned(),
            cause,
        })?;
        Self::parse(path, &text)
    }

    /// Parses config text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
        let config: FileConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |span| span.start);
            let (line, column) = line_and_column(text, offset);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim_end().to_owned(),
            }
        })?;
        config.check_subscriptions(path, text)?;
        config.check_sources(path, text)?;
        config.check_grants(path, text)?;
        Ok(config)
    }

    /// Compiles every `[plugins.NAME.subscribe]` section, so that a bad selector or event type
    /// is an error of the file (at the section's line), not of the plugin later.
    fn check_subscriptions(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        for (name, section) in &self.plugins {
            let Some(subscribe) = &section.subscribe else {
                continue;
            };
            if let Err(error) = Subscription::resolve(None, Some(subscribe)) {
                let header = format!("[plugins.{name}.subscribe]");
                return Err(section_error(path, text, &header, &error.to_string()));
            }
        }
        Ok(())
    }

    /// A `verify_key` needs a `source`: signatures are of registry artifacts.
    fn check_sources(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        for (name, section) in &self.plugins {
            if section.verify_key.is_some() && section.source.is_none() {
                let header = format!("[plugins.{name}]");
                let message = "verify_key needs a source = \"oci://...\" (files in the plugins \
                               directory are not signed)";
                return Err(section_error(path, text, &header, message));
            }
        }
        Ok(())
    }

    /// A Kubernetes grant's `label_selector` must parse.
    fn check_grants(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        for (name, section) in &self.plugins {
            let selector = section
                .capabilities
                .kubernetes
                .as_ref()
                .and_then(|grant| grant.label_selector.as_deref());
            let Some(Err(error)) = selector.map(LabelSelector::parse) else {
                continue;
            };
            let header = format!("[plugins.{name}.capabilities.kubernetes]");
            let message = format!("label_selector: {error}");
            return Err(section_error(path, text, &header, &message));
        }
        Ok(())
    }

    /// Every resource some plugin may read (`read` of its Kubernetes grant), once each.
    pub fn readable_resources(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .plugins
            .values()
            .filter_map(|section| section.capabilities.kubernetes.as_ref())
            .flat_map(|grant| grant.read.iter().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The plugins whose section names an OCI `source`, enabled or not, by name.
    pub fn oci_plugins(&self) -> impl Iterator<Item = (&String, &PluginSection)> {
        self.plugins
            .iter()
            .filter(|(_, section)| section.source.is_some())
    }

    /// The section for plugin `name`, or the default (enabled, empty config).
    pub fn plugin(&self, name: &str) -> PluginSection {
        self.plugins.get(name).cloned().unwrap_or_default()
    }
}

/// An error of the section whose `header` (`[plugins.NAME...]`) is in `text`, at its line.
fn section_error(path: &Path, text: &str, header: &str, message: &str) -> ConfigError {
    let offset = text.find(header).unwrap_or(0);
    let (line, column) = line_and_column(text, offset);
    ConfigError::Invalid {
        path: path.to_owned(),
        line,
        column,
        message: format!("{header}: {message}"),
    }
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// TOML to JSON; datetimes become their RFC 3339 strings.
fn toml_to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        toml::Value::String(s) => Json::String(s),
        toml::Value::Integer(i) => Json::from(i),
        toml::Value::Float(f) => Json::from(f),
        toml::Value::Boolean(b) => Json::Bool(b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Json::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        FileConfig::parse(Path::new("conf/test.toml"), text)
    }

    #[test]
    fn reads_plugin_sections() {
        let config = parse(
            "plugins_dir = \"/p\"\nlog_format = \"json\"\n\n[plugins.alerts]\nenabled = false\n\n[plugins.dns.config]\nzone = \"example.com.\"\nttl = 60\nat = 1979-05-27T07:32:00Z\n",
        )
        .expect("valid");
        assert_eq!(config.plugins_dir.as_deref(), Some(Path::new("/p")));
        assert!(!config.plugin("alerts").enabled);
        assert_eq!(
            config.plugin("dns").config_json(),
            r#"{"at":"1979-05-27T07:32:00Z","ttl":60,"zone":"example.com."}"#
        );
        assert_eq!(config.plugin("absent").config_json(), "{}");
    }

    #[test]
    fn the_sample_config_documents_valid_keys() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/config.toml"));
        let config = FileConfig::load(path).expect("conf/config.toml is valid");
        assert_eq!(
            config.resources.map(|r| r.items()),
            Some(vec!["pods".to_owned()])
        );
    }

    #[test]
    fn the_deployed_config_is_valid() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/config.toml"
        ));
        let config = FileConfig::load(path).expect("deploy/config.toml is valid");
        assert_eq!(config.metrics_address.as_deref(), Some("0.0.0.0:9090"));
    }

    #[test]
    fn reads_kubernetes_settings() {
        let config = parse(
            "resources = [\"pods\", \"routes.route.openshift.io\"]\nnamespaces = \"shop,payments\"\ninitial_events = \"skip\"\ndeleted_object = \"last_state\"\n",
        )
        .expect("valid");
        let resources = config.resources.expect("resources").items();
        assert_eq!(resources, ["pods", "routes.route.openshift.io"]);
        assert_eq!(config.namespaces.expect("ns").items(), ["shop", "payments"]);
        assert_eq!(
            config.initial_events,
            Some(crate::source::reconcile::InitialEvents::Skip)
        );
        let err = parse("initial_events = \"sometimes\"\n").expect_err("bad value");
        assert!(err.to_string().starts_with("conf/test.toml:1:"), "{err}");
    }

    #[test]
    fn oci_sources_are_checked_where_they_are_written() {
        let config = parse(
            "[registry]\nca_file = \"/ca.pem\"\n\n[plugins.simple]\nsource = \"oci://127.0.0.1:5000/plugins/simple:v1\"\nverify_key = \"/cosign.pub\"\n",
        )
        .expect("valid");
        let section = config.plugin("simple");
        let source = section.source.expect("a source");
        assert_eq!(source.registry(), "127.0.0.1:5000");
        assert_eq!(config.oci_plugins().count(), 1);
        assert_eq!(
            config.registry.settings().ca_file.as_deref(),
            Some(Path::new("/ca.pem"))
        );

        let err = parse("\n[plugins.simple]\nsource = \"http://r.example/p:1\"\n")
            .expect_err("not oci://");
        assert!(
            err.to_string().starts_with("conf/test.toml:3:") && err.to_string().contains("oci://"),
            "{err}"
        );
        let err = parse("\n\n[plugins.simple]\nverify_key = \"/k.pub\"\n").expect_err("no source");
        assert!(
            err.to_string().starts_with("conf/test.toml:3:")
                && err.to_string().contains("verify_key needs a source"),
            "{err}"
        );
    }

    #[test]
    fn a_grants_label_selector_is_checked_where_it_is_written() {
        let text = "\n[plugins.defaults.capabilities.kubernetes]\ncreate = [\"configmaps\"]\nlabel_selector = \"owner in (a\"\n";
        let err = parse(text).expect_err("an unclosed set");
        assert!(
            err.to_string().starts_with("conf/test.toml:2:")
                && err.to_string().contains("label_selector"),
            "{err}"
        );
        let good = "[plugins.defaults.capabilities.kubernetes]\ncreate = [\"configmaps\"]\nlabel_selector = \"owner=ns-defaults\"\nnamespaces = [\"shop\"]\nmax_writes_per_second = 5\n";
        let config = parse(good).expect("valid");
        let grant = config
            .plugin("defaults")
            .capabilities
            .kubernetes
            .expect("a grant");
        assert_eq!(grant.max_writes_per_second, Some(5));
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let err = parse("log_level = \"info\"\n\n[plugins.x]\nenable = true\n").expect_err("typo");
        let text = err.to_string();
        assert!(
            text.starts_with("conf/test.toml:4:1: unknown field `enable`"),
            "{text}"
        );
    }

    #[test]
    fn wrong_types_name_file_line_and_key() {
        let err = parse("plugins_dir = 5\n").expect_err("type");
        let text = err.to_string();
        assert!(text.starts_with("conf/test.toml:1:"), "{text}");
        assert!(text.contains("invalid type"), "{text}");
        let err = parse("log_format = \"xml\"\n").expect_err("variant");
        assert!(err.to_string().contains("xml"), "{err}");
        let err = parse("streaming_lists = false\nlist_page_size = 0\n").expect_err("zero");
        let text = err.to_string();
        assert!(text.starts_with("conf/test.toml:2:"), "{text}");
        assert!(text.contains("nonzero"), "{text}");
    }

    #[test]
    fn plugin_limits_override_global_limits_which_override_defaults() {
        let config = parse(
            "[limits]\ncall_timeout_ms = 500\nmemory_mb = 32\n\n[plugins.slow.limits]\ncall_timeout_ms = 5000\nfuel = 1000000\n\n[plugins.slow]\nqueue_size = 10\nallow_secrets = true\n",
        )
        .expect("valid");
        let slow = config.plugin_settings("slow").limits;
        assert_eq!(slow.call_timeout, Duration::from_secs(5));
        assert_eq!(slow.memory, 32 << 20);
        assert_eq!(slow.fuel, Some(1_000_000));
        assert_eq!(slow.init_timeout, Limits::default().init_timeout);
        let other = config.plugin_settings("other").limits;
        assert_eq!(other.call_timeout, Duration::from_millis(500));
        assert_eq!(other.fuel, None);
        assert!(config.meters_fuel());
        let options = config.worker_options("slow", None).expect("valid");
        assert_eq!((options.queue_size, options.allow_secrets), (10, true));
        let options = config.worker_options("other", None).expect("valid");
        assert_eq!(
            (options.queue_size, options.allow_secrets),
            (DEFAULT_QUEUE_SIZE, false)
        );
        let err = parse("[limits]\ntimeout_ms = 5\n").expect_err("typo");
        assert!(
            err.to_string()
                .starts_with("conf/test.toml:2:1: unknown field `timeout_ms`"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a = \n").expect_err("syntax");
        assert!(err.to_string().starts_with("conf/test.toml:1:"), "{err}");
    }
}
