//! The one-shot commands beside the live controller ([`crate::controller`]): [`replay`] runs a
//! file of recorded watch events through the plugins, [`record`] writes such a file from a
//! cluster's watches, and [`check`] tries one plugin against the ABI with a sample event;
//! [`status`] asks a running controller what runs (its `/plugins` endpoint). [`new`] writes a
//! new plugin project (Rust, C, Go, Zig or AssemblyScript) that builds, checks and replays as
//! written. [`push`] publishes a plugin to an OCI registry, signed or not. The binary parses the
//! command line and calls them.

pub mod check;
pub mod new;
pub mod push;
pub mod record;
pub mod replay;
pub mod status;

use crate::config::FileConfig;
use crate::controller;
use crate::dispatch::{Dispatcher, Pace};
use crate::loader::{self, DirError};
use crate::metrics::Metrics;
use crate::runtime::RuntimeError;
use crate::worker::PoolError;
use std::path::Path;
use std::sync::Arc;

/// Why the plugins of a one-shot command could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The WebAssembly runtime could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The plugins directory could not be read.
    #[error(transparent)]
    Dir(#[from] DirError),
    /// A worker thread could not be started.
    #[error("cannot start the plugin workers: {0}")]
    Workers(#[from] PoolError),
}

/// Loads the plugins directory once (no reload) and starts a worker per plugin, each taking
/// every event at the reader's pace.
fn start_plugins(
    plugins_dir: &Path,
    config: &FileConfig,
    cache_dir: Option<&str>,
    metrics: &Arc<Metrics>,
) -> Result<Dispatcher, StartError> {
    let mut runtime = controller::plugin_runtime(config, cache_dir)?;
    runtime.set_metrics(Some(metrics.clone()));
    let loaded = loader::load_dir(&runtime, plugins_dir, config)?;
    for (name, _) in &loaded.failures {
        metrics.plugin_load_failed(name);
    }
    let plugins = loaded
        .plugins
        .into_iter()
        .map(|loaded| (loaded.plugin, loaded.options))
        .collect();
    // A file can wait: every plugin sees every event, as the live controller would with a
    // plugin that keeps up.
    let dispatcher = Dispatcher::start(plugins, metrics.clone())?;
    Ok(dispatcher.with_pace(Pace::Backpressure))
}
