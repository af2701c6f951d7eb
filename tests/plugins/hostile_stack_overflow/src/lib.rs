//! Hostile test plugin: `handle_event` recurses without bound until the stack overflows (a trap): wasm's own call stack by default, the linear-memory stack (256-byte frames) with the config `{"shadow_stack": true}`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

use event_controller_guest::{export_plugin, Config, Event, Outcome};
use serde::Deserialize;

#[derive(Deserialize)]
struct Settings {
    #[serde(default)]
    shadow_stack: bool,
}

static SHADOW_STACK: AtomicBool = AtomicBool::new(false);

/// Small frames that live in wasm locals, so the engine's call-stack limit is hit first.
///
/// The exit condition and the result are hidden from the optimizer by `black_box`, so the
/// recursion can be neither removed nor turned into a loop.
#[inline(never)]
fn recurse_in_locals(depth: u64) -> u64 {
    if black_box(depth == u64::MAX) {
        return depth;
    }
    black_box(recurse_in_locals(depth + 1)).rotate_left(7) ^ depth
}

/// 256-byte frames in linear memory (the `__stack_pointer` stack), so that stack overflows first.
#[inline(never)]
fn recurse_in_memory(depth: u64) -> u64 {
    let mut frame = [0u8; 256];
    frame[(depth % 256) as usize] = depth as u8;
    black_box(&mut frame);
    if black_box(depth == u64::MAX) {
        return depth;
    }
    let below = black_box(recurse_in_memory(black_box(depth + 1)));
    below.wrapping_add(u64::from(frame[0]))
}

fn init(config: Config) -> Result<(), String> {
    let settings: Settings = config
        .parse()
        .map_err(|error| format!("hostile_stack_overflow: bad config: {error}"))?;
    SHADOW_STACK.store(settings.shadow_stack, Ordering::Relaxed);
    Ok(())
}

fn handle_event(_event: &Event) -> Outcome {
    let depth = if SHADOW_STACK.load(Ordering::Relaxed) {
        recurse_in_memory(black_box(0))
    } else {
        recurse_in_locals(black_box(0))
    };
    Outcome::info(format!("hostile_stack_overflow: returned at depth {depth}"))
}

export_plugin!(handle_event, init = init);
