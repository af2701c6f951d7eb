//! Readiness: `/readyz` answers ok once the plugins are loaded and every watch has completed
//! its first list.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Readiness: the plugins are loaded and every watch has completed its first list.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<HealthState>,
}

/// What [`Health`] knows, behind its lock.
#[derive(Debug, Default)]
struct HealthState {
    plugins_loaded: bool,
    /// Watches still waiting for their first list, in the order they were expected.
    pending: Vec<String>,
    /// Watches that have completed their first list.
    synced: Vec<String>,
}

impl Health {
    /// Not ready: the plugins are not loaded yet, and no watch is expected.
    pub fn new() -> Health {
        Health::default()
    }

    /// Expects `watch` (for example, "pods in shop") to complete its first list before the
    /// controller is ready. A watch that has already synced, or is already expected, is ignored.
    pub fn expect_sync(&self, watch: &str) {
        let mut state = self.lock();
        let known = |list: &[String]| list.iter().any(|w| w == watch);
        if !known(&state.pending) && !known(&state.synced) {
            state.pending.push(watch.to_owned());
        }
    }

    /// Records that `watch` has completed its first list. Calling it again does nothing.
    pub fn synced(&self, watch: &str) {
        let mut state = self.lock();
        state.pending.retain(|w| w != watch);
        if !state.synced.iter().any(|w| w == watch) {
            state.synced.push(watch.to_owned());
        }
    }

    /// Records that the plugin directory has been loaded.
    pub fn plugins_loaded(&self) {
        self.lock().plugins_loaded = true;
    }

    /// `Ok` when ready; otherwise what is missing, for example "plugins not loaded yet" or
    /// "waiting for the first list of: pods in shop, routes" (both, joined by "; ").
    pub fn readiness(&self) -> Result<(), String> {
        let state = self.lock();
        let mut missing = Vec::new();
        if !state.plugins_loaded {
            missing.push("plugins not loaded yet".to_owned());
        }
        if !state.pending.is_empty() {
            missing.push(format!(
                "waiting for the first list of: {}",
                state.pending.join(", ")
            ));
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join("; "))
        }
    }

    /// The state; a panic while it was held cannot leave it inconsistent, so poison is ignored.
    fn lock(&self) -> MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn readiness_waits_for_plugins_and_first_lists() {
        let health = Health::new();
        assert_eq!(health.readiness(), Err("plugins not loaded yet".to_owned()));
        health.expect_sync("pods in shop");
        health.expect_sync("routes");
        health.expect_sync("routes");
        assert_eq!(
            health.readiness(),
            Err(
                "plugins not loaded yet; waiting for the first list of: pods in shop, routes"
                    .to_owned()
            )
        );
        health.plugins_loaded();
        health.synced("routes");
        assert_eq!(
            health.readiness(),
            Err("waiting for the first list of: pods in shop".to_owned())
        );
        health.synced("pods in shop");
        health.synced("pods in shop");
        assert_eq!(health.readiness(), Ok(()));
        // A watch that already synced stays synced when it is expected again.
        health.expect_sync("routes");
        assert_eq!(health.readiness(), Ok(()));
    }

    #[test]
    fn readiness_survives_a_poisoned_lock() {
        let health = Arc::new(Health::new());
        let poisoner = health.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = poisoner.lock();
            panic!("poison the health lock");
        })
        .join();
        assert!(panicked.is_err());
        health.plugins_loaded();
        assert_eq!(health.readiness(), Ok(()));
    }
}
