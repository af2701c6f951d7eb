//! Hot reload, end to end: the real controller watches the test API server while the tests
//! change its plugins directory and config file in every way volumes really change, and check
//! what each plugin received, which version handled it, and what was logged.
//!
//! New versions of a plugin are its bytes plus a custom section with a counter: a different
//! file (and sha256) with the same behaviour, as a rebuilt plugin would be.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::apiserver::ApiServer;
use support::controller::Controller;
use support::*;

/// `wasm` with a custom section `name` holding `payload` appended.
fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0);
    leb128(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

/// Version `n` of plugin `name`: same code, different bytes.
fn version(name: &str, n: usize) -> Vec<u8> {
    let wasm = std::fs::read(plugin(name)).expect("plugin");
    with_custom_section(&wasm, "version", n.to_string().as_bytes())
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `plugin reloaded` lines for `plugin`.
fn reloads(controller: &Controller, plugin: &str) -> Vec<Value> {
    controller
        .logs()
        .into_iter()
        .filter(|l| is_reload_of(l, plugin))
        .collect()
}

/// Whether the log line `line` is a `plugin reloaded` line for `plugin`.
fn is_reload_of(line: &Value, plugin: &str) -> bool {
    line["plugin"] == plugin && str_of(line, "message").starts_with("plugin reloaded")
}

/// Waits until `plugin` runs the version whose sha256 is `sha`.
fn wait_for_version(controller: &Controller, plugin: &str, sha: &str) {
    controller.wait_until(&format!("the reload of {plugin} to {sha}"), |logs| {
        logs.iter()
            .any(|l| is_reload_of(l, plugin) && l["new_sha256"] == sha)
    });
}

/// The host's ERROR lines.
fn errors(controller: &Controller) -> Vec<Value> {
    controller
        .logs()
        .into_iter()
        .filter(|l| l["level"] == "ERROR" && l["target"] != "plugin")
        .collect()
}

/// Modifies `shop/web` once and waits until `test_echo` has logged `total` events.
fn one_more_event(server: &ApiServer, controller: &Controller, total: usize, image: &str) {
    server.modify("pods", &pod_object("shop", "web", image));
    controller.wait_for_events(total);
}

#[test]
fn new_plugins_are_loaded_removed_ones_unloaded_and_other_files_ignored() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let controller = Controller::start_with(&server, &["test_echo"], &[]);
    controller.wait_for_events(1);
    let dir = controller.plugins_dir().to_owned();

    for ignored in [
        "README.md",
        ".hidden.wasm",
        "test_digest.wasm.swp",
        "test_digest.wasm~",
    ] {
        std::fs::write(dir.join(ignored), b"not a plugin").expect("write");
    }
    replace_atomically(
        &dir.join("test_digest.wasm"),
        &std::fs::read(plugin("test_digest")).expect("plugin"),
    );
    controller.wait_for_log("plugin loaded");
    controller.wait_until("test_digest's load", |logs| {
        logs.iter()
            .any(|l| l["plugin"] == "test_digest" && str_of(l, "message") == "plugin loaded")
    });
    one_more_event(&server, &controller, 2, "nginx:2");
    controller.wait_until("test_digest's event", |_| {
        controller.plugin_said("test_digest").len() == 1
    });

    std::fs::remove_file(dir.join("test_digest.wasm")).expect("remove");
    controller.wait_for_log("plugin removed or disabled");
    one_more_event(&server, &controller, 3, "nginx:3");
    assert_eq!(controller.plugin_said("test_digest").len(), 1);
    assert!(errors(&controller).is_empty(), "{:#?}", errors(&controller));
}

#[test]
fn every_way_of_changing_a_file_reloads_it() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let (dir, config) = config_dir("rescan_seconds = 1\n");
    let controller = Controller::start_with(&server, &["test_echo"], &[("CONFIG_FILE", &config)]);
    controller.wait_for_events(1);
    let plugins = controller.plugins_dir().to_owned();
    let target = plugins.join("test_echo.wasm");
    let mut events = 1;

    // An atomic rename.
    let v1 = version("test_echo", 1);
    replace_atomically(&target, &v1);
    wait_for_version(&controller, "test_echo", &sha256(&v1));

    // A copy over the old file, in two chunks with a pause, as `cp` of a large file does.
    let v2 = version("test_echo", 2);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&target).expect("truncate");
        file.write_all(&v2[..v2.len() / 2]).expect("first half");
        file.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(30));
        file.write_all(&v2[v2.len() / 2..]).expect("second half");
    }
    wait_for_version(&controller, "test_echo", &sha256(&v2));
    events += 1;
    one_more_event(&server, &controller, events, "nginx:2");

    // The directory removed, then recreated with a new version.
    std::fs::remove_dir_all(&plugins).expect("remove the directory");
    std::thread::sleep(Duration::from_millis(300));
    events += 1;
    one_more_event(&server, &controller, events, "nginx:3");
    std::fs::create_dir(&plugins).expect("recreate the directory");
    let v3 = version("test_echo", 3);
    replace_atomically(&target, &v3);
    wait_for_version(&controller, "test_echo", &sha256(&v3));
    events += 1;
    one_more_event(&server, &controller, events, "nginx:4");

    // Every version counted once, nothing logged as an error, and no half file judged.
    let shas: Vec<String> = reloads(&controller, "test_echo")
        .iter()
        .map(|l| str_of(l, "new_sha256"))
        .collect();
    assert_eq!(shas, [sha256(&v1), sha256(&v2), sha256(&v3)]);
    assert!(errors(&controller).is_empty(), "{:#?}", errors(&controller));
    let reloaded = "event_controller_plugin_reloads_total{plugin=\"test_echo\"}";
    assert_eq!(controller.metric(reloaded), 3.0);
    drop(dir);
}

/// A temporary directory with a config file holding `text` (and no plugins: the controller's
/// plugins directory is another); the directory and the file's path.
fn config_dir(text: &str) -> (tempfile::TempDir, String) {
    plugins_dir_with_config(&[], text)
}

/// A ConfigMap volume as the kubelet writes it: the files live in a timestamped directory,
/// `..data` links to it, and each visible name links through `..data`. An update writes a new
/// directory and swaps `..data` atomically; the visible links never change.
struct ConfigMapVolume {
    dir: PathBuf,
    generation: usize,
}

impl ConfigMapVolume {
    fn new(dir: &Path, files: &[(&str, Vec<u8>)]) -> ConfigMapVolume {
        let mut volume = ConfigMapVolume {
            dir: dir.to_owned(),
            generation: 0,
        };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).expect("link");
        }
        volume
    }

    fn update(&mut self, files: &[(&str, Vec<u8>)]) {
        self.generation += 1;
        let old = format!("..2026_11_27_00_00_{:02}.{}", self.generation - 1, 1000);
        let new = format!("..2026_11_27_00_00_{:02}.{}", self.generation, 1000);
        std::fs::create_dir(self.dir.join(&new)).expect("data directory");
        for (name, bytes) in files {
            std::fs::write(self.dir.join(&new).join(name), bytes).expect("write");
        }
        std::os::unix::fs::symlink(&new, self.dir.join("..data_tmp")).expect("link");
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).expect("swap");
        let _ = std::fs::remove_dir_all(self.dir.join(old));
    }
}

#[test]
fn a_configmap_volume_update_is_picked_up() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let plugins = tempfile::tempdir().expect("temp dir");
    let mut volume = ConfigMapVolume::new(
        plugins.path(),
        &[("test_echo.wasm", version("test_echo", 0))],
    );
    let controller = Controller::start_in(&server, plugins, &[]);
    controller.wait_for_events(1);
    let v1 = version("test_echo", 1);
    volume.update(&[("test_echo.wasm", v1.clone())]);
    wait_for_version(&controller, "test_echo", &sha256(&v1));
    one_more_event(&server, &controller, 2, "nginx:2");
    assert!(errors(&controller).is_empty(), "{:#?}", errors(&controller));
}

#[test]
fn a_broken_upgrade_keeps_the_old_version_until_it_is_fixed() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let controller = Controller::start_with(&server, &["test_echo"], &[]);
    controller.wait_for_events(1);
    let target = controller.plugins_dir().join("test_echo.wasm");

    replace_atomically(&target, b"\0asm\x01\0\0\0 this is not the rest of a module");
    controller.wait_until("the report of the broken version", |_| {
        !errors(&controller).is_empty()
    });
    let error = &errors(&controller)[0];
    assert_eq!(error["plugin"], "test_echo");
    assert!(
        str_of(error, "message").contains("the running version stays in place"),
        "{error}"
    );
    one_more_event(&server, &controller, 2, "nginx:2");

    let fixed = version("test_echo", 1);
    replace_atomically(&target, &fixed);
    wait_for_version(&controller, "test_echo", &sha256(&fixed));
    one_more_event(&server, &controller, 3, "nginx:3");
    assert_eq!(errors(&controller).len(), 1, "{:#?}", errors(&controller));
}

/// Events stream without pause while the plugin is replaced 50 times: each event reaches the
/// plugin exactly once, in order, handled by whichever version was running.
#[test]
fn fifty_replacements_under_load_lose_and_duplicate_nothing() {
    const REPLACEMENTS: usize = 50;
    let server = std::sync::Arc::new(ApiServer::start());
    server.create("pods", &pod_object("shop", "web", "nginx:0"));
    let controller = Controller::start_with(&server, &["test_echo"], &[]);
    controller.wait_for_events(1);
    let target = controller.plugins_dir().join("test_echo.wasm");

    let streaming = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = std::thread::spawn({
        let (server, streaming) = (server.clone(), streaming.clone());
        move || {
            let mut modified = 0;
            while streaming.load(std::sync::atomic::Ordering::Relaxed) {
                modified += 1;
                server.modify(
                    "pods",
                    &pod_object("shop", "web", &format!("nginx:{modified}")),
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            modified
        }
    });
    for n in 1..=REPLACEMENTS {
        let next = version("test_echo", n);
        replace_atomically(&target, &next);
        wait_for_version(&controller, "test_echo", &sha256(&next));
    }
    streaming.store(false, std::sync::atomic::Ordering::Relaxed);
    let modified = writer.join().expect("writer");

    let echoed = controller.wait_for_events(1 + modified);
    let expected: Vec<String> = std::iter::once("ADDED shop/web rv=1".to_owned())
        .chain((2..=modified + 1).map(|rv| format!("MODIFIED shop/web rv={rv}")))
        .collect();
    assert_eq!(echoed, expected);
    assert_eq!(reloads(&controller, "test_echo").len(), REPLACEMENTS);
    assert!(
        modified > REPLACEMENTS,
        "only {modified} events were streamed"
    );
}

#[test]
fn a_config_change_reruns_init_and_a_bad_one_is_rejected() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let section =
        |greeting: &str| format!("[plugins.test_init_config.config]\ngreeting = \"{greeting}\"\n");
    let (dir, config) = config_dir(&section("hello"));
    let controller = Controller::start_with(
        &server,
        &["test_init_config", "test_echo"],
        &[("CONFIG_FILE", &config)],
    );
    controller.wait_for_events(1);
    controller.wait_until("the greeting hello", |_| {
        controller.plugin_said("test_init_config") == ["hello Pod/web"]
    });

    std::fs::write(&config, section("bonjour")).expect("write config");
    controller.wait_until("the reload of the new config", |_| {
        reloads(&controller, "test_init_config").len() == 1
    });
    one_more_event(&server, &controller, 2, "nginx:2");
    controller.wait_until("the greeting bonjour", |_| {
        controller.plugin_said("test_init_config").len() == 2
    });
    assert_eq!(
        controller.plugin_said("test_init_config")[1],
        "bonjour Pod/web"
    );

    std::fs::write(&config, format!("greting = \"typo\"\n{}", section("hola")))
        .expect("write config");
    let rejected = controller.wait_for_log("new config rejected");
    let message = str_of(&rejected, "message");
    assert!(
        message.contains("config.toml:1:1: unknown field `greting`"),
        "{message}"
    );
    assert!(
        message.contains("the previous config stays in force"),
        "{message}"
    );
    one_more_event(&server, &controller, 3, "nginx:3");
    controller.wait_until("the greeting bonjour again", |_| {
        controller.plugin_said("test_init_config").len() == 3
    });
    assert_eq!(
        controller.plugin_said("test_init_config")[2],
        "bonjour Pod/web"
    );
    drop(dir);
}

#[test]
fn plugins_see_only_what_they_subscribed_to() {
    let server = ApiServer::start();
    let echo = std::fs::read(plugin("test_echo")).expect("plugin");
    let declared = with_custom_section(
        &echo,
        "event-controller.subscribe",
        br#"{"namespaces":["payments"]}"#,
    );
    let plugins = tempfile::tempdir().expect("temp dir");
    for (name, bytes) in [
        ("test_echo", echo.clone()),
        ("deletes", echo.clone()),
        ("labelled", echo.clone()),
        ("outside_kube_system", echo.clone()),
        ("declared", declared.clone()),
        ("overridden", declared),
    ] {
        std::fs::write(plugins.path().join(format!("{name}.wasm")), bytes).expect("write");
    }
    let (dir, config) = config_dir(
        "[plugins.deletes.subscribe]\nevent_types = [\"DELETED\"]\n\n[plugins.labelled.subscribe]\nlabel_selector = \"app in (api, db)\"\n\n[plugins.outside_kube_system.subscribe]\nexclude_namespaces = [\"kube-system\"]\nresources = [\"pods\"]\n\n[plugins.overridden.subscribe]\nnamespaces = [\"shop\"]\n",
    );
    let controller = Controller::start_in(&server, plugins, &[("CONFIG_FILE", &config)]);
    controller.wait_for_log("listed");
    // Labelled `app: NAME`, for the label selector.
    let labelled = |namespace, name| labelled_pod_object(namespace, name, "nginx:1", name);
    server.create("pods", &labelled("shop", "web"));
    server.create("pods", &labelled("payments", "api"));
    server.create("pods", &labelled("kube-system", "db"));
    server.delete("pods", &labelled_pod_object("shop", "web", "", "web"));
    controller.wait_for_events(4);
    let said = |plugin: &str| controller.plugin_said(plugin);
    assert_eq!(said("deletes"), ["DELETED shop/web rv=4"]);
    assert_eq!(
        said("labelled"),
        ["ADDED payments/api rv=2", "ADDED kube-system/db rv=3"]
    );
    assert_eq!(
        said("outside_kube_system"),
        [
            "ADDED shop/web rv=1",
            "ADDED payments/api rv=2",
            "DELETED shop/web rv=4"
        ]
    );
    assert_eq!(said("declared"), ["ADDED payments/api rv=2"]);
    assert_eq!(
        said("overridden"),
        ["ADDED shop/web rv=1", "DELETED shop/web rv=4"]
    );
    drop(dir);
}

#[test]
fn compiled_plugins_are_cached_and_bad_entries_rebuilt() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let cache = tempfile::tempdir().expect("temp dir");
    let cache_dir = cache.path().to_str().expect("UTF-8").to_owned();
    let cache_status = |controller: &Controller| {
        let loaded = controller.wait_for_log("plugin loaded");
        str_of(&loaded, "cache")
    };
    let run = || {
        let controller =
            Controller::start_with(&server, &["test_echo"], &[("MODULE_CACHE_DIR", &cache_dir)]);
        controller.wait_for_events(1);
        let status = cache_status(&controller);
        controller.terminate();
        status
    };
    assert_eq!(run(), "Miss");
    assert_eq!(run(), "Hit");
    let entry = std::fs::read_dir(cache.path())
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("a cache entry");
    let mut bytes = std::fs::read(&entry).expect("entry");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entry, bytes).expect("corrupt the entry");
    assert!(
        run().starts_with("Rejected"),
        "a corrupt entry must not be used"
    );
    assert_eq!(run(), "Hit");
}
