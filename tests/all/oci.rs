//! Plugins from an OCI registry, end to end, against a real registry (Debian's
//! `docker-registry`, the CNCF Distribution server) over TLS with basic auth: `push` publishes,
//! the controller pulls, follows a moved tag, keeps a digest pin, requires signatures by a
//! configured key, and rides out the registry being down (at start: the last good copy pulled
//! here runs; later: the running version stays).
//!
//! Keys are made with `openssl`, an implementation independent of ours.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::apiserver::ApiServer;
use support::controller::Controller;
use support::registry::TestRegistry;
use support::*;

/// `plugin_simple` with a custom section `version` holding `n`: the same plugin as a new
/// build, with other bytes and digests.
fn simple_version(n: u32) -> Vec<u8> {
    let mut wasm = std::fs::read(plugin("plugin_simple")).expect("plugin_simple");
    let name = b"version";
    let payload = n.to_string();
    let body_len = 1 + name.len() + payload.len();
    assert!(body_len < 128, "one-byte LEB128 sizes");
    wasm.push(0);
    wasm.push(body_len as u8);
    wasm.push(name.len() as u8);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(payload.as_bytes());
    wasm
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A test's files: the registry config, keys, plugin builds, the local store.
struct Scene {
    dir: tempfile::TempDir,
    registry_section: String,
}

impl Scene {
    fn new(registry: &TestRegistry) -> Scene {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry_section = registry.config_section(&dir.path().join("store"));
        Scene {
            dir,
            registry_section,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` as `name` and returns the path.
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// The controller's config file: the `[registry]` section, a 1 s rescan, and `plugins`.
    fn config(&self, plugins: &str) -> String {
        self.config_file("config.toml", plugins)
    }

    fn config_file(&self, name: &str, plugins: &str) -> String {
        let text = format!("rescan_seconds = 1\n{}\n{plugins}", self.registry_section);
        let path = self.file(name, text.as_bytes());
        path.to_str().expect("UTF-8").to_owned()
    }

    /// An ECDSA P-256 key pair made by openssl: (private PEM, public PEM).
    fn key_pair(&self, name: &str) -> (PathBuf, PathBuf) {
        let private = self.path(&format!("{name}.key"));
        let public = self.path(&format!("{name}.pub"));
        run(Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&private));
        run(Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public));
        (private, public)
    }

    /// `event-controller push`: the digest reference it printed.
    fn push(&self, wasm: &[u8], target: &str, sign_key: Option<&Path>) -> String {
        let file = self.file("push.wasm", wasm);
        let config = self.config_file("push.toml", "");
        let mut command = controller();
        command
            .args(["--config", &config, "push"])
            .arg(&file)
            .arg(target);
        if let Some(key) = sign_key {
            command.arg("--sign-key").arg(key);
        }
        let output = run(&mut command);
        let pushed = output
            .lines()
            .find_map(|line| line.strip_prefix("pushed "))
            .unwrap_or_else(|| panic!("push printed no reference: {output}"));
        assert!(pushed.contains("@sha256:"), "{pushed}");
        pushed.to_owned()
    }
}

/// Runs a command that must succeed; its stdout.
fn run(command: &mut Command) -> String {
    let output = command.output().expect("run");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `digest` of a reference `...@sha256:HEX`.
fn digest_of(pinned: &str) -> &str {
    pinned.split_once('@').map_or("", |(_, digest)| digest)
}

fn pulled_lines(controller: &Controller, plugin: &str) -> Vec<Value> {
    controller
        .logs()
        .into_iter()
        .filter(|l| {
            l["plugin"] == plugin && str_of(l, "message") == "plugin pulled from its registry"
        })
        .collect()
}

fn reloads_to(controller: &Controller, plugin: &str, sha: &str) -> bool {
    controller.logs().iter().any(|l| {
        l["plugin"] == plugin
            && str_of(l, "message").starts_with("plugin reloaded")
            && l["new_sha256"] == sha
    })
}

fn lines_for(controller: &Controller, plugin: &str, pod: &str) -> usize {
    let needle = format!("Kind: Pod; Name: {pod}");
    controller
        .plugin_said(plugin)
        .iter()
        .filter(|m| m.contains(&needle))
        .count()
}

#[test]
fn a_pushed_plugin_runs_follows_its_tag_and_a_digest_pin_stays() {
    let Some(registry) = TestRegistry::start_or_skip(
        "oci::a_pushed_plugin_runs_follows_its_tag_and_a_digest_pin_stays",
    ) else {
        return;
    };
    let scene = Scene::new(&registry);
    let tag = registry.reference("plugins/simple:stable");
    let v1 = simple_version(1);
    let pinned_v1 = scene.push(&v1, &tag, None);

    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let config = scene.config(&format!(
        "[plugins.follower]\nsource = {tag:?}\n\n[plugins.pinned]\nsource = {pinned_v1:?}\n"
    ));
    let controller = Controller::start_with(&server, &[], &[("CONFIG_FILE", &config)]);
    controller.wait_until("both plugins handle the Pod", |_| {
        lines_for(&controller, "follower", "web") == 1
            && lines_for(&controller, "pinned", "web") == 1
    });
    let pulled = pulled_lines(&controller, "follower");
    assert_eq!(pulled.len(), 1, "{pulled:#?}");
    assert_eq!(pulled[0]["digest"], digest_of(&pinned_v1));
    assert_eq!(pulled[0]["source"], tag.as_str());

    // The tag moves: the follower reloads to v2, the pin stays on v1.
    let v2 = simple_version(2);
    let pinned_v2 = scene.push(&v2, &tag, None);
    assert_ne!(pinned_v1, pinned_v2);
    controller.wait_until("the follower runs v2", |_| {
        reloads_to(&controller, "follower", &sha256(&v2))
    });
    server.create("pods", &pod_object("shop", "api", "nginx:1"));
    controller.wait_until("both plugins handle the new Pod", |_| {
        lines_for(&controller, "follower", "api") == 1
            && lines_for(&controller, "pinned", "api") == 1
    });
    assert!(
        !controller
            .logs()
            .iter()
            .any(|l| l["plugin"] == "pinned" && str_of(l, "message").starts_with("plugin reloaded")),
        "a digest pin never reloads"
    );

    // A broken build under the tag: refused, v2 keeps running.
    scene.push(b"\0asm\x01\0\0\0\x01\xff", &tag, None);
    controller.wait_for_log("the running version stays in place");
    server.create("pods", &pod_object("shop", "db", "postgres:16"));
    controller.wait_until("the follower still handles Pods", |_| {
        lines_for(&controller, "follower", "db") == 1
    });
    let (status, body) = controller.get("/plugins");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(digest_of(&pinned_v1)),
        "/plugins names the pinned digest: {body}"
    );
    assert!(body.contains(&tag), "/plugins names the tag: {body}");
}

#[test]
fn a_required_signature_must_be_there_and_by_the_configured_key() {
    let Some(registry) = TestRegistry::start_or_skip(
        "oci::a_required_signature_must_be_there_and_by_the_configured_key",
    ) else {
        return;
    };
    let scene = Scene::new(&registry);
    let (trusted_key, trusted_pub) = scene.key_pair("trusted");
    let (other_key, _) = scene.key_pair("other");
    let signed = registry.reference("plugins/signed:v1");
    let unsigned = registry.reference("plugins/unsigned:v1");
    let wrong = registry.reference("plugins/wrong:v1");
    scene.push(&simple_version(1), &signed, Some(&trusted_key));
    scene.push(&simple_version(1), &unsigned, None);
    scene.push(&simple_version(1), &wrong, Some(&other_key));

    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let key = trusted_pub.display().to_string();
    let config = scene.config(&format!(
        "[plugins.signed]\nsource = {signed:?}\nverify_key = {key:?}\n\n\
         [plugins.unsigned]\nsource = {unsigned:?}\nverify_key = {key:?}\n\n\
         [plugins.wrong]\nsource = {wrong:?}\nverify_key = {key:?}\n"
    ));
    let controller = Controller::start_with(&server, &[], &[("CONFIG_FILE", &config)]);
    controller.wait_until("the signed plugin handles the Pod", |_| {
        lines_for(&controller, "signed", "web") == 1
    });
    let pulled = pulled_lines(&controller, "signed");
    assert_eq!(pulled[0]["signed"], true, "{pulled:#?}");
    let refusal = |plugin: &str| {
        controller.wait_until(&format!("{plugin} refused"), |logs| {
            logs.iter()
                .any(|l| l["plugin"] == plugin && l["level"] == "ERROR")
        });
        let logs = controller.logs();
        let line = logs
            .iter()
            .find(|l| l["plugin"] == plugin && l["level"] == "ERROR")
            .expect("an error line");
        str_of(line, "message")
    };
    let message = refusal("unsigned");
    assert!(
        message.contains(&unsigned)
            && message.contains("signature required")
            && message.contains("no signature found"),
        "{message}"
    );
    let message = refusal("wrong");
    assert!(
        message.contains(&wrong) && message.contains("does not verify with the configured key"),
        "{message}"
    );
    assert_eq!(lines_for(&controller, "unsigned", "web"), 0);
    assert_eq!(lines_for(&controller, "wrong", "web"), 0);

    // The signed tag moves to an unsigned build: refused, the signed version stays.
    scene.push(&simple_version(2), &signed, None);
    controller.wait_until("the unsigned move is refused", |logs| {
        logs.iter().any(|l| {
            l["plugin"] == "signed"
                && l["level"] == "ERROR"
                && str_of(l, "message").contains("signature required")
                && str_of(l, "message").contains("the running version stays")
        })
    });
    server.create("pods", &pod_object("shop", "api", "nginx:1"));
    controller.wait_until("the signed plugin still handles Pods", |_| {
        lines_for(&controller, "signed", "api") == 1
    });
    assert!(!reloads_to(
        &controller,
        "signed",
        &sha256(&simple_version(2))
    ));
}

#[test]
fn with_the_registry_down_the_last_good_copy_starts_and_the_running_version_stays() {
    let Some(registry) = TestRegistry::start_or_skip(
        "oci::with_the_registry_down_the_last_good_copy_starts_and_the_running_version_stays",
    ) else {
        return;
    };
    let scene = Scene::new(&registry);
    let tag = registry.reference("plugins/simple:stable");
    scene.push(&simple_version(1), &tag, None);
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let config = scene.config(&format!("[plugins.remote]\nsource = {tag:?}\n"));

    // First run: pulled, which leaves a copy in the store.
    let first = Controller::start_with(&server, &[], &[("CONFIG_FILE", &config)]);
    first.wait_until("the plugin handles the Pod", |_| {
        lines_for(&first, "remote", "web") == 1
    });
    drop(first);

    // The registry goes down; a restart runs the stored copy, with a warning.
    registry.stop();
    let controller = Controller::start_with(&server, &[], &[("CONFIG_FILE", &config)]);
    let warning = controller.wait_for_log("starting the last good copy pulled here");
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert!(str_of(&warning, "message").contains(&tag), "{warning}");
    controller.wait_until("the stored copy handles the Pod", |_| {
        lines_for(&controller, "remote", "web") == 1
    });
    // Re-resolving while it is down (every second): no new warning, the plugin keeps running.
    server.create("pods", &pod_object("shop", "api", "nginx:1"));
    controller.wait_until("the plugin handles the new Pod", |_| {
        lines_for(&controller, "remote", "api") == 1
    });
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let outage_warnings = || {
        controller
            .logs()
            .iter()
            .filter(|l| l["plugin"] == "remote" && l["level"] == "WARN")
            .count()
    };
    assert_eq!(
        outage_warnings(),
        1,
        "the outage is logged once, not every rescan"
    );
    assert_eq!(
        pulled_lines(&controller, "remote").len(),
        0,
        "nothing was pulled"
    );

    // Back up with a new version under the tag: it is picked up.
    registry.start_again();
    let v2 = simple_version(2);
    scene.push(&v2, &tag, None);
    controller.wait_until("the reload to v2", |_| {
        reloads_to(&controller, "remote", &sha256(&v2))
    });
    controller.wait_for_log("registry source reachable again");
    assert_eq!(outage_warnings(), 1);
}

#[test]
fn pushing_without_credentials_or_to_a_stopped_registry_says_why() {
    let Some(registry) = TestRegistry::start_or_skip(
        "oci::pushing_without_credentials_or_to_a_stopped_registry_says_why",
    ) else {
        return;
    };
    let scene = Scene::new(&registry);
    let file = scene.file("plugin.wasm", &simple_version(1));
    let target = registry.reference("plugins/simple:v1");
    let ca_only = scene.file(
        "ca-only.toml",
        format!(
            "[registry]\nca_file = {:?}\n",
            registry.ca_file().display().to_string()
        )
        .as_bytes(),
    );
    let push = |config: &Path| {
        controller()
            .env("HOME", scene.path("home"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("DOCKER_CONFIG")
            .arg("--config")
            .arg(config)
            .arg("push")
            .arg(&file)
            .arg(&target)
            .output()
            .expect("run push")
    };
    let output = push(&ca_only);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&target), "names the reference: {stderr}");
    assert!(
        stderr.to_lowercase().contains("unauthorized") || stderr.contains("401"),
        "says the registry refused: {stderr}"
    );
    registry.stop();
    let output = push(&ca_only);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&target) && stderr.contains("onnect"),
        "says it could not connect: {stderr}"
    );
    assert!(!stderr.contains(support::registry::PASSWORD));
}
