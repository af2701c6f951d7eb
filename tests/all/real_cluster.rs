//! The opt-in suite against a real cluster: the kube-apiserver whose kubeconfig
//! `EC_E2E_KUBECONFIG` names (docs/real-cluster.md builds one on loopback from
//! `../shared/realk8s`). Every test here is `#[ignore]`d, so a plain `cargo test` lists them as
//! ignored, never as passed; `just e2e` runs them (`--ignored`, one at a time), and without the
//! variable they fail rather than pass.
//!
//! What docs/watching.md and docs/deployment.md promise about real clusters, checked on one:
//! - `kubectl apply -k deploy/` on a blank cluster, then the controller with the ServiceAccount's
//!   own token and the manifests' settings: it watches, leads, checkpoints, is never forbidden,
//!   and that token cannot read Secrets;
//! - a restart with `STATE_DIR` delivers exactly what changed while it was down;
//! - a SIGKILLed leader hands over to a standby that resumes from the shared checkpoint;
//! - an API server restart in the middle of a stream loses and repeats nothing;
//! - the plain end-to-end path: a ConfigMap created, changed and deleted;
//! - a Go plugin writing through the `kube_request` capability (`go_replicator`): copies
//!   follow the source and the namespace labels, a foreign ConfigMap is left alone, and a
//!   restart writes nothing;
//! - `ns_defaults` (a Rust plugin writing through the `kube_request` capability): owned
//!   defaults in labelled namespaces, recreated when deleted, removed (only they) when the
//!   label goes, a foreign object of the same name left alone, and a restart writes nothing.

use serde_json::Value;
use std::time::{Duration, Instant};
use support::cluster::{RealCluster, TestNamespace, LABEL};
use support::controller::{Controller, PATIENCE, QUIET};
use support::replicas::{delivered, leaders, one_leader, wait_for, LeaderSampler};
use support::{plugin, plugins_dir, repo, retyped, rv_of, sorted, str_of, wait};

/// Checkpoints are written this often in these tests.
const CHECKPOINT_INTERVAL_MS: &str = "200";
/// Short lease timings (the Lease holds whole seconds), so a failover takes about 2 s.
const LEASE_DURATION_MS: u64 = 2000;

/// The environment of a controller that watches the test's ConfigMaps in `namespace` with the
/// cluster's kubeconfig.
fn watching_configmaps<'a>(
    cluster: &'a RealCluster,
    namespace: &'a TestNamespace<'_>,
) -> Vec<(&'static str, String)> {
    vec![
        ("KUBECONFIG", cluster.kubeconfig().display().to_string()),
        ("K8S_RESOURCE", "configmaps".to_owned()),
        ("K8S_NAMESPACE", namespace.name.clone()),
        ("K8S_LABEL_SELECTOR", LABEL.to_owned()),
    ]
}

fn launch(plugins: &[&str], env: &[(&'static str, String)]) -> Controller {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Controller::launch(plugins_dir(plugins), &env)
}

/// Waits until `test_echo` received `expected` (and nothing else) in that order.
fn wait_for_exactly(controller: &Controller, expected: &[String]) {
    let got = controller.wait_for_events(expected.len());
    assert_eq!(got, expected, "what test_echo received");
}

/// Log lines that say a request was refused for lack of rights.
fn forbidden(logs: &[Value]) -> Vec<&Value> {
    logs.iter()
        .filter(|line| {
            let text = line.to_string().to_lowercase();
            text.contains("forbidden") || text.contains(" 403")
        })
        .collect()
}

#[test]
#[ignore = "needs a real cluster: set EC_E2E_KUBECONFIG and run `just e2e`"]
fn deploy_applies_and_the_service_account_runs_the_controller_with_least_privilege() {
    let cluster = RealCluster::from_env();
    // deploy/ with the plugin its ConfigMap generator names, as `just deploy-plugins` makes it.
    let work = tempfile::tempdir().expect("temp dir");
    let deploy = work.path().join("deploy");
    std::fs::create_dir_all(deploy.join("plugins")).expect("mkdir");
    for entry in std::fs::read_dir(repo().join("deploy")).expect("deploy/") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            std::fs::copy(&path, deploy.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    let simple = plugin("plugin_simple");
    std::fs::copy(&simple, deploy.join("plugins/plugin_simple.wasm")).expect("copy plugin");
    let deploy_arg = deploy.to_str().expect("UTF-8 path");
    cluster.kubectl_ok(&["apply", "-k", deploy_arg]);
    // Now that its Namespace exists, a server-side dry run of the same manifests passes too.
    cluster.kubectl_ok(&["apply", "--dry-run=server", "-k", deploy_arg]);
    // The Deployment's own replicas (where a kubelet runs them) would compete for the Lease:
    // this test's controller, run outside the cluster, is the only replica.
    let ns = ["-n", "event-controller"];
    cluster.kubectl_ok(
        &[
            &ns[..],
            &["scale", "deployment/event-controller", "--replicas=0"],
        ]
        .concat(),
    );
    let token = cluster
        .kubectl_ok(
            &[
                &ns[..],
                &["create", "token", "event-controller", "--duration=1h"],
            ]
            .concat(),
        )
        .trim()
        .to_owned();

    // The ServiceAccount's token cannot read Secrets anywhere.
    let secrets = std::process::Command::new("kubectl")
        .args([
            "get",
            "secrets",
            "--all-namespaces",
            "--server",
            cluster.server(),
        ])
        .arg("--certificate-authority")
        .arg(cluster.ca_file())
        .args(["--token", &token])
        .env("KUBECONFIG", work.path().join("no-kubeconfig"))
        .output()
        .expect("kubectl");
    let refusal = String::from_utf8_lossy(&secrets.stderr);
    assert!(!secrets.status.success(), "the ServiceAccount read Secrets");
    assert!(
        refusal.contains("Forbidden") || refusal.contains("forbidden"),
        "{refusal}"
    );

    let watched = cluster.namespace("deploy");
    let pod = watched.create_pod("web");
    let config = deploy.join("config.toml");
    let ca = cluster.ca_file();
    let identity = format!("e2e-replica-{}", std::process::id());
    let env = vec![
        ("K8S_API_ENDPOINT", cluster.server().to_owned()),
        ("K8S_TOKEN", token),
        ("K8S_CA", ca.display().to_string()),
        ("CONFIG_FILE", config.display().to_string()),
        ("LEADER_ELECTION", "true".to_owned()),
        ("POD_NAME", identity.clone()),
        ("POD_NAMESPACE", "event-controller".to_owned()),
        (
            "STATE_CONFIGMAP_PREFIX",
            "event-controller-checkpoint".to_owned(),
        ),
        ("CHECKPOINT_INTERVAL_MS", CHECKPOINT_INTERVAL_MS.to_owned()),
    ];
    let controller = launch(&["plugin_simple"], &env);
    controller.wait_for_plugin_lines("plugin_simple", "Kind: Pod; Name: web", 1);
    assert!(pod.starts_with("ADDED "), "{pod}");

    // It holds the Lease under its own name ...
    let lease = cluster.json(&[&ns[..], &["get", "lease", "event-controller"]].concat());
    assert_eq!(
        lease["spec"]["holderIdentity"],
        identity.as_str(),
        "{lease}"
    );
    assert_eq!(controller.metric("event_controller_leader"), 1.0);
    // ... and writes plugin_simple's checkpoint into a ConfigMap beside it.
    let configmaps =
        || cluster.kubectl_ok(&[&ns[..], &["get", "configmaps", "-o", "name"]].concat());
    wait::until(
        PATIENCE,
        || {
            configmaps()
                .lines()
                .any(|m| m.starts_with("configmap/event-controller-checkpoint-"))
                .then_some(())
        },
        || format!("no checkpoint ConfigMap: {}", configmaps()),
    );
    let (status, logs) = controller.terminate_with_logs();
    assert!(status.success(), "{status:?}");
    assert_eq!(forbidden(&logs), Vec::<&Value>::new(), "refused requests");
    assert!(
        logs.iter()
            .any(|l| str_of(l, "message") == "released the lease"),
        "a SIGTERMed leader releases the Lease:\n{logs:#?}"
    );
}

#[test]
#[ignore = "needs a real cluster: set EC_E2E_KUBECONFIG and run `just e2e`"]
fn a_restart_with_state_dir_delivers_exactly_what_changed_while_down() {
    let cluster = RealCluster::from_env();
    let namespace = cluster.namespace("restart");
    let state = tempfile::tempdir().expect("state dir");
    let mut env = watching_configmaps(&cluster, &namespace);
    env.push(("STATE_DIR", state.path().display().to_string()));
    env.push(("CHECKPOINT_INTERVAL_MS", CHECKPOINT_INTERVAL_MS.to_owned()));
    let created: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|name| namespace.create_configmap(name, "1"))
        .collect();
    let first = launch(&["test_echo"], &env);
    assert_eq!(sorted(first.wait_for_events(4)), sorted(created.clone()));
    assert!(first.terminate().success());

    let modified = namespace.modify_configmap("b", "2");
    namespace.delete_configmap("c");
    let added = namespace.create_configmap("e", "1");
    let second = launch(&["test_echo"], &env);
    let got = second.wait_for_events(3);
    assert_eq!(
        sorted(got[..2].to_vec()),
        sorted(vec![modified, added]),
        "changed and new objects, as the list found them: {got:#?}"
    );
    // A synthesized DELETED carries the identity last seen: the resourceVersion handled.
    assert_eq!(got[2], retyped(&created[2], "DELETED"), "{got:#?}");
    assert_eq!(got.len(), 3, "nothing for the unchanged a and d: {got:#?}");

    let live = namespace.modify_configmap("a", "3");
    assert_eq!(second.wait_for_events(4)[3], live);
}

#[test]
#[ignore = "needs a real cluster: set EC_E2E_KUBECONFIG and run `just e2e`"]
fn a_killed_leader_hands_over_to_a_standby_that_resumes_from_the_shared_checkpoint() {
    let cluster = RealCluster::from_env();
    let namespace = cluster.namespace("failover");
    let replica_env = |name: &str| {
        let mut env = watching_configmaps(&cluster, &namespace);
        env.extend([
            ("LEADER_ELECTION", "true".to_owned()),
            ("POD_NAME", name.to_owned()),
            ("POD_NAMESPACE", namespace.name.clone()),
            ("STATE_CONFIGMAP_PREFIX", "ec-checkpoint".to_owned()),
            ("CHECKPOINT_INTERVAL_MS", CHECKPOINT_INTERVAL_MS.to_owned()),
            ("LEASE_DURATION_MS", LEASE_DURATION_MS.to_string()),
            ("RENEW_DEADLINE_MS", "1200".to_owned()),
            ("RETRY_PERIOD_MS", "200".to_owned()),
        ]);
        env
    };
    let stable: Vec<String> = (0..3)
        .map(|i| namespace.create_configmap(&format!("stable-{i}"), "1"))
        .collect();
    let mut replicas: Vec<(String, Option<Controller>)> = ["replica-0", "replica-1"]
        .iter()
        .map(|name| {
            (
                name.to_string(),
                Some(launch(&["test_echo"], &replica_env(name))),
            )
        })
        .collect();
    let (first_leader, _) = one_leader(&mut replicas);
    let sampler = LeaderSampler::start(&replicas);
    let mut expected = stable.clone();
    expected.extend((0..3).map(|i| namespace.create_configmap(&format!("moving-{i}"), "1")));
    wait_for(&replicas, |all| expected.iter().all(|e| all.contains(e)));
    std::thread::sleep(Duration::from_millis(600)); // a checkpoint after the last event

    // SIGKILL the leader in the middle of a stream of changes.
    let mut changes: Vec<String> = (0..3)
        .map(|i| namespace.modify_configmap(&format!("moving-{i}"), "2"))
        .collect();
    let index = replicas
        .iter()
        .position(|(name, _)| *name == first_leader)
        .expect("the leader");
    let killed_at = Instant::now();
    if let Some(leader) = replicas[index].1.as_mut() {
        leader.kill();
    }
    changes.extend((0..3).map(|i| namespace.modify_configmap(&format!("moving-{i}"), "3")));
    let deleted = namespace.delete_configmap("moving-0");
    let late = namespace.create_configmap("late", "1");

    let (second_leader, _) = one_leader(&mut replicas);
    let takeover = killed_at.elapsed();
    eprintln!("{second_leader} took over {takeover:?} after the SIGKILL");
    assert_ne!(second_leader, first_leader);
    // The newest state of every object reached the plugin, on one replica or the other.
    let latest: Vec<String> = changes[4..].to_vec();
    let all = wait_for(&replicas, |all| {
        latest.iter().all(|l| all.contains(l))
            && all.contains(&late)
            && all.iter().any(|got| got.starts_with(&deleted))
    });
    for object in &stable {
        let times = all.iter().filter(|got| *got == object).count();
        assert_eq!(times, 1, "{object} delivered {times} times: {all:#?}");
    }
    let standby: Vec<String> = delivered(&replicas)
        .into_iter()
        .filter(|(name, _)| *name != first_leader && *name != second_leader)
        .flat_map(|(_, got)| got)
        .collect();
    assert!(standby.is_empty(), "{standby:#?}");
    assert_eq!(leaders(&mut replicas), vec![second_leader]);
    let samples = sampler.stop();
    assert!(samples.len() > 20, "too few samples: {}", samples.len());
    assert!(
        samples.iter().all(|leading| leading.len() <= 1),
        "two leaders at once"
    );
    let lease = cluster.json(&["-n", &namespace.name, "get", "lease", "event-controller"]);
    assert!(
        lease["spec"]["leaseTransitions"].as_i64().unwrap_or(0) >= 1,
        "{lease}"
    );
}

#[test]
#[ignore = "needs a real cluster: set EC_E2E_KUBECONFIG and EC_E2E_RESTART_COMMAND; `just e2e`"]
fn an_api_server_restart_in_the_middle_of_a_stream_loses_and_repeats_nothing() {
    let cluster = RealCluster::from_env();
    let namespace = cluster.namespace("apiserver-restart");
    let controller = launch(&["test_echo"], &watching_configmaps(&cluster, &namespace));
    let names: Vec<String> = (0..5).map(|i| format!("m-{i}")).collect();
    let before: Vec<String> = names
        .iter()
        .map(|name| namespace.create_configmap(name, "1"))
        .collect();
    wait_for_exactly(&controller, &before);

    // Changes in flight, then the API server (and etcd) stop and start again.
    let in_flight: Vec<String> = names
        .iter()
        .map(|name| namespace.modify_configmap(name, "2"))
        .collect();
    let restarted_at = Instant::now();
    cluster.restart_api_server();
    eprintln!("the API server restarted in {:?}", restarted_at.elapsed());
    let after: Vec<String> = names
        .iter()
        .map(|name| namespace.modify_configmap(name, "3"))
        .collect();
    let deleted = namespace.delete_configmap(&names[4]);
    let created = namespace.create_configmap("n-0", "1");

    let after_the_restart = "the changes after the restart";
    controller.wait_for_plugin("test_echo", after_the_restart, PATIENCE * 4, |echoed| {
        after[..4].iter().all(|l| echoed.contains(l))
            && echoed.contains(&created)
            && echoed.iter().any(|l| l.starts_with(&deleted))
    });
    std::thread::sleep(QUIET);
    let got = controller.echoed();
    eprintln!("test_echo received {} events: {got:#?}", got.len());
    // Nothing twice, and each object's events in the order of its resourceVersions. A deletion
    // found by a relist (the object went while the watch was down) carries the last state
    // seen, so its resourceVersion may equal the one before it.
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        got.len(),
        "an event delivered twice: {got:#?}"
    );
    for name in &names {
        let object = format!(" {}/{name} ", namespace.name);
        let events: Vec<(&str, u64)> = got
            .iter()
            .filter(|l| l.contains(&object))
            .map(|l| (l.split(' ').next().unwrap_or(""), rv_of(l)))
            .collect();
        let in_order = events.windows(2).all(|pair| {
            let ((_, before), (kind, after)) = (pair[0], pair[1]);
            before < after || (kind == "DELETED" && before == after)
        });
        assert!(in_order, "{name}: {events:?}");
    }
    // Every change before the restart arrived, or was superseded by a newer state of the same
    // object when the controller relisted; everything after the restart arrived.
    assert_eq!(got[..5], before[..]);
    for (change, newer) in in_flight.iter().zip(&after) {
        assert!(
            got.contains(change) || got.contains(newer),
            "{change} lost: {got:#?}"
        );
    }
    assert!(
        controller
            .logs()
            .iter()
            .any(|l| l["level"] == "WARN" || l["level"] == "ERROR"),
        "the restart went unnoticed in the log"
    );
}

/// The plain end-to-end path: a ConfigMap created, changed and deleted reaches `test_echo` as
/// exactly those three events, with the resourceVersions the server gave.
#[test]
#[ignore = "needs a real cluster: set EC_E2E_KUBECONFIG and run `just e2e`"]
fn a_configmap_created_changed_and_deleted_arrives_as_three_exact_events() {
    let cluster = RealCluster::from_env();
    let namespace = cluster.namespace("basic");
    let mut env = watching_configmaps(&cluster, &namespace);
    env.push(("INITIAL_EVENTS", "skip".to_owned()));
    let controller = launch(&["test_echo"], &env);
    controller.wait_for_log("listed");
    let created = namespace.create_configmap("e2e", "1");
    let modified = namespace.modify_configmap("e2e", "2");
    let deleted = namespace.delete_configmap("e2e");
    let got = controller.wait_for_events(3);
    assert_eq!(got[..2], [created, modified]);
    assert!(got[2].starts_with(&deleted), "{got:#?}");
    assert_eq!(got.len(), 3, "{got:#?}");
}

/// `go_replicator` (a Go plugin writing through the `kube_request` capability) on a real
/// cluster: the source ConfigMap is copied into the namespaces carrying this run's label, the
/// copies follow the source and the labels, a foreign ConfigMap of the same name is left alone,
/// and a restart writes nothing. Its namespaces (and so every copy) are deleted at the end.
#[test]
#[ignore = "needs a real cluster: set EC_E2E_KUBECONFIG and run `just e2e`"]
fn go_replicator_copies_a_configmap_into_labelled_namespaces_and_leaves_foreign_ones_alone() {
    const NAME: &str = "go-replicator-e2e";
    const OWNER: &str = "app.kubernetes.io/managed-by";
    let cluster = RealCluster::from_env();
    let selector_key = "event-controller.test/replicate";
    let selector_value = std::process::id().to_string();
    let selector = format!("{selector_key}={selector_value}");
    let source = cluster.namespace("gorep-src");
    let joined = cluster.namespace("gorep-a");
    let later = cluster.namespace("gorep-b");
    let foreign = cluster.namespace("gorep-c");
    for ns in [&joined, &foreign] {
        cluster.kubectl_ok(&["label", "namespace", &ns.name, &selector]);
    }
    let configmap = |namespace: &str, labels: Value, data: Value| {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
            "data": data,
        })
    };
    cluster.json_with_input(
        &["create"],
        &configmap(
            &source.name,
            serde_json::json!({}),
            serde_json::json!({"k": "v1"}),
        ),
    );
    let theirs = cluster.json_with_input(
        &["create"],
        &configmap(
            &foreign.name,
            serde_json::json!({"app": "human"}),
            serde_json::json!({"mine": "yes"}),
        ),
    );
    let get = |namespace: &str| -> Option<Value> {
        let output = cluster.kubectl(&["get", "configmap", NAME, "-n", namespace, "-o", "json"]);
        output
            .status
            .success()
            .then(|| serde_json::from_slice(&output.stdout).expect("kubectl prints JSON"))
    };
    let wait_for_value = |namespace: &str, value: &str| {
        wait::until_every(
            Duration::from_millis(300),
            PATIENCE,
            || {
                get(namespace).filter(|cm| {
                    cm["data"]["k"] == value && cm["metadata"]["labels"][OWNER] == "go-replicator"
                })
            },
            || {
                format!(
                    "no copy with k={value} in {namespace}: {:?}",
                    get(namespace)
                )
            },
        )
    };

    let config = format!(
        r#"
[plugins.go_replicator.config]
owner = "go-replicator"
source = {{ namespace = "{source}", name = "{NAME}" }}
namespace_selector = {{ "{selector_key}" = "{selector_value}" }}

[plugins.go_replicator.capabilities.kubernetes]
read = ["namespaces", "configmaps"]
create = ["configmaps"]
apply = ["configmaps"]
delete = ["configmaps"]
label_selector = "{OWNER}=go-replicator"
max_writes_per_second = 20
"#,
        source = source.name
    );
    let start = || {
        let (plugins, config_file) = support::plugins_dir_with_config(&["go_replicator"], &config);
        let kubeconfig = cluster.kubeconfig().display().to_string();
        Controller::launch(
            plugins,
            &[
                ("KUBECONFIG", kubeconfig.as_str()),
                ("K8S_RESOURCE", "namespaces,configmaps"),
                ("CONFIG_FILE", config_file.as_str()),
            ],
        )
    };
    let controller = start();
    wait_for_value(&joined.name, "v1");
    assert!(get(&later.name).is_none(), "not labelled yet");

    // The source changes: the copy follows.
    let patch = serde_json::json!({"data": {"k": "v2"}}).to_string();
    cluster.kubectl_ok(&[
        "patch",
        "configmap",
        NAME,
        "-n",
        &source.name,
        "--type",
        "merge",
        "-p",
        &patch,
    ]);
    wait_for_value(&joined.name, "v2");
    // A namespace labelled later gets a copy; one that loses the label loses it.
    cluster.kubectl_ok(&["label", "namespace", &later.name, &selector]);
    wait_for_value(&later.name, "v2");
    let unlabel = format!("{selector_key}-");
    cluster.kubectl_ok(&["label", "namespace", &joined.name, &unlabel]);
    wait::until_every(
        Duration::from_millis(300),
        PATIENCE,
        || get(&joined.name).is_none().then_some(()),
        || format!("the copy in {} is still there", joined.name),
    );
    // Someone else's ConfigMap of the same name: untouched, with a WARN.
    controller.wait_for_plugin_lines("go_replicator", "is not managed by go-replicator", 1);
    let still = get(&foreign.name).expect("the foreign ConfigMap");
    assert_eq!(
        still["metadata"]["resourceVersion"],
        theirs["metadata"]["resourceVersion"]
    );
    assert!(
        controller.call_failures("go_replicator").is_empty(),
        "{:#?}",
        controller.logs()
    );
    controller.terminate();

    // A restart delivers everything again and writes nothing.
    let before = get(&later.name).expect("the copy")["metadata"]["resourceVersion"].clone();
    let controller = start();
    controller.wait_for_log("listed");
    std::thread::sleep(Duration::from_secs(5));
    let after = get(&later.name).expect("the copy")["metadata"]["resourceVersion"].clone();
    assert_eq!(
        before,
        after,
        "{:#?}",
        controller.plugin_lines("go_replicator")
    );
    let writes: Vec<_> = controller
        .logs()
        .into_iter()
        .filter(|l| {
            let message = str_of(l, "message");
            l["plugin"] == "go_replicator"
                && ["plugin created", "plugin applied", "plugin deleted"]
                    .iter()
                    .any(|w| message.starts_with(w))
        })
        .collect();
    assert!(writes.is_empty(), "{writes:#?}");
    controller.terminate();
    // The namespaces, the source and every copy go when `source`, `joined`, `later` and
    // `foreign` are dropped.
}

/// `ns_defaults` on a real cluster: namespaces carrying this run's label get a NetworkPolicy
/// and a ResourceQuota owned by this run (owner `ns-defaults-e2e-PID`, so that nothing another
/// run or a real deployment owns is in reach); a deleted one comes back, one edited by hand is
/// applied back; a restart writes
/// nothing (resourceVersions unchanged, no write logged); a ResourceQuota of the same name
/// without the owner label is never touched; removing the label deletes the owned objects only.
/// Everything it created is deleted at the end, and its namespaces when they are dropped.
#[test]
#[ignore = "needs a real cluster: set EC_E2E_KUBECONFIG and run `just e2e`"]
fn ns_defaults_keeps_owned_defaults_in_labelled_namespaces_and_leaves_others_alone() {
    const NAME: &str = "ns-defaults";
    const OWNER_LABEL: &str = "app.kubernetes.io/managed-by";
    let cluster = RealCluster::from_env();
    let owner = format!("ns-defaults-e2e-{}", std::process::id());
    let selector_key = "event-controller.test/ns-defaults";
    let selector = format!("{selector_key}={}", std::process::id());
    let labelled = cluster.namespace("nsd-a");
    let other = cluster.namespace("nsd-b");
    let guarded = cluster.namespace("nsd-c");
    for ns in [&labelled, &guarded] {
        cluster.kubectl_ok(&["label", "namespace", &ns.name, &selector]);
    }
    let theirs = cluster.json_with_input(
        &["create"],
        &serde_json::json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": NAME, "namespace": guarded.name, "labels": {"team": "e2e"}},
            "spec": {"hard": {"pods": "999"}},
        }),
    );
    let get = |kind: &str, namespace: &str| -> Option<Value> {
        let output = cluster.kubectl(&["get", kind, NAME, "-n", namespace, "-o", "json"]);
        output
            .status
            .success()
            .then(|| serde_json::from_slice(&output.stdout).expect("kubectl prints JSON"))
    };
    let owned = |kind: &str, namespace: &str| {
        get(kind, namespace).filter(|o| o["metadata"]["labels"][OWNER_LABEL] == owner.as_str())
    };
    let config = format!(
        r#"
[plugins.ns_defaults.config]
namespace_selector = {{ "{selector_key}" = "{pid}" }}
owner = "{owner}"
network_policy = {{ podSelector = {{}}, policyTypes = ["Ingress"] }}
resource_quota = {{ hard = {{ pods = "20", "requests.cpu" = "4" }} }}

[plugins.ns_defaults.capabilities.kubernetes]
read = ["namespaces", "networkpolicies.networking.k8s.io", "resourcequotas"]
create = ["networkpolicies.networking.k8s.io", "resourcequotas"]
apply = ["networkpolicies.networking.k8s.io", "resourcequotas"]
delete = ["networkpolicies.networking.k8s.io", "resourcequotas"]
label_selector = "{OWNER_LABEL}={owner}"
max_writes_per_second = 20
"#,
        pid = std::process::id()
    );
    let start = || {
        let (plugins, config_path) = support::plugins_dir_with_config(&["ns_defaults"], &config);
        let env = [
            ("KUBECONFIG", cluster.kubeconfig().display().to_string()),
            (
                "K8S_RESOURCE",
                "namespaces,networkpolicies.networking.k8s.io,resourcequotas".to_owned(),
            ),
            ("CONFIG_FILE", config_path),
            ("LOG_LEVEL", "info,plugin=debug".to_owned()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Controller::launch(plugins, &env)
    };
    let wait_until = |what: &str, done: &dyn Fn() -> bool| {
        wait::until_every(
            Duration::from_millis(300),
            PATIENCE,
            || done().then_some(()),
            || what.to_owned(),
        )
    };

    // The labelled namespaces get the defaults; the other gets none; theirs stays.
    let controller = start();
    wait_until("the defaults in the labelled namespaces", &|| {
        owned("networkpolicy", &labelled.name).is_some()
            && owned("resourcequota", &labelled.name).is_some()
            && owned("networkpolicy", &guarded.name).is_some()
    });
    let quota = owned("resourcequota", &labelled.name).expect("created");
    assert_eq!(quota["spec"]["hard"]["pods"], "20", "{quota}");
    assert_eq!(get("networkpolicy", &other.name), None);
    assert_eq!(get("resourcequota", &other.name), None);
    controller.wait_for_plugin_lines("ns_defaults", "not ours, left alone", 1);

    // A deleted owned object comes back.
    let policy = owned("networkpolicy", &labelled.name).expect("created");
    cluster.kubectl_ok(&["delete", "networkpolicy", NAME, "-n", &labelled.name]);
    wait_until("the NetworkPolicy recreated", &|| {
        owned("networkpolicy", &labelled.name)
            .is_some_and(|p| p["metadata"]["uid"] != policy["metadata"]["uid"])
    });
    // An owned object edited by hand is applied back (server-side apply, forced).
    cluster.kubectl_ok(&[
        "patch",
        "resourcequota",
        NAME,
        "-n",
        &labelled.name,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"hard":{"pods":"500"}}}"#,
    ]);
    wait_until("the ResourceQuota applied back", &|| {
        owned("resourcequota", &labelled.name).is_some_and(|q| q["spec"]["hard"]["pods"] == "20")
    });
    assert!(controller.terminate().success());

    // A restart delivers everything again and writes nothing.
    let versions = || {
        [
            ("networkpolicy", &labelled.name),
            ("resourcequota", &labelled.name),
            ("networkpolicy", &guarded.name),
            ("resourcequota", &guarded.name),
        ]
        .map(|(kind, ns)| get(kind, ns).map(|o| o["metadata"]["resourceVersion"].clone()))
    };
    let before = versions();
    let controller = start();
    controller.wait_for_plugin_lines("ns_defaults", &format!("namespace {}:", labelled.name), 3);
    controller.wait_for_plugin_lines("ns_defaults", &format!("namespace {}:", guarded.name), 2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(versions(), before, "a restart wrote");
    let writes: Vec<Value> = controller
        .logs()
        .into_iter()
        .filter(|l| {
            let message = str_of(l, "message");
            l["plugin"] == "ns_defaults"
                && ["plugin created", "plugin applied", "plugin deleted"]
                    .iter()
                    .any(|w| message.starts_with(w))
        })
        .collect();
    assert!(writes.is_empty(), "{writes:#?}");

    // Removing the label deletes the owned objects, and only them.
    let unlabel = format!("{selector_key}-");
    for ns in [&labelled, &guarded] {
        cluster.kubectl_ok(&["label", "namespace", &ns.name, &unlabel]);
    }
    wait_until("the owned objects deleted", &|| {
        get("networkpolicy", &labelled.name).is_none()
            && get("resourcequota", &labelled.name).is_none()
            && get("networkpolicy", &guarded.name).is_none()
    });
    std::thread::sleep(QUIET);
    let kept = get("resourcequota", &guarded.name).expect("theirs stays");
    assert_eq!(
        kept["metadata"]["resourceVersion"], theirs["metadata"]["resourceVersion"],
        "the unowned ResourceQuota was written"
    );
    assert!(controller.terminate().success());

    // Clean up what this test created (the namespaces go when dropped).
    cluster.kubectl_ok(&[
        "delete",
        "resourcequota",
        NAME,
        "-n",
        &guarded.name,
        "--ignore-not-found",
    ]);
    for ns in [&labelled, &other, &guarded] {
        cluster.kubectl_ok(&[
            "delete",
            "networkpolicy,resourcequota",
            "-n",
            &ns.name,
            "-l",
            &format!("{OWNER_LABEL}={owner}"),
            "--ignore-not-found",
        ]);
    }
}
