//! `ns_defaults` through the real binary against the test API server (built `with_policies`):
//! namespaces whose labels match get a NetworkPolicy and a ResourceQuota the plugin owns; an
//! owned object deleted or edited by hand is put back; a restart writes nothing; an object of
//! the same name without the owner label is never touched; removing the namespace's label
//! deletes the owned objects only. The plugin's grant is exactly what it needs.

use serde_json::{json, Value};
use support::apiserver::ApiServer;
use support::controller::{Controller, PATIENCE, QUIET};
use support::{plugins_dir_with_config, wait};

/// The plugin's config section and its grant: reads of the three resources, create, apply and
/// delete of the two it keeps, only on objects carrying its owner label.
pub const CONFIG: &str = r#"
[plugins.ns_defaults.config]
namespace_selector = { "ns-defaults.example.com/enabled" = "true" }
network_policy = { podSelector = {}, policyTypes = ["Ingress"] }
resource_quota = { hard = { pods = "20", "requests.cpu" = "4" } }

[plugins.ns_defaults.capabilities.kubernetes]
read = ["namespaces", "networkpolicies.networking.k8s.io", "resourcequotas"]
create = ["networkpolicies.networking.k8s.io", "resourcequotas"]
apply = ["networkpolicies.networking.k8s.io", "resourcequotas"]
delete = ["networkpolicies.networking.k8s.io", "resourcequotas"]
label_selector = "app.kubernetes.io/managed-by=ns-defaults"
max_writes_per_second = 20
"#;

/// What the controller watches for the plugin.
pub const RESOURCES: &str = "namespaces,networkpolicies.networking.k8s.io,resourcequotas";

const NAME: &str = "ns-defaults";
const POLICIES: &str = "networkpolicies";
const QUOTAS: &str = "resourcequotas";

fn namespace(name: &str, enabled: bool) -> String {
    let mut labels = json!({"kubernetes.io/metadata.name": name});
    if enabled {
        labels["ns-defaults.example.com/enabled"] = json!("true");
    }
    json!({"metadata": {"name": name, "labels": labels}, "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"}})
    .to_string()
}

/// A ResourceQuota named like the plugin's, in `namespace`, that is someone else's.
fn unowned_quota(namespace: &str) -> String {
    json!({"metadata": {"name": NAME, "namespace": namespace, "labels": {"team": "payments"}},
        "spec": {"hard": {"pods": "999"}}})
    .to_string()
}

fn start(server: &ApiServer) -> Controller {
    let (plugins, config) = plugins_dir_with_config(&["ns_defaults"], CONFIG);
    Controller::start_in(
        server,
        plugins,
        &[
            ("CONFIG_FILE", config.as_str()),
            ("K8S_RESOURCE", RESOURCES),
            ("LOG_LEVEL", "info,plugin=debug"),
        ],
    )
}

fn object(server: &ApiServer, resource: &str, namespace: &str) -> Option<Value> {
    server
        .object(resource, namespace, NAME)
        .map(|raw| serde_json::from_str(&raw).expect("stored JSON"))
}

/// Waits until `probe` holds for the stored objects.
fn wait_for(controller: &Controller, what: &str, probe: impl Fn() -> bool) {
    wait::until(
        PATIENCE,
        || probe().then_some(()),
        || format!("{what}:\n{:#?}", controller.logs()),
    );
}

/// The writes the server received (`METHOD path`), in order.
fn writes(server: &ApiServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn matching_namespaces_get_owned_defaults_kept_in_place_and_removed_only_when_owned() {
    let server = ApiServer::builder().with_policies().start();
    server.create("namespaces", &namespace("shop", true));
    server.create("namespaces", &namespace("dev", false));
    server.create("namespaces", &namespace("payments", true));
    server.create(QUOTAS, &unowned_quota("payments"));
    let theirs = server
        .object(QUOTAS, "payments", NAME)
        .expect("the unowned quota");

    // A labelled namespace gets both objects, owned; an unlabelled one gets none.
    let controller = start(&server);
    let owned = |ns: &str, resource: &str| {
        object(&server, resource, ns).is_some_and(|o| {
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ns-defaults"
        })
    };
    wait_for(&controller, "shop's and payments' defaults", || {
        owned("shop", POLICIES) && owned("shop", QUOTAS) && owned("payments", POLICIES)
    });
    let policy = object(&server, POLICIES, "shop").expect("created");
    assert_eq!(policy["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(policy["kind"], "NetworkPolicy");
    assert_eq!(
        policy["spec"],
        json!({"podSelector": {}, "policyTypes": ["Ingress"]})
    );
    let quota = object(&server, QUOTAS, "shop").expect("created");
    assert_eq!(
        quota["spec"]["hard"],
        json!({"pods": "20", "requests.cpu": "4"})
    );
    assert_eq!(object(&server, POLICIES, "dev"), None);
    assert_eq!(object(&server, QUOTAS, "dev"), None);
    // The quota of that name in payments is someone else's: a WARN, and it stays as it was.
    let warned = controller.wait_for_plugin_lines(
        "ns_defaults",
        "ResourceQuota payments/ns-defaults exists without the label app.kubernetes.io/managed-by=ns-defaults: not ours, left alone",
        1,
    );
    assert!(
        warned.iter().all(|(level, _)| level == "WARN"),
        "{warned:?}"
    );
    assert_eq!(
        server.object(QUOTAS, "payments", NAME),
        Some(theirs.clone())
    );

    // An owned object deleted by someone comes back.
    server.delete(POLICIES, &policy.to_string());
    wait_for(&controller, "shop's NetworkPolicy recreated", || {
        object(&server, POLICIES, "shop")
            .is_some_and(|o| o["metadata"]["uid"] != policy["metadata"]["uid"])
    });
    // An owned object edited by hand is applied back.
    let mut edited = object(&server, QUOTAS, "shop").expect("there");
    edited["spec"]["hard"]["pods"] = json!("500");
    server.modify(QUOTAS, &edited.to_string());
    wait_for(&controller, "shop's ResourceQuota applied back", || {
        object(&server, QUOTAS, "shop").is_some_and(|o| o["spec"]["hard"]["pods"] == "20")
    });
    let applies: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(applies.len(), 1, "{applies:?}");
    assert_eq!(
        applies[0].path,
        "/api/v1/namespaces/shop/resourcequotas/ns-defaults"
    );
    assert_eq!(
        applies[0].param("fieldManager").as_deref(),
        Some("event-controller-ns_defaults")
    );
    assert_eq!(applies[0].param("force").as_deref(), Some("true"));
    std::thread::sleep(QUIET);
    drop(controller);

    // Re-delivery: a restarted controller gets every object again, and writes nothing.
    let before = writes(&server);
    let controller = start(&server);
    controller.wait_for_plugin_lines("ns_defaults", "namespace shop:", 3);
    controller.wait_for_plugin_lines("ns_defaults", "namespace payments:", 2);
    std::thread::sleep(QUIET);
    assert_eq!(writes(&server), before, "a restart wrote");
    // Every line says "up to date" (DEBUG), beside the WARN about the unowned quota.
    let lines = controller.plugin_lines("ns_defaults");
    assert!(
        lines
            .iter()
            .all(|(level, message)| message.contains("up to date")
                && (level == "DEBUG" || (level == "WARN" && message.contains("not ours")))),
        "{lines:#?}"
    );

    // Removing the label deletes the owned objects, and only them.
    server.modify("namespaces", &namespace("shop", false));
    server.modify("namespaces", &namespace("payments", false));
    wait_for(&controller, "the owned objects deleted", || {
        object(&server, POLICIES, "shop").is_none()
            && object(&server, QUOTAS, "shop").is_none()
            && object(&server, POLICIES, "payments").is_none()
    });
    std::thread::sleep(QUIET);
    assert_eq!(server.object(QUOTAS, "payments", NAME), Some(theirs));
    let touched: Vec<String> = writes(&server)
        .into_iter()
        .filter(|w| {
            w.contains("/namespaces/payments/resourcequotas") || w.contains("/namespaces/dev/")
        })
        .collect();
    assert_eq!(
        touched,
        Vec::<String>::new(),
        "the unowned quota and dev were written"
    );
    // Nothing was recreated after the removal, and no request was refused.
    let refused: Vec<Value> = controller
        .logs()
        .into_iter()
        .filter(|l| {
            let text = l.to_string();
            text.contains("denied") || text.contains("throttled") || text.contains("status=4")
        })
        .collect();
    assert_eq!(refused, Vec::<Value>::new());
}
