//! `event-controller check PLUGIN`: loads one plugin as the controller would (ABI check,
//! instantiation, `init` with its config), calls it once with a sample event, and reports what
//! it found.

use crate::config::FileConfig;
use crate::controller;
use crate::event::{EventError, WatchEvent};
use crate::loader::{self, PluginFileError};
use crate::plugin::{CallError, ModuleShape, Outcome, Retry};
use crate::runtime::{CacheStatus, RuntimeError};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A sample watch event (a real Pod from a real API server), used unless another is given.
pub const SAMPLE_EVENT: &str = include_str!("../../../conf/sample-event.json");

/// Why a plugin could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The event file could not be read.
    #[error("cannot read event file {path}: {cause}")]
    EventFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The event is not a watch event.
    #[error("the sample event is not a watch event: {0}")]
    Event(#[from] EventError),
    /// The WebAssembly runtime could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The plugin could not be loaded (its message names the file and the reason).
    #[error(transparent)]
    Load(#[from] PluginFileError),
}

/// What `check` found; its `Display` is the report the command prints.
#[derive(Debug)]
pub struct CheckReport {
    name: String,
    path: PathBuf,
    size: u64,
    load_time: Duration,
    compile_time: Duration,
    cache: CacheStatus,
    sees: String,
    shape: ModuleShape,
    event: String,
    call: Result<Outcome, CallError>,
    call_time: Duration,
}

impl CheckReport {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why the sample call failed, if it did.
    pub fn call_error(&self) -> Option<&CallError> {
        self.call.as_ref().err()
    }
}

/// Loads `path` with its settings from `config` and calls it with the event in `event_file`
/// (or [`SAMPLE_EVENT`]).
pub fn run(
    path: &Path,
    event_file: Option<&Path>,
    config: &FileConfig,
    cache_dir: Option<&str>,
) -> Result<CheckReport, CheckError> {
    let event_text = match event_file {
        Some(file) => std::fs::read_to_string(file).map_err(|cause| CheckError::EventFile {
            path: file.to_owned(),
            cause,
        })?,
        None => SAMPLE_EVENT.to_owned(),
    };
    let event = WatchEvent::parse(event_text.trim().as_bytes().to_vec())?;
    let runtime = controller::plugin_runtime(config, cache_dir)?;
    let started = Instant::now();
    let loaded = loader::load_file(&runtime, path, config)?;
    let load_time = started.elapsed();
    let mut plugin = loaded.plugin;
    let meta = event.meta();
    let described_event = format!(
        "{} {} {} ({} bytes)",
        meta.event_type,
        meta.kind(),
        meta.object_ref(),
        event.raw().len()
    );
    let started = Instant::now();
    let call = plugin.handle_event(event.raw());
    let call_time = started.elapsed();
    Ok(CheckReport {
        name: plugin.name().to_owned(),
        path: path.to_owned(),
        size: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        load_time,
        compile_time: plugin.compile_time(),
        cache: plugin.cache_status().clone(),
        sees: loaded.options.subscription.describe(),
        shape: plugin.shape(),
        event: described_event,
        call,
        call_time,
    })
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let shape = &self.shape;
        writeln!(
            f,
            "plugin:   {} ({}, {} bytes)",
            self.name,
            self.path.display(),
            self.size
        )?;
        writeln!(
            f,
            "loaded:   in {:.1} ms (compile {:.1} ms, cache {:?}; ABI check, instantiate, init)",
            ms(self.load_time),
            ms(self.compile_time),
            self.cache
        )?;
        writeln!(f, "sees:     {}", self.sees)?;
        if shape.abi_version == 2 {
            writeln!(
                f,
                "abi:      v2 (a component, wit/plugin.wit); init: {}; WASI 0.2: {}",
                yes_no(shape.has_init),
                yes_no(shape.uses_wasi)
            )?;
        } else {
            writeln!(
                f,
                "abi:      v1 ({}); init: {}; _initialize: {}; WASI: {}",
                if shape.declares_version {
                    "declared"
                } else {
                    "assumed"
                },
                yes_no(shape.has_init),
                yes_no(shape.has_initialize),
                yes_no(shape.uses_wasi)
            )?;
        }
        writeln!(f, "event:    {}", self.event)?;
        let Ok(outcome) = &self.call else {
            return Ok(());
        };
        match &outcome.message {
            Some(m) => writeln!(f, "result:   {} {}", m.level.as_str(), m.text)?,
            None => writeln!(f, "result:   nothing to log")?,
        }
        match outcome.retry {
            Some(Retry::Backoff) => writeln!(f, "retry:    asked for, after the back-off")?,
            Some(Retry::After(delay)) => writeln!(f, "retry:    asked for, after {delay:?}")?,
            None => {}
        }
        writeln!(
            f,
            "call:     {:.1} µs (first call)",
            self.call_time.as_secs_f64() * 1e6
        )
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
