//! Plugins' own metrics, end to end: `test_metrics` updates a counter, a gauge and a histogram
//! on every event through the `metric` host function; `/metrics` exports them under the
//! `event_controller_plugin_` prefix with the plugin's name as a label, and they keep counting
//! across a hot reload of the plugin.

use support::apiserver::ApiServer;
use support::controller::Controller;
use support::*;

/// `wasm` with a custom section `version` holding `n`: a rebuilt plugin, other bytes.
fn rebuilt(wasm: &[u8], n: u8) -> Vec<u8> {
    let mut out = wasm.to_vec();
    out.extend_from_slice(&[0, 9, 7]);
    out.extend_from_slice(b"version");
    out.push(b'0' + n);
    out
}

fn recorded(controller: &Controller) -> usize {
    controller
        .plugin_said("test_metrics")
        .iter()
        .filter(|m| *m == "recorded 4/4")
        .count()
}

#[test]
fn a_plugins_metrics_are_exported_with_its_name_and_survive_a_reload() {
    let server = ApiServer::start();
    for name in ["web", "api", "db"] {
        server.create("pods", &pod_object("shop", name, "nginx:1"));
    }
    let controller = Controller::start_with(&server, &["test_metrics"], &[]);
    controller.wait_until("three events recorded", |_| recorded(&controller) == 3);
    let series = |text: &str| controller.metric(text);
    let seen = "event_controller_plugin_events_seen_total{plugin=\"test_metrics\",kind=\"Pod\",type=\"ADDED\"}";
    assert_eq!(series(seen), 3.0);
    assert_eq!(
        series("event_controller_plugin_fake_seconds_count{plugin=\"test_metrics\"}"),
        3.0
    );
    assert_eq!(
        series("event_controller_plugin_fake_seconds_bucket{plugin=\"test_metrics\",le=\"0.5\"}"),
        3.0
    );
    let (status, text) = controller.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        text.contains("# TYPE event_controller_plugin_events_seen counter"),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("# EOF"),
        "still one OpenMetrics exposition"
    );

    // A new build of the plugin takes over; its counters go on from where they were.
    let path = controller.plugins_dir().join("test_metrics.wasm");
    let wasm = std::fs::read(&path).expect("plugin");
    std::fs::write(&path, rebuilt(&wasm, 2)).expect("replace");
    controller.wait_for_log("plugin reloaded");
    server.create("pods", &pod_object("shop", "cache", "redis:7"));
    controller.wait_until("the fourth event recorded", |_| recorded(&controller) == 4);
    assert_eq!(series(seen), 4.0);
    assert_eq!(
        series("event_controller_plugin_last_name_length{plugin=\"test_metrics\"}"),
        5.0,
        "the gauge holds the last name's length (cache)"
    );
}
