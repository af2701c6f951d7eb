//! A real Kubernetes cluster for the opt-in suite (`tests/real_cluster.rs`): the one whose
//! kubeconfig `EC_E2E_KUBECONFIG` names, driven with `kubectl` as a user would.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The variable naming the kubeconfig of the cluster under test.
pub const KUBECONFIG_VAR: &str = "EC_E2E_KUBECONFIG";
/// The variable naming a shell command that restarts that cluster's API server.
pub const RESTART_VAR: &str = "EC_E2E_RESTART_COMMAND";
/// The label every object a test creates carries; controllers under test select on it.
pub const LABEL: &str = "event-controller.test/e2e=yes";

/// The cluster `EC_E2E_KUBECONFIG` names, with its API server's URL and CA read from it.
pub struct RealCluster {
    kubeconfig: PathBuf,
    server: String,
    /// Holds `ca.crt`, the CA the kubeconfig trusts, as a PEM file.
    ca_dir: tempfile::TempDir,
}

impl RealCluster {
    /// The cluster under test; fails (never passes) when `EC_E2E_KUBECONFIG` is unset.
    pub fn from_env() -> RealCluster {
        let Some(kubeconfig) = std::env::var_os(KUBECONFIG_VAR) else {
            panic!(
                "{KUBECONFIG_VAR} is not set: this real-cluster test needs a cluster \
                 (see docs/real-cluster.md; `just e2e` runs the suite)"
            );
        };
        let mut cluster = RealCluster {
            kubeconfig: PathBuf::from(kubeconfig),
            server: String::new(),
            ca_dir: tempfile::tempdir().expect("temp dir"),
        };
        let view = cluster.json(&["config", "view", "--raw", "--minify", "--flatten"]);
        let entry = &view["clusters"][0]["cluster"];
        cluster.server = entry["server"].as_str().expect("a server").to_owned();
        let ca = entry["certificate-authority-data"].as_str().unwrap_or("");
        let pem = decode_base64(ca);
        std::fs::write(cluster.ca_file(), pem).expect("write ca.crt");
        cluster
    }

    /// The API server's URL, as `K8S_API_ENDPOINT` takes it.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The CA that signs the API server's certificate, as `K8S_CA` takes it.
    pub fn ca_file(&self) -> PathBuf {
        self.ca_dir.path().join("ca.crt")
    }

    /// The kubeconfig, as `KUBECONFIG` takes it.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `kubectl ARGS` with the cluster's kubeconfig (admin rights, as a user applying manifests).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_input(args, None)
    }

    /// `kubectl ARGS`, which must succeed; its standard output.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        succeeded(args, self.kubectl(args))
    }

    /// `kubectl ARGS -o json`, which must succeed; the object it prints.
    pub fn json(&self, args: &[&str]) -> Value {
        let args = [args, &["-o", "json"]].concat();
        serde_json::from_str(&self.kubectl_ok(&args)).expect("kubectl prints JSON")
    }

    /// `kubectl ARGS -o json` with `input` on its standard input; the object it prints.
    pub fn json_with_input(&self, args: &[&str], input: &Value) -> Value {
        let args = [args, &["-f", "-", "-o", "json"]].concat();
        let output = self.kubectl_with_input(&args, Some(input.to_string()));
        serde_json::from_str(&succeeded(&args, output)).expect("kubectl prints JSON")
    }

    fn kubectl_with_input(&self, args: &[&str], input: Option<String>) -> Output {
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl on PATH (needed for the real-cluster tests)");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(input) = input {
            stdin.write_all(input.as_bytes()).expect("write to kubectl");
        }
        drop(stdin);
        child.wait_with_output().expect("kubectl output")
    }

    /// A new namespace of this test's own, removed when dropped.
    pub fn namespace(&self, purpose: &str) -> TestNamespace<'_> {
        let name = format!("ec-e2e-{purpose}-{}", std::process::id());
        self.kubectl_ok(&["create", "namespace", &name]);
        TestNamespace {
            cluster: self,
            name,
        }
    }

    /// Runs `EC_E2E_RESTART_COMMAND` (stop and start the API server); fails when unset.
    pub fn restart_api_server(&self) {
        let Some(command) = std::env::var_os(RESTART_VAR) else {
            panic!(
                "{RESTART_VAR} is not set: this test restarts the API server with that shell \
                 command (for ../shared/realk8s: \"$HOME/.cache/realk8s/stop.sh && \
                 $HOME/.cache/realk8s/start.sh\"); skip it with --skip if it cannot be done"
            );
        };
        let status = Command::new("bash")
            .arg("-c")
            .arg(&command)
            .stdout(Stdio::null())
            .status()
            .expect("run the restart command");
        assert!(status.success(), "{command:?} failed: {status:?}");
    }
}

fn succeeded(args: &[&str], output: Output) -> String {
    assert!(
        output.status.success(),
        "kubectl {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 from kubectl")
}

/// The bytes of standard base64 `text` (what kubeconfigs embed), with coreutils' `base64`.
fn decode_base64(text: &str) -> Vec<u8> {
    let mut child = Command::new("base64")
        .arg("--decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("base64 (coreutils)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).expect("write");
    drop(stdin);
    let output = child.wait_with_output().expect("base64 output");
    assert!(output.status.success(), "not base64: {text}");
    output.stdout
}

/// A namespace a test made for itself, where it creates, changes and deletes ConfigMaps and
/// Pods; deleted (without waiting) when dropped.
pub struct TestNamespace<'a> {
    cluster: &'a RealCluster,
    pub name: String,
}

impl TestNamespace<'_> {
    /// Creates ConfigMap `name` holding `value`; what `test_echo` logs for its ADDED event.
    pub fn create_configmap(&self, name: &str, value: &str) -> String {
        let map = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": self.name, "labels": label()},
            "data": {"value": value},
        });
        echo("ADDED", &self.cluster.json_with_input(&["create"], &map))
    }

    /// Sets ConfigMap `name`'s value; what `test_echo` logs for its MODIFIED event.
    pub fn modify_configmap(&self, name: &str, value: &str) -> String {
        let patch = serde_json::json!({"data": {"value": value}}).to_string();
        let args = [
            "patch",
            "configmap",
            name,
            "-n",
            &self.name,
            "--type",
            "merge",
        ];
        let patched = self.cluster.json(&[&args[..], &["-p", &patch]].concat());
        echo("MODIFIED", &patched)
    }

    /// Deletes ConfigMap `name`; what `test_echo`'s line for its DELETED event starts with.
    pub fn delete_configmap(&self, name: &str) -> String {
        self.cluster
            .kubectl_ok(&["delete", "configmap", name, "-n", &self.name]);
        format!("DELETED {}/{name} ", self.name)
    }

    /// Creates Pod `name` (with its namespace's `default` ServiceAccount, made if missing, as
    /// no controller-manager may be there to make it).
    pub fn create_pod(&self, name: &str) -> String {
        let account = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": self.name},
        });
        self.cluster.json_with_input(&["apply"], &account);
        let pod = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": self.name, "labels": label()},
            "spec": {"containers": [{"name": "c", "image": "registry.invalid/none:1"}]},
        });
        echo("ADDED", &self.cluster.json_with_input(&["create"], &pod))
    }
}

impl Drop for TestNamespace<'_> {
    fn drop(&mut self) {
        let _ = self
            .cluster
            .kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// The test label as a `metadata.labels` object.
fn label() -> Value {
    let (key, value) = LABEL.split_once('=').expect("key=value");
    serde_json::json!({ key: value })
}

/// `TYPE namespace/name rv=N`: what `test_echo` logs for an event of `event_type` on `object`.
pub fn echo(event_type: &str, object: &Value) -> String {
    let meta = &object["metadata"];
    format!(
        "{event_type} {}/{} rv={}",
        meta["namespace"].as_str().unwrap_or(""),
        meta["name"].as_str().expect("name"),
        meta["resourceVersion"].as_str().expect("resourceVersion"),
    )
}
