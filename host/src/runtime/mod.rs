//! The shared wasmtime `Engine` and linkers (one engine for the whole process, one linker for
//! core modules and one for components, both holding [`crate::sandbox`]'s host functions), the
//! [`cache`] of compiled modules and components, and the start of the epoch
//! [`ticker`](crate::sandbox::ticker) behind deadlines.

pub mod cache;

pub use self::cache::{sha256_hex, Artifact, CacheStatus, ModuleCache};

use crate::capabilities::KubeAccess;
use crate::metrics::Metrics;
use crate::sandbox::{self, EpochTicker, HostServices, HostState};
use std::sync::Arc;
use wasmtime::component::{Component, Linker as ComponentLinker};
use wasmtime::{Config, Engine, Linker, Module, OptLevel};

/// The wasm stack a plugin call may use before it traps.
pub const MAX_WASM_STACK: usize = 512 << 10;

/// Why the runtime could not be set up (a bug or an unsupported platform, not bad input).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the WebAssembly runtime: {0}")]
pub struct RuntimeError(String);

/// Which guards the engine compiles into plugins. Each costs a little per call (see
/// docs/performance.md); production uses [`RuntimeOptions::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Deadlines by epoch interruption (default on).
    pub deadlines: bool,
    /// Fuel metering (default off; on when some plugin has a fuel limit).
    pub fuel: bool,
}

impl Default for RuntimeOptions {
    fn default() -> RuntimeOptions {
        RuntimeOptions {
            deadlines: true,
            fuel: false,
        }
    }
}

/// The engine every plugin is compiled with, the host functions every plugin may import, and
/// optionally the cache of compiled modules.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    component_linker: ComponentLinker<HostState>,
    cache: Option<ModuleCache>,
    services: HostServices,
}

impl Runtime {
    /// Creates the engine with the default guards and links WASI preview 1 and the
    /// `event_controller` host functions.
    pub fn new() -> Result<Runtime, RuntimeError> {
        Runtime::with_options(RuntimeOptions::default())
    }

    /// Like [`Runtime::new`] with the given guards. With deadlines, a thread (the
    /// [`EpochTicker`]) sleeps until the earliest deadline of the plugin calls in flight and
    /// advances the engine's epoch only once it has passed (parked, no wake-ups, while no call
    /// runs); it ends once this runtime and every plugin loaded with it are dropped.
    pub fn with_options(options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let mut config = Config::new();
        config
            .cranelift_opt_level(OptLevel::Speed)
            .max_wasm_stack(MAX_WASM_STACK)
            .epoch_interruption(options.deadlines)
            .consume_fuel(options.fuel)
            // Traps are reported as one line; backtraces would need debug info anyway.
            .wasm_backtrace_max_frames(None);
        let engine = Engine::new(&config).map_err(|e| RuntimeError(format!("{e:#}")))?;
        let epoch_ticker = if options.deadlines {
            EpochTicker::start(engine.weak())
                .map_err(|e| RuntimeError(format!("cannot start the epoch ticker: {e}")))?
        } else {
            EpochTicker::default()
        };
        let mut linker = Linker::new(&engine);
        sandbox::add_to_linker(&mut linker)
            .map_err(|e| RuntimeError(format!("linking the host functions: {e:#}")))?;
        let mut component_linker = ComponentLinker::new(&engine);
        sandbox::component::add_to_linker(&mut component_linker).map_err(|e| {
            RuntimeError(format!("linking the host functions for components: {e:#}"))
        })?;
        Ok(Runtime {
            engine,
            linker,
            component_linker,
            cache: None,
            services: HostServices {
                epoch_ticker,
                ..HostServices::default()
            },
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker holding the host functions core modules import (guest ABI v1).
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// The linker holding the host functions components import (guest ABI v2).
    pub fn component_linker(&self) -> &ComponentLinker<HostState> {
        &self.component_linker
    }

    /// Uses `cache` for compiled modules from now on (`None`: compile every time, the
    /// default). The cache should have been opened with [`Runtime::engine`]; one opened for
    /// another engine configuration is bypassed.
    pub fn set_module_cache(&mut self, cache: Option<ModuleCache>) {
        self.cache = cache;
    }

    /// Lets plugins granted Kubernetes writes use `access` (none: every such request is refused,
    /// as under `replay`).
    pub fn set_kube_access(&mut self, access: Option<Arc<KubeAccess>>) {
        self.services.kube = access;
    }

    /// The cluster access plugins started from now on get.
    pub fn kube_access(&self) -> Option<Arc<KubeAccess>> {
        self.services.kube.clone()
    }

    /// Counts the capability requests of plugins started from now on in `metrics`
    /// (`event_controller_capability_requests_total` and its duration histogram; none: not
    /// counted, the default).
    pub fn set_metrics(&mut self, metrics: Option<Arc<Metrics>>) {
        self.services.metrics = metrics;
    }

    /// What plugins started from now on get from the host: cluster access, metrics and the
    /// epoch ticker their deadlines need.
    pub fn services(&self) -> HostServices {
        self.services.clone()
    }

    /// The epoch ticker enforcing plugins' deadlines (none without deadlines).
    pub fn epoch_ticker(&self) -> &EpochTicker {
        &self.services.epoch_ticker
    }

    /// The cache of compiled modules, if one is set.
    pub fn module_cache(&self) -> Option<&ModuleCache> {
        self.cache.as_ref()
    }

    /// Compiles the core module `bytes` (whose lowercase hex sha256 is `sha256`) for this
    /// engine: through the module cache when one is set, else directly
    /// ([`CacheStatus::Disabled`]).
    pub fn compile(
        &self,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(Module, CacheStatus), wasmtime::Error> {
        self.compile_artifact(bytes, sha256)
    }

    /// Like [`Runtime::compile`] for a component.
    pub fn compile_component(
        &self,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(Component, CacheStatus), wasmtime::Error> {
        self.compile_artifact(bytes, sha256)
    }

    fn compile_artifact<A: Artifact>(
        &self,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(A, CacheStatus), wasmtime::Error> {
        match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, bytes, sha256),
            None => Ok((A::compile(&self.engine, bytes)?, CacheStatus::Disabled)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runtimes_with_deadlines_start_a_ticker() {
        let with = Runtime::new().expect("runtime");
        assert!(with.epoch_ticker().is_running());
        assert!(with.services().epoch_ticker.is_running());
        let without = Runtime::with_options(RuntimeOptions {
            deadlines: false,
            fuel: false,
        })
        .expect("runtime");
        assert!(!without.epoch_ticker().is_running());
    }
}
