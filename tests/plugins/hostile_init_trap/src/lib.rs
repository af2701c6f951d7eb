//! Hostile test plugin: `init` panics with `hostile_init_trap: deliberate panic in init` (a trap) every time; `handle_event` would log INFO `hostile_init_trap handled`.

use event_controller_guest::{export_plugin, Config, Event, Outcome};

fn init(_config: Config) -> Result<(), String> {
    panic!("hostile_init_trap: deliberate panic in init");
}

fn handle_event(_event: &Event) -> Outcome {
    Outcome::info("hostile_init_trap handled")
}

export_plugin!(handle_event, init = init);
