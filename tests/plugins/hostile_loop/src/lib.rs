//! Hostile test plugin: `handle_event` spins forever; with the config `{"loop_in_init": true}`, `init` spins forever instead.

use std::hint::black_box;

use event_controller_guest::{export_plugin, Config, Event, Outcome};
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    #[serde(default)]
    loop_in_init: bool,
}

/// Counts forever; `black_box` keeps the optimizer from removing or shortening the loop.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

fn init(config: Config) -> Result<(), String> {
    let settings: Settings = config
        .parse()
        .map_err(|error| format!("hostile_loop: bad config: {error}"))?;
    if settings.loop_in_init {
        spin();
    }
    Ok(())
}

fn handle_event(_event: &Event) -> Outcome {
    spin()
}

export_plugin!(handle_event, init = init);
