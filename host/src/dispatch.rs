//! Dispatch: every event to every subscribed plugin's worker, Secrets redacted for the plugins not allowed
//! to see them.
//!
//! With [`Pace::Independent`] (the live controller) delivery never waits: each plugin's backlog
//! takes what the plugin cannot keep up with, coalescing per object past its queue size (see
//! [`crate::worker::backlog`]), so a slow plugin falls behind alone. With
//! [`Pace::Backpressure`] (`replay`, whose file can wait) delivery waits while a plugin's queue
//! is full, and every plugin sees every event.

use crate::checkpoint::CheckpointStore;
use crate::event::WatchEvent;
use crate::metrics::{Metrics, ReceivedEvents};
use crate::plugin::Plugin;
use crate::redact;
use crate::source::ListedTarget;
use crate::worker::{CheckpointSettings, Pool, PoolError, WorkerOptions, WorkerStats};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Counters of what the dispatcher and its workers did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchStats {
    /// Events handed to the plugins.
    pub events: u64,
    /// Plugin calls that succeeded.
    pub calls: u64,
    /// Plugin calls that failed (trap, timeout, limit, bad result, failed restart).
    pub failures: u64,
    /// Events skipped for plugins that were backed off.
    pub skipped: u64,
}

/// How the source is paced against the plugins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pace {
    /// The source never waits for a plugin; a plugin that lags has its backlog coalesced (or
    /// spilled, for `every_event`).
    #[default]
    Independent,
    /// The source waits while a plugin's queue is full; nothing is coalesced.
    Backpressure,
}

/// Delivers events to a set of plugins, each on its own worker.
pub struct Dispatcher {
    plugins: PluginSet,
    events: u64,
    received: ReceivedEvents,
    pace: Pace,
}

/// The running plugins, shared by the dispatcher and whoever adds, replaces and removes
/// plugins while events flow (the reloader).
#[derive(Clone)]
pub struct PluginSet {
    inner: Arc<Inner>,
}

struct Inner {
    workers: RwLock<Vec<Pool>>,
    metrics: Arc<Metrics>,
    stopping: Arc<AtomicBool>,
    /// Where the workers started from now on keep their checkpoints.
    checkpoints: RwLock<Option<CheckpointSettings>>,
}

impl Dispatcher {
    /// Starts each plugin's workers.
    pub fn start(
        plugins: Vec<(Plugin, WorkerOptions)>,
        metrics: Arc<Metrics>,
    ) -> Result<Dispatcher, PoolError> {
        let set = PluginSet {
            inner: Arc::new(Inner {
                workers: RwLock::new(Vec::new()),
                metrics,
                stopping: Arc::new(AtomicBool::new(false)),
                checkpoints: RwLock::new(None),
            }),
        };
        for (plugin, options) in plugins {
            set.add(plugin, options)?;
        }
        Ok(Dispatcher {
            plugins: set,
            events: 0,
            received: ReceivedEvents::default(),
            pace: Pace::default(),
        })
    }

    /// Paces the source with `pace` from now on.
    pub fn with_pace(mut self, pace: Pace) -> Dispatcher {
        self.pace = pace;
        self
    }

    /// Keeps every plugin's checkpoint in `store`, written every `interval` while events flow;
    /// applies to the plugins added from now on.
    pub fn keep_checkpoints(&mut self, store: Arc<dyn CheckpointStore>, interval: Duration) {
        let settings = CheckpointSettings { store, interval };
        *self
            .plugins
            .inner
            .checkpoints
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(settings);
    }

    /// The running plugins, to change while events flow.
    pub fn plugins(&self) -> PluginSet {
        self.plugins.clone()
    }

    /// The plugins' names.
    pub fn plugin_names(&self) -> Vec<String> {
        self.plugins.names()
    }

    /// Queues `event` for every plugin. BOOKMARK and ERROR events are not for plugins and are
    /// ignored here; sources handle them.
    pub fn deliver(&mut self, event: &WatchEvent) {
        let meta = event.meta();
        if !meta.event_type.is_object_change() {
            return;
        }
        self.events += 1;
        let inner = &self.plugins.inner;
        self.received
            .count(&inner.metrics, meta.kind(), meta.event_type.as_str());
        let mut redacted = Redacted::Pending;
        for worker in self.plugins.read().iter() {
            if !worker.wants(event) {
                continue;
            }
            if worker.allows_secrets() || !redact::is_secret(event) {
                self.pace.send(worker, event.clone());
            } else if let Some(redacted) = redacted.get(event) {
                self.pace.send(worker, redacted.clone());
            } else {
                inner.metrics.plugin_dropped(worker.name(), "unredactable");
            }
        }
    }

    /// Every plugin (re)loads its checkpoint and resumes from it: until
    /// [`Dispatcher::lists_complete`], the objects it has already handled are not delivered
    /// again (see [`crate::checkpoint`]).
    pub fn resume(&self) {
        for worker in self.plugins.read().iter() {
            worker.resume();
        }
    }

    /// The first lists of `watched` are complete: each resuming plugin is told which of the
    /// objects it knew are gone (as DELETED, unless `report_deletions` is false because the
    /// lists skipped the objects present at start-up), then goes on live.
    pub fn lists_complete(&self, watched: &[ListedTarget], report_deletions: bool) {
        for worker in self.plugins.read().iter() {
            worker.lists_complete(watched, report_deletions);
        }
    }

    /// Waits until every plugin has handled everything delivered so far.
    pub fn wait_idle(&self) {
        self.plugins.read().iter().for_each(Pool::wait_idle);
    }

    /// Asks every worker to stop after its event in flight; queued events are left.
    pub fn stop(&self) {
        self.plugins.inner.stopping.store(true, Ordering::Relaxed);
    }

    /// Waits until every worker has handled what was queued (or, after [`Dispatcher::stop`],
    /// its event in flight), and sums up.
    pub fn finish(self) -> DispatchStats {
        let mut stats = DispatchStats {
            events: self.events,
            ..DispatchStats::default()
        };
        let workers = std::mem::take(&mut *self.plugins.write());
        for worker in workers {
            let WorkerStats {
                calls,
                failures,
                skipped,
            } = worker.finish();
            stats.calls += calls;
            stats.failures += failures;
            stats.skipped += skipped;
        }
        stats
    }
}

impl PluginSet {
    fn read(&self) -> RwLockReadGuard<'_, Vec<Pool>> {
        self.inner
            .workers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Vec<Pool>> {
        self.inner
            .workers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The plugins' names.
    pub fn names(&self) -> Vec<String> {
        self.read().iter().map(|w| w.name().to_owned()).collect()
    }

    /// Starts the workers of `plugin`; it gets the events delivered from now on.
    pub fn add(&self, plugin: Plugin, options: WorkerOptions) -> Result<(), PoolError> {
        let inner = &self.inner;
        let checkpoints = inner
            .checkpoints
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let worker = Pool::start(
            plugin,
            options,
            inner.metrics.clone(),
            inner.stopping.clone(),
            checkpoints,
        )?;
        let mut workers = self.write();
        workers.push(worker);
        inner.metrics.set_plugins_loaded(workers.len());
        Ok(())
    }

    /// Switches the plugin named like `plugin` to it, after the events already queued for the
    /// old one. `Ok(false)` when no such plugin runs; an error (the old version running on)
    /// when an instance for one of its lanes cannot start. The instances start before the
    /// switch, so delivery never waits for a plugin's start.
    pub fn replace(&self, plugin: Plugin, options: WorkerOptions) -> Result<bool, PoolError> {
        let lanes = self
            .read()
            .iter()
            .find(|worker| worker.name() == plugin.name())
            .map(Pool::lane_count);
        let Some(lanes) = lanes else {
            return Ok(false);
        };
        let name = plugin.name().to_owned();
        let instances = Pool::instances(plugin, lanes)?;
        let mut workers = self.write();
        match workers.iter_mut().find(|worker| worker.name() == name) {
            Some(worker) => {
                worker.switch_to(instances, options);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Stops delivering to the plugin `name`; it finishes what was queued for it first.
    pub fn remove(&self, name: &str) -> Option<WorkerStats> {
        let worker = {
            let mut workers = self.write();
            let index = workers.iter().position(|w| w.name() == name)?;
            let worker = workers.remove(index);
            self.inner.metrics.set_plugins_loaded(workers.len());
            worker
        };
        Some(worker.finish())
    }
}

impl Pace {
    fn send(self, worker: &Pool, event: WatchEvent) {
        match self {
            Pace::Independent => worker.send(event),
            Pace::Backpressure => worker.send_when_room(event),
        };
    }
}

/// The redacted copy of a Secret event, made once for all the plugins that need it.
enum Redacted {
    Pending,
    Done(Option<WatchEvent>),
}

impl Redacted {
    fn get(&mut self, event: &WatchEvent) -> Option<&WatchEvent> {
        if let Redacted::Pending = self {
            let redacted = redact::redact_secret(event)
                .map_err(|error| {
                    let meta = event.meta();
                    tracing::error!(
                        namespace = meta.namespace().unwrap_or(""),
                        name = meta.name(),
                        "cannot redact Secret {}: {error}; plugins without allow_secrets do not get it",
                        meta.object_ref()
                    );
                })
                .ok();
            *self = Redacted::Done(redacted);
        }
        match self {
            Redacted::Done(redacted) => redacted.as_ref(),
            Redacted::Pending => None,
        }
    }
}
