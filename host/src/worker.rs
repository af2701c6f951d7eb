//! One thread per plugin: its bounded queue, its calls, its failures and its back-off.
//!
//! A worker takes events from its queue in order, so each plugin sees every object's events in
//! the order the source produced them. A slow or stuck plugin only fills its own queue; its
//! deadline bounds how long one event can take. A plugin whose instance dies (trap, timeout,
//! limit, failed restart) [`TOLERATED_FAILURES`] times in a row is backed off: its events are
//! skipped (counted and logged) for a delay that doubles with each further failure, from
//! [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`]. The next event after the delay is tried again, and
//! one success ends the back-off. A bad result keeps the instance, costs nothing to retry, and
//! is only logged and counted.

use crate::event::WatchEvent;
use crate::logging;
use crate::metrics::{FailureKind, Metrics};
use crate::plugin::{CallError, Plugin};
use crate::subscription::Subscription;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Consecutive failures before a plugin is backed off.
pub const TOLERATED_FAILURES: u32 = 3;
/// The first back-off; each further failure doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Events queued for one plugin unless its config says otherwise.
pub const DEFAULT_QUEUE_SIZE: usize = 1024;

/// What one worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerStats {
    /// Calls that returned normally.
    pub calls: u64,
    /// Calls that failed.
    pub failures: u64,
    /// Events skipped while backed off.
    pub skipped: u64,
}

/// The state shared between a worker's thread and its owner.
struct Shared {
    plugin: Arc<str>,
    metrics: Arc<Metrics>,
    stopping: Arc<AtomicBool>,
    /// Events queued or in flight (the queue depth metric).
    pending: Mutex<usize>,
    /// Signalled when `pending` drops to zero.
    idle: Condvar,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, usize> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more event queued.
    fn queued(&self) {
        let mut pending = self.pending();
        *pending += 1;
        self.metrics.set_queue_depth(&self.plugin, *pending);
    }

    /// One event handled, skipped or given up.
    fn done(&self) {
        let mut pending = self.pending();
        *pending = pending.saturating_sub(1);
        self.metrics.set_queue_depth(&self.plugin, *pending);
        if *pending == 0 {
            self.idle.notify_all();
        }
    }
}

/// A plugin on its own thread.
pub struct Worker {
    shared: Arc<Shared>,
    queue: SyncSender<Job>,
    thread: JoinHandle<WorkerStats>,
    allow_secrets: bool,
    subscription: Subscription,
}

/// What a worker's queue carries.
enum Job {
    /// An event for the plugin.
    Event(WatchEvent),
    /// A new version of the plugin (or the same module with a new config): every event queued
    /// before it goes to the old one, every event after it to the new one.
    Replace(Box<Plugin>),
}

/// How a worker is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerOptions {
    /// Events queued before [`Worker::send`] blocks (fixed for the worker's life).
    pub queue_size: usize,
    /// Whether the plugin sees Secrets' data.
    pub allow_secrets: bool,
    /// Which events the plugin sees.
    pub subscription: Subscription,
}

impl Default for WorkerOptions {
    fn default() -> WorkerOptions {
        WorkerOptions {
            queue_size: DEFAULT_QUEUE_SIZE,
            allow_secrets: false,
            subscription: Subscription::all(),
        }
    }
}

impl Worker {
    /// Starts `plugin` on a thread named after it. `stopping` set: the worker ends after the
    /// event in flight.
    pub fn start(
        plugin: Plugin,
        options: WorkerOptions,
        metrics: Arc<Metrics>,
        stopping: Arc<AtomicBool>,
    ) -> std::io::Result<Worker> {
        let shared = Arc::new(Shared {
            plugin: plugin.name().into(),
            metrics,
            stopping,
            pending: Mutex::new(0),
            idle: Condvar::new(),
        });
        let (queue, events) = sync_channel(options.queue_size.max(1));
        let thread = std::thread::Builder::new()
            .name(format!("plugin {}", plugin.name()))
            .spawn({
                let shared = shared.clone();
                move || run(plugin, &events, &shared)
            })?;
        Ok(Worker {
            shared,
            queue,
            thread,
            allow_secrets: options.allow_secrets,
            subscription: options.subscription,
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.shared.plugin
    }

    /// Whether the plugin sees Secrets' data.
    pub fn allows_secrets(&self) -> bool {
        self.allow_secrets
    }

    /// Whether the plugin subscribed to `event`.
    pub fn wants(&self, event: &WatchEvent) -> bool {
        self.subscription.matches(event)
    }

    /// Queues `event`, waiting while the queue is full (backpressure, never a drop). False when
    /// the worker has ended.
    pub fn send(&self, event: WatchEvent) -> bool {
        self.enqueue(Job::Event(event))
    }

    /// Queues a switch to `plugin` behind the events already queued, and applies `options`
    /// (except the queue size) to the events queued from now on.
    pub fn replace(&mut self, plugin: Plugin, options: WorkerOptions) -> bool {
        self.allow_secrets = options.allow_secrets;
        self.subscription = options.subscription;
        self.enqueue(Job::Replace(Box::new(plugin)))
    }

    fn enqueue(&self, job: Job) -> bool {
        self.shared.queued();
        let sent = self.queue.send(job).is_ok();
        if !sent {
            self.shared.done();
        }
        sent
    }

    /// Waits until everything queued so far has been handled.
    pub fn wait_idle(&self) {
        let pending = self.shared.pending();
        let _idle = self
            .shared
            .idle
            .wait_while(pending, |pending| *pending > 0)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Closes the queue and waits until the worker has handled (or, when stopping, left) what
    /// was queued.
    pub fn finish(self) -> WorkerStats {
        drop(self.queue);
        self.thread.join().unwrap_or_else(|_| {
            tracing::error!(plugin = %self.shared.plugin, "plugin worker thread panicked");
            WorkerStats::default()
        })
    }
}

/// The worker's loop: one event at a time, in queue order.
fn run(mut plugin: Plugin, jobs: &Receiver<Job>, shared: &Shared) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let mut backoff = Backoff::default();
    while let Ok(job) = jobs.recv() {
        if shared.stopping.load(Ordering::Relaxed) {
            shared.done();
            break;
        }
        match job {
            Job::Replace(new) => {
                switch(&mut plugin, *new, shared);
                backoff = Backoff::default();
            }
            Job::Event(_) if backoff.skips(Instant::now()) => {
                stats.skipped += 1;
                shared.metrics.plugin_dropped(&shared.plugin, "backoff");
            }
            Job::Event(event) => handle(&mut plugin, &event, shared, &mut backoff, &mut stats),
        }
        shared.done();
    }
    stats
}

/// Puts `new` in place of `plugin`, between two events, and says so.
fn switch(plugin: &mut Plugin, new: Plugin, shared: &Shared) {
    let old = std::mem::replace(plugin, new);
    shared.metrics.plugin_reloaded(&shared.plugin);
    tracing::info!(
        plugin = %shared.plugin,
        old_sha256 = old.sha256(),
        new_sha256 = plugin.sha256(),
        compile_ms = %format_args!("{:.1}", plugin.compile_time().as_secs_f64() * 1e3),
        cache = ?plugin.cache_status(),
        "plugin reloaded: the next event goes to the new version"
    );
}

/// One call: its outcome or failure logged, counted and timed.
fn handle(
    plugin: &mut Plugin,
    event: &WatchEvent,
    shared: &Shared,
    backoff: &mut Backoff,
    stats: &mut WorkerStats,
) {
    let started = Instant::now();
    let result = plugin.handle_event(event.raw());
    let metrics = &shared.metrics;
    metrics.plugin_call(&shared.plugin, started.elapsed().as_secs_f64());
    match result {
        Ok(outcome) => {
            stats.calls += 1;
            if let Some(outcome) = outcome {
                logging::plugin_outcome(&shared.plugin, event.meta(), &outcome);
            }
            if let Some(recovered) = backoff.succeeded() {
                tracing::info!(
                    plugin = %shared.plugin,
                    failures = recovered.failures,
                    skipped = recovered.skipped,
                    "plugin works again after {} failures in a row; {} events were skipped meanwhile",
                    recovered.failures,
                    recovered.skipped
                );
            }
        }
        Err(error) => {
            stats.failures += 1;
            metrics.plugin_failure(&shared.plugin, failure_kind(&error));
            log_failure(&shared.plugin, event, &error);
            // A bad result costs nothing to retry; a dead instance costs a restart.
            let fatal = error.poisons_instance() || matches!(error, CallError::Restart(_));
            if let Some(delay) = fatal.then(|| backoff.failed(Instant::now())).flatten() {
                tracing::warn!(
                    plugin = %shared.plugin,
                    failures = backoff.consecutive,
                    backoff_ms = delay.as_millis() as u64,
                    "plugin failed {} times in a row; its events are skipped for {delay:?}, then it is tried again",
                    backoff.consecutive
                );
            }
        }
    }
}

fn log_failure(plugin: &str, event: &WatchEvent, error: &CallError) {
    let meta = event.meta();
    let next = if error.poisons_instance() {
        "; it gets a fresh instance for the next event"
    } else {
        ""
    };
    tracing::error!(
        plugin,
        failure = failure_kind(error).as_str(),
        event_type = meta.event_type.as_str(),
        kind = meta.kind.as_str(),
        namespace = meta.namespace.as_deref().unwrap_or(""),
        name = meta.name.as_str(),
        "plugin failed on {} {} {}: {error}{next}",
        meta.event_type,
        meta.kind,
        meta.object_ref(),
    );
}

/// The metric label of a failed call.
pub fn failure_kind(error: &CallError) -> FailureKind {
    match error {
        CallError::Trap(_) => FailureKind::Trap,
        CallError::Timeout(_) => FailureKind::Timeout,
        CallError::OutOfFuel(_) => FailureKind::Fuel,
        CallError::Limit(_) => FailureKind::Memory,
        CallError::StackOverflow => FailureKind::Stack,
        CallError::BadAlloc { .. } => FailureKind::BadAlloc,
        CallError::BadResult(_) => FailureKind::BadResult,
        CallError::Restart(_) => FailureKind::Restart,
    }
}

/// Consecutive failures and the back-off they earned.
#[derive(Debug, Default)]
struct Backoff {
    consecutive: u32,
    until: Option<Instant>,
    skipped: u64,
}

/// How a backed-off plugin came back.
#[derive(Debug, PartialEq, Eq)]
struct Recovered {
    failures: u32,
    skipped: u64,
}

impl Backoff {
    /// Records a failure; the delay when it starts (or extends) a back-off.
    fn failed(&mut self, now: Instant) -> Option<Duration> {
        self.consecutive += 1;
        let over = self.consecutive.checked_sub(TOLERATED_FAILURES)?;
        let delay = FIRST_BACKOFF
            .saturating_mul(2u32.saturating_pow(over))
            .min(MAX_BACKOFF);
        self.until = Some(now + delay);
        Some(delay)
    }

    /// Records a success; what the plugin recovered from, if it had been backed off.
    fn succeeded(&mut self) -> Option<Recovered> {
        let backed_off = self.consecutive >= TOLERATED_FAILURES;
        let recovered = Recovered {
            failures: self.consecutive,
            skipped: self.skipped,
        };
        *self = Backoff::default();
        backed_off.then_some(recovered)
    }

    /// True (and counted) when an event arriving `now` is to be skipped.
    fn skips(&mut self, now: Instant) -> bool {
        let skip = self.until.is_some_and(|until| now < until);
        if skip {
            self.skipped += 1;
        }
        skip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_failures_are_tolerated_then_the_backoff_doubles() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        assert_eq!(backoff.failed(now), None);
        assert_eq!(backoff.failed(now), None);
        assert!(!backoff.skips(now));
        assert_eq!(backoff.failed(now), Some(FIRST_BACKOFF));
        assert!(backoff.skips(now));
        assert!(!backoff.skips(now + FIRST_BACKOFF));
        assert_eq!(backoff.failed(now), Some(FIRST_BACKOFF * 2));
        assert_eq!(backoff.failed(now), Some(FIRST_BACKOFF * 4));
        for _ in 0..40 {
            backoff.failed(now);
        }
        assert_eq!(backoff.failed(now), Some(MAX_BACKOFF));
    }

    #[test]
    fn one_success_ends_a_backoff_and_reports_it() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        for _ in 0..TOLERATED_FAILURES {
            backoff.failed(now);
        }
        assert!(backoff.skips(now));
        assert!(backoff.skips(now));
        assert_eq!(
            backoff.succeeded(),
            Some(Recovered {
                failures: TOLERATED_FAILURES,
                skipped: 2
            })
        );
        assert!(!backoff.skips(now));
        backoff.failed(now);
        assert_eq!(
            backoff.succeeded(),
            None,
            "not backed off: nothing to report"
        );
    }
}
