//! Fan-out: every event to every plugin's worker, Secrets redacted for the plugins not allowed
//! to see them.
//!
//! Delivery waits while a plugin's queue is full, so a plugin that falls behind holds the
//! source back instead of losing events; its deadline and back-off bound how far behind it can
//! fall (see [`crate::worker`]).

use crate::event::WatchEvent;
use crate::metrics::Metrics;
use crate::plugin::Plugin;
use crate::redact;
use crate::worker::{Worker, WorkerOptions, WorkerStats};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

/// Delivers events to a fixed set of plugins, each on its own worker.
pub struct Dispatcher {
    workers: Vec<Worker>,
    metrics: Arc<Metrics>,
    stopping: Arc<AtomicBool>,
    events: u64,
}

impl Dispatcher {
    /// Starts a worker per plugin.
    pub fn start(
        plugins: Vec<(Plugin, WorkerOptions)>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Dispatcher> {
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = plugins
            .into_iter()
            .map(|(plugin, options)| {
                Worker::start(plugin, options, metrics.clone(), stopping.clone())
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        metrics.set_plugins_loaded(workers.len());
        Ok(Dispatcher {
            workers,
            metrics,
            stopping,
            events: 0,
        })
    }

    /// The plugins' names.
    pub fn plugin_names(&self) -> impl Iterator<Item = &str> {
        self.workers.iter().map(Worker::name)
    }

    /// Queues `event` for every plugin. BOOKMARK and ERROR events are not for plugins and are
    /// ignored here; sources handle them.
    pub fn deliver(&mut self, event: &WatchEvent) {
        let meta = event.meta();
        if !meta.event_type.is_object_change() {
            return;
        }
        self.events += 1;
        self.metrics
            .event_received(&meta.kind, meta.event_type.as_str());
        let mut redacted = Redacted::Pending;
        for worker in &self.workers {
            if worker.allows_secrets() || !redact::is_secret(event) {
                worker.send(event.clone());
            } else if let Some(redacted) = redacted.get(event) {
                worker.send(redacted.clone());
            } else {
                self.metrics.plugin_dropped(worker.name(), "unredactable");
            }
        }
    }

    /// Waits until every plugin has handled everything delivered so far.
    pub fn wait_idle(&self) {
        self.workers.iter().for_each(Worker::wait_idle);
    }

    /// Asks every worker to stop after its event in flight; queued events are left.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Waits until every worker has handled what was queued (or, after [`Dispatcher::stop`],
    /// its event in flight), and sums up.
    pub fn finish(self) -> DispatchStats {
        let mut stats = DispatchStats {
            events: self.events,
            ..DispatchStats::default()
        };
        for worker in self.workers {
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
                        namespace = meta.namespace.as_deref().unwrap_or(""),
                        name = meta.name.as_str(),
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
