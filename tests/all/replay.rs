//! End-to-end tests of `event-controller replay` and `check`: the real binary, the real wasmtime,
//! real plugins built from source in this repository, and real watch events recorded from a real
//! API server (`conf/sample-events.jsonl`).

use serde_json::Value;
use support::*;

/// What `plugin_simple` must log for every object event of the sample, computed independently
/// of the host: a full parse of each line with serde_json.
fn expected_simple_lines() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("conf/sample-events.jsonl")).expect("sample");
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("fixture is JSON"))
        .filter(|event| {
            matches!(
                event["type"].as_str(),
                Some("ADDED" | "MODIFIED" | "DELETED")
            )
        })
        .map(|event| {
            let object = &event["object"];
            let message = format!(
                "Kind: {}; Name: {}",
                object["kind"].as_str().expect("kind"),
                object["metadata"]["name"].as_str().expect("name")
            );
            ("INFO".to_owned(), message)
        })
        .collect()
}

#[test]
fn sample_events_give_the_seeds_exact_lines() {
    let dir = plugins_dir(&["plugin_simple", "plugin_crashloop"]);
    let run = replay(dir.path(), &repo().join("conf/sample-events.jsonl"), &[]);
    assert!(run.status.success(), "replay failed:\n{}", run.stderr);

    let simple = run.plugin_messages("plugin_simple");
    assert_eq!(simple, expected_simple_lines());
    assert_eq!(
        simple.len(),
        33,
        "33 object events; the BOOKMARK is not passed on"
    );
    assert_eq!(simple[0].1, "Kind: Pod; Name: web-7d4b9c6f5-x2k8p");

    // Fields on every outcome line identify the event.
    let first = run
        .logs
        .iter()
        .find(|l| l["target"] == "plugin" && l["plugin"] == "plugin_simple")
        .expect("a plugin line");
    assert_eq!(first["event_type"], "ADDED");
    assert_eq!(first["kind"], "Pod");
    assert_eq!(first["namespace"], "shop");
    assert_eq!(first["name"], "web-7d4b9c6f5-x2k8p");

    // The crashloop plugin warns on exactly the Pods the fixture drove into trouble, and is
    // silent for everything else (including the DELETED event of the OOMKilled Pod).
    let sidecar = "Pod shop/web-7d4b9c6f5-x2k8p: container \"metrics-sidecar\" is in CrashLoopBackOff (restarts: 5)";
    let worker = "Pod payments/ledger-worker-0: container \"worker\" is in CrashLoopBackOff and was OOMKilled (restarts: 3)";
    let warn = |m: &str| ("WARN".to_owned(), m.to_owned());
    assert_eq!(
        run.plugin_messages("plugin_crashloop"),
        [warn(sidecar), warn(worker), warn(worker), warn(sidecar)]
    );

    let summary = run
        .logs
        .iter()
        .find(|l| l["message"] == "replay finished")
        .expect("summary line");
    assert_eq!(summary["delivered"], 33);
    assert_eq!(summary["skipped"], 1);
    assert_eq!(summary["malformed"], 0);
}

#[test]
fn broken_plugins_are_named_and_the_rest_go_on() {
    let dir = plugins_dir(&[
        "plugin_simple",
        "test_trap",
        "test_bad_pointer",
        "test_bad_json",
        "test_no_handle_event",
    ]);
    std::fs::write(
        dir.path().join("not_wasm.wasm"),
        "#!/bin/sh\necho I am not wasm\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("README.md"), "not a plugin").expect("write");
    let events = events_file(
        dir.path(),
        "events.jsonl",
        &[
            pod_event("ADDED", "ns", "first"),
            pod_event("ADDED", "ns", "crash-me"),
            pod_event("MODIFIED", "ns", "after-crash"),
            pod_event("DELETED", "ns", "last"),
        ],
    );
    let run = replay(dir.path(), &events, &[]);
    assert!(run.status.success(), "replay failed:\n{}", run.stderr);

    // The good plugin saw every event.
    let simple: Vec<String> = run
        .plugin_messages("plugin_simple")
        .into_iter()
        .map(|m| m.1)
        .collect();
    assert_eq!(
        simple,
        [
            "Kind: Pod; Name: first",
            "Kind: Pod; Name: crash-me",
            "Kind: Pod; Name: after-crash",
            "Kind: Pod; Name: last"
        ]
    );

    // Load failures name the plugin and the reason, once each.
    let missing = run.errors_containing("test_no_handle_event.wasm");
    assert_eq!(missing.len(), 1, "{}", run.stderr);
    assert!(str_of(missing[0], "message").contains("missing export `handle_event`"));
    let not_wasm = run.errors_containing("not_wasm.wasm");
    assert_eq!(not_wasm.len(), 1, "{}", run.stderr);
    assert!(str_of(not_wasm[0], "message").contains("not a WebAssembly module"));
    assert!(run.errors_containing("README").is_empty());

    // A trap is logged once by the host with the plugin and the event; the next event gets a
    // fresh instance.
    let traps: Vec<&Value> = run
        .logs
        .iter()
        .filter(|l| l["plugin"] == "test_trap" && l["target"] != "plugin" && l["level"] == "ERROR")
        .collect();
    assert_eq!(traps.len(), 1, "{}", run.stderr);
    let trap = traps[0];
    assert_eq!(trap["name"], "crash-me");
    assert_eq!(trap["namespace"], "ns");
    assert_eq!(trap["kind"], "Pod");
    let message = str_of(trap, "message");
    assert!(message.contains("trapped"), "{message}");
    assert!(message.contains("fresh instance"), "{message}");
    // Before it traps, the SDK reports the panic's message and location through the host.
    let from_trap = run.plugin_messages("test_trap");
    let (panics, survived): (Vec<_>, Vec<_>) =
        from_trap.iter().partition(|(level, _)| level == "ERROR");
    assert_eq!(panics.len(), 1, "{from_trap:?}");
    assert!(
        panics[0]
            .1
            .starts_with("plugin panicked at tests/plugins/test_trap/src/lib.rs:"),
        "{panics:?}"
    );
    assert!(
        panics[0].1.ends_with("asked to crash by crash-me"),
        "{panics:?}"
    );
    let survived: Vec<&str> = survived.iter().map(|m| m.1.as_str()).collect();
    assert_eq!(survived, ["ok first", "ok after-crash", "ok last"]);

    // Bad results are reported per event and the plugin keeps being called.
    let bad_pointer = run.errors_containing("outside the");
    assert_eq!(bad_pointer.len(), 4, "{}", run.stderr);
    assert!(bad_pointer
        .iter()
        .all(|l| l["plugin"] == "test_bad_pointer"));
    let bad_json = run.errors_containing("result is not a JSON object");
    assert_eq!(bad_json.len(), 4, "{}", run.stderr);
    assert!(bad_json.iter().all(|l| l["plugin"] == "test_bad_json"));
}

#[test]
fn malformed_lines_are_reported_with_their_number_and_skipped() {
    let dir = plugins_dir(&["plugin_simple"]);
    let good = pod_event("ADDED", "ns", "good");
    let truncated = good[..good.len() - 20].to_owned();
    let events = events_file(
        dir.path(),
        "events.jsonl",
        &[
            good.clone(),
            "this is not json".to_owned(),
            String::new(),
            truncated,
            r#"{"type":"SOMETHING","object":{}}"#.to_owned(),
            pod_event("DELETED", "ns", "good"),
        ],
    );
    let run = replay(dir.path(), &events, &[]);
    assert!(!run.status.success(), "bad lines must fail the run");
    assert!(run.stderr.contains("3 of 5 lines"), "{}", run.stderr);
    for line in [2, 4, 5] {
        let hits = run.errors_containing(&format!("line {line}:"));
        assert_eq!(
            hits.len(),
            1,
            "line {line} not reported once:\n{}",
            run.stderr
        );
    }
    assert!(str_of(run.errors_containing("line 4:")[0], "message").contains("truncated"));
    assert!(str_of(run.errors_containing("line 5:")[0], "message").contains("unknown type"));
    let simple: Vec<String> = run
        .plugin_messages("plugin_simple")
        .into_iter()
        .map(|m| m.1)
        .collect();
    assert_eq!(simple, ["Kind: Pod; Name: good", "Kind: Pod; Name: good"]);
}

#[test]
fn replays_from_stdin_and_writes_a_log_file() {
    use std::io::Write;
    let dir = plugins_dir(&["plugin_simple"]);
    let log = dir.path().join("out.log");
    let mut child = controller()
        .args(["replay", "-", "--log-format", "json", "--plugins-dir"])
        .arg(dir.path())
        .arg("--log-file")
        .arg(&log)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{}", pod_event("ADDED", "a", "from-stdin")).expect("write");
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    let text = std::fs::read_to_string(&log).expect("log file");
    let line: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["target"] == "plugin" && l["plugin"] == "plugin_simple")
        .expect("plugin line in the log file");
    assert_eq!(line["message"], "Kind: Pod; Name: from-stdin");
}

#[test]
fn text_logs_carry_the_fields_too() {
    let dir = plugins_dir(&["plugin_simple"]);
    let events = events_file(
        dir.path(),
        "e.jsonl",
        &[pod_event("ADDED", "shop", "web-1")],
    );
    let output = controller()
        .args(["replay", "--plugins-dir"])
        .arg(dir.path())
        .arg(&events)
        .output()
        .expect("run");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("Kind: Pod; Name: web-1"))
        .unwrap_or_else(|| panic!("no plugin line in:\n{stderr}"));
    for field in [
        " INFO ",
        "plugin=\"plugin_simple\"",
        "event_type=\"ADDED\"",
        "namespace=\"shop\"",
        "name=\"web-1\"",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
}

#[test]
fn init_receives_the_plugins_config_section() {
    let dir = plugins_dir(&["test_init_config"]);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[plugins.test_init_config.config]\ngreeting = \"hej\"\n",
    )
    .expect("write");
    let events = events_file(dir.path(), "e.jsonl", &[pod_event("ADDED", "ns", "p")]);
    let run = replay(
        dir.path(),
        &events,
        &["--config", config.to_str().expect("utf8")],
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(
        run.plugin_messages("test_init_config"),
        [("INFO".to_owned(), "hej Pod/p".to_owned())]
    );

    // Without the key the plugin refuses to start: its reason and the refusal are logged.
    std::fs::write(&config, "[plugins.test_init_config.config]\nother = 1\n").expect("write");
    let run = replay(
        dir.path(),
        &events,
        &["--config", config.to_str().expect("utf8")],
    );
    assert!(run.status.success(), "{}", run.stderr);
    let reason = run.plugin_messages("test_init_config");
    assert_eq!(reason.len(), 1, "{}", run.stderr);
    assert_eq!(reason[0].0, "ERROR");
    assert!(reason[0].1.contains("greeting"), "{reason:?}");
    assert_eq!(
        run.errors_containing("init refused the plugin's config")
            .len(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_config_file_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "plugins_dir = \"/p\"\n\n[plugins.x]\nenabeld = true\n",
    )
    .expect("write");
    let output = controller()
        .args(["replay", "-", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("{}:4:1: unknown field `enabeld`", config.display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn wasi_output_and_the_log_import_reach_the_log() {
    let dir = plugins_dir(&["test_wasi_stdout", "test_log_import"]);
    let events = events_file(dir.path(), "e.jsonl", &[pod_event("ADDED", "ns", "p1")]);
    let run = replay(dir.path(), &events, &[]);
    assert!(run.status.success(), "{}", run.stderr);
    let wasi: Vec<(String, String, String)> = run
        .logs
        .iter()
        .filter(|l| l["plugin"] == "test_wasi_stdout")
        .map(|l| {
            (
                str_of(l, "stream"),
                str_of(l, "level"),
                str_of(l, "message"),
            )
        })
        .collect();
    assert!(
        wasi.contains(&("stdout".into(), "INFO".into(), "stdout line for p1".into())),
        "{wasi:?}"
    );
    assert!(
        wasi.contains(&("stderr".into(), "WARN".into(), "stderr line".into())),
        "{wasi:?}"
    );
    let logged = run.plugin_messages("test_log_import");
    assert_eq!(
        logged,
        [
            ("WARN".to_owned(), "host log from p1".to_owned()),
            ("INFO".to_owned(), "logged".to_owned())
        ]
    );
}

#[test]
fn a_plugin_written_by_hand_in_wat_works() {
    // The no-SDK example of docs/ABI.md, section 7, verbatim.
    let abi_doc = std::fs::read_to_string(repo().join("docs/ABI.md")).expect("ABI.md");
    let wat = abi_doc
        .split("```wat\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a wat block in docs/ABI.md");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("by_hand.wasm"),
        wat::parse_str(wat).expect("valid wat"),
    )
    .expect("write");
    let events = events_file(dir.path(), "e.jsonl", &[pod_event("ADDED", "ns", "x")]);
    let run = replay(dir.path(), &events, &[]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(
        run.plugin_messages("by_hand"),
        [("INFO".to_owned(), "hello".to_owned())]
    );
}

#[test]
fn check_validates_and_calls_a_plugin() {
    let output = controller()
        .arg("check")
        .arg(plugin("plugin_simple"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("result:   INFO Kind: Pod; Name: web-7d4b9c6f5-x2k8p"),
        "{stdout}"
    );
    assert!(stdout.contains("abi:      v1 (declared)"), "{stdout}");

    let output = controller()
        .arg("check")
        .arg(plugin("test_no_handle_event"))
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("test_no_handle_event.wasm"), "{stderr}");
    assert!(
        stderr.contains("missing export `handle_event` (expected func (i32, i32) -> i64)"),
        "{stderr}"
    );
}

#[test]
fn run_without_resources_says_what_to_set() {
    let output = controller().arg("run").output().expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nothing to watch: set K8S_RESOURCE"),
        "{stderr}"
    );
}

/// A hand-written module around `body`, with the ABI's required exports.
fn wat_plugin(dir: &std::path::Path, name: &str, body: &str) {
    let wat = format!(
        r#"(module
            {body}
            (memory (export "memory") 1)
            (global $bump (mut i32) (i32.const 1024))
            (func (export "alloc") (param $len i32) (result i32)
              (local $p i32)
              (local.set $p (global.get $bump))
              (global.set $bump (i32.add (global.get $bump) (local.get $len)))
              (local.get $p))
            (func (export "dealloc") (param i32 i32)))"#
    );
    let bytes = wat::parse_str(&wat).expect("valid wat");
    std::fs::write(dir.join(format!("{name}.wasm")), bytes).expect("write");
}

#[test]
fn reactors_are_initialised_first_and_abi_versions_are_checked() {
    let dir = tempfile::tempdir().expect("tmp");
    // `_initialize` writes the message that handle_event returns: it must run first.
    wat_plugin(
        dir.path(),
        "reactor",
        r#"(data (i32.const 16) "{\"message\":\"not initialised\"}")
           (func (export "_initialize")
             (i32.store (i32.const 28) (i32.const 0x20206b6f)))
           (func (export "ec_abi_version") (result i32) (i32.const 1))
           (func (export "handle_event") (param i32 i32) (result i64)
             (i64.const 68719476765))"#,
    );
    wat_plugin(
        dir.path(),
        "from_the_future",
        r#"(func (export "ec_abi_version") (result i32) (i32.const 2))
           (func (export "handle_event") (param i32 i32) (result i64) (i64.const 0))"#,
    );
    wat_plugin(
        dir.path(),
        "wants_env",
        r#"(import "env" "abort" (func (param i32)))
           (func (export "handle_event") (param i32 i32) (result i64) (i64.const 0))"#,
    );
    let events = events_file(dir.path(), "e.jsonl", &[pod_event("ADDED", "ns", "x")]);
    let run = replay(dir.path(), &events, &[]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(
        run.plugin_messages("reactor"),
        [("INFO".to_owned(), "ok  initialised".to_owned())]
    );
    let future = run.errors_containing("from_the_future.wasm");
    assert_eq!(future.len(), 1, "{}", run.stderr);
    assert!(str_of(future[0], "message")
        .contains("plugin requires ABI version 2; this host supports 1"));
    let env = run.errors_containing("wants_env.wasm");
    assert_eq!(env.len(), 1, "{}", run.stderr);
    assert!(
        str_of(env[0], "message")
            .contains("imports `env::abort` (func (i32) -> ()), which the host does not provide"),
        "{}",
        run.stderr
    );
}

/// `record` writes the watch events the live controller delivers, in the form `replay` reads:
/// replayed through `test_echo`, the recording gives exactly the live run's lines, the initial
/// list and the changes after it alike; it stops by itself after `--count` events.
#[test]
fn a_recording_replays_exactly_like_the_live_run() {
    use support::apiserver::ApiServer;
    use support::controller::{Controller, PATIENCE};
    let server = ApiServer::start();
    for name in ["a", "b", "c"] {
        server.create("pods", &pod_object("shop", name, "nginx:1"));
    }
    let live = Controller::start(&server, &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("recorded.jsonl");
    let mut recorder = controller()
        .arg("record")
        .arg(&file)
        .args(["--count", "5", "--log-format", "json"])
        .env("K8S_API_ENDPOINT", server.url())
        .env("K8S_RESOURCE", "pods")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the recorder");
    let lines = || {
        std::fs::read_to_string(&file)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    };
    wait::until(
        PATIENCE,
        || (lines() >= 3).then_some(()),
        || format!("the recorder wrote {} lines of the initial list", lines()),
    );
    live.wait_for_events(3);
    server.modify("pods", &pod_object("shop", "b", "nginx:2"));
    server.delete("pods", &pod_object("shop", "c", ""));
    let status = wait::until(
        PATIENCE,
        || recorder.try_wait().expect("the recorder's status"),
        || {
            format!(
                "the recorder did not stop after 5 events ({} written)",
                lines()
            )
        },
    );
    assert!(status.success(), "{status:?}");
    assert_eq!(lines(), 5);

    let live_lines = live.wait_for_events(5);
    let plugins = plugins_dir(&["test_echo"]);
    let replayed = replay(plugins.path(), &file, &[]);
    assert!(replayed.status.success(), "{}", replayed.stderr);
    let replayed: Vec<String> = replayed
        .plugin_messages("test_echo")
        .into_iter()
        .map(|(_, message)| message)
        .collect();
    assert_eq!(replayed, live_lines);
    assert_eq!(
        live_lines[3..],
        [
            "MODIFIED shop/b rv=4".to_owned(),
            "DELETED shop/c rv=5".to_owned()
        ]
    );
}

/// `record` also stops after `--seconds` (here writing to stdout) and on SIGINT, with what it
/// recorded so far complete.
#[test]
fn a_recording_stops_after_its_seconds_and_on_ctrl_c() {
    use support::apiserver::ApiServer;
    use support::controller::PATIENCE;
    let server = ApiServer::start();
    for name in ["a", "b"] {
        server.create("pods", &pod_object("shop", name, "nginx:1"));
    }
    let record = || {
        let mut command = controller();
        command
            .env("K8S_API_ENDPOINT", server.url())
            .env("K8S_RESOURCE", "pods")
            .arg("record");
        command
    };
    let timed = record()
        .args(["-", "--seconds", "1"])
        .output()
        .expect("run the recorder");
    assert!(timed.status.success(), "{timed:?}");
    let stdout = String::from_utf8(timed.stdout).expect("UTF-8");
    let names: Vec<String> = stdout
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).expect("a JSON event per line");
            assert_eq!(event["type"], "ADDED", "{line}");
            str_of(&event["object"]["metadata"], "name")
        })
        .collect();
    assert_eq!(names, ["a", "b"]);

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("interrupted.jsonl");
    let mut recorder = record().arg(&file).spawn().expect("start the recorder");
    let lines = || {
        std::fs::read_to_string(&file)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    };
    wait::until(
        PATIENCE,
        || (lines() == 2).then_some(()),
        || format!("the recorder wrote {} of 2 lines", lines()),
    );
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &recorder.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupted.success());
    let status = wait::until(
        PATIENCE,
        || recorder.try_wait().expect("the recorder's status"),
        || "the recorder did not stop on SIGINT".to_owned(),
    );
    assert!(status.success(), "{status:?}");
    assert_eq!(lines(), 2);
}
