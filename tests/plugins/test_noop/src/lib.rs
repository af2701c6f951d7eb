//! Test plugin: returns `Outcome::none()` without reading the event (measures the host's overhead).

use event_controller_guest::{export_plugin, Event, Outcome};

fn handle_event(_event: &Event) -> Outcome {
    Outcome::none()
}

export_plugin!(handle_event);
