//! Test plugin (wasm32-wasip1): prints `stdout line for {name}` to stdout and `stderr line` to stderr; returns no outcome.

use event_controller_guest::{export_plugin, Event, Outcome};

fn handle_event(event: &Event) -> Outcome {
    println!("stdout line for {}", event.name().unwrap_or_default());
    eprintln!("stderr line");
    Outcome::none()
}

export_plugin!(handle_event);
