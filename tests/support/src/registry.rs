//! A real OCI registry for the plugin-source tests: Debian's `docker-registry` (the CNCF
//! Distribution server, `bash scripts/toolchains/integrations.sh install`) on `127.0.0.1` and
//! a free port, serving HTTPS with a certificate from a throwaway CA and requiring HTTP basic
//! auth from an htpasswd file (bcrypt), with its storage in a temporary directory. A test may
//! [`stop`](TestRegistry::stop) it and [`start_again`](TestRegistry::start_again) it on the
//! same port with the same storage. Dropping it kills the process.

use super::apiserver::TestCa;
use super::server::ServerProcess;
use base64::Engine;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The binary of Debian's package.
pub const BINARY: &str = "/usr/bin/docker-registry";
/// How to get it.
pub const INSTALL_HINT: &str = "bash scripts/toolchains/integrations.sh install";
/// How long to wait for it to listen.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// The user the registry lets in.
pub const USER: &str = "plugin-publisher";
/// That user's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running registry, killed on drop.
pub struct TestRegistry {
    process: ServerProcess,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// True when the binary is installed.
    pub fn available() -> bool {
        Path::new(BINARY).is_file()
    }

    /// Starts one, or, when the binary is missing, fails under CI (`CI` set) and otherwise says
    /// loudly that `test` is skipped and returns `None`.
    pub fn start_or_skip(test: &str) -> Option<TestRegistry> {
        if Self::available() {
            return Some(Self::start());
        }
        let message = format!("the OCI registry ({BINARY}) is not installed: run `{INSTALL_HINT}`");
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED {test}: {message}");
        None
    }

    /// Starts one and waits until it listens.
    pub fn start() -> TestRegistry {
        let mut last_log = String::new();
        for _ in 0..5 {
            match Self::try_start() {
                Ok(registry) => return registry,
                Err(log) => last_log = log,
            }
        }
        panic!("the registry did not start:\n{last_log}");
    }

    fn try_start() -> Result<TestRegistry, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = free_port();
        let config = write_config(dir.path(), addr);
        let process =
            ServerProcess::spawn("registry", dir.path().join("registry.log"), move || {
                let mut command = Command::new(BINARY);
                command.arg("serve").arg(&config);
                command
            });
        let registry = TestRegistry { process, addr, dir };
        match registry
            .process
            .wait_until(PATIENCE, || TcpStream::connect(addr).is_ok())
        {
            Ok(()) => Ok(registry),
            Err(log) if registry.process.is_running() => panic!("{log}"),
            Err(log) => Err(log),
        }
    }

    /// Kills it, as an outage would: connections to its port are refused from now on.
    pub fn stop(&self) {
        self.process.stop();
    }

    /// Starts it again after [`TestRegistry::stop`], on the same port with the same storage.
    pub fn start_again(&self) {
        let addr = self.addr;
        self.process
            .start_again(PATIENCE, || TcpStream::connect(addr).is_ok());
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `oci://127.0.0.1:PORT/REPO`.
    pub fn reference(&self, repository_and_tag: &str) -> String {
        format!("oci://{}/{repository_and_tag}", self.host())
    }

    /// The CA certificate (PEM) that signed the registry's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A docker config.json holding the user's credentials, as a pull secret mounts it.
    pub fn auth_file(&self) -> PathBuf {
        let path = self.dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        let text = serde_json::json!({"auths": {self.host(): {"auth": auth}}}).to_string();
        std::fs::write(&path, text).expect("write config.json");
        path
    }

    /// The `[registry]` section that reaches it (CA, credentials, a store in `store_dir`).
    pub fn config_section(&self, store_dir: &Path) -> String {
        format!(
            "[registry]\nca_file = {:?}\nauth_file = {:?}\ncache_dir = {:?}\n",
            self.ca_file().display().to_string(),
            self.auth_file().display().to_string(),
            store_dir.display().to_string(),
        )
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// Writes the CA, the server certificate and key, the htpasswd file and the config; the
/// config's path.
fn write_config(dir: &Path, addr: SocketAddr) -> PathBuf {
    let ca = TestCa::new("test registry CA");
    let (cert, key) = ca.server_pem("registry");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a registry file");
        path
    };
    write("ca.pem", &ca.pem());
    let cert = write("server.pem", &cert);
    let key = write("server-key.pem", &key);
    let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
    let htpasswd = write("htpasswd", &format!("{USER}:{hash}\n"));
    let storage = dir.join("storage");
    let config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: event-controller-tests\n    path: {}\n",
        storage.display(),
        cert.display(),
        key.display(),
        htpasswd.display(),
    );
    write("config.yml", &config)
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}
