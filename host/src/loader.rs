//! Finding and loading the plugins of a directory: each file read once, compiled (or taken
//! from the module cache), checked, started with its config, and given its subscription.

use crate::config::FileConfig;
use crate::plugin::{plugin_name, LoadError, Plugin};
use crate::runtime::{sha256_hex, Runtime};
use crate::subscription::{self, SubscriptionError};
use crate::worker::WorkerOptions;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The directory could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list plugins directory {path}: {cause}")]
pub struct DirError {
    /// The directory.
    pub path: PathBuf,
    /// The I/O error.
    pub cause: std::io::Error,
}

/// Why one plugin file could not be made a running plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginFileError {
    /// Reading, compiling, checking or starting it failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Its subscription (from the module or the config file) is invalid.
    #[error("plugin {path}: subscription: {cause}")]
    Subscription {
        /// The plugin file.
        path: PathBuf,
        /// What is wrong.
        cause: SubscriptionError,
    },
}

/// A plugin ready to run, with how to run it.
pub struct LoadedPlugin {
    /// The started plugin.
    pub plugin: Plugin,
    /// Its queue, Secrets permission and subscription.
    pub options: WorkerOptions,
}

/// The result of loading a directory: the plugins that loaded and why the others did not.
pub struct LoadedPlugins {
    /// Loaded plugins, in file-name order.
    pub plugins: Vec<LoadedPlugin>,
    /// One error per plugin that failed to load, with the plugin's name.
    pub failures: Vec<(String, PluginFileError)>,
}

/// True for files that are plugins: `*.wasm`, not hidden (which also skips a ConfigMap volume's
/// `..data` links and editor swap files).
pub fn is_plugin_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'));
    !hidden && path.extension().is_some_and(|ext| ext == "wasm")
}

/// Lists the plugin files of `dir` (following symlinks), sorted by name; other files are
/// skipped with a debug log.
pub fn plugin_files(dir: &Path) -> Result<Vec<PathBuf>, DirError> {
    let dir_error = |cause| DirError {
        path: dir.to_owned(),
        cause,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let path = entry.map_err(dir_error)?.path();
        if is_plugin_file(&path) && path.is_file() {
            files.push(path);
        } else {
            tracing::debug!(path = %path.display(), "not a plugin file; ignored");
        }
    }
    files.sort();
    Ok(files)
}

/// Makes the running plugin `name` of `bytes` (from `path`, a file or a registry reference;
/// `sha256` is their hash) with its config section and its subscription (the config's over the
/// module's own defaults).
pub fn load_plugin(
    runtime: &Runtime,
    name: &str,
    path: &Path,
    bytes: &[u8],
    sha256: String,
    config: &FileConfig,
) -> Result<LoadedPlugin, PluginFileError> {
    let subscription_error = |cause| PluginFileError::Subscription {
        path: path.to_owned(),
        cause,
    };
    // The module first: its errors ("not a WebAssembly module", a missing export) say most.
    let settings = config.plugin_settings(name);
    let plugin = Plugin::from_hashed_bytes(runtime, name, path, bytes, sha256, settings)?;
    let defaults = subscription::module_defaults(bytes).map_err(subscription_error)?;
    let options = config
        .worker_options(name, defaults.as_ref())
        .map_err(subscription_error)?;
    Ok(LoadedPlugin { plugin, options })
}

/// Reads and loads one plugin file, logging the outcome.
pub fn load_file(
    runtime: &Runtime,
    path: &Path,
    config: &FileConfig,
) -> Result<LoadedPlugin, PluginFileError> {
    let bytes = std::fs::read(path).map_err(|cause| LoadError::Read {
        path: path.to_owned(),
        cause,
    })?;
    let started = Instant::now();
    let name = plugin_name(path);
    let loaded = load_plugin(runtime, &name, path, &bytes, sha256_hex(&bytes), config)?;
    log_loaded(&loaded, path, started);
    Ok(loaded)
}

/// The "plugin loaded" line: what, from where, how fast, from the cache or not.
pub fn log_loaded(loaded: &LoadedPlugin, path: &Path, started: Instant) {
    let plugin = &loaded.plugin;
    tracing::info!(
        plugin = plugin.name(),
        path = %path.display(),
        sha256 = plugin.sha256(),
        load_ms = %format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
        compile_ms = %format_args!("{:.1}", plugin.compile_time().as_secs_f64() * 1e3),
        cache = ?plugin.cache_status(),
        subscription = %loaded.options.subscription.describe(),
        "plugin loaded"
    );
}

/// Loads every plugin of `dir` with its config section. A plugin that fails is logged and left
/// out; the others load regardless.
pub fn load_dir(
    runtime: &Runtime,
    dir: &Path,
    config: &FileConfig,
) -> Result<LoadedPlugins, DirError> {
    let mut loaded = LoadedPlugins {
        plugins: Vec::new(),
        failures: Vec::new(),
    };
    for path in plugin_files(dir)? {
        let name = plugin_name(&path);
        if !config.plugin(&name).enabled {
            tracing::info!(plugin = %name, "plugin disabled in the config file; not loaded");
            continue;
        }
        match load_file(runtime, &path, config) {
            Ok(plugin) => loaded.plugins.push(plugin),
            Err(error) => {
                tracing::error!(plugin = %name, "{error}; the other plugins go on without it");
                loaded.failures.push((name, error));
            }
        }
    }
    for name in config.plugins.keys() {
        if !loaded.plugins.iter().any(|p| p.plugin.name() == name) {
            tracing::debug!(plugin = %name, "config section names no loaded plugin");
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_wasm_files_are_plugins() {
        assert!(is_plugin_file(Path::new("/p/a.wasm")));
        assert!(!is_plugin_file(Path::new("/p/.a.wasm")));
        assert!(!is_plugin_file(Path::new("/p/a.wasm.swp")));
        assert!(!is_plugin_file(Path::new("/p/a.wasm~")));
        assert!(!is_plugin_file(Path::new("/p/..data")));
        assert!(!is_plugin_file(Path::new("/p/README.md")));
    }
}
