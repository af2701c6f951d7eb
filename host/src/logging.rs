//! Log set-up (text for people, JSON for pipelines) and the log lines plugins cause.
//!
//! Messages from plugins use the target `plugin`, so `RUST_LOG=plugin=warn` filters them apart
//! from the host's own lines (targets `event_controller::...`).

mod batch;
mod fields;

use crate::event::EventMeta;
use event_controller_guest::abi::Level;
use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, fields at the top level.
    Json,
}

/// Where and how to log.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    /// Text or JSON.
    pub format: LogFormat,
    /// A level name (`info`, `WARNING`...) or `RUST_LOG`-style directives.
    pub filter: String,
    /// Write to this file instead of stderr.
    pub file: Option<PathBuf>,
}

/// The log could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The level or filter does not parse.
    #[error("invalid log level or filter {filter:?}: {message}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// The parser's message.
        message: String,
    },
    /// The log file cannot be opened.
    #[error("cannot open log file {path}: {cause}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The log writer's thread cannot be started.
    #[error("cannot start the log writer thread: {0}")]
    Thread(std::io::Error),
}

/// Keeps the background log writer alive; dropping it writes every pending line.
///
/// Lines are formatted on the calling thread and written by a background thread in batches
/// (see [`batch`]): a burst of events costs one write, and a quiet controller still shows
/// every line at once.
pub struct LogGuard {
    _writer: batch::BatchGuard,
}

/// Timestamps as `2026-12-06T21:47:54.656723Z` (UTC, microseconds), like tracing's default, with
/// the date and time up to the second formatted once per second per thread.
struct UtcMicros;

thread_local! {
    /// The last second formatted on this thread, and its text up to the decimal point.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = since_epoch.as_secs();
        SECOND.with_borrow_mut(|(cached, text)| {
            if *cached != seconds {
                *cached = seconds;
                *text = second_text(seconds);
            }
            write!(w, "{text}.{:06}Z", since_epoch.subsec_micros())
        })
    }
}

/// `2026-12-06T21:47:54` for a Unix time in seconds.
fn second_text(seconds: u64) -> String {
    let timestamp = i64::try_from(seconds)
        .ok()
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
        .unwrap_or_default();
    let mut text = timestamp.to_string();
    // `Display` ends with `Z` and has no fraction for a whole second.
    text.pop();
    text
}

/// Libraries whose failures the source reports itself (see [`filter_directives`]).
const QUIET_BELOW_DEBUG: &str = "kube_client=off,rustls_platform_verifier=off";

/// Turns the seed's level names (`WARNING`, `CRITICAL`) and plain levels into a filter.
///
/// A plain level also silences kube-rs's and the TLS verifier's own error lines below DEBUG:
/// the source reports every failure itself, once, with what and where.
fn filter_directives(level: &str) -> String {
    let simple = match level.trim().to_ascii_lowercase().as_str() {
        "warning" => "warn".to_owned(),
        "critical" | "fatal" => "error".to_owned(),
        "" => "info".to_owned(),
        simple @ ("trace" | "debug" | "info" | "warn" | "error" | "off") => simple.to_owned(),
        _ => return level.trim().to_owned(),
    };
    match simple.as_str() {
        // The host and plugins at that level; libraries (cranelift, wasmtime, hyper) stay at
        // INFO, or a short replay prints thousands of compiler lines. RUST_LOG-style
        // directives reach them.
        "trace" | "debug" => format!("info,event_controller={simple},plugin={simple}"),
        _ => format!("{simple},{QUIET_BELOW_DEBUG}"),
    }
}

/// Installs the global subscriber.
pub fn init(settings: &LogSettings) -> Result<LogGuard, LoggingError> {
    let filter = EnvFilter::try_new(filter_directives(&settings.filter)).map_err(|e| {
        LoggingError::Filter {
            filter: settings.filter.clone(),
            message: e.to_string(),
        }
    })?;
    let (started, ansi) = match &settings.file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|cause| LoggingError::File {
                    path: path.clone(),
                    cause,
                })?;
            (batch::start(file), false)
        }
        None => (
            batch::start(std::io::stderr()),
            std::io::stderr().is_terminal(),
        ),
    };
    let (writer, guard) = started.map_err(LoggingError::Thread)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(UtcMicros)
        .with_writer(writer);
    // A second initialisation (tests, benchmarks) keeps the first subscriber.
    let _ = match settings.format {
        LogFormat::Text => builder
            .with_ansi(ansi)
            .fmt_fields(fields::FastFields)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    Ok(LogGuard { _writer: guard })
}

/// Emits one tracing event at a level chosen at run time.
macro_rules! at_level {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            Level::Trace => tracing::trace!($($rest)+),
            Level::Debug => tracing::debug!($($rest)+),
            Level::Info => tracing::info!($($rest)+),
            Level::Warn => tracing::warn!($($rest)+),
            Level::Error => tracing::error!($($rest)+),
        }
    };
}

/// Logs the message a plugin returned for an event, at the level it asked for, with the event's
/// identity as fields. (A retry it asked for is the worker's to log.)
pub fn plugin_message(plugin: &str, event: &EventMeta, level: Level, text: &str) {
    at_level!(
        level,
        target: "plugin",
        message = text,
        plugin,
        event_type = event.event_type.as_str(),
        kind = event.kind(),
        namespace = event.namespace().unwrap_or(""),
        name = event.name(),
    );
}

/// Logs a line a plugin wrote through the `log` import (`stream = "log"`) or to stdout/stderr.
pub fn plugin_line(plugin: &str, stream: &'static str, level: Level, text: &str) {
    at_level!(level, target: "plugin", message = text, plugin, stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_seeds_level_names() {
        assert_eq!(
            filter_directives("WARNING"),
            format!("warn,{QUIET_BELOW_DEBUG}")
        );
        assert_eq!(
            filter_directives("Debug"),
            "info,event_controller=debug,plugin=debug"
        );
        assert_eq!(
            filter_directives("CRITICAL"),
            format!("error,{QUIET_BELOW_DEBUG}")
        );
        assert_eq!(filter_directives("plugin=warn,info"), "plugin=warn,info");
    }

    #[test]
    fn timestamps_read_like_tracings_own() {
        assert_eq!(second_text(1_796_593_674), "2026-12-06T21:47:54");
        assert_eq!(second_text(0), "1970-01-01T00:00:00");
        let mut text = String::new();
        UtcMicros
            .format_time(&mut Writer::new(&mut text))
            .expect("format");
        let (second, fraction) = text.split_once('.').expect("a fraction");
        assert_eq!(second.len(), "2026-12-06T21:47:54".len());
        assert_eq!(fraction.len(), "656723Z".len());
        assert!(fraction.ends_with('Z'));
    }
}
