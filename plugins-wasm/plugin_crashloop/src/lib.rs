//! Warns about Pods with a container in `CrashLoopBackOff` or `OOMKilled`; silent for everything else.
//!
//! One WARN line per event lists every problem container (regular, init and ephemeral), e.g.
//! `Pod shop/web-1: container "sidecar" is in CrashLoopBackOff (restarts: 5)`. `DELETED` events and
//! other kinds are ignored without reading more than the event's head.

use std::borrow::Cow;
use std::fmt::Write;

use event_controller_guest::{export_plugin, Event, Outcome};
use serde::Deserialize;

/// The only part of a Pod this plugin reads.
#[derive(Deserialize)]
struct Pod<'a> {
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
    waiting: Option<Reason<'a>>,
    #[serde(borrow, default)]
    terminated: Option<Reason<'a>>,
}

#[derive(Deserialize)]
struct Reason<'a> {
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
}

impl ContainerState<'_> {
    fn waiting_reason(&self) -> Option<&str> {
        self.waiting.as_ref()?.reason.as_deref()
    }

    fn terminated_reason(&self) -> Option<&str> {
        self.terminated.as_ref()?.reason.as_deref()
    }
}

impl ContainerStatus<'_> {
    fn crash_looping(&self) -> bool {
        let state = self.state.as_ref();
        state.and_then(ContainerState::waiting_reason) == Some("CrashLoopBackOff")
    }

    fn oom_killed(&self) -> bool {
        [self.state.as_ref(), self.last_state.as_ref()]
            .into_iter()
            .flatten()
            .any(|state| state.terminated_reason() == Some("OOMKilled"))
    }
}

fn handle_event(event: &Event) -> Result<Outcome, String> {
    let head = event.head().map_err(|e| e.to_string())?;
    let is_core_pod = head.kind.as_deref() == Some("Pod")
        && matches!(head.api_version.as_deref(), None | Some("v1"));
    if !is_core_pod || head.event_type.as_deref() == Some("DELETED") {
        return Ok(Outcome::none());
    }
    let pod: Pod = event.object().map_err(|e| e.to_string())?;
    let Some(status) = pod.status else {
        return Ok(Outcome::none());
    };
    let groups = [
        ("init container", status.init_container_statuses),
        ("container", status.container_statuses),
        ("ephemeral container", status.ephemeral_container_statuses),
    ];
    let mut problems = String::new();
    for (what, statuses) in groups {
        for container in statuses.iter().flatten() {
            let (crash_looping, oom_killed) = (container.crash_looping(), container.oom_killed());
            if !crash_looping && !oom_killed {
                continue;
            }
            if !problems.is_empty() {
                problems.push_str("; ");
            }
            let _ = write!(problems, "{what} \"{}\" ", container.name);
            problems.push_str(match (crash_looping, oom_killed) {
                (true, true) => "is in CrashLoopBackOff and was OOMKilled",
                (true, false) => "is in CrashLoopBackOff",
                _ => "was OOMKilled",
            });
            let _ = write!(problems, " (restarts: {})", container.restart_count);
        }
    }
    if problems.is_empty() {
        return Ok(Outcome::none());
    }
    let name = head.name.as_deref().unwrap_or("<unnamed>");
    let message = match head.namespace.as_deref() {
        Some(namespace) => format!("Pod {namespace}/{name}: {problems}"),
        None => format!("Pod {name}: {problems}"),
    };
    Ok(Outcome::warn(message))
}

export_plugin!(handle_event);

#[cfg(test)]
mod tests {
    use super::*;
    use event_controller_guest::IntoOutcome;

    fn run(json: &str) -> Outcome {
        handle_event(&Event::new(json)).into_outcome()
    }

    /// The real watch stream in `testdata/pods.jsonl`: two Pods created, one goes Running, then
    /// its sidecar crash-loops; the other is OOMKilled and loops, then is deleted.
    #[test]
    fn real_pod_watch_stream() {
        let outcomes: Vec<Outcome> = include_str!("../testdata/pods.jsonl")
            .lines()
            .map(run)
            .collect();
        let worker = Outcome::warn(
            r#"Pod payments/ledger-worker-0: container "worker" is in CrashLoopBackOff and was OOMKilled (restarts: 3)"#,
        );
        assert_eq!(
            outcomes,
            [
                Outcome::none(), // ADDED
                Outcome::none(), // ADDED
                Outcome::none(), // Running
                Outcome::warn(
                    r#"Pod shop/web-7d4b9c6f5-x2k8p: container "metrics-sidecar" is in CrashLoopBackOff (restarts: 5)"#
                ),
                worker.clone(),
                worker,
                Outcome::none(), // DELETED
            ]
        );
    }

    #[test]
    fn lists_every_problem_container() {
        let outcome = run(
            r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"n"},"status":{
                "initContainerStatuses":[{"name":"setup","restartCount":1,"state":{"terminated":{"reason":"OOMKilled"}}}],
                "containerStatuses":[
                    {"name":"ok","restartCount":0,"state":{"running":{}}},
                    {"name":"app","restartCount":7,"state":{"waiting":{"reason":"CrashLoopBackOff"}},"lastState":{"terminated":{"reason":"Error"}}}],
                "ephemeralContainerStatuses":[{"name":"debug","state":{"running":{}},"lastState":{"terminated":{"reason":"OOMKilled"}}}]}}}"#,
        );
        assert_eq!(
            outcome,
            Outcome::warn(concat!(
                r#"Pod n/p: init container "setup" was OOMKilled (restarts: 1); "#,
                r#"container "app" is in CrashLoopBackOff (restarts: 7); "#,
                r#"ephemeral container "debug" was OOMKilled (restarts: 0)"#
            ))
        );
    }

    #[test]
    fn silent_for_healthy_pods_other_kinds_and_deletions() {
        let healthy = r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"n"},"status":{"containerStatuses":[{"name":"a","restartCount":0,"state":{"running":{}},"lastState":{}}]}}}"#;
        assert_eq!(run(healthy), Outcome::none());
        let no_status =
            r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"}}}"#;
        assert_eq!(run(no_status), Outcome::none());
        let null_lists = r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},"status":{"containerStatuses":null}}}"#;
        assert_eq!(run(null_lists), Outcome::none());
        let crash = r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"a","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}"#;
        let deleted = format!(r#"{{"type":"DELETED","object":{crash}}}"#);
        assert_eq!(run(&deleted), Outcome::none());
        let modified = format!(r#"{{"type":"MODIFIED","object":{crash}}}"#);
        assert_eq!(
            run(&modified),
            Outcome::warn(r#"Pod p: container "a" is in CrashLoopBackOff (restarts: 0)"#)
        );
        let deployment = modified.replace(r#""kind":"Pod""#, r#""kind":"Deployment""#);
        assert_eq!(run(&deployment), Outcome::none());
    }

    #[test]
    fn unreadable_pods_are_errors() {
        let outcome = run(
            r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},"status":{"containerStatuses":[{"restartCount":"x"}]}}}"#,
        );
        assert_eq!(
            outcome.level(),
            Some(event_controller_guest::Level::Error),
            "{outcome:?}"
        );
    }
}
