//! Replaying recorded watch events: one JSON event per line, as
//! `kubectl get --raw '/api/v1/pods?watch=1'` prints them.

use crate::event::WatchEvent;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::Read;

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

/// The size of the blocks lines are read into: each line is cut out of its block, sharing it,
/// instead of getting an allocation of its own.
const BLOCK: usize = 1 << 20;

/// Reads events from `input` and hands each object change to `deliver` (the `replay` command
/// hands them to the dispatcher). Malformed lines are logged
/// with their line number and skipped; only an I/O error ends the replay early.
///
/// `input` is read straight into shared blocks, each read taking what is available (a pipe's
/// events are not held back to fill a block); only a line that straddles two blocks is copied.
pub fn replay(
    mut input: impl Read,
    mut deliver: impl FnMut(&WatchEvent),
) -> std::io::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let mut number = 0u64;
    let mut blocks = Blocks::default();
    let mut block = blocks.next(&[]);
    // `block[..filled]` has been read and not cut into lines yet; `block[..searched]` of it
    // has no newline.
    let mut filled = 0;
    let mut searched = 0;
    loop {
        if filled == block.len() {
            let partial = block.split_to(filled);
            blocks.retire(block);
            block = blocks.next(&partial);
        }
        let read = match input.read(&mut block[filled..]) {
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if read == 0 {
            if filled > 0 {
                number += 1;
                take_line(
                    block.split_to(filled).freeze(),
                    number,
                    &mut summary,
                    &mut deliver,
                );
            }
            return Ok(summary);
        }
        filled += read;
        while let Some(newline) = memchr::memchr(b'\n', &block[searched..filled]) {
            let end = searched + newline + 1;
            let line = block.split_to(end).freeze();
            filled -= end;
            searched = 0;
            number += 1;
            take_line(line, number, &mut summary, &mut deliver);
        }
        searched = filled;
    }
}

/// At most this many used blocks wait to be reused.
const RETIRED: usize = 32;

/// The blocks lines are read into. A full block is retired, and reused once every line cut
/// from it has been dropped (the plugins are done with them): memory the process already has,
/// instead of a fresh allocation and its page faults for every megabyte read.
#[derive(Default)]
struct Blocks {
    /// Full blocks, oldest first, each an empty handle on its allocation.
    retired: VecDeque<BytesMut>,
}

impl Blocks {
    /// A block beginning with `partial`, the start of a line the last block could not hold
    /// whole (a line longer than a block gets a block twice its length).
    fn next(&mut self, partial: &[u8]) -> BytesMut {
        let size = BLOCK.max(2 * partial.len());
        let reclaimed = self
            .retired
            .front_mut()
            .is_some_and(|oldest| oldest.try_reclaim(size));
        let mut block = match reclaimed.then(|| self.retired.pop_front()).flatten() {
            Some(reused) => full_length(reused, size),
            None => BytesMut::zeroed(size),
        };
        block[..partial.len()].copy_from_slice(partial);
        block
    }

    /// `block` is full: reuse it once its lines are dropped.
    fn retire(&mut self, mut block: BytesMut) {
        block.clear();
        if self.retired.len() == RETIRED {
            // Plugins hold on to lines from far back: let that block go with its last line.
            self.retired.pop_front();
        }
        self.retired.push_back(block);
    }
}

/// A reclaimed block, empty, at `size` bytes without writing them: zeroing a megabyte for every
/// megabyte read was a tenth of the reader's time.
#[allow(unsafe_code)]
fn full_length(mut reclaimed: BytesMut, size: usize) -> BytesMut {
    assert!(reclaimed.is_empty() && reclaimed.capacity() >= size);
    // SAFETY: every block is allocated zeroed (`BytesMut::zeroed` in `Blocks::next`), and bytes
    // once written stay initialized; `try_reclaim` succeeded, which it does only without
    // allocating, so the block's first `size` bytes lie within that zeroed allocation.
    unsafe { reclaimed.set_len(size) };
    reclaimed
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

    /// A reader that hands out at most `capacity` bytes per read, like a pipe.
    struct Trickle<'a> {
        text: &'a [u8],
        capacity: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.capacity).min(self.text.len());
            buf[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            Ok(n)
        }
    }

    fn line(name: &str) -> String {
        format!(
            r#"{{"type":"ADDED","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"ns"}}}}}}"#
        )
    }

    /// Every event of `text`, read at most `capacity` bytes at a time.
    fn replayed(text: &str, capacity: usize) -> (Vec<String>, ReplaySummary) {
        let mut names = Vec::new();
        let input = Trickle {
            text: text.as_bytes(),
            capacity,
        };
        let summary =
            replay(input, |event| names.push(event.meta().name().to_owned())).expect("read");
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

    #[test]
    fn lines_that_straddle_blocks_come_whole_and_in_order() {
        let names: Vec<String> = (0..30_000).map(|i| format!("pod-{i:05}")).collect();
        let text: String = names.iter().map(|name| line(name) + "\n").collect();
        assert!(text.len() > 2 * BLOCK);
        for capacity in [1000, BLOCK] {
            let (read, summary) = replayed(&text, capacity);
            assert_eq!(read, names, "reads of {capacity}");
            assert_eq!(summary.delivered, 30_000);
        }
    }

    #[test]
    fn a_block_is_reused_once_its_lines_are_dropped_and_not_before() {
        let mut blocks = Blocks::default();
        let mut first = blocks.next(b"");
        let address = first.as_ptr();
        let held = first.split_to(10).freeze();
        blocks.retire(first);
        let second = blocks.next(b"start");
        assert_ne!(
            second.as_ptr(),
            address,
            "a line still uses the first block"
        );
        assert_eq!(&second[..5], b"start");
        drop(held);
        let third = blocks.next(b"again");
        assert_eq!(third.as_ptr(), address, "the first block is free again");
        assert_eq!(third.len(), BLOCK);
        assert_eq!(&third[..5], b"again");
    }
}
