//! Test plugin: logs WARN `host log from {name}` through the host's `log` import, then returns INFO `logged`.

use event_controller_guest::{export_plugin, log, Event, Outcome};

fn handle_event(event: &Event) -> Outcome {
    log::warn(&format!(
        "host log from {}",
        event.name().unwrap_or_default()
    ));
    Outcome::info("logged")
}

export_plugin!(handle_event);
