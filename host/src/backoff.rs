//! Exponential back-off: the one doubling delay the host uses, for reconnecting watches,
//! pausing a failing plugin and retrying an object a plugin asked to retry.

use std::time::Duration;

/// A delay that doubles with each consecutive failure, from `first` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `first`, doubles, and stays at `max` once there.
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max }
    }

    /// The delay after `failures` consecutive failures: `first` after one (or none), twice
    /// that after two, and so on up to `max`.
    pub fn after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1);
        self.first
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_first_delay_up_to_the_ceiling() {
        let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let delays: Vec<u64> = (0..10)
            .map(|n| backoff.after(n).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [500, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff.after(u32::MAX), Duration::from_secs(30));
    }
}
