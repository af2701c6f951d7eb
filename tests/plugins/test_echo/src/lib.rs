//! Test plugin: logs INFO `{type} {namespace}/{name} rv={resourceVersion}` for every event, so
//! tests can assert the exact sequence a plugin received.

use event_controller_guest::{export_plugin, Event, Outcome};

fn handle_event(event: &Event) -> Outcome {
    match event.head() {
        Ok(head) => Outcome::info(format!(
            "{} {}/{} rv={}",
            head.event_type.as_deref().unwrap_or("?"),
            head.namespace.as_deref().unwrap_or(""),
            head.name.as_deref().unwrap_or("?"),
            head.resource_version.as_deref().unwrap_or("?"),
        )),
        Err(error) => Outcome::error(error.to_string()),
    }
}

export_plugin!(handle_event);
