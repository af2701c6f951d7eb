//! End-to-end tests of the live controller (`event-controller run`): the real binary watches the
//! test API server (`support::apiserver`, driven by watch streams recorded from a real
//! kube-apiserver) and a real plugin, `test_echo`, logs every event it receives as
//! `TYPE namespace/name rv=N`. Each test asserts the exact sequence the plugin received across
//! a fault: nothing lost, nothing duplicated, order kept.

use serde_json::Value;
use std::time::Duration;
use support::apiserver::{watch_fixture, ApiServer, TestCa};
use support::controller::{Controller, PATIENCE};
use support::*;

fn pod_lines() -> Vec<String> {
    watch_fixture("pods.jsonl")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The first `n` events, which come from a list, sorted: a list is in key order
/// (namespace/name), not in the order the objects were created.
fn with_listed_sorted(mut events: Vec<String>, n: usize) -> Vec<String> {
    events[..n].sort();
    events
}

fn echo_after(line: &str, prefix: &str) -> String {
    let rv = serde_json::from_str::<Value>(line).expect("line")["object"]["metadata"]
        ["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_owned();
    format!("{prefix} rv={rv}")
}

#[test]
fn recorded_stream_arrives_exactly_once_in_order() {
    let server = ApiServer::start();
    let lines = pod_lines();
    // Two Pods exist before the controller starts: they arrive as ADDED from the first list.
    server.apply_event_lines("pods", &lines[..2].join("\n"));
    let controller = Controller::start(&server, &[]);
    assert!(
        server.wait_for_watches(1, PATIENCE),
        "the controller never watched"
    );
    for line in &lines[2..] {
        server.apply_event_line("pods", line);
    }
    let expected: Vec<String> = lines.iter().map(|l| echo_of(l)).collect();
    let received = controller.wait_for_events(expected.len());
    assert_eq!(
        with_listed_sorted(received, 2),
        with_listed_sorted(expected, 2)
    );
    // The first list was a streaming one, and no paginated list was needed.
    let requests = server.requests();
    assert!(requests
        .iter()
        .any(|r| r.param("sendInitialEvents").as_deref() == Some("true")));
    assert!(!requests
        .iter()
        .any(|r| r.path == "/api/v1/pods" && !r.is_watch()));
    assert!(
        controller.terminate().success(),
        "SIGTERM must exit cleanly"
    );
}

#[test]
fn a_stream_cut_mid_line_resumes_without_loss_or_duplicate() {
    let server = ApiServer::start();
    let lines = pod_lines();
    server.apply_event_lines("pods", &lines[..2].join("\n"));
    let controller = Controller::start(&server, &[]);
    assert!(server.wait_for_watches(1, PATIENCE));
    controller.wait_for_events(2);
    server.cut_next_watch_line();
    for line in &lines[2..4] {
        server.apply_event_line("pods", line);
    }
    let expected: Vec<String> = lines[..4].iter().map(|l| echo_of(l)).collect();
    let received = controller.wait_for_events(4);
    assert_eq!(
        with_listed_sorted(received, 2),
        with_listed_sorted(expected, 2)
    );
}

/// Three Pods; while the server is down one changes, one goes, one is new; the history is
/// compacted (410), so the controller must list again, paginated or streaming.
fn after_410_and_a_restart_only_the_truth_is_delivered(streaming_lists: &str) {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "stays", "nginx:1"));
    server.create("pods", &pod_object("shop", "changes", "nginx:1"));
    let goes = server.create("pods", &pod_object("shop", "goes", "nginx:1"));
    let controller = Controller::start(&server, &[("K8S_STREAMING_LISTS", streaming_lists)]);
    assert_eq!(controller.wait_for_events(3).len(), 3);

    // While the server is down: one Pod changes, one goes, one is new. The history is
    // compacted, so the controller's resourceVersion is gone (410) and it must list again.
    server.stop();
    let changed = server.modify("pods", &pod_object("shop", "changes", "nginx:2"));
    server.delete("pods", &pod_object("shop", "goes", ""));
    let new = server.create("pods", &pod_object("shop", "new", "nginx:1"));
    server.compact();
    server.restart();

    let events = controller.wait_for_events(6);
    assert_eq!(
        events[3..],
        [
            echo_after(&changed, "MODIFIED shop/changes"),
            echo_after(&new, "ADDED shop/new"),
            // The synthesized DELETED carries the last state the controller knew.
            echo_after(&goes, "DELETED shop/goes"),
        ]
    );
    controller.wait_for_log("listing again");
    let streamed = server
        .requests()
        .iter()
        .any(|r| r.param("sendInitialEvents").is_some());
    assert_eq!(streamed.to_string(), streaming_lists);
}

#[test]
fn after_410_and_a_restart_a_paginated_relist_delivers_only_the_truth() {
    after_410_and_a_restart_only_the_truth_is_delivered("false");
}

#[test]
fn after_410_and_a_restart_a_streaming_relist_delivers_only_the_truth() {
    after_410_and_a_restart_only_the_truth_is_delivered("true");
}

#[test]
fn server_errors_are_retried_until_the_server_answers() {
    let server = ApiServer::start();
    let lines = pod_lines();
    server.apply_event_lines("pods", &lines[..2].join("\n"));
    server.fail_next_requests(3, 500);
    server.fail_next_requests(1, 429);
    let controller = Controller::start(&server, &[]);
    let expected: Vec<String> = lines[..2].iter().map(|l| echo_of(l)).collect();
    let received = controller.wait_for_events(2);
    assert_eq!(
        with_listed_sorted(received, 2),
        with_listed_sorted(expected, 2)
    );
    // One line per failure, saying what and where; the 429 is retried after its Retry-After
    // by kube-rs's own retry policy, below this log.
    let retried = controller.wait_for_log("Internal error occurred: injected by the test");
    assert_eq!(retried["level"], "WARN");
    assert!(
        str_of(&retried, "message").ends_with("; retrying"),
        "{retried}"
    );
    assert_eq!(retried["server"], format!("{}/", server.url()));
    let discovery_calls = server
        .requests()
        .iter()
        .filter(|r| r.path == "/api")
        .count();
    assert!(
        discovery_calls >= 5,
        "3 × 500 and a 429 before success: {discovery_calls}"
    );
}

#[test]
fn initial_objects_can_be_skipped() {
    let server = ApiServer::start();
    let lines = pod_lines();
    server.apply_event_lines("pods", &lines[..2].join("\n"));
    let controller = Controller::start(&server, &[("INITIAL_EVENTS", "skip")]);
    controller.wait_for_log("listed");
    assert!(server.wait_for_watches(1, PATIENCE));
    server.apply_event_line("pods", &lines[2]);
    assert_eq!(controller.wait_for_events(1), [echo_of(&lines[2])]);
}

#[test]
fn an_unknown_resource_is_a_clear_error_with_close_matches() {
    let server = ApiServer::start();
    let controller = Controller::start(&server, &[("K8S_RESOURCE", "pdos")]);
    let line = controller.wait_for_log("no resource named");
    assert_eq!(line["level"], "ERROR");
    assert!(
        str_of(&line, "message").contains("did you mean pods?"),
        "{line}"
    );
}

#[test]
fn a_crd_installed_after_start_is_picked_up() {
    let server = ApiServer::start();
    let controller = Controller::start(
        &server,
        &[("K8S_RESOURCE", "routes"), ("K8S_REDISCOVER_SECONDS", "1")],
    );
    let missing = controller.wait_for_log("no resource named \"routes\"");
    assert_eq!(missing["level"], "ERROR");
    // Its storage initializes: the first calls get 429 with Retry-After, as from a real server.
    server.install_routes_initializing(2);
    let lines: Vec<String> = watch_fixture("routes.jsonl")
        .lines()
        .map(str::to_owned)
        .collect();
    server.apply_event_line("routes", &lines[0]);
    controller.wait_for_log("watching");
    assert!(server.wait_for_watches(1, PATIENCE));
    for line in &lines[1..] {
        server.apply_event_line("routes", line);
    }
    let expected: Vec<String> = lines.iter().map(|l| echo_of(l)).collect();
    assert_eq!(controller.wait_for_events(expected.len()), expected);
}

#[test]
fn a_bad_token_and_missing_rbac_are_named_and_retried() {
    let server = ApiServer::builder().token("right").start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let controller = Controller::start(&server, &[("K8S_TOKEN", "wrong")]);
    let denied = controller.wait_for_log("401 Unauthorized");
    assert_eq!(denied["level"], "WARN");
    assert!(controller.echoed().is_empty());
    drop(controller);

    server.deny("pods");
    let controller = Controller::start(&server, &[("K8S_TOKEN", "right")]);
    let forbidden = controller.wait_for_log("pods is forbidden");
    assert_eq!(forbidden["level"], "WARN");
    assert!(
        str_of(&forbidden, "message").contains("403 Forbidden"),
        "{forbidden}"
    );
    // Granting the permission later is enough: the retry picks it up.
    server.allow("pods");
    assert_eq!(controller.wait_for_events(1), ["ADDED shop/web rv=1"]);
}

/// A namespace list and a label selector are the server's to apply: one watch per namespace,
/// only matching objects, and an object that stops matching arrives as DELETED.
#[test]
fn namespaces_and_selectors_reach_the_server() {
    let server = ApiServer::start();
    let labelled = |namespace, name, app| labelled_pod_object(namespace, name, "nginx:1", app);
    server.create("pods", &labelled("shop", "web", "web")); // rv 1
    server.create("pods", &labelled("shop", "db", "db")); // rv 2
    server.create("pods", &labelled("payments", "web", "web")); // rv 3
    server.create("pods", &labelled("other", "web", "web")); // rv 4
    let controller = Controller::start(
        &server,
        &[
            ("K8S_NAMESPACE", "shop, payments"),
            ("K8S_LABEL_SELECTOR", "app=web"),
            ("K8S_FIELD_SELECTOR", "metadata.name!=ignored"),
        ],
    );
    let listed = controller.wait_for_events(2);
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, ["ADDED payments/web rv=3", "ADDED shop/web rv=1"]);

    server.modify("pods", &labelled("other", "web", "web")); // rv 5: other namespace
    server.create("pods", &labelled("shop", "ignored", "web")); // rv 6: field selector
    server.create("pods", &labelled("shop", "api", "web")); // rv 7
    server.modify("pods", &labelled("shop", "web", "old")); // rv 8: leaves the selection
    server.modify("pods", &labelled("shop", "db", "web")); // rv 9: enters the selection
    let events = controller.wait_for_events(5);
    assert_eq!(
        events[2..],
        [
            "ADDED shop/api rv=7",
            "DELETED shop/web rv=8",
            "ADDED shop/db rv=9"
        ]
    );

    let watches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_watch())
        .collect();
    for namespace in ["shop", "payments"] {
        let path = format!("/api/v1/namespaces/{namespace}/pods");
        let watch = watches
            .iter()
            .find(|r| r.path == path)
            .unwrap_or_else(|| panic!("no watch of {path}: {watches:#?}"));
        assert_eq!(watch.param("labelSelector").as_deref(), Some("app=web"));
        assert_eq!(
            watch.param("fieldSelector").as_deref(),
            Some("metadata.name!=ignored")
        );
    }
    assert!(
        watches.iter().all(|r| !r.path.contains("/other/")),
        "{watches:#?}"
    );
}

/// The server's certificate is checked against `K8S_CA`: a certificate from another CA (or no
/// CA, so only the system's roots) is refused with one clear line and retried, never accepted.
#[test]
fn tls_is_verified_against_the_given_ca() {
    let ca = TestCa::new("test cluster CA");
    let server = ApiServer::builder().tls(&ca).start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let files = tempfile::tempdir().expect("temp dir");
    let right_ca = files.path().join("ca.crt");
    let wrong_ca = files.path().join("other-ca.crt");
    std::fs::write(&right_ca, ca.pem()).expect("write CA");
    std::fs::write(&wrong_ca, TestCa::new("another CA").pem()).expect("write CA");

    for ca_env in [vec![("K8S_CA", path_str(&wrong_ca))], vec![]] {
        let controller = Controller::start(&server, &ca_env);
        let refused = controller.wait_for_log("invalid peer certificate");
        assert_eq!(refused["level"], "WARN", "{refused}");
        let message = str_of(&refused, "message");
        assert!(message.contains("UnknownIssuer"), "{message}");
        assert!(
            str_of(&refused, "server").starts_with("https://127.0.0.1:"),
            "{refused}"
        );
        // Retried with backoff, still refused: no fallback to an unverified connection.
        wait::until(
            PATIENCE,
            || (refusals(&controller) >= 3).then_some(()),
            || {
                let refused = refusals(&controller);
                format!("{refused} of 3 refusals:\n{:#?}", controller.logs())
            },
        );
        assert!(controller.echoed().is_empty());
        assert!(server.requests().is_empty(), "{:?}", server.requests());
    }

    let controller = Controller::start(&server, &[("K8S_CA", path_str(&right_ca))]);
    assert_eq!(controller.wait_for_events(1), ["ADDED shop/web rv=1"]);
}

fn refusals(controller: &Controller) -> usize {
    controller
        .logs()
        .iter()
        .filter(|l| str_of(l, "message").contains("invalid peer certificate"))
        .count()
}

fn path_str(path: &std::path::Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

#[test]
fn a_rotated_token_file_is_read_again() {
    let dir = tempfile::tempdir().expect("tmp");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "first").expect("write");
    let server = ApiServer::builder().token("first").start();
    server.create("pods", &pod_object("shop", "before", "nginx:1"));
    let token_path = token_file.to_str().expect("utf8");
    let controller = Controller::start(&server, &[("K8S_TOKEN_FILE", token_path)]);
    assert_eq!(controller.wait_for_events(1), ["ADDED shop/before rv=1"]);

    // The token rotates (as a projected service-account token does): the server accepts only the
    // new one, the file holds the new one, and the open watch ends.
    server.set_token(Some("second"));
    std::fs::write(&token_file, "second").expect("rotate");
    server.end_watches();
    // Until kube-rs re-reads the file (at least once a minute) the old token gets 401.
    let refused = controller.wait_for_log("401 Unauthorized");
    assert_eq!(refused["level"], "WARN");
    let after = server.create("pods", &pod_object("shop", "after", "nginx:1"));
    wait::until(
        Duration::from_secs(90),
        || (controller.echoed().len() >= 2).then_some(()),
        || {
            format!(
                "the rotated token was never used:\n{:#?}",
                controller.logs()
            )
        },
    );
    assert_eq!(
        controller.wait_for_events(2)[1],
        echo_after(&after, "ADDED shop/after")
    );
}

/// What `test_digest` logs for these bytes.
fn digest_of(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("len={} fnv1a64={hash:016x}", bytes.len())
}

#[test]
fn plugins_receive_the_servers_bytes_even_from_a_slow_stream() {
    let server = ApiServer::start();
    let lines = pod_lines();
    server.apply_event_lines("pods", &lines[..2].join("\n"));
    server.slow_watches(Duration::from_millis(30));
    let controller = Controller::start_with(&server, &["test_digest", "test_echo"], &[]);
    assert!(server.wait_for_watches(1, PATIENCE));
    for line in &lines[2..] {
        server.apply_event_line("pods", line);
    }
    controller.wait_for_events(lines.len());
    let received = controller.plugin_said("test_digest");
    // The first two come from the streaming list, in key order; the recorded lines were ADDED
    // events, so their bytes are the same. The rest are the recorded watch lines, verbatim.
    let expected: Vec<String> = lines.iter().map(|l| digest_of(l.as_bytes())).collect();
    assert_eq!(
        with_listed_sorted(received, 2),
        with_listed_sorted(expected, 2)
    );
}

/// Paginated lists ask for `K8S_LIST_PAGE_SIZE` objects a page (500 unless set), follow the
/// continue tokens, and deliver every object once; a page size of 0 is refused at start.
#[test]
fn a_paginated_list_asks_for_the_configured_page_size() {
    let server = ApiServer::start();
    for name in ["a", "b", "c", "d", "e"] {
        server.create("pods", &pod_object("shop", name, "nginx:1"));
    }
    let controller = Controller::start(
        &server,
        &[
            ("K8S_STREAMING_LISTS", "false"),
            ("K8S_LIST_PAGE_SIZE", "2"),
        ],
    );
    let received = controller.wait_for_events(5);
    assert_eq!(received.len(), 5, "{received:#?}");
    let pages: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/pods" && !r.is_watch())
        .collect();
    assert_eq!(pages.len(), 3, "{pages:#?}");
    assert!(pages
        .iter()
        .all(|r| r.param("limit").as_deref() == Some("2")));
    assert_eq!(
        pages
            .iter()
            .filter(|r| r.param("continue").is_some())
            .count(),
        2
    );

    let refused = support::controller()
        .args(["run", "--list-page-size", "0"])
        .env("K8S_API_ENDPOINT", server.url())
        .env("K8S_RESOURCE", "pods")
        .output()
        .expect("run");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--list-page-size"), "{stderr}");
}
