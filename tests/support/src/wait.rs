//! Waiting for something to happen. Every wait of the tests and their support polls through
//! here: a probe called every [`POLL`] until it finds what it looks for, or until the wait's
//! patience runs out.
//!
//! ```ignore
//! let line = wait::until(
//!     PATIENCE,
//!     || controller.logs().into_iter().find(|l| l["message"] == "listed"),
//!     || format!("nothing listed:\n{:#?}", controller.logs()),
//! );
//! ```
//!
//! A probe for a condition returns `cond.then_some(())`. A probe may panic itself, for what
//! must never be seen while waiting (two leaders at once, say).

use std::time::{Duration, Instant};

/// How often a wait looks again.
pub const POLL: Duration = Duration::from_millis(20);

/// Calls `probe` every [`POLL`] until it returns `Some`, and returns that. Panics once
/// `patience` has passed, with how long it waited and `describe()`: what was expected and what
/// was seen (the controller's log, say).
#[track_caller]
pub fn until<T>(
    patience: Duration,
    probe: impl FnMut() -> Option<T>,
    describe: impl FnOnce() -> String,
) -> T {
    until_every(POLL, patience, probe, describe)
}

/// Like [`until`], but `None` once `patience` has passed, for callers that report their own
/// failure (or for whom a timeout is an answer).
pub fn within<T>(patience: Duration, probe: impl FnMut() -> Option<T>) -> Option<T> {
    within_every(POLL, patience, probe)
}

/// [`until`] looking every `interval` instead of every [`POLL`]: for a wait that measures how
/// long something takes, to a finer grain than [`POLL`].
#[track_caller]
pub fn until_every<T>(
    interval: Duration,
    patience: Duration,
    probe: impl FnMut() -> Option<T>,
    describe: impl FnOnce() -> String,
) -> T {
    match within_every(interval, patience, probe) {
        Some(found) => found,
        None => panic!("waited {patience:?}: {}", describe()),
    }
}

/// [`within`] looking every `interval` instead of every [`POLL`]. The probe is called at least
/// once, and a last time once `patience` has passed.
pub fn within_every<T>(
    interval: Duration,
    patience: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if start.elapsed() >= patience {
            return None;
        }
        std::thread::sleep(interval);
    }
}
