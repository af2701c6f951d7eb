//! Native tests on recorded watch events, with the SDK's mock HTTP transport standing in for
//! the host: the exact requests sent, resolution, failures.

use std::cell::RefCell;
use std::rc::Rc;

use event_controller_guest::http::{mock, Request};
use event_controller_guest::{Event, Level, Outcome, Retry};
use serde_json::{json, Value};

use super::*;

const PODS: &str = include_str!("../../plugin_crashloop/testdata/pods.jsonl");
const EVENTS: &str = include_str!("../../../tests/data/watch/events.jsonl");
const URL: &str = "http://127.0.0.1:9093/api/v2/alerts";

fn at(text: &str) -> Millis {
    time::parse(text).expect("a valid time")
}

/// A plugin whose requests go to a mock that records them and answers `reply`.
struct Harness {
    plugin: Plugin,
    sent: Rc<RefCell<Vec<Request>>>,
    reply: Rc<RefCell<String>>,
    _guard: mock::Guard,
}

impl Harness {
    fn new(config: &str) -> Harness {
        let settings = Settings::from_json(config).expect("valid config");
        let sent = Rc::new(RefCell::new(Vec::new()));
        let reply = Rc::new(RefCell::new(mock::respond(200, "")));
        let (log, answer) = (sent.clone(), reply.clone());
        let guard = mock::set(move |request| {
            log.borrow_mut().push(request.clone());
            answer.borrow().clone()
        });
        Harness {
            plugin: Plugin::new(settings),
            sent,
            reply,
            _guard: guard,
        }
    }

    fn default() -> Harness {
        Harness::new(r#"{"url":"http://127.0.0.1:9093"}"#)
    }

    fn answer(&self, reply: String) {
        *self.reply.borrow_mut() = reply;
    }

    /// Handles `line` at `now`; the outcome and the alerts POSTed (none: no request).
    fn run(&mut self, line: &str, now: &str) -> (Outcome, Option<Value>) {
        let before = self.sent.borrow().len();
        let outcome = self.plugin.handle(&Event::new(line), at(now));
        let sent = self.sent.borrow();
        assert!(sent.len() <= before + 1, "one request per event at most");
        let body = sent.get(before).map(|request| {
            assert_eq!(request.method, "POST");
            assert_eq!(request.url, URL);
            assert_eq!(
                request.headers.get("Content-Type").map(String::as_str),
                Some("application/json")
            );
            serde_json::from_str(request.body.as_deref().expect("a body")).expect("JSON body")
        });
        (outcome, body)
    }

    /// The exact body text of the last request.
    fn last_body(&self) -> String {
        let sent = self.sent.borrow();
        sent.last().and_then(|r| r.body.clone()).expect("a request")
    }
}

fn pod_lines() -> Vec<&'static str> {
    PODS.lines().collect()
}

fn crash_looping_web(starts_at: &str, ends_at: &str) -> Value {
    json!({
        "labels": {
            "alertname": "PodCrashLooping",
            "container": "metrics-sidecar",
            "namespace": "shop",
            "pod": "web-7d4b9c6f5-x2k8p",
            "reason": "CrashLoopBackOff",
            "severity": "warning"
        },
        "annotations": {
            "description": "back-off 2m40s restarting failed container=metrics-sidecar pod=web-7d4b9c6f5-x2k8p_shop",
            "summary": "Container metrics-sidecar of Pod shop/web-7d4b9c6f5-x2k8p is in CrashLoopBackOff (restarts: 5)"
        },
        "startsAt": starts_at,
        "endsAt": ends_at
    })
}

fn ledger_alerts(starts_at: &str, ends_at: &str) -> Value {
    json!([
        {
            "labels": {
                "alertname": "PodCrashLooping",
                "container": "worker",
                "namespace": "payments",
                "pod": "ledger-worker-0",
                "reason": "CrashLoopBackOff",
                "severity": "warning"
            },
            "annotations": {
                "description": "back-off 40s restarting failed container=worker pod=ledger-worker-0_payments",
                "summary": "Container worker of Pod payments/ledger-worker-0 is in CrashLoopBackOff (restarts: 3)"
            },
            "startsAt": starts_at,
            "endsAt": ends_at
        },
        {
            "labels": {
                "alertname": "PodOOMKilled",
                "container": "worker",
                "namespace": "payments",
                "pod": "ledger-worker-0",
                "reason": "OOMKilled",
                "severity": "critical"
            },
            "annotations": {
                "summary": "Container worker of Pod payments/ledger-worker-0 was OOMKilled (restarts: 3)"
            },
            "startsAt": starts_at,
            "endsAt": ends_at
        }
    ])
}

/// The recorded Pod stream: two Pods created, one goes Running and then its sidecar
/// crash-loops; the other is OOMKilled and loops, then is deleted.
#[test]
fn real_pod_watch_stream() {
    let mut h = Harness::default();
    let lines = pod_lines();
    for (i, line) in lines[..3].iter().enumerate() {
        assert_eq!(
            h.run(line, "2026-11-26T20:54:00Z"),
            (Outcome::none(), None),
            "line {i}"
        );
    }

    let (outcome, body) = h.run(lines[3], "2026-11-26T20:54:00Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 1 firing, 0 resolved (PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        )
    );
    assert_eq!(
        body,
        Some(json!([crash_looping_web(
            "2026-11-26T20:54:00.000Z",
            "2026-11-26T20:59:00.000Z"
        )]))
    );
    // Byte for byte: the label and annotation keys are sorted, the fields in API order.
    assert_eq!(
        h.last_body(),
        concat!(
            r#"[{"labels":{"alertname":"PodCrashLooping","container":"metrics-sidecar","namespace":"shop","pod":"web-7d4b9c6f5-x2k8p","reason":"CrashLoopBackOff","severity":"warning"},"#,
            r#""annotations":{"description":"back-off 2m40s restarting failed container=metrics-sidecar pod=web-7d4b9c6f5-x2k8p_shop","summary":"Container metrics-sidecar of Pod shop/web-7d4b9c6f5-x2k8p is in CrashLoopBackOff (restarts: 5)"},"#,
            r#""startsAt":"2026-11-26T20:54:00.000Z","endsAt":"2026-11-26T20:59:00.000Z"}]"#
        )
    );

    let (outcome, body) = h.run(lines[4], "2026-11-26T20:54:01Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 2 firing, 0 resolved (PodCrashLooping payments/ledger-worker-0/worker, PodOOMKilled payments/ledger-worker-0/worker)"
        )
    );
    assert_eq!(
        body,
        Some(ledger_alerts(
            "2026-11-26T20:54:01.000Z",
            "2026-11-26T20:59:01.000Z"
        ))
    );

    // Still firing (terminating): sent again, same startsAt, later endsAt.
    let (_, body) = h.run(lines[5], "2026-11-26T20:55:30.250Z");
    assert_eq!(
        body,
        Some(ledger_alerts(
            "2026-11-26T20:54:01.000Z",
            "2026-11-26T21:00:30.250Z"
        ))
    );

    // DELETED: both resolved, endsAt now.
    let (outcome, body) = h.run(lines[6], "2026-11-26T20:56:00Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 0 firing, 2 resolved (resolved: PodCrashLooping payments/ledger-worker-0/worker, PodOOMKilled payments/ledger-worker-0/worker)"
        )
    );
    assert_eq!(
        body,
        Some(ledger_alerts(
            "2026-11-26T20:54:01.000Z",
            "2026-11-26T20:56:00.000Z"
        ))
    );
    assert!(!h
        .plugin
        .firing
        .contains_key("59de08af-150b-45e2-8a46-27551607dd30"));

    // The web Pod recovers (the Running state of line 2, later): resolved.
    let recovered = lines[2].replace(r#""resourceVersion":"225""#, r#""resourceVersion":"250""#);
    let (outcome, body) = h.run(&recovered, "2026-11-26T20:57:00Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 0 firing, 1 resolved (resolved: PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        )
    );
    assert_eq!(
        body,
        Some(json!([crash_looping_web(
            "2026-11-26T20:54:00.000Z",
            "2026-11-26T20:57:00.000Z"
        )]))
    );
    assert!(h.plugin.firing.is_empty());
    // Nothing more to say about a healthy Pod.
    assert_eq!(
        h.run(&recovered, "2026-11-26T20:58:00Z"),
        (Outcome::none(), None)
    );
}

#[test]
fn a_new_reason_resolves_the_old_one_and_fires_the_new() {
    let mut h = Harness::default();
    let pod = |state: &str, last: &str| {
        format!(
            r#"{{"type":"MODIFIED","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"p","namespace":"n","uid":"u1"}},"status":{{"containerStatuses":[{{"name":"c","restartCount":2,"state":{state},"lastState":{last}}}]}}}}}}"#
        )
    };
    let crash = pod(
        r#"{"waiting":{"reason":"CrashLoopBackOff"}}"#,
        r#"{"terminated":{"reason":"Error"}}"#,
    );
    let (_, body) = h.run(&crash, "2026-11-26T20:00:00Z");
    assert_eq!(body.expect("sent").as_array().map(Vec::len), Some(1));
    let oom = pod(
        r#"{"terminated":{"reason":"OOMKilled","finishedAt":"2026-11-26T20:01:00Z"}}"#,
        r#"{"terminated":{"reason":"Error"}}"#,
    );
    let (outcome, body) = h.run(&oom, "2026-11-26T20:01:00Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 1 firing, 1 resolved (PodOOMKilled n/p/c; resolved: PodCrashLooping n/p/c)"
        )
    );
    let body = body.expect("sent");
    assert_eq!(body[0]["labels"]["alertname"], "PodOOMKilled");
    assert_eq!(body[0]["endsAt"], "2026-11-26T20:06:00.000Z");
    assert_eq!(body[1]["labels"]["alertname"], "PodCrashLooping");
    assert_eq!(body[1]["startsAt"], "2026-11-26T20:00:00.000Z");
    assert_eq!(body[1]["endsAt"], "2026-11-26T20:01:00.000Z");
}

#[test]
fn an_old_oom_kill_of_a_running_container_stops_alerting() {
    let mut h = Harness::default();
    let running_after_oom = r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"n","uid":"u2"},"status":{"containerStatuses":[{"name":"c","restartCount":1,"state":{"running":{"startedAt":"2026-11-26T20:00:05Z"}},"lastState":{"terminated":{"reason":"OOMKilled","finishedAt":"2026-11-26T20:00:00Z"}}}]}}}"#;
    // Within resolve_after_seconds (300) of the kill: fires.
    let (_, body) = h.run(running_after_oom, "2026-11-26T20:02:00Z");
    assert_eq!(
        body.expect("sent")[0]["labels"]["alertname"],
        "PodOOMKilled"
    );
    // Later, the same state: the container has been running for a while; resolved.
    let (outcome, body) = h.run(running_after_oom, "2026-11-26T20:06:00Z");
    assert_eq!(
        outcome,
        Outcome::info("alertmanager: 0 firing, 1 resolved (resolved: PodOOMKilled n/p/c)")
    );
    assert_eq!(body.expect("sent")[0]["endsAt"], "2026-11-26T20:06:00.000Z");
    // Waiting again after the kill: fires whatever the time.
    let waiting = running_after_oom.replace(
        r#"{"running":{"startedAt":"2026-11-26T20:00:05Z"}}"#,
        r#"{"waiting":{"reason":"ContainerCreating"}}"#,
    );
    let (_, body) = h.run(&waiting, "2026-11-26T23:00:00Z");
    assert_eq!(
        body.expect("sent")[0]["labels"]["alertname"],
        "PodOOMKilled"
    );
}

#[test]
fn warning_events() {
    let mut h = Harness::default();
    let lines: Vec<&str> = EVENTS.lines().collect();
    // KubeAPIReadyz is not a configured reason.
    assert_eq!(
        h.run(lines[0], "2026-11-26T20:54:00Z"),
        (Outcome::none(), None)
    );

    let (outcome, body) = h.run(lines[1], "2026-11-26T20:54:00Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 1 firing, 0 resolved (KubeWarningEvent BackOff Pod shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        )
    );
    assert_eq!(
        body,
        Some(json!([{
            "labels": {
                "alertname": "KubeWarningEvent",
                "container": "metrics-sidecar",
                "kind": "Pod",
                "namespace": "shop",
                "pod": "web-7d4b9c6f5-x2k8p",
                "reason": "BackOff",
                "severity": "warning"
            },
            "annotations": {
                "summary": "Back-off restarting failed container metrics-sidecar in pod web-7d4b9c6f5-x2k8p_shop"
            },
            "startsAt": "2026-11-26T20:53:44.000Z",
            "endsAt": "2026-11-26T20:59:00.000Z"
        }]))
    );

    let (outcome, body) = h.run(lines[2], "2026-11-26T20:54:00Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 1 firing, 0 resolved (KubeWarningEvent OOMKilling Pod payments/ledger-worker-0)"
        )
    );
    let body = body.expect("sent");
    assert_eq!(
        body[0]["labels"],
        json!({"alertname": "KubeWarningEvent", "kind": "Pod", "namespace": "payments",
               "pod": "ledger-worker-0", "reason": "OOMKilling", "severity": "warning"})
    );
    assert_eq!(
        body[0]["annotations"]["summary"],
        "Memory cgroup out of memory: Killed process 4242 (ledger) total-vm:1048576kB"
    );

    // The same Event again (count 6): the same alert, refreshed.
    let (_, body) = h.run(lines[3], "2026-11-26T20:55:00Z");
    let body = body.expect("sent");
    assert_eq!(body[0]["labels"]["reason"], "BackOff");
    assert_eq!(body[0]["endsAt"], "2026-11-26T21:00:00.000Z");
    // Events are never tracked: nothing to resolve later.
    assert!(h.plugin.firing.is_empty());

    // Last seen more than resolve_after_seconds ago: old news, nothing sent.
    assert_eq!(
        h.run(lines[1], "2026-11-26T21:00:00Z"),
        (Outcome::none(), None)
    );
    // Their deletion resolves nothing.
    let deleted = lines[1].replacen(r#""type":"ADDED""#, r#""type":"DELETED""#, 1);
    assert_eq!(
        h.run(&deleted, "2026-11-26T20:54:00Z"),
        (Outcome::none(), None)
    );
    // Normal Events are ignored.
    let normal = lines[1].replace(r#""type":"Warning""#, r#""type":"Normal""#);
    assert_eq!(
        h.run(&normal, "2026-11-26T20:54:00Z"),
        (Outcome::none(), None)
    );
}

#[test]
fn every_reason_and_the_config_labels() {
    let mut h = Harness::new(
        r#"{"url":"http://127.0.0.1:9093","warning_event_reasons":["*"],"severity_default":"info",
            "resolve_after_seconds":60,"labels":{"cluster":"prod","alertname":"ignored"},
            "generator_url":"https://console.example/"}"#,
    );
    let line = EVENTS.lines().next().expect("a line");
    let (outcome, body) = h.run(line, "2026-11-26T20:53:30Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 1 firing, 0 resolved (KubeWarningEvent KubeAPIReadyz Namespace default/openshift-kube-apiserver)"
        )
    );
    assert_eq!(
        body,
        Some(json!([{
            "labels": {
                "alertname": "KubeWarningEvent",
                "cluster": "prod",
                "kind": "Namespace",
                "namespace": "default",
                "object": "openshift-kube-apiserver",
                "reason": "KubeAPIReadyz",
                "severity": "info"
            },
            "annotations": {"summary": "readyz=true"},
            "startsAt": "2026-11-26T20:53:16.000Z",
            "endsAt": "2026-11-26T20:54:30.000Z",
            "generatorURL": "https://console.example/"
        }]))
    );
}

#[test]
fn events_k8s_io_events() {
    let mut h = Harness::default();
    let line = r#"{"type":"ADDED","object":{"kind":"Event","apiVersion":"events.k8s.io/v1","metadata":{"name":"x","namespace":"batch","uid":"e1","creationTimestamp":"2026-11-26T20:00:00Z"},"eventTime":"2026-11-26T20:00:00.123456Z","series":{"count":3,"lastObservedTime":"2026-11-26T20:04:00.000000Z"},"reason":"FailedScheduling","note":"0/3 nodes are available","type":"Warning","regarding":{"kind":"Pod","namespace":"batch","name":"etl-1"}}}"#;
    let (_, body) = h.run(line, "2026-11-26T20:08:00Z");
    let body = body.expect("sent (last observed 4 minutes ago)");
    assert_eq!(body[0]["labels"]["pod"], "etl-1");
    assert_eq!(body[0]["labels"]["reason"], "FailedScheduling");
    assert_eq!(body[0]["annotations"]["summary"], "0/3 nodes are available");
    assert_eq!(body[0]["startsAt"], "2026-11-26T20:00:00.123Z");
    assert_eq!(h.run(line, "2026-11-26T20:09:01Z").1, None, "stale");
}

fn job(conditions: &str) -> String {
    format!(
        r#"{{"type":"MODIFIED","object":{{"kind":"Job","apiVersion":"batch/v1","metadata":{{"name":"nightly-backup","namespace":"ops","uid":"job-1"}},"status":{{"conditions":{conditions}}}}}}}"#
    )
}

#[test]
fn failed_jobs() {
    let mut h = Harness::default();
    assert_eq!(
        h.run(
            &job(r#"[{"type":"Complete","status":"True"}]"#),
            "2026-11-26T20:00:00Z"
        ),
        (Outcome::none(), None)
    );
    let failed = job(
        r#"[{"type":"FailureTarget","status":"True"},{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit","lastTransitionTime":"2026-11-26T19:59:00Z"}]"#,
    );
    let (outcome, body) = h.run(&failed, "2026-11-26T20:00:00Z");
    assert_eq!(
        outcome,
        Outcome::info("alertmanager: 1 firing, 0 resolved (JobFailed ops/nightly-backup)")
    );
    let expected = |ends_at: &str| {
        json!([{
            "labels": {"alertname": "JobFailed", "job_name": "nightly-backup", "namespace": "ops",
                       "reason": "BackoffLimitExceeded", "severity": "critical"},
            "annotations": {"summary": "Job ops/nightly-backup failed: BackoffLimitExceeded: Job has reached the specified backoff limit"},
            "startsAt": "2026-11-26T19:59:00.000Z",
            "endsAt": ends_at
        }])
    };
    assert_eq!(body, Some(expected("2026-11-26T20:05:00.000Z")));
    // Deleted (a TTL controller, a user): resolved.
    let deleted = failed.replacen("MODIFIED", "DELETED", 1);
    let (outcome, body) = h.run(&deleted, "2026-11-26T20:10:00Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 0 firing, 1 resolved (resolved: JobFailed ops/nightly-backup)"
        )
    );
    assert_eq!(body, Some(expected("2026-11-26T20:10:00.000Z")));
    // Other groups' Jobs are not batch/v1 Jobs.
    let other = failed.replace("batch/v1", "example.com/v1");
    assert_eq!(
        h.run(&other, "2026-11-26T20:00:00Z"),
        (Outcome::none(), None)
    );
}

fn node(ready: &str) -> String {
    format!(
        r#"{{"type":"MODIFIED","object":{{"kind":"Node","apiVersion":"v1","metadata":{{"name":"node-a","uid":"node-1"}},"status":{{"conditions":[{{"type":"MemoryPressure","status":"False"}},{ready}]}}}}}}"#
    )
}

#[test]
fn nodes_not_ready() {
    let mut h = Harness::default();
    assert_eq!(
        h.run(
            &node(r#"{"type":"Ready","status":"True"}"#),
            "2026-11-26T20:00:00Z"
        ),
        (Outcome::none(), None)
    );
    let unknown = node(
        r#"{"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown","message":"Kubelet stopped posting node status.","lastTransitionTime":"2026-11-26T20:00:40Z"}"#,
    );
    let (outcome, body) = h.run(&unknown, "2026-11-26T20:01:00Z");
    assert_eq!(
        outcome,
        Outcome::info("alertmanager: 1 firing, 0 resolved (NodeNotReady node-a)")
    );
    assert_eq!(
        body,
        Some(json!([{
            "labels": {"alertname": "NodeNotReady", "node": "node-a", "reason": "NodeStatusUnknown", "severity": "critical"},
            "annotations": {"summary": "Node node-a is not Ready (status Unknown): NodeStatusUnknown: Kubelet stopped posting node status."},
            "startsAt": "2026-11-26T20:00:40.000Z",
            "endsAt": "2026-11-26T20:06:00.000Z"
        }]))
    );
    let (outcome, body) = h.run(
        &node(r#"{"type":"Ready","status":"True","reason":"KubeletReady"}"#),
        "2026-11-26T20:03:00Z",
    );
    assert_eq!(
        outcome,
        Outcome::info("alertmanager: 0 firing, 1 resolved (resolved: NodeNotReady node-a)")
    );
    assert_eq!(body.expect("sent")[0]["endsAt"], "2026-11-26T20:03:00.000Z");
}

#[test]
fn failed_posts_are_reported_and_resolutions_retried() {
    let mut h = Harness::default();
    let lines = pod_lines();
    h.answer(mock::fail(
        "denied: plugin plugin_alertmanager has no [plugins.plugin_alertmanager.capabilities.http] section",
    ));
    let (outcome, body) = h.run(lines[3], "2026-11-26T20:54:00Z");
    assert!(body.is_some(), "it tried");
    assert_eq!(
        outcome,
        Outcome::error(
            "alertmanager: POST http://127.0.0.1:9093/api/v2/alerts failed: denied: plugin plugin_alertmanager has no [plugins.plugin_alertmanager.capabilities.http] section; not delivered: 1 firing, 0 resolved (PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        )
    );
    assert_eq!(outcome.retry(), None, "a denied request stays denied");

    // Alertmanager down: a WARN, and the host is asked to deliver the event again.
    h.answer(mock::fail("io: Connection refused (os error 111)"));
    let (outcome, _) = h.run(lines[3], "2026-11-26T20:54:10Z");
    assert_eq!(
        outcome,
        Outcome::warn(
            "alertmanager: POST http://127.0.0.1:9093/api/v2/alerts failed: io: Connection refused (os error 111); not delivered, will retry: 1 firing, 0 resolved (PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        )
        .with_retry()
    );
    // Not sent: nothing to resolve yet, but its startsAt is kept for the retry.
    let kept = &h.plugin.firing["d7372f9c-2ea9-4580-bb24-27067cf91adb"];
    assert!(kept.iter().all(|f| !f.sent), "{kept:?}");
    h.answer(mock::fail("timeout: global"));
    assert_eq!(
        h.run(lines[3], "2026-11-26T20:54:12Z").0.retry(),
        Some(Retry::Backoff)
    );

    // A 4xx other than 429: the alerts need fixing; no retry.
    h.answer(mock::respond(400, "at least one label pair required\n"));
    let (outcome, _) = h.run(lines[3], "2026-11-26T20:54:20Z");
    assert_eq!(
        outcome,
        Outcome::error(
            "alertmanager: POST http://127.0.0.1:9093/api/v2/alerts answered 400: at least one label pair required; not delivered: 1 firing, 0 resolved (PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        )
    );
    assert_eq!(outcome.retry(), None);
    for status in [429, 408, 502] {
        h.answer(mock::respond(status, ""));
        let (outcome, _) = h.run(lines[3], "2026-11-26T20:54:25Z");
        assert_eq!(outcome.level(), Some(Level::Warn), "{status}");
        assert_eq!(outcome.retry(), Some(Retry::Backoff), "{status}");
    }

    // Alertmanager is back (the retry): the alert fires, with the startsAt of the first attempt.
    h.answer(mock::respond(200, ""));
    let (outcome, body) = h.run(lines[3], "2026-11-26T20:54:30Z");
    assert_eq!(outcome.level(), Some(Level::Info));
    assert_eq!(outcome.retry(), None);
    assert_eq!(
        body.expect("sent")[0]["startsAt"],
        "2026-11-26T20:54:00.000Z"
    );

    // The resolution fails with a 503: kept, retried, and sent again by the retry.
    let recovered = lines[2].replace(r#""resourceVersion":"225""#, r#""resourceVersion":"250""#);
    h.answer(mock::respond(503, ""));
    let (outcome, _) = h.run(&recovered, "2026-11-26T20:55:00Z");
    assert_eq!(
        outcome,
        Outcome::warn(
            "alertmanager: POST http://127.0.0.1:9093/api/v2/alerts answered 503; not delivered, will retry: 0 firing, 1 resolved (resolved: PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        )
        .with_retry()
    );
    h.answer(mock::respond(200, ""));
    let (outcome, body) = h.run(&recovered, "2026-11-26T20:56:00Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 0 firing, 1 resolved (resolved: PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        )
    );
    assert_eq!(body.expect("sent")[0]["endsAt"], "2026-11-26T20:56:00.000Z");
    assert!(h.plugin.firing.is_empty());

    // A host answer the SDK cannot read: a bug somewhere, not a passing failure.
    h.answer("garbage".to_owned());
    let (outcome, _) = h.run(lines[3], "2026-11-26T20:57:00Z");
    assert_eq!(outcome.level(), Some(Level::Error));
    assert_eq!(outcome.retry(), None);
    assert!(
        outcome
            .message()
            .unwrap_or_default()
            .contains("cannot deserialize the host's HTTP answer"),
        "{outcome:?}"
    );
}

#[test]
fn an_alert_never_delivered_is_not_resolved() {
    let mut h = Harness::default();
    let lines = pod_lines();
    h.answer(mock::fail("io: Connection refused (os error 111)"));
    let (outcome, _) = h.run(lines[3], "2026-11-26T20:54:00Z");
    assert_eq!(outcome.retry(), Some(Retry::Backoff));
    // Alertmanager is back, and the Pod has recovered (a newer event replaced the retry):
    // Alertmanager never had the alert, so nothing is sent.
    h.answer(mock::respond(200, ""));
    let recovered = lines[2].replace(r#""resourceVersion":"225""#, r#""resourceVersion":"250""#);
    assert_eq!(
        h.run(&recovered, "2026-11-26T20:55:00Z"),
        (Outcome::none(), None)
    );
    assert!(h.plugin.firing.is_empty());

    // Fired and delivered, then a failed refresh: still Alertmanager's, so still resolved later.
    h.run(lines[3], "2026-11-26T20:56:00Z");
    h.answer(mock::respond(500, ""));
    assert_eq!(
        h.run(lines[3], "2026-11-26T20:56:30Z").0.retry(),
        Some(Retry::Backoff)
    );
    h.answer(mock::respond(200, ""));
    let (outcome, body) = h.run(&recovered, "2026-11-26T20:57:00Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 0 firing, 1 resolved (resolved: PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        )
    );
    assert_eq!(
        body.expect("sent")[0]["startsAt"],
        "2026-11-26T20:56:00.000Z"
    );
}

#[test]
fn a_failed_resolution_of_a_deleted_object_is_retried() {
    let mut h = Harness::default();
    let lines = pod_lines();
    h.run(lines[4], "2026-11-26T20:54:00Z");
    h.answer(mock::respond(500, "boom"));
    let (outcome, _) = h.run(lines[6], "2026-11-26T20:55:00Z");
    assert_eq!(outcome.level(), Some(Level::Warn));
    assert_eq!(outcome.retry(), Some(Retry::Backoff));
    assert_eq!(h.plugin.firing.len(), 1, "kept for the retry");
    // The retried DELETED resolves both.
    h.answer(mock::respond(200, ""));
    let (outcome, body) = h.run(lines[6], "2026-11-26T20:55:01Z");
    assert_eq!(
        outcome,
        Outcome::info(
            "alertmanager: 0 firing, 2 resolved (resolved: PodCrashLooping payments/ledger-worker-0/worker, PodOOMKilled payments/ledger-worker-0/worker)"
        )
    );
    assert_eq!(
        body,
        Some(ledger_alerts(
            "2026-11-26T20:54:00.000Z",
            "2026-11-26T20:55:01.000Z"
        ))
    );
    assert!(h.plugin.firing.is_empty());
}

#[test]
fn failures_of_warning_events_are_retried_too() {
    let mut h = Harness::default();
    let line = EVENTS.lines().nth(1).expect("a BackOff Event");
    h.answer(mock::fail("io: Connection refused (os error 111)"));
    let (outcome, _) = h.run(line, "2026-11-26T20:54:00Z");
    assert_eq!(outcome.level(), Some(Level::Warn));
    assert_eq!(outcome.retry(), Some(Retry::Backoff));
    h.answer(mock::respond(200, ""));
    let (outcome, body) = h.run(line, "2026-11-26T20:54:02Z");
    assert_eq!(outcome.retry(), None);
    assert_eq!(body.expect("sent")[0]["labels"]["reason"], "BackOff");
}

#[test]
fn other_objects_and_unreadable_ones() {
    let mut h = Harness::default();
    for line in include_str!("../../../tests/data/watch/deployments.jsonl").lines() {
        assert_eq!(h.run(line, "2026-11-26T20:54:00Z"), (Outcome::none(), None));
    }
    let (outcome, body) = h.run(
        r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},"status":{"containerStatuses":[{"restartCount":"x"}]}}}"#,
        "2026-11-26T20:54:00Z",
    );
    assert_eq!(body, None);
    assert_eq!(outcome.level(), Some(Level::Error), "{outcome:?}");
    assert!(
        outcome
            .message()
            .unwrap_or_default()
            .starts_with("alertmanager: "),
        "{outcome:?}"
    );
    // Objects without a uid are tracked by kind, namespace and name.
    let crash = r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"n"},"status":{"containerStatuses":[{"name":"a","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}}"#;
    let (_, body) = h.run(crash, "2026-11-26T20:54:00Z");
    assert_eq!(
        body.expect("sent")[0]["annotations"],
        json!({"summary": "Container a of Pod n/p is in CrashLoopBackOff (restarts: 0)"})
    );
    assert!(h.plugin.firing.contains_key("Pod/n/p"));
}

#[test]
fn init_refuses_a_config_without_url() {
    let error = init(Config::new("{}")).expect_err("no url");
    assert!(error.contains("needs `url`"), "{error}");
    init(Config::new(r#"{"url":"http://127.0.0.1:9"}"#)).expect("accepted");
    let _guard = mock::set(|_| mock::fail("connection refused"));
    let outcome = handle_event(&Event::new(pod_lines()[3]));
    assert_eq!(outcome.level(), Some(Level::Warn), "{outcome:?}");
    assert_eq!(outcome.retry(), Some(Retry::Backoff));
}

#[test]
fn the_subscription_section_is_the_documented_json() {
    let value: Value = serde_json::from_slice(SUBSCRIPTION).expect("JSON");
    assert_eq!(
        value,
        json!({"resources": ["pods", "events", "jobs.batch", "nodes"]})
    );
}
