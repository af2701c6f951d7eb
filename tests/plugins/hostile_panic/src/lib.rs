//! Hostile test plugin: `handle_event` panics with `hostile_panic: deliberate panic on {name}` (`?` without a name) on every event.

use event_controller_guest::{export_plugin, Event, Outcome};

fn handle_event(event: &Event) -> Outcome {
    let name = event.name().unwrap_or("?");
    panic!("hostile_panic: deliberate panic on {name}");
}

export_plugin!(handle_event);
