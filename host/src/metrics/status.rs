//! What runs: each plugin's origin, load, subscription, last failure, back-off and rejected
//! version, kept as things happen and read by `GET /plugins` and `event-controller status`.
//!
//! [`PluginStatuses`] is fed by the reloader (a version loaded, a version refused, a plugin
//! removed) and by the workers (a failed call, a back-off and its end). What the metrics already
//! count (calls, failures, queue depth, backlog, lag, pending retries) is read from them when a
//! report is made ([`super::Metrics::plugins_report`]), so the two never disagree. The one-shot
//! commands (`replay`) feed nothing from the reloader, and the workers' updates of plugins the
//! registry does not know are ignored: there it simply stays empty.
//!
//! The JSON shape (`{"plugins":[...]}`, one [`PluginStatus`] per plugin, by name) is documented
//! in docs/metrics.md ("What runs"); fields are only ever added.

use super::FailureKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest failure or load error message kept, in bytes (a trap's message can carry a long
/// backtrace).
const MAX_MESSAGE_BYTES: usize = 2048;

/// Where a plugin version came from: its source (a file path, or later a registry reference
/// `oci://...`), the sha256 of its bytes, and the registry's digest when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOrigin {
    /// The file path, or the registry reference.
    pub source: String,
    /// The sha256 of the module's bytes, in hex.
    pub sha256: String,
    /// The registry's manifest digest (`sha256:...`), for a plugin pulled from a registry.
    pub digest: Option<String>,
}

impl PluginOrigin {
    /// A plugin read from the file `path`, whose bytes hash to `sha256`.
    pub fn file(path: &Path, sha256: &str) -> PluginOrigin {
        PluginOrigin {
            source: path.display().to_string(),
            sha256: sha256.to_owned(),
            digest: None,
        }
    }
}

/// The whole answer of `GET /plugins`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginsReport {
    /// Every plugin running, or refused with no version running, by name.
    pub plugins: Vec<PluginStatus>,
}

/// How a plugin is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginState {
    /// Loaded and handed its events.
    Running,
    /// Failed too many times in a row: its events are skipped until `backoff.until`, then the
    /// next one is tried; one success ends the back-off.
    BackedOff,
    /// No version could be loaded (`load_error` says why); it gets no events.
    Failed,
}

impl PluginState {
    /// `running`, `backed-off` or `failed`, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Running => "running",
            PluginState::BackedOff => "backed-off",
            PluginState::Failed => "failed",
        }
    }
}

/// One plugin in `GET /plugins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginStatus {
    /// The plugin's name (its file name without `.wasm`).
    pub name: String,
    /// `running`, `backed-off` or `failed`.
    pub state: PluginState,
    /// Where the running version came from (for a `failed` plugin, the refused one).
    pub source: String,
    /// The sha256 of the running version's bytes (for a `failed` plugin, the refused one's).
    pub sha256: String,
    /// The registry digest of that version, if it came from a registry.
    #[serde(default)]
    pub digest: Option<String>,
    /// When the running version was loaded and how long that took; `null` when `failed`.
    #[serde(default)]
    pub loaded: Option<LoadTime>,
    /// Which events it sees, as the "plugin loaded" log line says; `null` when `failed`.
    #[serde(default)]
    pub subscription: Option<String>,
    /// Changes waiting for it (`event_controller_plugin_queue_depth`).
    #[serde(default)]
    pub queue_depth: i64,
    /// Objects with a change waiting for it (`event_controller_plugin_backlog_objects`).
    #[serde(default)]
    pub backlog_objects: i64,
    /// Age of the oldest change waiting for it (`event_controller_plugin_lag_seconds`).
    #[serde(default)]
    pub lag_seconds: f64,
    /// `handle_event` calls, failed ones included (`event_controller_plugin_calls_total`).
    #[serde(default)]
    pub calls: u64,
    /// Failed calls, every kind (`event_controller_plugin_failures_total`).
    #[serde(default)]
    pub failures: u64,
    /// The last failed call, of any version.
    #[serde(default)]
    pub last_failure: Option<LastFailure>,
    /// The back-off it is in, if any.
    #[serde(default)]
    pub backoff: Option<BackoffStatus>,
    /// Retries waiting for their time (`event_controller_plugin_pending_retries`).
    #[serde(default)]
    pub pending_retries: i64,
    /// Why the last version tried could not be loaded (the running version, if any, stays);
    /// `null` once a version loads.
    #[serde(default)]
    pub load_error: Option<LoadFailure>,
}

/// When a version was loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadTime {
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// When, in seconds since the Unix epoch.
    pub at_unix: f64,
    /// How long reading, compiling (or taking from the cache), checking and starting it took.
    pub duration_ms: f64,
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastFailure {
    /// The `kind` label of `event_controller_plugin_failures_total`: `trap`, `timeout`, ...
    pub kind: String,
    /// What the host logged about it.
    pub message: String,
    /// The event it failed on: `MODIFIED Pod shop/web`.
    pub event: String,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// When, in seconds since the Unix epoch.
    pub at_unix: f64,
}

/// A plugin backed off after failing too many times in a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackoffStatus {
    /// Its events are skipped until then (RFC 3339 in UTC); the next one after is tried.
    pub until: String,
    /// The same, in seconds since the Unix epoch.
    pub until_unix: f64,
    /// The length of this pause; it doubles with each further failure.
    pub delay_ms: u64,
    /// Failures in a row so far.
    pub consecutive_failures: u32,
}

/// A version that could not be loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadFailure {
    /// Where it came from.
    pub source: String,
    /// The sha256 of its bytes.
    pub sha256: String,
    /// Its registry digest, if it came from a registry.
    #[serde(default)]
    pub digest: Option<String>,
    /// Why it was refused.
    pub message: String,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// When, in seconds since the Unix epoch.
    pub at_unix: f64,
}

/// What is known of each plugin, by name.
#[derive(Debug, Default)]
pub struct PluginStatuses {
    plugins: Mutex<BTreeMap<String, Known>>,
}

/// What is known of one plugin.
#[derive(Debug, Default)]
struct Known {
    running: Option<Running>,
    last_failure: Option<LastFailure>,
    backoff: Option<BackoffStatus>,
    load_error: Option<(PluginOrigin, LoadFailure)>,
}

/// The running version.
#[derive(Debug)]
struct Running {
    origin: PluginOrigin,
    subscription: String,
    loaded: LoadTime,
}

impl PluginStatuses {
    /// Knows no plugin.
    pub fn new() -> PluginStatuses {
        PluginStatuses::default()
    }

    /// A version of `name` from `origin` was loaded in `took`, seeing what `subscription`
    /// describes: it runs (or takes over after the events queued for the one before). A load
    /// error of an earlier version is forgotten.
    pub fn loaded(&self, name: &str, origin: PluginOrigin, subscription: String, took: Duration) {
        let now = SystemTime::now();
        let mut plugins = self.lock();
        let known = plugins.entry(name.to_owned()).or_default();
        known.running = Some(Running {
            origin,
            subscription,
            loaded: LoadTime {
                at: rfc3339(now),
                at_unix: unix_seconds(now),
                duration_ms: took.as_secs_f64() * 1e3,
            },
        });
        known.load_error = None;
    }

    /// A version of `name` from `origin` could not be loaded, for `error`. The running version,
    /// if any, stays; without one the plugin is listed as `failed`.
    pub fn load_failed(&self, name: &str, origin: PluginOrigin, error: &str) {
        let now = SystemTime::now();
        let failure = LoadFailure {
            source: origin.source.clone(),
            sha256: origin.sha256.clone(),
            digest: origin.digest.clone(),
            message: bounded(error),
            at: rfc3339(now),
            at_unix: unix_seconds(now),
        };
        let mut plugins = self.lock();
        plugins.entry(name.to_owned()).or_default().load_error = Some((origin, failure));
    }

    /// `name` was unloaded (removed or disabled): it is no longer listed.
    pub fn removed(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Forgets every plugin not in `present` (for instance, one that failed to load and whose
    /// file is gone).
    pub fn retain(&self, present: &[String]) {
        self.lock().retain(|name, _| present.contains(name));
    }

    /// A call into `name` failed, of `kind`, on `event` (`MODIFIED Pod shop/web`), with
    /// `message`. Ignored for a plugin not known (not loaded through the reloader).
    pub fn call_failed(&self, name: &str, kind: FailureKind, event: String, message: &str) {
        let now = SystemTime::now();
        if let Some(known) = self.lock().get_mut(name) {
            known.last_failure = Some(LastFailure {
                kind: kind.as_str().to_owned(),
                message: bounded(message),
                event,
                at: rfc3339(now),
                at_unix: unix_seconds(now),
            });
        }
    }

    /// `name` failed `consecutive` times in a row and is backed off for `delay` from now.
    pub fn backed_off(&self, name: &str, delay: Duration, consecutive: u32) {
        let until = SystemTime::now()
            .checked_add(delay)
            .unwrap_or_else(SystemTime::now);
        if let Some(known) = self.lock().get_mut(name) {
            known.backoff = Some(BackoffStatus {
                until: rfc3339(until),
                until_unix: unix_seconds(until),
                delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                consecutive_failures: consecutive,
            });
        }
    }

    /// `name`'s back-off, if any, is over: a call succeeded, or a new version took over.
    pub fn recovered(&self, name: &str) {
        if let Some(known) = self.lock().get_mut(name) {
            known.backoff = None;
        }
    }

    /// Every plugin known, by name, with what this registry knows; the counts the metrics
    /// keep are left at zero ([`super::Metrics::plugins_report`] fills them in).
    pub fn snapshot(&self) -> Vec<PluginStatus> {
        self.lock()
            .iter()
            .filter_map(|(name, known)| known.status(name))
            .collect()
    }

    /// The map; a panic while it was held cannot leave it inconsistent, so poison is ignored.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Known>> {
        self.plugins.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Known {
    /// The plugin's status, the counts at zero; `None` for an entry with nothing to show.
    fn status(&self, name: &str) -> Option<PluginStatus> {
        let (origin, state) = match (&self.running, &self.load_error) {
            (Some(running), _) if self.backoff.is_some() => {
                (&running.origin, PluginState::BackedOff)
            }
            (Some(running), _) => (&running.origin, PluginState::Running),
            (None, Some((origin, _))) => (origin, PluginState::Failed),
            (None, None) => return None,
        };
        Some(PluginStatus {
            name: name.to_owned(),
            state,
            source: origin.source.clone(),
            sha256: origin.sha256.clone(),
            digest: origin.digest.clone(),
            loaded: self.running.as_ref().map(|r| r.loaded.clone()),
            subscription: self.running.as_ref().map(|r| r.subscription.clone()),
            queue_depth: 0,
            backlog_objects: 0,
            lag_seconds: 0.0,
            calls: 0,
            failures: 0,
            last_failure: self.last_failure.clone(),
            backoff: self.backoff.clone(),
            pending_retries: 0,
            load_error: self.load_error.as_ref().map(|(_, failure)| failure.clone()),
        })
    }
}

/// `message`, cut to [`MAX_MESSAGE_BYTES`] (at a character boundary, marked with `…`).
fn bounded(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_owned();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

/// Seconds since the Unix epoch, to the millisecond; 0 before it.
pub fn unix_seconds(time: SystemTime) -> f64 {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis())
        .unwrap_or_default();
    // Milliseconds since 1970 fit an f64 exactly for the next 280,000 years.
    millis as f64 / 1e3
}

/// `time` in RFC 3339, UTC, to the millisecond: `2026-11-26T22:11:17.143Z` (the epoch for a
/// time before it).
pub fn rfc3339(time: SystemTime) -> String {
    let timestamp = jiff::Timestamp::try_from(time.max(UNIX_EPOCH)).unwrap_or_default();
    format!("{timestamp:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(sha: &str) -> PluginOrigin {
        PluginOrigin::file(Path::new("/plugins/p.wasm"), sha)
    }

    fn only(statuses: &PluginStatuses) -> PluginStatus {
        let mut all = statuses.snapshot();
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    #[test]
    fn a_loaded_plugin_runs_with_its_origin_and_subscription() {
        let statuses = PluginStatuses::new();
        let before = unix_seconds(SystemTime::now());
        let took = Duration::from_micros(12_500);
        statuses.loaded("p", origin("aa"), "all events".into(), took);
        let status = only(&statuses);
        assert_eq!(status.name, "p");
        assert_eq!(status.state, PluginState::Running);
        assert_eq!(status.source, "/plugins/p.wasm");
        assert_eq!((status.sha256.as_str(), status.digest), ("aa", None));
        assert_eq!(status.subscription.as_deref(), Some("all events"));
        let loaded = status.loaded.expect("a load time");
        assert!((loaded.duration_ms - 12.5).abs() < 1e-9, "{loaded:?}");
        assert!(loaded.at_unix >= before && loaded.at_unix < before + 60.0);
        assert_eq!(
            loaded.at,
            rfc3339(UNIX_EPOCH + Duration::from_millis((loaded.at_unix * 1e3).round() as u64))
        );
        assert!(status.last_failure.is_none() && status.backoff.is_none());
        assert!(status.load_error.is_none());
    }

    #[test]
    fn failures_and_backoff_show_until_a_success() {
        let statuses = PluginStatuses::new();
        statuses.loaded("p", origin("aa"), "all".into(), Duration::ZERO);
        let event = "MODIFIED Pod shop/crash".to_owned();
        statuses.call_failed("p", FailureKind::Trap, event, "trapped: boom");
        assert_eq!(only(&statuses).state, PluginState::Running);
        let failure = only(&statuses).last_failure.expect("a failure");
        assert_eq!(failure.kind, "trap");
        assert_eq!(failure.message, "trapped: boom");
        assert_eq!(failure.event, "MODIFIED Pod shop/crash");

        let now = unix_seconds(SystemTime::now());
        statuses.backed_off("p", Duration::from_secs(2), 3);
        let status = only(&statuses);
        assert_eq!(status.state, PluginState::BackedOff);
        let backoff = status.backoff.expect("backed off");
        assert_eq!((backoff.delay_ms, backoff.consecutive_failures), (2000, 3));
        assert!(backoff.until_unix >= now + 2.0 && backoff.until_unix < now + 60.0);

        statuses.recovered("p");
        let status = only(&statuses);
        assert_eq!(status.state, PluginState::Running);
        assert!(status.backoff.is_none());
        assert!(status.last_failure.is_some(), "the last failure stays");
    }

    #[test]
    fn a_refused_version_is_shown_beside_the_running_one_until_a_new_one_loads() {
        let statuses = PluginStatuses::new();
        statuses.loaded("p", origin("old"), "all".into(), Duration::ZERO);
        statuses.load_failed("p", origin("new"), "not a WebAssembly module");
        let status = only(&statuses);
        assert_eq!(status.state, PluginState::Running);
        assert_eq!(status.sha256, "old", "the running version");
        let error = status.load_error.expect("a load error");
        assert_eq!(error.sha256, "new");
        assert_eq!(error.message, "not a WebAssembly module");
        statuses.loaded("p", origin("newer"), "all".into(), Duration::ZERO);
        let status = only(&statuses);
        assert_eq!(status.sha256, "newer");
        assert!(status.load_error.is_none());
    }

    #[test]
    fn a_plugin_that_never_loaded_is_failed_and_removal_forgets_it() {
        let statuses = PluginStatuses::new();
        statuses.load_failed("broken", origin("bb"), "missing export handle_event");
        // Failures and back-offs of unknown plugins (replay) are ignored.
        statuses.call_failed("ghost", FailureKind::Trap, String::new(), "x");
        statuses.backed_off("ghost", Duration::from_secs(1), 3);
        let status = only(&statuses);
        assert_eq!(
            (status.name.as_str(), status.state),
            ("broken", PluginState::Failed)
        );
        assert_eq!(status.sha256, "bb");
        assert!(status.loaded.is_none() && status.subscription.is_none());

        statuses.loaded("p", origin("aa"), "all".into(), Duration::ZERO);
        statuses.retain(&["p".to_owned()]);
        assert_eq!(only(&statuses).name, "p");
        statuses.removed("p");
        assert!(statuses.snapshot().is_empty());
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }

    #[test]
    fn the_json_shape_is_stable() {
        let statuses = PluginStatuses::new();
        statuses.loaded("p", origin("aa"), "all".into(), Duration::ZERO);
        let report = PluginsReport {
            plugins: statuses.snapshot(),
        };
        let json = serde_json::to_value(&report).expect("serializable");
        let plugin = &json["plugins"][0];
        let mut keys: Vec<&str> = plugin
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "backlog_objects",
                "backoff",
                "calls",
                "digest",
                "failures",
                "lag_seconds",
                "last_failure",
                "load_error",
                "loaded",
                "name",
                "pending_retries",
                "queue_depth",
                "sha256",
                "source",
                "state",
                "subscription",
            ]
        );
        assert_eq!(plugin["state"], "running");
        let parsed: PluginsReport = serde_json::from_value(json).expect("reads back");
        assert_eq!(parsed, report);
        for state in [
            PluginState::Running,
            PluginState::BackedOff,
            PluginState::Failed,
        ] {
            let text = serde_json::to_string(&state).expect("serializable");
            assert_eq!(text, format!("\"{}\"", state.as_str()));
        }
    }

    #[test]
    fn rfc3339_dates() {
        let at = |secs: u64, millis: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.789.
        assert_eq!(at(951_827_696, 789), "2000-02-29T12:34:56.789Z");
        assert_eq!(at(1_709_251_199, 0), "2024-02-29T23:59:59.000Z");
        assert_eq!(at(1_735_689_600, 5), "2025-01-01T00:00:00.005Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_secs(1)), at(0, 0));
    }
}
