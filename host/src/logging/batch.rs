//! The log writer: lines are formatted on the thread that logs them and appended to one shared
//! buffer, and a background thread writes that buffer out in batches.
//!
//! A line costs its caller a lock and a copy: no allocation, no channel message, and no wake-up
//! unless the writer is asleep. The writer sleeps only when nothing is pending. Woken to a small
//! batch less than [`LINGER`] after its last write (lines are coming fast), it lingers up to
//! [`LINGER`] for more (or until [`BATCH`] bytes are pending), so a burst of events costs one
//! write every few milliseconds.
//!
//! A quiet controller's line (nothing pending, nothing written for [`LINGER`]) is written by the
//! thread that logs it, at once: one `write`, and no wake-up of the writer thread and switch to
//! it for every event of a trickle. A line written so is still in order: the caller takes the
//! destination before it lets go of the buffer, so a batch appended meanwhile waits for it.
//!
//! Nothing is dropped: past [`MAX_PENDING`] bytes, a logging thread waits for the writer, as
//! it would for a slow disk.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::MakeWriter;

/// The longest a line waits for company before it is written.
const LINGER: Duration = Duration::from_millis(2);
/// Pending bytes that are written at once, without lingering.
const BATCH: usize = 64 << 10;
/// Pending bytes past which logging threads wait for the writer.
const MAX_PENDING: usize = 8 << 20;

/// What the logging threads and the writer share.
#[derive(Default)]
struct Pending {
    /// Formatted lines not yet written.
    bytes: Vec<u8>,
    /// The writer is waiting for a first line.
    writer_asleep: bool,
    /// The writer is lingering for more lines.
    writer_lingering: bool,
    /// Logging threads are waiting for room.
    callers_waiting: bool,
    /// No more lines: write what is pending and stop.
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer.
    work: Condvar,
    /// Wakes logging threads waiting for room.
    room: Condvar,
    /// Where lines go. Taken while `pending` is held (by a caller writing its own line) or
    /// after (by the writer thread): never the other way round.
    output: Mutex<Output>,
}

/// The destination, and when it was last written to.
struct Output {
    out: Box<dyn Write + Send>,
    last_write: Instant,
}

impl Output {
    fn write(&mut self, bytes: &[u8]) {
        // Nowhere to report a failing log destination but the destination itself.
        let _ = self.out.write_all(bytes).and_then(|()| self.out.flush());
        self.last_write = Instant::now();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A thread that panicked while holding the lock left whole lines behind.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn new(out: Box<dyn Write + Send>) -> Shared {
        Shared {
            pending: Mutex::default(),
            work: Condvar::new(),
            room: Condvar::new(),
            output: Mutex::new(Output {
                out,
                last_write: Instant::now(),
            }),
        }
    }

    fn output(&self) -> MutexGuard<'_, Output> {
        self.output
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends one formatted line (or part of one) and wakes the writer if it must; writes it
    /// itself when the log is quiet.
    fn append(&self, line: &[u8]) {
        let mut pending = self.lock();
        if let Some(mut output) = self.quiet_output(&pending) {
            drop(pending);
            output.write(line);
            return;
        }
        while pending.bytes.len() >= MAX_PENDING && !pending.closed {
            pending.callers_waiting = true;
            pending = self
                .room
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        pending.bytes.extend_from_slice(line);
        let wake =
            pending.writer_asleep || (pending.writer_lingering && pending.bytes.len() >= BATCH);
        if wake {
            pending.writer_asleep = false;
            pending.writer_lingering = false;
            drop(pending);
            self.work.notify_one();
        }
    }

    /// The destination, if a line can go straight to it: nothing is pending or being written,
    /// the writer thread sleeps, and nothing was written for [`LINGER`].
    fn quiet_output(&self, pending: &Pending) -> Option<MutexGuard<'_, Output>> {
        if !(pending.bytes.is_empty() && pending.writer_asleep) || pending.closed {
            return None;
        }
        let output = self.output.try_lock().ok()?;
        (output.last_write.elapsed() >= LINGER).then_some(output)
    }

    /// The next batch to write, swapped with `spare`; `None` once closed and drained. Lingers
    /// for more lines when the last write was `last_write`, less than [`LINGER`] ago.
    fn next_batch(&self, spare: Vec<u8>, last_write: Instant) -> Option<Vec<u8>> {
        let mut pending = self.lock();
        while pending.bytes.is_empty() && !pending.closed {
            pending.writer_asleep = true;
            pending = self
                .work
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        pending.writer_asleep = false;
        if pending.bytes.len() < BATCH && !pending.closed && last_write.elapsed() < LINGER {
            pending.writer_lingering = true;
            pending = self
                .work
                .wait_timeout(pending, LINGER)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
            pending.writer_lingering = false;
        }
        if pending.bytes.is_empty() {
            return None;
        }
        let batch = std::mem::replace(&mut pending.bytes, spare);
        if std::mem::take(&mut pending.callers_waiting) {
            self.room.notify_all();
        }
        Some(batch)
    }

    fn close(&self) {
        let mut pending = self.lock();
        pending.closed = true;
        drop(pending);
        self.work.notify_one();
        self.room.notify_all();
    }
}

/// Hands lines to the background writer; cloned into the subscriber.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Keeps the background writer running; dropping it writes every pending line and stops it.
pub struct BatchGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread over `out`.
pub fn start(out: impl Write + Send + 'static) -> std::io::Result<(BatchWriter, BatchGuard)> {
    let shared = Arc::new(Shared::new(Box::new(out)));
    let thread = std::thread::Builder::new()
        .name("log-writer".to_owned())
        .spawn({
            let shared = shared.clone();
            move || write_batches(&shared)
        })?;
    Ok((
        BatchWriter {
            shared: shared.clone(),
        },
        BatchGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

/// The writer thread: one `write` (and flush) per batch until closed.
fn write_batches(shared: &Shared) {
    let mut spare = Vec::with_capacity(BATCH);
    loop {
        let last_write = shared.output().last_write;
        let Some(mut batch) = shared.next_batch(spare, last_write) else {
            return;
        };
        shared.output().write(&batch);
        batch.clear();
        spare = batch;
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.shared.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for &BatchWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.shared.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = &'a BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One write: the name of the thread that made it, and its bytes.
    type NamedWrite = (Option<String>, Vec<u8>);

    /// A destination the test can read while the writer runs, noting which thread made each
    /// write.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<NamedWrite>>>);

    impl Sink {
        /// Every write so far.
        fn writes(&self) -> Vec<NamedWrite> {
            self.0.lock().expect("sink").clone()
        }

        /// Every byte written so far, in order.
        fn bytes(&self) -> Vec<u8> {
            let writes = self.0.lock().expect("sink");
            writes.iter().flat_map(|(_, bytes)| bytes.clone()).collect()
        }
    }

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let thread = std::thread::current().name().map(str::to_owned);
            self.0.lock().expect("sink").push((thread, bytes.to_vec()));
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_from_every_thread_is_written_whole_by_the_time_the_guard_drops() {
        let sink = Sink::default();
        let (writer, guard) = start(sink.clone()).expect("writer thread");
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let writer = writer.clone();
                scope.spawn(move || {
                    for i in 0..20_000 {
                        let line = format!("thread {thread} line {i}\n");
                        (&writer).write_all(line.as_bytes()).expect("append");
                    }
                });
            }
        });
        drop(guard);
        let text = String::from_utf8(sink.bytes()).expect("utf8");
        assert_eq!(text.lines().count(), 80_000);
        for thread in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|line| line.starts_with(&format!("thread {thread} ")))
                .collect();
            assert_eq!(mine.len(), 20_000);
            assert!(mine
                .iter()
                .enumerate()
                .all(|(i, line)| line.ends_with(&format!(" line {i}"))));
        }
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let sink = Sink::default();
        let (writer, _guard) = start(sink.clone()).expect("writer thread");
        (&writer).write_all(b"alone\n").expect("append");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.bytes() != b"alone\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "the line was never written"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_quiet_log_is_written_by_the_caller_and_a_burst_in_batches() {
        let sink = Sink::default();
        let (writer, guard) = start(sink.clone()).expect("writer thread");
        while !writer.shared.lock().writer_asleep {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(LINGER * 2);
        (&writer).write_all(b"quiet\n").expect("append");
        let me = std::thread::current().name().map(str::to_owned);
        assert_eq!(
            sink.writes(),
            [(me, b"quiet\n".to_vec())],
            "written at once, by the caller"
        );
        for i in 0..2_000 {
            (&writer)
                .write_all(format!("burst {i}\n").as_bytes())
                .expect("append");
        }
        drop(guard);
        let (writes, text) = (sink.writes(), sink.bytes());
        let lines: Vec<&str> = std::str::from_utf8(&text).expect("utf8").lines().collect();
        assert_eq!(lines.len(), 2_001);
        assert!(lines[1..]
            .iter()
            .enumerate()
            .all(|(i, line)| *line == format!("burst {i}")));
        assert!(
            writes.len() < 100,
            "{} writes for 2,001 lines",
            writes.len()
        );
    }

    #[test]
    fn callers_wait_for_room_instead_of_dropping_lines() {
        /// A destination slower than the callers.
        struct Slow(Sink);
        impl Write for Slow {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_millis(5));
                self.0.write(bytes)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let (writer, guard) = start(Slow(sink.clone())).expect("writer thread");
        let line = vec![b'x'; 1 << 20];
        for _ in 0..24 {
            (&writer).write_all(&line).expect("append");
        }
        drop(guard);
        assert_eq!(sink.bytes().len(), 24 << 20);
    }
}
