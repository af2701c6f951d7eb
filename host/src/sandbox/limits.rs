//! What one plugin may use: time per call, linear memory, table elements and, optionally, fuel.
//!
//! Time is enforced with epoch interruption: each call is armed with its deadline, and the
//! runtime's ticker ([`EpochTicker`](super::EpochTicker)) bumps the engine's epoch once a call
//! in flight is past it, which interrupts that call. Memory and tables are enforced by [`Limiter`], which
//! makes growing past the cap trap the call (instead of returning -1, which a guest could
//! ignore) and remembers why, so that the failure is reported as a memory failure rather than
//! as whatever the guest did next.

use std::time::Duration;
use wasmtime::ResourceLimiter;

/// How often the runtime's ticker advances the engine's epoch again while a call past its
/// deadline has not returned yet.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The limits of one plugin. The defaults suit plugins that log, alert or call out briefly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one `handle_event` call may take (with its `alloc`/`dealloc`).
    pub call_timeout: Duration,
    /// Time `_initialize` plus `init` may take when an instance starts.
    pub init_timeout: Duration,
    /// Bytes of linear memory an instance may grow to.
    pub memory: usize,
    /// Elements a table may grow to.
    pub table_elements: usize,
    /// Fuel (about one unit per wasm instruction) per call; `None`: not metered.
    pub fuel: Option<u64>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            call_timeout: Duration::from_secs(2),
            init_timeout: Duration::from_secs(10),
            memory: 128 << 20,
            table_elements: 100_000,
            fuel: None,
        }
    }
}

impl Limits {
    /// No limits at all: no deadline worth the name, no memory or table cap, no fuel, and no
    /// limiter installed. For measuring what the limits cost, not for production.
    pub fn unlimited() -> Limits {
        Limits {
            call_timeout: Duration::MAX,
            init_timeout: Duration::MAX,
            memory: usize::MAX,
            table_elements: usize::MAX,
            fuel: None,
        }
    }
}

/// A limit the guest ran into; carried as the trap's error so the failure can be named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// Linear memory would have grown past the cap.
    #[error(
        "memory limit: the plugin asked for {desired} bytes of linear memory; the limit is {limit}"
    )]
    Memory {
        /// The size it asked for.
        desired: usize,
        /// The cap.
        limit: usize,
    },
    /// A table would have grown past the cap.
    #[error("table limit: the plugin asked for {desired} table elements; the limit is {limit}")]
    Table {
        /// The size it asked for.
        desired: usize,
        /// The cap.
        limit: usize,
    },
}

/// The store's resource limiter: growth past a cap traps with [`LimitExceeded`].
///
/// The memory cap covers all the linear memories of the store together: a core module has one,
/// a component may have several (its language runtime's, a WASI adapter's).
#[derive(Debug)]
pub struct Limiter {
    memory: usize,
    table_elements: usize,
    /// Bytes of linear memory of every memory of the store, together.
    memory_in_use: usize,
    counts: Counts,
}

/// How many instances, memories and tables a store may hold.
#[derive(Debug, Clone, Copy)]
struct Counts {
    instances: usize,
    memories: usize,
    tables: usize,
}

impl Counts {
    /// One core module: one instance, one memory, and the one function table toolchains emit
    /// (a few more are harmless).
    const MODULE: Counts = Counts {
        instances: 1,
        memories: 1,
        tables: 4,
    };
    /// A component links several core modules (the plugin, its language runtime, the WASI
    /// adapter, the shims between them).
    const COMPONENT: Counts = Counts {
        instances: 64,
        memories: 8,
        tables: 64,
    };
}

impl Limiter {
    /// A limiter enforcing `limits` on one core module's instance.
    pub fn new(limits: &Limits) -> Limiter {
        Limiter {
            memory: limits.memory,
            table_elements: limits.table_elements,
            memory_in_use: 0,
            counts: Counts::MODULE,
        }
    }

    /// Bytes of linear memory the store's memories hold together (as far as the limiter saw
    /// them grow: it is installed whenever a memory cap is set, the default).
    pub fn memory_in_use(&self) -> usize {
        self.memory_in_use
    }

    /// Lets the store hold a component's core instances, memories and tables (the memory cap
    /// still covers them all together).
    pub fn allow_component(&mut self) {
        self.counts = Counts::COMPONENT;
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let others = self.memory_in_use.saturating_sub(current);
        let total = others.saturating_add(desired);
        if total > self.memory {
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                desired: total,
                limit: self.memory,
            }));
        }
        self.memory_in_use = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(wasmtime::Error::new(LimitExceeded::Table {
                desired,
                limit: self.table_elements,
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.counts.instances
    }

    fn memories(&self) -> usize {
        self.counts.memories
    }

    fn tables(&self) -> usize {
        self.counts.tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_a_cap_is_an_error_that_names_the_limit() {
        let limits = Limits {
            memory: 1 << 20,
            table_elements: 10,
            ..Limits::default()
        };
        let mut limiter = Limiter::new(&limits);
        assert!(limiter.memory_growing(0, 1 << 20, None).expect("allowed"));
        let error = limiter
            .memory_growing(1 << 20, 2 << 20, None)
            .expect_err("past the cap");
        assert_eq!(
            error.downcast_ref::<LimitExceeded>(),
            Some(&LimitExceeded::Memory {
                desired: 2 << 20,
                limit: 1 << 20
            })
        );
        assert!(limiter.table_growing(0, 10, None).expect("allowed"));
        assert!(limiter.table_growing(10, 11, None).is_err());
    }
}
