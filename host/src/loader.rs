//! Finding and loading the plugins of a directory.

use crate::config::FileConfig;
use crate::plugin::{LoadError, Plugin};
use crate::runtime::Runtime;
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

/// The result of loading a directory: the plugins that loaded and why the others did not.
pub struct LoadedPlugins {
    /// Loaded plugins, in file-name order.
    pub plugins: Vec<Plugin>,
    /// One error per plugin that failed to load.
    pub failures: Vec<(String, LoadError)>,
}

/// True for files that are plugins: `*.wasm`, not hidden.
fn is_plugin_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'));
    !hidden && path.extension().is_some_and(|ext| ext == "wasm")
}

/// Lists the plugin files of `dir`, sorted by name; other files are skipped with a debug log.
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
        let name = crate::plugin::plugin_name(&path);
        let section = config.plugin(&name);
        if !section.enabled {
            tracing::info!(plugin = %name, "plugin disabled in the config file; not loaded");
            continue;
        }
        let started = Instant::now();
        match Plugin::load(runtime, &path, config.plugin_settings(&name)) {
            Ok(plugin) => {
                tracing::info!(
                    plugin = %name,
                    path = %path.display(),
                    load_ms = %format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
                    "plugin loaded"
                );
                loaded.plugins.push(plugin);
            }
            Err(error) => {
                tracing::error!(plugin = %name, "{error}; the other plugins go on without it");
                loaded.failures.push((name, error));
            }
        }
    }
    for name in config.plugins.keys() {
        if !loaded.plugins.iter().any(|p| p.name() == name) {
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
        assert!(!is_plugin_file(Path::new("/p/README.md")));
    }
}
