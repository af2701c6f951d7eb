//! Plugins: one `.wasm` module each, checked against the ABI, instantiated once and reused.
//!
//! This module knows nothing of Kubernetes beyond "bytes in, outcome out".

pub mod abi;
mod instance;
pub mod limits;
pub mod outcome;
pub mod output;

pub use self::abi::{AbiError, ModuleShape};
pub use self::instance::{CallError, HostState, StartError};
pub use self::limits::{LimitExceeded, Limits};
pub use self::outcome::Outcome;

use self::instance::Instance;
use crate::runtime::Runtime;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::{InstancePre, Module};

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
    /// The file is not a core WebAssembly module.
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
    /// The module breaks the guest ABI.
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
}

impl Default for PluginSettings {
    fn default() -> PluginSettings {
        PluginSettings {
            config_json: "{}".to_owned(),
            limits: Limits::default(),
        }
    }
}

/// A loaded plugin and its live instance.
pub struct Plugin {
    name: Arc<str>,
    path: PathBuf,
    shape: ModuleShape,
    pre: InstancePre<HostState>,
    settings: PluginSettings,
    instance: Option<Instance>,
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
        check_header(bytes).map_err(|reason| LoadError::NotAModule {
            path: path.to_owned(),
            reason,
        })?;
        let module = Module::new(runtime.engine(), bytes).map_err(|e| LoadError::Compile {
            path: path.to_owned(),
            message: format!("{e:#}"),
        })?;
        let shape = abi::check(&module).map_err(|cause| LoadError::Abi {
            path: path.to_owned(),
            cause,
        })?;
        let start_error = |cause| LoadError::Start {
            path: path.to_owned(),
            cause,
        };
        let pre = runtime.linker().instantiate_pre(&module).map_err(|e| {
            start_error(StartError::Failed {
                stage: "linking",
                message: format!("{e:#}"),
            })
        })?;
        let name: Arc<str> = plugin_name(path).into();
        let instance = Instance::start(&pre, name.clone(), &settings.config_json, &settings.limits)
            .map_err(start_error)?;
        Ok(Plugin {
            name,
            path: path.to_owned(),
            shape,
            pre,
            settings,
            instance: Some(instance),
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

    /// Hands one event's JSON to the plugin. After a trap the instance is dropped and the next
    /// call starts a fresh one (re-running `_initialize` and `init`).
    pub fn handle_event(&mut self, event: &[u8]) -> Result<Option<Outcome>, CallError> {
        let instance = match &mut self.instance {
            Some(instance) => instance,
            empty => empty.insert(
                Instance::start(
                    &self.pre,
                    self.name.clone(),
                    &self.settings.config_json,
                    &self.settings.limits,
                )
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

/// Checks the 8-byte preamble so that a file which is not a core module gets a plain answer.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    const MAGIC: &[u8; 4] = b"\0asm";
    const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
    match bytes.get(..8) {
        Some(head) if head[..4] == *MAGIC && head[4..] == CORE_VERSION => Ok(()),
        Some(head) if head[..4] == *MAGIC => Err(format!(
            "is a WebAssembly component or an unknown version ({:02x?}), not a core module",
            &head[4..]
        )),
        _ if bytes.is_empty() => Err("is empty, not a WebAssembly module".to_owned()),
        _ => Err("is not a WebAssembly module (no \\0asm header)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_files_that_are_not_modules() {
        assert!(check_header(b"").unwrap_err().contains("empty"));
        assert!(check_header(b"#!/bin/sh\necho hi")
            .unwrap_err()
            .contains("no \\0asm"));
        assert!(check_header(b"\0asm\x0d\0\x01\0")
            .unwrap_err()
            .contains("component"));
        assert!(check_header(b"\0asm\x01\0\0\0").is_ok());
    }

    #[test]
    fn plugins_can_move_to_worker_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Plugin>();
    }

    #[test]
    fn names_plugins_by_file_stem() {
        assert_eq!(
            plugin_name(Path::new("/p/plugin_simple.wasm")),
            "plugin_simple"
        );
    }
}
