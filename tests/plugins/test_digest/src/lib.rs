//! Test plugin: logs INFO `len={bytes} fnv1a64={hex}` of the exact bytes it received, so tests
//! can check that plugins get the API server's bytes, unchanged.

use event_controller_guest::{export_plugin, Event, Outcome};

/// FNV-1a, 64 bits: small, and the test computes the same over the recorded line.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn handle_event(event: &Event) -> Outcome {
    let raw = event.raw().as_bytes();
    Outcome::info(format!("len={} fnv1a64={:016x}", raw.len(), fnv1a64(raw)))
}

export_plugin!(handle_event);
