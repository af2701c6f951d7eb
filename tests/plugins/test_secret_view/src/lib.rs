//! Test plugin: logs INFO `{name} data={data} stringData={stringData} lastApplied={annotation}`, each the compact JSON it received (`null` when absent).

use event_controller_guest::{export_plugin, Event, Outcome};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn handle_event(event: &Event) -> Result<Outcome, event_controller_guest::Error> {
    let value = event.value()?;
    let object = &value["object"];
    Ok(Outcome::info(format!(
        "{} data={} stringData={} lastApplied={}",
        object["metadata"]["name"].as_str().unwrap_or("?"),
        object["data"],
        object["stringData"],
        object["metadata"]["annotations"][LAST_APPLIED],
    )))
}

export_plugin!(handle_event);
