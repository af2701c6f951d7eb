//! What the integration tests (`tests/all`) and the benchmarks (`host/benches`) share: the real
//! binary and real plugins, parsed JSON logs, a faithful Kubernetes API server
//! ([`apiserver`]), a real cluster through kubectl ([`cluster`]), replicas ([`replicas`]),
//! and the real services the integration plugins talk to ([`alertmanager`], [`cfssl`],
//! [`pdns`]). Every wait polls through [`wait`].

pub mod alertmanager;
pub mod apiserver;
pub mod cfssl;
pub mod cluster;
pub mod controller;
pub mod pdns;
pub mod registry;
pub mod replicas;
pub mod server;
pub mod wait;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/support is two levels down")
        .to_owned()
}

/// The `event-controller` binary Cargo built beside the running test or benchmark (as
/// `assert_cmd` finds it): `target/PROFILE/deps/TEST` runs, `target/PROFILE/event-controller`
/// is the binary. `EVENT_CONTROLLER_BIN` overrides it.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("EVENT_CONTROLLER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let mut dir = exe.parent().expect("the test's directory").to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let binary = dir.join(format!("event-controller{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is not built: run the tests with `cargo test -p event-controller`",
        binary.display()
    );
    binary
}

/// A built plugin: `target/plugins/NAME.wasm` or `target/test-plugins/NAME.wasm`.
pub fn plugin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    for dir in ["plugins", "test-plugins"] {
        let path = target.join(dir).join(format!("{name}.wasm"));
        if path.is_file() {
            return path;
        }
    }
    panic!("plugin {name}.wasm is not built: run `just plugins` (scripts/build-plugins.sh) first");
}

/// A temporary plugins directory holding copies of the named plugins.
pub fn plugins_dir(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in names {
        std::fs::copy(plugin(name), dir.path().join(format!("{name}.wasm"))).expect("copy plugin");
    }
    dir
}

/// A temporary plugins directory holding copies of the named plugins and a `config.toml`
/// holding `config`; returns it and the config file's path, for `CONFIG_FILE` or `--config`.
pub fn plugins_dir_with_config(names: &[&str], config: &str) -> (tempfile::TempDir, String) {
    let dir = plugins_dir(names);
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).expect("write config");
    let path = path.to_str().expect("UTF-8 path").to_owned();
    (dir, path)
}

/// [`plugins_dir_with_config`] with the plugins copied under other names (`file name <-
/// plugin`): one plugin loaded several times, with different settings.
pub fn plugin_copies_with_config(
    copies: &[(&str, &str)],
    config: &str,
) -> (tempfile::TempDir, String) {
    let (dir, config_path) = plugins_dir_with_config(&[], config);
    for (file, plugin_name) in copies {
        std::fs::copy(plugin(plugin_name), dir.path().join(format!("{file}.wasm")))
            .expect("copy plugin");
    }
    (dir, config_path)
}

/// The binary, with no configuration leaking in from the environment, its metrics on a free
/// loopback port (tests run in parallel; the log line "serving /metrics" names the port), and
/// no module cache.
pub fn controller() -> Command {
    let mut cmd = Command::new(binary());
    for var in [
        "RUST_LOG",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "LOG_FILE",
        "CONFIG_FILE",
        "PLUGINS_DIR",
        "HOT_RELOAD",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("METRICS_ADDRESS", "127.0.0.1:0");
    // No compiled-module cache unless a test asks for one: tests stay out of ~/.cache.
    cmd.env("MODULE_CACHE_DIR", "off");
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `replay` of `events` (a path) over `plugins_dir` with JSON logs on stderr.
pub fn replay(plugins_dir: &Path, events: &Path, extra: &[&str]) -> Run {
    let output = controller()
        .args(["replay", "--log-format", "json", "--plugins-dir"])
        .arg(plugins_dir)
        .arg(events)
        .args(extra)
        .output()
        .expect("run event-controller");
    Run::from(output)
}

/// A finished run of the binary, its stderr parsed as JSON log lines.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub logs: Vec<Value>,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let logs = stderr
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
            logs,
        }
    }
}

impl Run {
    /// Log lines whose `plugin` field is `plugin`, as (level, message), in order.
    pub fn plugin_messages(&self, plugin: &str) -> Vec<(String, String)> {
        self.logs
            .iter()
            .filter(|l| l["target"] == "plugin" && l["plugin"] == plugin)
            .map(|l| (str_of(l, "level"), str_of(l, "message")))
            .collect()
    }

    /// Error lines of the host (not plugin output) whose message contains `needle`.
    pub fn errors_containing(&self, needle: &str) -> Vec<&Value> {
        self.logs
            .iter()
            .filter(|l| l["level"] == "ERROR" && str_of(l, "message").contains(needle))
            .collect()
    }
}

pub fn str_of(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// Writes `bytes` to `path` the way `kubectl cp` or an installer does: a temporary file beside it
/// (`NAME.wasm.tmp`, which the controller ignores), then a rename over the old one.
pub fn replace_atomically(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("wasm.tmp");
    std::fs::write(&temporary, bytes).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

/// Writes `lines` as a JSONL events file in `dir`.
pub fn events_file(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write events");
    path
}

/// A small Pod watch event (uid `uid-{name}`, resourceVersion 1), a line of an events file.
pub fn pod_event(event_type: &str, namespace: &str, name: &str) -> String {
    pod_event_at(event_type, namespace, name, 1)
}

/// [`pod_event`] at resourceVersion `rv`.
pub fn pod_event_at(event_type: &str, namespace: &str, name: &str, rv: u64) -> String {
    serde_json::json!({
        "type": event_type,
        "object": {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"), "resourceVersion": rv.to_string()},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }
    })
    .to_string()
}

/// A small Pod object (one container `c` running `image`), what the test API server's
/// `create`, `modify` and `delete` take.
pub fn pod_object(namespace: &str, name: &str, image: &str) -> String {
    format!(
        r#"{{"metadata":{{"name":"{name}","namespace":"{namespace}"}},"spec":{{"containers":[{{"name":"c","image":"{image}"}}]}}}}"#
    )
}

/// [`pod_object`] with one label, `app: {app}`, for label selectors.
pub fn labelled_pod_object(namespace: &str, name: &str, image: &str, app: &str) -> String {
    format!(
        r#"{{"metadata":{{"name":"{name}","namespace":"{namespace}","labels":{{"app":"{app}"}}}},"spec":{{"containers":[{{"name":"c","image":"{image}"}}]}}}}"#
    )
}

/// A small OpenShift Route object (`route.openshift.io/v1`, which the test API server serves
/// when built `with_routes`): `host` routed to the Service `name`.
pub fn route_object(namespace: &str, name: &str, host: &str) -> String {
    serde_json::json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"host": host, "to": {"kind": "Service", "name": name, "weight": 100}, "wildcardPolicy": "None"},
    })
    .to_string()
}

/// `TYPE namespace/name rv=N`, what `test_echo` logs, for a watch line the server sent.
pub fn echo_of(line: &str) -> String {
    let event: Value = serde_json::from_str(line).expect("watch line");
    let meta = &event["object"]["metadata"];
    format!(
        "{} {}/{} rv={}",
        event["type"].as_str().expect("type"),
        meta["namespace"].as_str().unwrap_or(""),
        meta["name"].as_str().expect("name"),
        meta["resourceVersion"].as_str().expect("rv"),
    )
}

/// An echo line (`TYPE namespace/name rv=N`) with another type: what a synthesized event of
/// that type for the same state looks like.
pub fn retyped(echo: &str, event_type: &str) -> String {
    let (_, rest) = echo.split_once(' ').expect("an echo line");
    format!("{event_type} {rest}")
}

/// The resourceVersion at the end of an echo line.
pub fn rv_of(echo: &str) -> u64 {
    let rv = echo.rsplit("rv=").next().unwrap_or("");
    rv.parse()
        .unwrap_or_else(|_| panic!("no resourceVersion in {echo:?}"))
}

/// `lines` sorted, for comparing what a list delivered (a list is in key order, not event
/// order).
pub fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}
