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

/// Whether the polyglot plugins are built (`just plugins-polyglot`); if not, a failure under
/// CI and a loud skip elsewhere.
fn polyglot_built(names: &[&str]) -> bool {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let missing: Vec<&&str> = names
        .iter()
        .filter(|name| !target.join(format!("plugins/{name}.wasm")).is_file())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!("{missing:?} not built: run `just plugins-polyglot`");
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("SKIPPED: {message}");
    false
}

fn warning_event(name: &str, reason: &str, kind: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"{name}","namespace":"shop"}},"involvedObject":{{"kind":"Pod","namespace":"shop","name":"web"}},"reason":"{reason}","message":"{reason} happened","type":"{kind}"}}"#
    )
}

/// The C, Zig and AssemblyScript helpers' `metric` wrappers, through the real host: each
/// language's useful plugin exports what it counts.
#[test]
fn the_c_zig_and_assemblyscript_plugins_export_their_own_metrics() {
    let plugins = [
        "c_warning_events",
        "zig_service_exposure",
        "assemblyscript_configmap_size",
    ];
    if !polyglot_built(&plugins) {
        return;
    }
    let server = ApiServer::start();
    let controller = Controller::start_in(
        &server,
        plugins_dir(&plugins),
        &[("K8S_RESOURCE", "events,services,configmaps")],
    );
    server.create("events", &warning_event("e1", "BackOff", "Warning"));
    server.create("events", &warning_event("e2", "BackOff", "Warning"));
    server.create("events", &warning_event("e3", "OOMKilling", "Warning"));
    server.create("events", &warning_event("e4", "Pulled", "Normal"));
    server.create(
        "services",
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"dns","namespace":"shop"},"spec":{"type":"NodePort","ports":[{"port":53,"nodePort":30053,"protocol":"UDP"}]}}"#,
    );
    let data = "x".repeat(2000);
    server.create(
        "configmaps",
        &format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"small","namespace":"shop"}},"data":{{"k":"{data}"}}}}"#
        ),
    );
    let back_off =
        "event_controller_plugin_warning_events_total{plugin=\"c_warning_events\",reason=\"BackOff\"}";
    let oom = "event_controller_plugin_warning_events_total{plugin=\"c_warning_events\",reason=\"OOMKilling\"}";
    let node_ports =
        "event_controller_plugin_exposed_services{plugin=\"zig_service_exposure\",type=\"NodePort\"}";
    let sizes = "event_controller_plugin_object_data_bytes_count{plugin=\"assemblyscript_configmap_size\",kind=\"ConfigMap\"}";
    let small = "event_controller_plugin_object_data_bytes_bucket{plugin=\"assemblyscript_configmap_size\",kind=\"ConfigMap\",le=\"4096\"}";
    controller.wait_until("every plugin's metric", |_| {
        controller.metric(back_off) == 2.0
            && controller.metric(oom) == 1.0
            && controller.metric(node_ports) == 1.0
            && controller.metric(sizes) == 1.0
    });
    assert_eq!(controller.metric(small), 1.0, "2,000 bytes fall under 4096");
    let (_, text) = controller.get("/metrics");
    assert!(
        !text.contains("reason=\"Pulled\""),
        "a Normal event is not counted:\n{text}"
    );
    assert!(
        text.contains("# HELP event_controller_plugin_warning_events Warning events by reason"),
        "{text}"
    );
}
