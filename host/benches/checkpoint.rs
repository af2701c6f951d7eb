//! The checkpoint of 100,000 objects: its size, memory, and the cost of writing, reading and
//! resuming from it, and of journaling changes to it.
//!
//! Objects: Pods in 20 namespaces with UUID uids, 8-digit decimal resourceVersions, names like
//! `web-7d4b9c6f5-x2k8p` and four labels (`app`, `pod-template-hash`, `app.kubernetes.io/name`,
//! `app.kubernetes.io/instance`).
//!
//! - `record`: recording 100,000 handled `ADDED` events into an empty checkpoint.
//! - `encode`, `decode`: the stored form, in memory.
//! - `save`: encode plus the atomic write (temporary file, write, fsync, rename, fsync of the
//!   directory), on the disk under `target/`.
//! - `load`: reading the file and decoding it.
//! - `resume/filter` against `resume/baseline`: the 100,000 `ADDED` events of the first list after
//!   a restart (89% unchanged, 10% changed, 1% new; 1% of the checkpoint vanished) through
//!   `admit`, then `finish`, against handing the same events on without a checkpoint.
//! - `journal/record`: recording a change (a `MODIFIED` of a known object) with the journal open:
//!   the record is framed for appending.
//! - `journal/record+tick`: the same, then [`Flusher::tick`] appending it to the journal (one
//!   `write`, a sync every 2 s, a compaction when the journal outgrows the snapshot, amortized).
//! - `journal/compaction`: [`Flusher::flush`] with one change pending: the pending record
//!   appended, the snapshot saved, the journal reset.
//! - `journal/load`: loading the snapshot and replaying a journal about as large (the most a
//!   journal grows to before it is compacted).
//!
//! Then, timed outside criterion: a steady stream of 100,000 changes, each recorded and ticked,
//! at a simulated rate (the `now` given to `tick`), with the journal against a store that keeps
//! none (a snapshot every 2 s while changes flow: the baseline), and the ratio.
//!
//! Sizes and memory are printed before the timings. `cargo bench -p event-controller --bench
//! checkpoint`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use event_controller::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, FileStore, Flusher, DEFAULT_INTERVAL,
};
use event_controller::event::WatchEvent;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts the bytes allocated and not yet freed, to measure the checkpoint's memory.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// The measuring allocator: a GlobalAlloc is unsafe to implement; it only forwards to System.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const OBJECTS: usize = 100_000;
const PLUGIN: &str = "bench";

/// A small deterministic generator (xorshift), so that every run measures the same objects.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn alnum(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| CHARS[(self.next() % CHARS.len() as u64) as usize] as char)
            .collect()
    }

    fn uuid(&mut self) -> String {
        let hex = format!("{:016x}{:016x}", self.next(), self.next());
        format!(
            "{}-{}-4{}-a{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }
}

/// One Pod, as identity: (namespace, name, uid, app, template hash).
#[derive(Clone)]
struct Pod {
    namespace: String,
    name: String,
    uid: String,
    app: String,
    hash: String,
}

const APPS: [&str; 8] = [
    "web", "api", "worker", "cache", "ledger", "search", "auth", "gateway",
];

fn pods(rng: &mut Rng, count: usize) -> Vec<Pod> {
    (0..count)
        .map(|i| {
            let app = APPS[i % APPS.len()];
            // About 12 replicas per ReplicaSet.
            let mut set = Rng(i as u64 / 12 + 1);
            let hash = set.alnum(10);
            Pod {
                namespace: format!("team-{:02}", (i / 12) % 20),
                name: format!("{app}-{hash}-{}", rng.alnum(5)),
                uid: rng.uuid(),
                app: app.to_owned(),
                hash,
            }
        })
        .collect()
}

/// The `ADDED` event of `pod` at `rv`, with a modest spec and status.
fn added(pod: &Pod, rv: u64) -> WatchEvent {
    pod_event("ADDED", pod, rv)
}

/// The event of `event_type` of `pod` at `rv`.
fn pod_event(event_type: &str, pod: &Pod, rv: u64) -> WatchEvent {
    let Pod {
        namespace,
        name,
        uid,
        app,
        hash,
    } = pod;
    let line = format!(
        r#"{{"type":"{event_type}","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","generateName":"{app}-{hash}-","namespace":"{namespace}","uid":"{uid}","resourceVersion":"{rv}","creationTimestamp":"2026-11-26T22:11:17Z","labels":{{"app":"{app}","pod-template-hash":"{hash}","app.kubernetes.io/name":"{app}","app.kubernetes.io/instance":"{app}-prod"}},"ownerReferences":[{{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"{app}-{hash}","uid":"{uid}","controller":true,"blockOwnerDeletion":true}}]}},"spec":{{"containers":[{{"name":"{app}","image":"registry.example.com/{app}:1.4.2","ports":[{{"containerPort":8080,"protocol":"TCP"}}],"resources":{{"requests":{{"cpu":"100m","memory":"128Mi"}}}}}}],"nodeName":"node-{n}","serviceAccountName":"default"}},"status":{{"phase":"Running","podIP":"10.42.{n}.{m}","startTime":"2026-11-26T22:11:18Z"}}}}}}"#,
        n = rv % 50,
        m = rv % 250,
    );
    WatchEvent::parse(line.into_bytes()).expect("valid event")
}

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A [`FileStore`] that keeps no journal: what a store that cannot append gets, snapshots at the
/// interval. The baseline of the stream.
struct SnapshotsOnly(FileStore);

impl CheckpointStore for SnapshotsOnly {
    fn read(&self, plugin: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
        self.0.read(plugin)
    }
    fn write(&self, plugin: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.0.write(plugin, bytes)
    }
    fn remove(&self, plugin: &str) -> Result<(), CheckpointError> {
        self.0.remove(plugin)
    }
    fn location(&self, plugin: &str) -> String {
        self.0.location(plugin)
    }
}

/// What a stream cost: wall time, and what the flusher wrote.
struct Streamed {
    elapsed: Duration,
    snapshots: u64,
    snapshot_bytes: u64,
    appends: u64,
    appended_bytes: u64,
    syncs: u64,
}

/// Records and ticks every change of `changes` into `checkpoint`, `per_second` changes per
/// simulated second, then flushes.
fn stream(
    store: Arc<dyn CheckpointStore>,
    checkpoint: &mut Checkpoint,
    changes: &[WatchEvent],
    per_second: u64,
) -> Streamed {
    let mut flusher = Flusher::new(store, PLUGIN, DEFAULT_INTERVAL);
    // Start clean: a snapshot (and the journal reset behind it).
    flusher.flush(checkpoint).expect("flushed");
    let before = flusher.stats();
    let t0 = Instant::now();
    let start = Instant::now();
    for (i, change) in changes.iter().enumerate() {
        checkpoint.record(change).expect("recorded");
        let now = t0 + Duration::from_nanos(i as u64 * 1_000_000_000 / per_second);
        flusher.tick(checkpoint, now).expect("ticked");
    }
    let end = t0 + Duration::from_nanos(changes.len() as u64 * 1_000_000_000 / per_second);
    flusher
        .tick(checkpoint, end + DEFAULT_INTERVAL)
        .expect("ticked");
    let elapsed = start.elapsed();
    let after = flusher.stats();
    Streamed {
        elapsed,
        snapshots: after.snapshots - before.snapshots,
        snapshot_bytes: after.snapshot_bytes - before.snapshot_bytes,
        appends: after.appends - before.appends,
        appended_bytes: after.appended_bytes - before.appended_bytes,
        syncs: after.syncs - before.syncs,
    }
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let world = pods(&mut rng, OBJECTS);
    let mut rv = 40_000_000u64;
    let mut next_rv = || {
        rv += 1 + rv % 7;
        rv
    };
    let handled: Vec<WatchEvent> = world.iter().map(|p| added(p, next_rv())).collect();

    // The first list after a restart: 1% vanished, 10% changed, 1% new.
    let newcomers = pods(&mut Rng(7), OBJECTS / 100);
    let mut listed = Vec::with_capacity(OBJECTS);
    for (i, event) in handled.iter().enumerate() {
        match i % 100 {
            0 => {}                                             // vanished
            1..=10 => listed.push(added(&world[i], next_rv())), // changed
            _ => listed.push(event.clone()),                    // unchanged
        }
    }
    listed.extend(newcomers.iter().map(|p| added(p, next_rv())));

    let before = live_bytes();
    let mut checkpoint = Checkpoint::new();
    for event in &handled {
        checkpoint.record(event).expect("recorded");
    }
    let memory = live_bytes() - before;
    let bytes = checkpoint.encode();
    let event_bytes: usize = handled.iter().map(|e| e.raw().len()).sum();
    println!(
        "checkpoint of {OBJECTS} Pods: file {} bytes ({:.1} bytes/object); memory {} bytes ({:.0} bytes/object); events {:.0} bytes on average",
        bytes.len(),
        bytes.len() as f64 / OBJECTS as f64,
        memory,
        memory as f64 / OBJECTS as f64,
        event_bytes as f64 / OBJECTS as f64,
    );

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
    let store = FileStore::open(dir.path()).expect("store");
    // One timed save and load outside criterion, for the record, and a copy of the file for
    // trying compressors on it.
    let start = Instant::now();
    let written = store.save(PLUGIN, &checkpoint).expect("saved");
    let save_once = start.elapsed();
    let start = Instant::now();
    let loaded = store.load(PLUGIN).expect("loaded").expect("some");
    let load_once = start.elapsed();
    assert_eq!(loaded.len(), OBJECTS);
    let copy = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench.checkpoint");
    std::fs::write(&copy, &bytes).expect("copy");
    println!(
        "first save {written} bytes in {save_once:?}, first load in {load_once:?}; a copy is at {}",
        copy.display()
    );

    let mut group = c.benchmark_group("checkpoint_100k");
    group.throughput(Throughput::Elements(OBJECTS as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.sampling_mode(SamplingMode::Flat);

    group.bench_function("record", |b| {
        b.iter(|| {
            let mut fresh = Checkpoint::new();
            for event in &handled {
                fresh.record(event).expect("recorded");
            }
            fresh
        })
    });
    group.bench_function("encode", |b| b.iter(|| checkpoint.encode()));
    group.bench_function("decode", |b| {
        b.iter(|| Checkpoint::decode(black_box(&bytes)).expect("decoded"))
    });
    group.bench_function("save", |b| {
        b.iter(|| store.save(PLUGIN, &checkpoint).expect("saved"))
    });
    group.bench_function("load", |b| {
        b.iter(|| store.load(PLUGIN).expect("loaded").expect("some"))
    });

    // The worker owns each event it takes from its queue: both loops consume owned events.
    group.bench_function("resume/baseline", |b| {
        b.iter_batched(
            || listed.clone(),
            |events| {
                for event in events {
                    black_box(event);
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("resume/filter", |b| {
        b.iter_batched(
            || (listed.clone(), Checkpoint::decode(&bytes).expect("decoded")),
            |(events, mut resuming)| {
                for event in events {
                    if let Some(event) = resuming.admit(&event).into_event(event) {
                        black_box(event);
                    }
                }
                let resumed = resuming.finish(|_, _, _| true);
                assert_eq!(resumed.deleted.len(), OBJECTS / 100);
                (resumed, resuming)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let mut resuming = Checkpoint::decode(&bytes).expect("decoded");
    for event in &listed {
        black_box(resuming.admit(event));
    }
    println!("resume: {:?}", resuming.finish(|_, _, _| true).stats);

    journal(c, &world, &handled, &mut next_rv);
}

/// The journal: recording and appending changes, compaction, loading, and the stream.
fn journal(
    c: &mut Criterion,
    world: &[Pod],
    handled: &[WatchEvent],
    next_rv: &mut impl FnMut() -> u64,
) {
    // 100,000 changes: each object modified once, in a scattered order.
    let changes: Vec<WatchEvent> = (0..OBJECTS)
        .map(|i| pod_event("MODIFIED", &world[i * 7919 % OBJECTS], next_rv()))
        .collect();
    let base = || {
        let mut checkpoint = Checkpoint::new();
        for event in handled {
            checkpoint.record(event).expect("recorded");
        }
        checkpoint
    };

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
    let store = Arc::new(FileStore::open(dir.path()).expect("store"));
    let mut checkpoint = base();
    let mut flusher = Flusher::new(store.clone(), PLUGIN, DEFAULT_INTERVAL);
    flusher.flush(&mut checkpoint).expect("flushed");
    assert!(checkpoint.journal_is_open());

    // A journal about as large as the snapshot, for loading.
    let snapshot_len = std::fs::metadata(store.path(PLUGIN).expect("path"))
        .expect("snapshot")
        .len();
    let journal_path = store.journal_path(PLUGIN).expect("path");
    let mut records = 0;
    let mut cycle = changes.iter().cycle();
    loop {
        let change = cycle.next().expect("endless");
        checkpoint.record(change).expect("recorded");
        let pending = checkpoint.journal_pending().len() as u64;
        if checkpoint.journal_len() + pending > checkpoint.journal_limit() {
            break;
        }
        flusher
            .tick(&mut checkpoint, Instant::now())
            .expect("appended");
        records += 1;
    }
    let journal_len = std::fs::metadata(&journal_path).expect("journal").len();
    let start = Instant::now();
    let loaded = store.load(PLUGIN).expect("loaded").expect("some");
    let load_once = start.elapsed();
    let replay = loaded.replayed();
    assert_eq!(replay.applied, records);
    println!(
        "journal: {records} records, {journal_len} bytes ({:.1} bytes/record) beside a snapshot of {snapshot_len} bytes; loading both in {load_once:?}",
        (journal_len - 32) as f64 / records as f64,
    );

    let mut group = c.benchmark_group("checkpoint_100k");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("journal/load", |b| {
        b.iter(|| store.load(PLUGIN).expect("loaded").expect("some"))
    });
    group.bench_function("journal/compaction", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            checkpoint.record(&changes[i % OBJECTS]).expect("recorded");
            flusher.flush(&mut checkpoint).expect("flushed")
        })
    });

    const BATCH: usize = 1000;
    group.throughput(Throughput::Elements(BATCH as u64));
    // Recording alone, the journal open: the pending records are appended after each batch,
    // untimed.
    group.bench_function("journal/record", |b| {
        let mut i = 0;
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for _ in 0..BATCH {
                    i += 1;
                    checkpoint.record(&changes[i % OBJECTS]).expect("recorded");
                }
                timed += start.elapsed();
                assert!(checkpoint.journal_pending().len() > BATCH * 100);
                flusher
                    .tick(&mut checkpoint, Instant::now())
                    .expect("appended");
            }
            timed
        });
    });
    flusher.flush(&mut checkpoint).expect("flushed");
    group.bench_function("record (journal closed)", |b| {
        let mut fresh = base();
        let mut i = 0;
        b.iter(|| {
            for _ in 0..BATCH {
                i += 1;
                fresh.record(&changes[i % OBJECTS]).expect("recorded");
            }
        });
    });
    group.bench_function("journal/record+tick", |b| {
        let mut i = 0;
        b.iter(|| {
            for _ in 0..BATCH {
                i += 1;
                checkpoint.record(&changes[i % OBJECTS]).expect("recorded");
                flusher
                    .tick(&mut checkpoint, Instant::now())
                    .expect("appended");
            }
        });
    });
    group.finish();
    println!("journal flusher: {:?}", flusher.stats());

    // The stream, with the journal and without.
    for per_second in [1_000, 10_000] {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
        let files = FileStore::open(dir.path()).expect("store");
        let baseline = stream(
            Arc::new(SnapshotsOnly(files.clone())),
            &mut base(),
            &changes,
            per_second,
        );
        let journaled = stream(Arc::new(files), &mut base(), &changes, per_second);
        let seconds = OBJECTS as u64 / per_second;
        for (name, s) in [("snapshots only", &baseline), ("journal", &journaled)] {
            println!(
                "stream of {OBJECTS} changes at {per_second}/s ({seconds} s simulated), {name}: {:?} ({:.2} µs/change); {} snapshots ({} MB), {} appends ({} MB), {} syncs",
                s.elapsed,
                s.elapsed.as_secs_f64() * 1e6 / OBJECTS as f64,
                s.snapshots,
                s.snapshot_bytes / 1_000_000,
                s.appends,
                s.appended_bytes / 1_000_000,
                s.syncs,
            );
        }
        println!(
            "stream at {per_second}/s: journal/baseline time {:.2}, bytes written {:.2}",
            journaled.elapsed.as_secs_f64() / baseline.elapsed.as_secs_f64(),
            (journaled.appended_bytes + journaled.snapshot_bytes) as f64
                / baseline.snapshot_bytes as f64,
        );
    }
}

criterion_group!(checkpoint, benches);
criterion_main!(checkpoint);
