//! A real Prometheus Alertmanager for the integration tests: Debian's `prometheus-alertmanager`
//! (`bash scripts/toolchains/integrations.sh install`) on `127.0.0.1` and a free port, with a
//! temporary storage path, a receiver that sends nothing and clustering off. A test may
//! [`stop`](Alertmanager::stop) it and [`start_again`](Alertmanager::start_again) it on the same
//! port with the same storage. Dropping it kills the process.
//!
//! ```ignore
//! let Some(am) = Alertmanager::start_or_skip("my_test") else { return };
//! // ... let a plugin POST to am.url() + "/api/v2/alerts" ...
//! let alerts = am.wait_for_alerts(|alerts| !alerts.is_empty());
//! ```
//!
//! What its API shows (Alertmanager 0.25, checked against the real binary):
//! - `GET /api/v2/alerts` lists the alerts that are not resolved, each with `labels`,
//!   `annotations`, `startsAt`, `endsAt`, `updatedAt`, `fingerprint`, `receivers` and
//!   `status.state` (`active`, `suppressed` or `unprocessed`). A firing alert stays listed until
//!   its `endsAt` passes.
//! - A **resolved** alert (one posted with `endsAt` not after now) is not listed at all, not
//!   even with `?active=false` or any other filter: the API leaves resolved alerts out. What
//!   shows a resolution is the alert leaving the list before its previous `endsAt`, and the
//!   counter `alertmanager_alerts_received_total{status="resolved",version="v2"}` in
//!   `/metrics` ([`Alertmanager::received`]).
//! - It keeps its alerts in memory only (the storage path holds silences and the notification
//!   log): started again, it holds no alerts, and its counters start from 0.

use super::server::ServerProcess;
use super::wait;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The binary of Debian's package.
pub const BINARY: &str = "/usr/bin/prometheus-alertmanager";
/// How to get it.
pub const INSTALL_HINT: &str = "bash scripts/toolchains/integrations.sh install";
/// How long to wait for Alertmanager, or for a state of its alerts.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Routes every alert to a receiver with no integrations: nothing is sent anywhere.
const CONFIG: &str = r#"route:
  receiver: "null"
receivers:
  - name: "null"
"#;

/// A running Alertmanager, killed on drop.
pub struct Alertmanager {
    process: ServerProcess,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    /// True when the binary is installed.
    pub fn available() -> bool {
        Path::new(BINARY).is_file()
    }

    /// Starts one, or, when the binary is missing, fails under CI (`CI` set) and otherwise
    /// says loudly that `test` is skipped and returns `None`.
    pub fn start_or_skip(test: &str) -> Option<Alertmanager> {
        if Self::available() {
            return Some(Self::start());
        }
        let message =
            format!("Prometheus Alertmanager ({BINARY}) is not installed: run `{INSTALL_HINT}`");
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED {test}: {message}");
        None
    }

    /// Starts one and waits until `GET /-/ready` answers 200.
    pub fn start() -> Alertmanager {
        // A port taken between probing and binding shows as an early exit: try another.
        let mut last_log = String::new();
        for _ in 0..5 {
            match Self::try_start() {
                Ok(am) => return am,
                Err(log) => last_log = log,
            }
        }
        panic!("Alertmanager did not start:\n{last_log}");
    }

    fn try_start() -> Result<Alertmanager, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, CONFIG).expect("write the Alertmanager config");
        let addr = free_port();
        let storage = dir.path().join("data");
        let process = ServerProcess::spawn(
            "Alertmanager",
            dir.path().join("alertmanager.log"),
            move || {
                let mut command = Command::new(BINARY);
                command
                    .arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.path={}", storage.display()))
                    .arg(format!("--web.listen-address={addr}"))
                    .arg("--cluster.listen-address=");
                command
            },
        );
        let am = Alertmanager { process, addr, dir };
        match am.process.wait_until(PATIENCE, || am.is_ready()) {
            Ok(()) => Ok(am),
            // Running but not ready: something is wrong, trying another port will not help.
            Err(log) if am.process.is_running() => panic!("{log}"),
            Err(log) => Err(log),
        }
    }

    fn is_ready(&self) -> bool {
        matches!(self.try_get("/-/ready"), Ok((200, _)))
    }

    /// Kills it, as a crash or an outage would: from now on, connections to its port are
    /// refused.
    pub fn stop(&self) {
        self.process.stop();
    }

    /// Starts it again after [`Alertmanager::stop`], on the same port with the same config and
    /// storage, and waits until it is ready. It holds no alerts then.
    pub fn start_again(&self) {
        self.process.start_again(PATIENCE, || self.is_ready());
    }

    /// `http://127.0.0.1:PORT`, the `url` the plugin takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Its temporary directory (config, storage, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The alerts it holds that are not resolved (`GET /api/v2/alerts`: active, silenced,
    /// inhibited and unprocessed ones).
    pub fn alerts(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v2/alerts");
        assert_eq!(status, 200, "GET /api/v2/alerts: {body}");
        match serde_json::from_str(&body) {
            Ok(Value::Array(alerts)) => alerts,
            _ => panic!("GET /api/v2/alerts is not a JSON array: {body}"),
        }
    }

    /// The alerts whose label `name` is `value`.
    pub fn alerts_with(&self, name: &str, value: &str) -> Vec<Value> {
        self.alerts()
            .into_iter()
            .filter(|a| a["labels"][name] == value)
            .collect()
    }

    /// Polls [`Alertmanager::alerts`] until `done` holds, and returns them; panics after
    /// [`PATIENCE`] with `context` and the alerts.
    pub fn wait_for_alerts(
        &self,
        context: &dyn Fn() -> String,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let mut seen = Vec::new();
        let found = wait::within(PATIENCE, || {
            let alerts = self.alerts();
            if done(&alerts) {
                return Some(alerts);
            }
            seen = alerts;
            None
        });
        found.unwrap_or_else(|| {
            panic!(
                "Alertmanager's alerts did not get there in {PATIENCE:?}: {seen:#?}\n{}",
                context()
            )
        })
    }

    /// How many alerts it received through API v2 with `status` `firing` or `resolved` (the
    /// counter `alertmanager_alerts_received_total` in `/metrics`).
    pub fn received(&self, status: &str) -> f64 {
        let (code, body) = self.get("/metrics");
        assert_eq!(code, 200, "GET /metrics: {body}");
        let series =
            format!("alertmanager_alerts_received_total{{status=\"{status}\",version=\"v2\"}} ");
        body.lines()
            .find_map(|line| line.strip_prefix(series.as_str()))
            .map(|value| value.trim().parse().expect("a number"))
            .unwrap_or(0.0)
    }

    /// `GET path`: the status code and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path).unwrap_or_else(|e| {
            panic!(
                "GET {path} from Alertmanager at {}: {e}\n{}",
                self.addr,
                self.log()
            )
        })
    }

    /// `GET path` over HTTP/1.0, so the answer is never chunked and ends with the connection.
    fn try_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\nAccept: application/json\r\n\r\n",
            self.addr
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| {
                let text = String::from_utf8_lossy(&response);
                std::io::Error::other(format!("not an HTTP response: {text}"))
            })?;
        let head = String::from_utf8_lossy(&response[..split]);
        let body = &response[split + 4..];
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status in {head}")))?;
        let chunked = head.lines().any(|line| {
            line.to_ascii_lowercase()
                .replace(' ', "")
                .starts_with("transfer-encoding:chunked")
        });
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        };
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// A loopback address with a port nobody listens on (right now).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}

/// The body of a chunked transfer (servers should not send one to HTTP/1.0; just in case).
fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&bytes[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        let rest = &bytes[line_end + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        bytes = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
    }
    out
}
