//! End-to-end tests of retries (docs/ABI.md §3): the real binary hands events to the real
//! `test_retry` plugin, which asks for them again (`flaky-*` twice after 50 ms, `later-*` once
//! after 300 ms, `always-*` forever after the host's back-off), beside `test_echo`, which must
//! see every event exactly once, in order, whatever the other plugin asks for.
//!
//! `replay` ends only once no retry is pending, so the retries show in its log. The metrics, the
//! growth of the host's back-off and the retries abandoned at shutdown are checked against the
//! live controller (`run`) and the test API server.

use serde_json::Value;
use std::time::{Duration, Instant};
use support::apiserver::ApiServer;
use support::controller::Controller;
use support::*;

/// What `test_retry` logged for the object `name`, in order.
fn said_about(logs: &[Value], name: &str) -> Vec<String> {
    logs.iter()
        .filter(|l| l["target"] == "plugin" && l["plugin"] == "test_retry" && l["name"] == name)
        .map(|l| str_of(l, "message"))
        .collect()
}

/// The host's "retry N of ... scheduled" lines for `plugin`: (name, resourceVersion, attempt,
/// delay in ms), in order.
fn scheduled(logs: &[Value], plugin: &str) -> Vec<(String, String, u64, u64)> {
    logs.iter()
        .filter(|l| l["plugin"] == plugin && str_of(l, "message").contains(" scheduled in "))
        .map(|l| {
            (
                str_of(l, "name"),
                str_of(l, "resource_version"),
                l["attempt"].as_u64().expect("attempt"),
                l["delay_ms"].as_u64().expect("delay_ms"),
            )
        })
        .collect()
}

fn position(logs: &[Value], message: &str) -> usize {
    logs.iter()
        .position(|l| str_of(l, "message") == message)
        .unwrap_or_else(|| panic!("no log line {message:?}"))
}

#[test]
fn replay_delivers_retries_until_done_and_newer_events_supersede_them() {
    let dir = plugins_dir(&["test_retry", "test_echo"]);
    let lines = [
        pod_event_at("ADDED", "ns", "flaky-a", 1),
        pod_event_at("ADDED", "ns", "plain", 1),
        pod_event_at("ADDED", "ns", "later-b", 1),
        pod_event_at("MODIFIED", "ns", "later-b", 2),
        pod_event_at("ADDED", "ns", "flaky-c", 1),
        pod_event_at("MODIFIED", "ns", "flaky-c", 2),
        pod_event_at("DELETED", "ns", "plain", 3),
    ];
    let events = events_file(dir.path(), "events.jsonl", &lines);
    let started = Instant::now();
    let run = replay(dir.path(), &events, &["--log-level", "debug"]);
    let elapsed = started.elapsed();
    assert!(run.status.success(), "replay failed:\n{}", run.stderr);

    // test_echo saw every event once, in order, untouched by the other plugin's retries.
    let echoed: Vec<String> = run
        .plugin_messages("test_echo")
        .into_iter()
        .map(|(_, message)| message)
        .collect();
    let expected: Vec<String> = lines
        .iter()
        .map(|line| {
            let event: Value = serde_json::from_str(line).expect("json");
            let meta = &event["object"]["metadata"];
            format!(
                "{} ns/{} rv={}",
                str_of(&event, "type"),
                str_of(meta, "name"),
                str_of(meta, "resourceVersion")
            )
        })
        .collect();
    assert_eq!(echoed, expected);
    assert!(
        scheduled(&run.logs, "test_echo").is_empty(),
        "test_echo never asked for a retry"
    );

    // A flaky object is delivered exactly three times: two retries, then done.
    assert_eq!(
        said_about(&run.logs, "flaky-a"),
        [
            "try flaky-a rv=1 #1",
            "try flaky-a rv=1 #2",
            "done flaky-a rv=1 after 3 tries"
        ]
    );
    // Objects that ask for nothing are delivered once per event.
    assert_eq!(said_about(&run.logs, "plain"), ["seen plain", "seen plain"]);

    // rv 2 of later-b came before the 300 ms retry of rv 1: it superseded it. rv 2 then gets
    // its own retry, and the attempts carry on (2).
    assert_eq!(
        said_about(&run.logs, "later-b"),
        [
            "later later-b rv=1 #1",
            "later later-b rv=2 #1",
            "done later-b rv=2 after 2 tries"
        ]
    );
    let later: Vec<_> = scheduled(&run.logs, "test_retry")
        .into_iter()
        .filter(|s| s.0 == "later-b")
        .collect();
    assert_eq!(
        later,
        [
            ("later-b".to_owned(), "1".to_owned(), 1, 300),
            ("later-b".to_owned(), "2".to_owned(), 2, 300)
        ]
    );

    // The same with flaky-c's 50 ms retry: rv 1 is never done (it would take three deliveries,
    // unless the worker was descheduled for 50 ms, once at most two), rv 2 is, after three.
    let flaky_c = said_about(&run.logs, "flaky-c");
    let rv1 = flaky_c.iter().filter(|m| m.contains("rv=1")).count();
    assert!((1..3).contains(&rv1), "{flaky_c:?}");
    assert!(!flaky_c.iter().any(|m| m.starts_with("done flaky-c rv=1")));
    let rv2: Vec<&String> = flaky_c.iter().filter(|m| m.contains("rv=2")).collect();
    assert_eq!(
        rv2,
        [
            "try flaky-c rv=2 #1",
            "try flaky-c rv=2 #2",
            "done flaky-c rv=2 after 3 tries"
        ]
    );
    let superseded: Vec<String> = run
        .logs
        .iter()
        .filter(|l| str_of(l, "message").contains("supersedes its pending retry"))
        .map(|l| str_of(l, "name"))
        .collect();
    assert_eq!(superseded, ["later-b", "flaky-c"]);

    // Each retry scheduling is logged at DEBUG with the plugin, object, attempt and delay.
    let flaky_a: Vec<_> = scheduled(&run.logs, "test_retry")
        .into_iter()
        .filter(|s| s.0 == "flaky-a")
        .collect();
    assert_eq!(
        flaky_a,
        [
            ("flaky-a".to_owned(), "1".to_owned(), 1, 50),
            ("flaky-a".to_owned(), "1".to_owned(), 2, 50)
        ]
    );
    let line = run
        .logs
        .iter()
        .find(|l| str_of(l, "message").starts_with("retry 1 of ADDED Pod ns/flaky-a"))
        .expect("a scheduling line");
    assert_eq!(line["level"], "DEBUG");
    assert_eq!(line["kind"], "Pod");
    assert_eq!(line["namespace"], "ns");

    // Replay waited for the retries: they all came before its summary.
    let finished = position(&run.logs, "replay finished");
    for done in [
        "done flaky-a rv=1 after 3 tries",
        "done later-b rv=2 after 2 tries",
        "done flaky-c rv=2 after 3 tries",
    ] {
        assert!(position(&run.logs, done) < finished, "{done}");
    }
    assert!(
        elapsed >= Duration::from_millis(300),
        "later-b's 300 ms retry came before the end, yet the run took {elapsed:?}"
    );
    assert_eq!(run.logs[finished]["plugin_failures"], 0);
}

#[test]
fn wrong_retry_fields_are_a_bad_result() {
    let dir = plugins_dir(&["test_echo"]);
    // A hand-written plugin returning `{"retry":"soon"}`.
    let json = r#"{"retry":"soon"}"#;
    let wat = format!(
        r#"(module
        (memory (export "memory") 1)
        (data (i32.const 16) "{}")
        (func (export "alloc") (param i32) (result i32) (i32.const 1024))
        (func (export "dealloc") (param i32 i32))
        (func (export "handle_event") (param i32 i32) (result i64)
            (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const {}))))"#,
        json.replace('"', "\\\""),
        json.len()
    );
    let wasm = wat::parse_str(&wat).expect("valid wat");
    std::fs::write(dir.path().join("wrong_retry.wasm"), wasm).expect("write");
    let events = events_file(dir.path(), "events.jsonl", &[pod_event("ADDED", "ns", "x")]);
    let run = replay(dir.path(), &events, &[]);
    assert!(run.status.success(), "replay failed:\n{}", run.stderr);
    let errors = run
        .errors_containing(r#"bad result: result field "retry" must be true or false, not "soon""#);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert_eq!(errors[0]["plugin"], "wrong_retry");
    assert_eq!(run.plugin_messages("test_echo").len(), 1);
}

#[test]
fn live_retries_are_counted_backed_off_and_abandoned_at_shutdown() {
    let server = ApiServer::start();
    for name in ["flaky-x", "always-y", "plain-z"] {
        server.create("pods", &pod_object("ns", name, "nginx"));
    }
    let live = Controller::start_with(
        &server,
        &["test_retry", "test_echo"],
        &[("LOG_LEVEL", "debug")],
    );
    live.wait_until("flaky-x done", |logs| {
        said_about(logs, "flaky-x")
            .iter()
            .any(|m| m.starts_with("done flaky-x"))
    });
    // always-y asks every time without a delay of its own: 1 s, 2 s, 4 s, ...
    live.wait_until("the third retry of always-y", |logs| {
        scheduled(logs, "test_retry")
            .iter()
            .any(|s| s.0 == "always-y" && s.2 == 3)
    });
    let always: Vec<(u64, u64)> = scheduled(&live.logs(), "test_retry")
        .into_iter()
        .filter(|s| s.0 == "always-y")
        .map(|s| (s.2, s.3))
        .collect();
    assert_eq!(always[..3], [(1, 1000), (2, 2000), (3, 4000)]);
    assert!(
        said_about(&live.logs(), "always-y").is_empty(),
        "a retry request without a message logs nothing"
    );

    let retries = live.metric(r#"event_controller_plugin_retries_total{plugin="test_retry"}"#);
    assert!(
        (5.0..=6.0).contains(&retries),
        "2 for flaky-x, 3 or 4 for always-y: {retries}"
    );
    assert_eq!(
        live.metric(r#"event_controller_plugin_pending_retries{plugin="test_retry"}"#),
        1.0,
        "always-y's retry waits"
    );
    assert_eq!(
        live.metric(r#"event_controller_plugin_retries_total{plugin="test_echo"}"#),
        0.0
    );
    let mut echoed: Vec<String> = live
        .logs()
        .iter()
        .filter(|l| l["target"] == "plugin" && l["plugin"] == "test_echo")
        .map(|l| str_of(l, "message"))
        .map(|m| m.split(" rv=").next().unwrap_or_default().to_owned())
        .collect();
    echoed.sort();
    assert_eq!(
        echoed,
        ["ADDED ns/always-y", "ADDED ns/flaky-x", "ADDED ns/plain-z"],
        "test_echo saw each event once"
    );
    assert_eq!(said_about(&live.logs(), "plain-z"), ["seen plain-z"]);

    let (status, logs) = live.terminate_with_logs();
    assert!(status.success(), "SIGTERM must exit cleanly");
    let abandoned = logs
        .iter()
        .find(|l| str_of(l, "message").contains("pending retries of plugin test_retry abandoned"))
        .unwrap_or_else(|| panic!("no line about abandoned retries:\n{logs:#?}"));
    assert_eq!(abandoned["level"], "INFO");
    assert_eq!(abandoned["abandoned"], 1);
    assert!(str_of(abandoned, "message").ends_with("retries are not persisted"));
}
