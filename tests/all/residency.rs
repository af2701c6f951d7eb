//! The code only start-up, the first lists and reloads ran goes back to the kernel
//! (`src/residency.rs`), and the controller runs on as before.

use serde_json::Value;
use support::apiserver::ApiServer;
use support::controller::Controller;
use support::*;

/// The `code pages released` lines logged after `after`.
fn releases(controller: &Controller, after: &str) -> Vec<Value> {
    controller
        .logs()
        .into_iter()
        .filter(|l| {
            str_of(l, "message") == "code pages released to the kernel" && l["after"] == after
        })
        .collect()
}

fn wait_for_release(controller: &Controller, after: &str) -> Value {
    controller.wait_until(&format!("the code pages released after {after}"), |_| {
        !releases(controller, after).is_empty()
    });
    releases(controller, after).remove(0)
}

fn kib(line: &Value, field: &str) -> u64 {
    line[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {line}"))
}

#[test]
fn start_up_the_first_lists_and_a_reload_give_their_code_back_and_events_still_flow() {
    let server = ApiServer::start();
    server.create("pods", &pod_object("shop", "web", "nginx:1"));
    let controller = Controller::start(
        &server,
        &[("LOG_LEVEL", "info,event_controller::residency=debug")],
    );
    controller.wait_for_events(1);

    let start_up = wait_for_release(&controller, "start-up");
    assert!(
        kib(&start_up, "resident_file_kib_after") < kib(&start_up, "resident_file_kib_before"),
        "{start_up}"
    );
    assert!(kib(&start_up, "mappings") >= 2, "{start_up}");
    wait_for_release(&controller, "the first lists");

    // Code paged out comes back when it runs again: the next event is handled as ever.
    server.modify("pods", &pod_object("shop", "web", "nginx:2"));
    controller.wait_for_events(2);

    let digest = std::fs::read(plugin("test_digest")).expect("plugin");
    replace_atomically(&controller.plugins_dir().join("test_digest.wasm"), &digest);
    let reload = wait_for_release(&controller, "a reload");
    assert!(
        kib(&reload, "resident_file_kib_after") < kib(&reload, "resident_file_kib_before"),
        "{reload}"
    );
    server.modify("pods", &pod_object("shop", "web", "nginx:3"));
    controller.wait_for_events(3);
    controller.wait_until("test_digest's event", |_| {
        !controller.plugin_said("test_digest").is_empty()
    });
    let kept: Vec<Value> = controller
        .logs()
        .into_iter()
        .filter(|l| str_of(l, "message").starts_with("code pages kept"))
        .collect();
    assert!(kept.is_empty(), "{kept:#?}");
}
