//! Hostile test plugin: `handle_event` executes the wasm `unreachable` instruction directly (no panic, no message).

use event_controller_guest::{export_plugin, Event, Outcome};

fn handle_event(_event: &Event) -> Outcome {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    // Natively (for `cargo clippy --workspace`) there is no wasm instruction to run.
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

export_plugin!(handle_event);
