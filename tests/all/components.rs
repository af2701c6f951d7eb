//! Plugins as WebAssembly components (guest ABI v2, `wit/plugin.wit`), written in Python and
//! JavaScript with the SDKs in `guest-sdk/python` and `guest-sdk/js`, in the real controller:
//! the seed's own `plugin_simple/__init__.py`, unchanged, logs exactly what the Rust
//! `plugin_simple` logs; hostile Python and JavaScript plugins fail alone, named and counted,
//! while `test_echo` sees every event; the host's services (log, stdout, the outcome's level)
//! reach the log; WASI 0.2 grants nothing; a component is hot-reloaded and started from the
//! module cache.
//!
//! Components compile in seconds (a Python one is 18 MB), so these tests share one module cache
//! in the target directory ([`component_cache`]): only the first run after a rebuild compiles.

use event_controller::runtime::{sha256_hex, ModuleCache, Runtime};
use std::sync::OnceLock;
use support::apiserver::ApiServer;
use support::controller::{Controller, PATIENCE};
use support::*;

/// The seed's `plugin_simple/__init__.py`, exactly as `../shared/seed` prints it.
const SEED_PLUGIN_SIMPLE: &str = r#"def handle_event(watcher, event, config):
    message = "Kind: {0}; Name: {1}".format(event['object']['kind'], event['object']['metadata']['name'])
    log_level = "INFO"
    return message, log_level
"#;

/// Every component the tests load.
pub const COMPONENTS: &[&str] = &[
    "python_simple",
    "python_alertmanager",
    "python_test_modes",
    "js_simple",
    "js_test_modes",
];

/// The module cache the component tests share, in the target directory, with every component
/// compiled into it once per test process before the first controller starts (a cold compile
/// takes longer than a test's patience, and parallel tests would each compile the same one).
pub fn component_cache() -> String {
    static WARM: OnceLock<String> = OnceLock::new();
    WARM.get_or_init(|| {
        let dir = plugin("test_echo")
            .parent()
            .and_then(|dir| dir.parent())
            .expect("the target directory")
            .join("test-module-cache");
        let mut runtime = Runtime::new().expect("runtime");
        let cache = ModuleCache::open(&dir, runtime.engine()).expect("module cache");
        runtime.set_module_cache(Some(cache));
        for name in COMPONENTS {
            let bytes = std::fs::read(plugin(name)).expect("plugin");
            if let Err(e) = runtime.compile_component(&bytes, &sha256_hex(&bytes)) {
                panic!("{name} does not compile: {e:#}");
            }
        }
        dir.to_str().expect("UTF-8").to_owned()
    })
    .clone()
}

/// The environment of a controller that uses the shared cache, plus `env`.
fn cached<'a>(cache: &'a str, env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("MODULE_CACHE_DIR", cache)];
    all.extend_from_slice(env);
    all
}

#[test]
fn the_seeds_plugin_simple_runs_unchanged_and_logs_like_the_rust_one() {
    let source = repo().join("plugins-wasm/python_simple/__init__.py");
    assert_eq!(
        std::fs::read_to_string(&source).expect("python_simple"),
        SEED_PLUGIN_SIMPLE,
        "plugins-wasm/python_simple/__init__.py must be the seed's plugin_simple, unchanged"
    );
    let server = ApiServer::start();
    for i in 0..5 {
        server.create("pods", &pod_object("shop", &format!("web-{i}"), "nginx:1"));
    }
    let cache = component_cache();
    let ports = ["plugin_simple", "python_simple", "js_simple"];
    let controller = Controller::start_with(&server, &ports, &cached(&cache, &[]));
    let wait_for = |n: usize| {
        for port in ports {
            controller.wait_for_plugin_lines(port, "Kind: ", n);
        }
    };
    wait_for(5);
    server.modify("pods", &pod_object("shop", "web-2", "nginx:2"));
    server.delete("pods", &pod_object("shop", "web-4", "nginx:1"));
    wait_for(7);
    let reference = controller.plugin_lines("plugin_simple");
    let want: Vec<(String, String)> = (0..5)
        .chain([2, 4])
        .map(|i| ("INFO".to_owned(), format!("Kind: Pod; Name: web-{i}")))
        .collect();
    assert_eq!(reference, want);
    for port in &ports[1..] {
        assert_eq!(controller.plugin_lines(port), reference, "{port}");
    }
}

/// `[plugins.NAME.config] mode = "MODE"` for each (name, mode), after `extra`.
fn modes_config(modes: &[(&str, &str)], extra: &str) -> String {
    let sections: String = modes
        .iter()
        .map(|(name, mode)| format!("[plugins.{name}.config]\nmode = \"{mode}\"\n"))
        .collect();
    format!("{extra}\n{sections}")
}

/// Limits for the hostile plugins: the loops get a longer deadline, so that test_echo is seen
/// not to wait for them.
const HOSTILE_LIMITS: &str = r#"
[limits]
call_timeout_ms = 500
init_timeout_ms = 20000
memory_mb = 64

[plugins.python_loop.limits]
call_timeout_ms = 1000

[plugins.js_loop.limits]
call_timeout_ms = 1000
"#;

/// Each hostile plugin (a copy of a test plugin in one of its modes), the `failure` kind the
/// host must report, and what the plugin's own output (stderr, captured) must say about it
/// (`""`: nothing expected).
const HOSTILE: &[(&str, &str, &str, &str, &str)] = &[
    ("python_loop", "python_test_modes", "loop", "timeout", ""),
    (
        "python_memory_bomb",
        "python_test_modes",
        "memory_bomb",
        "memory",
        "",
    ),
    (
        "python_raise",
        "python_test_modes",
        "raise",
        "trap",
        "python plugin exploded",
    ),
    (
        "python_bad_outcome",
        "python_test_modes",
        "bad_outcome",
        "trap",
        "TypeError",
    ),
    ("js_loop", "js_test_modes", "loop", "timeout", ""),
    (
        "js_memory_bomb",
        "js_test_modes",
        "memory_bomb",
        "memory",
        "",
    ),
    (
        "js_throw",
        "js_test_modes",
        "throw",
        "trap",
        "javascript plugin exploded",
    ),
    (
        "js_bad_outcome",
        "js_test_modes",
        "bad_outcome",
        "trap",
        "TypeError",
    ),
];

#[test]
fn hostile_python_and_javascript_plugins_fail_alone() {
    const PODS: usize = 4;
    let server = ApiServer::start();
    for i in 0..PODS {
        server.create("pods", &pod_object("shop", &format!("web-{i}"), "nginx:1"));
    }
    let mut copies: Vec<(&str, &str)> = HOSTILE.iter().map(|h| (h.0, h.1)).collect();
    copies.push(("test_echo", "test_echo"));
    let modes: Vec<(&str, &str)> = HOSTILE.iter().map(|h| (h.0, h.2)).collect();
    let (dir, config) = plugin_copies_with_config(&copies, &modes_config(&modes, HOSTILE_LIMITS));
    let cache = component_cache();
    let mut controller =
        Controller::start_in(&server, dir, &cached(&cache, &[("CONFIG_FILE", &config)]));

    assert_eq!(controller.wait_for_events(PODS).len(), PODS);
    for (plugin, _, _, kind, said) in HOSTILE {
        let failure = wait::until(
            PATIENCE,
            || controller.call_failures(plugin).into_iter().next(),
            || format!("{plugin} never failed:\n{:#?}", controller.logs()),
        );
        assert_eq!(failure["failure"], *kind, "{plugin}: {failure}");
        assert!(str_of(&failure, "name").starts_with("web-"), "{failure}");
        if !said.is_empty() {
            let lines = controller.wait_for_plugin_lines(plugin, said, 1);
            assert!(
                lines.iter().any(|(level, _)| level == "WARN"),
                "{plugin}: {lines:?}"
            );
        }
    }
    // Changes keep flowing to test_echo while they fail or are backed off.
    for i in 0..PODS {
        server.modify("pods", &pod_object("shop", &format!("web-{i}"), "nginx:2"));
    }
    assert_eq!(controller.wait_for_events(2 * PODS).len(), 2 * PODS);
    // Every failure logged is counted. The plugins may still be failing on the last events, so
    // the two are compared when they agree on a moment: the count read between two equal
    // readings of the log.
    for (plugin, _, _, kind, _) in HOSTILE {
        let series = format!(
            "event_controller_plugin_failures_total{{plugin=\"{plugin}\",kind=\"{kind}\"}}"
        );
        wait::until(
            PATIENCE,
            || {
                let before = controller.call_failures(plugin).len();
                let counted = controller.metric(&series);
                let after = controller.call_failures(plugin).len();
                (before == after && counted == after as f64).then_some(())
            },
            || {
                format!(
                    "{series} = {} while the log has {} failures",
                    controller.metric(&series),
                    controller.call_failures(plugin).len()
                )
            },
        );
    }
    assert!(controller.is_running());
}

#[test]
fn a_components_log_stdout_and_outcome_reach_the_log() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let cache = component_cache();
    let copies = [
        ("python_services", "python_test_modes"),
        ("js_services", "js_test_modes"),
    ];
    let modes = [("python_services", "services"), ("js_services", "services")];
    let (dir, config) = plugin_copies_with_config(&copies, &modes_config(&modes, ""));
    let env = [("CONFIG_FILE", config.as_str()), ("LOG_LEVEL", "debug")];
    let controller = Controller::start_in(&server, dir, &cached(&cache, &env));
    for (plugin, _) in copies {
        let lines = controller.wait_for_plugin_lines(plugin, "handled web", 1);
        let streams: Vec<(String, String, String)> = controller
            .logs()
            .into_iter()
            .filter(|l| l["target"] == "plugin" && l["plugin"] == plugin)
            .map(|l| {
                (
                    str_of(&l, "stream"),
                    str_of(&l, "level"),
                    str_of(&l, "message"),
                )
            })
            .collect();
        assert!(
            streams.contains(&("log".into(), "WARN".into(), "services: Pod/web".into())),
            "{plugin}: {streams:?}"
        );
        assert!(
            streams.contains(&("stdout".into(), "INFO".into(), "stdout: web".into())),
            "{plugin}: {streams:?}"
        );
        assert!(
            lines.contains(&("DEBUG".to_owned(), "handled web".to_owned())),
            "{plugin}: {lines:?}"
        );
        let counted = format!(
            "event_controller_plugin_services_handled_total{{plugin=\"{plugin}\",kind=\"Pod\"}}"
        );
        assert_eq!(controller.metric(&counted), 1.0, "{plugin}: its own metric");
    }
}

#[test]
fn a_python_plugin_gets_no_files_environment_or_network() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let cache = component_cache();
    let (dir, config) = plugin_copies_with_config(
        &[("escape", "python_test_modes")],
        &modes_config(&[("escape", "escape")], ""),
    );
    let env = [
        ("CONFIG_FILE", config.as_str()),
        ("SECRET_FROM_THE_HOST", "do-not-leak"),
    ];
    let controller = Controller::start_in(&server, dir, &cached(&cache, &env));
    let said = controller.wait_for_plugin_lines("escape", "passwd=", 1);
    assert_eq!(
        said[0].1,
        "passwd=denied token=denied env=0 args=0 root=denied cwd=denied socket=denied"
    );
}

/// A plugin whose `init` refuses its config does not load, and the log says why.
#[test]
fn a_refused_config_keeps_a_component_from_loading_with_the_reason() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let cache = component_cache();
    let (dir, config) = plugin_copies_with_config(
        &[
            ("confused", "python_test_modes"),
            ("test_echo", "test_echo"),
        ],
        &modes_config(&[("confused", "dance")], ""),
    );
    let controller =
        Controller::start_in(&server, dir, &cached(&cache, &[("CONFIG_FILE", &config)]));
    let refused = controller.wait_for_log("init refused the plugin's config");
    assert_eq!(refused["plugin"], "confused", "{refused}");
    assert!(
        str_of(&refused, "message").contains("mode must be one of"),
        "{refused}"
    );
    assert_eq!(controller.wait_for_events(1), ["ADDED shop/web rv=1"]);
}

/// Replacing a component reloads it in place, and a restart loads it from the module cache
/// instead of compiling it again.
#[test]
fn components_reload_in_place_and_start_from_the_module_cache() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let cache = tempfile::tempdir().expect("temp dir");
    let cache_dir = cache.path().to_str().expect("UTF-8").to_owned();
    let plugins = tempfile::tempdir().expect("temp dir");
    let file = plugins.path().join("simple.wasm");
    std::fs::copy(plugin("python_simple"), &file).expect("copy");
    let config = plugins.path().join("config.toml");
    std::fs::write(&config, "rescan_seconds = 1\n").expect("config");
    let config = config.to_str().expect("UTF-8").to_owned();
    let env = [
        ("MODULE_CACHE_DIR", cache_dir.as_str()),
        ("CONFIG_FILE", &config),
    ];

    // Compiling a component takes seconds, and many more on a loaded 2-core machine.
    let compiling = std::time::Duration::from_secs(180);
    let controller = Controller::start_in(&server, plugins, &env);
    assert_eq!(
        str_of(
            &controller.wait_for_log_within(compiling, "plugin loaded"),
            "cache"
        ),
        "Miss"
    );
    controller.wait_for_plugin_lines("simple", "Kind: Pod; Name: web", 1);

    // Python replaced by JavaScript under the same name: the next event goes to the new one.
    let js = std::fs::read(plugin("js_simple")).expect("plugin");
    replace_atomically(&file, &js);
    controller.wait_for_log_within(compiling, "plugin reloaded");
    server.modify("pods", &pod_object("shop", "web", "nginx:2"));
    controller.wait_for_plugin_lines("simple", "Kind: Pod; Name: web", 2);
    controller.terminate();

    // A restart with the same cache: both versions' compiled code is there.
    let plugins = tempfile::tempdir().expect("temp dir");
    std::fs::copy(plugin("js_simple"), plugins.path().join("simple.wasm")).expect("copy");
    let controller = Controller::start_in(&server, plugins, &[("MODULE_CACHE_DIR", &cache_dir)]);
    let loaded = controller.wait_for_log("plugin loaded");
    assert_eq!(str_of(&loaded, "cache"), "Hit", "{loaded}");
    let compile_ms: f64 = str_of(&loaded, "compile_ms").parse().expect("compile_ms");
    eprintln!("a cached JavaScript component loaded from the cache in {compile_ms} ms");
    controller.wait_for_plugin_lines("simple", "Kind: Pod; Name: web", 1);
}

/// Checkpoints are the host's, whatever the plugin is: a restarted controller hands a Python
/// plugin only what changed while it was down.
#[test]
fn a_component_resumes_from_its_checkpoint() {
    let server = ApiServer::start();
    for name in ["a", "b", "c"] {
        server.create("pods", &pod_object("shop", name, "nginx:1"));
    }
    let state = tempfile::tempdir().expect("state dir");
    let state_dir = state.path().to_str().expect("UTF-8").to_owned();
    let cache = component_cache();
    let env = cached(
        &cache,
        &[("STATE_DIR", &state_dir), ("CHECKPOINT_INTERVAL_MS", "200")],
    );
    let first = Controller::start_with(&server, &["python_simple"], &env);
    first.wait_for_plugin_lines("python_simple", "Kind: Pod", 3);
    assert!(first.terminate().success());
    assert!(state.path().join("python_simple.checkpoint").is_file());

    server.modify("pods", &pod_object("shop", "b", "nginx:2"));
    let second = Controller::start_with(&server, &["python_simple"], &env);
    second.wait_for_plugin_lines("python_simple", "Kind: Pod", 1);
    std::thread::sleep(support::controller::QUIET);
    assert_eq!(
        second.plugin_lines("python_simple"),
        [("INFO".to_owned(), "Kind: Pod; Name: b".to_owned())],
        "only the Pod that changed while the controller was down"
    );
}
