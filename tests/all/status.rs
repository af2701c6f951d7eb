//! What runs, end to end: the real controller watches the test API server while the test loads,
//! breaks, refuses and removes plugins, and `GET /plugins` and `event-controller status` must
//! say so: each plugin's source, sha256, subscription, last failure, back-off and refused
//! version.

use serde_json::Value;
use support::apiserver::ApiServer;
use support::controller::{Controller, PATIENCE};
use support::*;

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET /plugins`, parsed.
fn plugins(controller: &Controller) -> Value {
    let (status, body) = controller.get("/plugins");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The plugins' names in `report`, in order.
fn names(report: &Value) -> Vec<String> {
    report["plugins"]
        .as_array()
        .expect("a list of plugins")
        .iter()
        .map(|plugin| str_of(plugin, "name"))
        .collect()
}

/// The entry of `name` in `report`.
fn entry(report: &Value, name: &str) -> Option<Value> {
    report["plugins"]
        .as_array()?
        .iter()
        .find(|plugin| plugin["name"] == name)
        .cloned()
}

/// Polls `/plugins` until the entry of `name` satisfies `done`; returns it.
fn wait_for_entry(
    controller: &Controller,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait::until(
        PATIENCE,
        || entry(&plugins(controller), name).filter(|plugin| done(plugin)),
        || format!("{what}: /plugins says {:#}", plugins(controller)),
    )
}

/// `event-controller status` with `args`.
fn status(args: &[&str]) -> Run {
    let output = controller()
        .arg("status")
        .args(args)
        .output()
        .expect("run event-controller status");
    Run::from(output)
}

/// The line of `table` whose first cell is `name`.
fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name} in\n{table}"))
}

#[test]
fn plugins_and_status_say_what_runs_fails_is_refused_and_goes() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let controller = Controller::start_with(&server, &["plugin_simple", "test_trap"], &[]);
    let dir = controller.plugins_dir().to_owned();
    let simple_path = dir.join("plugin_simple.wasm");
    let simple_bytes = std::fs::read(&simple_path).expect("plugin_simple");

    // Both loaded: their source, sha256 and subscription as the "plugin loaded" line says.
    let simple = wait_for_entry(&controller, "plugin_simple", "plugin_simple loaded", |p| {
        p["state"] == "running"
    });
    wait_for_entry(&controller, "test_trap", "test_trap loaded", |p| {
        p["state"] == "running"
    });
    assert_eq!(names(&plugins(&controller)), ["plugin_simple", "test_trap"]);
    assert_eq!(simple["source"], simple_path.display().to_string());
    assert_eq!(simple["sha256"], sha256(&simple_bytes));
    assert_eq!(simple["digest"], Value::Null);
    let loaded_line = controller
        .logs()
        .into_iter()
        .find(|l| l["plugin"] == "plugin_simple" && l["message"] == "plugin loaded")
        .expect("plugin_simple's load line");
    assert_eq!(simple["subscription"], loaded_line["subscription"]);
    assert!(!str_of(&simple, "subscription").is_empty(), "{simple}");
    assert!(
        simple["loaded"]["at_unix"].as_f64().unwrap_or(0.0) > 1.7e9,
        "{simple}"
    );
    assert!(str_of(&simple["loaded"], "at").ends_with('Z'), "{simple}");
    assert!(
        simple["loaded"]["duration_ms"].as_f64().is_some(),
        "{simple}"
    );
    assert!(simple["last_failure"].is_null() && simple["backoff"].is_null());
    assert!(simple["load_error"].is_null(), "{simple}");

    // test_trap traps on every crash-* Pod: after three in a row it is backed off. (The watch's
    // first list is done first: crash-* would come before web in it.)
    controller.wait_for_plugin_lines("test_trap", "ok web", 1);
    for i in 1..=3 {
        server.create(
            "pods",
            &pod_object("shop", &format!("crash-{i}"), "nginx:1"),
        );
    }
    let trap = wait_for_entry(&controller, "test_trap", "test_trap backed off", |p| {
        p["state"] == "backed-off"
    });
    let failure = &trap["last_failure"];
    assert_eq!(failure["kind"], "trap", "{trap}");
    assert!(
        str_of(failure, "event").starts_with("ADDED Pod shop/crash-"),
        "{trap}"
    );
    assert!(str_of(failure, "message").contains("trapped"), "{trap}");
    assert_eq!(trap["backoff"]["consecutive_failures"], 3, "{trap}");
    assert_eq!(trap["backoff"]["delay_ms"], 1000, "{trap}");
    assert!(trap["backoff"]["until_unix"].as_f64() > failure["at_unix"].as_f64());
    assert_eq!(trap["failures"], 3, "{trap}");
    assert_eq!(
        trap["failures"].as_f64(),
        Some(
            controller.metric(
                "event_controller_plugin_failures_total{plugin=\"test_trap\",kind=\"trap\"}"
            )
        )
    );
    assert_eq!(
        trap["calls"].as_f64(),
        Some(controller.metric("event_controller_plugin_calls_total{plugin=\"test_trap\"}"))
    );
    assert_eq!(trap["calls"], 4, "web, then three crashes: {trap}");
    assert_eq!(trap["pending_retries"], 0, "{trap}");

    // A broken new plugin_simple is refused; the old version keeps running. A broken plugin
    // with no version running is listed as failed.
    let garbage = b"this is not a wasm module".to_vec();
    replace_atomically(&simple_path, &garbage);
    replace_atomically(&dir.join("broken.wasm"), b"\0asm but no more");
    let simple = wait_for_entry(&controller, "plugin_simple", "the refused version", |p| {
        !p["load_error"].is_null()
    });
    assert_eq!(simple["state"], "running");
    assert_eq!(
        simple["sha256"],
        sha256(&simple_bytes),
        "the old version runs"
    );
    let refused = &simple["load_error"];
    assert_eq!(refused["sha256"], sha256(&garbage), "{simple}");
    assert_eq!(refused["source"], simple_path.display().to_string());
    assert!(!str_of(refused, "message").is_empty(), "{simple}");
    controller.wait_for_log("the running version stays in place");
    let broken = wait_for_entry(&controller, "broken", "broken failed", |p| {
        p["state"] == "failed"
    });
    assert!(broken["loaded"].is_null() && broken["subscription"].is_null());
    assert!(
        !str_of(&broken["load_error"], "message").is_empty(),
        "{broken}"
    );
    assert_eq!(broken["sha256"], sha256(b"\0asm but no more"));

    // `status` prints the same as a table, and `--json` the JSON itself.
    let address = controller.endpoints();
    let table = status(&["--address", &address]);
    assert!(table.status.success(), "{}", table.stderr);
    let text = &table.stdout;
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "STATE",
            "SOURCE",
            "SHA256",
            "LOADED",
            "QUEUE",
            "BACKLOG",
            "CALLS",
            "FAILURES",
            "LAST-FAILURE",
            "RETRIES"
        ],
        "{text}"
    );
    let simple_row: Vec<&str> = row(text, "plugin_simple").split_whitespace().collect();
    assert_eq!(simple_row[1], "running", "{text}");
    assert_eq!(simple_row[2], simple_path.display().to_string());
    assert_eq!(simple_row[3], &sha256(&simple_bytes)[..12]);
    let trap_row = row(text, "test_trap");
    assert!(trap_row.contains(" backed-off "), "{text}");
    assert!(trap_row.contains(" trap "), "{text}");
    let broken_row = row(text, "broken");
    assert!(broken_row.contains(" failed "), "{text}");
    assert!(
        text.contains("test_trap: backed off after 3 failures in a row"),
        "{text}"
    );
    assert!(
        text.contains("test_trap: last failure (trap, on ADDED Pod shop/crash-"),
        "{text}"
    );
    let refused_note = format!(
        "plugin_simple: version {} from {} refused",
        &sha256(&garbage)[..12],
        simple_path.display()
    );
    assert!(text.contains(&refused_note), "{text}");
    assert!(text.contains("keeps running"), "{text}");
    let json = status(&["--address", &address, "--json"]);
    assert!(json.status.success(), "{}", json.stderr);
    let parsed: Value = serde_json::from_str(&json.stdout).expect("--json prints JSON");
    assert_eq!(names(&parsed), ["broken", "plugin_simple", "test_trap"]);

    // Removed files leave the list: a running plugin and one that never loaded alike.
    std::fs::remove_file(dir.join("test_trap.wasm")).expect("remove test_trap");
    std::fs::remove_file(dir.join("broken.wasm")).expect("remove broken");
    wait::until(
        PATIENCE,
        || (names(&plugins(&controller)) == ["plugin_simple"]).then_some(()),
        || format!("removed plugins still listed: {:#}", plugins(&controller)),
    );
}

#[test]
fn status_says_clearly_when_nothing_answers() {
    // A port just released: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    drop(listener);
    let run = status(&["--address", &address]);
    assert!(!run.status.success());
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .contains(&format!("nothing answers at {address}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--address"), "{}", run.stderr);
}
