//! The controller against a real kube-apiserver, beside the code a user would write instead
//! (issue 19). Opt-in: without `EC_E2E_KUBECONFIG` it prints SKIPPED and exits 0.
//!
//! In a fresh namespace of the cluster that kubeconfig names, it creates N ConfigMaps of about
//! 1.45 KB (concurrent creates; `EC_BENCH_OBJECTS`, default 20,000), then runs whole processes,
//! alternately, `EC_BENCH_RUNS` times each (default 3):
//!
//! - `event-controller run` (the release binary Cargo built beside this benchmark) watching
//!   `configmaps` in every namespace with `plugin_simple` as its only plugin, default settings
//!   (a streaming list);
//! - the same with `K8S_STREAMING_LISTS=false` (a paginated list);
//! - `native-watcher` (tests/native_watcher, `target/release/native-watcher`): a storeless
//!   kube-rs `watcher` with its default paginated list, one `tracing` line per object;
//! - with `EC_BENCH_BASELINE=PATH`, another `event-controller` binary (an earlier build) run as
//!   the first, to compare two builds in the same run. `EC_BENCH_PAGED=0` leaves the paginated
//!   variant out; `EC_BENCH_PAGE_SIZES=100,500,2000` runs one per page size
//!   (`K8S_LIST_PAGE_SIZE`) instead of the default's 500 alone.
//!
//! Each writes one text log line per object (`Kind: ConfigMap; Name: NAME`) to stderr, a pipe
//! this benchmark reads: the lines are formatted and written as in production, and counted here.
//! For each process it measures, at the moment the N-th distinct object's line arrives:
//!
//! - **list**: time from spawn (so including start-up and, for the controller, loading the
//!   plugin from the module cache, which the unmeasured warm-up fills), VmRSS and its anonymous
//!   part (RssAnon: VmRSS also counts the binary's code pages), and CPU (utime + stime) per
//!   1,000 objects;
//! - **burst**: every object modified once (concurrent patches), time from the first patch to the
//!   N-th object's line after it, and the process's CPU over that span per 1,000 events;
//! - **steady watch**: then a low, even rate of changes: R patches a second (a tokio interval,
//!   each sent without waiting for the previous answer; `EC_BENCH_STEADY_RATE`, default 200) for
//!   D seconds (`EC_BENCH_STEADY_SECONDS`, default 10), each to a distinct object (the first R × D,
//!   at most N) with a revision it never had. Once every one of those objects' lines has arrived:
//!   the process's CPU from the first patch on per 1,000 events (so including the idle time
//!   between changes), its VmRSS, and the latency of each change, from the moment the benchmark
//!   sent its patch to the moment it read the object's line (p50 and p99, in ms: the API server's
//!   write and watch fan-out, the process's handling and the pipe).
//!
//! With `EC_BENCH_PERF_DIR` set, each process's steady phase is recorded with `perf record -g`
//! into that directory (`steady-PID.data`), to see where its CPU goes.
//!
//! It prints every run, then a table of medians with the ratios to the native watcher measured
//! in the same run (latencies absolute). It deletes the ConfigMaps and the namespace at the end.
//!
//! `just bench-real` builds what it needs and runs it.

use event_controller_test_support as support;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Concurrent requests when creating or modifying the objects.
const CONCURRENCY: usize = 32;
/// Characters of each ConfigMap's payload: with its metadata, about 1.45 KB as the API server
/// sends it.
const PAYLOAD: usize = 930;
/// How long one phase may take before the benchmark gives up.
const PATIENCE: Duration = Duration::from_secs(600);
/// What every object's log line contains before its name.
const LINE_MARK: &str = "Kind: ConfigMap; Name: ";
/// Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// One of the processes compared.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// `event-controller run` with default settings (streaming list).
    Controller,
    /// `event-controller run` with `K8S_STREAMING_LISTS=false` and this `K8S_LIST_PAGE_SIZE`.
    ControllerPaged(u32),
    /// The binary `EC_BENCH_BASELINE` names, run as [`Variant::Controller`].
    Baseline,
    /// The kube-rs watcher a user would write instead.
    Native,
}

impl Variant {
    /// The variants this run compares (see the module docs).
    fn chosen() -> Vec<Variant> {
        let mut variants = vec![Variant::Controller];
        if std::env::var("EC_BENCH_PAGED").as_deref() != Ok("0") {
            variants.extend(page_sizes().into_iter().map(Variant::ControllerPaged));
        }
        if baseline_binary().is_some() {
            variants.push(Variant::Baseline);
        }
        variants.push(Variant::Native);
        variants
    }

    fn label(self) -> String {
        match self {
            Variant::Controller => "event-controller, defaults (streaming list)".into(),
            Variant::ControllerPaged(500) => "event-controller, `K8S_STREAMING_LISTS=false`".into(),
            Variant::ControllerPaged(size) => {
                format!("event-controller, `K8S_STREAMING_LISTS=false K8S_LIST_PAGE_SIZE={size}`")
            }
            Variant::Baseline => "baseline event-controller (`EC_BENCH_BASELINE`), defaults".into(),
            Variant::Native => "native kube-rs watcher (paged list, storeless)".into(),
        }
    }
}

/// The page sizes of the paginated variants: `EC_BENCH_PAGE_SIZES` (comma-separated), else the
/// default 500 alone.
fn page_sizes() -> Vec<u32> {
    let Ok(sizes) = std::env::var("EC_BENCH_PAGE_SIZES") else {
        return vec![500];
    };
    sizes
        .split(',')
        .map(|size| {
            size.trim()
                .parse()
                .unwrap_or_else(|_| panic!("EC_BENCH_PAGE_SIZES: {size:?} is not a page size"))
        })
        .collect()
}

/// The earlier build `EC_BENCH_BASELINE` names, if any.
fn baseline_binary() -> Option<PathBuf> {
    std::env::var_os("EC_BENCH_BASELINE").map(PathBuf::from)
}

/// What the cluster side needs: the kubeconfig, the namespace and the object names' prefix.
struct Setup {
    kubeconfig: PathBuf,
    namespace: String,
    prefix: String,
    objects: usize,
    steady: SteadyPace,
    plugins: tempfile::TempDir,
}

/// The steady phase's stream of changes: the first `changes` objects, `rate` a second.
struct SteadyPace {
    rate: usize,
    changes: usize,
}

impl SteadyPace {
    /// `EC_BENCH_STEADY_RATE` changes a second for `EC_BENCH_STEADY_SECONDS`, at least one
    /// change and at most one per object.
    fn from_env(objects: usize) -> SteadyPace {
        let rate = env_number("EC_BENCH_STEADY_RATE", 200).max(1);
        let wanted = rate * env_number("EC_BENCH_STEADY_SECONDS", 10);
        let changes = wanted.clamp(1, objects);
        if changes != wanted {
            eprintln!("steady phase: {changes} changes instead of {wanted} (one per object, at least one)");
        }
        SteadyPace { rate, changes }
    }

    /// The objects changed, in order.
    fn names(&self, prefix: &str) -> Vec<String> {
        (0..self.changes)
            .map(|i| object_name_of(prefix, i))
            .collect()
    }
}

/// CPU time and resident memory of a process at one moment.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    cpu_seconds: f64,
    rss_kib: u64,
    /// The part of `rss_kib` that is not file-backed (the binary's code pages are).
    anon_kib: u64,
}

/// One process's figures.
struct Measurement {
    list: Duration,
    list_rss_mib: f64,
    list_anon_mib: f64,
    list_cpu_per_1000: f64,
    burst: Burst,
    steady: Steady,
}

/// The burst's figures.
struct Burst {
    /// From the first patch to the N-th object's line.
    handled: Duration,
    cpu_per_1000: f64,
    /// From the first patch to the last patch answered: the server's pace.
    writes: Duration,
}

/// The steady phase's figures.
struct Steady {
    /// From the first patch to the last patch sent: about D seconds if the pace was kept.
    sending: Duration,
    /// From the first patch to the last changed object's line.
    handled: Duration,
    /// CPU from the first patch to the last line, per 1,000 changes.
    cpu_per_1000: f64,
    /// VmRSS when the last line arrived.
    rss_mib: f64,
    /// From a patch's sending to its object's line being read, in ms.
    latency_p50_ms: f64,
    latency_p99_ms: f64,
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = &stat[stat.rfind(')').expect("stat's command") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields[i - 3].parse::<u64>().expect("a tick count");
    (ticks(14) + ticks(15)) as f64 / TICKS_PER_SECOND
}

/// A `field` (`VmRSS`, `RssAnon`) of /proc/`pid`/status, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

fn sample(pid: u32) -> Sample {
    Sample {
        at: Instant::now(),
        cpu_seconds: cpu_seconds(pid),
        rss_kib: memory_kib(pid, "VmRSS"),
        anon_kib: memory_kib(pid, "RssAnon"),
    }
}

/// The object name in a log line, if the line is one of this run's objects.
fn object_name<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let start = line.find(LINE_MARK)? + LINE_MARK.len();
    let name = line[start..]
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()?;
    name.starts_with(prefix).then_some(name)
}

/// What the log reader tells `measure`.
enum Report {
    /// The N-th distinct object's line of the list or of the burst arrived.
    Counted(Sample),
    /// The line of every awaited object arrived; when each was read, by name.
    Awaited(Sample, HashMap<String, Instant>),
}

/// What the log reader is doing with the object lines it reads.
enum Phase {
    /// Counting distinct objects up to N, for `left` more phases (the list, then the burst).
    Counting { seen: HashSet<String>, left: usize },
    /// Noting when the first line of each `pending` object after the order was read.
    Awaiting {
        pending: HashSet<String>,
        read: HashMap<String, Instant>,
    },
    /// Only draining the pipe.
    Draining,
}

impl Phase {
    /// Notes `name`'s line, read `at`; returns the report if it ends the phase.
    fn on_line(&mut self, name: &str, at: Instant, objects: usize, pid: u32) -> Option<Report> {
        match self {
            Phase::Counting { seen, left } => {
                seen.insert(name.to_owned());
                if seen.len() < objects {
                    return None;
                }
                seen.clear();
                *left -= 1;
                if *left == 0 {
                    *self = Phase::Draining;
                }
                Some(Report::Counted(sample(pid)))
            }
            Phase::Awaiting { pending, read } => {
                if !pending.remove(name) {
                    return None;
                }
                read.insert(name.to_owned(), at);
                if !pending.is_empty() {
                    return None;
                }
                let read = std::mem::take(read);
                *self = Phase::Draining;
                Some(Report::Awaited(sample(pid), read))
            }
            Phase::Draining => None,
        }
    }
}

/// Reads the child's log: a sample when the N-th distinct object's line arrives (the list), then
/// another when the N-th distinct object's line after that arrives (the burst). When `awaits`
/// brings a set of names, notes when the first line of each is read (the steady phase; the order
/// is looked at before each line, so it is in effect for the lines of changes made after it was
/// sent). Drains the pipe until the child ends.
fn read_log(
    log: impl std::io::Read,
    pid: u32,
    prefix: String,
    objects: usize,
    awaits: mpsc::Receiver<HashSet<String>>,
    reports: mpsc::Sender<Report>,
) {
    let mut lines = std::io::BufReader::with_capacity(1 << 20, log);
    let mut line = String::new();
    let mut phase = Phase::Counting {
        seen: HashSet::with_capacity(objects),
        left: 2,
    };
    while lines.read_line(&mut line).unwrap_or(0) > 0 {
        let at = Instant::now();
        if let Ok(pending) = awaits.try_recv() {
            let read = HashMap::with_capacity(pending.len());
            phase = Phase::Awaiting { pending, read };
        }
        if let Some(name) = object_name(&line, &prefix) {
            if let Some(report) = phase.on_line(name, at, objects, pid) {
                let _ = reports.send(report);
            }
        }
        line.clear();
    }
}

/// Settings the benchmark's own environment must not pass on to the processes compared.
const NOT_INHERITED: [&str; 11] = [
    "K8S_API_ENDPOINT",
    "K8S_TOKEN",
    "K8S_TOKEN_FILE",
    "K8S_CA",
    "K8S_NAMESPACE",
    "K8S_STREAMING_LISTS",
    "CONFIG_FILE",
    "LOG_FORMAT",
    "LOG_FILE",
    "LOG_LEVEL",
    "RUST_LOG",
];

/// Starts one variant, its stderr piped.
fn spawn(variant: Variant, setup: &Setup) -> Child {
    let controller = support::binary();
    let program = match variant {
        Variant::Native => {
            let native = controller.with_file_name("native-watcher");
            assert!(
                native.is_file(),
                "{} is not built: `cargo build --release -p native-watcher` (or `just bench-real`)",
                native.display()
            );
            native
        }
        Variant::Baseline => {
            let baseline = baseline_binary().expect("EC_BENCH_BASELINE is set");
            assert!(
                baseline.is_file(),
                "EC_BENCH_BASELINE: {} is not a file",
                baseline.display()
            );
            baseline
        }
        Variant::Controller | Variant::ControllerPaged(_) => controller,
    };
    let mut command = Command::new(program);
    for name in NOT_INHERITED {
        command.env_remove(name);
    }
    match variant {
        Variant::Native => {
            command.env("RUST_LOG", "info");
        }
        Variant::Controller | Variant::ControllerPaged(_) | Variant::Baseline => {
            command
                .arg("run")
                .env("PLUGINS_DIR", setup.plugins.path())
                .env("K8S_RESOURCE", "configmaps")
                .env("LOG_LEVEL", "info")
                // The endpoints run as by default, on a free port.
                .env("METRICS_ADDRESS", "127.0.0.1:0");
        }
    }
    if let Variant::ControllerPaged(size) = variant {
        command
            .env("K8S_STREAMING_LISTS", "false")
            .env("K8S_LIST_PAGE_SIZE", size.to_string());
    }
    command
        .env("KUBECONFIG", &setup.kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the process")
}

/// A variant's process and the thread reading its log.
struct Running {
    variant: Variant,
    child: Child,
    pid: u32,
    reports: mpsc::Receiver<Report>,
    awaits: mpsc::Sender<HashSet<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Running {
    fn start(variant: Variant, setup: &Setup) -> Running {
        let mut child = spawn(variant, setup);
        let pid = child.id();
        let stderr = child.stderr.take().expect("piped stderr");
        let (report, reports) = mpsc::channel();
        let (awaits, awaited) = mpsc::channel();
        let (prefix, objects) = (setup.prefix.clone(), setup.objects);
        let reader = std::thread::spawn(move || {
            read_log(stderr, pid, prefix, objects, awaited, report);
        });
        Running {
            variant,
            child,
            pid,
            reports,
            awaits,
            reader,
        }
    }

    /// Waits for the reader's next report, or fails naming the variant and phase.
    fn next_report(&self, phase: &str) -> Report {
        self.reports.recv_timeout(PATIENCE).unwrap_or_else(|_| {
            panic!(
                "{}: the {phase} was not handled within {PATIENCE:?}",
                self.variant.label()
            )
        })
    }

    /// The sample taken when the N-th object of the list or the burst was logged.
    fn counted(&self, phase: &str) -> Sample {
        match self.next_report(phase) {
            Report::Counted(sample) => sample,
            Report::Awaited(..) => unreachable!("awaited lines before the {phase} was counted"),
        }
    }

    /// Has the reader note when the next line of each of `names` is read.
    fn await_lines(&self, names: &[String]) {
        self.awaits
            .send(names.iter().cloned().collect())
            .expect("the log reader runs");
    }

    /// The sample taken when the last awaited line was read, and when each was.
    fn awaited(&self, phase: &str) -> (Sample, HashMap<String, Instant>) {
        match self.next_report(phase) {
            Report::Awaited(sample, read) => (sample, read),
            Report::Counted(_) => unreachable!("a phase counted while the {phase} was awaited"),
        }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.reader.join();
    }
}

/// Runs one variant: the list, then (if a `revision` is given) a burst of changes and a steady
/// stream of them, then stops it.
fn measure(
    variant: Variant,
    setup: &Setup,
    cluster: &Cluster,
    revision: Option<&str>,
) -> Option<Measurement> {
    let started = Instant::now();
    let process = Running::start(variant, setup);
    let listed = process.counted("initial list");
    let measurement = revision.map(|revision| Measurement {
        list: listed.at - started,
        list_rss_mib: listed.rss_kib as f64 / 1024.0,
        list_anon_mib: listed.anon_kib as f64 / 1024.0,
        list_cpu_per_1000: per_1000(listed.cpu_seconds, setup.objects),
        burst: measure_burst(&process, setup, cluster, revision),
        steady: measure_steady(&process, setup, cluster, &format!("{revision}-steady")),
    });
    process.stop();
    measurement
}

/// CPU seconds per 1,000 of `count` objects or events.
fn per_1000(cpu_seconds: f64, count: usize) -> f64 {
    cpu_seconds * 1000.0 / count as f64
}

/// Every object set to `revision` at once; waits for all of their lines.
fn measure_burst(process: &Running, setup: &Setup, cluster: &Cluster, revision: &str) -> Burst {
    let before = sample(process.pid);
    let writes = cluster.modify_all(setup, revision);
    let after = process.counted("burst");
    Burst {
        handled: after.at - before.at,
        cpu_per_1000: per_1000(after.cpu_seconds - before.cpu_seconds, setup.objects),
        writes,
    }
}

/// The steady stream of changes, each object set to `revision`; waits for all of their lines.
fn measure_steady(process: &Running, setup: &Setup, cluster: &Cluster, revision: &str) -> Steady {
    let names = setup.steady.names(&setup.prefix);
    process.await_lines(&names);
    let profile = Profile::start(process);
    let before = sample(process.pid);
    let sent = cluster.patch_steadily(setup, &names, revision);
    let (after, read) = process.awaited("steady watch");
    profile.stop();
    let mut latencies: Vec<f64> = names
        .iter()
        .zip(&sent)
        .map(|(name, sent)| {
            let read = read.get(name).expect("every awaited name was read");
            read.saturating_duration_since(*sent).as_secs_f64() * 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Steady {
        sending: match (sent.first(), sent.last()) {
            (Some(first), Some(last)) => *last - *first,
            _ => Duration::ZERO,
        },
        handled: after.at - before.at,
        cpu_per_1000: per_1000(after.cpu_seconds - before.cpu_seconds, names.len()),
        rss_mib: after.rss_kib as f64 / 1024.0,
        latency_p50_ms: percentile(&latencies, 0.50),
        latency_p99_ms: percentile(&latencies, 0.99),
    }
}

/// `perf record -g` of one process over its steady phase, when `EC_BENCH_PERF_DIR` names a
/// directory: `steady-PID.data` there, for `perf report -i` (which variant a PID was is printed).
struct Profile(Option<Child>);

impl Profile {
    fn start(process: &Running) -> Profile {
        let Some(dir) = std::env::var_os("EC_BENCH_PERF_DIR") else {
            return Profile(None);
        };
        let output = PathBuf::from(dir).join(format!("steady-{}.data", process.pid));
        eprintln!(
            "{}: steady phase profiled into {}",
            process.variant.label(),
            output.display()
        );
        let recording = Command::new("perf")
            .args([
                "record",
                "-F",
                "2000",
                "-g",
                "-p",
                &process.pid.to_string(),
                "-o",
            ])
            .arg(&output)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run perf (EC_BENCH_PERF_DIR is set)");
        // perf attaches to the process's threads before the first change is sent.
        std::thread::sleep(Duration::from_millis(500));
        Profile(Some(recording))
    }

    /// Ends the recording (perf writes its file on SIGINT).
    fn stop(self) {
        if let Some(mut recording) = self.0 {
            let _ = Command::new("kill")
                .args(["-INT", &recording.id().to_string()])
                .status();
            let _ = recording.wait();
        }
    }
}

/// The nearest-rank `fraction` percentile of `sorted`, which must not be empty.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The benchmark's own client and a runtime to drive it.
struct Cluster {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Cluster {
    fn connect(kubeconfig: &Path) -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let client = runtime.block_on(async {
            let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("read the kubeconfig");
            let config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .expect("a client config from the kubeconfig");
            Client::try_from(config).expect("a client")
        });
        Cluster { runtime, client }
    }

    fn configmaps(&self, namespace: &str) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Runs `request(i)` for every object, `CONCURRENCY` at a time; returns the time taken.
    fn for_each_object<F, Fut>(&self, objects: usize, request: F) -> Duration
    where
        F: Fn(usize) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let started = Instant::now();
        self.runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for first in 0..CONCURRENCY {
                let request = request.clone();
                tasks.spawn(async move {
                    for i in (first..objects).step_by(CONCURRENCY) {
                        request(i).await;
                    }
                });
            }
            while let Some(finished) = tasks.join_next().await {
                finished.expect("a request task");
            }
        });
        started.elapsed()
    }

    /// Creates the namespace and the objects; returns one object's size as served.
    fn create_objects(&self, setup: &Setup) -> usize {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": setup.namespace}
        }))
        .expect("a namespace");
        self.runtime
            .block_on(namespaces.create(&PostParams::default(), &namespace))
            .expect("create the namespace");
        let api = self.configmaps(&setup.namespace);
        let prefix = setup.prefix.clone();
        let took = self.for_each_object(setup.objects, move |i| {
            let (api, object) = (api.clone(), configmap(&prefix, i));
            async move {
                api.create(&PostParams::default(), &object)
                    .await
                    .expect("create a ConfigMap");
            }
        });
        eprintln!(
            "{} ConfigMaps created in {} in {:.1} s ({:.0}/s)",
            setup.objects,
            setup.namespace,
            took.as_secs_f64(),
            setup.objects as f64 / took.as_secs_f64()
        );
        let first = self
            .runtime
            .block_on(
                self.configmaps(&setup.namespace)
                    .get(&object_name_of(&setup.prefix, 0)),
            )
            .expect("get a ConfigMap");
        serde_json::to_string(&first).expect("json").len()
    }

    /// Sets every object's `revision` key to `revision`; returns the time the writes took.
    fn modify_all(&self, setup: &Setup, revision: &str) -> Duration {
        let api = self.configmaps(&setup.namespace);
        let (prefix, patch) = (
            setup.prefix.clone(),
            serde_json::json!({"data": {"revision": revision}}),
        );
        self.for_each_object(setup.objects, move |i| {
            let (api, name, patch) = (api.clone(), object_name_of(&prefix, i), patch.clone());
            async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .expect("patch a ConfigMap");
            }
        })
    }

    /// Sets the `revision` key of each of `names`, in order, one every 1/R s: a tokio interval
    /// paces them (catching up after a late tick), and none waits for an earlier one's answer.
    /// Returns when each patch was sent; returns once all are answered.
    fn patch_steadily(&self, setup: &Setup, names: &[String], revision: &str) -> Vec<Instant> {
        let api = self.configmaps(&setup.namespace);
        let patch = serde_json::json!({"data": {"revision": revision}});
        let period = Duration::from_secs_f64(1.0 / setup.steady.rate as f64);
        self.runtime.block_on(async {
            let mut ticks = tokio::time::interval(period);
            let mut patches = tokio::task::JoinSet::new();
            let mut sent = Vec::with_capacity(names.len());
            for name in names {
                ticks.tick().await;
                sent.push(Instant::now());
                let (api, name, patch) = (api.clone(), name.clone(), patch.clone());
                patches.spawn(async move {
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .expect("patch a ConfigMap (steady phase)");
                });
            }
            while let Some(finished) = patches.join_next().await {
                finished.expect("a steady patch task");
            }
            sent
        })
    }

    /// Deletes the objects and the namespace (which stays Terminating on a cluster without a
    /// controller-manager, hence the objects first). A collection delete stops at the server's
    /// request timeout (about 70,000 of 100,000 objects here), so it is repeated until none is
    /// left.
    fn delete_objects(&self, setup: &Setup) {
        let api = self.configmaps(&setup.namespace);
        let deleted = self.runtime.block_on(async {
            for _ in 0..20 {
                let _ = api
                    .delete_collection(&DeleteParams::default(), &ListParams::default())
                    .await;
                if api
                    .list(&ListParams::default().limit(1))
                    .await?
                    .items
                    .is_empty()
                {
                    break;
                }
            }
            Api::<Namespace>::all(self.client.clone())
                .delete(&setup.namespace, &DeleteParams::default())
                .await
        });
        if let Err(error) = deleted {
            eprintln!("could not delete {}: {error}", setup.namespace);
        }
    }
}

fn object_name_of(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:06}")
}

/// Object `i`: a payload of `PAYLOAD` characters and a `revision` key the bursts change.
fn configmap(prefix: &str, i: usize) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(object_name_of(prefix, i)),
            labels: Some(BTreeMap::from([("app".into(), "ec-bench".into())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("payload".into(), "x".repeat(PAYLOAD)),
            ("revision".into(), "0".into()),
        ])),
        ..Default::default()
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// The medians of one variant's runs.
struct Medians {
    list: f64,
    rss: f64,
    anon: f64,
    list_cpu: f64,
    burst: f64,
    burst_cpu: f64,
    steady_cpu: f64,
    steady_rss: f64,
    latency_p50: f64,
    latency_p99: f64,
}

impl Medians {
    fn of(runs: &[Measurement]) -> Medians {
        let of = |f: fn(&Measurement) -> f64| median(runs.iter().map(f).collect());
        Medians {
            list: of(|m| m.list.as_secs_f64()),
            rss: of(|m| m.list_rss_mib),
            anon: of(|m| m.list_anon_mib),
            list_cpu: of(|m| m.list_cpu_per_1000),
            burst: of(|m| m.burst.handled.as_secs_f64()),
            burst_cpu: of(|m| m.burst.cpu_per_1000),
            steady_cpu: of(|m| m.steady.cpu_per_1000),
            steady_rss: of(|m| m.steady.rss_mib),
            latency_p50: of(|m| m.steady.latency_p50_ms),
            latency_p99: of(|m| m.steady.latency_p99_ms),
        }
    }
}

fn print_run(variant: Variant, run: usize, m: &Measurement, pace: &SteadyPace) {
    eprintln!(
        "run {run} | {}: list {:.2} s, RSS {:.1} MiB (anonymous {:.1}), list CPU {:.3} s/1000 | burst {:.2} s (writes {:.2} s), burst CPU {:.3} s/1000 | steady {} at {}/s: sent in {:.2} s, handled in {:.2} s, CPU {:.3} s/1000, RSS {:.1} MiB, latency p50 {:.1} ms, p99 {:.1} ms",
        variant.label(),
        m.list.as_secs_f64(),
        m.list_rss_mib,
        m.list_anon_mib,
        m.list_cpu_per_1000,
        m.burst.handled.as_secs_f64(),
        m.burst.writes.as_secs_f64(),
        m.burst.cpu_per_1000,
        pace.changes,
        pace.rate,
        m.steady.sending.as_secs_f64(),
        m.steady.handled.as_secs_f64(),
        m.steady.cpu_per_1000,
        m.steady.rss_mib,
        m.steady.latency_p50_ms,
        m.steady.latency_p99_ms,
    );
}

fn print_table(results: &[(Variant, Vec<Measurement>)]) {
    let medians: Vec<(Variant, Medians)> = results
        .iter()
        .map(|(variant, runs)| (*variant, Medians::of(runs)))
        .collect();
    let native = &medians
        .iter()
        .find(|(variant, _)| *variant == Variant::Native)
        .expect("the native watcher's runs")
        .1;
    println!("| | initial list handled | RSS after the list | of which anonymous | CPU / 1,000 objects (list, incl. start) | burst handled | CPU / 1,000 events (burst) | CPU / 1,000 events (steady) | RSS after steady | latency p50 (steady) | latency p99 (steady) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (variant, m) in &medians {
        println!(
            "| {} | {:.2} s ({:.2}x) | {:.1} MiB ({:.2}x) | {:.1} MiB ({:.2}x) | {:.3} s ({:.2}x) | {:.2} s ({:.2}x) | {:.3} s ({:.2}x) | {:.3} s ({:.2}x) | {:.1} MiB ({:.2}x) | {:.1} ms | {:.1} ms |",
            variant.label(),
            m.list,
            m.list / native.list,
            m.rss,
            m.rss / native.rss,
            m.anon,
            m.anon / native.anon,
            m.list_cpu,
            m.list_cpu / native.list_cpu,
            m.burst,
            m.burst / native.burst,
            m.burst_cpu,
            m.burst_cpu / native.burst_cpu,
            m.steady_cpu,
            m.steady_cpu / native.steady_cpu,
            m.steady_rss,
            m.steady_rss / native.steady_rss,
            m.latency_p50,
            m.latency_p99,
        );
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let Some(kubeconfig) = std::env::var_os("EC_E2E_KUBECONFIG").map(PathBuf::from) else {
        println!(
            "SKIPPED: the real-server benchmark needs a cluster: set EC_E2E_KUBECONFIG (docs/real-cluster.md)"
        );
        return;
    };
    let objects = env_number("EC_BENCH_OBJECTS", 20_000);
    let runs = env_number("EC_BENCH_RUNS", 3);
    let pid = std::process::id();
    let setup = Setup {
        kubeconfig,
        namespace: format!("ec-bench-{pid}"),
        prefix: format!("b{pid}-"),
        objects,
        steady: SteadyPace::from_env(objects),
        plugins: support::plugins_dir(&["plugin_simple"]),
    };
    let cluster = Cluster::connect(&setup.kubeconfig);
    let size = cluster.create_objects(&setup);
    eprintln!("each ConfigMap is {size} bytes as served (JSON)");
    // Warm-up, unmeasured: fills the controller's module cache and the server's watch cache.
    let variants = Variant::chosen();
    for &variant in &variants {
        measure(variant, &setup, &cluster, None);
    }
    let mut results: Vec<(Variant, Vec<Measurement>)> =
        variants.iter().map(|v| (*v, Vec::new())).collect();
    for run in 1..=runs {
        for (index, (variant, measurements)) in results.iter_mut().enumerate() {
            // Each burst (and steady phase) writes a value the objects never had, or the patches
            // change nothing.
            let revision = format!("{run}-{index}");
            let m = measure(*variant, &setup, &cluster, Some(&revision)).expect("measured");
            print_run(*variant, run, &m, &setup.steady);
            measurements.push(m);
        }
    }
    println!(
        "\n{objects} ConfigMaps of {size} bytes, {runs} alternating runs each, medians; (ratio to the native watcher); steady: {} changes at {}/s\n",
        setup.steady.changes, setup.steady.rate
    );
    print_table(&results);
    cluster.delete_objects(&setup);
}
