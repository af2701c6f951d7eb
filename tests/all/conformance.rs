//! The conformance suite: the port of `plugin_simple` in every supported language runs through
//! the real host (`event-controller replay`) on the same events and configs, and must produce
//! exactly the lines docs/conformance.md specifies, which this suite computes from the events
//! with serde_json (so the Rust reference is held to the same standard).
//!
//! Then it prints a table: language, module size, compile time, load time from the module cache,
//! time per event on the 6 KB sample Pod, and the linear memory of a live instance, measured
//! with the host library in this test's build profile.
//!
//! The Python port is the seed's own `plugin_simple/__init__.py`, unchanged: it ignores its
//! config, so it is held to the contract under "no config" only.
//!
//! A port that is not built is an error under CI (`CI` set), and a loud skip elsewhere, naming
//! the command that builds it.

use event_controller::plugin::{Plugin, PluginSettings};
use event_controller::runtime::{CacheStatus, ModuleCache, Runtime};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;
use support::*;

/// Each language, the file stem of its `plugin_simple` port, and whether it reads the
/// contract's config (`prefix`, `skip_kind`).
const PORTS: &[(&str, &str, bool)] = &[
    ("Rust", "plugin_simple", true),
    ("C", "c_simple", true),
    ("Go", "go_simple", true),
    ("Zig", "zig_simple", true),
    ("AssemblyScript", "assemblyscript_simple", true),
    ("Python (the seed's, unchanged)", "python_simple", false),
    ("JavaScript", "js_simple", true),
];

/// The configs every port runs under: none, a prefix, and a kind to skip.
const CONFIGS: &[(&str, &str)] = &[
    ("no config", ""),
    ("prefix", "prefix = \"[é] \"\n"),
    ("skip_kind", "skip_kind = \"Pod\"\n"),
];

/// `target/plugins/{name}.wasm`, or, when it is not built, a failure under CI and a loud skip
/// elsewhere.
fn built_plugin(name: &str) -> Option<PathBuf> {
    let path = repo().join("target/plugins").join(format!("{name}.wasm"));
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "{name}.wasm is not built: run `just toolchains plugins-polyglot` \
         (`just toolchains` installs the compilers)"
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("SKIPPED: {message}");
    None
}

/// A built port: language, plugin name, file, and whether it reads the config.
type Port = (&'static str, &'static str, PathBuf, bool);

/// The built ports (see [`built_plugin`]).
fn built_ports() -> Vec<Port> {
    PORTS
        .iter()
        .filter_map(|(language, name, configurable)| {
            Some((*language, *name, built_plugin(name)?, *configurable))
        })
        .collect()
}

/// Every event the suite feeds: the recorded streams, the edge cases and the 60 KB ConfigMap.
fn events() -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/data/watch"))
        .expect("tests/data/watch")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files.push(repo().join("tests/data/conformance/edge-cases.jsonl"));
    files.push(repo().join("tests/data/conformance/large-configmap.json"));
    files
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What docs/conformance.md says a port logs for `events` under `config` (level, message).
fn expected(events: &[String], prefix: &str, skip_kind: Option<&str>) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|line| {
            let event: Value = serde_json::from_str(line).expect("a JSON event");
            if !matches!(
                event["type"].as_str(),
                Some("ADDED" | "MODIFIED" | "DELETED")
            ) {
                return None;
            }
            let kind = event["object"]["kind"].as_str().expect("kind");
            let name = event["object"]["metadata"]["name"].as_str().expect("name");
            (Some(kind) != skip_kind).then(|| {
                (
                    "INFO".to_owned(),
                    format!("{prefix}Kind: {kind}; Name: {name}"),
                )
            })
        })
        .collect()
}

#[test]
fn every_port_behaves_exactly_like_the_contract() {
    let ports = built_ports();
    assert!(
        !ports.is_empty(),
        "not even the Rust reference is built: run `just plugins`"
    );
    let events = events();
    assert!(events.iter().any(|e| e.len() > 60_000), "the 60 KB event");
    let work = tempfile::tempdir().expect("temp dir");
    let events_file = work.path().join("events.jsonl");
    std::fs::write(&events_file, events.join("\n")).expect("write events");
    let plugins = work.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugins dir");
    for (_, name, path, _) in &ports {
        std::fs::copy(path, plugins.join(format!("{name}.wasm"))).expect("copy");
    }
    let cache = crate::components::component_cache();

    for (label, settings) in CONFIGS {
        let config = work.path().join("config.toml");
        let sections: String = ports
            .iter()
            .map(|(_, name, _, _)| format!("[plugins.{name}.config]\n{settings}\n"))
            .collect();
        std::fs::write(&config, sections).expect("write config");
        let config_arg = config.to_str().expect("UTF-8");
        let run = replay(
            &plugins,
            &events_file,
            &["--config", config_arg, "--module-cache-dir", &cache],
        );
        assert!(
            run.status.success(),
            "{label}: replay failed:\n{}",
            run.stderr
        );
        let parsed: toml::Table = toml::from_str(settings).expect("config");
        let prefix = parsed.get("prefix").and_then(|v| v.as_str()).unwrap_or("");
        let skip_kind = parsed.get("skip_kind").and_then(|v| v.as_str());
        let want = expected(&events, prefix, skip_kind);
        for (language, name, _, configurable) in &ports {
            if !configurable && !settings.is_empty() {
                continue;
            }
            let got = run.plugin_messages(name);
            assert_eq!(got.len(), want.len(), "{language} ({label}): line count");
            for (i, (got, want)) in got.iter().zip(&want).enumerate() {
                assert_eq!(got, want, "{language} ({label}): event {i}");
            }
        }
    }
    print_table(&ports);
}

/// Language, module size, compile time, cached load time, time per event on the sample Pod,
/// and the linear memory of a live instance after its calls.
fn print_table(ports: &[Port]) {
    const CALLS: u32 = 2000;
    let cache_dir = tempfile::tempdir().expect("temp dir");
    let mut runtime = Runtime::new().expect("runtime");
    let cache = ModuleCache::open(cache_dir.path(), runtime.engine()).expect("cache");
    runtime.set_module_cache(Some(cache));
    let sample = std::fs::read_to_string(repo().join("conf/sample-event.json")).expect("sample");
    let event = sample.trim().as_bytes();
    println!(
        "\n| language | module | compile | cached load | per event ({} B Pod) | linear memory |",
        event.len()
    );
    println!("|---|---|---|---|---|---|");
    for (language, name, path, _) in ports {
        let bytes = std::fs::read(path).expect("plugin");
        let load = || Plugin::from_bytes(&runtime, path, &bytes, PluginSettings::default());
        let compiled = load().expect(name);
        assert_eq!(compiled.cache_status(), &CacheStatus::Miss, "{name}");
        let mut plugin = load().expect(name);
        assert_eq!(plugin.cache_status(), &CacheStatus::Hit, "{name}");
        plugin.handle_event(event).expect("warm-up call");
        let started = Instant::now();
        for _ in 0..CALLS {
            plugin.handle_event(event).expect("call");
        }
        let per_event = started.elapsed() / CALLS;
        println!(
            "| {language} | {} KB | {:.1} ms | {:.2} ms | {:.2} µs | {:.2} MiB |",
            bytes.len() / 1024,
            compiled.compile_time().as_secs_f64() * 1e3,
            plugin.compile_time().as_secs_f64() * 1e3,
            per_event.as_secs_f64() * 1e6,
            plugin.memory_bytes() as f64 / f64::from(1 << 20)
        );
    }
}

/// The language-typical plugin of each language, on the events it is about.
#[test]
fn each_languages_useful_plugin_does_its_job() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "c_warning_events",
            "tests/data/watch/events.jsonl",
            &[
                "WARN default/Namespace/openshift-kube-apiserver: KubeAPIReadyz: readyz=true",
                "WARN shop/Pod/web-7d4b9c6f5-x2k8p: BackOff: Back-off restarting failed container metrics-sidecar in pod web-7d4b9c6f5-x2k8p_shop",
                "WARN payments/Pod/ledger-worker-0: OOMKilling: Memory cgroup out of memory: Killed process 4242 (ledger) total-vm:1048576kB",
                "WARN shop/Pod/web-7d4b9c6f5-x2k8p: BackOff: Back-off restarting failed container metrics-sidecar in pod web-7d4b9c6f5-x2k8p_shop",
            ],
        ),
        (
            "go_image_policy",
            "tests/data/conformance/unpinned-deployment.json",
            &["WARN Deployment shop/web: container nginx uses nginx:latest (tag latest); wait (init) uses localhost:5000/busybox (no tag, no digest)"],
        ),
        (
            "zig_service_exposure",
            "plugins-wasm/zig_service_exposure/testdata/exposed-services.jsonl",
            &[
                "WARN Service shop/web-lb is exposed as LoadBalancer on ports 80:31380/TCP,443:31443/TCP",
                "WARN Service shop/web-lb is exposed as LoadBalancer on ports 80:31380/TCP,443:31443/TCP",
                "WARN Service shop/dns-np is exposed as NodePort on ports 53:30053/UDP,53:30054/TCP",
                "WARN Service shop/café-🚀 is exposed as LoadBalancer on ports 8443/TCP",
                "INFO Service shop/web-lb is no longer exposed (now ClusterIP, was LoadBalancer)",
                "INFO Service shop/dns-np (exposed as NodePort) was deleted",
            ],
        ),
        (
            "assemblyscript_configmap_size",
            "tests/data/conformance/large-configmap.json",
            &["WARN ConfigMap shop/large-config holds 56100 bytes of data (limit 32768)"],
        ),
    ];
    for (name, events, want) in cases {
        let Some(path) = built_plugin(name) else {
            continue;
        };
        let plugins = plugins_dir_with(&[&path]);
        let run = replay(plugins.path(), &repo().join(events), &[]);
        assert!(run.status.success(), "{name}:\n{}", run.stderr);
        let got: Vec<String> = run
            .plugin_messages(name)
            .into_iter()
            .map(|(level, message)| format!("{level} {message}"))
            .collect();
        assert_eq!(got, *want, "{name}");
    }
}

/// A temporary plugins directory holding copies of the given plugin files.
fn plugins_dir_with(files: &[&std::path::Path]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in files {
        std::fs::copy(file, dir.path().join(file.file_name().expect("name"))).expect("copy");
    }
    dir
}
