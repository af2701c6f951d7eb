//! The sandbox, end to end: hostile plugins (built from `tests/plugins/hostile_*`) run in the
//! real controller beside `test_echo`, which must see every event in order while each hostile
//! one fails, is named, logged once per failure, counted in `/metrics`, and backed off; the
//! process keeps running. Also: WASI grants nothing, Secrets are redacted, and the health
//! endpoints follow the watches.

use serde_json::Value;
use std::time::{Duration, Instant};
use support::apiserver::ApiServer;
use support::controller::{Controller, PATIENCE};
use support::*;

/// Pods the hostile suite's server holds before the controller starts.
const PODS: usize = 12;

/// Waits until `plugin` has failed at least `n` times; returns those log lines.
fn wait_for_failures(controller: &Controller, plugin: &str, n: usize) -> Vec<Value> {
    wait::until(
        PATIENCE,
        || {
            let failures = controller.call_failures(plugin);
            (failures.len() >= n).then_some(failures)
        },
        || {
            format!(
                "{plugin} failed {} of {n} times:\n{:#?}",
                controller.call_failures(plugin).len(),
                controller.logs()
            )
        },
    )
}

const HOSTILE_CONFIG: &str = r#"
[limits]
call_timeout_ms = 300
init_timeout_ms = 2000
memory_mb = 64

# Slow to fail: test_echo must not wait for it.
[plugins.hostile_loop.limits]
call_timeout_ms = 1000

[plugins.hostile_loop_in_init.config]
loop_in_init = true

# Room to build its 100 MB result, which the host must refuse by size.
[plugins.hostile_huge_result.limits]
memory_mb = 400
"#;

/// Each call-time failure: the plugin, the `failure` field and metric kind, and a piece of the
/// reason the host must give.
const CALL_FAILURES: &[(&str, &str, &str)] = &[
    (
        "hostile_loop",
        "timeout",
        "timed out: interrupted after its 1s deadline",
    ),
    (
        "hostile_memory_bomb",
        "memory",
        "memory limit: the plugin asked for",
    ),
    ("hostile_stack_overflow", "stack", "call stack exhausted"),
    (
        "hostile_unreachable",
        "trap",
        "wasm `unreachable` instruction executed",
    ),
    ("hostile_panic", "trap", "trapped"),
    (
        "hostile_result_past_memory",
        "bad_result",
        "lies outside the",
    ),
    ("test_bad_pointer", "bad_result", "lies outside the"),
    ("test_bad_json", "bad_result", "result is not a JSON object"),
    ("hostile_bad_utf8", "bad_result", "not valid UTF-8"),
    (
        "hostile_huge_result",
        "bad_result",
        "larger than the 1048576 byte limit",
    ),
    ("hostile_bad_alloc", "bad_alloc", "alloc("),
];

/// Plugins that never load (file name, plugin), and why.
const LOAD_FAILURES: &[(&str, &str, &str)] = &[
    (
        "hostile_init_trap",
        "hostile_init_trap",
        "init failed: trapped",
    ),
    (
        "hostile_loop_in_init",
        "hostile_loop",
        "init failed: timed out: interrupted after its 2s deadline",
    ),
    (
        "hostile_unknown_import",
        "hostile_unknown_import",
        "evil::steal_token",
    ),
];

#[test]
fn hostile_plugins_cannot_hurt_the_host_or_each_other() {
    let server = ApiServer::start();
    for i in 0..PODS {
        server.create(
            "pods",
            &pod_object("shop", &format!("web-{i:02}"), "nginx:1"),
        );
    }
    let mut copies: Vec<(&str, &str)> = CALL_FAILURES.iter().map(|f| (f.0, f.0)).collect();
    copies.extend(LOAD_FAILURES.iter().map(|f| (f.0, f.1)));
    copies.push(("test_echo", "test_echo"));
    let (dir, config) = plugin_copies_with_config(&copies, HOSTILE_CONFIG);
    let mut controller = Controller::start_in(&server, dir, &[("CONFIG_FILE", &config)]);

    // The well-behaved plugin gets every listed object while the slowest hostile plugin has
    // not even failed once: it does not wait for the others.
    let listed = controller.wait_for_events(PODS);
    assert_eq!(listed.len(), PODS, "{listed:#?}");
    assert!(
        controller.call_failures("hostile_loop").len() < 2,
        "test_echo waited for hostile_loop"
    );

    // Every call-time failure is named with its reason and counted, once per failure.
    for (plugin, kind, reason) in CALL_FAILURES {
        let failures = wait_for_failures(&controller, plugin, 1);
        let line = &failures[0];
        assert_eq!(line["failure"], *kind, "{line}");
        assert_eq!(line["namespace"], "shop", "{line}");
        assert!(str_of(line, "name").starts_with("web-"), "{line}");
        assert!(str_of(line, "message").contains(reason), "{plugin}: {line}");
    }
    // The load failures are named and counted; the others run without them.
    for (plugin, _, reason) in LOAD_FAILURES {
        let line = controller
            .logs()
            .into_iter()
            .find(|l| l["plugin"] == *plugin && l["level"] == "ERROR" && l["target"] != "plugin")
            .unwrap_or_else(|| panic!("no load error for {plugin}"));
        assert!(str_of(&line, "message").contains(reason), "{line}");
        let series = format!("event_controller_plugin_load_failures_total{{plugin=\"{plugin}\"}}");
        assert_eq!(controller.metric(&series), 1.0, "{series}");
    }
    // The panic's message comes through the host first.
    let panicked = controller.plugin_said("hostile_panic");
    assert!(
        panicked[0].contains("hostile_panic: deliberate panic on web-"),
        "{panicked:?}"
    );

    // Changes keep flowing to test_echo, in order, while the hostile plugins fail or are
    // backed off.
    for i in 0..PODS {
        server.modify(
            "pods",
            &pod_object("shop", &format!("web-{i:02}"), "nginx:2"),
        );
    }
    let all = controller.wait_for_events(2 * PODS);
    let modified: Vec<String> = (0..PODS)
        .map(|i| format!("MODIFIED shop/web-{i:02} rv={}", PODS + 1 + i))
        .collect();
    assert_eq!(all[PODS..], modified[..]);

    // Instances that die every time are backed off instead of restarted in a hot loop.
    wait_for_failures(&controller, "hostile_loop", 3);
    let backoff = controller.wait_for_log("plugin failed 3 times in a row");
    assert_eq!(backoff["level"], "WARN");
    for (plugin, kind, _) in CALL_FAILURES {
        let logged = controller.call_failures(plugin).len() as f64;
        let series = format!(
            "event_controller_plugin_failures_total{{plugin=\"{plugin}\",kind=\"{kind}\"}}"
        );
        assert_eq!(controller.metric(&series), logged, "{series}");
        if *kind != "bad_result" {
            assert!(
                logged <= 4.0,
                "{plugin} was retried {logged} times in a row"
            );
        }
    }
    assert_eq!(
        controller.metric("event_controller_plugin_calls_total{plugin=\"test_echo\"}"),
        (2 * PODS) as f64
    );
    assert!(controller.is_running());
    assert_eq!(controller.get("/healthz").0, 200);
    assert_eq!(controller.get("/readyz"), (200, "ok\n".to_owned()));
}

/// A fuel budget stops a runaway plugin deterministically (before its deadline), and the
/// well-behaved plugin runs metered without noticing.
#[test]
fn a_fuel_budget_stops_a_runaway_plugin() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let (dir, config) = plugins_dir_with_config(
        &["hostile_loop", "test_echo"],
        "[plugins.hostile_loop.limits]\nfuel = 1000000\ncall_timeout_ms = 60000\n",
    );
    let controller = Controller::start_in(&server, dir, &[("CONFIG_FILE", &config)]);
    assert_eq!(controller.wait_for_events(1), ["ADDED shop/web rv=1"]);
    let failure = &wait_for_failures(&controller, "hostile_loop", 1)[0];
    assert_eq!(failure["failure"], "fuel", "{failure}");
    assert!(
        str_of(failure, "message").contains("ran out of fuel: 1000000 units per call"),
        "{failure}"
    );
    let series = "event_controller_plugin_failures_total{plugin=\"hostile_loop\",kind=\"fuel\"}";
    assert_eq!(controller.metric(series), 1.0);
}

/// WASI preview 1 with nothing granted: a plugin that tries to read files, list the
/// environment and arguments, read directories and open a socket is refused each time.
#[test]
fn plugins_get_no_files_environment_or_network() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let controller = Controller::start_with(
        &server,
        &["hostile_escape", "test_echo"],
        &[("SECRET_FROM_THE_HOST", "do-not-leak")],
    );
    controller.wait_for_events(1);
    let seen = wait::until(
        PATIENCE,
        || {
            let said = controller.plugin_said("hostile_escape");
            (!said.is_empty()).then_some(said)
        },
        || format!("hostile_escape said nothing:\n{:#?}", controller.logs()),
    );
    assert_eq!(
        seen,
        ["passwd=denied token=denied env=0 args=0 root=denied cwd=denied socket=denied"]
    );
}

#[test]
fn secrets_are_redacted_unless_a_plugin_is_allowed_to_see_them() {
    let server = ApiServer::start();
    let last_applied =
        r#"{\"apiVersion\":\"v1\",\"data\":{\"password\":\"aHVudGVyMg==\"},\"kind\":\"Secret\"}"#;
    server.create(
        "secrets",
        &format!(
            r#"{{"metadata":{{"name":"db","namespace":"shop","annotations":{{"kubectl.kubernetes.io/last-applied-configuration":"{last_applied}","team":"payments"}}}},"data":{{"password":"aHVudGVyMg=="}},"stringData":{{"user":"admin"}},"type":"Opaque"}}"#
        ),
    );
    let (dir, config) = plugin_copies_with_config(
        &[
            ("sees_redacted", "test_secret_view"),
            ("sees_secrets", "test_secret_view"),
        ],
        "[plugins.sees_secrets]\nallow_secrets = true\n",
    );
    let controller = Controller::start_in(
        &server,
        dir,
        &[("CONFIG_FILE", &config), ("K8S_RESOURCE", "secrets")],
    );
    wait::until(
        PATIENCE,
        || {
            let silent = |plugin| controller.plugin_said(plugin).is_empty();
            (!silent("sees_secrets") && !silent("sees_redacted")).then_some(())
        },
        || format!("a view of the Secret is missing:\n{:#?}", controller.logs()),
    );
    assert_eq!(
        controller.plugin_said("sees_redacted"),
        [r#"db data={"password":""} stringData={"user":""} lastApplied="""#]
    );
    assert_eq!(
        controller.plugin_said("sees_secrets"),
        [format!(
            r#"db data={{"password":"aHVudGVyMg=="}} stringData={{"user":"admin"}} lastApplied="{last_applied}""#
        )]
    );
}

/// `/readyz` answers 503 naming the watch until its first list is in, then 200; `/healthz` is
/// 200 all along; the watch's restarts and relists are counted.
#[test]
fn readiness_follows_the_first_list_and_metrics_count_the_watch() {
    let server = ApiServer::builder().deny("pods").start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let controller = Controller::start(&server, &[]);
    controller.wait_for_log("pods is forbidden");
    assert_eq!(controller.get("/healthz"), (200, "ok\n".to_owned()));
    let (status, body) = controller.get("/readyz");
    assert_eq!(status, 503);
    assert!(body.contains("pods in all namespaces"), "{body}");

    server.allow("pods");
    assert_eq!(controller.wait_for_events(1), ["ADDED shop/web rv=1"]);
    assert_eq!(controller.get("/readyz"), (200, "ok\n".to_owned()));
    let received = "event_controller_events_received_total{kind=\"Pod\",type=\"ADDED\"}";
    assert_eq!(controller.metric(received), 1.0);
    assert!(
        controller.metric("event_controller_last_sync_timestamp_seconds{resource=\"pods\"}")
            > 1.7e9
    );

    // A change made while the watch is down, then a compacted history: the watch restarts
    // and relists.
    server.stop();
    server.modify("pods", &pod_object("shop", "web", "nginx:2"));
    server.compact();
    server.restart();
    controller.wait_for_log("listing again");
    let relists = "event_controller_relists_total{resource=\"pods\"}";
    wait::until(
        PATIENCE,
        || (controller.metric(relists) >= 1.0).then_some(()),
        || {
            format!(
                "no relist counted: {relists} {}",
                controller.metric(relists)
            )
        },
    );
    assert!(controller.metric("event_controller_watch_restarts_total{resource=\"pods\"}") >= 2.0);
}

/// A burst for the pace tests: `objects` Pods created, each changed `changes` times, every
/// third deleted. Returns what `test_echo` must log for it, in order.
fn burst(server: &ApiServer, objects: usize, changes: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..objects {
        lines.push(echo_of(&server.create(
            "pods",
            &pod_object("shop", &format!("p-{i:03}"), "img:0"),
        )));
    }
    for round in 1..=changes {
        for i in 0..objects {
            let changed = pod_object("shop", &format!("p-{i:03}"), &format!("img:{round}"));
            lines.push(echo_of(&server.modify("pods", &changed)));
        }
    }
    for i in (0..objects).step_by(3) {
        server.delete("pods", &pod_object("shop", &format!("p-{i:03}"), ""));
        lines.push(format!("DELETED shop/p-{i:03}"));
    }
    lines
}

/// The last line per object in `lines` (`TYPE ns/name rv=N`), by object.
fn final_view(lines: &[String]) -> std::collections::BTreeMap<String, String> {
    lines
        .iter()
        .map(|line| {
            let object = line.split(' ').nth(1).unwrap_or_default().to_owned();
            (object, line.clone())
        })
        .collect()
}

/// The objects still there at the end of `lines`, with the resourceVersion of their last line
/// (deletions left out; an ADDED merged with later changes is still an ADDED, so the type is
/// left out too).
fn living(lines: &[String]) -> std::collections::BTreeMap<String, String> {
    final_view(lines)
        .into_iter()
        .filter(|(_, line)| !line.starts_with("DELETED "))
        .map(|(object, line)| {
            let rv = line.rsplit(' ').next().unwrap_or_default().to_owned();
            (object, rv)
        })
        .collect()
}

/// Checks that each object's lines in `lines` come in resourceVersion order.
fn assert_per_object_order(lines: &[String]) {
    let mut last: std::collections::BTreeMap<&str, u64> = Default::default();
    for line in lines {
        let object = line.split(' ').nth(1).unwrap_or_default();
        let rv = rv_of(line);
        if let Some(before) = last.insert(object, rv) {
            assert!(before < rv, "{object}: rv {rv} after {before}: {lines:#?}");
        }
    }
}

/// Slow: about 10 ms of work per event on this machine's wasmtime.
const SLOW_SPIN: u64 = 10_000_000;

/// `test_echo` beside `test_slow` (about 10 ms per event) whose `[plugins.test_slow]` section
/// holds `section`, watching `server`, its first list done.
fn echo_beside_slow(server: &ApiServer, section: &str) -> Controller {
    let config = format!(
        "[plugins.test_slow]\n{section}\n\n[plugins.test_slow.config]\nspin = {SLOW_SPIN}\n"
    );
    let (dir, config) = plugins_dir_with_config(&["test_echo", "test_slow"], &config);
    let controller = Controller::start_in(server, dir, &[("CONFIG_FILE", &config)]);
    controller.wait_for_log("listed");
    controller
}

/// A [`burst`] through `controller`: what was sent, everything `test_echo` received, and how
/// many events `test_slow` had handled when `test_echo` had them all.
fn burst_through(
    controller: &Controller,
    server: &ApiServer,
    objects: usize,
    changes: usize,
) -> (Vec<String>, Vec<String>, usize) {
    let sent = burst(server, objects, changes);
    controller.wait_for_plugin_lines("test_echo", "", sent.len());
    let slow_then = controller.plugin_said("test_slow").len();
    let echoed = controller.wait_for_events(sent.len());
    (sent, echoed, slow_then)
}

/// A slow plugin falls behind alone: `test_echo` receives every event of a burst, in order,
/// long before the slow one could have handled them all; the slow one's backlog coalesces per
/// object, and it ends with the newest state of every object, each object's changes in order.
#[test]
fn a_slow_plugin_falls_behind_alone_and_ends_with_the_newest_state_of_every_object() {
    let server = ApiServer::start();
    let controller = echo_beside_slow(&server, "queue_size = 8");
    let (sent, echoed, slow_then) = burst_through(&controller, &server, 30, 5);
    for (got, want) in echoed.iter().zip(&sent) {
        assert!(
            got.starts_with(want.as_str()),
            "{got} is not {want}: {echoed:#?}"
        );
    }
    assert_eq!(echoed.len(), sent.len());
    assert!(
        slow_then < sent.len() / 2,
        "test_echo waited for test_slow ({slow_then} of {} handled)",
        sent.len()
    );

    // The slow plugin catches up with the newest state of every object, having skipped
    // intermediate ones.
    let living_echoed = living(&echoed);
    controller.wait_for_plugin("test_slow", "the final view", PATIENCE, |said| {
        living(said) == living_echoed
    });
    controller.wait_until("the end of the lag episode", |logs| {
        logs.iter()
            .any(|l| l["plugin"] == "test_slow" && str_of(l, "message").contains("caught up after"))
    });
    let slow = controller.plugin_said("test_slow");
    assert_per_object_order(&slow);
    assert_eq!(
        living(&slow),
        living(&echoed),
        "the slow plugin's final view"
    );
    assert!(
        slow.len() < sent.len(),
        "nothing was coalesced: {}",
        slow.len()
    );
    let coalesced =
        controller.metric("event_controller_plugin_events_coalesced_total{plugin=\"test_slow\"}");
    assert!(coalesced > 0.0, "{coalesced}");
    let started = controller.wait_for_log("is more than its queue size behind");
    assert_eq!(started["level"], "WARN");
    assert_eq!(
        controller.metric("event_controller_plugin_events_coalesced_total{plugin=\"test_echo\"}"),
        0.0
    );
}

/// A stuck plugin (its deadline runs out on every call) holds nobody back either.
#[test]
fn a_stuck_plugin_holds_nobody_back() {
    let server = ApiServer::start();
    let config = "[plugins.hostile_loop]\nqueue_size = 4\n\n[plugins.hostile_loop.limits]\ncall_timeout_ms = 2000\n";
    let (dir, config) = plugins_dir_with_config(&["test_echo", "hostile_loop"], config);
    let controller = Controller::start_in(&server, dir, &[("CONFIG_FILE", &config)]);
    controller.wait_for_log("listed");
    let started = Instant::now();
    let sent = burst(&server, 20, 3);
    let echoed = controller.wait_for_events(sent.len());
    let took = started.elapsed();
    assert_eq!(echoed.len(), sent.len(), "{echoed:#?}");
    assert_per_object_order(&echoed);
    assert!(
        controller.call_failures("hostile_loop").len() < 8,
        "test_echo waited for hostile_loop ({took:?})"
    );
    let lag = controller.metric("event_controller_plugin_lag_seconds{plugin=\"hostile_loop\"}");
    assert!(lag > 0.0, "the stuck plugin's backlog has an age: {lag}");
}

/// A plugin that must see every event gets every one, in order, spilled to disk while it lags;
/// nothing is coalesced, and the others do not wait for it.
#[test]
fn an_every_event_plugin_gets_every_event_in_order_and_holds_nobody_back() {
    let server = ApiServer::start();
    let controller = echo_beside_slow(&server, "queue_size = 4\ndelivery = \"every_event\"");
    let (sent, echoed, slow_then) = burst_through(&controller, &server, 20, 3);
    assert!(
        slow_then < sent.len() / 2,
        "test_echo waited for test_slow ({slow_then} handled)"
    );
    controller.wait_for_plugin("test_slow", "every event", PATIENCE, |said| {
        said.len() >= sent.len()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        controller.plugin_said("test_slow"),
        echoed,
        "every event, in order"
    );
    assert_eq!(
        controller.metric("event_controller_plugin_events_coalesced_total{plugin=\"test_slow\"}"),
        0.0
    );
}

/// `workers = 2`: two instances of a plugin share its objects, each object's events on one of
/// them and in order, each lane with a checkpoint of its own.
#[test]
fn two_workers_share_the_objects_and_keep_each_objects_order() {
    let server = ApiServer::start();
    let state = tempfile::tempdir().expect("state dir");
    let config = format!(
        "[plugins.test_slow]\nworkers = 2\nqueue_size = 100000\n\n[plugins.test_slow.config]\nspin = {}\n",
        SLOW_SPIN / 10
    );
    let (dir, config) = plugins_dir_with_config(&["test_slow"], &config);
    let state_dir = state.path().to_str().expect("UTF-8 path");
    let controller = Controller::start_in(
        &server,
        dir,
        &[("CONFIG_FILE", &config), ("STATE_DIR", state_dir)],
    );
    controller.wait_for_log("listed");
    let sent = burst(&server, 40, 3);
    let got = controller.wait_for_plugin("test_slow", "every event", PATIENCE, |said| {
        said.len() >= sent.len()
    });
    assert_per_object_order(&got);
    let mut sorted_got = got.clone();
    sorted_got.sort();
    let mut sorted_sent: Vec<String> = sent.clone();
    sorted_sent.sort();
    assert_eq!(sorted_got.len(), sorted_sent.len());
    for (got, sent) in sorted_got.iter().zip(&sorted_sent) {
        assert!(got.starts_with(sent.as_str()), "{got} is not {sent}");
    }
    assert!(controller.terminate().success());
    let mut checkpoints: Vec<String> = std::fs::read_dir(state.path())
        .expect("state dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".checkpoint"))
        .collect();
    checkpoints.sort();
    assert_eq!(
        checkpoints,
        [
            "test_slow-lane-0-of-2.checkpoint",
            "test_slow-lane-1-of-2.checkpoint"
        ]
    );
}

/// Checkpoints keep their promise with a coalesced backlog: a lagging plugin's checkpoint holds
/// the states it was handed, so after a restart nothing it already has is delivered again, and
/// the next change is.
#[test]
fn a_lagging_plugins_checkpoint_holds_the_newest_states_it_was_handed() {
    let server = ApiServer::start();
    let state = tempfile::tempdir().expect("state dir");
    let state_dir = state.path().to_str().expect("UTF-8 path").to_owned();
    let config = format!(
        "[plugins.test_slow]\nqueue_size = 4\n\n[plugins.test_slow.config]\nspin = {SLOW_SPIN}\n"
    );
    let start = |config: &str| {
        let (dir, config) = plugins_dir_with_config(&["test_slow"], config);
        let env = [
            ("CONFIG_FILE", config.as_str()),
            ("STATE_DIR", state_dir.as_str()),
            ("CHECKPOINT_INTERVAL_MS", "200"),
        ];
        Controller::start_in(&server, dir, &env)
    };
    let first = start(&config);
    first.wait_for_log("listed");
    let sent = burst(&server, 20, 3);
    // Until the plugin's view is the source's final state (deleted objects absent from it).
    let living_sent = living(&sent);
    let handed = first.wait_for_plugin("test_slow", "the final view", PATIENCE, |said| {
        living(said) == living_sent
    });
    assert!(handed.len() < sent.len(), "nothing was coalesced");
    assert_eq!(
        living(&handed),
        living(&sent),
        "the newest state of every object"
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(first.terminate().success());

    let second = start(&config);
    second.wait_for_log("lists are complete");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(second.plugin_said("test_slow"), Vec::<String>::new());
    let changed = echo_of(&server.modify("pods", &pod_object("shop", "p-001", "img:9")));
    second.wait_for_plugin_lines("test_slow", &changed, 1);
}
