//! Replaying recorded watch events: one JSON event per line, as
//! `kubectl get --raw '/api/v1/pods?watch=1'` prints them.

use crate::event::WatchEvent;
use bytes::{Bytes, BytesMut};
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

/// How much room the line buffer makes at a time: lines are cut out of blocks of this size,
/// sharing them, instead of each getting its own allocation.
const BLOCK: usize = 1 << 20;

/// Reads events from `input` and hands each object change to `deliver` (the `replay` command
/// hands them to the dispatcher). Malformed lines are logged
/// with their line number and skipped; only an I/O error ends the replay early.
///
/// What `input` has buffered is taken as it comes (a pipe's events are not held back to fill
/// a block) and copied once into a shared block, out of which each line is cut without a copy.
pub fn replay(
    mut input: impl BufRead,
    mut deliver: impl FnMut(&WatchEvent),
) -> std::io::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let mut number = 0u64;
    let mut pending = BytesMut::new();
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            if !pending.is_empty() {
                number += 1;
                take_line(pending.split().freeze(), number, &mut summary, &mut deliver);
            }
            return Ok(summary);
        }
        let taken = available.len();
        if pending.capacity() - pending.len() < taken {
            pending.reserve(taken.max(BLOCK));
        }
        let mut searched = pending.len();
        pending.extend_from_slice(available);
        input.consume(taken);
        while let Some(newline) = memchr::memchr(b'\n', &pending[searched..]) {
            let line = pending.split_to(searched + newline + 1).freeze();
            searched = 0;
            number += 1;
            take_line(line, number, &mut summary, &mut deliver);
        }
    }
}

/// One line: delivered, skipped or counted as malformed.
fn take_line(
    line: Bytes,
    number: u64,
    summary: &mut ReplaySummary,
    deliver: &mut impl FnMut(&WatchEvent),
) {
    let Some(text) = trimmed(line) else {
        return;
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

/// The line without surrounding whitespace (and its newline), sharing the buffer; `None` if blank.
fn trimmed(line: Bytes) -> Option<Bytes> {
    let start = line.iter().position(|b| !b.is_ascii_whitespace())?;
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace())? + 1;
    Some(line.slice(start..end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn line(name: &str) -> String {
        format!(
            r#"{{"type":"ADDED","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"ns"}}}}}}"#
        )
    }

    /// Every event of `text`, read through a buffer of `capacity` bytes.
    fn replayed(text: &str, capacity: usize) -> (Vec<String>, ReplaySummary) {
        let mut names = Vec::new();
        let input = BufReader::with_capacity(capacity, text.as_bytes());
        let summary = replay(input, |event| names.push(event.meta().name.clone())).expect("read");
        (names, summary)
    }

    #[test]
    fn lines_cut_across_reads_come_whole_and_in_order() {
        let text = format!(
            "{}\n\n  {}\r\n{{\"type\":\"BOOKMARK\",\"object\":{{\"kind\":\"Pod\",\"metadata\":{{\"name\":\"b\"}}}}}}\nnot json\n{}",
            line("a"),
            line("b"),
            line("c")
        );
        for capacity in [1, 7, 64, 1 << 16] {
            let (names, summary) = replayed(&text, capacity);
            assert_eq!(names, ["a", "b", "c"], "buffer of {capacity}");
            assert_eq!(
                summary,
                ReplaySummary {
                    lines: 5,
                    delivered: 3,
                    skipped: 1,
                    malformed: 1
                },
                "buffer of {capacity}"
            );
        }
    }

    #[test]
    fn a_line_longer_than_a_block_is_read_whole() {
        let long = line(&"x".repeat(3 * BLOCK));
        let (names, _) = replayed(&format!("{long}\n{}\n", line("after")), 8 << 10);
        assert_eq!(names.len(), 2);
        assert_eq!(names[0].len(), 3 * BLOCK);
        assert_eq!(names[1], "after");
    }
}
