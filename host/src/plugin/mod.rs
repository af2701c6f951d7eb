//! Plugins: one `.wasm` file each, a core module (guest ABI v1) or a component (guest ABI v2,
//! `wit/plugin.wit`), checked against its ABI, instantiated once and reused.
//!
//! This module knows nothing of Kubernetes beyond "bytes in, outcome out": a plugin's grants
//! are handed to its [`sandbox`](crate::sandbox) unread.

pub mod abi;
mod component;
mod instance;
pub mod outcome;

pub use self::abi::{AbiError, ModuleShape};
pub use self::instance::{CallError, StartError};
pub use self::outcome::{Message, Outcome, Retry};

use self::component::ComponentInstance;
use self::instance::Instance;
use crate::capabilities::CapabilitiesSection;
use crate::runtime::{sha256_hex, CacheStatus, Runtime};
use crate::sandbox::{HostServices, HostState, Limits};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Engine, InstancePre};

/// Why a plugin could not be loaded. Every message names the plugin's file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("plugin {path}: cannot read: {cause}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not a WebAssembly module or component.
    #[error("plugin {path}: {reason}")]
    NotAModule {
        /// The plugin file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// wasmtime rejected the module.
    #[error("plugin {path}: invalid WebAssembly: {message}")]
    Compile {
        /// The plugin file.
        path: PathBuf,
        /// wasmtime's explanation.
        message: String,
    },
    /// The module or component breaks the guest ABI.
    #[error("plugin {path}: does not follow the plugin ABI (docs/ABI.md): {cause}")]
    Abi {
        /// The plugin file.
        path: PathBuf,
        /// The broken rule.
        cause: AbiError,
    },
    /// The module could not be linked or started (`_initialize`, version, `init`).
    #[error("plugin {path}: {cause}")]
    Start {
        /// The plugin file.
        path: PathBuf,
        /// What failed.
        cause: StartError,
    },
}

/// The name of the plugin in `path`: the file stem.
pub fn plugin_name(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// What a plugin is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSettings {
    /// Its config table as JSON, handed to `init` (`{}` when it has none).
    pub config_json: String,
    /// What it may use.
    pub limits: Limits,
    /// What it may do beyond logging.
    pub capabilities: CapabilitiesSection,
}

impl Default for PluginSettings {
    fn default() -> PluginSettings {
        PluginSettings {
            config_json: "{}".to_owned(),
            limits: Limits::default(),
            capabilities: CapabilitiesSection::default(),
        }
    }
}

/// A loaded plugin and its live instance.
pub struct Plugin {
    name: Arc<str>,
    path: PathBuf,
    shape: ModuleShape,
    pre: Linked,
    settings: PluginSettings,
    instance: Option<Live>,
    sha256: String,
    cache_status: CacheStatus,
    compile_time: Duration,
    /// What its instances get from the host (cluster access, metrics).
    services: HostServices,
}

impl Plugin {
    /// Reads, compiles and checks `path`, then starts an instance with `settings`.
    pub fn load(
        runtime: &Runtime,
        path: &Path,
        settings: PluginSettings,
    ) -> Result<Plugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|cause| LoadError::Read {
            path: path.to_owned(),
            cause,
        })?;
        Self::from_bytes(runtime, path, &bytes, settings)
    }

    /// Like [`Plugin::load`] for a module already in memory; `path` names it in messages.
    pub fn from_bytes(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        settings: PluginSettings,
    ) -> Result<Plugin, LoadError> {
        let name = plugin_name(path);
        Self::from_hashed_bytes(runtime, &name, path, bytes, sha256_hex(bytes), settings)
    }

    /// Like [`Plugin::from_bytes`] for a caller that names the plugin (`name`; `path` is where
    /// it came from, a file or a registry reference) and has already hashed `bytes` (`sha256`,
    /// as [`sha256_hex`] gives it): a 19 MB component takes about 11 ms to hash.
    pub fn from_hashed_bytes(
        runtime: &Runtime,
        name: &str,
        path: &Path,
        bytes: &[u8],
        sha256: String,
        settings: PluginSettings,
    ) -> Result<Plugin, LoadError> {
        let kind = check_header(bytes).map_err(|reason| LoadError::NotAModule {
            path: path.to_owned(),
            reason,
        })?;
        let Compiled {
            pre,
            shape,
            cache_status,
            compile_time,
        } = Compiled::new(runtime, path, kind, bytes, &sha256)?;
        let start_error = |cause| LoadError::Start {
            path: path.to_owned(),
            cause,
        };
        let name: Arc<str> = name.into();
        let services = runtime.services();
        let instance = pre
            .start(name.clone(), &settings, services.clone())
            .map_err(start_error)?;
        Ok(Plugin {
            name,
            path: path.to_owned(),
            shape,
            pre,
            settings,
            instance: Some(instance),
            sha256,
            cache_status,
            compile_time,
            services,
        })
    }

    /// A new plugin from the same compiled (and linked) module with new `settings`: a fresh
    /// instance, `_initialize` and `init` run again, nothing recompiled. For when only the
    /// plugin's config changes. `runtime` must be the one this plugin was loaded with. The
    /// result reports this plugin's [`sha256`](Plugin::sha256),
    /// [`cache_status`](Plugin::cache_status) and [`compile_time`](Plugin::compile_time).
    pub fn restart_with(
        &self,
        runtime: &Runtime,
        settings: PluginSettings,
    ) -> Result<Plugin, LoadError> {
        let start_error = |cause| LoadError::Start {
            path: self.path.clone(),
            cause,
        };
        if !Engine::same(self.pre.engine(), runtime.engine()) {
            return Err(start_error(StartError::Failed {
                stage: "linking",
                message: "the plugin was compiled for another runtime's engine".to_owned(),
            }));
        }
        let services = runtime.services();
        let instance = self
            .pre
            .start(self.name.clone(), &settings, services.clone())
            .map_err(start_error)?;
        Ok(Plugin {
            name: self.name.clone(),
            path: self.path.clone(),
            shape: self.shape,
            pre: self.pre.clone(),
            settings,
            instance: Some(instance),
            sha256: self.sha256.clone(),
            cache_status: self.cache_status.clone(),
            compile_time: self.compile_time,
            services,
        })
    }

    /// Another instance of the same plugin: the same compiled module, settings and services,
    /// a fresh instance (`_initialize` and `init` run for it). For the lanes of a plugin with
    /// several workers, which share no state.
    pub fn another_instance(&self) -> Result<Plugin, LoadError> {
        let instance = self
            .pre
            .start(self.name.clone(), &self.settings, self.services.clone())
            .map_err(|cause| LoadError::Start {
                path: self.path.clone(),
                cause,
            })?;
        Ok(Plugin {
            name: self.name.clone(),
            path: self.path.clone(),
            shape: self.shape,
            pre: self.pre.clone(),
            settings: self.settings.clone(),
            instance: Some(instance),
            sha256: self.sha256.clone(),
            cache_status: self.cache_status.clone(),
            compile_time: self.compile_time,
            services: self.services.clone(),
        })
    }

    /// The plugin's name (its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it was started with.
    pub fn settings(&self) -> &PluginSettings {
        &self.settings
    }

    /// What the ABI check found in the module.
    pub fn shape(&self) -> ModuleShape {
        self.shape
    }

    /// The lowercase hex sha256 of the module's bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the compiled module came from the module cache.
    pub fn cache_status(&self) -> &CacheStatus {
        &self.cache_status
    }

    /// How long compiling (or loading from the cache) took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// Bytes of linear memory its live instance holds (all of a component's memories together;
    /// 0 with no live instance).
    pub fn memory_bytes(&mut self) -> usize {
        self.instance.as_mut().map_or(0, Live::memory_bytes)
    }

    /// Hands one event's JSON to the plugin: what it asked for (a message to log, a retry,
    /// both, or [`Outcome::none`]). After a trap the instance is dropped and the next call
    /// starts a fresh one (re-running `_initialize` and `init`).
    pub fn handle_event(&mut self, event: &[u8]) -> Result<Outcome, CallError> {
        let instance = match &mut self.instance {
            Some(instance) => instance,
            empty => empty.insert(
                self.pre
                    .start(self.name.clone(), &self.settings, self.services.clone())
                    .map_err(CallError::Restart)?,
            ),
        };
        let result = instance.handle_event(event);
        if matches!(&result, Err(e) if e.poisons_instance()) {
            self.instance = None;
        }
        result
    }
}

/// The two kinds of WebAssembly binary a plugin can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WasmKind {
    /// A core module: guest ABI v1.
    Module,
    /// A component: guest ABI v2.
    Component,
}

/// A plugin compiled (or loaded from the cache), checked against its ABI and linked.
struct Compiled {
    pre: Linked,
    shape: ModuleShape,
    cache_status: CacheStatus,
    /// How long compiling (or loading from the cache) took.
    compile_time: Duration,
}

impl Compiled {
    fn new(
        runtime: &Runtime,
        path: &Path,
        kind: WasmKind,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<Compiled, LoadError> {
        let compile_error = |e: wasmtime::Error| LoadError::Compile {
            path: path.to_owned(),
            message: format!("{e:#}"),
        };
        let abi_error = |cause| LoadError::Abi {
            path: path.to_owned(),
            cause,
        };
        let link_error = |e: wasmtime::Error| LoadError::Start {
            path: path.to_owned(),
            cause: StartError::Failed {
                stage: "linking",
                message: format!("{e:#}"),
            },
        };
        let started = Instant::now();
        match kind {
            WasmKind::Module => {
                let (module, cache_status) =
                    runtime.compile(bytes, sha256).map_err(compile_error)?;
                let compile_time = started.elapsed();
                let shape = abi::check(&module).map_err(abi_error)?;
                let pre = runtime.linker().instantiate_pre(&module);
                Ok(Compiled {
                    pre: Linked::Module(pre.map_err(link_error)?),
                    shape,
                    cache_status,
                    compile_time,
                })
            }
            WasmKind::Component => {
                let (code, cache_status) = runtime
                    .compile_component(bytes, sha256)
                    .map_err(compile_error)?;
                let compile_time = started.elapsed();
                let shape = component::check(&code, runtime.engine()).map_err(abi_error)?;
                let pre = runtime.component_linker().instantiate_pre(&code);
                Ok(Compiled {
                    pre: Linked::Component(pre.map_err(link_error)?),
                    shape,
                    cache_status,
                    compile_time,
                })
            }
        }
    }
}

/// A compiled and linked plugin, ready to be instantiated.
#[derive(Clone)]
enum Linked {
    Module(InstancePre<HostState>),
    Component(wasmtime::component::InstancePre<HostState>),
}

impl Linked {
    fn engine(&self) -> &Engine {
        match self {
            Linked::Module(pre) => pre.module().engine(),
            Linked::Component(pre) => pre.engine(),
        }
    }

    /// A fresh, initialised instance.
    fn start(
        &self,
        name: Arc<str>,
        settings: &PluginSettings,
        services: HostServices,
    ) -> Result<Live, StartError> {
        Ok(match self {
            Linked::Module(pre) => Live::Module(Instance::start(pre, name, settings, services)?),
            Linked::Component(pre) => {
                Live::Component(ComponentInstance::start(pre, name, settings, services)?)
            }
        })
    }
}

/// A live instance of either kind. One per plugin lane, so its size does not matter, and
/// boxing the core instance would add an indirection to every v1 call.
#[allow(clippy::large_enum_variant)]
enum Live {
    Module(Instance),
    Component(ComponentInstance),
}

impl Live {
    fn memory_bytes(&mut self) -> usize {
        match self {
            Live::Module(instance) => instance.memory_bytes(),
            Live::Component(instance) => instance.memory_bytes(),
        }
    }

    fn handle_event(&mut self, event: &[u8]) -> Result<Outcome, CallError> {
        match self {
            Live::Module(instance) => instance.handle_event(event),
            Live::Component(instance) => instance.handle_event(event),
        }
    }
}

/// Reads the 8-byte preamble: a core module, a component, or a plain answer why it is neither.
fn check_header(bytes: &[u8]) -> Result<WasmKind, String> {
    const MAGIC: &[u8; 4] = b"\0asm";
    const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
    /// Version 0x0d, layer 1: the component binary format.
    const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];
    match bytes.get(..8) {
        Some(head) if head[..4] == *MAGIC && head[4..] == CORE_VERSION => Ok(WasmKind::Module),
        Some(head) if head[..4] == *MAGIC && head[4..] == COMPONENT_VERSION => {
            Ok(WasmKind::Component)
        }
        Some(head) if head[..4] == *MAGIC => Err(format!(
            "is WebAssembly of an unknown version or layer ({:02x?}): neither a core module nor a component",
            &head[4..]
        )),
        _ if bytes.is_empty() => Err("is empty, not a WebAssembly module".to_owned()),
        _ => Err("is not a WebAssembly module (no \\0asm header)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ModuleCache;

    #[test]
    fn explains_files_that_are_not_modules() {
        assert!(check_header(b"").unwrap_err().contains("empty"));
        assert!(check_header(b"#!/bin/sh\necho hi")
            .unwrap_err()
            .contains("no \\0asm"));
        assert_eq!(check_header(b"\0asm\x0d\0\x01\0"), Ok(WasmKind::Component));
        assert!(check_header(b"\0asm\x0e\0\x01\0")
            .unwrap_err()
            .contains("unknown version"));
        assert_eq!(check_header(b"\0asm\x01\0\0\0"), Ok(WasmKind::Module));
    }

    #[test]
    fn plugins_can_move_to_worker_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Plugin>();
    }

    /// A minimal ABI plugin whose `init` refuses configs longer than `{}`.
    const PICKY_PLUGIN: &str = r#"(module
        (memory (export "memory") 1)
        (global $next (mut i32) (i32.const 1024))
        (func (export "alloc") (param $len i32) (result i32)
            (local $ptr i32)
            (local.set $ptr (global.get $next))
            (global.set $next (i32.add (global.get $next) (local.get $len)))
            (local.get $ptr))
        (func (export "dealloc") (param i32 i32))
        (func (export "init") (param $ptr i32) (param $len i32) (result i32)
            (i32.gt_u (local.get $len) (i32.const 2)))
        (func (export "handle_event") (param i32 i32) (result i64) (i64.const 0)))"#;

    #[test]
    fn compiles_through_the_module_cache_and_restarts_without_compiling() {
        let dir = tempfile::tempdir().unwrap();
        let mut runtime = Runtime::new().unwrap();
        let bytes = wat::parse_str(PICKY_PLUGIN).unwrap();
        let path = Path::new("/plugins/picky.wasm");

        let plugin = Plugin::from_bytes(&runtime, path, &bytes, PluginSettings::default()).unwrap();
        assert_eq!(plugin.cache_status(), &CacheStatus::Disabled);
        assert_eq!(plugin.sha256(), sha256_hex(&bytes));

        let cache = ModuleCache::open(dir.path(), runtime.engine()).unwrap();
        runtime.set_module_cache(Some(cache));
        assert_eq!(runtime.module_cache().unwrap().dir(), dir.path());
        let load = || Plugin::from_bytes(&runtime, path, &bytes, PluginSettings::default());
        assert_eq!(load().unwrap().cache_status(), &CacheStatus::Miss);
        let mut plugin = load().unwrap();
        assert_eq!(plugin.cache_status(), &CacheStatus::Hit);
        assert!(plugin.handle_event(b"{}").unwrap().is_none());

        // Same module, new config: `init` runs again (and here refuses it).
        let refused = PluginSettings {
            config_json: r#"{"x":1}"#.to_owned(),
            ..PluginSettings::default()
        };
        let err = plugin.restart_with(&runtime, refused).err().unwrap();
        assert!(
            matches!(
                err,
                LoadError::Start {
                    cause: StartError::Refused(1),
                    ..
                }
            ),
            "{err}"
        );
        let mut restarted = plugin
            .restart_with(&runtime, PluginSettings::default())
            .unwrap();
        assert_eq!(restarted.sha256(), plugin.sha256());
        assert_eq!(restarted.name(), "picky");
        assert!(restarted.handle_event(b"{}").unwrap().is_none());

        // Another runtime's engine cannot use this plugin's module.
        let other = Runtime::with_options(crate::runtime::RuntimeOptions {
            deadlines: false,
            fuel: false,
        })
        .unwrap();
        assert!(matches!(
            plugin.restart_with(&other, PluginSettings::default()),
            Err(LoadError::Start { .. })
        ));
    }

    #[test]
    fn invalid_modules_are_still_compile_errors_with_a_cache() {
        let dir = tempfile::tempdir().unwrap();
        let mut runtime = Runtime::new().unwrap();
        runtime.set_module_cache(Some(
            ModuleCache::open(dir.path(), runtime.engine()).unwrap(),
        ));
        let bytes = b"\0asm\x01\0\0\0\x01\x02";
        let err = Plugin::from_bytes(
            &runtime,
            Path::new("bad.wasm"),
            bytes,
            PluginSettings::default(),
        )
        .err()
        .unwrap();
        assert!(matches!(err, LoadError::Compile { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("plugin bad.wasm: invalid WebAssembly: "),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn names_plugins_by_file_stem() {
        assert_eq!(
            plugin_name(Path::new("/p/plugin_simple.wasm")),
            "plugin_simple"
        );
    }
}
