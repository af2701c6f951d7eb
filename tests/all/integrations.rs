//! Integrations, end to end: the real controller watches the test API server, runs a real plugin
//! with the `http_request` capability, and the plugin talks to the real service.
//!
//! `plugin_alertmanager` and a real Prometheus Alertmanager (Debian's `prometheus-alertmanager`,
//! `support::alertmanager`): a crash-looping Pod becomes an active alert with the right labels,
//! and the alert is resolved when the container runs again; without the capability the
//! plugin's POST is denied, it says so, and Alertmanager receives nothing. Killed in the middle of
//! a run and started again on the same port, Alertmanager ends up with the cluster's state
//! through the host's retries of the failed events.
//!
//! A missing Alertmanager fails the tests under CI (`CI` set) and skips them loudly elsewhere,
//! naming `bash scripts/toolchains/integrations.sh install`.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::alertmanager::Alertmanager;
use support::apiserver::ApiServer;
use support::controller::Controller;
use support::*;

const PLUGIN: &str = "plugin_alertmanager";
const POD: &str = "web-7d4b9c6f5-x2k8p";

/// The recorded Pod whose `metrics-sidecar` container is in CrashLoopBackOff (restarts: 5).
fn crash_looping_pod() -> String {
    let pods =
        std::fs::read_to_string(repo().join("plugins-wasm/plugin_crashloop/testdata/pods.jsonl"))
            .expect("the plugin_crashloop fixture");
    let line = pods.lines().nth(3).expect("4 lines").to_owned();
    assert!(line.contains(r#""reason":"CrashLoopBackOff""#) && line.contains(POD));
    line
}

/// The same Pod later, its sidecar running again (`MODIFIED`, resourceVersion `rv`).
fn recovered_pod(crash_looping: &str, rv: u64) -> String {
    let mut event: Value = serde_json::from_str(crash_looping).expect("JSON");
    event["type"] = json!("MODIFIED");
    let object = &mut event["object"];
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
    for status in object["status"]["containerStatuses"]
        .as_array_mut()
        .expect("containerStatuses")
    {
        status["state"] = json!({"running": {"startedAt": "2026-11-26T20:58:00Z"}});
        status["ready"] = json!(true);
        status["started"] = json!(true);
    }
    for condition in object["status"]["conditions"]
        .as_array_mut()
        .expect("conditions")
    {
        condition["status"] = json!("True");
    }
    event.to_string()
}

#[test]
fn crash_looping_pod_fires_then_resolves_in_alertmanager() {
    fires_then_resolves(
        PLUGIN,
        "crash_looping_pod_fires_then_resolves_in_alertmanager",
    );
}

/// The seed's "Create Alerts", in Python (`plugins-wasm/python_alertmanager`): the same job,
/// the same alerts and the same log lines as the Rust plugin.
#[test]
fn the_python_port_fires_and_resolves_the_same_alert() {
    fires_then_resolves(
        "python_alertmanager",
        "the_python_port_fires_and_resolves_the_same_alert",
    );
}

/// A crash-looping Pod becomes one active alert with exactly the plugin's labels, and is
/// resolved when the container runs again: `plugin` is the Rust plugin or a port of it.
fn fires_then_resolves(plugin: &str, test: &str) {
    let Some(am) = Alertmanager::start_or_skip(test) else {
        return;
    };
    let cache = crate::components::component_cache();
    let server = ApiServer::start();
    let crash_looping = crash_looping_pod();
    server.apply_event_line("pods", &crash_looping);

    let url = am.url();
    let (dir, config) = plugins_dir_with_config(
        &[plugin],
        &format!(
            r#"
[plugins.{plugin}.config]
url = "{url}"
resolve_after_seconds = 300

[plugins.{plugin}.capabilities.http]
allow = ["{url}/api/v2/"]
"#
        ),
    );
    let controller = Controller::start_in(
        &server,
        dir,
        &[("CONFIG_FILE", &config), ("MODULE_CACHE_DIR", &cache)],
    );
    let context = || {
        format!(
            "controller log: {:#?}\nAlertmanager log:\n{}",
            controller.logs(),
            am.log()
        )
    };

    // The module's own default subscription (its custom section) is read, from a core module
    // and from a component alike.
    let loaded = controller.wait_for_log("plugin loaded");
    assert!(
        str_of(&loaded, "subscription").contains("jobs.batch"),
        "{loaded}"
    );

    // Firing: one active alert with exactly the plugin's labels.
    let alerts = am.wait_for_alerts(&context, |alerts| !alerts.is_empty());
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(
        alert["labels"],
        json!({
            "alertname": "PodCrashLooping",
            "container": "metrics-sidecar",
            "namespace": "shop",
            "pod": POD,
            "reason": "CrashLoopBackOff",
            "severity": "warning"
        }),
        "{alert:#?}"
    );
    assert_eq!(alert["status"]["state"], "active", "{alert:#?}");
    assert_eq!(
        alert["annotations"]["summary"],
        format!("Container metrics-sidecar of Pod shop/{POD} is in CrashLoopBackOff (restarts: 5)")
    );
    // endsAt is now + resolve_after_seconds: well after startsAt.
    let starts_at = alert["startsAt"].as_str().expect("startsAt");
    let ends_at = alert["endsAt"].as_str().expect("endsAt");
    assert!(ends_at > starts_at, "{alert:#?}");
    assert_eq!(
        controller
            .wait_for_plugin_lines(plugin, "firing", 1)
            .remove(0),
        (
            "INFO".to_owned(),
            format!(
                "alertmanager: 1 firing, 0 resolved (PodCrashLooping shop/{POD}/metrics-sidecar)"
            )
        )
    );
    assert_eq!(am.received("firing"), 1.0);
    assert_eq!(am.received("resolved"), 0.0);

    // The container runs again: the plugin resolves the alert, and Alertmanager drops it
    // from its list of alerts (it lists no resolved alerts) long before its endsAt.
    let rv = server.resource_version() + 1;
    server.apply_event_line("pods", &recovered_pod(&crash_looping, rv));
    assert_eq!(
        controller.wait_for_plugin_lines(plugin, "resolved: ", 1).remove(0),
        (
            "INFO".to_owned(),
            format!(
                "alertmanager: 0 firing, 1 resolved (resolved: PodCrashLooping shop/{POD}/metrics-sidecar)"
            )
        )
    );
    am.wait_for_alerts(&context, |alerts| alerts.is_empty());
    assert_eq!(am.received("resolved"), 1.0);
    assert_eq!(am.received("firing"), 1.0);
    assert!(
        controller
            .plugin_lines(plugin)
            .iter()
            .all(|(level, _)| level == "INFO"),
        "{:#?}",
        controller.plugin_lines(plugin)
    );
}

#[test]
fn without_the_capability_the_post_is_denied() {
    let Some(am) = Alertmanager::start_or_skip("without_the_capability_the_post_is_denied") else {
        return;
    };
    let server = ApiServer::start();
    server.apply_event_line("pods", &crash_looping_pod());
    let (dir, config) = plugins_dir_with_config(
        &[PLUGIN],
        &format!(
            r#"
[plugins.plugin_alertmanager.config]
url = "{}"
"#,
            am.url()
        ),
    );
    let controller = Controller::start_in(&server, dir, &[("CONFIG_FILE", &config)]);

    let (level, message) = controller
        .wait_for_plugin_lines(PLUGIN, "denied", 1)
        .remove(0);
    assert_eq!(level, "ERROR", "{message}");
    assert!(
        message.starts_with(&format!(
            "alertmanager: POST {}/api/v2/alerts failed: denied",
            am.url()
        )),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "not delivered: 1 firing, 0 resolved (PodCrashLooping shop/{POD}/metrics-sidecar)"
        )),
        "{message}"
    );
    // Nothing reached Alertmanager.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(am.alerts(), Vec::<Value>::new());
    assert_eq!(am.received("firing"), 0.0);
    assert_eq!(am.received("resolved"), 0.0);
}

/// The recorded `ledger-worker-0` Pod crash-looping after an OOM kill (two alerts), as a new
/// Pod (`ADDED`) at resourceVersion `rv`.
fn crash_looping_ledger(rv: u64) -> String {
    let pods =
        std::fs::read_to_string(repo().join("plugins-wasm/plugin_crashloop/testdata/pods.jsonl"))
            .expect("the plugin_crashloop fixture");
    let mut event: Value =
        serde_json::from_str(pods.lines().nth(4).expect("5 lines")).expect("JSON");
    assert_eq!(event["object"]["metadata"]["name"], LEDGER);
    event["type"] = json!("ADDED");
    event["object"]["metadata"]["resourceVersion"] = json!(rv.to_string());
    event.to_string()
}

const LEDGER: &str = "ledger-worker-0";

/// Alertmanager goes down in the middle of a run: a Pod recovers and another starts
/// crash-looping meanwhile. The plugin's POSTs fail with a WARN and a retry, the controller
/// goes on (other events, other plugins), and once Alertmanager is back on the same port, the
/// retried events bring it to the cluster's state: the new Pod's alerts fire, the recovered
/// Pod's alert is resolved (Alertmanager came back empty, so the resolution shows in its
/// `received` counter), with no event from the cluster after the restart.
#[test]
fn alerts_converge_after_alertmanager_comes_back() {
    let Some(am) = Alertmanager::start_or_skip("alerts_converge_after_alertmanager_comes_back")
    else {
        return;
    };
    let server = ApiServer::start();
    let crash_looping = crash_looping_pod();
    server.apply_event_line("pods", &crash_looping);

    let url = am.url();
    let (dir, config) = plugins_dir_with_config(
        &[PLUGIN],
        &format!(
            r#"
[plugins.plugin_alertmanager.config]
url = "{url}"

[plugins.plugin_alertmanager.capabilities.http]
allow = ["{url}/api/v2/"]
"#
        ),
    );
    // A second plugin, to see the events keep flowing to others.
    std::fs::copy(plugin("test_echo"), dir.path().join("test_echo.wasm")).expect("copy");
    let controller = Controller::start_in(&server, dir, &[("CONFIG_FILE", &config)]);
    let context = || {
        format!(
            "controller log: {:#?}\nAlertmanager log:\n{}",
            controller.logs(),
            am.log()
        )
    };
    am.wait_for_alerts(&context, |alerts| alerts.len() == 1);

    // Alertmanager goes down; meanwhile the web Pod recovers and the ledger Pod crash-loops.
    am.stop();
    let began = Instant::now();
    let rv = server.resource_version() + 1;
    server.apply_event_line("pods", &recovered_pod(&crash_looping, rv));
    server.apply_event_line("pods", &crash_looping_ledger(rv + 1));

    // Each failed POST is a WARN saying what was not delivered, and the host delivers the
    // event again: at least two attempts each while Alertmanager is down.
    let refused_resolution = controller.wait_for_plugin_lines(
        PLUGIN,
        &format!(
            "not delivered, will retry: 0 firing, 1 resolved (resolved: PodCrashLooping shop/{POD}/metrics-sidecar)"
        ),
        2,
    );
    let refused_firing = controller.wait_for_plugin_lines(
        PLUGIN,
        &format!(
            "not delivered, will retry: 2 firing, 0 resolved (PodCrashLooping payments/{LEDGER}/worker, PodOOMKilled payments/{LEDGER}/worker)"
        ),
        2,
    );
    for (level, message) in refused_resolution.iter().chain(&refused_firing) {
        assert_eq!(level, "WARN", "{message}");
        assert!(
            message.starts_with(&format!("alertmanager: POST {url}/api/v2/alerts failed: ")),
            "{message}"
        );
    }
    // The host scheduled each of those retries.
    let scheduled = controller.metric(&format!(
        r#"event_controller_plugin_retries_total{{plugin="{PLUGIN}"}}"#
    ));
    assert!(scheduled >= 4.0, "{scheduled}: {}", context());
    // And counted each failed POST as a capability request without an answer.
    let http = |outcome: &str| {
        controller.metric(&format!(
            r#"event_controller_capability_requests_total{{plugin="{PLUGIN}",capability="http",outcome="{outcome}"}}"#
        ))
    };
    assert!(http("error") >= 4.0, "{}: {}", http("error"), context());
    // Not blocked: the controller runs, and the other plugin got both events at once.
    assert_eq!(
        controller.get("/readyz"),
        (200, "ok\n".to_owned()),
        "{}",
        context()
    );
    let echoed = controller.echoed();
    assert!(
        echoed
            .iter()
            .any(|e| e.starts_with(&format!("MODIFIED shop/{POD} rv={rv}")))
            && echoed
                .iter()
                .any(|e| e.starts_with(&format!("ADDED payments/{LEDGER} rv={}", rv + 1))),
        "{echoed:#?}"
    );

    // Back on the same port, empty: the retries bring it to the cluster's state.
    let stopped_for = began.elapsed();
    am.start_again();
    let restarted = Instant::now();
    let alerts = am.wait_for_alerts(&context, |alerts| {
        alerts.len() == 2 && alerts.iter().all(|a| a["labels"]["pod"] == LEDGER)
    });
    let mut names: Vec<&str> = alerts
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap_or_default())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["PodCrashLooping", "PodOOMKilled"], "{alerts:#?}");
    assert!(alerts.iter().all(|a| a["status"]["state"] == "active"));
    let resolved = format!(
        "alertmanager: 0 firing, 1 resolved (resolved: PodCrashLooping shop/{POD}/metrics-sidecar)"
    );
    controller.wait_for_plugin_lines(PLUGIN, &resolved, 1);
    assert_eq!(am.received("resolved"), 1.0, "{}", context());
    assert_eq!(am.received("firing"), 2.0, "{}", context());
    assert!(
        am.alerts_with("pod", POD).is_empty(),
        "the recovered Pod's alert: {}",
        context()
    );
    let converged = restarted.elapsed();
    eprintln!("alertmanager: down for {stopped_for:?}, converged {converged:?} after the restart");

    // Once delivered, no more retries: the lines stay as they are.
    std::thread::sleep(Duration::from_millis(1500));
    let after = controller.plugin_lines(PLUGIN);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(controller.plugin_lines(PLUGIN), after, "{}", context());
    assert_eq!(am.received("firing"), 2.0, "{}", context());
    let pending = format!(r#"event_controller_plugin_pending_retries{{plugin="{PLUGIN}"}}"#);
    assert_eq!(controller.metric(&pending), 0.0, "{}", context());
    assert!(
        http("ok") >= 2.0,
        "the POSTs that got through: {}",
        context()
    );
    assert_eq!(controller.get("/healthz"), (200, "ok\n".to_owned()));
}
