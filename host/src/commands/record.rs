//! `event-controller record FILE`: the configured resources' watch events, one JSON event per
//! line, exactly as `replay` reads them, until a count, a duration, or SIGINT/SIGTERM. The
//! plugin author's way to turn a real cluster into a test file.

use crate::cluster::{self, ConnectError};
use crate::controller;
use crate::source::kube::{KubeSettings, Observer};
use crate::source::{self, SourceEvent};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// When to stop recording (besides SIGINT or SIGTERM, which always stop it).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordUntil {
    /// After this many events.
    pub count: Option<u64>,
    /// After this long.
    pub duration: Option<Duration>,
}

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No resource to watch was configured.
    #[error("nothing to record: set K8S_RESOURCE, --resource, or `resources` in the config file")]
    NothingToWatch,
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    AsyncRuntime(std::io::Error),
    /// The cluster could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The output could not be written.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file (`-`: stdout).
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// What was recorded, and why it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Events written.
    pub events: u64,
    /// What ended the recording: `count`, `duration`, `SIGINT`, `SIGTERM` or `watches ended`.
    pub stopped_by: &'static str,
}

/// Records the watch events of `settings`' resources into `output` (`-`: stdout) until `until`.
pub fn run(
    settings: &KubeSettings,
    output: &Path,
    until: RecordUntil,
) -> Result<Recorded, RecordError> {
    if settings.resources.is_empty() {
        return Err(RecordError::NothingToWatch);
    }
    let write_error = |cause| RecordError::Write {
        path: output.to_owned(),
        cause,
    };
    let mut sink: Box<dyn Write> = if output == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(output).map_err(write_error)?)
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RecordError::AsyncRuntime)?;
    let connection = tokio.block_on(cluster::connect(&settings.cluster))?;
    let (events, mut received) = mpsc::channel::<SourceEvent>(1024);
    tokio.spawn(source::kube::run(
        connection,
        settings.clone(),
        events,
        Observer::default(),
    ));
    let deadline = until.duration.map(|d| Instant::now() + d);
    let recorded = tokio.block_on(async {
        // Made once: a signal or the deadline is not missed while an event is written.
        let shutdown = controller::shutdown_signal();
        let time_up = sleep_until(deadline);
        tokio::pin!(shutdown, time_up);
        let mut written = 0u64;
        loop {
            if until.count.is_some_and(|count| written >= count) {
                return Ok(Recorded {
                    events: written,
                    stopped_by: "count",
                });
            }
            let next = tokio::select! {
                next = received.recv() => next,
                () = &mut time_up => return Ok(Recorded { events: written, stopped_by: "duration" }),
                signal = &mut shutdown => return Ok(Recorded { events: written, stopped_by: signal }),
            };
            match next {
                Some(SourceEvent::Event(event)) => {
                    sink.write_all(event.raw())
                        .and_then(|()| sink.write_all(b"\n"))
                        .and_then(|()| sink.flush())
                        .map_err(write_error)?;
                    written += 1;
                }
                Some(SourceEvent::Listed(target)) => {
                    tracing::info!(kind = %target.kind, namespace = ?target.namespace, "listed; recording the changes from now on");
                }
                Some(SourceEvent::Watching(_)) => {}
                None => {
                    return Ok(Recorded {
                        events: written,
                        stopped_by: "watches ended",
                    })
                }
            }
        }
    });
    tokio.shutdown_timeout(Duration::from_secs(1));
    recorded
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}
