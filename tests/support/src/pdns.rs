//! A real PowerDNS (`pdns_server` with its sqlite3 backend and HTTP API) on loopback for the
//! DNS plugin's tests.

use crate::server::ServerProcess;
use crate::wait;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Debian's `pdns-server`.
pub const SERVER: &str = "/usr/sbin/pdns_server";
/// The gsqlite3 backend's schema, from Debian's `pdns-backend-sqlite3`.
pub const SCHEMA: &str = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";
/// How to get them.
pub const INSTALL_HINT: &str = "bash scripts/toolchains/pdns.sh install";
/// The zone every test server holds.
pub const ZONE: &str = "apps.example.com.";
/// The zone's SOA serial once created (PowerDNS applies `soa_edit_api` to the 1 it is given).
pub const INITIAL_SERIAL: u64 = 2;
/// How long to wait for the server to come up.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running `pdns_server` on `127.0.0.1` with its own database, killed on drop. A test
/// may [`stop`](PowerDns::stop) it and [`start_again`](PowerDns::start_again) it: the same
/// ports, the same database.
pub struct PowerDns {
    process: ServerProcess,
    dns_port: u16,
    api_port: u16,
    api_key: String,
    /// The database and the log; removed on drop (after the process is killed).
    _dir: tempfile::TempDir,
}

/// What is missing to run PowerDNS here, if anything.
fn missing() -> Option<String> {
    if !Path::new(SERVER).is_file() {
        return Some(format!(
            "the PowerDNS authoritative server ({SERVER}) is not installed"
        ));
    }
    if !Path::new(SCHEMA).is_file() {
        return Some(format!(
            "PowerDNS's SQLite backend ({SCHEMA}) is not installed"
        ));
    }
    for tool in ["dig", "sqlite3"] {
        let found = Command::new(tool)
            .arg(if tool == "dig" { "-v" } else { "--version" })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

impl PowerDns {
    /// Starts one with the zone [`ZONE`], or, when PowerDNS is missing, fails under CI
    /// (`CI` set) and otherwise says loudly that `test` is skipped and returns `None`.
    pub fn start_or_skip(test: &str) -> Option<PowerDns> {
        let Some(missing) = missing() else {
            return Some(PowerDns::start());
        };
        let message = format!("{missing}: run `{INSTALL_HINT}`");
        assert!(
            std::env::var_os("CI").is_none_or(|ci| ci.is_empty()),
            "{message}"
        );
        // Straight to the process's stderr: the test harness captures `eprintln!` of tests
        // that pass, and a skip must show.
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {message}");
        None
    }

    /// Starts one and creates [`ZONE`] through the API.
    pub fn start() -> PowerDns {
        // A port taken between probing and binding shows as an early exit: try others.
        let mut last = String::new();
        for _ in 0..5 {
            match PowerDns::try_start() {
                Ok(pdns) => {
                    pdns.create_zone();
                    return pdns;
                }
                Err(log) => last = log,
            }
        }
        panic!("PowerDNS did not start:\n{last}");
    }

    fn try_start() -> Result<PowerDns, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("pdns.sqlite3");
        let schema = std::fs::File::open(SCHEMA).expect("the schema");
        let created = Command::new("sqlite3")
            .arg(&db)
            .stdin(schema)
            .output()
            .expect("run sqlite3");
        assert!(
            created.status.success(),
            "sqlite3 {} < {SCHEMA}: {}",
            db.display(),
            String::from_utf8_lossy(&created.stderr)
        );
        // An empty pdns.conf in --config-dir: nothing from /etc/powerdns.
        std::fs::write(dir.path().join("pdns.conf"), "").expect("pdns.conf");
        let dns_port = free_dns_port();
        let api_port = free_tcp_port();
        let api_key = format!("test-key-{}-{dns_port}", std::process::id());
        let args = command_line(dir.path(), &db, dns_port, api_port, &api_key);
        let process = ServerProcess::spawn("pdns_server", dir.path().join("pdns.log"), move || {
            let mut command = Command::new(SERVER);
            command.args(&args);
            command
        });
        let pdns = PowerDns {
            process,
            dns_port,
            api_port,
            api_key,
            _dir: dir,
        };
        pdns.process
            .wait_until(PATIENCE, || pdns.is_ready())
            .map(|()| pdns)
    }

    /// Whether its API answers (only this server knows this key: another process on the
    /// port answers 401).
    fn is_ready(&self) -> bool {
        matches!(
            self.try_api("GET", "/api/v1/servers/localhost", None),
            Ok((200, _))
        )
    }

    /// Kills it, as a crash or an outage would: its API and DNS ports stop answering.
    pub fn stop(&self) {
        self.process.stop();
    }

    /// Starts it again after [`PowerDns::stop`]: the same ports, key and database (the
    /// zone and its records as they were), and waits until the API answers.
    pub fn start_again(&self) {
        self.process.start_again(PATIENCE, || self.is_ready());
    }

    fn create_zone(&self) {
        let soa = format!("ns1.{ZONE} hostmaster.{ZONE} 1 10800 3600 604800 60");
        let zone = json!({
            "name": ZONE, "kind": "Native", "nameservers": [format!("ns1.{ZONE}")],
            "soa_edit_api": "INCREASE",
            "rrsets": [{"name": ZONE, "type": "SOA", "ttl": 60,
                "records": [{"content": soa, "disabled": false}]}],
        });
        let (status, body) = self.api(
            "POST",
            "/api/v1/servers/localhost/zones",
            Some(&zone.to_string()),
        );
        assert_eq!(status, 201, "creating {ZONE}: {body}\n{}", self.log());
        // Serving it: the SOA answers over DNS.
        wait::until(
            PATIENCE,
            || (self.serial_or_none() == Some(INITIAL_SERIAL)).then_some(()),
            || format!("{ZONE} is not served over DNS:\n{}", self.log()),
        );
    }

    /// `http://127.0.0.1:PORT`, the API's base URL.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// An API request with the key: status and body.
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        self.try_api(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()))
    }

    fn try_api(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.api_port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let body = body.unwrap_or("");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.api_key,
            body.len()
        )?;
        read_response(stream)
    }

    /// Applies a PATCH of the zone (`{"rrsets": [...]}`) directly.
    pub fn patch(&self, rrsets: &Value) {
        let (status, body) = self.api(
            "PATCH",
            &format!("/api/v1/servers/localhost/zones/{ZONE}"),
            Some(&rrsets.to_string()),
        );
        assert_eq!(status, 204, "{body}");
    }

    /// Every rrset of the zone as the API shows it, sorted by name and type.
    pub fn rrsets(&self) -> Vec<Value> {
        let (status, body) = self.api(
            "GET",
            &format!("/api/v1/servers/localhost/zones/{ZONE}"),
            None,
        );
        assert_eq!(status, 200, "{body}");
        let zone: Value = serde_json::from_str(&body).expect("zone JSON");
        let mut rrsets = zone["rrsets"].as_array().cloned().unwrap_or_default();
        rrsets.sort_by_key(|r| (r["name"].to_string(), r["type"].to_string()));
        rrsets
    }

    /// `dig @127.0.0.1 -p PORT +short NAME TYPE`: the answers, one per line.
    pub fn dig(&self, name: &str, rtype: &str) -> Vec<String> {
        let output = self.run_dig(&["+short", name, rtype]);
        output
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The status of an A query for `name`: `NOERROR`, `NXDOMAIN`...
    pub fn status(&self, name: &str) -> String {
        let output = self.run_dig(&["+noall", "+comments", name, "A"]);
        output
            .split("status: ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("no status from dig for {name}:\n{output}"))
            .to_owned()
    }

    /// The zone's SOA serial, over DNS.
    pub fn serial(&self) -> u64 {
        self.serial_or_none()
            .unwrap_or_else(|| panic!("no SOA for {ZONE}:\n{}", self.log()))
    }

    fn serial_or_none(&self) -> Option<u64> {
        let output = self.try_dig(&["+short", ZONE, "SOA"]).ok()?;
        output.split_whitespace().nth(2)?.parse().ok()
    }

    fn run_dig(&self, args: &[&str]) -> String {
        self.try_dig(args)
            .unwrap_or_else(|e| panic!("dig {args:?}: {e}\nPowerDNS log:\n{}", self.log()))
    }

    fn try_dig(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new("dig")
            .arg("@127.0.0.1")
            .args(["-p", &self.dns_port.to_string(), "+time=2", "+tries=2"])
            .args(args)
            .output()
            .map_err(|e| format!("cannot run dig: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() || stdout.starts_with(";;") && stdout.contains("timed out") {
            return Err(format!(
                "{}: {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(stdout)
    }
}

/// The arguments of `pdns_server`: in the foreground, everything on the command line, no
/// file outside `dir`, nothing but loopback.
fn command_line(dir: &Path, db: &Path, dns_port: u16, api_port: u16, api_key: &str) -> Vec<String> {
    let dir = dir.display();
    vec![
        format!("--config-dir={dir}"),
        "--daemon=no".into(),
        "--guardian=no".into(),
        "--disable-syslog".into(),
        "--write-pid=no".into(),
        format!("--socket-dir={dir}"),
        "--launch=gsqlite3".into(),
        format!("--gsqlite3-database={}", db.display()),
        "--local-address=127.0.0.1".into(),
        format!("--local-port={dns_port}"),
        "--api=yes".into(),
        format!("--api-key={api_key}"),
        "--webserver=yes".into(),
        "--webserver-address=127.0.0.1".into(),
        format!("--webserver-port={api_port}"),
        "--webserver-allow-from=127.0.0.1".into(),
        // No security-status query to the Internet.
        "--security-poll-suffix=".into(),
        "--receiver-threads=1".into(),
        "--distributor-threads=1".into(),
    ]
}

/// A port free for both UDP and TCP on 127.0.0.1 (DNS listens on both).
fn free_dns_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("address").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
    listener.local_addr().expect("address").port()
}

/// Status and body of an HTTP/1.1 response (Content-Length, chunked, or up to EOF).
fn read_response(stream: TcpStream) -> std::io::Result<(u16, String)> {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {status_line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).map_err(std::io::Error::other)?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
