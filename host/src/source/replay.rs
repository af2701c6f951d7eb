//! Replaying recorded watch events: one JSON event per line, as
//! `kubectl get --raw '/api/v1/pods?watch=1'` prints them.

use crate::dispatch::Dispatcher;
use crate::event::WatchEvent;
use std::io::BufRead;

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Non-blank lines read.
    pub lines: u64,
    /// Events handed to the plugins (ADDED, MODIFIED, DELETED).
    pub delivered: u64,
    /// BOOKMARK and ERROR events, handled by the host and not passed on.
    pub skipped: u64,
    /// Lines that were not watch events; each was logged with its line number.
    pub malformed: u64,
}

/// Reads events from `input` and delivers each to the plugins. Malformed lines are logged with
/// their line number and skipped; only an I/O error ends the replay early.
pub fn replay(
    mut input: impl BufRead,
    dispatcher: &mut Dispatcher,
) -> std::io::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let mut line = Vec::with_capacity(16 << 10);
    let mut number = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(summary);
        }
        number += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        summary.lines += 1;
        match WatchEvent::parse(text.to_vec()) {
            Ok(event) if event.meta().event_type.is_object_change() => {
                dispatcher.deliver(&event);
                summary.delivered += 1;
            }
            Ok(event) => {
                tracing::debug!(line = number, event_type = %event.meta().event_type, "not passed to plugins");
                summary.skipped += 1;
            }
            Err(error) => {
                tracing::error!(line = number, "line {number}: {error}; skipped");
                summary.malformed += 1;
            }
        }
    }
}
