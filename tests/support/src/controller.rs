//! The controller's `run` command as a child process, watching a test API server, its JSON log
//! collected line by line, its metrics and health endpoints at hand.

use super::apiserver::ApiServer;
use super::{controller, plugins_dir, str_of, wait};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a test waits for the controller to catch up before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// How long a test keeps listening after the expected events, to catch duplicates.
pub const QUIET: Duration = Duration::from_millis(700);

/// The controller as a child process, its JSON log collected line by line.
pub struct Controller {
    child: Child,
    logs: Arc<Mutex<Vec<Value>>>,
    /// Reads the log until the process closes it.
    reader: Option<std::thread::JoinHandle<()>>,
    plugins: tempfile::TempDir,
}

impl Controller {
    pub fn start(server: &ApiServer, env: &[(&str, &str)]) -> Controller {
        Self::start_with(server, &["test_echo"], env)
    }

    pub fn start_with(server: &ApiServer, plugins: &[&str], env: &[(&str, &str)]) -> Controller {
        Self::start_in(server, plugins_dir(plugins), env)
    }

    /// Like [`Controller::start_with`] over a plugins directory the test prepared.
    pub fn start_in(
        server: &ApiServer,
        plugins: tempfile::TempDir,
        env: &[(&str, &str)],
    ) -> Controller {
        let url = server.url();
        let mut with_server = vec![("K8S_API_ENDPOINT", url.as_str()), ("K8S_RESOURCE", "pods")];
        with_server.extend_from_slice(env);
        Self::launch(plugins, &with_server)
    }

    /// `run` over `plugins` with `env` alone saying which API server and what to watch (a real
    /// cluster's kubeconfig or token, say).
    pub fn launch(plugins: tempfile::TempDir, env: &[(&str, &str)]) -> Controller {
        let mut child = controller()
            .args(["run", "--log-format", "json", "--plugins-dir"])
            .arg(plugins.path())
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the controller");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().expect("log lock").push(value);
            }
        });
        Controller {
            child,
            logs,
            reader: Some(reader),
            plugins,
        }
    }

    pub fn logs(&self) -> Vec<Value> {
        self.logs.lock().expect("log lock").clone()
    }

    /// What `test_echo` logged so far.
    pub fn echoed(&self) -> Vec<String> {
        self.plugin_said("test_echo")
    }

    /// What `plugin` logged so far.
    pub fn plugin_said(&self, plugin: &str) -> Vec<String> {
        self.logs()
            .iter()
            .filter(|l| l["target"] == "plugin" && l["plugin"] == plugin)
            .map(|l| str_of(l, "message"))
            .collect()
    }

    /// The host's ERROR lines about `plugin` failing a call (`plugin failed on ...`).
    pub fn call_failures(&self, plugin: &str) -> Vec<Value> {
        self.logs()
            .into_iter()
            .filter(|l| {
                l["plugin"] == plugin
                    && l["target"] != "plugin"
                    && l["level"] == "ERROR"
                    && str_of(l, "message").starts_with("plugin failed on")
            })
            .collect()
    }

    /// What `plugin` logged so far, as (level, message).
    pub fn plugin_lines(&self, plugin: &str) -> Vec<(String, String)> {
        self.logs()
            .iter()
            .filter(|l| l["target"] == "plugin" && l["plugin"] == plugin)
            .map(|l| (str_of(l, "level"), str_of(l, "message")))
            .collect()
    }

    /// What `plugin` logged so far containing `needle` (`""` for every line), as (level,
    /// message).
    pub fn plugin_lines_with(&self, plugin: &str, needle: &str) -> Vec<(String, String)> {
        self.plugin_lines(plugin)
            .into_iter()
            .filter(|(_, message)| message.contains(needle))
            .collect()
    }

    /// Waits until `plugin` logged `n` lines containing `needle` (`""`: `n` lines in all);
    /// returns all of them so far, as (level, message).
    pub fn wait_for_plugin_lines(
        &self,
        plugin: &str,
        needle: &str,
        n: usize,
    ) -> Vec<(String, String)> {
        wait::until(
            PATIENCE,
            || {
                let lines = self.plugin_lines_with(plugin, needle);
                (lines.len() >= n).then_some(lines)
            },
            || {
                let logged = self.plugin_lines_with(plugin, needle).len();
                let what = if needle.is_empty() {
                    format!("{logged} of {n} lines")
                } else {
                    format!("{needle:?} {logged} times, not {n}")
                };
                format!("{plugin} logged {what}:\n{:#?}", self.logs())
            },
        )
    }

    /// Waits, up to `patience`, until `done` holds for what `plugin` logged so far; returns
    /// those lines. `what` names the wait in the failure.
    pub fn wait_for_plugin(
        &self,
        plugin: &str,
        what: &str,
        patience: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        wait::until(
            patience,
            || {
                let said = self.plugin_said(plugin);
                done(&said).then_some(said)
            },
            || {
                let said = self.plugin_said(plugin);
                format!("{what}: {plugin} logged:\n{said:#?}")
            },
        )
    }

    /// Waits until the plugin has received `n` events in all, then a little longer.
    pub fn wait_for_events(&self, n: usize) -> Vec<String> {
        wait::until(
            PATIENCE,
            || (self.echoed().len() >= n).then_some(()),
            || {
                format!(
                    "the plugin got {} of {n} events:\n{:#?}",
                    self.echoed().len(),
                    self.logs()
                )
            },
        );
        std::thread::sleep(QUIET);
        self.echoed()
    }

    /// Waits until a host log line contains `needle`.
    pub fn wait_for_log(&self, needle: &str) -> Value {
        self.wait_for_log_within(PATIENCE, needle)
    }

    /// [`Controller::wait_for_log`] with its own patience, for what takes long on a busy
    /// machine (compiling a 12-19 MB component without a cache).
    pub fn wait_for_log_within(&self, patience: Duration, needle: &str) -> Value {
        wait::until(
            patience,
            || {
                self.logs()
                    .into_iter()
                    .find(|l| str_of(l, "message").contains(needle))
            },
            || format!("no log line with {needle:?}:\n{:#?}", self.logs()),
        )
    }

    /// Its plugins directory, to change while it runs.
    pub fn plugins_dir(&self) -> &std::path::Path {
        self.plugins.path()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Where it serves /metrics, /healthz and /readyz (from its log).
    pub fn endpoints(&self) -> String {
        str_of(&self.wait_for_log("serving /metrics"), "address")
    }

    /// `GET path` on the metrics and health endpoints: status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let address = self.endpoints();
        get_at(&address, path).unwrap_or_else(|error| panic!("GET {path} from {address}: {error}"))
    }

    /// The value of one series of `/metrics`, e.g.
    /// `event_controller_plugin_failures_total{plugin="x",kind="trap"}`; 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.trim().parse().expect("a number"))
            .unwrap_or(0.0)
    }

    /// SIGKILL (a crash: nothing is saved, nothing handed over), then waits for the end.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.terminate_with_logs().0
    }

    /// SIGTERM; the exit status and the whole log, read to its end.
    pub fn terminate_with_logs(mut self) -> (std::process::ExitStatus, Vec<Value>) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = self.child.wait().expect("wait");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("log reader");
        }
        (status, self.logs())
    }

    /// Waits until `found` holds for the log; `what` names it in the failure.
    pub fn wait_until(&self, what: &str, found: impl Fn(&[Value]) -> bool) {
        wait::until(
            PATIENCE,
            || found(&self.logs()).then_some(()),
            || format!("{what} never came:\n{:#?}", self.logs()),
        );
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` from the endpoints at `address`: status code and body; an error when nothing
/// answers there (the process has ended).
pub fn get_at(address: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(address)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            let message = format!("not an HTTP response: {response}");
            std::io::Error::new(std::io::ErrorKind::InvalidData, message)
        })?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
