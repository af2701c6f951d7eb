//! Test plugin: busy for `{"spin": N}` rounds of arithmetic per event (from `init`; default 0), then logs INFO `{type} {namespace}/{name} rv={resourceVersion}` like `test_echo`.

use std::hint::black_box;
use std::sync::OnceLock;

use event_controller_guest::{export_plugin, Config, Event, Outcome};
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct Settings {
    #[serde(default)]
    spin: u64,
}

static SPIN: OnceLock<u64> = OnceLock::new();

fn init(config: Config) -> Result<(), String> {
    let settings: Settings = config
        .parse()
        .map_err(|_| "config `spin` must be a number of rounds".to_string())?;
    let _ = SPIN.set(settings.spin);
    Ok(())
}

/// Burns CPU for `rounds` rounds, in a way the optimiser cannot skip.
fn spin(rounds: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..rounds {
        x = black_box(x.rotate_left(5) ^ x.wrapping_mul(31));
    }
    x
}

fn handle_event(event: &Event) -> Outcome {
    black_box(spin(SPIN.get().copied().unwrap_or(0)));
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

export_plugin!(handle_event, init = init);
