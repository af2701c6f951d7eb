//! The `event-controller` binary: a thin command line over the library.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use event_controller::config::{FileConfig, DEFAULT_PLUGINS_DIR};
use event_controller::dispatch::Dispatcher;
use event_controller::event::WatchEvent;
use event_controller::logging::{self, LogFormat, LogSettings};
use event_controller::plugin::{self, Plugin};
use event_controller::runtime::Runtime;
use event_controller::{loader, source};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// A sample watch event (a real Pod from a real API server) for `check`.
const SAMPLE_EVENT: &str = include_str!("../../conf/sample-event.json");

#[derive(Parser)]
#[command(name = "event-controller", version, about, long_about = None)]
struct Cli {
    /// TOML config file (see conf/config.toml).
    #[arg(long, env = "CONFIG_FILE", global = true)]
    config: Option<PathBuf>,
    /// Directory of `*.wasm` plugins [default: /etc/event-controller/plugins].
    #[arg(long, env = "PLUGINS_DIR", global = true)]
    plugins_dir: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true)]
    log_format: Option<LogFormat>,
    /// Log level (trace, debug, info, warn/warning, error) or RUST_LOG-style directives
    /// [default: RUST_LOG, else info].
    #[arg(long, env = "LOG_LEVEL", global = true)]
    log_level: Option<String>,
    /// Write the log to this file instead of stderr.
    #[arg(long, env = "LOG_FILE", global = true)]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Watch the cluster and feed the plugins (the default).
    Run,
    /// Run recorded watch events (one JSON event per line; `-` for stdin) through the plugins.
    Replay {
        /// The file of events, or `-` for stdin.
        file: PathBuf,
    },
    /// Check a plugin against the ABI and call it with a sample event.
    Check {
        /// The plugin's `.wasm` file.
        plugin: PathBuf,
        /// A file holding one watch event to use instead of the built-in sample Pod.
        #[arg(long)]
        event: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let file_config = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let log_settings = LogSettings {
        format: cli
            .log_format
            .or(file_config.log_format)
            .unwrap_or_default(),
        filter: cli
            .log_level
            .clone()
            .or_else(|| std::env::var("RUST_LOG").ok())
            .or_else(|| file_config.log_level.clone())
            .unwrap_or_else(|| "info".to_owned()),
        file: cli.log_file.clone(),
    };
    // Kept until the end of `run` so that every line is flushed.
    let _log_guard = logging::init(&log_settings)?;
    let plugins_dir = cli
        .plugins_dir
        .clone()
        .or_else(|| file_config.plugins_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PLUGINS_DIR));
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run_controller(),
        Command::Replay { file } => replay(&file, &plugins_dir, &file_config),
        Command::Check { plugin, event } => check(&plugin, event.as_deref(), &file_config),
    }
}

fn run_controller() -> Result<ExitCode> {
    tracing::error!(
        "the live Kubernetes source is not built yet; use `event-controller replay FILE` to run \
         recorded watch events through the plugins"
    );
    Ok(ExitCode::from(2))
}

fn replay(file: &Path, plugins_dir: &Path, config: &FileConfig) -> Result<ExitCode> {
    let runtime = Runtime::new()?;
    let loaded = loader::load_dir(&runtime, plugins_dir, config)?;
    if loaded.plugins.is_empty() {
        tracing::warn!(dir = %plugins_dir.display(), "no plugins loaded; events are read but go nowhere");
    }
    let mut dispatcher = Dispatcher::new(loaded.plugins);
    let input: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let opened = std::fs::File::open(file)
            .with_context(|| format!("cannot open events file {}", file.display()))?;
        Box::new(std::io::BufReader::with_capacity(256 << 10, opened))
    };
    let started = Instant::now();
    let summary = source::replay::replay(input, |event| dispatcher.deliver(event))
        .with_context(|| format!("reading {}", file.display()))?;
    let stats = dispatcher.stats();
    tracing::info!(
        lines = summary.lines,
        delivered = summary.delivered,
        skipped = summary.skipped,
        malformed = summary.malformed,
        plugin_failures = stats.failures,
        plugins_not_loaded = loaded.failures.len(),
        elapsed_ms = %format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
        "replay finished"
    );
    if summary.malformed > 0 {
        bail!(
            "{} of {} lines in {} were not watch events (see the log for their line numbers)",
            summary.malformed,
            summary.lines,
            file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check(path: &Path, event_file: Option<&Path>, config: &FileConfig) -> Result<ExitCode> {
    let event_text = match event_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read event file {}", file.display()))?,
        None => SAMPLE_EVENT.to_owned(),
    };
    let event = WatchEvent::parse(event_text.trim().as_bytes().to_vec())
        .context("the sample event is not a watch event")?;
    let runtime = Runtime::new()?;
    let name = plugin::plugin_name(path);
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let started = Instant::now();
    let mut plugin = Plugin::load(&runtime, path, config.plugin(&name).config_json())?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let shape = plugin.shape();
    println!("plugin:   {name} ({}, {size} bytes)", path.display());
    println!("loaded:   in {load_ms:.1} ms (compile, ABI check, instantiate, init)");
    println!(
        "abi:      v1 ({}); init: {}; _initialize: {}; WASI: {}",
        if shape.declares_version {
            "declared"
        } else {
            "assumed"
        },
        yes_no(shape.has_init),
        yes_no(shape.has_initialize),
        yes_no(shape.uses_wasi)
    );
    let meta = event.meta();
    println!(
        "event:    {} {} {} ({} bytes)",
        meta.event_type,
        meta.kind,
        meta.object_ref(),
        event.raw().len()
    );
    let started = Instant::now();
    let outcome = plugin.handle_event(event.raw());
    let call_us = started.elapsed().as_secs_f64() * 1e6;
    match outcome {
        Ok(Some(outcome)) => {
            println!("result:   {} {}", outcome.level.as_str(), outcome.message);
            println!("call:     {call_us:.1} µs (first call)");
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => {
            println!("result:   nothing to log");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => bail!("plugin {name}: handle_event failed: {error}"),
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
