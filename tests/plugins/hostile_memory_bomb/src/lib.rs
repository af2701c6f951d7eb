//! Hostile test plugin: `handle_event` allocates 1 MiB chunks, fills every byte and keeps them all, until allocation fails (an abort, so a trap).

use std::hint::black_box;

use event_controller_guest::{export_plugin, Event, Outcome};

const CHUNK: usize = 1 << 20;

fn handle_event(_event: &Event) -> Outcome {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    let mut fill: u8 = 0;
    loop {
        fill = fill.wrapping_add(1);
        let mut chunk = Vec::with_capacity(CHUNK);
        // Writes every byte, so the memory is really used, not just reserved.
        chunk.resize(CHUNK, black_box(fill));
        hoard.push(black_box(chunk));
        black_box(&mut hoard);
    }
}

export_plugin!(handle_event);
