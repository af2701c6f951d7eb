//! The plugin against the SDK's in-memory API server (`kube::mock::FakeCluster`).

use event_controller_guest::kube::mock::FakeCluster;
use event_controller_guest::kube::OWNER_LABEL;
use serde_json::{json, Value};

use super::*;

const CONFIG: &str = r#"{
    "namespace_selector": {"ns-defaults": "on"},
    "network_policy": {"podSelector": {}, "policyTypes": ["Ingress"]},
    "resource_quota": {"hard": {"pods": "20", "requests.cpu": "4"}}
}"#;

fn new_plugin() -> Plugin {
    Plugin::new(Settings::from_json(CONFIG).expect("a valid config"))
}

fn namespace(name: &str, labels: Value) -> Value {
    json!({"kind": "Namespace", "apiVersion": "v1",
        "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "1", "labels": labels},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

fn labelled(name: &str) -> Value {
    namespace(
        name,
        json!({"ns-defaults": "on", "kubernetes.io/metadata.name": name}),
    )
}

fn event(event_type: &str, object: &Value) -> String {
    json!({"type": event_type, "object": object}).to_string()
}

fn handle(plugin: &mut Plugin, event_type: &str, object: &Value) -> Outcome {
    plugin.handle(&Event::new(&event(event_type, object)))
}

/// The writes so far as `verb resource namespace/name`.
fn writes(cluster: &FakeCluster) -> Vec<String> {
    cluster
        .writes()
        .iter()
        .map(|r| {
            let name = r.name.clone().unwrap_or_else(|| {
                r.object.as_ref().expect("an object")["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            });
            let namespace = r.namespace.clone().unwrap_or_else(|| {
                r.object.as_ref().expect("an object")["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            });
            format!("{} {} {namespace}/{name}", r.verb, r.resource)
        })
        .collect()
}

fn policy(cluster: &FakeCluster, ns: &str) -> Option<Value> {
    cluster.object(NETWORK_POLICY.resource, ns, DEFAULT_NAME)
}

fn quota(cluster: &FakeCluster, ns: &str) -> Option<Value> {
    cluster.object(RESOURCE_QUOTA.resource, ns, DEFAULT_NAME)
}

/// What someone else's object of that name looks like.
fn unowned_quota(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"namespace": ns, "name": DEFAULT_NAME, "labels": {"team": "payments"}},
        "spec": {"hard": {"pods": "999"}}})
}

#[test]
fn a_matching_namespace_gets_both_objects_owned() {
    let cluster = FakeCluster::new();
    let _transport = cluster.install();
    let mut plugin = new_plugin();
    let outcome = handle(&mut plugin, "ADDED", &labelled("shop"));
    assert_eq!(outcome.level(), Some(Level::Info), "{outcome:?}");
    assert_eq!(
        outcome.message(),
        Some("ns_defaults: namespace shop: created NetworkPolicy shop/ns-defaults; created ResourceQuota shop/ns-defaults")
    );
    assert_eq!(
        writes(&cluster),
        [
            "create networkpolicies.networking.k8s.io shop/ns-defaults",
            "create resourcequotas shop/ns-defaults"
        ]
    );
    let policy = policy(&cluster, "shop").expect("a NetworkPolicy");
    assert_eq!(policy["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(policy["kind"], "NetworkPolicy");
    assert_eq!(policy["metadata"]["labels"][OWNER_LABEL], "ns-defaults");
    assert_eq!(
        policy["spec"],
        json!({"podSelector": {}, "policyTypes": ["Ingress"]})
    );
    let quota = quota(&cluster, "shop").expect("a ResourceQuota");
    assert_eq!(quota["spec"]["hard"]["pods"], "20");
    assert_eq!(quota["metadata"]["labels"][OWNER_LABEL], "ns-defaults");
}

#[test]
fn a_namespace_that_does_not_match_gets_nothing() {
    let cluster = FakeCluster::new();
    let _transport = cluster.install();
    let mut plugin = new_plugin();
    let other = namespace("dev", json!({"ns-defaults": "off"}));
    let outcome = handle(&mut plugin, "ADDED", &other);
    assert!(outcome.is_none(), "{outcome:?}");
    assert!(cluster.writes().is_empty());
    // Found clean once: its next events cost no request.
    cluster.clear_requests();
    assert!(handle(&mut plugin, "MODIFIED", &other).is_none());
    assert!(cluster.requests().is_empty());
}

#[test]
fn no_write_when_everything_is_in_place_also_after_a_restart() {
    let cluster = FakeCluster::new();
    let _transport = cluster.install();
    let mut plugin = new_plugin();
    cluster.insert("namespaces", labelled("shop"));
    handle(&mut plugin, "ADDED", &labelled("shop"));
    cluster.clear_requests();
    // The events its own writes caused, and the same namespace again.
    let policy_object = policy(&cluster, "shop").expect("created");
    let quota_object = quota(&cluster, "shop").expect("created");
    let outcomes = [
        handle(&mut plugin, "ADDED", &policy_object),
        handle(&mut plugin, "ADDED", &quota_object),
        handle(&mut plugin, "MODIFIED", &labelled("shop")),
    ];
    // A restart: a fresh plugin sees every object as ADDED again.
    let mut restarted = new_plugin();
    let after_restart = [
        handle(&mut restarted, "ADDED", &quota_object),
        handle(&mut restarted, "ADDED", &labelled("shop")),
        handle(&mut restarted, "ADDED", &policy_object),
    ];
    assert!(cluster.writes().is_empty(), "{:?}", writes(&cluster));
    for outcome in outcomes.iter().chain(&after_restart) {
        assert_eq!(outcome.level(), Some(Level::Debug), "{outcome:?}");
        assert!(
            outcome.message().is_some_and(|m| m.contains("up to date")),
            "{outcome:?}"
        );
    }
}

#[test]
fn a_changed_config_or_a_hand_edit_is_applied_back() {
    let cluster = FakeCluster::new();
    let _transport = cluster.install();
    let mut plugin = new_plugin();
    handle(&mut plugin, "ADDED", &labelled("shop"));
    let mut edited = quota(&cluster, "shop").expect("created");
    edited["spec"]["hard"]["pods"] = json!("500");
    let edited = cluster.insert(RESOURCE_QUOTA.resource, edited);
    cluster.clear_requests();
    let outcome = handle(&mut plugin, "MODIFIED", &edited);
    assert_eq!(
        outcome.message(),
        Some("ns_defaults: namespace shop: updated ResourceQuota shop/ns-defaults")
    );
    assert_eq!(writes(&cluster), ["apply resourcequotas shop/ns-defaults"]);
    assert_eq!(
        quota(&cluster, "shop").expect("kept")["spec"]["hard"]["pods"],
        "20"
    );
}

#[test]
fn a_deleted_owned_object_is_recreated() {
    let cluster = FakeCluster::new();
    let _transport = cluster.install();
    let mut plugin = new_plugin();
    cluster.insert("namespaces", labelled("shop"));
    handle(&mut plugin, "ADDED", &labelled("shop"));
    let deleted = cluster
        .remove(NETWORK_POLICY.resource, "shop", DEFAULT_NAME)
        .expect("there");
    cluster.clear_requests();
    let outcome = handle(&mut plugin, "DELETED", &deleted);
    assert_eq!(
        outcome.message(),
        Some("ns_defaults: namespace shop: created NetworkPolicy shop/ns-defaults")
    );
    assert_eq!(
        writes(&cluster),
        ["create networkpolicies.networking.k8s.io shop/ns-defaults"]
    );
    assert!(policy(&cluster, "shop").is_some());

    // The same after a restart: the namespace is looked up in the cluster.
    let deleted = cluster
        .remove(RESOURCE_QUOTA.resource, "shop", DEFAULT_NAME)
        .expect("there");
    let mut restarted = new_plugin();
    cluster.clear_requests();
    handle(&mut restarted, "DELETED", &deleted);
    let verbs: Vec<String> = cluster
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.verb, r.resource))
        .collect();
    assert_eq!(
        verbs,
        [
            "get namespaces",
            "get resourcequotas",
            "create resourcequotas"
        ]
    );
}

#[test]
fn objects_of_a_terminating_or_deleted_namespace_are_not_recreated() {
    let cluster = FakeCluster::new();
    let _transport = cluster.install();
    let mut plugin = new_plugin();
    handle(&mut plugin, "ADDED", &labelled("shop"));
    let mut terminating = labelled("shop");
    terminating["metadata"]["deletionTimestamp"] = json!("2026-12-06T16:00:00Z");
    terminating["status"]["phase"] = json!("Terminating");
    cluster.insert("namespaces", terminating.clone());
    assert!(handle(&mut plugin, "MODIFIED", &terminating).is_none());
    let deleted = cluster
        .remove(NETWORK_POLICY.resource, "shop", DEFAULT_NAME)
        .expect("there");
    cluster.clear_requests();
    assert!(handle(&mut plugin, "DELETED", &deleted).is_none());
    // Also when the deletion comes before the namespace's own event.
    let mut unaware = new_plugin();
    handle(&mut unaware, "ADDED", &labelled("shop"));
    let deleted_quota = cluster
        .remove(RESOURCE_QUOTA.resource, "shop", DEFAULT_NAME)
        .expect("there");
    cluster.clear_requests();
    assert!(handle(&mut unaware, "DELETED", &deleted_quota).is_none());
    cluster.remove("namespaces", "", "shop");
    assert!(handle(&mut plugin, "DELETED", &deleted).is_none());
    assert!(cluster.writes().is_empty(), "{:?}", writes(&cluster));
}

#[test]
fn removing_the_label_deletes_only_the_owned_objects() {
    let cluster = FakeCluster::new();
    let _transport = cluster.install();
    let mut plugin = new_plugin();
    // shop: both objects are the plugin's. payments: the quota of that name is someone else's.
    cluster.insert(RESOURCE_QUOTA.resource, unowned_quota("payments"));
    handle(&mut plugin, "ADDED", &labelled("shop"));
    handle(&mut plugin, "ADDED", &labelled("payments"));
    cluster.clear_requests();

    let unlabelled = namespace("shop", json!({"kubernetes.io/metadata.name": "shop"}));
    let outcome = handle(&mut plugin, "MODIFIED", &unlabelled);
    assert_eq!(outcome.level(), Some(Level::Info), "{outcome:?}");
    assert_eq!(
        writes(&cluster),
        [
            "delete networkpolicies.networking.k8s.io shop/ns-defaults",
            "delete resourcequotas shop/ns-defaults"
        ]
    );
    assert!(policy(&cluster, "shop").is_none() && quota(&cluster, "shop").is_none());

    cluster.clear_requests();
    let unlabelled = namespace("payments", json!({}));
    let outcome = handle(&mut plugin, "MODIFIED", &unlabelled);
    assert_eq!(
        writes(&cluster),
        ["delete networkpolicies.networking.k8s.io payments/ns-defaults"]
    );
    assert!(
        outcome.message().is_some_and(
            |m| m.contains("ResourceQuota payments/ns-defaults is not ours: left alone")
        ),
        "{outcome:?}"
    );
    assert_eq!(
        quota(&cluster, "payments").expect("kept")["spec"]["hard"]["pods"],
        "999"
    );
}

#[test]
fn objects_it_does_not_own_are_never_touched() {
    let cluster = FakeCluster::new();
    let _transport = cluster.install();
    let mut plugin = new_plugin();
    let theirs = cluster.insert(RESOURCE_QUOTA.resource, unowned_quota("shop"));
    let outcome = handle(&mut plugin, "ADDED", &labelled("shop"));
    assert_eq!(outcome.level(), Some(Level::Warn), "{outcome:?}");
    assert!(
        outcome.message().is_some_and(|m| m.contains(
            "ResourceQuota shop/ns-defaults exists without the label app.kubernetes.io/managed-by=ns-defaults: not ours, left alone"
        )),
        "{outcome:?}"
    );
    assert_eq!(
        writes(&cluster),
        ["create networkpolicies.networking.k8s.io shop/ns-defaults"]
    );
    // Its events, its deletion: nothing.
    cluster.clear_requests();
    assert!(handle(&mut plugin, "MODIFIED", &theirs).is_none());
    assert!(handle(&mut plugin, "DELETED", &theirs).is_none());
    assert!(cluster.requests().is_empty());
    assert_eq!(quota(&cluster, "shop"), Some(theirs));
}

#[test]
fn failures_that_may_pass_are_retried_and_denials_are_errors() {
    let mut plugin = new_plugin();
    {
        let _down = event_controller_guest::kube::mock::set(|_| {
            event_controller_guest::kube::mock::fail("timed out after 10s")
        });
        let outcome = handle(&mut plugin, "ADDED", &labelled("shop"));
        assert_eq!(outcome.level(), Some(Level::Warn), "{outcome:?}");
        assert!(outcome.retry().is_some(), "{outcome:?}");
    }
    {
        let _throttled = event_controller_guest::kube::mock::set(|request| {
            if request.verb == "get" {
                event_controller_guest::kube::mock::refuse(404, "not found")
            } else {
                event_controller_guest::kube::mock::fail(
                    "throttled: plugin ns_defaults made more than 10 writes per second",
                )
            }
        });
        let outcome = handle(&mut plugin, "ADDED", &labelled("shop"));
        assert!(outcome.retry().is_some(), "{outcome:?}");
    }
    let _denied = event_controller_guest::kube::mock::set(|_| {
        event_controller_guest::kube::mock::fail(
            "denied: plugin ns_defaults may not get resourcequotas",
        )
    });
    let outcome = handle(&mut plugin, "ADDED", &labelled("shop"));
    assert_eq!(outcome.level(), Some(Level::Error), "{outcome:?}");
    assert!(outcome.retry().is_none(), "{outcome:?}");
}

#[test]
fn configs_are_checked() {
    let settings = Settings::from_json(CONFIG).expect("valid");
    assert_eq!(
        (settings.name.as_str(), settings.owner.as_str()),
        ("ns-defaults", "ns-defaults")
    );
    for (config, why) in [
        (
            r#"{"namespace_selector": {}, "resource_quota": {}}"#,
            "namespace_selector is empty",
        ),
        (r#"{"namespace_selector": {"a": "b"}}"#, "nothing to do"),
        (
            r#"{"namespace_selector": {"a": "b"}, "resource_quota": 3}"#,
            "must be the object's spec",
        ),
        (
            r#"{"namespace_selector": {"a": "b"}, "resource_quota": {}, "owner": "-x"}"#,
            "not a label value",
        ),
        (
            r#"{"namespace_selector": {"a": "b"}, "resource_quota": {}, "name": "A"}"#,
            "not an object name",
        ),
        (
            r#"{"namespace_selector": {"a": "b"}, "resource_quota": {}, "extra": 1}"#,
            "unknown field",
        ),
        ("{}", "missing field `namespace_selector`"),
    ] {
        let error = Settings::from_json(config).expect_err(config);
        assert!(error.contains(why), "{config}: {error}");
    }
}

#[test]
fn other_events_cost_nothing() {
    let cluster = FakeCluster::new();
    let _transport = cluster.install();
    let mut plugin = new_plugin();
    let pod =
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "shop"}});
    assert!(handle(&mut plugin, "ADDED", &pod).is_none());
    let other_quota = json!({"kind": "ResourceQuota", "apiVersion": "v1",
        "metadata": {"name": "other", "namespace": "shop", "labels": {OWNER_LABEL: "ns-defaults"}}});
    assert!(handle(&mut plugin, "DELETED", &other_quota).is_none());
    assert!(cluster.requests().is_empty());
}

#[test]
fn it_subscribes_to_the_three_resources() {
    let subscription: Value = serde_json::from_slice(SUBSCRIPTION).expect("JSON");
    assert_eq!(
        subscription,
        json!({"resources": ["namespaces", NETWORK_POLICY.resource, RESOURCE_QUOTA.resource]})
    );
}
