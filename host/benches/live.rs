//! Throughput and memory of the live path: the test API server (tests/support/src/apiserver.rs, in a
//! child process of its own, so that its memory is not counted) serves N Pods of ~5.5 KB (the
//! recorded fixture Pod, renamed), and the real source (discovery, list or streaming list,
//! reconciler) feeds them through the dispatcher to `test_noop`, on one thread for the source and
//! one for the plugins.
//!
//! Printed:
//! - a steady watch stream: every Pod modified once while the watch is held, then the N MODIFIED
//!   events sent at full speed; events/s from the release to the N-th event handled;
//! - events/s from the first request to the N-th event handled, for a streaming list and for a
//!   paginated list, and the growth of the process's RSS while the source holds N objects,
//!   against the bytes of the objects themselves.
//!
//! `cargo bench -p event-controller --bench live` (after `just plugins`); `EC_BENCH_OBJECTS`
//! sets N (default 100,000).

use event_controller_test_support as support;

use event_controller::cluster::{connect, resource, ClusterSettings};
use event_controller::dispatch::{Dispatcher, Pace};
use event_controller::metrics::Metrics;
use event_controller::plugin::{Plugin, PluginSettings};
use event_controller::runtime::Runtime;
use event_controller::source::kube::watch::{self, WatchTarget, DEFAULT_PAGE_SIZE};
use event_controller::source::kube::{KubeSettings, Namespaces, Observer};
use event_controller::source::reconcile::{DeletedObject, InitialEvents, Reconciler};
use event_controller::source::SourceEvent;
use event_controller::worker::WorkerOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::apiserver::{watch_fixture, ApiServer};

/// The fixture's first Pod without uid and resourceVersion, its name a placeholder.
fn pod_template() -> String {
    let line = watch_fixture("pods.jsonl");
    let first = line.lines().next().expect("a pod line");
    let mut event: serde_json::Value = serde_json::from_str(first).expect("json");
    let metadata = event["object"]["metadata"]
        .as_object_mut()
        .expect("metadata");
    metadata.remove("uid");
    metadata.remove("resourceVersion");
    metadata.insert("name".into(), "NAME".into());
    event["object"].to_string()
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

struct Run {
    elapsed: Duration,
    rss_growth: u64,
}

/// How the source starts and what is measured.
#[derive(Clone, Copy)]
enum Phase {
    /// From the first request to the last listed object handled.
    List { streaming: bool },
    /// The list is skipped; from the release of a burst of MODIFIED events to the last handled.
    WatchBurst,
}

/// Starts the source against the server and waits until `objects` events went through the
/// plugin.
fn run(server: &mut ServerProcess, objects: usize, phase: Phase) -> Run {
    let (streaming_lists, initial_events) = match phase {
        Phase::List { streaming } => (streaming, InitialEvents::Deliver),
        Phase::WatchBurst => (false, InitialEvents::Skip),
    };
    let settings = KubeSettings {
        cluster: ClusterSettings {
            api_endpoint: Some(server.url.clone()),
            ..ClusterSettings::default()
        },
        resources: vec!["pods".into()],
        namespaces: Namespaces::All,
        label_selector: None,
        field_selector: None,
        initial_events,
        deleted_object: DeletedObject::Identity,
        rediscover_every: Duration::from_secs(30),
        streaming_lists,
        list_page_size: DEFAULT_PAGE_SIZE,
    };
    let runtime = Runtime::new().expect("wasm runtime");
    let noop = support::plugin("test_noop");
    let noop = Plugin::load(&runtime, &noop, PluginSettings::default()).expect("plugin");
    let plugins = vec![(noop, WorkerOptions::default())];
    let mut dispatcher = Dispatcher::start(plugins, Arc::new(Metrics::new()))
        .expect("worker")
        .with_pace(Pace::Backpressure);
    let (events, mut queue) = tokio::sync::mpsc::channel(1024);
    let before = rss();
    let mut started = Instant::now();
    let source = std::thread::spawn(move || {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        tokio.block_on(async move {
            let connection = connect(&settings.cluster).await.expect("client");
            let served = resource::discover(&connection.client)
                .await
                .expect("discovery");
            let target = WatchTarget {
                resource: resource::resolve("pods", &served).expect("pods"),
                namespace: None,
                label_selector: None,
                field_selector: None,
                streaming_lists: settings.streaming_lists,
                page_size: settings.list_page_size,
            };
            let reconciler = Reconciler::new(settings.initial_events, settings.deleted_object);
            watch::run(connection, target, reconciler, events, Observer::default()).await;
        });
    });
    if let Phase::WatchBurst = phase {
        server.command("prepare");
        started = Instant::now();
        server.command("release");
    }
    let mut handled = 0;
    while handled < objects {
        let SourceEvent::Event(event) = queue.blocking_recv().expect("the source ended early")
        else {
            continue; // a list's end marker
        };
        dispatcher.deliver(&event);
        handled += 1;
    }
    dispatcher.wait_idle();
    let elapsed = started.elapsed();
    let rss_growth = rss().saturating_sub(before);
    // The source thread idles on its watch until the process ends.
    drop(source);
    Run {
        elapsed,
        rss_growth,
    }
}

/// The server child process and its command line (stdin) and answers (stdout).
struct ServerProcess {
    child: std::process::Child,
    answers: std::io::BufReader<std::process::ChildStdout>,
    url: String,
}

impl ServerProcess {
    fn start() -> ServerProcess {
        let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env("EC_BENCH_SERVE", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the server process");
        let stdout = child.stdout.take().expect("server stdout");
        let mut server = ServerProcess {
            child,
            answers: std::io::BufReader::new(stdout),
            url: String::new(),
        };
        server.url = server.answer();
        server
    }

    fn answer(&mut self) -> String {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.answers, &mut line).expect("server answer");
        line.trim().to_owned()
    }

    /// Sends `command` and waits for its `done`.
    fn command(&mut self, command: &str) {
        let stdin = self.child.stdin.as_mut().expect("server stdin");
        std::io::Write::write_all(stdin, format!("{command}\n").as_bytes()).expect("command");
        assert_eq!(self.answer(), "done", "{command}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The child process: serves `objects` Pods, obeying commands until its stdin closes:
/// `prepare` (wait for a watch, hold the watches, modify every Pod) and `release`.
fn serve(objects: usize) {
    let server = ApiServer::builder()
        .bookmark_interval(Duration::from_millis(200))
        .start();
    let template = pod_template();
    let pod = |i: usize| template.replace("\"NAME\"", &format!("\"web-{i:06}\""));
    let created = Instant::now();
    for i in 0..objects {
        server.create("pods", &pod(i));
    }
    eprintln!(
        "{objects} Pods of {} bytes ({:.0} MB) created in the test server in {:.1} s",
        template.len(),
        (objects * template.len()) as f64 / 1e6,
        created.elapsed().as_secs_f64()
    );
    println!("{}", server.url());
    for command in std::io::stdin().lines().map_while(Result::ok) {
        match command.as_str() {
            "prepare" => {
                assert!(
                    server.wait_for_watches(1, Duration::from_secs(60)),
                    "no watch"
                );
                server.hold_watches();
                for i in 0..objects {
                    server.modify("pods", &pod(i));
                }
            }
            "release" => server.release_watches(),
            other => panic!("unknown command {other:?}"),
        }
        println!("done");
    }
}

fn main() {
    let objects: usize = std::env::var("EC_BENCH_OBJECTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    if std::env::var_os("EC_BENCH_SERVE").is_some() {
        return serve(objects);
    }
    let mut server = ServerProcess::start();
    // The burst first: its watch must be the only one open when the server holds them.
    let burst = run(&mut server, objects, Phase::WatchBurst);
    println!(
        "steady watch stream: {objects} MODIFIED events at {:.0} events/s (source + dispatch to a no-op plugin)\n",
        objects as f64 / burst.elapsed.as_secs_f64()
    );
    println!("| list | events/s (source + dispatch to a no-op plugin) | RSS growth | per object |");
    println!("|---|---|---|---|");
    for (name, streaming) in [("streaming list", true), ("paginated list", false)] {
        let run = run(&mut server, objects, Phase::List { streaming });
        println!(
            "| {name} | {:.0} | {:.1} MB | {} bytes |",
            objects as f64 / run.elapsed.as_secs_f64(),
            run.rss_growth as f64 / 1e6,
            run.rss_growth / objects as u64
        );
    }
}
