//! Prometheus metrics, what runs, and the health endpoints.
//!
//! [`Metrics`] holds every metric the controller exports, all under the `event_controller_`
//! prefix, and each plugin's status ([`PluginStatuses`], in [`status`]); [`Health`] tracks
//! readiness; [`serve`] answers `/metrics`, `/plugins`, `/healthz` and `/readyz` over HTTP/1.
//!
//! The one table of what is exported, with labels and meaning, is in docs/metrics.md; a test
//! (`the_docs_document_exactly_the_exported_metrics`) fails when it and the registry disagree.

mod health;
pub mod plugin_metrics;
mod server;
pub mod status;

pub use self::health::Health;
pub use self::plugin_metrics::PluginMetrics;
pub use self::server::serve;
pub use self::status::{PluginOrigin, PluginStatus, PluginStatuses, PluginsReport};

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// Prefix of every metric name.
const PREFIX: &str = "event_controller";
/// Smallest plugin call duration bucket: 10 µs.
const CALL_BUCKET_START: f64 = 1e-5;
/// Growth factor between call duration buckets.
const CALL_BUCKET_FACTOR: f64 = 2.0;
/// Number of call duration buckets: the last one is 10 µs × 2²⁰ ≈ 10.5 s.
const CALL_BUCKET_COUNT: u16 = 21;

/// Failure kinds, used as the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The plugin trapped.
    Trap,
    /// The call ran past its deadline.
    Timeout,
    /// The plugin hit its memory limit.
    Memory,
    /// The plugin overflowed its stack.
    Stack,
    /// The plugin ran out of fuel.
    Fuel,
    /// The plugin returned something the host could not use.
    BadResult,
    /// The plugin's allocator failed or returned an unusable buffer.
    BadAlloc,
    /// A new instance could not be started after a failure.
    Restart,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: [FailureKind; 8] = [
        FailureKind::Trap,
        FailureKind::Timeout,
        FailureKind::Memory,
        FailureKind::Stack,
        FailureKind::Fuel,
        FailureKind::BadResult,
        FailureKind::BadAlloc,
        FailureKind::Restart,
    ];

    /// The label value: `trap`, `timeout`, `memory`, `stack`, `fuel`, `bad_result`, `bad_alloc`
    /// or `restart`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Stack => "stack",
            FailureKind::Fuel => "fuel",
            FailureKind::BadResult => "bad_result",
            FailureKind::BadAlloc => "bad_alloc",
            FailureKind::Restart => "restart",
        }
    }
}

/// A capability a plugin calls through a host function, used as the `capability` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `http_request`: outbound HTTP.
    Http,
    /// `kube_request`: Kubernetes writes.
    Kubernetes,
}

impl Capability {
    /// The label value: `http` or `kubernetes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Http => "http",
            Capability::Kubernetes => "kubernetes",
        }
    }
}

/// How a capability request ended, used as the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapabilityOutcome {
    /// A response with a status below 400 (2xx, or a 3xx that is not followed).
    Ok,
    /// A response with a status of 400 or more (for Kubernetes, the API server's refusal,
    /// RBAC's 403 included).
    StatusError,
    /// Refused by the host before anything was sent: not granted, outside the allowed URL
    /// prefixes or resources, a verb that is not allowed.
    Denied,
    /// No response: a malformed request, a connection failure, a timeout, no cluster
    /// connection (`replay`).
    Error,
    /// Refused by the host because the plugin wrote faster than its `max_writes_per_second`.
    Throttled,
}

impl CapabilityOutcome {
    /// The label value: `ok`, `status_error`, `denied`, `error` or `throttled`.
    pub fn as_str(self) -> &'static str {
        match self {
            CapabilityOutcome::Ok => "ok",
            CapabilityOutcome::StatusError => "status_error",
            CapabilityOutcome::Denied => "denied",
            CapabilityOutcome::Error => "error",
            CapabilityOutcome::Throttled => "throttled",
        }
    }

    /// `Ok` or `StatusError` for a response with HTTP `status`.
    pub fn of_status(status: u16) -> CapabilityOutcome {
        if status < 400 {
            CapabilityOutcome::Ok
        } else {
            CapabilityOutcome::StatusError
        }
    }
}

/// Labels of `events_received_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EventLabels {
    kind: String,
    r#type: String,
}

/// Counts received events (`events_received_total`) on the path every event takes: each kind
/// and type's series is looked up once, then counting allocates nothing.
#[derive(Debug, Default)]
pub struct ReceivedEvents {
    series: HashMap<Box<str>, Vec<(&'static str, Counter)>>,
}

impl ReceivedEvents {
    /// Counts one event of `kind` and `event_type` in `metrics`.
    pub fn count(&mut self, metrics: &Metrics, kind: &str, event_type: &'static str) {
        let of_kind = match self.series.get_mut(kind) {
            Some(of_kind) => of_kind,
            None => self.series.entry(kind.into()).or_default(),
        };
        match of_kind.iter().find(|(known, _)| *known == event_type) {
            Some((_, counter)) => {
                counter.inc();
            }
            None => {
                let counter = metrics.events_received_series(kind, event_type);
                counter.inc();
                of_kind.push((event_type, counter));
            }
        }
    }
}

/// Handles on one plugin's per-event series (see [`Metrics::plugin_series`]); they share the
/// values the registry exports.
#[derive(Debug, Clone)]
pub struct PluginSeries {
    calls: Counter,
    call_duration: Histogram,
    queue_depth: Gauge,
}

impl PluginSeries {
    /// Counts a call that took `seconds`.
    pub fn call(&self, seconds: f64) {
        self.calls.inc();
        self.call_duration.observe(seconds);
    }

    /// Changes the queue depth by `change`.
    pub fn add_queue_depth(&self, change: i64) {
        self.queue_depth.inc_by(change);
    }
}

/// Labels of the per-plugin metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

/// Labels of `plugin_failures_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FailureLabels {
    plugin: String,
    kind: &'static str,
}

/// Labels of `plugin_events_dropped_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DropLabels {
    plugin: String,
    reason: String,
}

/// Labels of `capability_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CapabilityLabels {
    plugin: String,
    capability: &'static str,
    outcome: &'static str,
}

/// Labels of `capability_request_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CapabilityDurationLabels {
    plugin: String,
    capability: &'static str,
}

/// Labels of the per-resource metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResourceLabels {
    resource: String,
}

/// A histogram family whose histograms share one set of buckets.
type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// A gauge holding a float, for timestamps.
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric the controller exports, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    events_received: Family<EventLabels, Counter>,
    plugin_calls: Family<PluginLabels, Counter>,
    plugin_call_duration: HistogramFamily<PluginLabels>,
    plugin_failures: Family<FailureLabels, Counter>,
    plugin_dropped: Family<DropLabels, Counter>,
    plugin_queue_depth: Family<PluginLabels, Gauge>,
    plugin_reloads: Family<PluginLabels, Counter>,
    plugin_load_failures: Family<PluginLabels, Counter>,
    plugins_loaded: Gauge,
    leader: Gauge,
    watch_restarts: Family<ResourceLabels, Counter>,
    relists: Family<ResourceLabels, Counter>,
    last_sync: Family<ResourceLabels, FloatGauge>,
    plugin_retries: Family<PluginLabels, Counter>,
    plugin_pending_retries: Family<PluginLabels, Gauge>,
    capability_requests: Family<CapabilityLabels, Counter>,
    capability_request_duration: HistogramFamily<CapabilityDurationLabels>,
    plugin_coalesced: Family<PluginLabels, Counter>,
    plugin_lag: Family<PluginLabels, FloatGauge>,
    plugin_backlog_objects: Family<PluginLabels, Gauge>,
    /// The plugins' backlogs, read for `plugin_lag_seconds` and `plugin_backlog_objects` when
    /// the metrics are encoded.
    backlog_probes: Mutex<Vec<(String, Weak<dyn BacklogProbe>)>>,
    /// What runs: each plugin's origin, load, last failure, back-off and refused version.
    statuses: PluginStatuses,
    /// The metrics plugins declare themselves (`event_controller_plugin_*`).
    plugin_metrics: PluginMetrics,
}

/// What `/metrics` asks a plugin's backlog when scraped.
pub trait BacklogProbe: Send + Sync {
    /// How long the oldest change waiting for the plugin has waited (zero when none waits).
    fn lag(&self) -> Duration;
    /// The objects with a change waiting.
    fn objects(&self) -> usize;
}

impl Metrics {
    /// All metrics, registered and empty.
    pub fn new() -> Metrics {
        let metrics = Metrics {
            registry: Registry::with_prefix(PREFIX),
            events_received: Family::default(),
            plugin_calls: Family::default(),
            plugin_call_duration: Family::new_with_constructor(call_duration_histogram),
            plugin_failures: Family::default(),
            plugin_dropped: Family::default(),
            plugin_queue_depth: Family::default(),
            plugin_reloads: Family::default(),
            plugin_load_failures: Family::default(),
            plugins_loaded: Gauge::default(),
            leader: Gauge::default(),
            watch_restarts: Family::default(),
            relists: Family::default(),
            last_sync: Family::default(),
            plugin_retries: Family::default(),
            plugin_pending_retries: Family::default(),
            capability_requests: Family::default(),
            capability_request_duration: Family::new_with_constructor(call_duration_histogram),
            plugin_coalesced: Family::default(),
            plugin_lag: Family::default(),
            plugin_backlog_objects: Family::default(),
            backlog_probes: Mutex::new(Vec::new()),
            statuses: PluginStatuses::new(),
            plugin_metrics: PluginMetrics::default(),
        };
        metrics.registered()
    }

    /// Registers a clone of every metric (clones share their values) in the registry.
    fn registered(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "events_received",
            "Watch events received, by resource kind and event type",
            self.events_received.clone(),
        );
        r.register(
            "plugin_calls",
            "Calls into a plugin",
            self.plugin_calls.clone(),
        );
        r.register_with_unit(
            "plugin_call_duration",
            "Duration of calls into a plugin",
            Unit::Seconds,
            self.plugin_call_duration.clone(),
        );
        r.register(
            "plugin_failures",
            "Failed plugin calls, by kind of failure",
            self.plugin_failures.clone(),
        );
        r.register(
            "plugin_events_dropped",
            "Events not handed to a plugin, by reason",
            self.plugin_dropped.clone(),
        );
        r.register(
            "plugin_queue_depth",
            "Events waiting for a plugin",
            self.plugin_queue_depth.clone(),
        );
        r.register(
            "plugin_reloads",
            "Plugins reloaded from the plugin directory",
            self.plugin_reloads.clone(),
        );
        r.register(
            "plugin_load_failures",
            "Plugins that failed to load",
            self.plugin_load_failures.clone(),
        );
        r.register(
            "plugins_loaded",
            "Plugins currently loaded",
            self.plugins_loaded.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the lease and delivers (leader election), else 0",
            self.leader.clone(),
        );
        r.register(
            "watch_restarts",
            "Watches restarted, by resource",
            self.watch_restarts.clone(),
        );
        r.register("relists", "Full relists, by resource", self.relists.clone());
        r.register_with_unit(
            "last_sync_timestamp",
            "Unix time of the last completed list, by resource",
            Unit::Seconds,
            self.last_sync.clone(),
        );
        r.register(
            "plugin_retries",
            "Events scheduled to be handed to a plugin again, at its request",
            self.plugin_retries.clone(),
        );
        r.register(
            "plugin_pending_retries",
            "Retries waiting for their time, by plugin",
            self.plugin_pending_retries.clone(),
        );
        r.register(
            "capability_requests",
            "Requests plugins made through a capability, by outcome",
            self.capability_requests.clone(),
        );
        r.register(
            "plugin_events_coalesced",
            "Events merged into a newer state of their object while the plugin lagged",
            self.plugin_coalesced.clone(),
        );
        r.register_with_unit(
            "plugin_lag",
            "Age of the oldest change waiting for the plugin",
            Unit::Seconds,
            self.plugin_lag.clone(),
        );
        r.register(
            "plugin_backlog_objects",
            "Objects with a change waiting for the plugin",
            self.plugin_backlog_objects.clone(),
        );
        r.register_with_unit(
            "capability_request_duration",
            "Duration of requests plugins made through a capability",
            Unit::Seconds,
            self.capability_request_duration.clone(),
        );
        self
    }

    /// Counts a watch event of resource `kind` and `event_type` (ADDED, MODIFIED, ...).
    pub fn event_received(&self, kind: &str, event_type: &str) {
        self.events_received_series(kind, event_type).inc();
    }

    /// The `events_received_total` series of `kind` and `event_type`.
    fn events_received_series(&self, kind: &str, event_type: &str) -> Counter {
        let labels = EventLabels {
            kind: kind.to_owned(),
            r#type: event_type.to_owned(),
        };
        self.events_received.get_or_create(&labels).clone()
    }

    /// Counts a call into `plugin` that took `seconds`.
    pub fn plugin_call(&self, plugin: &str, seconds: f64) {
        self.plugin_series(plugin).call(seconds);
    }

    /// The series a plugin's worker updates on every event, looked up once: updating them
    /// then costs no label allocation and no lookup.
    pub fn plugin_series(&self, plugin: &str) -> PluginSeries {
        let labels = plugin_labels(plugin);
        PluginSeries {
            calls: self.plugin_calls.get_or_create(&labels).clone(),
            call_duration: self.plugin_call_duration.get_or_create(&labels).clone(),
            queue_depth: self.plugin_queue_depth.get_or_create(&labels).clone(),
        }
    }

    /// Counts a failed call into `plugin`.
    pub fn plugin_failure(&self, plugin: &str, kind: FailureKind) {
        let labels = FailureLabels {
            plugin: plugin.to_owned(),
            kind: kind.as_str(),
        };
        self.plugin_failures.get_or_create(&labels).inc();
    }

    /// Counts an event not handed to `plugin`, for `reason` (for example, a full queue).
    pub fn plugin_dropped(&self, plugin: &str, reason: &str) {
        let labels = DropLabels {
            plugin: plugin.to_owned(),
            reason: reason.to_owned(),
        };
        self.plugin_dropped.get_or_create(&labels).inc();
    }

    /// Counts an event merged into a newer state of its object in `plugin`'s backlog.
    pub fn plugin_coalesced(&self, plugin: &str) {
        self.plugin_coalesced
            .get_or_create(&plugin_labels(plugin))
            .inc();
    }

    /// Reads `plugin_lag_seconds{plugin}` and `plugin_backlog_objects{plugin}` from `probe`
    /// whenever the metrics are encoded, until the probe is dropped.
    pub fn watch_backlog(&self, plugin: &str, probe: Weak<dyn BacklogProbe>) {
        self.backlog_probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((plugin.to_owned(), probe));
    }

    /// Sets each plugin's lag (the largest of its lanes') and backlog (their sum) from its
    /// probes; forgets the probes that are gone, and the plugins left without one.
    fn refresh_backlogs(&self) {
        let mut probes = self
            .backlog_probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut backlogs: std::collections::BTreeMap<String, Option<(Duration, usize)>> =
            Default::default();
        probes.retain(|(plugin, probe)| {
            let read = probe.upgrade().map(|probe| (probe.lag(), probe.objects()));
            let entry = backlogs.entry(plugin.clone()).or_default();
            *entry = match (*entry, read) {
                (Some((lag, objects)), Some((more_lag, more))) => {
                    Some((lag.max(more_lag), objects + more))
                }
                (known, None) => known,
                (None, read) => read,
            };
            read.is_some()
        });
        for (plugin, backlog) in backlogs {
            let labels = plugin_labels(&plugin);
            match backlog {
                Some((lag, objects)) => {
                    self.plugin_lag
                        .get_or_create(&labels)
                        .set(lag.as_secs_f64());
                    self.plugin_backlog_objects
                        .get_or_create(&labels)
                        .set(saturating_i64(objects));
                }
                None => {
                    self.plugin_lag.remove(&labels);
                    self.plugin_backlog_objects.remove(&labels);
                }
            }
        }
    }

    /// Changes the number of events waiting for `plugin` by `change` (its lanes add up).
    pub fn add_queue_depth(&self, plugin: &str, change: i64) {
        self.plugin_series(plugin).add_queue_depth(change);
    }

    /// Counts a reload of `plugin`.
    pub fn plugin_reloaded(&self, plugin: &str) {
        self.plugin_reloads
            .get_or_create(&plugin_labels(plugin))
            .inc();
    }

    /// Counts a failure to load `plugin`.
    pub fn plugin_load_failed(&self, plugin: &str) {
        self.plugin_load_failures
            .get_or_create(&plugin_labels(plugin))
            .inc();
    }

    /// Sets the number of plugins loaded.
    pub fn set_plugins_loaded(&self, n: usize) {
        self.plugins_loaded.set(saturating_i64(n));
    }

    /// Sets whether this replica holds the lease (with leader election).
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Counts a restart of the watch on `resource`.
    pub fn watch_restarted(&self, resource: &str) {
        self.watch_restarts
            .get_or_create(&resource_labels(resource))
            .inc();
    }

    /// Counts a full relist of `resource`.
    pub fn relisted(&self, resource: &str) {
        self.relists.get_or_create(&resource_labels(resource)).inc();
    }

    /// Records that a list of `resource` completed now.
    pub fn synced(&self, resource: &str) {
        self.last_sync
            .get_or_create(&resource_labels(resource))
            .set(unix_now());
    }

    /// Counts a retry scheduled for `plugin` at its request.
    pub fn plugin_retry_scheduled(&self, plugin: &str) {
        self.plugin_retries
            .get_or_create(&plugin_labels(plugin))
            .inc();
    }

    /// Changes the number of retries waiting for `plugin` by `change` (its lanes add up).
    pub fn add_pending_retries(&self, plugin: &str, change: i64) {
        self.plugin_pending_retries
            .get_or_create(&plugin_labels(plugin))
            .inc_by(change);
    }

    /// Counts a request `plugin` made through `capability`, which ended with `outcome` after
    /// `seconds`.
    pub fn capability_request(
        &self,
        plugin: &str,
        capability: Capability,
        outcome: CapabilityOutcome,
        seconds: f64,
    ) {
        let labels = CapabilityLabels {
            plugin: plugin.to_owned(),
            capability: capability.as_str(),
            outcome: outcome.as_str(),
        };
        self.capability_requests.get_or_create(&labels).inc();
        let labels = CapabilityDurationLabels {
            plugin: plugin.to_owned(),
            capability: capability.as_str(),
        };
        self.capability_request_duration
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Each plugin's status, fed by the reloader and the workers.
    pub fn statuses(&self) -> &PluginStatuses {
        &self.statuses
    }

    /// What runs, for `GET /plugins`: every plugin [`Metrics::statuses`] knows, with its
    /// counts, queue, backlog and pending retries as the metrics have them now.
    pub fn plugins_report(&self) -> PluginsReport {
        self.refresh_backlogs();
        let mut plugins = self.statuses.snapshot();
        for status in &mut plugins {
            self.fill_counts(status);
        }
        PluginsReport { plugins }
    }

    /// Sets the counts of `status` from the plugin's series (0 where it has none yet).
    fn fill_counts(&self, status: &mut PluginStatus) {
        let labels = plugin_labels(&status.name);
        status.calls = self.plugin_calls.get(&labels).map_or(0, |c| c.get());
        status.failures = FailureKind::ALL
            .iter()
            .filter_map(|kind| {
                let labels = FailureLabels {
                    plugin: status.name.clone(),
                    kind: kind.as_str(),
                };
                self.plugin_failures.get(&labels).map(|c| c.get())
            })
            .sum();
        status.queue_depth = self.plugin_queue_depth.get(&labels).map_or(0, |g| g.get());
        status.backlog_objects = self
            .plugin_backlog_objects
            .get(&labels)
            .map_or(0, |g| g.get());
        status.lag_seconds = self.plugin_lag.get(&labels).map_or(0.0, |g| g.get());
        status.pending_retries = self
            .plugin_pending_retries
            .get(&labels)
            .map_or(0, |g| g.get());
    }

    /// Every metric in the OpenMetrics text format, ending with `# EOF`.
    pub fn encode(&self) -> String {
        self.refresh_backlogs();
        let mut text = String::new();
        // Writing to a String cannot fail; an encoder error would leave a truncated exposition.
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(%error, "encoding the metrics failed");
        }
        // The plugins' own metrics go before the closing `# EOF`.
        let eof = text.rfind("# EOF").unwrap_or(text.len());
        let mut plugins = String::new();
        self.plugin_metrics.encode(&mut plugins);
        text.insert_str(eof, &plugins);
        text
    }

    /// The metrics plugins declare and update themselves.
    pub fn plugin_metrics(&self) -> &PluginMetrics {
        &self.plugin_metrics
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// A histogram with the plugin call duration buckets, 10 µs to about 10 s.
fn call_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(
        CALL_BUCKET_START,
        CALL_BUCKET_FACTOR,
        CALL_BUCKET_COUNT,
    ))
}

fn plugin_labels(plugin: &str) -> PluginLabels {
    PluginLabels {
        plugin: plugin.to_owned(),
    }
}

fn resource_labels(resource: &str) -> ResourceLabels {
    ResourceLabels {
        resource: resource.to_owned(),
    }
}

/// `n` as a gauge value, `i64::MAX` if it does not fit.
pub(crate) fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Seconds since the Unix epoch; 0 if the clock is set before it.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    /// The metric names docs/metrics.md's table documents.
    fn documented_metrics() -> std::collections::BTreeSet<String> {
        let page = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/metrics.md");
        let text = std::fs::read_to_string(&page).expect("docs/metrics.md");
        text.lines()
            .filter_map(|line| line.strip_prefix("| `event_controller_"))
            .filter_map(|rest| rest.split('`').next())
            .map(|name| format!("event_controller_{name}"))
            .collect()
    }

    /// A backlog for the probe-read gauges.
    struct StillBacklog;

    impl BacklogProbe for StillBacklog {
        fn lag(&self) -> Duration {
            Duration::from_secs(1)
        }
        fn objects(&self) -> usize {
            1
        }
    }

    /// Metrics with a series in every family (a family without series is not encoded).
    fn every_metric_recorded(probe: &Arc<dyn BacklogProbe>) -> Metrics {
        let m = Metrics::new();
        m.event_received("Pod", "ADDED");
        m.plugin_call("p", 0.001);
        m.plugin_failure("p", FailureKind::Trap);
        m.plugin_dropped("p", "backoff");
        m.add_queue_depth("p", 1);
        m.plugin_reloaded("p");
        m.plugin_load_failed("p");
        m.set_plugins_loaded(1);
        m.set_leader(true);
        m.watch_restarted("pods");
        m.relisted("pods");
        m.synced("pods");
        m.plugin_retry_scheduled("p");
        m.add_pending_retries("p", 1);
        m.plugin_coalesced("p");
        m.watch_backlog("p", Arc::downgrade(probe));
        m.capability_request("p", Capability::Http, CapabilityOutcome::Ok, 0.01);
        m
    }

    /// The names of the series every registered metric exports: counters end in `_total`.
    fn exported_metrics() -> std::collections::BTreeSet<String> {
        let probe: Arc<dyn BacklogProbe> = Arc::new(StillBacklog);
        every_metric_recorded(&probe)
            .encode()
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| {
                let (name, kind) = rest.split_once(' ')?;
                Some(match kind {
                    "counter" => format!("{name}_total"),
                    _ => name.to_owned(),
                })
            })
            .collect()
    }

    #[test]
    fn the_docs_document_exactly_the_exported_metrics() {
        let documented = documented_metrics();
        let exported = exported_metrics();
        let undocumented: Vec<_> = exported.difference(&documented).collect();
        let stale: Vec<_> = documented.difference(&exported).collect();
        assert!(
            undocumented.is_empty() && stale.is_empty(),
            "exported but not in docs/metrics.md's table: {undocumented:?}; \
             in the table but not exported: {stale:?}"
        );
    }

    /// Every `event_controller_*` name in `text` (a histogram's `_bucket`, `_sum` and `_count`
    /// series included as they are written).
    fn metric_names_in(text: &str) -> std::collections::BTreeSet<String> {
        const PREFIX: &str = "event_controller_";
        let mut names = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find(PREFIX) {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
        names
    }

    #[test]
    fn the_monitoring_kit_names_only_exported_metrics() {
        let exported = exported_metrics();
        let is_exported = |name: &str| {
            exported.contains(name)
                || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                    name.strip_suffix(suffix)
                        .is_some_and(|base| exported.contains(base))
                })
        };
        let kit = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/monitoring"));
        let alerts = std::fs::read_to_string(kit.join("alerts.yaml")).expect("alerts.yaml");
        let dashboard = std::fs::read_to_string(kit.join("dashboard.json")).expect("dashboard");
        let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("valid JSON");
        assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 10));
        for (file, text) in [("alerts.yaml", &alerts), ("dashboard.json", &dashboard)] {
            let names = metric_names_in(text);
            assert!(names.len() >= 8, "{file} names only {names:?}");
            let unknown: Vec<_> = names.iter().filter(|n| !is_exported(n)).collect();
            assert!(
                unknown.is_empty(),
                "{file} names metrics /metrics does not export: {unknown:?}"
            );
        }
        for alert in [
            "PluginBackedOff",
            "PluginLoadFailed",
            "WatchNotSynced",
            "NoLeader",
            "CapabilityErrors",
        ] {
            assert!(
                alerts.contains(&format!("alert: EventController{alert}")),
                "no {alert} alert"
            );
        }
        // The dashboard shows every metric there is.
        let shown = metric_names_in(&dashboard);
        let missing: Vec<_> = exported
            .iter()
            .filter(|name| !shown.iter().any(|s| s.starts_with(name.as_str())))
            .collect();
        assert!(
            missing.is_empty(),
            "the dashboard shows nothing of {missing:?}"
        );
    }

    #[test]
    fn failure_kind_label_values() {
        let kinds = [
            (FailureKind::Trap, "trap"),
            (FailureKind::Timeout, "timeout"),
            (FailureKind::Memory, "memory"),
            (FailureKind::Stack, "stack"),
            (FailureKind::Fuel, "fuel"),
            (FailureKind::BadResult, "bad_result"),
            (FailureKind::BadAlloc, "bad_alloc"),
            (FailureKind::Restart, "restart"),
        ];
        for (kind, label) in kinds {
            assert_eq!(kind.as_str(), label);
        }
    }

    #[test]
    fn the_plugins_report_reads_the_counts_from_the_metrics() {
        let m = Metrics::new();
        assert_eq!(m.plugins_report(), PluginsReport::default());
        let origin = PluginOrigin::file(Path::new("/plugins/p.wasm"), "aa");
        m.statuses()
            .loaded("p", origin, "all events".into(), Duration::ZERO);
        m.plugin_call("p", 0.001);
        m.plugin_call("p", 0.001);
        m.plugin_call("p", 0.001);
        m.plugin_failure("p", FailureKind::Trap);
        m.plugin_failure("p", FailureKind::Timeout);
        m.plugin_call("other", 0.001);
        m.add_queue_depth("p", 4);
        m.add_pending_retries("p", 2);
        let probe: Arc<dyn BacklogProbe> = Arc::new(StillBacklog);
        m.watch_backlog("p", Arc::downgrade(&probe));
        let report = m.plugins_report();
        assert_eq!(report.plugins.len(), 1, "only plugins the statuses know");
        let p = &report.plugins[0];
        assert_eq!((p.calls, p.failures), (3, 2));
        assert_eq!((p.queue_depth, p.pending_retries), (4, 2));
        assert_eq!((p.backlog_objects, p.lag_seconds), (1, 1.0));
        assert_eq!(FailureKind::ALL.len(), 8);
    }

    #[test]
    fn metrics_and_health_are_shareable() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Metrics>();
        send_sync::<Health>();
    }

    /// The value of the sample line that starts with `series` followed by a space.
    fn sample(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|rest| rest.split(' ').next().unwrap_or_default().to_owned())
    }

    #[test]
    fn encode_before_use_has_the_unlabelled_gauge_and_eof() {
        let text = Metrics::new().encode();
        // Labelled families appear once they have a series; the plain gauge is always there.
        assert!(
            text.contains("# TYPE event_controller_plugins_loaded gauge"),
            "{text}"
        );
        assert_eq!(
            sample(&text, "event_controller_plugins_loaded").as_deref(),
            Some("0")
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn encode_has_every_family_with_labels_and_values() {
        let m = Metrics::new();
        m.event_received("Pod", "ADDED");
        let mut received = ReceivedEvents::default();
        received.count(&m, "Pod", "ADDED");
        received.count(&m, "Route", "DELETED");
        m.plugin_call("audit", 0.002);
        m.plugin_call("audit", 0.004);
        m.plugin_failure("audit", FailureKind::BadResult);
        m.plugin_dropped("audit", "queue_full");
        m.add_queue_depth("audit", 7);
        m.plugin_reloaded("audit");
        m.plugin_load_failed("broken");
        m.set_plugins_loaded(3);
        m.watch_restarted("pods");
        m.relisted("pods");
        m.relisted("pods");
        m.synced("pods");
        let text = m.encode();
        let expected = [
            (
                r#"event_controller_events_received_total{kind="Pod",type="ADDED"}"#,
                "2",
            ),
            (
                r#"event_controller_events_received_total{kind="Route",type="DELETED"}"#,
                "1",
            ),
            (
                r#"event_controller_plugin_calls_total{plugin="audit"}"#,
                "2",
            ),
            (
                r#"event_controller_plugin_call_duration_seconds_count{plugin="audit"}"#,
                "2",
            ),
            (
                r#"event_controller_plugin_failures_total{plugin="audit",kind="bad_result"}"#,
                "1",
            ),
            (
                r#"event_controller_plugin_events_dropped_total{plugin="audit",reason="queue_full"}"#,
                "1",
            ),
            (
                r#"event_controller_plugin_queue_depth{plugin="audit"}"#,
                "7",
            ),
            (
                r#"event_controller_plugin_reloads_total{plugin="audit"}"#,
                "1",
            ),
            (
                r#"event_controller_plugin_load_failures_total{plugin="broken"}"#,
                "1",
            ),
            ("event_controller_plugins_loaded", "3"),
            (
                r#"event_controller_watch_restarts_total{resource="pods"}"#,
                "1",
            ),
            (r#"event_controller_relists_total{resource="pods"}"#, "2"),
        ];
        let descriptors = [
            "# TYPE event_controller_events_received counter",
            "# TYPE event_controller_plugin_call_duration_seconds histogram",
            "# UNIT event_controller_plugin_call_duration_seconds seconds",
            "# TYPE event_controller_plugin_queue_depth gauge",
            "# TYPE event_controller_last_sync_timestamp_seconds gauge",
            "# UNIT event_controller_last_sync_timestamp_seconds seconds",
        ];
        for descriptor in descriptors {
            assert!(text.contains(descriptor), "{descriptor} in\n{text}");
        }
        for (series, value) in expected {
            assert_eq!(
                sample(&text, series).as_deref(),
                Some(value),
                "{series} in\n{text}"
            );
        }
        let sum = sample(
            &text,
            r#"event_controller_plugin_call_duration_seconds_sum{plugin="audit"}"#,
        );
        let sum: f64 = sum.and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
        assert!((sum - 0.006).abs() < 1e-9, "sum {sum} in\n{text}");
        let synced = sample(
            &text,
            r#"event_controller_last_sync_timestamp_seconds{resource="pods"}"#,
        );
        let synced: f64 = synced.and_then(|s| s.parse().ok()).unwrap_or(0.0);
        assert!(synced > 1.6e9, "last sync {synced} in\n{text}");
    }

    #[test]
    fn call_duration_buckets_span_10us_to_about_10s() {
        let text = {
            let m = Metrics::new();
            m.plugin_call("p", 0.5);
            m.encode()
        };
        let bucket = |le: &str| {
            sample(
                &text,
                &format!(
                    r#"event_controller_plugin_call_duration_seconds_bucket{{le="{le}",plugin="p"}}"#
                ),
            )
        };
        assert_eq!(bucket("0.00001").as_deref(), Some("0"), "{text}");
        assert_eq!(bucket("10.48576").as_deref(), Some("1"), "{text}");
        assert_eq!(bucket("+Inf").as_deref(), Some("1"), "{text}");
    }

    #[test]
    fn capability_label_values() {
        assert_eq!(Capability::Http.as_str(), "http");
        assert_eq!(Capability::Kubernetes.as_str(), "kubernetes");
        let outcomes = [
            (CapabilityOutcome::Ok, "ok"),
            (CapabilityOutcome::StatusError, "status_error"),
            (CapabilityOutcome::Denied, "denied"),
            (CapabilityOutcome::Error, "error"),
            (CapabilityOutcome::Throttled, "throttled"),
        ];
        for (outcome, label) in outcomes {
            assert_eq!(outcome.as_str(), label);
        }
        assert_eq!(CapabilityOutcome::of_status(200), CapabilityOutcome::Ok);
        assert_eq!(CapabilityOutcome::of_status(302), CapabilityOutcome::Ok);
        assert_eq!(
            CapabilityOutcome::of_status(400),
            CapabilityOutcome::StatusError
        );
        assert_eq!(
            CapabilityOutcome::of_status(503),
            CapabilityOutcome::StatusError
        );
    }

    #[test]
    fn encode_has_the_retry_families() {
        let m = Metrics::new();
        m.plugin_retry_scheduled("flaky");
        m.plugin_retry_scheduled("flaky");
        m.plugin_retry_scheduled("other");
        m.add_pending_retries("flaky", 5);
        m.add_pending_retries("flaky", -4);
        let text = m.encode();
        for descriptor in [
            "# TYPE event_controller_plugin_retries counter",
            "# TYPE event_controller_plugin_pending_retries gauge",
        ] {
            assert!(text.contains(descriptor), "{descriptor} in\n{text}");
        }
        let expected = [
            (
                r#"event_controller_plugin_retries_total{plugin="flaky"}"#,
                "2",
            ),
            (
                r#"event_controller_plugin_retries_total{plugin="other"}"#,
                "1",
            ),
            (
                r#"event_controller_plugin_pending_retries{plugin="flaky"}"#,
                "1",
            ),
        ];
        for (series, value) in expected {
            assert_eq!(
                sample(&text, series).as_deref(),
                Some(value),
                "{series} in\n{text}"
            );
        }
    }

    #[test]
    fn encode_has_the_capability_families() {
        let m = Metrics::new();
        let (http, kube) = (Capability::Http, Capability::Kubernetes);
        m.capability_request("alerts", http, CapabilityOutcome::Ok, 0.010);
        m.capability_request("alerts", http, CapabilityOutcome::Ok, 0.020);
        m.capability_request("alerts", http, CapabilityOutcome::StatusError, 0.030);
        m.capability_request("alerts", http, CapabilityOutcome::Denied, 0.000_02);
        m.capability_request("certs", kube, CapabilityOutcome::Error, 2.0);
        let text = m.encode();
        for descriptor in [
            "# TYPE event_controller_capability_requests counter",
            "# TYPE event_controller_capability_request_duration_seconds histogram",
            "# UNIT event_controller_capability_request_duration_seconds seconds",
        ] {
            assert!(text.contains(descriptor), "{descriptor} in\n{text}");
        }
        let expected = [
            (
                r#"event_controller_capability_requests_total{plugin="alerts",capability="http",outcome="ok"}"#,
                "2",
            ),
            (
                r#"event_controller_capability_requests_total{plugin="alerts",capability="http",outcome="status_error"}"#,
                "1",
            ),
            (
                r#"event_controller_capability_requests_total{plugin="alerts",capability="http",outcome="denied"}"#,
                "1",
            ),
            (
                r#"event_controller_capability_requests_total{plugin="certs",capability="kubernetes",outcome="error"}"#,
                "1",
            ),
            (
                r#"event_controller_capability_request_duration_seconds_count{plugin="alerts",capability="http"}"#,
                "4",
            ),
            (
                r#"event_controller_capability_request_duration_seconds_count{plugin="certs",capability="kubernetes"}"#,
                "1",
            ),
            (
                r#"event_controller_capability_request_duration_seconds_bucket{le="0.00001",plugin="alerts",capability="http"}"#,
                "0",
            ),
            (
                r#"event_controller_capability_request_duration_seconds_bucket{le="+Inf",plugin="alerts",capability="http"}"#,
                "4",
            ),
        ];
        for (series, value) in expected {
            assert_eq!(
                sample(&text, series).as_deref(),
                Some(value),
                "{series} in\n{text}"
            );
        }
        let sum = sample(
            &text,
            r#"event_controller_capability_request_duration_seconds_sum{plugin="alerts",capability="http"}"#,
        );
        let sum: f64 = sum.and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
        assert!((sum - 0.060_02).abs() < 1e-9, "sum {sum} in\n{text}");
    }
}
