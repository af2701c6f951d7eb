//! Replicas of the controller electing a leader: which of them leads (by their
//! `event_controller_leader` gauge), sampled throughout, and what they delivered together.

use super::controller::{get_at, Controller, PATIENCE, QUIET};
use super::wait;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Which replicas say they lead, by their `event_controller_leader` gauge.
pub fn leaders(replicas: &mut [(String, Option<Controller>)]) -> Vec<String> {
    replicas
        .iter_mut()
        .filter_map(|(name, replica)| {
            let replica = replica.as_mut()?;
            (replica.is_running() && replica.metric("event_controller_leader") == 1.0)
                .then(|| name.clone())
        })
        .collect()
}

/// Samples the leaders until exactly one leads, asserting that never two do; returns it.
pub fn one_leader(replicas: &mut [(String, Option<Controller>)]) -> (String, Duration) {
    let start = Instant::now();
    let leader = wait::until(
        PATIENCE,
        || {
            let leading = leaders(replicas);
            assert!(leading.len() <= 1, "two leaders at once: {leading:?}");
            leading.into_iter().next()
        },
        || "no leader".to_owned(),
    );
    (leader, start.elapsed())
}

/// Every event each replica's plugin received, by replica.
pub fn delivered(replicas: &[(String, Option<Controller>)]) -> BTreeMap<String, Vec<String>> {
    replicas
        .iter()
        .filter_map(|(name, replica)| Some((name.clone(), replica.as_ref()?.echoed())))
        .collect()
}

/// Reads every replica's `event_controller_leader` gauge every 10 ms on a thread of its own,
/// so that "never two leaders" is checked throughout, not only when the test looks.
pub struct LeaderSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Vec<String>>>,
}

impl LeaderSampler {
    pub fn start(replicas: &[(String, Option<Controller>)]) -> LeaderSampler {
        let endpoints: Vec<(String, String)> = replicas
            .iter()
            .filter_map(|(name, replica)| Some((name.clone(), replica.as_ref()?.endpoints())))
            .collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut samples = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let leading = endpoints
                        .iter()
                        .filter(|(_, address)| reads_leader(address))
                        .map(|(name, _)| name.clone())
                        .collect();
                    samples.push(leading);
                    std::thread::sleep(Duration::from_millis(10));
                }
                samples
            }
        });
        LeaderSampler { stop, thread }
    }

    pub fn stop(self) -> Vec<Vec<String>> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("sampler")
    }
}

/// Whether the replica serving `address` says it leads; a dead one does not.
pub fn reads_leader(address: &str) -> bool {
    get_at(address, "/metrics")
        .is_ok_and(|(_, body)| body.lines().any(|line| line == "event_controller_leader 1"))
}

/// Waits until the replicas together delivered every line of `expected`.
pub fn wait_until_delivered(replicas: &[(String, Option<Controller>)], expected: &[String]) {
    wait_for(replicas, |all| {
        expected.iter().all(|line| all.contains(line))
    });
}

/// Waits until `done` holds for everything the replicas delivered; returns it.
pub fn wait_for(
    replicas: &[(String, Option<Controller>)],
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let all = || -> Vec<String> { delivered(replicas).into_values().flatten().collect() };
    wait::until(
        PATIENCE,
        || done(&all()).then_some(()),
        || format!("not delivered: {:#?}", delivered(replicas)),
    );
    std::thread::sleep(QUIET);
    all()
}
