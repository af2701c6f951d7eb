//! Test plugin: panics (a trap) when `object.metadata.name` starts with "crash", else INFO `ok {name}` (ERROR if the name is missing).

use event_controller_guest::{export_plugin, Event, Outcome};

fn handle_event(event: &Event) -> Outcome {
    match event.name() {
        Some(name) if name.starts_with("crash") => panic!("asked to crash by {name}"),
        Some(name) => Outcome::info(format!("ok {name}")),
        None => Outcome::error("event has no object.metadata.name"),
    }
}

export_plugin!(handle_event);
