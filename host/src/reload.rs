//! Hot reload: the plugins directory and the config file are watched, and the running plugins
//! follow them without a restart.
//!
//! Any change notified in the plugins directory or beside the config file (inotify, through
//! `notify`), and a full rescan every few seconds as a fallback, lead to one [`Reloader::
//! reconcile`] once things have been quiet for [`DEBOUNCE`]. Reconciling compares each plugin
//! file's content (sha256) and config section with what runs:
//!
//! - a new file is loaded and starts getting the events delivered from then on;
//! - a changed file, or a changed config section, is loaded *beside* the running version
//!   (compile, ABI check, `init` with its config); only when that worked is it queued for the
//!   plugin's worker, which switches between two events: every event queued before the switch
//!   goes to the old version, every later one to the new, none to both or neither;
//! - a version that fails to load leaves the running one in place and is logged once; a later
//!   change of the file (or of its config) is tried again;
//! - a removed (or disabled) plugin is unloaded after the events already queued for it.
//!
//! Only content counts, so all the ways files change on a volume look the same: an atomic
//! rename, a copy over the old file, a file written in chunks (the debounce waits for the last
//! one, and a file still changing while it is read is not judged), a ConfigMap or Secret volume
//! swapping its `..data` symlink, a directory removed and recreated (while it is missing, the
//! loaded plugins keep running). A new config file that does not parse is rejected with its file
//! and line, and the previous one stays in force.

use crate::config::{FileConfig, PluginSection};
use crate::dispatch::PluginSet;
use crate::loader::{self, LoadedPlugin};
use crate::metrics::{Metrics, PluginOrigin};
use crate::oci::{self, OciError, OciReference, Registry, RegistrySettings};
use crate::plugin::plugin_name;
use crate::residency;
use crate::runtime::sha256_hex;
use crate::runtime::Runtime;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long the directory must be quiet after a change before it is read.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// The longest a burst of changes can put off reading the directory.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(1);
/// How often the directory is rescanned when nothing is notified.
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(10);

/// What identifies a file's content without reading it: if this is unchanged, so is the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// A plugin version that runs, or that was tried and failed.
#[derive(Debug, Clone, PartialEq)]
struct PluginVersion {
    /// The file's identity; `None` for a plugin from a registry.
    stamp: Option<Stamp>,
    sha256: String,
    section: PluginSection,
    /// The registry's manifest digest, for a plugin from a registry.
    digest: Option<String>,
}

impl PluginVersion {
    /// Where it came from, for `/plugins`.
    fn origin(&self, path: &Path) -> PluginOrigin {
        PluginOrigin {
            source: path.display().to_string(),
            sha256: self.sha256.clone(),
            digest: self.digest.clone(),
        }
    }
}

/// Keeps the running plugins in line with the plugins directory and the config file.
pub struct Reloader {
    runtime: Runtime,
    plugins_dir: PathBuf,
    config_path: Option<PathBuf>,
    config: FileConfig,
    config_sha256: Option<String>,
    plugins: PluginSet,
    metrics: Arc<Metrics>,
    running: BTreeMap<String, PluginVersion>,
    rejected: BTreeMap<String, PluginVersion>,
    /// The directory could not be listed last time (said once).
    dir_missing: bool,
    /// The plugins whose section names an `oci://` source.
    sources: RegistrySources,
    /// A plugin version was started since the code pages were last released.
    started_any: bool,
}

impl Reloader {
    /// A reloader over `plugins`, which should start empty: the first [`Reloader::reconcile`]
    /// loads the directory.
    pub fn new(
        runtime: Runtime,
        plugins_dir: PathBuf,
        config_path: Option<PathBuf>,
        config: FileConfig,
        plugins: PluginSet,
        metrics: Arc<Metrics>,
    ) -> Reloader {
        let config_sha256 = config_path
            .as_deref()
            .and_then(|path| std::fs::read(path).ok())
            .map(|text| sha256_hex(&text));
        Reloader {
            runtime,
            plugins_dir,
            config_path,
            config,
            config_sha256,
            plugins,
            metrics,
            running: BTreeMap::new(),
            rejected: BTreeMap::new(),
            dir_missing: false,
            sources: RegistrySources::new(DEFAULT_RESCAN),
            started_any: false,
        }
    }

    /// Loads new plugins, replaces changed ones and unloads removed ones.
    pub fn reconcile(&mut self) {
        self.reload_config();
        let files = match loader::plugin_files(&self.plugins_dir) {
            Ok(files) => {
                self.dir_missing = false;
                files
            }
            Err(error) => {
                if !self.dir_missing {
                    tracing::warn!(
                        loaded = self.running.len(),
                        "{error}; the loaded plugins keep running until it is back"
                    );
                    self.dir_missing = true;
                }
                return;
            }
        };
        let mut present = Vec::new();
        for path in files {
            let name = plugin_name(&path);
            let section = self.config.plugin(&name);
            if section.source.is_some() {
                tracing::debug!(plugin = %name, path = %path.display(), "the config names a registry source; the file is ignored");
            } else if section.enabled {
                self.sync_file(&name, &path);
                present.push(name);
            }
        }
        let sources: Vec<(String, PluginSection)> = self
            .config
            .oci_plugins()
            .filter(|(_, section)| section.enabled)
            .map(|(name, section)| (name.clone(), section.clone()))
            .collect();
        for (name, section) in sources {
            self.sync_source(&name, section);
            present.push(name);
        }
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|name| !present.contains(name))
            .cloned()
            .collect();
        for name in gone {
            self.unload(&name);
        }
        self.metrics.statuses().retain(&present);
    }

    /// Reads the config file again when its content changed.
    fn reload_config(&mut self) {
        let Some(path) = &self.config_path else {
            return;
        };
        let Ok(text) = std::fs::read(path) else {
            return;
        };
        let sha256 = sha256_hex(&text);
        if self.config_sha256.as_deref() == Some(sha256.as_str()) {
            return;
        }
        self.config_sha256 = Some(sha256);
        let parsed = std::str::from_utf8(&text)
            .map_err(|e| format!("{}: not UTF-8: {e}", path.display()))
            .and_then(|text| FileConfig::parse(path, text).map_err(|e| e.to_string()));
        match parsed {
            Ok(config) => {
                tracing::info!(path = %path.display(), "config file changed; applying it to the plugins");
                self.config = config;
            }
            Err(error) => tracing::error!(
                path = %path.display(),
                "new config rejected: {error}; the previous config stays in force"
            ),
        }
    }

    /// Loads or replaces the plugin `name` from `path` if its content or config changed.
    fn sync_file(&mut self, name: &str, path: &Path) {
        let section = self.config.plugin(name);
        let stamp = Stamp::of(path);
        let known = |version: Option<&PluginVersion>| {
            version.is_some_and(|v| v.stamp.is_some() && v.stamp == stamp && v.section == section)
        };
        if known(self.running.get(name)) || known(self.rejected.get(name)) {
            return;
        }
        let Ok(bytes) = std::fs::read(path) else {
            return;
        };
        let version = PluginVersion {
            stamp,
            sha256: sha256_hex(&bytes),
            section,
            digest: None,
        };
        let same = |v: Option<&PluginVersion>| {
            v.is_some_and(|v| v.sha256 == version.sha256 && v.section == version.section)
        };
        if same(self.running.get(name)) || same(self.rejected.get(name)) {
            // Same content under a new stamp (a touch, a symlink swap to identical bytes).
            self.remember(name, version);
            return;
        }
        let started = Instant::now();
        let sha256 = version.sha256.clone();
        match loader::load_plugin(&self.runtime, name, path, &bytes, sha256, &self.config) {
            Ok(loaded) => self.start(name, path, loaded, version, started),
            Err(error) if Stamp::of(path) != stamp => {
                tracing::debug!(
                    plugin = name,
                    "{error}; the file is still changing, trying again later"
                );
            }
            Err(error) => self.refuse(name, path, version, &error),
        }
    }

    /// Logs and remembers a version that did not load, so that it is not tried again until it
    /// (or its config) changes.
    fn refuse(
        &mut self,
        name: &str,
        path: &Path,
        version: PluginVersion,
        error: &loader::PluginFileError,
    ) {
        self.metrics.plugin_load_failed(name);
        let statuses = self.metrics.statuses();
        statuses.load_failed(name, version.origin(path), &error.to_string());
        if self.running.contains_key(name) {
            tracing::error!(plugin = name, sha256 = %version.sha256, "{error}; the running version stays in place");
        } else {
            tracing::error!(plugin = name, sha256 = %version.sha256, "{error}; the other plugins go on without it");
        }
        self.rejected.insert(name.to_owned(), version);
    }

    /// Loads or replaces the plugin `name` from its registry `source` when the reference moved
    /// (tags are resolved again at most every rescan interval; a digest never moves) or its
    /// config changed. While the registry cannot be reached, the running version stays; with
    /// nothing running, the last good copy pulled here starts, with a warning.
    fn sync_source(&mut self, name: &str, section: PluginSection) {
        let Some(source) = section.source.clone() else {
            return;
        };
        let known = |version: Option<&PluginVersion>| {
            version
                .filter(|v| v.section == section)
                .and_then(|v| v.digest.clone())
        };
        let current_digest = known(self.running.get(name)).or(known(self.rejected.get(name)));
        if current_digest.is_some() && (source.is_pinned() || !self.sources.is_due(name)) {
            return;
        }
        self.sources.checked(name);
        let Some(registry) = self.sources.registry(&self.config, &self.runtime) else {
            return;
        };
        let artifact = match fetch(registry, &source, &section, current_digest.as_deref()) {
            Ok(Fetched::Unchanged) => {
                self.sources.reachable(name);
                return;
            }
            Ok(Fetched::Pulled(artifact)) => {
                self.sources.reachable(name);
                artifact
            }
            Err(error) => match self.fallback(name, &source, &section, &error) {
                Some(artifact) => artifact,
                None => return,
            },
        };
        let version = PluginVersion {
            stamp: None,
            sha256: sha256_hex(&artifact.bytes),
            section,
            digest: Some(artifact.manifest_digest.clone()),
        };
        let same = |v: Option<&PluginVersion>| {
            v.is_some_and(|v| v.digest == version.digest && v.section == version.section)
        };
        if same(self.running.get(name)) || same(self.rejected.get(name)) {
            return;
        }
        let location = PathBuf::from(source.to_string());
        let started = Instant::now();
        let sha256 = version.sha256.clone();
        let bytes = &artifact.bytes;
        match loader::load_plugin(&self.runtime, name, &location, bytes, sha256, &self.config) {
            Ok(loaded) => {
                let how = if artifact.from_store {
                    "plugin started from the local store"
                } else {
                    "plugin pulled from its registry"
                };
                tracing::info!(plugin = name, source = %source, digest = %artifact.manifest_digest, signed = artifact.signed, "{how}");
                self.start(name, &location, loaded, version, started);
            }
            Err(error) => self.refuse(name, &location, version, &error),
        }
    }

    /// After a failed fetch: nothing when a version runs (it stays; the failure is logged
    /// once), else the last good copy in the local store, if any.
    fn fallback(
        &mut self,
        name: &str,
        source: &OciReference,
        section: &PluginSection,
        error: &OciError,
    ) -> Option<oci::Artifact> {
        let first = self.sources.failed(name, error);
        if self.running.contains_key(name) {
            if first && error.is_refusal() {
                self.metrics.plugin_load_failed(name);
                tracing::error!(plugin = name, "{error}; the running version stays");
            } else if first {
                tracing::warn!(plugin = name, "{error}; the running version stays");
            }
            return None;
        }
        let stored = self
            .sources
            .registry(&self.config, &self.runtime)
            .map(|registry| {
                registry.stored(
                    source,
                    oci::verifying_key(section.verify_key.as_deref())?.as_ref(),
                )
            });
        match stored {
            Some(Ok(artifact)) => {
                tracing::warn!(plugin = name, digest = %artifact.manifest_digest, "{error}; starting the last good copy pulled here");
                Some(artifact)
            }
            Some(Err(stored_error)) => {
                if first {
                    self.metrics.plugin_load_failed(name);
                    let origin = PluginOrigin {
                        source: source.to_string(),
                        sha256: String::new(),
                        digest: None,
                    };
                    self.metrics
                        .statuses()
                        .load_failed(name, origin, &error.to_string());
                    tracing::error!(
                        plugin = name,
                        "{error} ({stored_error}); not loaded, trying again every rescan"
                    );
                }
                None
            }
            None => None,
        }
    }

    /// Records `version` wherever the same content is already recorded.
    fn remember(&mut self, name: &str, version: PluginVersion) {
        for versions in [&mut self.running, &mut self.rejected] {
            if let Some(known) = versions.get_mut(name) {
                if known.sha256 == version.sha256 {
                    *known = version.clone();
                }
            }
        }
    }

    /// Runs a freshly loaded version: beside nothing (new) or instead of the running one.
    fn start(
        &mut self,
        name: &str,
        path: &Path,
        loaded: LoadedPlugin,
        version: PluginVersion,
        started: Instant,
    ) {
        let (took, subscription) = (started.elapsed(), loaded.options.subscription.describe());
        self.rejected.remove(name);
        if self.running.contains_key(name) {
            tracing::debug!(
                plugin = name,
                "new version loaded; the worker switches after its queued events"
            );
            match self.plugins.replace(loaded.plugin, loaded.options) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(
                        plugin = name,
                        "the plugin's worker has ended; cannot switch"
                    );
                    return;
                }
                Err(error) => {
                    tracing::error!(plugin = name, "{error}; the running version stays");
                    return;
                }
            }
        } else {
            loader::log_loaded(&loaded, path, started);
            if let Err(error) = self.plugins.add(loaded.plugin, loaded.options) {
                tracing::error!(plugin = name, "cannot start a worker: {error}");
                return;
            }
        }
        let origin = version.origin(path);
        self.started_any = true;
        self.running.insert(name.to_owned(), version);
        let statuses = self.metrics.statuses();
        statuses.loaded(name, origin, subscription, took);
    }

    fn unload(&mut self, name: &str) {
        self.sources.forget(name);
        self.running.remove(name);
        self.rejected.remove(name);
        if let Some(stats) = self.plugins.remove(name) {
            tracing::info!(
                plugin = name,
                calls = stats.calls,
                failures = stats.failures,
                "plugin removed or disabled: unloaded after its queued events"
            );
        }
        self.metrics.statuses().removed(name);
    }

    /// Watches the directory and the config file on a thread of its own, reconciling after
    /// each burst of changes and every `rescan`, until the returned handle is dropped. After a
    /// reconcile that started a plugin (which loaded and maybe compiled it), the code only that
    /// ran goes back to the kernel ([`residency`]); the caller does so for the first.
    pub fn spawn(mut self, rescan: Duration) -> std::io::Result<ReloadHandle> {
        self.sources.every = rescan;
        self.started_any = false;
        let stop = Arc::new(AtomicBool::new(false));
        let (notified, changes) = channel();
        let watcher = notify::recommended_watcher(only_changes(notified))
            .map_err(|e| {
                tracing::warn!("cannot watch files ({e}); rescanning every {rescan:?} only")
            })
            .ok();
        std::thread::Builder::new().name("reload".into()).spawn({
            let stop = stop.clone();
            move || {
                let mut watches = Watches::new(watcher);
                watches.refresh(&self.plugins_dir, self.config_path.as_deref());
                while !stop.load(Ordering::Relaxed) {
                    match wait_for_changes(&changes, rescan) {
                        Wake::Changed | Wake::Rescan => {}
                        Wake::Closed => return,
                    }
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    watches.refresh(&self.plugins_dir, self.config_path.as_deref());
                    self.reconcile();
                    if std::mem::take(&mut self.started_any) {
                        residency::release_code_pages_logged("a reload");
                    }
                }
            }
        })?;
        Ok(ReloadHandle { stop })
    }
}

/// What fetching a registry source found.
enum Fetched {
    /// The reference still resolves to the digest already known.
    Unchanged,
    /// A version to load.
    Pulled(oci::Artifact),
}

/// Resolves `source` and, when it moved away from `known` (a manifest digest), pulls it,
/// checking its signature when the section names a key (read again each time: rotated keys
/// apply).
fn fetch(
    registry: &Registry,
    source: &OciReference,
    section: &PluginSection,
    known: Option<&str>,
) -> Result<Fetched, OciError> {
    let key = oci::verifying_key(section.verify_key.as_deref())?;
    if let Some(known) = known {
        if registry.resolve(source)? == known {
            return Ok(Fetched::Unchanged);
        }
    }
    Ok(Fetched::Pulled(registry.pull(source, key.as_ref())?))
}

/// The registry client (made when a plugin first needs it), when each source was last
/// resolved, and the failure last logged per plugin (each is logged once, until it changes).
struct RegistrySources {
    /// The client and the `[registry]` settings it was made with (or failed to be made with).
    registry: Option<(RegistrySettings, Option<Registry>)>,
    every: Duration,
    last_checked: BTreeMap<String, Instant>,
    last_failure: BTreeMap<String, String>,
}

impl RegistrySources {
    fn new(every: Duration) -> RegistrySources {
        RegistrySources {
            registry: None,
            every,
            last_checked: BTreeMap::new(),
            last_failure: BTreeMap::new(),
        }
    }

    /// True when plugin `name`'s source was not resolved within the interval.
    fn is_due(&self, name: &str) -> bool {
        self.last_checked
            .get(name)
            .is_none_or(|at| at.elapsed() >= self.every)
    }

    fn checked(&mut self, name: &str) {
        self.last_checked.insert(name.to_owned(), Instant::now());
    }

    /// Records a failure; true when it differs from the last one logged for `name`.
    fn failed(&mut self, name: &str, error: &OciError) -> bool {
        let text = error.to_string();
        self.last_failure.insert(name.to_owned(), text.clone()) != Some(text)
    }

    /// Forgets the last failure of `name`, saying so if there was one.
    fn reachable(&mut self, name: &str) {
        if self.last_failure.remove(name).is_some() {
            tracing::info!(plugin = name, "registry source reachable again");
        }
    }

    /// Forgets plugin `name` (unloaded): a source added again is resolved at once.
    fn forget(&mut self, name: &str) {
        self.last_checked.remove(name);
        self.last_failure.remove(name);
    }

    /// The client, made from the config's `[registry]` on first use and again when it changes.
    /// Without a `cache_dir`, pulled plugins are kept in `oci/` of the compiled-module cache
    /// (`runtime`'s), if there is one.
    fn registry(&mut self, config: &FileConfig, runtime: &Runtime) -> Option<&Registry> {
        let mut settings = config.registry.settings();
        if settings.cache_dir.is_none() {
            settings.cache_dir = runtime.module_cache().map(|cache| cache.dir().join("oci"));
        }
        if self
            .registry
            .as_ref()
            .is_none_or(|(made, _)| *made != settings)
        {
            let registry = Registry::new(&settings)
                .map_err(|error| {
                    tracing::error!("{error}; plugins with a registry source are not loaded")
                })
                .ok();
            self.registry = Some((settings, registry));
        }
        self.registry
            .as_ref()
            .and_then(|(_, registry)| registry.as_ref())
    }
}

/// Stops the reload thread when dropped (at its next wake-up).
pub struct ReloadHandle {
    stop: Arc<AtomicBool>,
}

impl Drop for ReloadHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

enum Wake {
    /// Something changed and things have been quiet for [`DEBOUNCE`] since.
    Changed,
    /// Time for a rescan.
    Rescan,
    /// The watcher is gone.
    Closed,
}

/// The watcher's handler: passes on what changes the files (and errors), not reads. (inotify
/// reports every open of the directory, and each reconcile reads it: passed on, opens kept the
/// reload thread reconciling ten times a second on an idle controller.)
fn only_changes(changes: Sender<notify::Result<Event>>) -> impl notify::EventHandler {
    move |event: notify::Result<Event>| {
        if event.as_ref().map_or(true, |event| is_change(&event.kind)) {
            let _ = changes.send(event);
        }
    }
}

/// Anything but a read: an open, a read, or a close after reading.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(access) => matches!(access, AccessKind::Close(AccessMode::Write)),
        _ => true,
    }
}

/// Waits for a change and then for quiet, but not longer than [`MAX_DEBOUNCE`] after the
/// first change: a directory that never settles is still read.
fn wait_for_changes<T>(changes: &Receiver<T>, rescan: Duration) -> Wake {
    match changes.recv_timeout(rescan) {
        Ok(_) => {
            let first = Instant::now();
            loop {
                if first.elapsed() >= MAX_DEBOUNCE {
                    return Wake::Changed;
                }
                match changes.recv_timeout(DEBOUNCE) {
                    Ok(_) => continue,
                    Err(RecvTimeoutError::Timeout) => return Wake::Changed,
                    Err(RecvTimeoutError::Disconnected) => return Wake::Closed,
                }
            }
        }
        Err(RecvTimeoutError::Timeout) => Wake::Rescan,
        // No watcher (it could not be created): rescans only.
        Err(RecvTimeoutError::Disconnected) => {
            std::thread::sleep(rescan);
            Wake::Rescan
        }
    }
}

/// The directories watched, each with the identity it had when the watch was set: a directory
/// removed and recreated is a new inode, and needs a new watch.
struct Watches {
    watcher: Option<notify::RecommendedWatcher>,
    watched: BTreeMap<PathBuf, Option<(u64, u64)>>,
}

impl Watches {
    fn new(watcher: Option<notify::RecommendedWatcher>) -> Watches {
        Watches {
            watcher,
            watched: BTreeMap::new(),
        }
    }

    /// (Re)watches the plugins directory and the config file's directory where needed.
    fn refresh(&mut self, plugins_dir: &Path, config_path: Option<&Path>) {
        let config_dir = config_path.and_then(Path::parent);
        for dir in std::iter::once(plugins_dir).chain(config_dir) {
            self.refresh_dir(dir);
        }
    }

    fn refresh_dir(&mut self, dir: &Path) {
        let Some(watcher) = &mut self.watcher else {
            return;
        };
        let identity = std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()));
        let previous = self.watched.get(dir).copied().flatten();
        if identity.is_none() || identity == previous {
            return;
        }
        if previous.is_some() {
            let _ = watcher.unwatch(dir);
        }
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.watched.insert(dir.to_owned(), identity);
            }
            Err(error) => {
                tracing::warn!(dir = %dir.display(), "cannot watch: {error}; relying on rescans")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_the_plugins_directory_is_no_change_and_writing_to_it_is() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plugin = dir.path().join("a.wasm");
        std::fs::write(&plugin, b"\0asm").expect("write");
        let (notified, changes) = channel();
        let mut watcher = notify::recommended_watcher(only_changes(notified)).expect("watcher");
        watcher
            .watch(dir.path(), RecursiveMode::NonRecursive)
            .expect("watch");
        for _ in 0..3 {
            assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
            assert_eq!(std::fs::read(&plugin).expect("read"), b"\0asm");
        }
        assert!(
            matches!(
                wait_for_changes(&changes, Duration::from_millis(300)),
                Wake::Rescan
            ),
            "reads were taken for changes"
        );
        assert!(is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        std::fs::write(dir.path().join("b.wasm"), b"\0asm").expect("write");
        assert!(matches!(
            wait_for_changes(&changes, Duration::from_secs(30)),
            Wake::Changed
        ));
    }
}
