//! Heavy plugins yield the CPU. A worker whose plugin's calls average more than
//! [`HEAVY_CALL`] over a window of 16 calls lowers its own thread's priority ([`HEAVY_NICE`]) for
//! the rest of its life, and says so once. Under contention the cores then go first to the
//! source, the dispatcher and the plugins that keep up, so a CPU-bound plugin costs the others
//! little latency; on an idle core it changes nothing, and a plugin that waits (on HTTP, say)
//! uses no CPU either way. The change is one way: an unprivileged thread may lower its priority
//! but not raise it again.

use std::time::Duration;

/// A call costing more than this on average makes a plugin heavy.
pub const HEAVY_CALL: Duration = Duration::from_millis(1);
/// Calls averaged before deciding.
const WINDOW: u32 = 16;
/// The nice value of a heavy plugin's thread (0 is the default, 19 the lowest priority).
pub const HEAVY_NICE: i32 = 10;

/// The cost of a worker's recent calls.
#[derive(Debug, Default)]
pub(super) struct CallCost {
    total: Duration,
    calls: u32,
    lowered: bool,
}

impl CallCost {
    /// Counts a call that took `took`; lowers the calling thread's priority once the average
    /// of a window is heavy.
    pub(super) fn record(&mut self, took: Duration, plugin: &str) {
        if self.lowered {
            return;
        }
        self.total += took;
        self.calls += 1;
        if self.calls < WINDOW {
            return;
        }
        let average = self.total / self.calls;
        self.total = Duration::ZERO;
        self.calls = 0;
        if average > HEAVY_CALL {
            self.lowered = true;
            lower_this_thread(plugin, average);
        }
    }
}

fn lower_this_thread(plugin: &str, average: Duration) {
    let thread = rustix::thread::gettid();
    match rustix::process::setpriority_process(Some(thread), HEAVY_NICE) {
        Ok(()) => tracing::info!(
            plugin,
            average_call_ms = %format_args!("{:.1}", average.as_secs_f64() * 1e3),
            nice = HEAVY_NICE,
            "plugin {plugin}'s calls take {average:.1?} on average: its thread now yields the \
             CPU to lighter plugins (nice {HEAVY_NICE})"
        ),
        Err(error) => tracing::debug!(plugin, %error, "cannot lower the plugin thread's priority"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of_this_thread() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("getpriority")
    }

    #[test]
    fn light_calls_keep_the_priority_and_heavy_ones_lower_it_once() {
        std::thread::spawn(|| {
            let mut cost = CallCost::default();
            for _ in 0..WINDOW * 4 {
                cost.record(Duration::from_micros(20), "light");
            }
            assert_eq!(nice_of_this_thread(), 0);
            for _ in 0..WINDOW {
                cost.record(Duration::from_millis(5), "heavy");
            }
            assert_eq!(nice_of_this_thread(), HEAVY_NICE);
            assert!(cost.lowered);
        })
        .join()
        .expect("the test thread");
    }
}
