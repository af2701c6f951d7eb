//! Integrations, end to end: the real controller watches the test API server, runs a real plugin
//! with the `http_request` capability, and the plugin talks to the real service.
//!
//! `plugin_alertmanager` and a real Prometheus Alertmanager (Debian's `prometheus-alertmanager`,
//! `support::alertmanager`): a crash-looping Pod becomes an active alert with the right labels,
//! and the alert is resolved when the container runs again; without the capability the
//! plugin's POST is denied, it says so, and Alertmanager receives nothing.
//!
//! A missing Alertmanager fails the tests under CI (`CI` set) and skips them loudly elsewhere,
//! naming `bash scripts/toolchains/integrations.sh install`.

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::alertmanager::Alertmanager;
use support::apiserver::ApiServer;
use support::controller::{Controller, PATIENCE};
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

/// A plugins directory with `plugin_alertmanager` and a config file holding `config`.
fn plugin_with_config(config: &str) -> (tempfile::TempDir, String) {
    let dir = plugins_dir(&[PLUGIN]);
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).expect("write config");
    let path = path.to_str().expect("UTF-8 path").to_owned();
    (dir, path)
}

/// The plugin's own log lines (outcomes and `log` calls), as (level, message).
fn plugin_lines(controller: &Controller) -> Vec<(String, String)> {
    controller
        .logs()
        .iter()
        .filter(|l| l["target"] == "plugin" && l["plugin"] == PLUGIN)
        .map(|l| (str_of(l, "level"), str_of(l, "message")))
        .collect()
}

/// Waits until the plugin logged a line containing `needle`; returns (level, message).
fn wait_for_plugin_line(controller: &Controller, needle: &str) -> (String, String) {
    let start = Instant::now();
    loop {
        if let Some(line) = plugin_lines(controller)
            .into_iter()
            .find(|(_, message)| message.contains(needle))
        {
            return line;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{PLUGIN} never logged {needle:?}:\n{:#?}",
            controller.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn crash_looping_pod_fires_then_resolves_in_alertmanager() {
    let Some(am) =
        Alertmanager::start_or_skip("crash_looping_pod_fires_then_resolves_in_alertmanager")
    else {
        return;
    };
    let server = ApiServer::start();
    let crash_looping = crash_looping_pod();
    server.apply_event_line("pods", &crash_looping);

    let url = am.url();
    let (dir, config) = plugin_with_config(&format!(
        r#"
[plugins.plugin_alertmanager.config]
url = "{url}"
resolve_after_seconds = 300

[plugins.plugin_alertmanager.capabilities.http]
allow = ["{url}/api/v2/"]
"#
    ));
    let controller = Controller::start_in(&server, dir, &[("CONFIG_FILE", &config)]);
    let context = || {
        format!(
            "controller log: {:#?}\nAlertmanager log:\n{}",
            controller.logs(),
            am.log()
        )
    };

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
        wait_for_plugin_line(&controller, "firing"),
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
        wait_for_plugin_line(&controller, "resolved: "),
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
        plugin_lines(&controller)
            .iter()
            .all(|(level, _)| level == "INFO"),
        "{:#?}",
        plugin_lines(&controller)
    );
}

#[test]
fn without_the_capability_the_post_is_denied() {
    let Some(am) = Alertmanager::start_or_skip("without_the_capability_the_post_is_denied") else {
        return;
    };
    let server = ApiServer::start();
    server.apply_event_line("pods", &crash_looping_pod());
    let (dir, config) = plugin_with_config(&format!(
        r#"
[plugins.plugin_alertmanager.config]
url = "{}"
"#,
        am.url()
    ));
    let controller = Controller::start_in(&server, dir, &[("CONFIG_FILE", &config)]);

    let (level, message) = wait_for_plugin_line(&controller, "denied");
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
