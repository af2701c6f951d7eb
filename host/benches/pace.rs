//! Each plugin at its own pace, measured (`just bench-pace`). Three questions, each answered
//! against a baseline measured in the same run:
//!
//! 1. **Latency beside a slow plugin.** A burst of 10,000 Pod events (distinct objects),
//!    delivered as fast as the dispatcher goes, then paced at one every 100 µs; the latency of
//!    each, from its delivery to `plugin_simple`'s logged outcome, p50 and p99, with
//!    `plugin_simple` alone, then beside `test_slow` spending about 20 ms per event (median of
//!    alternating runs). Goal: p99 beside the slow plugin within 2x of alone.
//! 2. **Memory of a stuck plugin.** `hostile_loop` stuck in its first call for the whole burst
//!    while 100,000 objects each change three times (300,000 events): the process's RSS growth
//!    per object, with the events coalesced per object in its backlog.
//! 3. **Parallel lanes.** `test_slow` at about 1 ms per event on 2,000 objects, `workers = 2`
//!    against `workers = 1`: the throughput ratio (goal >= 1.7 on two cores).

use event_controller::dispatch::{Dispatcher, Pace};
use event_controller::event::WatchEvent;
use event_controller::metrics::Metrics;
use event_controller::plugin::{Plugin, PluginSettings};
use event_controller::runtime::Runtime;
use event_controller::sandbox::Limits;
use event_controller::worker::WorkerOptions;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{plugin, pod_event};
use tracing_subscriber::layer::SubscriberExt;

use event_controller_test_support as support;

const BURST: usize = 10_000;
/// Alternating runs of each latency measurement.
const RUNS: usize = 3;
const STUCK_OBJECTS: usize = 100_000;
const LANE_OBJECTS: usize = 2_000;

fn main() {
    let runtime = Runtime::new().expect("runtime");
    let calls = CallTimes::default();
    let subscriber = tracing_subscriber::registry().with(calls.clone());
    // Global: the plugins log from their workers' threads.
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let rounds_per_ms = calibrate(&runtime);
    println!("test_slow: {rounds_per_ms} rounds per ms on this machine");

    latencies(&runtime, &calls, None, None); // warm-up: allocations, caches, the first calls
    let slow = Some(rounds_per_ms * 20);
    for (title, gap) in [
        ("as fast as the dispatcher goes", None),
        (
            "paced at one every 100 µs",
            Some(Duration::from_micros(100)),
        ),
    ] {
        // Alternating runs, so that the machine's drift hits both sides alike.
        let mut alone = Vec::new();
        let mut beside = Vec::new();
        for _ in 0..RUNS {
            alone.push(latencies(&runtime, &calls, None, gap));
            beside.push(latencies(&runtime, &calls, slow, gap));
        }
        println!("\n1. plugin_simple's latency, delivery to outcome, over a burst of {BURST} events {title} (median of {RUNS} alternating runs)");
        println!("| | p50 | p99 |");
        println!("|---|---|---|");
        let alone_p99 = median(alone.iter().map(|s| percentile(s, 0.99)));
        let beside_p99 = median(beside.iter().map(|s| percentile(s, 0.99)));
        for (label, sample, p99) in [
            ("alone", &alone, alone_p99),
            ("beside a 20 ms/event plugin", &beside, beside_p99),
        ] {
            let p50 = median(sample.iter().map(|s| percentile(s, 0.50)));
            println!("| {label} | {:.3} ms | {:.3} ms |", ms(p50), ms(p99));
        }
        println!(
            "p99 beside / alone: {:.2}x (goal <= 2x)",
            ms(beside_p99) / ms(alone_p99)
        );
    }

    let one = lane_throughput(&runtime, rounds_per_ms, 1);
    let two = lane_throughput(&runtime, rounds_per_ms, 2);
    println!("\n3. test_slow at ~1 ms/event on {LANE_OBJECTS} objects");
    println!("| workers | events/s |");
    println!("|---|---|");
    println!("| 1 | {one:.0} |");
    println!("| 2 | {two:.0} |");
    println!(
        "workers = 2 / workers = 1: {:.2}x (goal >= 1.7x)",
        two / one
    );

    stuck_memory(&runtime);
    // The stuck plugin's call would hold the exit for its deadline: leave at once.
    std::process::exit(0);
}

/// How many `test_slow` rounds take a millisecond here.
fn calibrate(runtime: &Runtime) -> u64 {
    let rounds = 2_000_000;
    let mut slow = load(
        runtime,
        "test_slow",
        &format!(r#"{{"spin":{rounds}}}"#),
        Limits::default(),
    );
    let event = pod_event("ADDED", "bench", "calibrate");
    slow.handle_event(event.as_bytes()).expect("warm-up call");
    let started = Instant::now();
    let calls = 20;
    for _ in 0..calls {
        slow.handle_event(event.as_bytes()).expect("call");
    }
    let per_call = started.elapsed().as_secs_f64() * 1e3 / f64::from(calls);
    (rounds as f64 / per_call) as u64
}

fn load(runtime: &Runtime, name: &str, config_json: &str, limits: Limits) -> Plugin {
    let settings = PluginSettings {
        config_json: config_json.to_owned(),
        limits,
        ..PluginSettings::default()
    };
    Plugin::load(runtime, &plugin(name), settings).expect("plugin")
}

/// `n` Pod events, one per object, named `{prefix}-{i}`.
fn pods(prefix: &str, event_type: &str, n: usize) -> Vec<WatchEvent> {
    (0..n)
        .map(|i| {
            let line = pod_event(event_type, "bench", &format!("{prefix}-{i}"));
            WatchEvent::parse(line.into_bytes()).expect("event")
        })
        .collect()
}

/// Each event's latency to `plugin_simple`'s outcome, over a burst, beside `test_slow` when
/// `slow_rounds` is given.
fn latencies(
    runtime: &Runtime,
    calls: &CallTimes,
    slow_rounds: Option<u64>,
    gap: Option<Duration>,
) -> Vec<Duration> {
    let mut plugins = vec![(
        load(runtime, "plugin_simple", "{}", Limits::default()),
        WorkerOptions::default(),
    )];
    if let Some(rounds) = slow_rounds {
        let slow = load(
            runtime,
            "test_slow",
            &format!(r#"{{"spin":{rounds}}}"#),
            Limits::default(),
        );
        plugins.push((slow, WorkerOptions::default()));
    }
    let mut dispatcher = Dispatcher::start(plugins, Arc::new(Metrics::new())).expect("workers");
    let events = pods(
        if slow_rounds.is_some() {
            "beside"
        } else {
            "alone"
        },
        "ADDED",
        BURST,
    );
    calls.clear();
    let mut delivered = HashMap::with_capacity(BURST);
    let started = Instant::now();
    for (i, event) in events.iter().enumerate() {
        if let Some(gap) = gap {
            let due = started + gap * u32::try_from(i).unwrap_or(u32::MAX);
            // Sleeping, not spinning: the source leaves the cores to the plugins.
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        delivered.insert(event.meta().name().to_owned(), Instant::now());
        dispatcher.deliver(event);
    }
    let waiting = Instant::now();
    while calls.len() < BURST {
        assert!(
            waiting.elapsed() < Duration::from_secs(120),
            "plugin_simple handled {} of {BURST} events",
            calls.len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let seen = calls.take();
    dispatcher.stop();
    drop(dispatcher);
    seen.into_iter()
        .filter_map(|(name, at)| Some(at.duration_since(*delivered.get(&name)?)))
        .collect()
}

/// Events per second through `test_slow` at about 1 ms per event with `workers` lanes.
fn lane_throughput(runtime: &Runtime, rounds_per_ms: u64, workers: usize) -> f64 {
    let slow = load(
        runtime,
        "test_slow",
        &format!(r#"{{"spin":{rounds_per_ms}}}"#),
        Limits::default(),
    );
    let options = WorkerOptions {
        workers,
        queue_size: LANE_OBJECTS,
        ..WorkerOptions::default()
    };
    let mut dispatcher = Dispatcher::start(vec![(slow, options)], Arc::new(Metrics::new()))
        .expect("workers")
        .with_pace(Pace::Backpressure);
    let events = pods(&format!("lanes{workers}"), "ADDED", LANE_OBJECTS);
    let started = Instant::now();
    for event in &events {
        dispatcher.deliver(event);
    }
    dispatcher.wait_idle();
    let elapsed = started.elapsed();
    dispatcher.finish();
    LANE_OBJECTS as f64 / elapsed.as_secs_f64()
}

/// RSS growth per object while `hostile_loop` is stuck, for one change per object (the
/// baseline) and for three.
fn stuck_memory(runtime: &Runtime) {
    let once = stuck_growth(runtime, "once", &["ADDED"]);
    let thrice = stuck_growth(runtime, "thrice", &["ADDED", "MODIFIED", "MODIFIED"]);
    println!("\n2. hostile_loop stuck for a burst over {STUCK_OBJECTS} objects (Pod events of ~210 bytes)");
    println!("| each object | events | RSS growth | per object |");
    println!("|---|---|---|---|");
    for (label, events, grown) in [("added", 1, once), ("added, changed twice", 3, thrice)] {
        println!(
            "| {label} | {} | {grown} | {} |",
            events * STUCK_OBJECTS,
            grown / STUCK_OBJECTS as u64
        );
    }
    println!(
        "three changes per object / one: {:.2}x the memory (bounded by objects: 1x)",
        thrice as f64 / once as f64
    );
}

/// The RSS growth while a stuck plugin's backlog takes `types` for each object. Each event is
/// made, delivered and dropped: the backlog holds the only reference.
fn stuck_growth(runtime: &Runtime, prefix: &str, types: &[&str]) -> u64 {
    let limits = Limits {
        call_timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let stuck = load(runtime, "hostile_loop", "{}", limits);
    let mut dispatcher = Dispatcher::start(
        vec![(stuck, WorkerOptions::default())],
        Arc::new(Metrics::new()),
    )
    .expect("workers");
    let first = pods(&format!("{prefix}-first"), "ADDED", 1);
    dispatcher.deliver(&first[0]);
    std::thread::sleep(Duration::from_millis(200)); // stuck in its first call from here on
    let before = rss_bytes();
    for event_type in types {
        for i in 0..STUCK_OBJECTS {
            let line = pod_event(event_type, "bench", &format!("{prefix}-{i}"));
            let event = WatchEvent::parse(line.into_bytes()).expect("event");
            dispatcher.deliver(&event);
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    // The stuck worker is left behind: the process exits at the end.
    std::mem::forget(dispatcher);
    grown
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(values: impl Iterator<Item = Duration>) -> Duration {
    let mut values: Vec<Duration> = values.collect();
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn percentile(sample: &[Duration], p: f64) -> Duration {
    let mut sorted = sample.to_vec();
    sorted.sort();
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// When `plugin_simple`'s outcome for each object was logged (a tracing layer).
#[derive(Clone, Default)]
struct CallTimes {
    seen: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl CallTimes {
    fn clear(&self) {
        self.seen.lock().expect("lock").clear();
    }
    fn len(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }
    fn take(&self) -> Vec<(String, Instant)> {
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CallTimes {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "plugin" {
            return;
        }
        let at = Instant::now();
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.plugin == "plugin_simple" {
            self.seen.lock().expect("lock").push((fields.name, at));
        }
    }
}

#[derive(Default)]
struct Fields {
    plugin: String,
    name: String,
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "plugin" => self.plugin = value.to_owned(),
            "name" => self.name = value.to_owned(),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, format!("{value:?}").trim_matches('"'));
    }
}
