//! Replaying recorded watch events: one JSON event per line, as
//! `kubectl get --raw '/api/v1/pods?watch=1'` prints them.

use crate::event::WatchEvent;
use bytes::Bytes;
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

/// Reads events from `input` and hands each object change to `deliver` (the `replay` command
/// hands them to the dispatcher). Malformed lines are logged
/// with their line number and skipped; only an I/O error ends the replay early.
pub fn replay(
    mut input: impl BufRead,
    mut deliver: impl FnMut(&WatchEvent),
) -> std::io::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let mut number = 0u64;
    loop {
        let mut line = Vec::with_capacity(16 << 10);
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(summary);
        }
        number += 1;
        let Some(text) = trimmed(Bytes::from(line)) else {
            continue;
        };
        summary.lines += 1;
        match WatchEvent::parse(text) {
            Ok(event) if event.meta().event_type.is_object_change() => {
                deliver(&event);
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

/// The line without surrounding whitespace (and its newline), sharing the buffer; `None` if blank.
fn trimmed(line: Bytes) -> Option<Bytes> {
    let start = line.iter().position(|b| !b.is_ascii_whitespace())?;
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace())? + 1;
    Some(line.slice(start..end))
}
