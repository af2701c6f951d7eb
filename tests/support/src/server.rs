//! A third-party server the integration tests run as a child process (Alertmanager, PowerDNS,
//! CFSSL), which a test can stop (kill) in the middle of a run and start again with the same
//! command line: the same ports, the same data directory, its log appended to the same file.
//!
//! ```ignore
//! let process = ServerProcess::spawn("pdns_server", log_path, move || {
//!     let mut command = Command::new(SERVER);
//!     command.args(&args);
//!     command
//! });
//! process.wait_until(PATIENCE, || api_answers(port))?;
//! // ...
//! process.stop();
//! process.start_again(PATIENCE, || api_answers(port));
//! ```
//!
//! Its methods take `&self`, so a test can stop and start the server while closures (a
//! `context` for failure messages) borrow it. Dropping it kills the process.

use crate::wait;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long [`ServerProcess::start_again`] lets a port that lingers after a kill go free before
/// it launches the process again (not a poll: each launch is a new process).
const RELAUNCH_PAUSE: Duration = Duration::from_millis(200);

/// A server process, and how to start it again.
pub struct ServerProcess {
    name: String,
    log: PathBuf,
    command: Box<dyn Fn() -> Command + Send + Sync>,
    child: Mutex<Option<Child>>,
}

impl ServerProcess {
    /// Runs `command()` (its program and arguments; stdin, stdout and stderr are set here),
    /// with stdout and stderr appended to the file `log`. `name` is for messages.
    pub fn spawn(
        name: &str,
        log: PathBuf,
        command: impl Fn() -> Command + Send + Sync + 'static,
    ) -> ServerProcess {
        let process = ServerProcess {
            name: name.to_owned(),
            log,
            command: Box::new(command),
            child: Mutex::new(None),
        };
        process.launch();
        process
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn launch(&self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log.display()));
        let child = (self.command)()
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.name));
        *self.child() = Some(child);
    }

    /// Polls `ready` every [`wait::POLL`] until it holds. `Err` with the log when the process
    /// exits first (a port taken since it was probed, say) or `patience` runs out.
    pub fn wait_until(
        &self,
        patience: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let outcome = wait::within(patience, || {
            if let Some(status) = self.exit_status() {
                let exited = format!("{} exited with {status}:\n{}", self.name, self.log());
                return Some(Err(exited));
            }
            ready().then_some(Ok(()))
        });
        outcome.unwrap_or_else(|| {
            Err(format!(
                "{} not ready after {patience:?}:\n{}",
                self.name,
                self.log()
            ))
        })
    }

    /// `Some(status)` once the process has exited (or was stopped).
    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        match self.child().as_mut() {
            Some(child) => child.try_wait().expect("try_wait"),
            None => Some(std::os::unix::process::ExitStatusExt::from_raw(0)),
        }
    }

    /// True while the process runs.
    pub fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    /// Kills the process (SIGKILL, no goodbye) and waits for it to end.
    pub fn stop(&self) {
        if let Some(mut child) = self.child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again with the same command line, and waits until `ready` holds.
    /// Its ports may linger for a moment after [`ServerProcess::stop`]: an early exit is
    /// retried until `patience` runs out. Panics with the log if it never gets ready.
    pub fn start_again(&self, patience: Duration, mut ready: impl FnMut() -> bool) {
        self.stop();
        let start = Instant::now();
        let mut failed = String::new();
        let started = wait::within_every(RELAUNCH_PAUSE, patience, || {
            // No time left for another launch: give up with the last failure.
            let left = patience.checked_sub(start.elapsed())?;
            self.launch();
            match self.wait_until(left, &mut ready) {
                Ok(()) => Some(()),
                Err(log) if self.is_running() => panic!("{} did not start again: {log}", self.name),
                Err(log) => {
                    failed = log;
                    None
                }
            }
        });
        if started.is_none() {
            panic!("{} did not start again: {failed}", self.name);
        }
    }

    /// What the process logged so far (over all its runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
