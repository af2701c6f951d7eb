//! Which objects are in trouble, as alerts: the only parts of Pods, Jobs, Nodes and Events this
//! plugin reads, and the rules that turn them into label sets.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::settings::Settings;
use crate::time::{self, Millis};

/// One alert as the rules see it, before times are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Its identity in Alertmanager.
    pub labels: BTreeMap<String, String>,
    /// `summary`, and `description` where the object gives more.
    pub annotations: BTreeMap<String, String>,
    /// When the trouble started, when the object says so; otherwise the first time the plugin
    /// saw it.
    pub starts_at: Option<Millis>,
    /// For the outcome line, e.g. `PodCrashLooping shop/web-1/metrics-sidecar`.
    pub short: String,
}

impl Alert {
    fn new(alertname: &str, severity: &str, short: String) -> Alert {
        let mut alert = Alert {
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            starts_at: None,
            short,
        };
        alert
            .label("alertname", alertname)
            .label("severity", severity);
        alert
    }

    /// Sets a label; empty values are left out (Prometheus treats them as absent).
    fn label(&mut self, name: &str, value: &str) -> &mut Alert {
        if !value.is_empty() {
            self.labels.insert(name.to_owned(), value.to_owned());
        }
        self
    }

    fn annotation(&mut self, name: &str, value: &str) -> &mut Alert {
        if !value.is_empty() {
            self.annotations.insert(name.to_owned(), value.to_owned());
        }
        self
    }
}

type Text<'a> = Option<Cow<'a, str>>;

fn text<'b>(value: &'b Text<'_>) -> &'b str {
    value.as_deref().unwrap_or_default()
}

// --- Pods ---------------------------------------------------------------------------------------

/// The only part of a Pod this plugin reads.
#[derive(Deserialize)]
pub struct Pod<'a> {
    #[serde(borrow, default)]
    status: Option<PodStatus<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStatus<'a> {
    #[serde(borrow, default)]
    init_container_statuses: Option<Vec<ContainerStatus<'a>>>,
    #[serde(borrow, default)]
    container_statuses: Option<Vec<ContainerStatus<'a>>>,
    #[serde(borrow, default)]
    ephemeral_container_statuses: Option<Vec<ContainerStatus<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerStatus<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    restart_count: i64,
    #[serde(borrow, default)]
    state: Option<ContainerState<'a>>,
    #[serde(borrow, default)]
    last_state: Option<ContainerState<'a>>,
}

#[derive(Deserialize)]
struct ContainerState<'a> {
    #[serde(borrow, default)]
    waiting: Option<StateDetail<'a>>,
    #[serde(default)]
    running: Option<IgnoredAny>,
    #[serde(borrow, default)]
    terminated: Option<StateDetail<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateDetail<'a> {
    #[serde(borrow, default)]
    reason: Text<'a>,
    #[serde(borrow, default)]
    message: Text<'a>,
    #[serde(borrow, default)]
    finished_at: Text<'a>,
}

impl<'a> ContainerState<'a> {
    fn waiting_with(&self, reason: &str) -> Option<&StateDetail<'a>> {
        self.waiting
            .as_ref()
            .filter(|w| w.reason.as_deref() == Some(reason))
    }

    fn terminated_with(&self, reason: &str) -> Option<&StateDetail<'a>> {
        self.terminated
            .as_ref()
            .filter(|t| t.reason.as_deref() == Some(reason))
    }
}

impl ContainerStatus<'_> {
    /// `state.waiting.reason` is `CrashLoopBackOff`: the back-off message, if any.
    fn crash_looping(&self) -> Option<&str> {
        let waiting = self.state.as_ref()?.waiting_with("CrashLoopBackOff")?;
        Some(text(&waiting.message))
    }

    /// OOMKilled now (`state.terminated`), or last time (`lastState.terminated`) while the
    /// container is not running again, or was killed less than `recent_ms` ago. A container
    /// killed once and running fine since stops alerting once that window has passed.
    fn oom_killed(&self, now: Millis, recent_ms: i64) -> bool {
        let state = self.state.as_ref();
        if state.and_then(|s| s.terminated_with("OOMKilled")).is_some() {
            return true;
        }
        let Some(last) = self
            .last_state
            .as_ref()
            .and_then(|s| s.terminated_with("OOMKilled"))
        else {
            return false;
        };
        let running = state.is_some_and(|s| s.running.is_some());
        let recent = time::parse(text(&last.finished_at)).is_some_and(|at| at + recent_ms > now);
        !running || recent
    }
}

/// `PodCrashLooping` (warning) and `PodOOMKilled` (critical) for each container of the Pod.
pub fn pod_alerts(
    pod: &Pod<'_>,
    namespace: &str,
    name: &str,
    settings: &Settings,
    now: Millis,
) -> Vec<Alert> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    let groups = [
        ("init container", &status.init_container_statuses),
        ("container", &status.container_statuses),
        ("ephemeral container", &status.ephemeral_container_statuses),
    ];
    let mut alerts = Vec::new();
    for (what, statuses) in groups {
        for container in statuses.iter().flatten() {
            let c = &container.name;
            let restarts = container.restart_count;
            let pod_alert = |alertname: &str, severity: &str, reason: &str, summary: String| {
                let mut alert = Alert::new(
                    alertname,
                    severity,
                    format!("{alertname} {namespace}/{name}/{c}"),
                );
                alert
                    .label("namespace", namespace)
                    .label("pod", name)
                    .label("container", c)
                    .label("reason", reason)
                    .annotation("summary", &summary);
                alert
            };
            if let Some(message) = container.crash_looping() {
                let summary = format!(
                    "{what} {c} of Pod {namespace}/{name} is in CrashLoopBackOff (restarts: {restarts})"
                );
                let mut alert = pod_alert(
                    "PodCrashLooping",
                    "warning",
                    "CrashLoopBackOff",
                    capital(&summary),
                );
                alert.annotation("description", message);
                alerts.push(alert);
            }
            if container.oom_killed(now, settings.resolve_after_ms) {
                let summary = format!(
                    "{what} {c} of Pod {namespace}/{name} was OOMKilled (restarts: {restarts})"
                );
                alerts.push(pod_alert(
                    "PodOOMKilled",
                    "critical",
                    "OOMKilled",
                    capital(&summary),
                ));
            }
        }
    }
    alerts
}

fn capital(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

// --- Jobs and Nodes -----------------------------------------------------------------------------

/// The conditions of a Job's or a Node's status.
#[derive(Deserialize)]
pub struct WithConditions<'a> {
    #[serde(borrow, default)]
    status: Option<ConditionsStatus<'a>>,
}

#[derive(Deserialize)]
struct ConditionsStatus<'a> {
    #[serde(borrow, default)]
    conditions: Option<Vec<Condition<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Condition<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    reason: Text<'a>,
    #[serde(borrow, default)]
    message: Text<'a>,
    #[serde(borrow, default)]
    last_transition_time: Text<'a>,
}

impl<'a> WithConditions<'a> {
    fn condition(&self, kind: &str) -> Option<&Condition<'a>> {
        self.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.kind == kind)
    }
}

/// `JobFailed` (critical) when the Job has the condition `Failed` with status `True`.
pub fn job_alerts(job: &WithConditions<'_>, namespace: &str, name: &str) -> Vec<Alert> {
    let Some(failed) = job.condition("Failed").filter(|c| c.status == "True") else {
        return Vec::new();
    };
    let reason = text(&failed.reason);
    let mut summary = format!("Job {namespace}/{name} failed");
    for detail in [reason, text(&failed.message)] {
        if !detail.is_empty() {
            summary.push_str(": ");
            summary.push_str(detail);
        }
    }
    let mut alert = Alert::new(
        "JobFailed",
        "critical",
        format!("JobFailed {namespace}/{name}"),
    );
    alert
        .label("namespace", namespace)
        .label("job_name", name)
        .label("reason", reason)
        .annotation("summary", &summary);
    alert.starts_at = time::parse(text(&failed.last_transition_time));
    vec![alert]
}

/// `NodeNotReady` (critical) when the Node's `Ready` condition is not `True`.
pub fn node_alerts(node: &WithConditions<'_>, name: &str) -> Vec<Alert> {
    let Some(ready) = node.condition("Ready").filter(|c| c.status != "True") else {
        return Vec::new();
    };
    let reason = text(&ready.reason);
    let mut summary = format!("Node {name} is not Ready (status {})", ready.status);
    for detail in [reason, text(&ready.message)] {
        if !detail.is_empty() {
            summary.push_str(": ");
            summary.push_str(detail);
        }
    }
    let mut alert = Alert::new("NodeNotReady", "critical", format!("NodeNotReady {name}"));
    alert
        .label("node", name)
        .label("reason", reason)
        .annotation("summary", &summary);
    alert.starts_at = time::parse(text(&ready.last_transition_time));
    vec![alert]
}

// --- Events -------------------------------------------------------------------------------------

/// A `v1` Event, or an `events.k8s.io/v1` one (whose `note` and `regarding` are read as
/// `message` and `involvedObject`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeEvent<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow, default)]
    reason: Text<'a>,
    #[serde(borrow, default, alias = "note")]
    message: Text<'a>,
    #[serde(borrow, default, alias = "regarding")]
    involved_object: Option<ObjectReference<'a>>,
    #[serde(borrow, default, alias = "deprecatedFirstTimestamp")]
    first_timestamp: Text<'a>,
    #[serde(borrow, default, alias = "deprecatedLastTimestamp")]
    last_timestamp: Text<'a>,
    #[serde(borrow, default)]
    event_time: Text<'a>,
    #[serde(borrow, default)]
    series: Option<Series<'a>>,
    #[serde(borrow, default)]
    metadata: Option<EventMetadata<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectReference<'a> {
    #[serde(borrow, default)]
    kind: Text<'a>,
    #[serde(borrow, default)]
    namespace: Text<'a>,
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(borrow, default)]
    field_path: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Series<'a> {
    #[serde(borrow, default)]
    last_observed_time: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventMetadata<'a> {
    #[serde(borrow, default)]
    creation_timestamp: Text<'a>,
}

impl KubeEvent<'_> {
    /// The last time it happened: `lastTimestamp`, the series' last observation, `eventTime`,
    /// or when the Event object was created.
    fn last_seen(&self) -> Option<Millis> {
        let series = self.series.as_ref().map(|s| &s.last_observed_time);
        let created = self.metadata.as_ref().map(|m| &m.creation_timestamp);
        [
            Some(&self.last_timestamp),
            series,
            Some(&self.event_time),
            created,
        ]
        .into_iter()
        .flatten()
        .find_map(|t| time::parse(text(t)))
    }

    /// The first time it happened: `firstTimestamp` or `eventTime`, else the last time.
    fn first_seen(&self) -> Option<Millis> {
        time::parse(text(&self.first_timestamp))
            .or_else(|| time::parse(text(&self.event_time)))
            .or_else(|| self.last_seen())
    }
}

/// `KubeWarningEvent` (severity `severity_default`) for a Warning Event whose reason is
/// configured, unless it last happened more than `resolve_after_seconds` ago (old Events the
/// initial list delivers at start-up would otherwise fire again).
pub fn event_alert(event: &KubeEvent<'_>, settings: &Settings, now: Millis) -> Option<Alert> {
    if event.kind.as_deref() != Some("Warning") {
        return None;
    }
    let reason = text(&event.reason);
    if reason.is_empty() || !settings.alerts_on_reason(reason) {
        return None;
    }
    if event
        .last_seen()
        .is_some_and(|at| at + settings.resolve_after_ms < now)
    {
        return None;
    }
    let empty = ObjectReference {
        kind: None,
        namespace: None,
        name: None,
        field_path: None,
    };
    let object = event.involved_object.as_ref().unwrap_or(&empty);
    let (kind, namespace, name) = (
        text(&object.kind),
        text(&object.namespace),
        text(&object.name),
    );
    let container = container_of(text(&object.field_path));
    let mut target = String::new();
    for part in [namespace, name, container] {
        if !part.is_empty() {
            if !target.is_empty() {
                target.push('/');
            }
            target.push_str(part);
        }
    }
    let mut alert = Alert::new(
        "KubeWarningEvent",
        &settings.severity_default,
        format!("KubeWarningEvent {reason} {kind} {target}"),
    );
    let name_label = match kind {
        "Pod" => "pod",
        "Node" => "node",
        "Job" => "job_name",
        _ => "object",
    };
    alert
        .label("namespace", namespace)
        .label("kind", kind)
        .label(name_label, name)
        .label("container", container)
        .label("reason", reason)
        .annotation("summary", text(&event.message));
    alert.starts_at = event.first_seen();
    Some(alert)
}

/// `NAME` from a field path `spec.containers{NAME}` (also init and ephemeral containers).
fn container_of(field_path: &str) -> &str {
    [
        "spec.containers{",
        "spec.initContainers{",
        "spec.ephemeralContainers{",
    ]
    .iter()
    .find_map(|prefix| field_path.strip_prefix(prefix)?.strip_suffix('}'))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_from_field_path() {
        assert_eq!(
            container_of("spec.containers{metrics-sidecar}"),
            "metrics-sidecar"
        );
        assert_eq!(container_of("spec.initContainers{setup}"), "setup");
        assert_eq!(container_of("spec.ephemeralContainers{dbg}"), "dbg");
        assert_eq!(container_of(""), "");
        assert_eq!(container_of("spec.containers{x"), "");
        assert_eq!(container_of("metadata"), "");
    }

    #[test]
    fn capitals() {
        assert_eq!(capital("init container x"), "Init container x");
        assert_eq!(capital(""), "");
    }
}
