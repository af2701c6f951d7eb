//! A real CFSSL CA server (`cfssl serve`) on a free loopback port, with a test CA made by
//! `cfssl gencert -initca` in a temporary directory, for the certificate plugin's tests.

use crate::server::ServerProcess;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const HINT: &str = "run `bash scripts/toolchains/cfssl.sh install`";
/// How long to wait for CFSSL to answer.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running `cfssl serve`, killed on drop. A test may [`stop`](Cfssl::stop) it and
/// [`start_again`](Cfssl::start_again) it: the same port, the same CA.
pub struct Cfssl {
    process: ServerProcess,
    dir: tempfile::TempDir,
    port: u16,
    ca_pem: String,
}

/// True when `program ARGS` runs.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

impl Cfssl {
    /// Starts CFSSL, or returns `None` (skipping loudly) when it or openssl is missing;
    /// under CI a missing tool fails the test instead.
    pub fn start_or_skip(test: &str) -> Option<Cfssl> {
        let missing: Vec<&str> = [("cfssl", "version"), ("openssl", "version")]
            .into_iter()
            .filter(|(program, arg)| !runs(program, &[arg]))
            .map(|(program, _)| program)
            .collect();
        if !missing.is_empty() {
            let message = format!("{} not found; {HINT}", missing.join(" and "));
            if std::env::var_os("CI").is_some() {
                panic!("{test}: {message}");
            }
            eprintln!("SKIPPED {test}: {message}");
            return None;
        }
        Some(Cfssl::start())
    }

    fn start() -> Cfssl {
        let dir = tempfile::tempdir().expect("temp dir");
        let csr = dir.path().join("ca-csr.json");
        std::fs::write(
            &csr,
            r#"{"CN": "event-controller test CA", "key": {"algo": "ecdsa", "size": 256},
                "names": [{"O": "event-controller tests"}]}"#,
        )
        .expect("write CSR");
        // The CA as JSON ({"cert", "key", "csr"}); read here rather than with cfssljson.
        let output = Command::new("cfssl")
            .args(["gencert", "-initca"])
            .arg(&csr)
            .output()
            .expect("run cfssl gencert");
        assert!(
            output.status.success(),
            "cfssl gencert -initca: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let ca: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cfssl's JSON");
        let ca_pem = ca["cert"].as_str().expect("cert").to_owned();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).expect("write CA");
        std::fs::write(
            dir.path().join("ca-key.pem"),
            ca["key"].as_str().expect("key"),
        )
        .expect("write CA key");

        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("address")
            .port();
        let workdir = dir.path().to_owned();
        let process = ServerProcess::spawn("cfssl serve", workdir.join("cfssl.log"), {
            move || {
                let mut command = Command::new("cfssl");
                command
                    .arg("serve")
                    .args(["-address", "127.0.0.1", "-port", &port.to_string()])
                    .args(["-ca", "ca.pem", "-ca-key", "ca-key.pem", "-loglevel", "1"])
                    .current_dir(&workdir);
                command
            }
        });
        let cfssl = Cfssl {
            process,
            dir,
            port,
            ca_pem,
        };
        if let Err(log) = cfssl.process.wait_until(PATIENCE, || cfssl.is_ready()) {
            panic!("CFSSL is not up: {log}");
        }
        cfssl
    }

    /// Whether it answers `info` with 200.
    fn is_ready(&self) -> bool {
        matches!(self.post("/api/v1/cfssl/info", "{}"), Ok((200, _)))
    }

    /// Kills it, as a crash or an outage would: connections to its port are refused.
    pub fn stop(&self) {
        self.process.stop();
    }

    /// Starts it again after [`Cfssl::stop`]: the same port and CA; waits until it answers.
    pub fn start_again(&self) {
        self.process.start_again(PATIENCE, || self.is_ready());
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The test CA's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// What `cfssl serve` logged.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// `POST path` with a JSON body over HTTP/1.0: status and body.
    fn post(&self, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not HTTP: {answer:?}")))?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
