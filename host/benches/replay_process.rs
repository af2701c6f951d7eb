//! `replay` as a whole process, beside the seed: `event-controller replay` (this build, release)
//! of N real Pod events (the recorded fixture Pod, renamed: 5.5 KB each) through
//! `plugin_simple`, writing its log to a file, and the seed's own loop in CPython on the same file
//! (`scripts/bench/seed_replay.py`: `json.loads`, the seed's `plugin_simple/__init__.py`,
//! `logging` to a file), alternating, in the same run.
//!
//! Printed: the median wall time of each over `EC_BENCH_RUNS` runs (default 5, after one
//! warm-up each, which also fills the module cache), events/s, and the ratio to the seed.
//! Issue 19's target: at least 250,000 events/s for ours.
//!
//! `cargo bench -p event-controller --bench replay_process` (after `just plugins`);
//! `EC_BENCH_OBJECTS` sets N (default 100,000). Without `python3` the seed is skipped, loudly.

use event_controller_test_support as support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::apiserver::watch_fixture;

/// The fixture's first Pod as an `ADDED` event line, with `NAME` for its name. The line is
/// edited as text: the API server's key order (identity first) is what the host reads fast.
fn event_template() -> String {
    let text = watch_fixture("pods.jsonl");
    let first = text.lines().next().expect("a pod line");
    let event: serde_json::Value = serde_json::from_str(first).expect("json");
    let name = event["object"]["metadata"]["name"]
        .as_str()
        .expect("a name");
    let event_type = event["type"].as_str().expect("a type");
    first
        .replacen(
            &format!("\"type\":\"{event_type}\""),
            "\"type\":\"ADDED\"",
            1,
        )
        .replacen(&format!("\"name\":\"{name}\""), "\"name\":\"NAME\"", 1)
}

/// N events, each Pod its own name, one per line.
fn write_events(path: &Path, n: usize) -> u64 {
    let template = event_template();
    let mut text = String::with_capacity(n * (template.len() + 8));
    for i in 0..n {
        text.push_str(&template.replace("\"NAME\"", &format!("\"pod-{i:06}\"")));
        text.push('\n');
    }
    std::fs::write(path, &text).expect("write the events");
    text.len() as u64
}

/// Lines of `log` that are `plugin_simple`'s message.
fn handled(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("Kind: Pod; Name: pod-"))
        .count()
}

struct Setup {
    events: PathBuf,
    plugins: PathBuf,
    cache: PathBuf,
    scratch: PathBuf,
    n: usize,
}

/// One `event-controller replay`: its wall time, after checking every event was logged.
fn ours(setup: &Setup) -> Duration {
    let log = setup.scratch.join("ours.log");
    let _ = std::fs::remove_file(&log);
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_event-controller"))
        .arg("replay")
        .arg(&setup.events)
        .arg("--plugins-dir")
        .arg(&setup.plugins)
        .arg("--module-cache-dir")
        .arg(&setup.cache)
        .arg("--log-file")
        .arg(&log)
        .env_remove("RUST_LOG")
        .env_remove("CONFIG_FILE")
        .status()
        .expect("run event-controller");
    let elapsed = started.elapsed();
    assert!(status.success(), "event-controller replay failed");
    assert_eq!(handled(&log), setup.n, "every event logged");
    elapsed
}

/// One run of the seed's loop, or `None` without `python3`.
fn seed(setup: &Setup) -> Option<Duration> {
    let script = support::repo().join("scripts/bench/seed_replay.py");
    let log = setup.scratch.join("seed.log");
    let _ = std::fs::remove_file(&log);
    let started = Instant::now();
    let output = Command::new("python3")
        .arg(script)
        .arg(&setup.events)
        .arg(&log)
        .output()
        .ok()?;
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let count: usize = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("the seed prints its count");
    assert_eq!(count, setup.n, "the seed handled every event");
    Some(elapsed)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn row(what: &str, time: Duration, n: usize, seed: Option<Duration>) {
    let per_second = n as f64 / time.as_secs_f64();
    let ratio = seed.map_or("".to_owned(), |seed| {
        format!("{:.1} x", seed.as_secs_f64() / time.as_secs_f64())
    });
    println!(
        "| {what} | {:.3} s | {per_second:.0} | {ratio} |",
        time.as_secs_f64()
    );
}

fn main() {
    let n: usize = std::env::var("EC_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runs: usize = std::env::var("EC_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let scratch = tempfile::tempdir().expect("temp dir");
    let plugins = scratch.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugins dir");
    std::fs::copy(
        support::plugin("plugin_simple"),
        plugins.join("plugin_simple.wasm"),
    )
    .expect("copy plugin_simple");
    let setup = Setup {
        events: scratch.path().join("events.jsonl"),
        plugins,
        cache: scratch.path().join("cache"),
        scratch: scratch.path().to_owned(),
        n,
    };
    let bytes = write_events(&setup.events, n);
    println!(
        "replay of {n} Pod events ({:.0} MB), {runs} runs each (medians), after a warm-up",
        bytes as f64 / 1e6
    );
    ours(&setup);
    let has_seed = seed(&setup).is_some();
    if !has_seed {
        println!("SKIPPED: the seed's baseline (no python3)");
    }
    let mut our_times = Vec::new();
    let mut seed_times = Vec::new();
    for _ in 0..runs {
        our_times.push(ours(&setup));
        if has_seed {
            seed_times.extend(seed(&setup));
        }
    }
    let seed_time = has_seed.then(|| median(seed_times));
    println!("| | wall time | events/s | vs. the seed |");
    println!("|---|---|---|---|");
    row(
        "event-controller replay, plugin_simple (wasm)",
        median(our_times),
        n,
        seed_time,
    );
    if let Some(seed_time) = seed_time {
        row("the seed's loop in CPython", seed_time, n, Some(seed_time));
    }
}
