//! Per-event cost of the host and of plugins, measured side by side in one run.
//!
//! Events: the 5-8 KB Pod events of `conf/sample-events.jsonl` (recorded from a real API server).
//!
//! - `host_overhead_noop`: the host's own work per event (read the head, queue the event for the
//!   plugin's worker, copy it into the guest, call, free) with `test_noop`, a plugin that ignores
//!   its input.
//! - `replay_plugin_simple`: `plugin_simple` end to end through `replay` (read the line, queue
//!   it, call the plugin on its worker, write the log line to a file).
//! - `replay_native_baseline`: the same pipeline with plugin_simple's logic compiled natively and
//!   called in-process instead of through wasm: the baseline.
//! - `replay_full_parse`: a straightforward guest that parses the whole event into a
//!   `serde_json::Value`, for contrast.
//!
//! - `guards/*`: `plugin_simple` called directly with its log line, under no guard, each guard
//!   alone (epoch deadline, fuel, memory limiter) and the defaults (deadline + limiter).
//!
//! Run with `just bench` (it builds the plugins first).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use event_controller::dispatch::{Dispatcher, Pace};
use event_controller::event::WatchEvent;
use event_controller::logging::{self, LogFormat, LogSettings};
use event_controller::metrics::Metrics;
use event_controller::plugin::{Outcome, Plugin, PluginSettings};
use event_controller::runtime::{Runtime, RuntimeOptions};
use event_controller::sandbox::Limits;
use event_controller::source::replay::replay;
use event_controller::worker::WorkerOptions;
use event_controller_guest::abi::Level;
use event_controller_guest::head::{EventHead, Fields};
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;
use support::{plugin, repo};

use event_controller_test_support as support;

/// Events per benchmark iteration.
const BATCH: usize = 1000;

/// The sample's Pod events of 5-8 KiB, repeated to `BATCH` lines.
fn pod_lines() -> Vec<String> {
    let sample = std::fs::read_to_string(repo().join("conf/sample-events.jsonl")).expect("sample");
    let pods: Vec<&str> = sample
        .lines()
        .filter(|l| (5000..=8192).contains(&l.len()) && l.contains(r#""kind":"Pod""#))
        .collect();
    assert!(!pods.is_empty(), "no 5-8 KB Pod events in the sample");
    pods.iter()
        .cycle()
        .take(BATCH)
        .map(|l| l.to_string())
        .collect()
}

/// A dispatcher with one worker, running the plugin `name`.
fn dispatcher(runtime: &Runtime, name: &str) -> Dispatcher {
    let loaded = Plugin::load(runtime, &plugin(name), PluginSettings::default()).expect("plugin");
    let plugins = vec![(loaded, WorkerOptions::default())];
    Dispatcher::start(plugins, Arc::new(Metrics::new()))
        .expect("worker")
        .with_pace(Pace::Backpressure)
}

/// plugin_simple's logic, native: the same head read and message as the guest.
fn native_simple(raw: &[u8]) -> Option<Outcome> {
    let head = EventHead::read_fields(raw, Fields::IDENTITY).ok()?;
    Some(Outcome::log(
        Level::Info,
        format!("Kind: {}; Name: {}", head.kind?, head.name?),
    ))
}

/// Logs `outcome`'s message for `event` as the worker does.
fn log_outcome(event: &WatchEvent, outcome: &Outcome) {
    if let Some(message) = &outcome.message {
        logging::plugin_message("plugin_simple", event.meta(), message.level, &message.text);
    }
}

/// The native baseline's sink: what the dispatcher does, with a native call instead of wasm.
fn native_deliver(event: &WatchEvent) {
    if let Some(outcome) = native_simple(event.raw()) {
        log_outcome(event, &outcome);
    }
}

fn benches(c: &mut Criterion) {
    let log_dir = tempfile::tempdir().expect("tmp");
    let _log = logging::init(&LogSettings {
        format: LogFormat::Text,
        filter: "info".to_owned(),
        file: Some(log_dir.path().join("bench.log")),
    })
    .expect("logging");
    let runtime = Runtime::new().expect("runtime");
    let lines = pod_lines();
    let input = lines.join("\n").into_bytes();
    let events: Vec<WatchEvent> = lines
        .iter()
        .map(|l| WatchEvent::parse(l.clone().into_bytes()).expect("valid"))
        .collect();

    let mut group = c.benchmark_group("per_event");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(20);

    group.bench_function("event_head_read_all", |b| {
        b.iter(|| {
            for line in &lines {
                std::hint::black_box(EventHead::read(line.as_bytes()).expect("valid"));
            }
        })
    });
    group.bench_function("event_parse", |b| {
        b.iter(|| {
            for line in &lines {
                std::hint::black_box(WatchEvent::parse(line.as_bytes().to_vec()).expect("valid"));
            }
        })
    });
    let sample_outcome = Outcome::log(Level::Info, "Kind: Pod; Name: web-7d4b9c6f5-x2k8p");
    group.bench_function("log_line_only", |b| {
        b.iter(|| {
            for event in &events {
                log_outcome(event, &sample_outcome);
            }
        })
    });
    let mut noop = dispatcher(&runtime, "test_noop");
    group.bench_function("host_overhead_noop", |b| {
        b.iter(|| {
            for line in &lines {
                let event = WatchEvent::parse(line.as_bytes().to_vec()).expect("valid");
                noop.deliver(&event);
            }
            noop.wait_idle();
        })
    });
    group.bench_function("wasm_call_only_noop", |b| {
        b.iter(|| {
            events.iter().for_each(|e| noop.deliver(e));
            noop.wait_idle();
        })
    });
    let mut simple = dispatcher(&runtime, "plugin_simple");
    group.bench_function("replay_plugin_simple", |b| {
        b.iter(|| {
            replay(Cursor::new(&input), |e| simple.deliver(e)).expect("replay");
            simple.wait_idle();
        })
    });
    group.bench_function("replay_native_baseline", |b| {
        b.iter(|| replay(Cursor::new(&input), native_deliver).expect("replay"))
    });
    let mut full = dispatcher(&runtime, "test_full_parse");
    group.bench_function("replay_full_parse", |b| {
        b.iter(|| {
            replay(Cursor::new(&input), |e| full.deliver(e)).expect("replay");
            full.wait_idle();
        })
    });
    group.finish();
    guards(c, &events);
}

/// `plugin_simple` called directly (no queue), with its log line, under each guard alone and
/// under the defaults, against no guard at all.
fn guards(c: &mut Criterion, events: &[WatchEvent]) {
    let mut group = c.benchmark_group("guards");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(20);
    let unguarded = RuntimeOptions {
        deadlines: false,
        fuel: false,
    };
    let defaults = Limits::default();
    let cases = [
        ("none", unguarded, Limits::unlimited()),
        (
            "epoch_deadline",
            RuntimeOptions {
                deadlines: true,
                ..unguarded
            },
            Limits {
                call_timeout: defaults.call_timeout,
                ..Limits::unlimited()
            },
        ),
        (
            "fuel",
            RuntimeOptions {
                fuel: true,
                ..unguarded
            },
            Limits {
                fuel: Some(10_000_000),
                ..Limits::unlimited()
            },
        ),
        (
            "memory_limiter",
            unguarded,
            Limits {
                memory: defaults.memory,
                table_elements: defaults.table_elements,
                ..Limits::unlimited()
            },
        ),
        ("defaults", RuntimeOptions::default(), defaults),
    ];
    for (name, options, limits) in cases {
        let runtime = Runtime::with_options(options).expect("runtime");
        let settings = PluginSettings {
            limits,
            ..PluginSettings::default()
        };
        let mut simple =
            Plugin::load(&runtime, &plugin("plugin_simple"), settings).expect("plugin");
        group.bench_function(name, |b| {
            b.iter(|| {
                for event in events {
                    if let Ok(outcome) = simple.handle_event(event.raw()) {
                        log_outcome(event, &outcome);
                    }
                }
            })
        });
    }
    group.finish();
}

criterion_group!(events, benches);
criterion_main!(events);
