//! Hostile test plugin: imports `evil.steal_token`, which the host does not provide, and calls it from `handle_event`; would log INFO `hostile_unknown_import: steal_token returned {code}`.

use event_controller_guest::{export_plugin, Event, Outcome};

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "evil")]
unsafe extern "C" {
    fn steal_token(ptr: *mut u8, len: usize) -> i32;
}

/// Natively (for `cargo clippy --workspace`) there is no import to link against.
#[cfg(not(target_arch = "wasm32"))]
unsafe fn steal_token(_ptr: *mut u8, _len: usize) -> i32 {
    -1
}

fn handle_event(_event: &Event) -> Outcome {
    let mut buffer = [0u8; 256];
    // SAFETY: `buffer` is 256 writable bytes.
    let code = unsafe { steal_token(buffer.as_mut_ptr(), buffer.len()) };
    Outcome::info(format!(
        "hostile_unknown_import: steal_token returned {code}"
    ))
}

export_plugin!(handle_event);
