//! Test plugin: `init` requires the config `{"greeting": string}` (else refuses: "config needs a string `greeting`"); logs INFO `{greeting} {kind}/{name}`.

use std::sync::OnceLock;

use event_controller_guest::{export_plugin, Config, Event, Outcome};
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    greeting: String,
}

static GREETING: OnceLock<String> = OnceLock::new();

fn init(config: Config) -> Result<(), String> {
    let settings: Settings = config
        .parse()
        .map_err(|_| "config needs a string `greeting`".to_string())?;
    let _ = GREETING.set(settings.greeting);
    Ok(())
}

fn handle_event(event: &Event) -> Outcome {
    let Some(greeting) = GREETING.get() else {
        return Outcome::error("no greeting: init did not run");
    };
    let kind = event.kind().unwrap_or_default();
    let name = event.name().unwrap_or_default();
    Outcome::info(format!("{greeting} {kind}/{name}"))
}

export_plugin!(handle_event, init = init);
