//! Test plugin: parses the whole event into a `serde_json::Value`, logs INFO `Kind: {kind}; Name: {name}` (ERROR if one is missing).

use event_controller_guest::{export_plugin, Event, Outcome};

fn handle_event(event: &Event) -> Result<Outcome, event_controller_guest::Error> {
    let value = event.value()?;
    let object = &value["object"];
    Ok(
        match (object["kind"].as_str(), object["metadata"]["name"].as_str()) {
            (Some(kind), Some(name)) => Outcome::info(format!("Kind: {kind}; Name: {name}")),
            (None, _) => Outcome::error("event has no object.kind"),
            (_, None) => Outcome::error("event has no object.metadata.name"),
        },
    )
}

export_plugin!(handle_event);
