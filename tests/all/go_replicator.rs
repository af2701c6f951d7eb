//! `go_replicator` (plugins-wasm/go_replicator, the Go SDK's `kube` package) through the real
//! binary against the test API server: it copies the source ConfigMap `platform/shared` into
//! every namespace labelled `team=a`, with a grant of exactly what it needs (reads of namespaces
//! and ConfigMaps; create, apply and delete of ConfigMaps carrying its owner label), and writes
//! nothing when there is nothing to change.
//!
//! The plugin is built by `scripts/build-go.sh` (`just plugins-polyglot`); when it is not built
//! the test fails under CI (`CI` set) and is skipped loudly elsewhere.

use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use support::apiserver::ApiServer;
use support::controller::{Controller, PATIENCE, QUIET};
use support::{plugins_dir_with_config, repo, wait};

const OWNER_LABEL: &str = "app.kubernetes.io/managed-by";

const CONFIG: &str = r#"
[plugins.go_replicator.config]
owner = "go-replicator"
source = { namespace = "platform", name = "shared" }
namespace_selector = { team = "a" }

[plugins.go_replicator.capabilities.kubernetes]
read = ["namespaces", "configmaps"]
create = ["configmaps"]
apply = ["configmaps"]
delete = ["configmaps"]
label_selector = "app.kubernetes.io/managed-by=go-replicator"
max_writes_per_second = 20
"#;

/// Whether `go_replicator.wasm` is built; if not, a failure under CI and a loud skip elsewhere.
fn built() -> bool {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    if target.join("plugins/go_replicator.wasm").is_file() {
        return true;
    }
    let message = "go_replicator.wasm is not built: run `bash scripts/build-go.sh` \
                   (`bash scripts/toolchains/go.sh install` installs Go)";
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("SKIPPED: {message}");
    false
}

fn namespace(name: &str, team: Option<&str>) -> String {
    let labels = team.map_or("{}".to_owned(), |team| format!(r#"{{"team":"{team}"}}"#));
    format!(
        r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{name}","labels":{labels}}}}}"#
    )
}

fn configmap(namespace: &str, name: &str, labels: &str, data: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"{namespace}","labels":{labels}}},"data":{data}}}"#
    )
}

fn start(server: &ApiServer) -> Controller {
    let (plugins, config) = plugins_dir_with_config(&["go_replicator"], CONFIG);
    Controller::start_in(
        server,
        plugins,
        &[
            ("CONFIG_FILE", config.as_str()),
            ("K8S_RESOURCE", "namespaces,configmaps"),
        ],
    )
}

/// The ConfigMap `namespace/shared` as JSON, if there is one.
fn copy(server: &ApiServer, namespace: &str) -> Option<Value> {
    server
        .object("configmaps", namespace, "shared")
        .map(|text| serde_json::from_str(&text).expect("JSON"))
}

/// Waits until `namespace/shared` is a copy of ours holding `value` under `k`.
fn wait_for_copy(server: &ApiServer, controller: &Controller, namespace: &str, value: &str) {
    wait::until(
        PATIENCE,
        || {
            copy(server, namespace).filter(|cm| {
                cm["data"]["k"] == value && cm["metadata"]["labels"][OWNER_LABEL] == "go-replicator"
            })
        },
        || {
            format!(
                "no copy with k={value} in {namespace}: {:?}\n{:#?}",
                copy(server, namespace),
                controller.plugin_lines("go_replicator")
            )
        },
    );
}

fn wait_for_no_copy(server: &ApiServer, controller: &Controller, namespace: &str) {
    wait::until(
        PATIENCE,
        || copy(server, namespace).is_none().then_some(()),
        || {
            format!(
                "the copy in {namespace} is still there\n{:#?}",
                controller.plugin_lines("go_replicator")
            )
        },
    );
}

/// The writes the API server received for ConfigMaps, as "METHOD path".
fn configmap_writes(server: &ApiServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.path.contains("/configmaps"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn copies_follow_the_source_and_the_namespace_labels_and_a_restart_writes_nothing() {
    if !built() {
        return;
    }
    let server = ApiServer::start();
    for (name, team) in [
        ("platform", None),
        ("a1", Some("a")),
        ("a2", Some("a")),
        ("b", Some("b")),
    ] {
        server.create("namespaces", &namespace(name, team));
    }
    server.create(
        "configmaps",
        &configmap("platform", "shared", "{}", r#"{"k":"v1"}"#),
    );
    // A ConfigMap of the same name in a matching namespace, someone else's.
    server.create(
        "configmaps",
        &configmap("a2", "shared", r#"{"app":"human"}"#, r#"{"mine":"yes"}"#),
    );
    let foreign = server.object("configmaps", "a2", "shared");

    let controller = start(&server);
    // Copies appear in the matching namespaces only.
    wait_for_copy(&server, &controller, "a1", "v1");
    let copied = copy(&server, "a1").expect("the copy");
    assert_eq!(
        copied["metadata"]["annotations"]["event-controller.io/replicated-from"],
        "platform/shared"
    );
    controller.wait_for_plugin_lines(
        "go_replicator",
        "ConfigMap a2/shared is not managed by go-replicator",
        1,
    );
    assert!(copy(&server, "b").is_none(), "b does not match");
    let creates: Vec<_> = configmap_writes(&server)
        .into_iter()
        .filter(|w| w.starts_with("POST"))
        .collect();
    assert_eq!(creates, ["POST /api/v1/namespaces/a1/configmaps"]);

    // A change of the source reaches every copy.
    server.modify(
        "configmaps",
        &configmap("platform", "shared", "{}", r#"{"k":"v2"}"#),
    );
    wait_for_copy(&server, &controller, "a1", "v2");

    // A namespace labelled later gets a copy.
    server.modify("namespaces", &namespace("b", Some("a")));
    wait_for_copy(&server, &controller, "b", "v2");

    // A namespace that loses the label loses its copy.
    server.modify("namespaces", &namespace("a1", None));
    wait_for_no_copy(&server, &controller, "a1");

    // A copy deleted by someone while its namespace matches comes back.
    server.delete("configmaps", &configmap("b", "shared", "{}", "{}"));
    wait_for_copy(&server, &controller, "b", "v2");

    // The foreign ConfigMap was never touched.
    assert_eq!(server.object("configmaps", "a2", "shared"), foreign);
    let foreign_writes: Vec<_> = configmap_writes(&server)
        .into_iter()
        .filter(|w| w.contains("/namespaces/a2/"))
        .collect();
    assert!(foreign_writes.is_empty(), "{foreign_writes:?}");
    let (level, _) = &controller.plugin_lines_with("go_replicator", "a2/shared")[0];
    assert_eq!(level, "WARN");
    assert!(
        controller.call_failures("go_replicator").is_empty(),
        "{:#?}",
        controller.logs()
    );

    // The plugin counted what it did in its own metric.
    let copies = |controller: &Controller, action: &str| {
        controller.metric(&format!(
            "event_controller_plugin_configmap_copies_total{{plugin=\"go_replicator\",action=\"{action}\"}}"
        ))
    };
    assert!(
        copies(&controller, "created") >= 2.0,
        "a1 and b were created"
    );
    assert!(
        copies(&controller, "deleted") >= 1.0,
        "a1's copy was removed"
    );
    assert!(
        copies(&controller, "left_alone") >= 1.0,
        "a2's is someone else's"
    );
    controller.terminate();

    // A restart: everything is delivered again and checked (its reads answered from the
    // watches or the API server, whichever covers them first), and nothing is written.
    server.clear_requests();
    let controller = start(&server);
    let checked_everything = || {
        let unchanged = copies(&controller, "unchanged") >= 1.0;
        let left_alone = copies(&controller, "left_alone") >= 1.0;
        (unchanged && left_alone).then_some(())
    };
    wait::until(PATIENCE, checked_everything, || {
        format!(
            "the restarted controller did not check every copy:\n{:#?}",
            controller.plugin_lines("go_replicator")
        )
    });
    std::thread::sleep(QUIET + Duration::from_secs(1));
    assert_eq!(
        configmap_writes(&server),
        Vec::<String>::new(),
        "{:#?}",
        controller.plugin_lines("go_replicator")
    );
    assert!(copy(&server, "a1").is_none());
    assert_eq!(copy(&server, "b").expect("b's copy")["data"]["k"], "v2");
    assert_eq!(server.object("configmaps", "a2", "shared"), foreign);
}
