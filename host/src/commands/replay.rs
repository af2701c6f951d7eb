//! `event-controller replay FILE`: recorded watch events (one JSON event per line, `-` for
//! stdin) through every plugin in the directory, then a summary.

use super::{start_plugins, StartError};
use crate::config::FileConfig;
use crate::metrics::Metrics;
use crate::source;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The plugins could not be started.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The events file could not be opened.
    #[error("cannot open events file {path}: {cause}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// Reading the events failed part way.
    #[error("reading {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// Some lines were not watch events (each was logged with its line number and skipped).
    #[error("{malformed} of {lines} lines in {path} were not watch events (see the log for their line numbers)")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Lines that were not watch events.
        malformed: u64,
        /// Lines read.
        lines: u64,
    },
}

/// Replays `file` through the plugins in `plugins_dir`, waiting for the retries they ask for.
pub fn run(
    file: &Path,
    plugins_dir: &Path,
    config: &FileConfig,
    cache_dir: Option<&str>,
) -> Result<(), ReplayError> {
    let metrics = Arc::new(Metrics::new());
    let mut dispatcher = start_plugins(plugins_dir, config, cache_dir, &metrics)?;
    if dispatcher.plugin_names().is_empty() {
        tracing::warn!(dir = %plugins_dir.display(), "no plugins loaded; events are read but go nowhere");
    }
    let input = open(file)?;
    let started = Instant::now();
    let summary =
        source::replay::replay(input, |event| dispatcher.deliver(event)).map_err(|cause| {
            ReplayError::Read {
                path: file.to_owned(),
                cause,
            }
        })?;
    // The retries the plugins asked for are part of the run: wait for them too.
    dispatcher.wait_idle();
    let stats = dispatcher.finish();
    tracing::info!(
        lines = summary.lines,
        delivered = summary.delivered,
        skipped = summary.skipped,
        malformed = summary.malformed,
        plugin_failures = stats.failures,
        plugin_skipped = stats.skipped,
        elapsed_ms = %format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
        "replay finished"
    );
    if summary.malformed > 0 {
        return Err(ReplayError::Malformed {
            path: file.to_owned(),
            malformed: summary.malformed,
            lines: summary.lines,
        });
    }
    Ok(())
}

/// `file`, or stdin for `-` (the replay reads in large blocks of its own).
fn open(file: &Path) -> Result<Box<dyn Read>, ReplayError> {
    if file == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let opened = std::fs::File::open(file).map_err(|cause| ReplayError::Open {
        path: file.to_owned(),
        cause,
    })?;
    Ok(Box::new(opened))
}
