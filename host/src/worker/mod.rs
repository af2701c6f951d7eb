//! One thread per plugin (per lane, with `workers = N`: see [`Pool`]): its backlog, its calls,
//! its failures, its back-off and the retries it asks for.
//!
//! A worker takes events from its [`backlog`] in order, so each plugin sees every object's
//! events in the order the source produced them. Adding to a backlog never waits: a slow or
//! stuck plugin falls behind alone, its backlog coalescing per object (or, for `every_event`
//! plugins, spilling to disk) past its queue size, and its deadline bounds how long one event
//! can take. A heavy plugin's thread runs at a lower [`priority`].
//!
//! A plugin whose instance dies (trap, timeout, limit, failed restart) [`TOLERATED_FAILURES`]
//! times in a row is backed off: its events are skipped (counted and logged) for a delay that
//! doubles with each further failure, from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`]. The next
//! event after the delay is tried again, and one success ends the back-off. A bad result keeps the instance, costs nothing to retry, and
//! is only logged and counted.
//!
//! **Retries.** A plugin may ask to be handed an event again later (`"retry":true`, optionally
//! `"retry_after_ms"`: docs/ABI.md §3). The worker keeps such retries itself, keyed by object
//! (its uid; without one, its kind, namespace and name), never in the queue, so they never hold
//! the source back:
//!
//! - the delay is `retry_after_ms`, or else a per-object back-off of [`FIRST_RETRY_DELAY`]
//!   doubling with each consecutive retry request for that object, up to [`MAX_RETRY_DELAY`];
//!   a call for the object that asks for no retry resets it;
//! - the thread waits for its queue only until the next retry is due, and hands due retries to
//!   the plugin in due order, between queued events (while the plugin is backed off, they wait
//!   for the back-off to end);
//! - a newer event for the object, taken from the queue before the retry is due, supersedes it:
//!   the plugin sees the newest state, and if it asks again the attempts carry on;
//! - at most [`MAX_PENDING_RETRIES`] wait per plugin; past that the one due last is dropped and
//!   counted (`retry_overflow`), with one warning per overflow episode;
//! - a new version of the plugin (hot reload) inherits the pending retries;
//! - pending retries keep the worker from being idle: [`Worker::wait_idle`] (which `replay`
//!   calls before it ends) waits for them, while [`Worker::finish`] (a plugin unloaded, or the
//!   controller stopping) abandons them, saying how many. They are not persisted across
//!   restarts.

pub mod backlog;
mod checkpointing;
mod pool;
pub mod priority;
mod retries;

pub use backlog::{Delivery, DEFAULT_SPILL_LIMIT_BYTES};
pub use checkpointing::CheckpointSettings;
pub use pool::{Pool, PoolError};

use crate::backoff::Backoff;
use crate::event::WatchEvent;
use crate::logging;
use crate::metrics::{saturating_i64, BacklogProbe, FailureKind, Metrics, PluginSeries};
use crate::plugin::{CallError, Plugin, Retry};
use crate::source::ListedTarget;
use crate::subscription::Subscription;
use backlog::{Backlog, Entry, Lag, Popped, Pushed};
use checkpointing::Kept;
use priority::CallCost;
use retries::{due_after, retry_delay, ObjectKey, PendingRetry, Retries};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Consecutive failures before a plugin is backed off.
pub const TOLERATED_FAILURES: u32 = 3;
/// The first back-off; each further failure doubles it.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Events kept one by one for a plugin, unless its config says otherwise; past them its backlog
/// coalesces (or spills, for `every_event`).
pub const DEFAULT_QUEUE_SIZE: usize = 1024;
/// The delay of a first retry asked for without `retry_after_ms`; each consecutive request for
/// the same object doubles it.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
/// The longest delay of a retry asked for without `retry_after_ms`.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);
/// Retries pending for one plugin at most; past it, the one due last is dropped.
pub const MAX_PENDING_RETRIES: usize = 10_000;

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

/// What happened to one event (a queued one or a retry) on a plugin's worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The plugin handled it and asked for nothing more: done for good, for this plugin.
    Done,
    /// The plugin asked to see it again: a retry is scheduled, so it is not done yet.
    RetryScheduled,
    /// The plugin asked to see it again, but too many retries were pending and this one was due
    /// last: it is given up (counted as `retry_overflow`).
    RetryDropped,
    /// The call failed (trap, timeout, limit, bad result, failed restart). It is not retried.
    Failed,
    /// Not handed to the plugin, which is backed off.
    Skipped,
}

/// Events queued or in flight, and retries pending, for one worker.
#[derive(Debug, Default)]
struct Pending {
    queued: usize,
    retries: usize,
}

/// Which of a plugin's lanes a worker is (`workers = N` in its config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lane {
    pub(crate) index: usize,
    pub(crate) count: usize,
}

impl Lane {
    /// The one lane of a plugin with one worker.
    pub(crate) const ONLY: Lane = Lane { index: 0, count: 1 };

    /// The name its checkpoint is kept under: the plugin's own with one lane, else one per
    /// lane (`NAME-lane-I-of-N`), since each lane handles its own share of the objects.
    fn checkpoint_key(self, plugin: &str) -> Arc<str> {
        if self.count <= 1 {
            plugin.into()
        } else {
            format!("{plugin}-lane-{}-of-{}", self.index, self.count).into()
        }
    }

    /// The thread's name.
    fn thread_name(self, plugin: &str) -> String {
        if self.count <= 1 {
            format!("plugin {plugin}")
        } else {
            format!("plugin {plugin} #{}", self.index)
        }
    }
}

/// The state shared between a worker's thread and its owner.
struct WorkerShared {
    plugin: Arc<str>,
    /// The name of this lane's checkpoint.
    checkpoint_key: Arc<str>,
    metrics: Arc<Metrics>,
    /// This plugin's per-event series.
    series: PluginSeries,
    stopping: Arc<AtomicBool>,
    /// Where the plugin's checkpoint is kept, if anywhere.
    checkpoints: Option<CheckpointSettings>,
    /// What waits for the plugin, in order.
    backlog: Backlog<Control>,
    /// What the worker still has to do (the queue depth and pending retries metrics).
    pending: Mutex<Pending>,
    /// Signalled when nothing is queued and no retry is pending.
    idle: Condvar,
}

impl WorkerShared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more event queued. (The metrics are changed by differences, so that the lanes of
    /// one plugin add up.)
    fn queued(&self) {
        let mut pending = self.pending();
        pending.queued += 1;
        self.series.add_queue_depth(1);
    }

    /// One event handled, skipped or given up.
    fn done(&self) {
        let mut pending = self.pending();
        if pending.queued > 0 {
            pending.queued -= 1;
            self.series.add_queue_depth(-1);
        }
        self.notify_if_idle(&pending);
    }

    /// `retries` are pending now.
    fn set_retries(&self, retries: usize) {
        let mut pending = self.pending();
        if pending.retries != retries {
            let change = saturating_i64(retries) - saturating_i64(pending.retries);
            pending.retries = retries;
            self.metrics.add_pending_retries(&self.plugin, change);
            self.notify_if_idle(&pending);
        }
    }

    fn notify_if_idle(&self, pending: &Pending) {
        if pending.queued == 0 && pending.retries == 0 {
            self.idle.notify_all();
        }
    }

    /// Logs the start or end of a lag episode.
    fn report_lag(&self, lag: Option<Lag>) {
        if let Some(lag) = lag {
            match lag {
                Lag::Started => tracing::warn!(
                    plugin = %self.plugin,
                    "plugin {} is more than its queue size behind: its backlog now keeps the \
                     newest change per object (or spills, for every_event)",
                    self.plugin
                ),
                Lag::Ended {
                    duration,
                    coalesced,
                } => tracing::info!(
                    plugin = %self.plugin,
                    lagged_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                    coalesced,
                    "plugin {} caught up after {duration:.1?}; {coalesced} events were merged \
                     into newer states of their objects meanwhile",
                    self.plugin
                ),
            }
        }
    }
}

impl BacklogProbe for WorkerShared {
    fn lag(&self) -> Duration {
        self.backlog.lag()
    }

    fn objects(&self) -> usize {
        self.backlog.objects()
    }
}

/// A plugin on its own thread.
pub struct Worker {
    shared: Arc<WorkerShared>,
    thread: JoinHandle<WorkerStats>,
    allow_secrets: bool,
    subscription: Subscription,
}

/// What a worker's backlog carries besides events, in order with them.
enum Control {
    /// A new version of the plugin (or the same module with a new config): every event queued
    /// before it goes to the old one, every event after it (and every retry due after it) to
    /// the new one.
    Replace(Box<Plugin>),
    /// Reload the checkpoint and resume from it (this replica starts delivering).
    Resume,
    /// The first lists of these watches are complete: deliver the `DELETED` of the objects the
    /// checkpoint knew that are gone (those the subscription wants), then go on live.
    ListsComplete {
        watched: Vec<ListedTarget>,
        report_deletions: bool,
        subscription: Subscription,
    },
}

/// How a worker is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerOptions {
    /// Events kept one by one before the plugin counts as lagging (fixed for the worker's life).
    pub queue_size: usize,
    /// What the plugin gets when it lags (fixed for the worker's life).
    pub delivery: Delivery,
    /// The spill file's limit, for `every_event` (fixed for the worker's life).
    pub spill_limit_bytes: u64,
    /// Lanes: instances of the plugin running in parallel, each object on one of them (fixed
    /// for the workers' life).
    pub workers: usize,
    /// Whether the plugin sees Secrets' data.
    pub allow_secrets: bool,
    /// Which events the plugin sees.
    pub subscription: Subscription,
}

impl Default for WorkerOptions {
    fn default() -> WorkerOptions {
        WorkerOptions {
            queue_size: DEFAULT_QUEUE_SIZE,
            delivery: Delivery::default(),
            spill_limit_bytes: DEFAULT_SPILL_LIMIT_BYTES,
            workers: 1,
            allow_secrets: false,
            subscription: Subscription::all(),
        }
    }
}

impl Worker {
    /// Starts `plugin` on a thread named after it. `stopping` set: the worker ends after the
    /// event in flight, abandoning its pending retries. With `checkpoints`, what the plugin
    /// handles is recorded in its checkpoint.
    pub fn start(
        plugin: Plugin,
        options: WorkerOptions,
        metrics: Arc<Metrics>,
        stopping: Arc<AtomicBool>,
        checkpoints: Option<CheckpointSettings>,
    ) -> std::io::Result<Worker> {
        let limit = MAX_PENDING_RETRIES;
        let lane = Lane::ONLY;
        Worker::start_lane(plugin, options, metrics, stopping, checkpoints, lane, limit)
    }

    /// Starts lane `lane` of a plugin.
    pub(crate) fn start_lane(
        plugin: Plugin,
        options: WorkerOptions,
        metrics: Arc<Metrics>,
        stopping: Arc<AtomicBool>,
        checkpoints: Option<CheckpointSettings>,
        lane: Lane,
        retry_limit: usize,
    ) -> std::io::Result<Worker> {
        let shared = Arc::new(WorkerShared {
            plugin: plugin.name().into(),
            checkpoint_key: lane.checkpoint_key(plugin.name()),
            series: metrics.plugin_series(plugin.name()),
            metrics,
            stopping,
            checkpoints,
            backlog: Backlog::new(
                options.queue_size,
                options.delivery,
                options.spill_limit_bytes,
            ),
            pending: Mutex::new(Pending::default()),
            idle: Condvar::new(),
        });
        let probe: Arc<dyn BacklogProbe> = shared.clone();
        shared
            .metrics
            .watch_backlog(&shared.plugin, Arc::downgrade(&probe));
        let thread = std::thread::Builder::new()
            .name(lane.thread_name(plugin.name()))
            .spawn({
                let shared = shared.clone();
                move || run(plugin, &shared, retry_limit)
            })?;
        Ok(Worker {
            shared,
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

    /// Adds `event` to the plugin's backlog, never waiting: past the queue size it merges into
    /// its object's waiting change (or spills, for `every_event`). False when it was dropped
    /// (the spill file is full, or the worker has ended).
    pub fn send(&self, event: WatchEvent) -> bool {
        self.count(|backlog| backlog.push(event))
    }

    /// Adds `event` to the plugin's backlog once it holds fewer events than the queue size
    /// (backpressure: the caller waits, nothing is coalesced). False when the worker has ended.
    pub fn send_when_room(&self, event: WatchEvent) -> bool {
        // Within the queue size nothing lags.
        self.count(|backlog| (backlog.push_when_room(event), None))
    }

    /// Pushes with `push`, counting the event as waiting first (the worker may take it at
    /// once), then accounts for what the backlog did with it.
    fn count(&self, push: impl FnOnce(&Backlog<Control>) -> (Pushed, Option<Lag>)) -> bool {
        let shared = &self.shared;
        shared.queued();
        let (pushed, lag) = push(&shared.backlog);
        match pushed {
            Pushed::Queued => {}
            Pushed::Coalesced => {
                shared.metrics.plugin_coalesced(&shared.plugin);
                shared.done();
            }
            Pushed::Cancelled => {
                // Neither this event nor the change it cancelled waits any more.
                shared.metrics.plugin_coalesced(&shared.plugin);
                shared.done();
                shared.done();
            }
            Pushed::Dropped => {
                shared.metrics.plugin_dropped(&shared.plugin, "spill_full");
                shared.done();
            }
            Pushed::Closed => shared.done(),
        }
        shared.report_lag(lag);
        matches!(
            pushed,
            Pushed::Queued | Pushed::Coalesced | Pushed::Cancelled
        )
    }

    /// Queues a switch to `plugin` behind the events already queued, and applies `options`
    /// (except the queue size) to the events queued from now on. Pending retries go to the new
    /// version.
    pub fn replace(&mut self, plugin: Plugin, options: WorkerOptions) -> bool {
        self.allow_secrets = options.allow_secrets;
        self.subscription = options.subscription;
        self.enqueue(Control::Replace(Box::new(plugin)))
    }

    fn enqueue(&self, control: Control) -> bool {
        self.shared.queued();
        let sent = self.shared.backlog.push_control(control);
        if !sent {
            self.shared.done();
        }
        sent
    }

    /// Waits until everything queued so far has been handled and no retry is pending (a plugin
    /// that keeps asking for retries keeps this waiting).
    pub fn wait_idle(&self) {
        let pending = self.shared.pending();
        let _idle = self
            .shared
            .idle
            .wait_while(pending, |pending| pending.queued > 0 || pending.retries > 0)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Closes the queue and waits until the worker has handled (or, when stopping, left) what
    /// was queued. Pending retries are abandoned, and their number logged: to deliver them
    /// first, [`Worker::wait_idle`] before.
    pub fn finish(self) -> WorkerStats {
        self.shared.backlog.close();
        self.thread.join().unwrap_or_else(|_| {
            tracing::error!(plugin = %self.shared.plugin, "plugin worker thread panicked");
            WorkerStats::default()
        })
    }

    /// Queues a reload of the plugin's checkpoint, from which it resumes: until
    /// [`Worker::lists_complete`], events for objects it has handled at that version are
    /// dropped, and objects that changed arrive as `MODIFIED`. Nothing without checkpoints.
    pub fn resume(&self) {
        if self.shared.checkpoints.is_some() {
            self.enqueue(Control::Resume);
        }
    }

    /// Queues the end of resuming: the first lists of `watched` are complete, so the objects
    /// the checkpoint knew that no list contained are gone (reported as `DELETED` when
    /// `report_deletions`). Nothing without checkpoints.
    pub fn lists_complete(&self, watched: Vec<ListedTarget>, report_deletions: bool) {
        if self.shared.checkpoints.is_some() {
            self.enqueue(Control::ListsComplete {
                watched,
                report_deletions,
                subscription: self.subscription.clone(),
            });
        }
    }
}

/// The worker's loop: its backlog in order, and the retries as they fall due.
fn run(plugin: Plugin, shared: &WorkerShared, retry_limit: usize) -> WorkerStats {
    let mut worker = Running {
        plugin,
        streak: FailureStreak::default(),
        stats: WorkerStats::default(),
        cost: CallCost::default(),
        retries: Retries::new(retry_limit),
        published_retries: 0,
        checkpoint: shared
            .checkpoints
            .clone()
            .map(|settings| Kept::new(settings, shared.checkpoint_key.clone())),
    };
    while !shared.stopping.load(Ordering::Relaxed) {
        if let Some((key, retry)) = worker.due_retry() {
            worker.handle(retry.event, Some(key), retry.attempt, shared);
            worker.retries_changed(shared);
            worker.write_checkpoint();
            continue;
        }
        let entry = match shared.backlog.pop(worker.next_wake()) {
            Popped::Job(entry, lag) => {
                shared.report_lag(lag);
                entry
            }
            Popped::Timeout => continue,
            // Closed: the plugin is unloaded, or everything ends.
            Popped::Closed => break,
        };
        if shared.stopping.load(Ordering::Relaxed) {
            shared.done();
            break;
        }
        match entry {
            Entry::Event(event) => {
                worker.handle_queued(event, shared);
                worker.retries_changed(shared);
            }
            Entry::Lost => shared
                .metrics
                .plugin_dropped(&shared.plugin, "spill_unreadable"),
            Entry::Control(Control::Replace(new)) => {
                switch(&mut worker.plugin, *new, shared);
                worker.streak = FailureStreak::default();
                shared.metrics.statuses().recovered(&shared.plugin);
            }
            Entry::Control(Control::Resume) => {
                if let Some(checkpoint) = &mut worker.checkpoint {
                    checkpoint.resume();
                }
            }
            Entry::Control(Control::ListsComplete {
                watched,
                report_deletions,
                subscription,
            }) => worker.lists_complete(&watched, report_deletions, &subscription, shared),
        }
        worker.write_checkpoint();
        shared.done();
    }
    // Nothing more is taken: a push from now on (or one waiting for room) returns at once.
    shared.backlog.close();
    worker.abandon_retries(shared);
    if let Some(checkpoint) = &mut worker.checkpoint {
        checkpoint.flush();
    }
    worker.stats
}

/// Puts `new` in place of `plugin`, between two events, and says so.
fn switch(plugin: &mut Plugin, new: Plugin, shared: &WorkerShared) {
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

/// A worker thread's own state.
struct Running {
    plugin: Plugin,
    streak: FailureStreak,
    stats: WorkerStats,
    /// What its calls cost, to lower its thread's priority when they are heavy.
    cost: CallCost,
    retries: Retries,
    /// The number of pending retries last published to [`WorkerShared`] and the metrics.
    published_retries: usize,
    /// What the plugin has handled, when checkpoints are kept.
    checkpoint: Option<Kept>,
}

impl Running {
    /// The earliest retry due now, unless the plugin is backed off.
    fn due_retry(&mut self) -> Option<(ObjectKey, PendingRetry)> {
        if self.retries.is_empty() {
            return None;
        }
        let now = Instant::now();
        if self.streak.holds(now) {
            return None;
        }
        self.retries.pop_due(now)
    }

    /// When the worker must wake up without a job: the next retry may be handed to the plugin
    /// (when it is due, and not before a back-off ends), or its checkpoint is due a write.
    fn next_wake(&self) -> Option<Instant> {
        let retry = self.retries.next_due().map(|due| match self.streak.until {
            Some(until) => due.max(until),
            None => due,
        });
        let write = self
            .checkpoint
            .as_ref()
            .and_then(Kept::wait)
            .map(|wait| due_after(Instant::now(), wait));
        match (retry, write) {
            (Some(retry), Some(write)) => Some(retry.min(write)),
            (retry, write) => retry.or(write),
        }
    }

    /// Writes the checkpoint's new records (and a sync or a snapshot when due).
    fn write_checkpoint(&mut self) {
        if let Some(checkpoint) = &mut self.checkpoint {
            checkpoint.tick();
        }
    }

    /// The first lists are complete: hands the plugin the `DELETED` events of the objects its
    /// checkpoint knew that are gone (recording those it does not subscribe to as handled).
    fn lists_complete(
        &mut self,
        watched: &[ListedTarget],
        report_deletions: bool,
        subscription: &Subscription,
        shared: &WorkerShared,
    ) {
        let Some(checkpoint) = &mut self.checkpoint else {
            return;
        };
        for deleted in checkpoint.lists_complete(watched, report_deletions) {
            if subscription.matches(&deleted) {
                self.handle_queued(deleted, shared);
                self.retries_changed(shared);
                self.write_checkpoint();
            } else if let Some(checkpoint) = &mut self.checkpoint {
                checkpoint.record(&deleted);
            }
        }
    }

    /// Handles an event from the queue, which supersedes the object's pending retry; with a
    /// checkpoint, an object the plugin has handled at this version is not handed over again.
    fn handle_queued(&mut self, event: WatchEvent, shared: &WorkerShared) -> Handled {
        let event = match &mut self.checkpoint {
            Some(checkpoint) => match checkpoint.admit(event) {
                Some(event) => event,
                None => return Handled::Done,
            },
            None => event,
        };
        if self.retries.is_empty() {
            return self.handle(event, None, 0, shared);
        }
        let key = ObjectKey::of(&event);
        let attempts = match self.retries.take(&key) {
            Some(superseded) => {
                let meta = event.meta();
                tracing::debug!(
                    plugin = %shared.plugin,
                    kind = meta.kind(),
                    namespace = meta.namespace().unwrap_or(""),
                    name = meta.name(),
                    attempt = superseded.attempt,
                    "a newer event for {} {} supersedes its pending retry",
                    meta.kind(),
                    meta.object_ref(),
                );
                superseded.attempt
            }
            None => 0,
        };
        self.handle(event, Some(key), attempts, shared)
    }

    /// Hands `event` to the plugin (unless it is backed off) and schedules the retry it asks
    /// for. `attempts` is how many retries of the object the plugin asked for in a row before;
    /// `key` is the object's key when already known.
    fn handle(
        &mut self,
        event: WatchEvent,
        key: Option<ObjectKey>,
        attempts: u32,
        shared: &WorkerShared,
    ) -> Handled {
        if self.streak.skips(Instant::now()) {
            self.stats.skipped += 1;
            shared.metrics.plugin_dropped(&shared.plugin, "backoff");
            return Handled::Skipped;
        }
        match call(
            &mut self.plugin,
            &event,
            shared,
            &mut self.streak,
            &mut self.stats,
            &mut self.cost,
        ) {
            Err(()) => Handled::Failed,
            Ok(None) => {
                if let Some(checkpoint) = &mut self.checkpoint {
                    checkpoint.record(&event);
                }
                Handled::Done
            }
            Ok(Some(retry)) => {
                let key = key.unwrap_or_else(|| ObjectKey::of(&event));
                self.schedule(key, event, attempts + 1, retry, shared)
            }
        }
    }

    /// Schedules retry number `attempt` of `event`, as `retry` asks.
    fn schedule(
        &mut self,
        key: ObjectKey,
        event: WatchEvent,
        attempt: u32,
        retry: Retry,
        shared: &WorkerShared,
    ) -> Handled {
        let delay = retry_delay(retry, attempt);
        let meta = event.meta();
        tracing::debug!(
            plugin = %shared.plugin,
            event_type = meta.event_type.as_str(),
            kind = meta.kind(),
            namespace = meta.namespace().unwrap_or(""),
            name = meta.name(),
            resource_version = meta.resource_version().unwrap_or(""),
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "retry {attempt} of {} {} {} scheduled in {delay:?}",
            meta.event_type,
            meta.kind(),
            meta.object_ref(),
        );
        let due = due_after(Instant::now(), delay);
        let Some(dropped) = self.retries.schedule(key, event, attempt, due) else {
            shared.metrics.plugin_retry_scheduled(&shared.plugin);
            return Handled::RetryScheduled;
        };
        shared
            .metrics
            .plugin_dropped(&shared.plugin, "retry_overflow");
        if dropped.first_of_episode {
            tracing::warn!(
                plugin = %shared.plugin,
                limit = self.retries.limit,
                "plugin {} has more than {} retries pending: the ones due last are dropped \
                 (counted as retry_overflow) until it catches up",
                shared.plugin,
                self.retries.limit,
            );
        }
        if dropped.was_new {
            Handled::RetryDropped
        } else {
            shared.metrics.plugin_retry_scheduled(&shared.plugin);
            Handled::RetryScheduled
        }
    }

    /// Publishes the number of pending retries, and ends an overflow episode once they have
    /// fallen back.
    fn retries_changed(&mut self, shared: &WorkerShared) {
        if self.retries.len() == self.published_retries {
            return;
        }
        self.published_retries = self.retries.len();
        shared.set_retries(self.published_retries);
        if let Some(dropped) = self.retries.caught_up() {
            tracing::info!(
                plugin = %shared.plugin,
                dropped,
                "plugin {}'s pending retries are back under the limit; {dropped} were dropped",
                shared.plugin,
            );
        }
    }

    /// Drops every pending retry, saying how many and why.
    fn abandon_retries(&mut self, shared: &WorkerShared) {
        let abandoned = self.retries.clear();
        self.published_retries = 0;
        shared.set_retries(0);
        if abandoned > 0 {
            tracing::info!(
                plugin = %shared.plugin,
                abandoned,
                "{abandoned} pending retries of plugin {} abandoned: its worker stops (the \
                 plugin is unloaded, or the controller stops); retries are not persisted",
                shared.plugin,
            );
        }
    }
}

/// One call: its outcome or failure logged, counted and timed. `Ok` holds the retry the plugin
/// asked for, `Err` says the call failed.
fn call(
    plugin: &mut Plugin,
    event: &WatchEvent,
    shared: &WorkerShared,
    streak: &mut FailureStreak,
    stats: &mut WorkerStats,
    cost: &mut CallCost,
) -> Result<Option<Retry>, ()> {
    let started = Instant::now();
    let result = plugin.handle_event(event.raw());
    let took = started.elapsed();
    let metrics = &shared.metrics;
    shared.series.call(took.as_secs_f64());
    cost.record(took, &shared.plugin);
    match result {
        Ok(outcome) => {
            stats.calls += 1;
            if let Some(message) = &outcome.message {
                logging::plugin_message(&shared.plugin, event.meta(), message.level, &message.text);
            }
            if let Some(recovered) = streak.succeeded() {
                metrics.statuses().recovered(&shared.plugin);
                tracing::info!(
                    plugin = %shared.plugin,
                    failures = recovered.failures,
                    skipped = recovered.skipped,
                    "plugin works again after {} failures in a row; {} events were skipped meanwhile",
                    recovered.failures,
                    recovered.skipped
                );
            }
            Ok(outcome.retry)
        }
        Err(error) => {
            stats.failures += 1;
            metrics.plugin_failure(&shared.plugin, failure_kind(&error));
            log_failure(&shared.plugin, event, &error);
            record_failure(shared, event, &error);
            // A bad result costs nothing to retry; a dead instance costs a restart.
            let fatal = error.poisons_instance() || matches!(error, CallError::Restart(_));
            if let Some(delay) = fatal.then(|| streak.failed(Instant::now())).flatten() {
                let statuses = metrics.statuses();
                statuses.backed_off(&shared.plugin, delay, streak.consecutive);
                tracing::warn!(
                    plugin = %shared.plugin,
                    failures = streak.consecutive,
                    backoff_ms = delay.as_millis() as u64,
                    "plugin failed {} times in a row; its events are skipped for {delay:?}, then it is tried again",
                    streak.consecutive
                );
            }
            Err(())
        }
    }
}

/// Keeps the failure as the plugin's last, for `/plugins`.
fn record_failure(shared: &WorkerShared, event: &WatchEvent, error: &CallError) {
    let meta = event.meta();
    let on = format!("{} {} {}", meta.event_type, meta.kind(), meta.object_ref());
    let message = error.to_string();
    let statuses = shared.metrics.statuses();
    statuses.call_failed(&shared.plugin, failure_kind(error), on, &message);
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
        kind = meta.kind(),
        namespace = meta.namespace().unwrap_or(""),
        name = meta.name(),
        "plugin failed on {} {} {}: {error}{next}",
        meta.event_type,
        meta.kind(),
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

/// A plugin's consecutive failures, and the back-off (pause) they earned.
#[derive(Debug, Default)]
struct FailureStreak {
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

impl FailureStreak {
    /// Records a failure; the delay when it starts (or extends) a back-off.
    fn failed(&mut self, now: Instant) -> Option<Duration> {
        self.consecutive += 1;
        let over = self.consecutive.checked_sub(TOLERATED_FAILURES)?;
        let delay = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF).after(over.saturating_add(1));
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
        *self = FailureStreak::default();
        backed_off.then_some(recovered)
    }

    /// True while a back-off runs (nothing counted).
    fn holds(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
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
    use super::retries::tests::{key, pod};
    use super::*;
    use crate::plugin::PluginSettings;
    use std::path::Path;

    /// A plugin whose first `retrying` calls return `retry_json`, and later ones a message.
    fn retrying_plugin(retry_json: &str, retrying: u32) -> Plugin {
        let escaped = |json: &str| json.replace('"', "\\\"");
        let done = r#"{"message":"done"}"#;
        let wat = format!(
            r#"(module
            (memory (export "memory") 1)
            (global $next (mut i32) (i32.const 1024))
            (global $calls (mut i32) (i32.const 0))
            (data (i32.const 16) "{retry}")
            (data (i32.const 512) "{done}")
            (func (export "alloc") (param $len i32) (result i32)
                (local $ptr i32)
                (local.set $ptr (global.get $next))
                (global.set $next (i32.add (global.get $next) (local.get $len)))
                (local.get $ptr))
            (func (export "dealloc") (param i32 i32))
            (func (export "handle_event") (param i32 i32) (result i64)
                (global.set $next (i32.const 1024))
                (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
                (if (result i64) (i32.le_u (global.get $calls) (i32.const {retrying}))
                    (then (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const {retry_len})))
                    (else (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.const {done_len}))))))"#,
            retry = escaped(retry_json),
            retry_len = retry_json.len(),
            done = escaped(done),
            done_len = done.len(),
        );
        let bytes = wat::parse_str(wat).expect("valid wat");
        let runtime = crate::runtime::Runtime::new().expect("runtime");
        Plugin::from_bytes(
            &runtime,
            Path::new("/plugins/retrier.wasm"),
            &bytes,
            PluginSettings::default(),
        )
        .expect("plugin")
    }

    fn shared(metrics: &Arc<Metrics>) -> WorkerShared {
        WorkerShared {
            plugin: "retrier".into(),
            checkpoint_key: "retrier".into(),
            series: metrics.plugin_series("retrier"),
            metrics: metrics.clone(),
            stopping: Arc::new(AtomicBool::new(false)),
            checkpoints: None,
            backlog: Backlog::new(DEFAULT_QUEUE_SIZE, Delivery::default(), 0),
            pending: Mutex::new(Pending::default()),
            idle: Condvar::new(),
        }
    }

    fn running(plugin: Plugin, limit: usize) -> Running {
        Running {
            plugin,
            streak: FailureStreak::default(),
            stats: WorkerStats::default(),
            cost: CallCost::default(),
            retries: Retries::new(limit),
            published_retries: 0,
            checkpoint: None,
        }
    }

    /// The value of one series in `metrics`, if it has one.
    fn metric(metrics: &Metrics, series: &str) -> Option<String> {
        metrics.encode().lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            Some(value.split(' ').next().unwrap_or_default().to_owned())
        })
    }

    #[test]
    fn a_newer_event_supersedes_a_pending_retry_and_the_attempts_carry_on() {
        let metrics = Arc::new(Metrics::new());
        let shared = shared(&metrics);
        let mut worker = running(retrying_plugin(r#"{"retry":true}"#, u32::MAX >> 1), 100);
        let started = Instant::now();
        let handled = worker.handle_queued(pod("a", Some("uid-a"), 1), &shared);
        assert_eq!(handled, Handled::RetryScheduled);
        let due = worker.retries.next_due().expect("pending");
        assert!(due >= started + FIRST_RETRY_DELAY && due < Instant::now() + FIRST_RETRY_DELAY);

        // rv 2 arrives before the retry of rv 1 is due: it replaces it, as attempt 2 (2 s).
        let before = Instant::now();
        let handled = worker.handle_queued(pod("a", Some("uid-a"), 2), &shared);
        assert_eq!(handled, Handled::RetryScheduled);
        assert_eq!(worker.retries.len(), 1);
        let pending = worker.retries.take(&key("a")).expect("pending");
        assert_eq!(pending.attempt, 2);
        assert_eq!(pending.event.meta().resource_version(), Some("2"));
        assert!(pending.due >= before + FIRST_RETRY_DELAY * 2);
        assert!(pending.due < Instant::now() + FIRST_RETRY_DELAY * 2);

        // A retry delivered that asks again goes on counting; another object starts at 1.
        let handled = worker.handle(pending.event, None, pending.attempt, &shared);
        assert_eq!(handled, Handled::RetryScheduled);
        worker.handle_queued(pod("b", Some("uid-b"), 1), &shared);
        assert_eq!(worker.retries.take(&key("a")).map(|r| r.attempt), Some(3));
        assert_eq!(worker.retries.take(&key("b")).map(|r| r.attempt), Some(1));
        assert_eq!(worker.stats.calls, 4);
        assert_eq!(
            metric(
                &metrics,
                r#"event_controller_plugin_retries_total{plugin="retrier"}"#
            ),
            Some("4".to_owned())
        );
    }

    #[test]
    fn an_answer_without_retry_ends_the_objects_retries() {
        let metrics = Arc::new(Metrics::new());
        let shared = shared(&metrics);
        // Asks for a retry in 1 h on its first call, then logs "done".
        let mut worker = running(retrying_plugin(r#"{"retry_after_ms":3600000}"#, 1), 100);
        let handled = worker.handle_queued(pod("a", Some("uid-a"), 1), &shared);
        assert_eq!(handled, Handled::RetryScheduled);
        let due = worker.retries.next_due().expect("pending");
        assert!(due > Instant::now() + Duration::from_secs(3599));
        let handled = worker.handle_queued(pod("a", Some("uid-a"), 2), &shared);
        assert_eq!(handled, Handled::Done);
        assert!(worker.retries.is_empty());
    }

    #[test]
    fn past_the_limit_retries_are_dropped_and_counted() {
        let metrics = Arc::new(Metrics::new());
        let shared = shared(&metrics);
        let mut worker = running(retrying_plugin(r#"{"retry_after_ms":60000}"#, 100), 2);
        for name in ["a", "b"] {
            let event = pod(name, Some(&format!("uid-{name}")), 1);
            assert_eq!(
                worker.handle_queued(event, &shared),
                Handled::RetryScheduled
            );
        }
        // Due last, the new one is dropped.
        let handled = worker.handle_queued(pod("c", Some("uid-c"), 1), &shared);
        assert_eq!(handled, Handled::RetryDropped);
        assert_eq!(worker.retries.len(), 2);
        assert!(worker.retries.take(&key("c")).is_none());
        assert_eq!(
            metric(
                &metrics,
                r#"event_controller_plugin_events_dropped_total{plugin="retrier",reason="retry_overflow"}"#
            ),
            Some("1".to_owned())
        );
        assert_eq!(
            metric(
                &metrics,
                r#"event_controller_plugin_retries_total{plugin="retrier"}"#
            ),
            Some("2".to_owned())
        );
    }

    #[test]
    fn a_worker_delivers_due_retries_and_is_idle_only_after_them() {
        let metrics = Arc::new(Metrics::new());
        let stopping = Arc::new(AtomicBool::new(false));
        let plugin = retrying_plugin(r#"{"retry_after_ms":30}"#, 2);
        let worker = Worker::start(
            plugin,
            WorkerOptions::default(),
            metrics.clone(),
            stopping,
            None,
        )
        .expect("worker");
        let started = Instant::now();
        assert!(worker.send(pod("a", Some("uid-a"), 1)));
        worker.wait_idle();
        assert!(
            started.elapsed() >= Duration::from_millis(60),
            "two retries of 30 ms"
        );
        assert_eq!(
            metric(
                &metrics,
                r#"event_controller_plugin_retries_total{plugin="retrier"}"#
            ),
            Some("2".to_owned())
        );
        assert_eq!(
            metric(
                &metrics,
                r#"event_controller_plugin_pending_retries{plugin="retrier"}"#
            ),
            Some("0".to_owned())
        );
        let stats = worker.finish();
        assert_eq!(stats.calls, 3);
    }

    #[test]
    fn wait_idle_waits_for_pending_retries() {
        let metrics = Arc::new(Metrics::new());
        let stopping = Arc::new(AtomicBool::new(false));
        let plugin = retrying_plugin(r#"{"retry_after_ms":50}"#, 1);
        let worker = Worker::start(plugin, WorkerOptions::default(), metrics, stopping, None)
            .expect("worker");
        assert!(worker.send(pod("a", Some("uid-a"), 1)));
        worker.wait_idle();
        assert_eq!(worker.finish().calls, 2, "the retry ran before idle");
    }

    #[test]
    fn finish_abandons_pending_retries_stopping_or_not() {
        for stop in [false, true] {
            let metrics = Arc::new(Metrics::new());
            let stopping = Arc::new(AtomicBool::new(false));
            let plugin = retrying_plugin(r#"{"retry_after_ms":3600000}"#, 100);
            let worker = Worker::start(
                plugin,
                WorkerOptions::default(),
                metrics.clone(),
                stopping.clone(),
                None,
            )
            .expect("worker");
            assert!(worker.send(pod("a", Some("uid-a"), 1)));
            let pending = r#"event_controller_plugin_pending_retries{plugin="retrier"}"#;
            let started = Instant::now();
            while metric(&metrics, pending).as_deref() != Some("1") {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "no retry pending"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            let started = Instant::now();
            if stop {
                stopping.store(true, Ordering::Relaxed);
            }
            let stats = worker.finish();
            assert!(started.elapsed() < Duration::from_secs(5), "not waited for");
            assert_eq!(stats.calls, 1);
            assert_eq!(metric(&metrics, pending).as_deref(), Some("0"));
        }
    }

    /// A plugin whose every call traps.
    fn trapping_plugin() -> Plugin {
        let wat = r#"(module
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "dealloc") (param i32 i32))
            (func (export "handle_event") (param i32 i32) (result i64) unreachable))"#;
        let bytes = wat::parse_str(wat).expect("valid wat");
        let runtime = crate::runtime::Runtime::new().expect("runtime");
        let path = Path::new("/plugins/retrier.wasm");
        Plugin::from_bytes(&runtime, path, &bytes, PluginSettings::default()).expect("plugin")
    }

    #[test]
    fn failures_and_the_backoff_reach_the_plugin_status() {
        let metrics = Arc::new(Metrics::new());
        let origin = crate::metrics::PluginOrigin::file(Path::new("/plugins/retrier.wasm"), "x");
        let took = Duration::ZERO;
        metrics
            .statuses()
            .loaded("retrier", origin, "all".into(), took);
        let shared = shared(&metrics);
        let mut worker = running(trapping_plugin(), 100);
        for _ in 0..TOLERATED_FAILURES {
            let handled = worker.handle_queued(pod("crash", Some("uid-crash"), 7), &shared);
            assert_eq!(handled, Handled::Failed);
        }
        let report = metrics.plugins_report();
        let status = &report.plugins[0];
        assert_eq!(status.state, crate::metrics::status::PluginState::BackedOff);
        assert_eq!(status.failures, u64::from(TOLERATED_FAILURES));
        let failure = status.last_failure.as_ref().expect("a last failure");
        assert_eq!(failure.kind, "trap");
        assert_eq!(failure.event, "MODIFIED Pod ns/crash");
        assert!(failure.message.starts_with("trapped"), "{failure:?}");
        let backoff = status.backoff.as_ref().expect("backed off");
        assert_eq!(backoff.consecutive_failures, TOLERATED_FAILURES);
        assert_eq!(backoff.delay_ms, FIRST_BACKOFF.as_millis() as u64);
        // The next event is skipped, not tried.
        let handled = worker.handle_queued(pod("crash", Some("uid-crash"), 8), &shared);
        assert_eq!(handled, Handled::Skipped);
    }

    #[test]
    fn a_few_failures_are_tolerated_then_the_backoff_doubles() {
        let now = Instant::now();
        let mut streak = FailureStreak::default();
        assert_eq!(streak.failed(now), None);
        assert_eq!(streak.failed(now), None);
        assert!(!streak.skips(now));
        assert_eq!(streak.failed(now), Some(FIRST_BACKOFF));
        assert!(streak.skips(now));
        assert!(!streak.skips(now + FIRST_BACKOFF));
        assert_eq!(streak.failed(now), Some(FIRST_BACKOFF * 2));
        assert_eq!(streak.failed(now), Some(FIRST_BACKOFF * 4));
        for _ in 0..40 {
            streak.failed(now);
        }
        assert_eq!(streak.failed(now), Some(MAX_BACKOFF));
    }

    #[test]
    fn one_success_ends_a_backoff_and_reports_it() {
        let now = Instant::now();
        let mut streak = FailureStreak::default();
        for _ in 0..TOLERATED_FAILURES {
            streak.failed(now);
        }
        assert!(streak.skips(now));
        assert!(streak.skips(now));
        assert_eq!(
            streak.succeeded(),
            Some(Recovered {
                failures: TOLERATED_FAILURES,
                skipped: 2
            })
        );
        assert!(!streak.skips(now));
        streak.failed(now);
        assert_eq!(
            streak.succeeded(),
            None,
            "not backed off: nothing to report"
        );
    }
}
