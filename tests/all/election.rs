//! Leader election (`event_controller::election`) against the test API server: three replicas in
//! one runtime, with short durations, and a sampler that checks every few milliseconds that at
//! most one of them believes it leads. The takeover times after a crash, a graceful release and a
//! failing server are measured, checked against the bounds the algorithm promises, and printed
//! (`cargo test --test election -- --nocapture` shows them).

use event_controller::election::{Elector, LeaseSettings, Role};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::apiserver::ApiServer;
use support::wait;
use tokio::sync::watch;

const NAMESPACE: &str = "ec";
const LEASE_NAME: &str = "event-controller";
/// Whole seconds: `leaseDurationSeconds` is an integer, and followers wait the longer of theirs
/// and the record's.
const LEASE: Duration = Duration::from_secs(2);
const RENEW: Duration = Duration::from_millis(1200);
const RETRY: Duration = Duration::from_millis(200);
/// Room for scheduling and the requests themselves on a loaded machine.
const SLACK: Duration = Duration::from_millis(150);
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        lease_duration: LEASE,
        renew_deadline: RENEW,
        retry_period: RETRY,
        ..LeaseSettings::new(NAMESPACE, LEASE_NAME, identity)
    }
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("event_controller=debug")
        .try_init();
}

/// Replicas, each with its own client, and the sampler watching them.
struct Cluster {
    /// When the replicas were started.
    started: Instant,
    runtime: tokio::runtime::Runtime,
    replicas: Vec<Replica>,
    sampler: Option<Sampler>,
}

struct Replica {
    name: String,
    /// `None` once crashed or released.
    elector: Option<Elector>,
    role: watch::Receiver<Role>,
}

impl Cluster {
    fn start(server: &ApiServer, names: &[&str]) -> Cluster {
        init_logging();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let started = Instant::now();
        let replicas: Vec<Replica> = names
            .iter()
            .map(|name| {
                let _context = runtime.enter();
                let config = kube::Config::new(server.url().parse().expect("server URL"));
                let client = kube::Client::try_from(config).expect("client");
                let elector = Elector::start(client, settings(name)).expect("valid settings");
                Replica {
                    name: (*name).to_owned(),
                    role: elector.role(),
                    elector: Some(elector),
                }
            })
            .collect();
        let sampler = Sampler::start(
            replicas
                .iter()
                .map(|r| (r.name.clone(), r.role.clone()))
                .collect(),
        );
        Cluster {
            started,
            runtime,
            replicas,
            sampler: Some(sampler),
        }
    }

    /// The replicas that believe they lead, now.
    fn leaders(&self) -> Vec<usize> {
        (0..self.replicas.len())
            .filter(|i| self.replicas[*i].role.borrow().is_leader())
            .collect()
    }

    /// Waits until exactly one replica leads; its index and how long that took.
    fn wait_for_leader(&self, timeout: Duration) -> (usize, Duration) {
        let took = wait_for("a leader", timeout, || self.leaders().len() == 1);
        (self.leaders()[0], took)
    }

    fn name(&self, i: usize) -> &str {
        &self.replicas[i].name
    }

    /// Stops replica `i` at once, without releasing the Lease: a SIGKILL.
    fn crash(&mut self, i: usize) {
        drop(self.replicas[i].elector.take().expect("running"));
    }

    /// Shuts replica `i` down gracefully, releasing the Lease.
    fn release(&mut self, i: usize) {
        let elector = self.replicas[i].elector.take().expect("running");
        self.runtime
            .block_on(elector.release())
            .expect("the lease is released");
    }

    /// Stops the sampler and checks that no sample ever saw two leaders.
    fn check_one_leader_at_every_moment(&mut self) {
        let report = self.sampler.take().expect("sampling").stop();
        println!(
            "sampler: {} samples every {SAMPLE_EVERY:?}, {} with two leaders or more",
            report.samples,
            report.violations.len()
        );
        assert!(report.samples > 100, "too few samples: {}", report.samples);
        assert!(
            report.violations.is_empty(),
            "more than one leader at once: {:?}",
            report.violations
        );
    }
}

/// Reads every replica's role every [`SAMPLE_EVERY`] on a thread of its own, and keeps the
/// samples that saw more than one leader.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<SamplerReport>,
}

struct SamplerReport {
    samples: u64,
    violations: Vec<String>,
}

impl Sampler {
    fn start(roles: Vec<(String, watch::Receiver<Role>)>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut report = SamplerReport {
                samples: 0,
                violations: Vec::new(),
            };
            while !stopped.load(Ordering::Relaxed) {
                let leaders: Vec<&str> = roles
                    .iter()
                    .filter(|(_, role)| role.borrow().is_leader())
                    .map(|(name, _)| name.as_str())
                    .collect();
                report.samples += 1;
                if leaders.len() > 1 {
                    report
                        .violations
                        .push(format!("at {:?}: {leaders:?}", started.elapsed()));
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            report
        });
        Sampler { stop, thread }
    }

    fn stop(self) -> SamplerReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler")
    }
}

/// How often [`wait_for`] looks: finer than [`wait::POLL`], as it measures takeover times.
const MEASURE_EVERY: Duration = Duration::from_millis(1);

/// Waits until `done` holds, polling every [`MEASURE_EVERY`]; how long that took. Panics after
/// `timeout`.
fn wait_for(what: &str, timeout: Duration, done: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    wait::until_every(
        MEASURE_EVERY,
        timeout,
        || done().then_some(()),
        || format!("no {what}"),
    );
    started.elapsed()
}

/// The Lease as the server stores it.
fn lease(server: &ApiServer) -> Value {
    let raw = server
        .object("leases", NAMESPACE, LEASE_NAME)
        .expect("the lease exists");
    serde_json::from_str(&raw).expect("lease JSON")
}

fn holder(server: &ApiServer) -> Option<String> {
    lease(server)["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

fn transitions(server: &ApiServer) -> i64 {
    lease(server)["spec"]["leaseTransitions"]
        .as_i64()
        .unwrap_or(0)
}

fn server() -> ApiServer {
    ApiServer::builder().with_leases().start()
}

#[test]
fn one_of_three_leads_and_the_others_know_who() {
    let server = server();
    let mut cluster = Cluster::start(&server, &["a", "b", "c"]);
    let (leader, _) = cluster.wait_for_leader(LEASE);
    let took = cluster.started.elapsed();
    let name = cluster.name(leader).to_owned();
    println!("first leader: {name}, elected {took:?} after the replicas started");
    assert!(
        took < RETRY + SLACK,
        "the first one to create the Lease leads: {took:?}"
    );

    // The followers learn the holder from the Lease.
    wait_for("followers knowing the leader", LEASE, || {
        cluster.replicas.iter().enumerate().all(|(i, r)| {
            i == leader
                || *r.role.borrow()
                    == Role::Follower {
                        holder: Some(name.clone()),
                    }
        })
    });
    // The Lease, as client-go writes it.
    let lease = lease(&server);
    let spec = &lease["spec"];
    assert_eq!(spec["holderIdentity"], name.as_str());
    assert_eq!(spec["leaseDurationSeconds"], 2);
    assert_eq!(spec["leaseTransitions"], 0);
    let renew_time = spec["renewTime"].as_str().expect("renewTime");
    assert_eq!(
        renew_time.len(),
        "2026-01-01T00:00:00.000000Z".len(),
        "MicroTime, RFC 3339 with microseconds: {renew_time}"
    );
    assert!(spec["acquireTime"].is_string());

    // It stays the leader, renewing: no flapping, no transitions.
    let renewed_from = lease["metadata"]["resourceVersion"].clone();
    std::thread::sleep(LEASE + RETRY);
    assert_eq!(cluster.leaders(), [leader]);
    assert_eq!(holder(&server).as_deref(), Some(name.as_str()));
    assert_eq!(transitions(&server), 0);
    assert_ne!(
        self::lease(&server)["metadata"]["resourceVersion"],
        renewed_from,
        "renewed"
    );
    cluster.check_one_leader_at_every_moment();
}

#[test]
fn a_crashed_leader_is_replaced_within_the_lease_duration() {
    let server = server();
    let mut cluster = Cluster::start(&server, &["a", "b", "c"]);
    for round in 1..=2 {
        let (leader, _) = cluster.wait_for_leader(LEASE + RETRY);
        // Let it renew a few times, and the others observe it.
        std::thread::sleep(3 * RETRY);
        let crashed = cluster.name(leader).to_owned();
        let crashed_at = Instant::now();
        cluster.crash(leader);
        assert!(
            !cluster.replicas[leader].role.borrow().is_leader(),
            "a crashed replica stops leading at once"
        );
        assert_eq!(
            holder(&server).as_deref(),
            Some(crashed.as_str()),
            "a crash releases nothing"
        );
        let (next, took) = cluster.wait_for_leader(LEASE + RETRY + SLACK + SLACK);
        let measured = crashed_at.elapsed();
        println!(
            "crash {round}: {crashed} killed, {} leads after {measured:?} (bound: lease {LEASE:?} + retry {RETRY:?})",
            cluster.name(next)
        );
        assert!(took <= measured);
        assert!(
            measured <= LEASE + RETRY + SLACK,
            "takeover after {measured:?}"
        );
        assert!(
            measured >= LEASE - RETRY - SLACK,
            "the followers waited for the lease to expire: {measured:?}"
        );
        assert_eq!(holder(&server).as_deref(), Some(cluster.name(next)));
        assert_eq!(transitions(&server), round);
    }
    cluster.check_one_leader_at_every_moment();
}

#[test]
fn a_released_lease_is_taken_over_at_the_next_retry() {
    let server = server();
    let mut cluster = Cluster::start(&server, &["a", "b", "c"]);
    let (mut leader, _) = cluster.wait_for_leader(LEASE + RETRY);
    // Two graceful shutdowns in turn, each handing the Lease over to a standby.
    for round in 1..=2 {
        std::thread::sleep(3 * RETRY);
        let released = cluster.name(leader).to_owned();
        let role = cluster.replicas[leader].role.clone();
        let released_at = Instant::now();
        cluster.release(leader);
        let release_took = released_at.elapsed();
        assert!(!role.borrow().is_leader(), "stepped down");
        let (next, _) = cluster.wait_for_leader(LEASE);
        let measured = released_at.elapsed();
        println!(
            "release {round}: {released} released in {release_took:?}, {} leads {measured:?} after the release began (bound: 2 retries = {:?})",
            cluster.name(next),
            2 * RETRY
        );
        assert!(measured < 2 * RETRY, "takeover after {measured:?}");
        assert_eq!(holder(&server).as_deref(), Some(cluster.name(next)));
        assert_eq!(transitions(&server), round);
        leader = next;
    }
    // The last one leaves the Lease as client-go's ReleaseOnCancel does: no holder, one second.
    std::thread::sleep(3 * RETRY);
    cluster.release(leader);
    assert!(cluster.leaders().is_empty());
    let lease = lease(&server);
    assert_eq!(lease["spec"].get("holderIdentity"), None, "{lease}");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 1);
    assert_eq!(lease["spec"]["leaseTransitions"], 2);
    cluster.check_one_leader_at_every_moment();
}

#[test]
fn a_failing_server_makes_the_leader_step_down_within_the_renew_deadline() {
    let server = server();
    let mut cluster = Cluster::start(&server, &["a", "b", "c"]);
    type Action = fn(&ApiServer);
    let faults: [(&str, Action, Action); 3] = [
        (
            "HTTP 500 to every request",
            |s| s.fail_all_requests(Some(500)),
            |s| s.fail_all_requests(None),
        ),
        (
            "requests hang",
            ApiServer::stall_requests,
            ApiServer::resume_requests,
        ),
        ("server down", ApiServer::stop, ApiServer::restart),
    ];
    for (fault, start, end) in faults {
        let (leader, _) = cluster.wait_for_leader(LEASE + RETRY + SLACK);
        std::thread::sleep(3 * RETRY);
        let name = cluster.name(leader).to_owned();
        let failing_from = Instant::now();
        start(&server);
        wait_for("the leader stepping down", RENEW + LEASE, || {
            cluster.leaders().is_empty()
        });
        let stepped_down = failing_from.elapsed();
        println!(
            "{fault}: leader {name} stepped down after {stepped_down:?} (bound: renew deadline {RENEW:?})"
        );
        assert!(
            stepped_down <= RENEW + SLACK,
            "{fault}: stepped down after {stepped_down:?}"
        );
        assert!(
            stepped_down >= RENEW - RETRY - SLACK,
            "{fault}: the leader rides out errors shorter than the renew deadline: {stepped_down:?}"
        );
        // Nobody leads while the server fails.
        std::thread::sleep(LEASE / 2);
        assert!(
            cluster.leaders().is_empty(),
            "{fault}: {:?}",
            cluster.leaders()
        );
        let recovered_at = Instant::now();
        end(&server);
        let (next, _) = cluster.wait_for_leader(LEASE + RETRY + SLACK);
        println!(
            "{fault}: after recovery {} leads in {:?}",
            cluster.name(next),
            recovered_at.elapsed()
        );
    }
    cluster.check_one_leader_at_every_moment();
}
