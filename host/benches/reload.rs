//! Hot-reload latency: the time from the last write of a new plugin file (an atomic rename into
//! the watched directory) to the first event handled by that plugin, with the debounce, the
//! compile (or the module-cache hit), the ABI check, `init` and the worker start included.
//!
//! The real reloader (`notify` watcher, debounce, loader) and the real dispatcher run
//! in-process; a feeder thread delivers a recorded Pod event every millisecond. The plugin is
//! `test_full_parse` (about 100 KB), made unique per run with a custom section so that each
//! "miss" run really compiles; "hit" runs reuse bytes already in the cache.
//!
//! `cargo bench -p event-controller --bench reload` (after `just plugins`).

use event_controller_test_support as support;

use event_controller::config::FileConfig;
use event_controller::dispatch::Dispatcher;
use event_controller::event::WatchEvent;
use event_controller::metrics::Metrics;
use event_controller::reload::Reloader;
use event_controller::runtime::ModuleCache;
use event_controller::runtime::Runtime;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 10;

/// `wasm` with a custom section `version` holding `n`: new bytes, same plugin.
fn unique(wasm: &[u8], n: usize) -> Vec<u8> {
    let payload = n.to_string();
    let mut section = vec![7u8];
    section.extend_from_slice(b"version");
    section.extend_from_slice(payload.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    out.push(u8::try_from(section.len()).expect("short section"));
    out.extend_from_slice(&section);
    out
}

/// How many calls the plugin `name` has handled, from the metrics.
fn calls(metrics: &Metrics, name: &str) -> u64 {
    let series = format!("event_controller_plugin_calls_total{{plugin=\"{name}\"}} ");
    metrics
        .encode()
        .lines()
        .find_map(|line| line.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Writes `bytes` as `dir/name.wasm` (temporary file, then rename) and waits for the plugin's
/// first call.
fn time_to_first_event(dir: &Path, name: &str, bytes: &[u8], metrics: &Metrics) -> Duration {
    let temporary = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temporary, bytes).expect("write");
    let written = Instant::now();
    std::fs::rename(&temporary, dir.join(format!("{name}.wasm"))).expect("rename");
    while calls(metrics, name) == 0 {
        assert!(
            written.elapsed() < Duration::from_secs(30),
            "{name} never ran"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    written.elapsed()
}

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "median {:.0} ms, min {:.0} ms, max {:.0} ms",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    )
}

fn main() {
    let plugins = tempfile::tempdir().expect("plugins dir");
    let cache_dir = tempfile::tempdir().expect("cache dir");
    let metrics = Arc::new(Metrics::new());
    let dispatcher = Dispatcher::start(Vec::new(), metrics.clone()).expect("dispatcher");
    let mut runtime = Runtime::new().expect("runtime");
    let cache = ModuleCache::open(cache_dir.path(), runtime.engine()).expect("cache");
    runtime.set_module_cache(Some(cache));
    let reloader = Reloader::new(
        runtime,
        plugins.path().to_owned(),
        None,
        FileConfig::default(),
        dispatcher.plugins(),
        metrics.clone(),
    );
    let _reloading = reloader
        .spawn(Duration::from_secs(10))
        .expect("reload thread");

    let sample = std::fs::read_to_string(support::repo().join("conf/sample-event.json"))
        .expect("sample event");
    let event = WatchEvent::parse(sample.trim().as_bytes().to_vec()).expect("event");
    let feeding = Arc::new(AtomicBool::new(true));
    let feeder = std::thread::spawn({
        let feeding = feeding.clone();
        let mut dispatcher = dispatcher;
        move || {
            while feeding.load(Ordering::Relaxed) {
                dispatcher.deliver(&event);
                std::thread::sleep(Duration::from_millis(1));
            }
            dispatcher.finish();
        }
    });

    let wasm = std::fs::read(support::plugin("test_full_parse")).expect("plugin");
    let mut misses = Vec::new();
    let mut hits = Vec::new();
    for run in 0..RUNS {
        let bytes = unique(&wasm, run);
        let name = format!("miss_{run}");
        misses.push(time_to_first_event(plugins.path(), &name, &bytes, &metrics));
        // The same bytes under a new name: compiled already, so a cache hit.
        let name = format!("hit_{run}");
        hits.push(time_to_first_event(plugins.path(), &name, &bytes, &metrics));
    }
    feeding.store(false, Ordering::Relaxed);
    let _ = feeder.join();
    println!(
        "plugin test_full_parse ({} bytes), events every 1 ms, {RUNS} runs each",
        wasm.len()
    );
    println!(
        "last write -> first event, no cache hit: {}",
        summary(&mut misses)
    );
    println!(
        "last write -> first event, cache hit:    {}",
        summary(&mut hits)
    );
}
