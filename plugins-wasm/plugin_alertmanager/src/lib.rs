//! Turns cluster trouble into Prometheus Alertmanager alerts, sent with
//! `POST {url}/api/v2/alerts` through the host's `http_request` capability (docs/ABI.md §6).
//!
//! # What fires
//!
//! | alert | when | labels besides `alertname` and `severity` | severity |
//! |---|---|---|---|
//! | `PodCrashLooping` | a container's `state.waiting.reason` is `CrashLoopBackOff` | `namespace`, `pod`, `container`, `reason` | `warning` |
//! | `PodOOMKilled` | a container's `state.terminated.reason` is `OOMKilled`, or its `lastState.terminated.reason` while it is not running again or was killed less than `resolve_after_seconds` ago | `namespace`, `pod`, `container`, `reason` | `critical` |
//! | `JobFailed` | a `batch/v1` Job has the condition `Failed` = `True` | `namespace`, `job_name`, `reason` | `critical` |
//! | `NodeNotReady` | a Node's `Ready` condition is not `True` | `node`, `reason` | `critical` |
//! | `KubeWarningEvent` | an Event of type `Warning` with one of `warning_event_reasons` | `namespace`, `kind`, `pod`/`node`/`job_name`/`object`, `container` (from the field path), `reason` | `severity_default` |
//!
//! Annotations: `summary` (for Events, their message) and, for crash loops, `description` (the
//! kubelet's back-off message). The config's `labels` are added to every alert. Empty label values
//! are left out. (`job_name` rather than `job`: in Prometheus, `job` names the scrape job.)
//!
//! # Times and resolution
//!
//! Every firing alert is sent with `endsAt` = now + `resolve_after_seconds`, and sent again on
//! every event of its object while the condition holds, so Alertmanager keeps it active.
//! `startsAt` is when the object says the trouble started (a condition's
//! `lastTransitionTime`, an Event's first timestamp), else when this instance first saw it.
//!
//! - **Pods, Jobs, Nodes.** When an event of the object shows the condition cleared, or the
//!   object is `DELETED`, the alert is sent again with `endsAt` = now: resolved. To know what to
//!   resolve, the plugin keeps the alerts firing per object `uid` (label sets and `startsAt`).
//! - **Events** are resolved by time only: their alerts expire at their `endsAt`. An Event last
//!   seen more than `resolve_after_seconds` ago raises nothing (the initial list at start-up
//!   delivers old Events).
//! - **The state is per instance.** A restart (or a fresh instance after a trap) starts empty
//!   and re-derives the firing alerts from the initial list, which the controller delivers as
//!   `ADDED`. Alerts of objects that recovered or disappeared while it was down are not resolved
//!   explicitly: they expire at their `endsAt`.
//! - **Failures.** An alert counts as sent only once Alertmanager accepted the `POST`. When a
//!   `POST` fails for a reason that may pass (see *Outcome*), the plugin asks the host to deliver
//!   the event again after its back-off (1 s, 2 s, 4 s... at most 5 min; a newer event of the
//!   object replaces the retry), and keeps what it needs for it: the alerts still to resolve
//!   (also a `DELETED` object's) and the `startsAt` of alerts not sent yet. An alert that never
//!   reached Alertmanager is not resolved when its condition clears: there is nothing to resolve.
//!
//! # Config
//!
//! ```toml
//! [plugins.plugin_alertmanager.config]
//! url = "http://alertmanager.monitoring:9093"   # required
//! severity_default = "warning"                   # severity of KubeWarningEvent alerts
//! resolve_after_seconds = 300                    # endsAt of firing alerts: now + this
//! warning_event_reasons = ["BackOff", "FailedScheduling"]   # default: settings::DEFAULT_WARNING_REASONS; ["*"]: all
//! generator_url = "https://console.example/"     # optional generatorURL of every alert
//! [plugins.plugin_alertmanager.config.labels]    # optional labels on every alert
//! cluster = "prod"
//!
//! [plugins.plugin_alertmanager.capabilities.http]
//! allow = ["http://alertmanager.monitoring:9093/api/v2/"]
//! ```
//!
//! Without `url`, `init` refuses to start and says why.
//!
//! # Outcome
//!
//! One INFO line per event that sent something, e.g.
//! `alertmanager: 1 firing, 0 resolved (PodCrashLooping shop/web-1/metrics-sidecar)`; nothing when
//! nothing was sent. A failed `POST` says why and what was not delivered:
//!
//! - WARN, and a retry of the event (`Outcome::with_retry`), when the failure may pass: no
//!   answer (refused connection, timeout, reset), or an answer 5xx, 429 or 408, e.g.
//!   `alertmanager: POST http://am:9093/api/v2/alerts failed: io: Connection refused (os error
//!   111); not delivered, will retry: 1 firing, 0 resolved (...)`;
//! - ERROR, and no retry, when retrying cannot help: the host denied the request (no grant),
//!   refused it (a secret header it cannot read), Alertmanager answered another 4xx (the config
//!   or the alerts need fixing), or the host's answer was unreadable.
//!
//! The module subscribes to `pods`, `events`, `jobs.batch` and `nodes` by default (its
//! `event-controller.subscribe` section). It is built for `wasm32-wasip1` for WASI's clock.

mod rules;
mod settings;
mod time;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};

use event_controller_guest::http::{self, Request};
use event_controller_guest::{export_plugin, Config, Event, Outcome};
use serde::Serialize;

use crate::rules::Alert;
pub use crate::settings::Settings;
use crate::time::Millis;

/// The default subscription (docs/ABI.md §6); the operator's `[plugins.NAME.subscribe]`
/// overrides it key by key.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
const SUBSCRIPTION: &[u8; 52] = br#"{"resources":["pods","events","jobs.batch","nodes"]}"#;

/// [`SUBSCRIPTION`] as the module's `event-controller.subscribe` custom section.
#[cfg(target_arch = "wasm32")]
#[used]
#[link_section = "event-controller.subscribe"]
static SUBSCRIBE: [u8; SUBSCRIPTION.len()] = *SUBSCRIPTION;

/// A firing alert as remembered between events.
#[derive(Debug, Clone)]
struct Firing {
    alert: Alert,
    starts_at: Millis,
    /// Whether Alertmanager accepted it as firing (so it has something to resolve).
    sent: bool,
}

/// The plugin: its settings and the alerts firing per object.
pub struct Plugin {
    settings: Settings,
    /// Per object (its `uid`, or `kind/namespace/name` without one), its firing alerts: those
    /// Alertmanager holds as firing, and those not delivered yet or not resolved yet because a
    /// `POST` failed.
    firing: BTreeMap<String, Vec<Firing>>,
}

/// One alert as Alertmanager's API v2 takes it (`postableAlert`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Postable<'a> {
    labels: BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    generator_url: Option<&'a str>,
}

/// What the object's event means for its alerts.
enum Object {
    /// A Pod, Job or Node: its alerts now (none once deleted), replacing the previous ones
    /// (`key` identifies it).
    Tracked { key: String, alerts: Vec<Alert> },
    /// A Warning Event: a firing alert that expires by itself.
    Expiring(Alert),
    /// Nothing to do.
    Ignored,
}

impl Plugin {
    /// A plugin with `settings` and no alerts firing.
    pub fn new(settings: Settings) -> Plugin {
        Plugin {
            settings,
            firing: BTreeMap::new(),
        }
    }

    /// Handles one watch event at time `now`: works out the alerts, sends them, says what it
    /// sent.
    pub fn handle(&mut self, event: &Event, now: Millis) -> Outcome {
        match self.read(event, now) {
            Ok(Object::Ignored) => Outcome::none(),
            Ok(Object::Expiring(alert)) => {
                let starts_at = alert.starts_at.unwrap_or(now).min(now);
                let firing = [Firing {
                    alert,
                    starts_at,
                    sent: false,
                }];
                self.post(&firing, &[], now).0
            }
            Ok(Object::Tracked { key, alerts }) => self.track(key, alerts, now),
            Err(error) => Outcome::error(format!("alertmanager: {error}")),
        }
    }

    fn read(&self, event: &Event, now: Millis) -> Result<Object, String> {
        let head = event.head().map_err(|e| e.to_string())?;
        let kind = head.kind.as_deref().unwrap_or_default();
        let api_version = head.api_version.as_deref();
        let deleted = head.event_type.as_deref() == Some("DELETED");
        let namespace = head.namespace.as_deref().unwrap_or_default();
        let name = head.name.as_deref().unwrap_or_default();
        let key = match head.uid.as_deref() {
            Some(uid) if !uid.is_empty() => uid.to_owned(),
            _ => format!("{kind}/{namespace}/{name}"),
        };
        let core = matches!(api_version, None | Some("v1"));
        let tracked = |alerts| Object::Tracked {
            key: key.clone(),
            alerts,
        };
        let object = match kind {
            "Pod" if core => tracked(if deleted {
                Vec::new()
            } else {
                let pod = event.object().map_err(|e| e.to_string())?;
                rules::pod_alerts(&pod, namespace, name, &self.settings, now)
            }),
            "Job" if matches!(api_version, None | Some("batch/v1")) => tracked(if deleted {
                Vec::new()
            } else {
                let job = event.object().map_err(|e| e.to_string())?;
                rules::job_alerts(&job, namespace, name)
            }),
            "Node" if core => tracked(if deleted {
                Vec::new()
            } else {
                let node = event.object().map_err(|e| e.to_string())?;
                rules::node_alerts(&node, name)
            }),
            "Event" if core || api_version == Some("events.k8s.io/v1") => {
                if deleted {
                    return Ok(Object::Ignored);
                }
                let kube_event = event.object().map_err(|e| e.to_string())?;
                match rules::event_alert(&kube_event, &self.settings, now) {
                    Some(alert) => Object::Expiring(alert),
                    None => Object::Ignored,
                }
            }
            _ => Object::Ignored,
        };
        Ok(object)
    }

    /// Sends the object's alerts as firing and the ones that stopped as resolved, and
    /// remembers what fires. When the `POST` fails, it remembers what the retry needs instead.
    fn track(&mut self, key: String, alerts: Vec<Alert>, now: Millis) -> Outcome {
        let previous = self.firing.remove(&key).unwrap_or_default();
        let mut firing: Vec<Firing> = alerts
            .into_iter()
            .map(|alert| {
                let before = previous.iter().find(|p| p.alert.labels == alert.labels);
                let starts_at = before
                    .map(|p| p.starts_at)
                    .or(alert.starts_at)
                    .unwrap_or(now)
                    .min(now);
                Firing {
                    alert,
                    starts_at,
                    sent: before.is_some_and(|p| p.sent),
                }
            })
            .collect();
        // Only what Alertmanager holds needs resolving; an alert it never got is forgotten.
        let resolved: Vec<Firing> = previous
            .into_iter()
            .filter(|p| p.sent && !firing.iter().any(|f| f.alert.labels == p.alert.labels))
            .collect();
        if firing.is_empty() && resolved.is_empty() {
            return Outcome::none();
        }
        let (outcome, sent) = self.post(&firing, &resolved, now);
        if sent {
            for f in &mut firing {
                f.sent = true;
            }
        } else {
            // The retry (or the next event of the object) resolves them, even once deleted.
            firing.extend(resolved);
        }
        if !firing.is_empty() {
            self.firing.insert(key, firing);
        }
        outcome
    }

    /// `POST`s the alerts; the outcome line and whether Alertmanager took them. A failure that
    /// may pass asks for a retry of the event.
    fn post(&self, firing: &[Firing], resolved: &[Firing], now: Millis) -> (Outcome, bool) {
        let body = self.body(firing, resolved, now);
        let mut summary = format!("{} firing, {} resolved (", firing.len(), resolved.len());
        let shorts = |list: &[Firing]| -> Vec<String> {
            list.iter().map(|f| f.alert.short.clone()).collect()
        };
        summary.push_str(&shorts(firing).join(", "));
        if !resolved.is_empty() {
            if !firing.is_empty() {
                summary.push_str("; ");
            }
            let _ = write!(summary, "resolved: {}", shorts(resolved).join(", "));
        }
        summary.push(')');
        let endpoint = self.settings.alerts_endpoint();
        let request = match Request::post(&endpoint).json_body(&body) {
            Ok(request) => request,
            Err(error) => return (Outcome::error(format!("alertmanager: {error}")), false),
        };
        let (failure, transient) = match http::send(&request) {
            Ok(response) if response.is_success() => {
                return (Outcome::info(format!("alertmanager: {summary}")), true)
            }
            Ok(response) => {
                let answer = short_text(&response.body);
                let failure = format!(
                    "answered {}{}{answer}",
                    response.status,
                    if answer.is_empty() { "" } else { ": " },
                );
                (failure, response.is_transient())
            }
            Err(error) => match error.http_error() {
                Some(reason) => (format!("failed: {reason}"), error.is_transient()),
                // The host's answer cannot be read: a bug, not a passing failure.
                None => (format!("failed: {error}"), false),
            },
        };
        let outcome = if transient {
            Outcome::warn(format!(
                "alertmanager: POST {endpoint} {failure}; not delivered, will retry: {summary}"
            ))
            .with_retry()
        } else {
            Outcome::error(format!(
                "alertmanager: POST {endpoint} {failure}; not delivered: {summary}"
            ))
        };
        (outcome, false)
    }

    /// The JSON array Alertmanager takes: firing alerts end at now + `resolve_after`, resolved
    /// ones at now.
    fn body<'a>(
        &'a self,
        firing: &'a [Firing],
        resolved: &'a [Firing],
        now: Millis,
    ) -> Vec<Postable<'a>> {
        let until = now.saturating_add(self.settings.resolve_after_ms);
        let firing = firing.iter().map(|f| (f, until));
        let resolved = resolved.iter().map(|f| (f, now));
        firing
            .chain(resolved)
            .map(|(f, ends_at)| {
                // The config's labels, under the alert's own.
                let mut labels = self.settings.labels.clone();
                labels.extend(f.alert.labels.clone());
                Postable {
                    labels,
                    annotations: &f.alert.annotations,
                    starts_at: time::format(f.starts_at.min(ends_at)),
                    ends_at: time::format(ends_at),
                    generator_url: self.settings.generator_url.as_deref(),
                }
            })
            .collect()
    }
}

/// The first line of `text`, at most 300 characters.
fn short_text(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

static PLUGIN: Mutex<Option<Plugin>> = Mutex::new(None);

fn init(config: Config) -> Result<(), String> {
    let settings = Settings::from_json(config.raw())?;
    *PLUGIN.lock().unwrap_or_else(PoisonError::into_inner) = Some(Plugin::new(settings));
    Ok(())
}

fn handle_event(event: &Event) -> Outcome {
    let mut plugin = PLUGIN.lock().unwrap_or_else(PoisonError::into_inner);
    match plugin.as_mut() {
        Some(plugin) => plugin.handle(event, time::now()),
        None => Outcome::error("alertmanager: not initialized (init did not run)"),
    }
}

export_plugin!(handle_event, init = init);

#[cfg(test)]
mod tests;
