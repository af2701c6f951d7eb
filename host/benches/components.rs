//! Plugins as components (guest ABI v2): Python and JavaScript beside the Rust core module
//! (guest ABI v1) measured in the same run, on the 5.6 KB sample Pod (`conf/sample-event.json`).
//!
//! - `per_event/*`: one `handle_event` call, the plugin's `plugin_simple` port (the seed's own
//!   Python file, unchanged; its JavaScript port; the Rust reference).
//! - `cached_load/*`: the compiled code from a warm module cache (`Runtime::compile*` on a hit).
//! - `cached_start/*`: what a restart costs per plugin with a warm cache: the file's sha256 (the
//!   cache key), load, check, link, instantiate and `init` (`Plugin::from_bytes`).
//! - `fresh_instance/*`: what a trap costs the next event: a new instance and `init` from the
//!   linked plugin (`Plugin::another_instance`).
//! - memory per live instance, printed after the criterion groups: the growth of the process's
//!   resident memory over 16 more instances of each, divided by 16.
//!
//! Run with `just bench-components` (it builds the plugins first).

use criterion::{criterion_group, criterion_main, Criterion};
use event_controller::plugin::{Plugin, PluginSettings};
use event_controller::runtime::{sha256_hex, ModuleCache, Runtime};
use std::path::PathBuf;
use support::{plugin, repo};

use event_controller_test_support as support;

/// The ports measured: label and plugin name.
const PORTS: &[(&str, &str)] = &[
    ("rust_v1", "plugin_simple"),
    ("python", "python_simple"),
    ("javascript", "js_simple"),
];

fn sample_event() -> Vec<u8> {
    let sample = std::fs::read_to_string(repo().join("conf/sample-event.json")).expect("sample");
    sample.trim().as_bytes().to_vec()
}

/// A runtime with a module cache in `dir`, warmed with every port.
fn cached_runtime(dir: &std::path::Path) -> Runtime {
    let mut runtime = Runtime::new().expect("runtime");
    let cache = ModuleCache::open(dir, runtime.engine()).expect("cache");
    runtime.set_module_cache(Some(cache));
    for (_, name) in PORTS {
        Plugin::load(&runtime, &plugin(name), PluginSettings::default()).expect(name);
    }
    runtime
}

fn per_event(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let event = sample_event();
    let mut group = c.benchmark_group("per_event");
    for (label, name) in PORTS {
        let mut loaded =
            Plugin::load(&runtime, &plugin(name), PluginSettings::default()).expect(name);
        let outcome = loaded.handle_event(&event).expect("a call");
        let message = outcome.message.expect("a message");
        assert_eq!(
            message.text, "Kind: Pod; Name: web-7d4b9c6f5-x2k8p",
            "{name}"
        );
        group.bench_function(*label, |b| {
            b.iter(|| loaded.handle_event(&event).expect("a call"))
        });
    }
    group.finish();
}

fn cached_load_and_start(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = cached_runtime(dir.path());
    let files: Vec<(&str, PathBuf, Vec<u8>)> = PORTS
        .iter()
        .map(|(label, name)| {
            let path = plugin(name);
            let bytes = std::fs::read(&path).expect("plugin");
            (*label, path, bytes)
        })
        .collect();
    let mut group = c.benchmark_group("cached_load");
    group.sample_size(20);
    for (label, _, bytes) in &files {
        let sha = sha256_hex(bytes);
        let component = bytes[4] != 1;
        group.bench_function(*label, |b| {
            b.iter(|| {
                if component {
                    runtime.compile_component(bytes, &sha).expect("hit").1
                } else {
                    runtime.compile(bytes, &sha).expect("hit").1
                }
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("cached_start");
    group.sample_size(20);
    for (label, path, bytes) in &files {
        group.bench_function(*label, |b| {
            b.iter(|| Plugin::from_bytes(&runtime, path, bytes, PluginSettings::default()))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("fresh_instance");
    group.sample_size(20);
    for (label, path, bytes) in &files {
        let loaded =
            Plugin::from_bytes(&runtime, path, bytes, PluginSettings::default()).expect("load");
        group.bench_function(*label, |b| {
            b.iter(|| loaded.another_instance().expect("instance"))
        });
    }
    group.finish();
}

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn memory_per_instance(_: &mut Criterion) {
    const INSTANCES: u64 = 16;
    let runtime = Runtime::new().expect("runtime");
    let event = sample_event();
    let mut rows = Vec::new();
    for (label, name) in PORTS {
        let first = Plugin::load(&runtime, &plugin(name), PluginSettings::default()).expect(name);
        let Some(before) = resident_bytes() else {
            eprintln!("memory per instance: no /proc/self/statm here; not measured");
            return;
        };
        let mut live = Vec::new();
        for _ in 0..INSTANCES {
            let mut instance = first.another_instance().expect("instance");
            instance.handle_event(&event).expect("a call");
            live.push(instance);
        }
        let after = resident_bytes().unwrap_or(before);
        rows.push((*label, after.saturating_sub(before) / INSTANCES));
        drop(live);
    }
    let baseline = rows[0].1.max(1) as f64;
    eprintln!("\nmemory per live instance (resident growth over {INSTANCES} instances, after one call each):");
    for (label, bytes) in rows {
        eprintln!(
            "  {label:<10} {:>8.2} MiB  ({:.0}x rust_v1)",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / baseline
        );
    }
}

criterion_group!(
    components,
    per_event,
    cached_load_and_start,
    memory_per_instance
);
criterion_main!(components);
