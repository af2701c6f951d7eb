//! End-to-end tests of resuming without replay and of high availability: the real binary (one,
//! or three replicas electing a leader on a `coordination.k8s.io/v1` Lease) against the test API
//! server, with `test_echo` logging every event it receives as `TYPE namespace/name rv=N`.
//!
//! - A restart, graceful or SIGKILL, delivers only what changed while the controller was down:
//!   `MODIFIED` for changed objects, `DELETED` (with the identity last seen) for vanished ones,
//!   `ADDED` for new ones, nothing for unchanged ones.
//! - Three replicas: exactly one delivers at every moment; SIGKILL of the leader mid-stream hands
//!   over to a standby within the lease duration, which resumes from the shared checkpoint: no
//!   change is lost, unchanged objects are not delivered again. SIGTERM hands over at once.

use std::path::Path;
use std::time::{Duration, Instant};
use support::apiserver::ApiServer;
use support::controller::{Controller, QUIET};
use support::replicas::{
    delivered, leaders, one_leader, wait_for, wait_until_delivered, LeaderSampler,
};
use support::{echo_of, pod_object, retyped, sorted};

/// Checkpoints are written this often in these tests.
const CHECKPOINT_INTERVAL_MS: &str = "200";

fn with_state(state: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("STATE_DIR", state.display().to_string()),
        ("CHECKPOINT_INTERVAL_MS", CHECKPOINT_INTERVAL_MS.to_owned()),
    ]
}

fn start(server: &ApiServer, env: &[(&'static str, String)]) -> Controller {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Controller::start(server, &env)
}

/// Waits for a checkpoint write after the last event (the interval, with room).
fn let_the_checkpoint_be_written() {
    std::thread::sleep(Duration::from_millis(600));
}

#[test]
fn a_restart_delivers_only_what_changed_while_the_controller_was_down() {
    let server = ApiServer::start();
    let state = tempfile::tempdir().expect("state dir");
    let env = with_state(state.path());
    let created: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|name| echo_of(&server.create("pods", &pod_object("default", name, "nginx:1"))))
        .collect();
    let first = start(&server, &env);
    assert_eq!(sorted(first.wait_for_events(4)), sorted(created.clone()));
    let status = first.terminate();
    assert!(status.success(), "{status:?}");
    let checkpoint = state.path().join("test_echo.checkpoint");
    assert!(checkpoint.is_file(), "no checkpoint at {checkpoint:?}");

    let modified = echo_of(&server.modify("pods", &pod_object("default", "b", "nginx:2")));
    server.delete("pods", &pod_object("default", "c", ""));
    let added = echo_of(&server.create("pods", &pod_object("default", "e", "nginx:1")));
    let second = start(&server, &env);
    let got = second.wait_for_events(3);
    // A synthesized DELETED carries the identity last seen: the resourceVersion handled.
    let deleted = retyped(&created[2], "DELETED");
    assert_eq!(
        sorted(got[..2].to_vec()),
        sorted(vec![retyped(&modified, "MODIFIED"), added]),
        "changed and new objects, as the list found them: {got:#?}"
    );
    assert_eq!(
        got[2], deleted,
        "the vanished object, after the lists: {got:#?}"
    );
    assert_eq!(got.len(), 3, "nothing for the unchanged a and d: {got:#?}");

    // Live changes flow as usual afterwards.
    let live = echo_of(&server.modify("pods", &pod_object("default", "a", "nginx:3")));
    assert_eq!(second.wait_for_events(4)[3], live);
}

#[test]
fn a_crash_after_the_checkpoint_was_written_delivers_nothing_again() {
    let server = ApiServer::start();
    let state = tempfile::tempdir().expect("state dir");
    let env = with_state(state.path());
    for name in ["a", "b", "c"] {
        server.create("pods", &pod_object("default", name, "nginx:1"));
    }
    let mut first = start(&server, &env);
    first.wait_for_events(3);
    let changed = echo_of(&server.modify("pods", &pod_object("default", "a", "nginx:2")));
    assert_eq!(first.wait_for_events(4)[3], changed);
    let_the_checkpoint_be_written();
    first.kill();

    let second = start(&server, &env);
    second.wait_for_log("lists are complete");
    std::thread::sleep(QUIET);
    assert_eq!(second.echoed(), Vec::<String>::new(), "nothing changed");
    let after = echo_of(&server.create("pods", &pod_object("default", "d", "nginx:1")));
    assert_eq!(second.wait_for_events(1), vec![after]);
}

/// The replicas' names in the Lease.
const REPLICAS: [&str; 3] = ["replica-0", "replica-1", "replica-2"];
/// Short lease timings (the Lease holds whole seconds), so a failover takes about 2 s.
const LEASE_DURATION_MS: u64 = 2000;

/// Where the replicas share their checkpoints.
#[derive(Clone, Copy)]
enum Shared<'a> {
    /// A directory (a ReadWriteMany volume in a cluster).
    Directory(&'a Path),
    /// ConfigMaps with this prefix in the replicas' namespace.
    ConfigMaps(&'a str),
}

fn replica_env(state: Shared<'_>, name: &str) -> Vec<(&'static str, String)> {
    let mut env = match state {
        Shared::Directory(dir) => with_state(dir),
        Shared::ConfigMaps(prefix) => vec![
            ("STATE_CONFIGMAP_PREFIX", prefix.to_owned()),
            ("CHECKPOINT_INTERVAL_MS", CHECKPOINT_INTERVAL_MS.to_owned()),
        ],
    };
    env.extend([
        ("LEADER_ELECTION", "true".to_owned()),
        ("POD_NAME", name.to_owned()),
        ("POD_NAMESPACE", "default".to_owned()),
        ("LEASE_DURATION_MS", LEASE_DURATION_MS.to_string()),
        ("RENEW_DEADLINE_MS", "1200".to_owned()),
        ("RETRY_PERIOD_MS", "200".to_owned()),
    ]);
    env
}

#[test]
fn three_replicas_one_leader_a_killed_leader_loses_nothing() {
    let server = ApiServer::builder().with_leases().start();
    let state = tempfile::tempdir().expect("shared state dir");
    let stable: Vec<String> = (0..5)
        .map(|i| {
            echo_of(&server.create(
                "pods",
                &pod_object("default", &format!("stable-{i}"), "nginx:1"),
            ))
        })
        .collect();
    let mut replicas: Vec<(String, Option<Controller>)> = REPLICAS
        .iter()
        .map(|name| {
            let replica = start(&server, &replica_env(Shared::Directory(state.path()), name));
            (name.to_string(), Some(replica))
        })
        .collect();
    let (first_leader, elected_in) = one_leader(&mut replicas);
    eprintln!("{first_leader} leads after {elected_in:?}");
    let sampler = LeaderSampler::start(&replicas);

    // Changes while the first leader delivers.
    let mut expected: Vec<String> = stable.clone();
    for i in 0..5 {
        expected.push(echo_of(&server.create(
            "pods",
            &pod_object("default", &format!("moving-{i}"), "nginx:1"),
        )));
    }
    wait_until_delivered(&replicas, &expected);
    let_the_checkpoint_be_written();

    // SIGKILL the leader in the middle of a stream of changes.
    let mut changes = Vec::new();
    for i in 0..5 {
        changes.push(echo_of(&server.modify(
            "pods",
            &pod_object("default", &format!("moving-{i}"), "nginx:2"),
        )));
    }
    let index = REPLICAS
        .iter()
        .position(|n| *n == first_leader)
        .expect("a replica");
    let killed_at = Instant::now();
    if let Some(mut leader) = replicas[index].1.take() {
        leader.kill();
        replicas[index].1 = Some(leader);
    }
    for i in 0..5 {
        changes.push(echo_of(&server.modify(
            "pods",
            &pod_object("default", &format!("moving-{i}"), "nginx:3"),
        )));
    }
    server.delete("pods", &pod_object("default", "moving-0", ""));
    let created_after = echo_of(&server.create("pods", &pod_object("default", "late", "nginx:1")));

    let (second_leader, _) = one_leader(&mut replicas);
    let takeover = killed_at.elapsed();
    eprintln!("{second_leader} took over {takeover:?} after the SIGKILL");
    assert_ne!(second_leader, first_leader);
    assert!(
        takeover < Duration::from_millis(LEASE_DURATION_MS) + Duration::from_secs(2),
        "takeover took {takeover:?}"
    );

    // The latest state of every object reached the plugin (on one replica or the other): the
    // last change of each moving object, the deletion, the object created during the failover.
    let mut latest: Vec<String> = (1..5)
        .filter_map(|i| {
            let object = format!(" default/moving-{i} ");
            changes.iter().rev().find(|c| c.contains(&object)).cloned()
        })
        .collect();
    latest.push(created_after);
    let all = wait_for(&replicas, |all| {
        latest.iter().all(|line| all.contains(line))
            && all
                .iter()
                .any(|got| got.starts_with("DELETED default/moving-0 "))
    });
    // Unchanged objects were delivered once, by the first leader only.
    for object in &stable {
        let times = all.iter().filter(|got| *got == object).count();
        assert_eq!(times, 1, "{object} delivered {times} times: {all:#?}");
    }
    // Only the leaders delivered, and never the same change twice after the handover.
    let by_replica = delivered(&replicas);
    for (name, got) in &by_replica {
        if *name != first_leader && *name != second_leader {
            assert!(got.is_empty(), "standby {name} delivered: {got:#?}");
        }
    }
    let leaders_now = leaders(&mut replicas);
    assert_eq!(leaders_now, vec![second_leader.clone()]);
    let samples = sampler.stop();
    eprintln!(
        "{} samples of the three replicas' leader gauges",
        samples.len()
    );
    assert!(samples.len() > 50, "too few samples: {}", samples.len());
    let twice: Vec<_> = samples.iter().filter(|leaders| leaders.len() > 1).collect();
    assert!(twice.is_empty(), "two leaders at once: {twice:?}");
    assert!(
        samples.iter().any(|leaders| leaders.is_empty()),
        "the failover has a moment without a leader (the dead one's lease running out)"
    );
}

#[test]
fn a_leader_stopped_with_sigterm_hands_over_at_once() {
    let server = ApiServer::builder().with_leases().start();
    let state = tempfile::tempdir().expect("shared state dir");
    sigterm_hands_over(&server, Shared::Directory(state.path()));
}

#[test]
fn replicas_without_a_volume_share_their_checkpoints_in_configmaps() {
    let server = ApiServer::builder().with_leases().start();
    sigterm_hands_over(&server, Shared::ConfigMaps("ec-checkpoint"));
    let written = server
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.starts_with("/api/v1/namespaces/default/configmaps")
                && (r.method == "POST" || r.method == "PUT")
        })
        .count();
    assert!(written >= 1, "no checkpoint ConfigMap written");
}

/// Two replicas; the leader, having delivered an object, gets SIGTERM: the other leads at its
/// next retry, resumes from the checkpoint both share (nothing delivered again), and delivers
/// the next change.
fn sigterm_hands_over(server: &ApiServer, state: Shared<'_>) {
    let created = echo_of(&server.create("pods", &pod_object("default", "a", "nginx:1")));
    let mut replicas: Vec<(String, Option<Controller>)> = REPLICAS[..2]
        .iter()
        .map(|name| {
            let replica = start(server, &replica_env(state, name));
            (name.to_string(), Some(replica))
        })
        .collect();
    let (first, _) = one_leader(&mut replicas);
    wait_until_delivered(&replicas, std::slice::from_ref(&created));
    let_the_checkpoint_be_written();
    let index = REPLICAS
        .iter()
        .position(|n| *n == first)
        .expect("a replica");
    let stopped_at = Instant::now();
    let leader = replicas[index].1.take().expect("running");
    let status = leader.terminate();
    assert!(status.success(), "{status:?}");
    let (second, _) = one_leader(&mut replicas);
    let handover = stopped_at.elapsed();
    eprintln!("{second} took over {handover:?} after the SIGTERM");
    assert_ne!(first, second);
    assert!(
        handover < Duration::from_millis(LEASE_DURATION_MS),
        "a released lease is taken at the next retry, not after expiry: {handover:?}"
    );
    let resumed = replicas
        .iter()
        .find(|(name, _)| *name == second)
        .and_then(|(_, replica)| replica.as_ref())
        .expect("the new leader");
    resumed.wait_for_log("resumed: the lists are complete");
    std::thread::sleep(QUIET);
    assert_eq!(
        resumed.echoed(),
        Vec::<String>::new(),
        "the new leader resumed from the checkpoint: nothing again"
    );
    let changed = echo_of(&server.modify("pods", &pod_object("default", "a", "nginx:2")));
    assert_eq!(resumed.wait_for_events(1), vec![changed]);
}
