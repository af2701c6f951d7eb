//! Handing each event to every plugin, in order, and logging what comes back.

use crate::event::WatchEvent;
use crate::logging;
use crate::plugin::Plugin;

/// Counters of what the dispatcher did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchStats {
    /// Events handed to the plugins.
    pub events: u64,
    /// Plugin calls that succeeded.
    pub calls: u64,
    /// Plugin calls that failed (trap, bad result, failed restart).
    pub failures: u64,
}

/// Delivers events to a fixed list of plugins.
pub struct Dispatcher {
    plugins: Vec<Plugin>,
    stats: DispatchStats,
}

impl Dispatcher {
    /// A dispatcher over `plugins`, called in the given order.
    pub fn new(plugins: Vec<Plugin>) -> Dispatcher {
        Dispatcher {
            plugins,
            stats: DispatchStats::default(),
        }
    }

    /// The plugins' names, in call order.
    pub fn plugin_names(&self) -> impl Iterator<Item = &str> {
        self.plugins.iter().map(Plugin::name)
    }

    /// What has been done so far.
    pub fn stats(&self) -> DispatchStats {
        self.stats
    }

    /// Hands `event` to every plugin. BOOKMARK and ERROR events are not for plugins and are
    /// ignored here; sources handle them.
    pub fn deliver(&mut self, event: &WatchEvent) {
        let meta = event.meta();
        if !meta.event_type.is_object_change() {
            return;
        }
        self.stats.events += 1;
        for plugin in &mut self.plugins {
            match plugin.handle_event(event.raw()) {
                Ok(outcome) => {
                    self.stats.calls += 1;
                    if let Some(outcome) = outcome {
                        logging::plugin_outcome(plugin.name(), meta, &outcome);
                    }
                }
                Err(error) => {
                    self.stats.failures += 1;
                    let next = if error.poisons_instance() {
                        "; it gets a fresh instance for the next event"
                    } else {
                        ""
                    };
                    tracing::error!(
                        plugin = plugin.name(),
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
            }
        }
    }
}
