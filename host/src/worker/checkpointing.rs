//! A worker's checkpoint: loaded when the plugin resumes (or, for a plugin that joins while
//! events flow, at its first event), recorded after every event the plugin handled for good,
//! and written by its [`Flusher`] between events and at the end (see [`crate::checkpoint`]).
//!
//! A checkpoint that cannot be read is logged and replaced by an empty one (every object is
//! then delivered again): re-delivery, never a loss and never a stopped plugin. A write that
//! fails is logged once per streak and tried again.

use crate::checkpoint::{Checkpoint, CheckpointStore, Flusher, ResumeStats};
use crate::event::WatchEvent;
use crate::source::ListedTarget;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where and how often the workers keep their plugins' checkpoints.
#[derive(Clone)]
pub struct CheckpointSettings {
    /// Where the checkpoints are kept.
    pub store: Arc<dyn CheckpointStore>,
    /// How often a checkpoint is made durable while events flow.
    pub interval: Duration,
}

/// One plugin's checkpoint on its worker's thread.
pub(super) struct Kept {
    settings: CheckpointSettings,
    plugin: Arc<str>,
    loaded: Option<Loaded>,
    /// A write failed and has not succeeded since (logged once).
    failing: bool,
}

struct Loaded {
    checkpoint: Checkpoint,
    flusher: Flusher,
}

impl Kept {
    pub(super) fn new(settings: CheckpointSettings, plugin: Arc<str>) -> Kept {
        Kept {
            settings,
            plugin,
            loaded: None,
            failing: false,
        }
    }

    /// Reloads the checkpoint from the store (another replica may have written it) and
    /// resumes from it: the first lists are filtered until [`Kept::lists_complete`].
    pub(super) fn resume(&mut self) {
        self.flush();
        self.loaded = Some(self.load(true));
    }

    /// What to deliver for `event`: `None` when the plugin has handled this very version.
    pub(super) fn admit(&mut self, event: WatchEvent) -> Option<WatchEvent> {
        self.loaded().checkpoint.admit(&event).into_event(event)
    }

    /// `event` is handled for good.
    pub(super) fn record(&mut self, event: &WatchEvent) {
        if let Err(error) = self.loaded().checkpoint.record(event) {
            tracing::warn!(plugin = %self.plugin, "not recorded in the checkpoint: {error}");
        }
    }

    /// The first lists of `watched` are complete: the `DELETED` events of the objects the
    /// plugin knew that are gone (none when `report_deletions` is false: the lists skipped the
    /// objects present at start-up, so nothing can be told gone).
    pub(super) fn lists_complete(
        &mut self,
        watched: &[ListedTarget],
        report_deletions: bool,
    ) -> Vec<WatchEvent> {
        let plugin = self.plugin.clone();
        let checkpoint = &mut self.loaded().checkpoint;
        if !checkpoint.is_resuming() {
            return Vec::new();
        }
        if !report_deletions {
            checkpoint.stop_resuming();
            return Vec::new();
        }
        let resumed = checkpoint.finish(|api_version, kind, namespace| {
            watched
                .iter()
                .any(|target| target.covers(api_version, kind, namespace))
        });
        log_resumed(&plugin, &resumed.stats);
        resumed.deleted
    }

    /// Writes what is due (a journal append after every event; a sync or snapshot at times).
    pub(super) fn tick(&mut self) {
        let Some(loaded) = &mut self.loaded else {
            return;
        };
        let written = loaded.flusher.tick(&mut loaded.checkpoint, Instant::now());
        self.written(written.map(|_| ()));
    }

    /// How long the worker may wait before [`Kept::tick`] has something to do.
    pub(super) fn wait(&self) -> Option<Duration> {
        let loaded = self.loaded.as_ref()?;
        loaded.flusher.wait(&loaded.checkpoint, Instant::now())
    }

    /// Saves everything (at the end of the worker, or before reloading).
    pub(super) fn flush(&mut self) {
        let Some(loaded) = &mut self.loaded else {
            return;
        };
        let flushed = loaded.flusher.flush(&mut loaded.checkpoint);
        if let Ok(Some(bytes)) = &flushed {
            tracing::debug!(plugin = %self.plugin, bytes, objects = loaded.checkpoint.len(), "checkpoint saved");
        }
        self.written(flushed.map(|_| ()));
    }

    fn written(&mut self, result: Result<(), crate::checkpoint::CheckpointError>) {
        match result {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!(plugin = %self.plugin, "the checkpoint is written again");
            }
            Ok(()) => {}
            Err(error) if !self.failing => {
                self.failing = true;
                tracing::warn!(
                    plugin = %self.plugin,
                    "cannot write the checkpoint: {error}; retrying (a restart meanwhile \
                     delivers again what was handled since the last write)"
                );
            }
            Err(error) => {
                tracing::debug!(plugin = %self.plugin, "checkpoint still failing: {error}")
            }
        }
    }

    /// The checkpoint, loaded (not resuming) on first use.
    fn loaded(&mut self) -> &mut Loaded {
        let loaded = match self.loaded.take() {
            Some(loaded) => loaded,
            None => self.load(false),
        };
        self.loaded.insert(loaded)
    }

    fn load(&self, resuming: bool) -> Loaded {
        let store = &self.settings.store;
        let plugin = &*self.plugin;
        let checkpoint = match store.load(plugin) {
            Ok(Some(mut checkpoint)) => {
                tracing::info!(
                    plugin,
                    objects = checkpoint.len(),
                    location = %store.location(plugin),
                    "{}: {} objects handled before",
                    if resuming { "resuming from the checkpoint" } else { "checkpoint loaded" },
                    checkpoint.len()
                );
                if !resuming {
                    checkpoint.stop_resuming();
                }
                checkpoint
            }
            Ok(None) => {
                tracing::info!(plugin, "no checkpoint yet: every object is delivered");
                Checkpoint::new()
            }
            Err(error) => {
                tracing::warn!(
                    plugin,
                    "{error}; starting without a checkpoint (every object is delivered again)"
                );
                Checkpoint::new()
            }
        };
        Loaded {
            checkpoint,
            flusher: Flusher::new(store.clone(), plugin, self.settings.interval),
        }
    }
}

fn log_resumed(plugin: &str, stats: &ResumeStats) {
    tracing::info!(
        plugin,
        unchanged = stats.unchanged,
        modified = stats.modified,
        added = stats.added,
        deleted = stats.deleted,
        unwatched = stats.unwatched,
        "resumed: the lists are complete; {} unchanged objects skipped, {} changed, {} new, {} gone",
        stats.unchanged,
        stats.modified,
        stats.added,
        stats.deleted,
    );
}
