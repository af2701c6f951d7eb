//! Where checkpoints are kept ([`CheckpointStore`], [`FileStore`]) and when they are written
//! ([`Flusher`]).

use super::journal::JOURNAL_HEADER_LEN;
use super::{Checkpoint, CheckpointError};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a [`Flusher`] syncs a checkpoint's journal (or, for a store without journals,
/// saves a checkpoint with unsaved changes), unless told otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// The suffix of a checkpoint file (its snapshot).
const SUFFIX: &str = ".checkpoint";
/// The suffix of a checkpoint's journal.
const JOURNAL_SUFFIX: &str = ".journal";
/// The suffix of a checkpoint being written.
const TEMP_SUFFIX: &str = ".tmp";

/// Somewhere to keep each plugin's checkpoint as bytes: a snapshot, written whole and
/// atomically (a reader sees the old bytes or the new, never a mix), and, if the store
/// [journals](CheckpointStore::journals), a journal beside it that records are appended to
/// (see the module documentation of `checkpoint::journal`). [`CheckpointStore::load`] and
/// [`CheckpointStore::save`] encode and decode; callers use those, and a [`Flusher`].
///
/// A store that cannot append (one keeping checkpoints in ConfigMaps, say) implements only
/// `read`, `write`, `remove` and `location`: the journal methods' defaults keep no journal, and
/// a [`Flusher`] then saves the whole checkpoint at most every interval instead.
pub trait CheckpointStore: Send + Sync {
    /// The stored bytes of `plugin`'s checkpoint, `None` when it has none.
    fn read(&self, plugin: &str) -> Result<Option<Vec<u8>>, CheckpointError>;

    /// Replaces `plugin`'s checkpoint with `bytes`, atomically and durably.
    fn write(&self, plugin: &str, bytes: &[u8]) -> Result<(), CheckpointError>;

    /// Forgets `plugin`'s checkpoint; nothing to do when it has none.
    fn remove(&self, plugin: &str) -> Result<(), CheckpointError>;

    /// Where `plugin`'s checkpoint is kept, for messages.
    fn location(&self, plugin: &str) -> String;

    /// True when the store keeps journals: [`CheckpointStore::append`],
    /// [`CheckpointStore::sync_journal`], [`CheckpointStore::read_journal`] and
    /// [`CheckpointStore::reset_journal`] work. The default, false, makes a [`Flusher`] save
    /// whole snapshots at most every interval.
    fn journals(&self) -> bool {
        false
    }

    /// Appends `bytes` (whole records) to `plugin`'s journal with one write, without syncing:
    /// they survive the process, not yet the machine. The default keeps no journal and fails.
    fn append(&self, plugin: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
        let _ = bytes;
        Err(CheckpointError::NoJournal {
            plugin: plugin.to_owned(),
            location: self.location(plugin),
        })
    }

    /// Makes what was appended to `plugin`'s journal durable. The default has nothing to sync.
    fn sync_journal(&self, plugin: &str) -> Result<(), CheckpointError> {
        let _ = plugin;
        Ok(())
    }

    /// The stored bytes of `plugin`'s journal, `None` when it has none (the default).
    fn read_journal(&self, plugin: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
        let _ = plugin;
        Ok(None)
    }

    /// Replaces `plugin`'s journal by `header`, an empty journal extending the snapshot just
    /// saved. Needs no sync: until it is synced, a crash leaves the old journal, or some of the
    /// new, and the snapshot holds both. The default has no journal to reset.
    fn reset_journal(&self, plugin: &str, header: &[u8]) -> Result<(), CheckpointError> {
        let _ = (plugin, header);
        Ok(())
    }

    /// `plugin`'s checkpoint, resuming: its snapshot, and the records of its journal that
    /// follow the snapshot ([`Checkpoint::replay_journal`], [`Checkpoint::replayed`] says what
    /// it found); `None` when it has no snapshot. An unreadable snapshot is
    /// [`CheckpointError::Corrupt`]: the caller logs it and starts with [`Checkpoint::new`]. A
    /// torn or stale journal, or one that cannot be read, is ignored from where it goes wrong.
    fn load(&self, plugin: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let Some(bytes) = self.read(plugin)? else {
            return Ok(None);
        };
        let mut checkpoint =
            Checkpoint::decode(&bytes).map_err(|source| CheckpointError::Corrupt {
                plugin: plugin.to_owned(),
                location: self.location(plugin),
                source,
            })?;
        match self.read_journal(plugin) {
            Ok(Some(journal)) => {
                checkpoint.replay_journal(&journal);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(plugin, %error, "checkpoint journal unreadable: resuming from the snapshot alone");
                checkpoint.journal.replayed.ignored = Some("unreadable");
            }
        }
        Ok(Some(checkpoint))
    }

    /// Saves `checkpoint` as `plugin`'s, returning the bytes written. Does not mark it saved
    /// (see [`Flusher`]).
    fn save(&self, plugin: &str, checkpoint: &Checkpoint) -> Result<usize, CheckpointError> {
        let bytes = checkpoint.encode();
        self.write(plugin, &bytes)?;
        Ok(bytes.len())
    }
}

/// Checkpoints as files in a directory: the snapshot `<dir>/<plugin>.checkpoint`, replaced
/// atomically (written to a temporary file in the same directory, synced, renamed over the old
/// one, and the directory synced), and the journal `<dir>/<plugin>.journal`, kept open for
/// appending, and reset in place (truncated, the new header written).
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    /// The journals open for appending, by plugin.
    journals: Arc<Mutex<HashMap<String, Arc<File>>>>,
}

impl FileStore {
    /// A store in `dir`, created if missing. Temporary files left by a crash during a save are
    /// removed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileStore, CheckpointError> {
        let dir = dir.into();
        let io = |action, source| CheckpointError::Directory {
            action,
            path: dir.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(|e| io("create it", e))?;
        for item in fs::read_dir(&dir).map_err(|e| io("list it", e))? {
            let Ok(item) = item else { continue };
            let name = item.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) && name.contains(SUFFIX) {
                // A leftover of an interrupted save; failing to remove it is harmless.
                let _ = fs::remove_file(item.path());
            }
        }
        Ok(FileStore {
            dir,
            journals: Arc::default(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `plugin`'s checkpoint. Plugin names are file stems; this refuses those that
    /// could name another file.
    pub fn path(&self, plugin: &str) -> Result<PathBuf, CheckpointError> {
        let invalid = |reason| CheckpointError::InvalidPluginName {
            plugin: plugin.to_owned(),
            reason,
        };
        if plugin.is_empty() {
            return Err(invalid("it is empty"));
        }
        if plugin.starts_with('.') {
            return Err(invalid("it starts with a dot"));
        }
        if plugin.contains(['/', '\\', '\0']) {
            return Err(invalid("it contains a path separator or NUL"));
        }
        if plugin.len() > 200 {
            return Err(invalid("it is longer than 200 bytes"));
        }
        Ok(self.dir.join(format!("{plugin}{SUFFIX}")))
    }

    /// The file of `plugin`'s journal, beside its checkpoint.
    pub fn journal_path(&self, plugin: &str) -> Result<PathBuf, CheckpointError> {
        self.path(plugin)?;
        Ok(self.dir.join(format!("{plugin}{JOURNAL_SUFFIX}")))
    }

    /// `plugin`'s journal open for appending: the one kept open, or the file opened (created
    /// when `create`), and whether it was created.
    fn journal_file(
        &self,
        plugin: &str,
        create: bool,
    ) -> Result<(Arc<File>, bool), CheckpointError> {
        let mut open = self.journals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(file) = open.get(plugin) {
            return Ok((file.clone(), false));
        }
        let path = self.journal_path(plugin)?;
        let opened = OpenOptions::new().append(true).open(&path);
        let (file, created) = match opened {
            Ok(file) => (file, false),
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                let file = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path)
                    .map_err(|e| Self::io(plugin, "create", &path, e))?;
                (file, true)
            }
            Err(e) => return Err(Self::io(plugin, "open", &path, e)),
        };
        let file = Arc::new(file);
        open.insert(plugin.to_owned(), file.clone());
        Ok((file, created))
    }

    /// Closes `plugin`'s journal, if it is open.
    fn forget_journal(&self, plugin: &str) {
        let mut open = self.journals.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(plugin);
    }

    fn io(plugin: &str, action: &'static str, path: &Path, source: io::Error) -> CheckpointError {
        CheckpointError::Io {
            plugin: plugin.to_owned(),
            action,
            path: path.to_owned(),
            source,
        }
    }
}

impl CheckpointStore for FileStore {
    fn read(&self, plugin: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
        let path = self.path(plugin)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(plugin, "read", &path, e)),
        }
    }

    fn write(&self, plugin: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
        let path = self.path(plugin)?;
        let temp = self.dir.join(format!(
            ".{plugin}{SUFFIX}.{}{TEMP_SUFFIX}",
            std::process::id()
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)
                .map_err(|e| Self::io(plugin, "create", &temp, e))?;
            file.write_all(bytes)
                .map_err(|e| Self::io(plugin, "write", &temp, e))?;
            file.sync_all()
                .map_err(|e| Self::io(plugin, "sync", &temp, e))?;
            fs::rename(&temp, &path).map_err(|e| Self::io(plugin, "rename into place", &path, e))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
            return written;
        }
        sync_dir(&self.dir).map_err(|e| Self::io(plugin, "sync the directory", &self.dir, e))
    }

    fn remove(&self, plugin: &str) -> Result<(), CheckpointError> {
        let path = self.path(plugin)?;
        let journal = self.journal_path(plugin)?;
        self.forget_journal(plugin);
        let mut removed = false;
        for path in [path, journal] {
            match fs::remove_file(&path) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Self::io(plugin, "remove", &path, e)),
            }
        }
        if removed {
            sync_dir(&self.dir)
                .map_err(|e| Self::io(plugin, "sync the directory", &self.dir, e))?;
        }
        Ok(())
    }

    fn location(&self, plugin: &str) -> String {
        match self.path(plugin) {
            Ok(path) => path.display().to_string(),
            Err(_) => self.dir.display().to_string(),
        }
    }

    fn journals(&self) -> bool {
        true
    }

    fn append(&self, plugin: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
        let (file, _) = self.journal_file(plugin, false)?;
        (&*file).write_all(bytes).map_err(|e| {
            Self::io(
                plugin,
                "append to",
                &self.journal_path(plugin).unwrap_or_default(),
                e,
            )
        })
    }

    fn sync_journal(&self, plugin: &str) -> Result<(), CheckpointError> {
        let (file, _) = self.journal_file(plugin, false)?;
        file.sync_data().map_err(|e| {
            Self::io(
                plugin,
                "sync",
                &self.journal_path(plugin).unwrap_or_default(),
                e,
            )
        })
    }

    fn read_journal(&self, plugin: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
        let path = self.journal_path(plugin)?;
        // Appends after this load open the file anew: another process (a former leader) may
        // have replaced it since this one last held it.
        self.forget_journal(plugin);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(plugin, "read", &path, e)),
        }
    }

    fn reset_journal(&self, plugin: &str, header: &[u8]) -> Result<(), CheckpointError> {
        let path = self.journal_path(plugin)?;
        self.forget_journal(plugin);
        let (file, created) = self.journal_file(plugin, true)?;
        let reset = (|| {
            file.set_len(0)
                .map_err(|e| Self::io(plugin, "truncate", &path, e))?;
            (&*file)
                .write_all(header)
                .map_err(|e| Self::io(plugin, "write", &path, e))?;
            if created {
                // A new file: make it, and its name, durable like the snapshot's.
                file.sync_all()
                    .map_err(|e| Self::io(plugin, "sync", &path, e))?;
                sync_dir(&self.dir)
                    .map_err(|e| Self::io(plugin, "sync the directory", &self.dir, e))?;
            }
            Ok(())
        })();
        if reset.is_err() {
            self.forget_journal(plugin);
        }
        reset
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What a [`Flusher`] has written, for metrics and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlusherStats {
    /// Appends to the journal (one write each).
    pub appends: u64,
    /// Bytes appended to the journal.
    pub appended_bytes: u64,
    /// Syncs of the journal.
    pub syncs: u64,
    /// Snapshots saved (compactions, for a store with journals).
    pub snapshots: u64,
    /// Bytes of snapshots saved.
    pub snapshot_bytes: u64,
}

/// When to write one plugin's checkpoint. The worker calls [`Flusher::tick`] after every event
/// it handles (and when [`Flusher::wait`] has elapsed), and [`Flusher::flush`] at shutdown.
///
/// With a store that [journals](CheckpointStore::journals):
///
/// - every tick appends the records made since the last one, with one write and no sync;
/// - the journal is synced when a tick comes at least an interval after the last sync (so at
///   most every interval, and [`Flusher::wait`] says when one is due);
/// - a snapshot is saved, and the journal reset behind it, when the journal would grow past its
///   limit (the snapshot's size, at least [`JOURNAL_MIN_LIMIT`](super::JOURNAL_MIN_LIMIT)), when
///   the journal is closed and the checkpoint has changes (on the first change after a start
///   without a usable journal, after a failed append), and at [`Flusher::flush`]. A failed
///   snapshot is tried again an interval later; appends go on meanwhile.
///
/// With a store without journals, a snapshot is saved at most every interval while the
/// checkpoint has unsaved changes, and at [`Flusher::flush`]; a failed save is tried again an
/// interval later.
pub struct Flusher {
    store: Arc<dyn CheckpointStore>,
    plugin: String,
    interval: Duration,
    /// Whether the store journals.
    journaled: bool,
    /// The last snapshot tried (without journals).
    last_attempt: Option<Instant>,
    /// No snapshot before (with journals): one failed.
    retry_at: Option<Instant>,
    /// The last time the journal was synced, or everything made durable by a snapshot.
    last_sync: Option<Instant>,
    /// Appended since then.
    unsynced: bool,
    stats: FlusherStats,
}

impl Flusher {
    /// Writes `plugin`'s checkpoint to `store`, syncing (or saving, for a store without
    /// journals) at most every `interval`.
    pub fn new(store: Arc<dyn CheckpointStore>, plugin: &str, interval: Duration) -> Flusher {
        Flusher {
            journaled: store.journals(),
            store,
            plugin: plugin.to_owned(),
            interval,
            last_attempt: None,
            retry_at: None,
            last_sync: None,
            unsynced: false,
            stats: FlusherStats::default(),
        }
    }

    /// What it has written so far.
    pub fn stats(&self) -> FlusherStats {
        self.stats
    }

    /// True when [`Flusher::tick`] at `now` has something to write or sync.
    pub fn due(&self, checkpoint: &Checkpoint, now: Instant) -> bool {
        self.wait(checkpoint, now) == Some(Duration::ZERO)
    }

    /// How long from `now` until [`Flusher::tick`] has something to do; `None` while there is
    /// nothing to write or sync. A worker can wait for its next event at most that long.
    pub fn wait(&self, checkpoint: &Checkpoint, now: Instant) -> Option<Duration> {
        let until = |at: Instant| at.saturating_duration_since(now);
        if !self.journaled {
            if !checkpoint.is_dirty() {
                return None;
            }
            return Some(match self.last_attempt {
                None => Duration::ZERO,
                Some(last) => until(last + self.interval),
            });
        }
        if !checkpoint.journal_pending().is_empty() {
            return Some(Duration::ZERO);
        }
        let mut wait: Option<Duration> = None;
        if self.needs_snapshot(checkpoint) {
            wait = Some(self.retry_at.map_or(Duration::ZERO, until));
        }
        if self.unsynced {
            let sync = self
                .last_sync
                .map_or(Duration::ZERO, |last| until(last + self.interval));
            wait = Some(wait.map_or(sync, |w| w.min(sync)));
        }
        wait
    }

    /// Writes what is due at `now` (see [`Flusher`]): with journals, appends the new records,
    /// syncs the journal an interval after the last sync, or saves a snapshot; without, saves
    /// a snapshot at most every interval. Returns the bytes written (appended, or the snapshot
    /// and the journal's new header), if it wrote any.
    pub fn tick(
        &mut self,
        checkpoint: &mut Checkpoint,
        now: Instant,
    ) -> Result<Option<usize>, CheckpointError> {
        if !self.journaled {
            if !self.due(checkpoint, now) {
                return Ok(None);
            }
            return self.snapshot(checkpoint, now).map(Some);
        }
        if self.needs_snapshot(checkpoint) && self.retry_at.is_none_or(|at| now >= at) {
            return self.snapshot(checkpoint, now).map(Some);
        }
        let written = self.append(checkpoint)?;
        if self.unsynced
            && self
                .last_sync
                .is_none_or(|last| now >= last + self.interval)
        {
            self.sync(checkpoint, now)?;
        }
        Ok(written)
    }

    /// Saves `checkpoint` now if it has changes, or records in its journal (at shutdown):
    /// with journals, appends the pending records, then saves a snapshot and resets the
    /// journal, so that the next start reads the snapshot alone. Returns the bytes written, if
    /// it saved.
    pub fn flush(&mut self, checkpoint: &mut Checkpoint) -> Result<Option<usize>, CheckpointError> {
        let now = Instant::now();
        let journal_has_records = self.journaled
            && (checkpoint.journal_len() > JOURNAL_HEADER_LEN as u64
                || !checkpoint.journal_pending().is_empty());
        if !checkpoint.is_dirty() && !journal_has_records {
            if self.unsynced {
                self.sync(checkpoint, now)?;
            }
            return Ok(None);
        }
        if self.journaled {
            // First the records, so that a failed snapshot loses none of them.
            let _ = self.append(checkpoint);
        }
        match self.snapshot(checkpoint, now) {
            Ok(written) => Ok(Some(written)),
            Err(error) => {
                if self.unsynced {
                    let _ = self.sync(checkpoint, now);
                }
                Err(error)
            }
        }
    }

    /// True when the next write must be a snapshot: the journal is closed and the checkpoint
    /// has changes, or the journal with the pending records is past its limit.
    fn needs_snapshot(&self, checkpoint: &Checkpoint) -> bool {
        if checkpoint.journal_is_open() {
            let after = checkpoint.journal_len() + checkpoint.journal_pending().len() as u64;
            after > checkpoint.journal_limit()
        } else {
            checkpoint.is_dirty()
        }
    }

    /// Appends the pending records, if any.
    fn append(&mut self, checkpoint: &mut Checkpoint) -> Result<Option<usize>, CheckpointError> {
        let pending = checkpoint.journal_pending();
        if pending.is_empty() {
            return Ok(None);
        }
        let len = pending.len();
        if let Err(error) = self.store.append(&self.plugin, pending) {
            // Maybe part of them was written: append nothing more behind it.
            checkpoint.journal_failed();
            return Err(error);
        }
        checkpoint.journal_appended();
        self.unsynced = true;
        self.stats.appends += 1;
        self.stats.appended_bytes += len as u64;
        Ok(Some(len))
    }

    fn sync(&mut self, checkpoint: &mut Checkpoint, now: Instant) -> Result<(), CheckpointError> {
        self.unsynced = false;
        self.last_sync = Some(now);
        if let Err(error) = self.store.sync_journal(&self.plugin) {
            // What was appended may be lost: the next write is a snapshot.
            checkpoint.journal_failed();
            return Err(error);
        }
        self.stats.syncs += 1;
        Ok(())
    }

    /// Saves a snapshot (including the pending records) and resets the journal behind it.
    fn snapshot(
        &mut self,
        checkpoint: &mut Checkpoint,
        now: Instant,
    ) -> Result<usize, CheckpointError> {
        self.last_attempt = Some(now);
        let written = match self.store.save(&self.plugin, checkpoint) {
            Ok(written) => written,
            Err(error) => {
                self.retry_at = Some(now + self.interval);
                return Err(error);
            }
        };
        checkpoint.snapshot_saved(written);
        self.retry_at = None;
        self.stats.snapshots += 1;
        self.stats.snapshot_bytes += written as u64;
        // The snapshot was synced: everything recorded is durable.
        self.unsynced = false;
        self.last_sync = Some(now);
        if !self.journaled {
            return Ok(written);
        }
        let header = checkpoint.journal_header();
        if let Err(error) = self.store.reset_journal(&self.plugin, &header) {
            // The snapshot holds everything; without a journal, snapshots at most every
            // interval until a reset succeeds.
            self.retry_at = Some(now + self.interval);
            return Err(error);
        }
        checkpoint.journal_reset();
        Ok(written + header.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::WatchEvent;
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    fn pod(name: &str, rv: u32) -> WatchEvent {
        WatchEvent::parse(format!(
            r#"{{"type":"ADDED","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"ns","uid":"uid-{name}","resourceVersion":"{rv}"}}}}}}"#
        ).into_bytes())
        .expect("valid")
    }

    fn recorded(names: &[&str]) -> Checkpoint {
        let mut checkpoint = Checkpoint::new();
        for name in names {
            checkpoint.record(&pod(name, 1)).expect("recorded");
        }
        checkpoint
    }

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = FileStore::open(dir.path().join("state")).expect("store");
        assert!(store.load("p").expect("load").is_none());
        let written = store.save("p", &recorded(&["a", "b"])).expect("saved");
        let path = store.path("p").expect("path");
        assert_eq!(path, dir.path().join("state/p.checkpoint"));
        assert_eq!(fs::metadata(&path).expect("file").len(), written as u64);
        store.save("p", &recorded(&["a"])).expect("saved again");
        let loaded = store.load("p").expect("load").expect("some");
        assert_eq!(loaded.len(), 1);
        assert!(loaded.is_resuming());
        let files: Vec<_> = fs::read_dir(store.dir())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(files, ["p.checkpoint"], "no temporary file is left");
        store.remove("p").expect("removed");
        store.remove("p").expect("removing nothing is fine");
        assert!(store.load("p").expect("load").is_none());
    }

    #[test]
    fn a_corrupt_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = FileStore::open(dir.path()).expect("store");
        store.save("p", &recorded(&["a"])).expect("saved");
        let path = store.path("p").expect("path");
        let bytes = fs::read(&path).expect("read");
        fs::write(&path, &bytes[..bytes.len() / 2]).expect("torn");
        let error = store.load("p").expect_err("torn");
        assert!(matches!(error, CheckpointError::Corrupt { .. }));
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("torn write"), "{message}");
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("file");
        fs::write(&file, b"").expect("write");
        let error = FileStore::open(file.join("state")).expect_err("not a directory");
        let message = error.to_string();
        assert!(message.starts_with("checkpoint directory "), "{message}");
        assert!(
            message.contains("file/state: cannot create it"),
            "{message}"
        );
    }

    #[test]
    fn leftovers_of_interrupted_saves_are_removed() {
        let dir = tempfile::tempdir().expect("tmp");
        let leftover = dir.path().join(".p.checkpoint.123.tmp");
        let unrelated = dir.path().join(".other.tmp");
        fs::write(&leftover, b"half").expect("write");
        fs::write(&unrelated, b"x").expect("write");
        FileStore::open(dir.path()).expect("store");
        assert!(!leftover.exists());
        assert!(unrelated.exists());
    }

    #[test]
    fn plugin_names_that_are_not_plain_file_stems_are_refused() {
        let store = FileStore {
            dir: PathBuf::from("/state"),
            journals: Arc::default(),
        };
        for name in [
            "",
            ".hidden",
            "../escape",
            "a/b",
            "a\\b",
            "nul\0",
            &"x".repeat(201),
        ] {
            let error = store.path(name).expect_err(name);
            assert!(
                matches!(error, CheckpointError::InvalidPluginName { .. }),
                "{name}"
            );
        }
        assert_eq!(
            store.path("plugin_simple.v2 (copy)").expect("valid"),
            Path::new("/state/plugin_simple.v2 (copy).checkpoint")
        );
    }

    fn failure(plugin: &str, action: &'static str) -> CheckpointError {
        CheckpointError::Io {
            plugin: plugin.to_owned(),
            action,
            path: PathBuf::from("memory"),
            source: io::Error::other("disk full"),
        }
    }

    /// A store that records writes and fails on demand; with `journaling`, it keeps a journal.
    #[derive(Default)]
    struct Memory {
        writes: Mutex<Vec<usize>>,
        fail: AtomicBool,
        journaling: bool,
        journal: Mutex<Vec<u8>>,
        appends: Mutex<Vec<usize>>,
        syncs: AtomicUsize,
        fail_append: AtomicBool,
    }

    impl CheckpointStore for Memory {
        fn read(&self, _: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
            Ok(None)
        }
        fn write(&self, plugin: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
            if self.fail.load(SeqCst) {
                return Err(failure(plugin, "write"));
            }
            self.writes.lock().expect("lock").push(bytes.len());
            Ok(())
        }
        fn remove(&self, _: &str) -> Result<(), CheckpointError> {
            Ok(())
        }
        fn location(&self, _: &str) -> String {
            "memory".into()
        }
        fn journals(&self) -> bool {
            self.journaling
        }
        fn append(&self, plugin: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
            if self.fail_append.load(SeqCst) {
                return Err(failure(plugin, "append to"));
            }
            self.journal.lock().expect("lock").extend_from_slice(bytes);
            self.appends.lock().expect("lock").push(bytes.len());
            Ok(())
        }
        fn sync_journal(&self, _: &str) -> Result<(), CheckpointError> {
            self.syncs.fetch_add(1, SeqCst);
            Ok(())
        }
        fn reset_journal(&self, _: &str, header: &[u8]) -> Result<(), CheckpointError> {
            *self.journal.lock().expect("lock") = header.to_vec();
            Ok(())
        }
    }

    #[test]
    fn the_flusher_saves_at_most_every_interval_while_dirty() {
        let store = Arc::new(Memory::default());
        let mut flusher = Flusher::new(store.clone(), "p", Duration::from_secs(2));
        let mut checkpoint = Checkpoint::new();
        let t0 = Instant::now();
        assert_eq!(flusher.wait(&checkpoint, t0), None, "clean: nothing to do");
        assert_eq!(flusher.tick(&mut checkpoint, t0).expect("tick"), None);

        checkpoint.record(&pod("a", 1)).expect("recorded");
        assert!(flusher.tick(&mut checkpoint, t0).expect("tick").is_some());
        assert!(!checkpoint.is_dirty());

        checkpoint.record(&pod("b", 1)).expect("recorded");
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(
            flusher.wait(&checkpoint, t1),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(flusher.tick(&mut checkpoint, t1).expect("tick"), None);
        let t2 = t0 + Duration::from_secs(2);
        assert!(flusher.due(&checkpoint, t2));

        // A failed save keeps the changes and waits an interval before trying again.
        store.fail.store(true, SeqCst);
        let error = flusher.tick(&mut checkpoint, t2).expect_err("disk full");
        assert!(error.to_string().contains("disk full"), "{error}");
        assert!(checkpoint.is_dirty());
        assert!(!flusher.due(&checkpoint, t2 + Duration::from_secs(1)));
        store.fail.store(false, SeqCst);
        assert!(flusher.flush(&mut checkpoint).expect("flush").is_some());
        assert_eq!(flusher.flush(&mut checkpoint).expect("flush"), None);
        assert_eq!(store.writes.lock().expect("lock").len(), 2);
    }

    fn modified(name: &str, rv: u32) -> WatchEvent {
        let added = pod(name, rv);
        added
            .with_type(crate::event::EventType::Modified)
            .expect("retyped")
    }

    #[test]
    fn the_file_store_journals_between_snapshots() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(FileStore::open(dir.path()).expect("store"));
        let mut flusher = Flusher::new(store.clone(), "p", Duration::from_secs(2));
        let mut checkpoint = Checkpoint::new();
        checkpoint.journal.min_limit = 2000;
        let journal = store.journal_path("p").expect("path");
        assert_eq!(journal, dir.path().join("p.journal"));
        let size = |path: &Path| fs::metadata(path).expect("file").len();
        let t0 = Instant::now();

        // The first change: no journal yet, so a snapshot, and the journal reset behind it.
        checkpoint.record(&pod("a", 1)).expect("recorded");
        assert_eq!(flusher.wait(&checkpoint, t0), Some(Duration::ZERO));
        let written = flusher
            .tick(&mut checkpoint, t0)
            .expect("tick")
            .expect("wrote");
        let snapshot = size(&store.path("p").expect("path"));
        assert_eq!(written as u64, snapshot + JOURNAL_HEADER_LEN as u64);
        assert_eq!(size(&journal), JOURNAL_HEADER_LEN as u64);
        assert_eq!(flusher.wait(&checkpoint, t0), None, "all durable");

        // Then appends, one write per tick, synced an interval after the last sync.
        checkpoint.record(&pod("b", 1)).expect("recorded");
        checkpoint.record(&modified("a", 2)).expect("recorded");
        let t1 = t0 + Duration::from_millis(10);
        let appended = flusher
            .tick(&mut checkpoint, t1)
            .expect("tick")
            .expect("wrote");
        assert_eq!(size(&journal), (JOURNAL_HEADER_LEN + appended) as u64);
        assert_eq!(size(&store.path("p").expect("path")), snapshot);
        assert_eq!(
            flusher.stats(),
            FlusherStats {
                appends: 1,
                appended_bytes: appended as u64,
                syncs: 0,
                snapshots: 1,
                snapshot_bytes: snapshot,
            }
        );
        assert_eq!(
            flusher.wait(&checkpoint, t1),
            Some(Duration::from_millis(1990)),
            "the sync is due an interval after the snapshot"
        );
        assert_eq!(flusher.tick(&mut checkpoint, t1).expect("tick"), None);
        assert_eq!(flusher.stats().syncs, 0);
        assert_eq!(
            flusher
                .tick(&mut checkpoint, t0 + Duration::from_secs(2))
                .expect("tick"),
            None
        );
        assert_eq!(flusher.stats().syncs, 1);
        assert_eq!(flusher.wait(&checkpoint, t0 + Duration::from_secs(2)), None);

        // A crash now loses nothing: the snapshot and the journal make the checkpoint.
        let loaded = store.load("p").expect("load").expect("some");
        assert_eq!(loaded.dump(), checkpoint.dump());
        assert_eq!(loaded.replayed().applied, 2);
        assert!(loaded.journal_is_open() && loaded.is_dirty());

        // Past its limit, the journal is folded into a snapshot and reset.
        let mut t = t0 + Duration::from_secs(3);
        let mut n = 0;
        while flusher.stats().snapshots == 1 {
            n += 1;
            t += Duration::from_millis(1);
            checkpoint
                .record(&pod(&format!("p{n}"), 1))
                .expect("recorded");
            flusher.tick(&mut checkpoint, t).expect("tick");
            assert!(size(&journal) <= 2000);
        }
        assert_eq!(size(&journal), JOURNAL_HEADER_LEN as u64);
        assert!(!checkpoint.is_dirty());
        assert!(n > 10, "{n}");
        let loaded = store.load("p").expect("load").expect("some");
        assert_eq!(loaded.dump(), checkpoint.dump());
        assert_eq!(loaded.replayed().bytes, JOURNAL_HEADER_LEN as u64);

        // At shutdown: the last records, then a snapshot; the next start reads it alone.
        checkpoint.record(&modified("b", 3)).expect("recorded");
        assert!(flusher.flush(&mut checkpoint).expect("flush").is_some());
        assert_eq!(flusher.flush(&mut checkpoint).expect("flush"), None);
        assert_eq!(size(&journal), JOURNAL_HEADER_LEN as u64);
        let loaded = store.load("p").expect("load").expect("some");
        assert_eq!(loaded.dump(), checkpoint.dump());
        assert!(!loaded.is_dirty());

        store.remove("p").expect("removed");
        assert!(!journal.exists());
        assert_eq!(fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn a_torn_journal_is_cut_by_the_next_snapshot() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(FileStore::open(dir.path()).expect("store"));
        let mut flusher = Flusher::new(store.clone(), "p", Duration::from_secs(2));
        let mut checkpoint = Checkpoint::new();
        let t0 = Instant::now();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            checkpoint.record(&pod(name, 1)).expect("recorded");
            flusher
                .tick(&mut checkpoint, t0 + Duration::from_millis(i as u64))
                .expect("tick");
        }
        // Killed in the middle of appending d (the part of the write that made it).
        let mut tail = {
            let mut other = Checkpoint::decode(&checkpoint.encode()).expect("decoded");
            other.journal.lineage = checkpoint.journal.lineage;
            other.journal_reset();
            other.record(&pod("d", 1)).expect("recorded");
            other.journal_pending().to_vec()
        };
        tail.truncate(tail.len() / 2);
        let path = store.journal_path("p").expect("path");
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(&tail).expect("torn");
        drop(flusher);

        let mut loaded = store.load("p").expect("load").expect("some");
        assert_eq!(loaded.dump(), checkpoint.dump());
        let replay = loaded.replayed();
        assert_eq!(
            (replay.applied, replay.ignored_bytes),
            (2, tail.len() as u64)
        );
        assert_eq!(replay.ignored, Some("a torn or corrupt record"));
        assert!(!loaded.journal_is_open());
        // Nothing is appended behind the torn tail: the first change is a snapshot.
        let mut flusher = Flusher::new(store.clone(), "p", Duration::from_secs(2));
        let t1 = Instant::now();
        assert_eq!(
            flusher.wait(&loaded, t1),
            Some(Duration::ZERO),
            "dirty: replayed"
        );
        flusher.tick(&mut loaded, t1).expect("tick");
        assert_eq!(flusher.stats().snapshots, 1);
        loaded.record(&pod("e", 1)).expect("recorded");
        flusher.tick(&mut loaded, t1).expect("tick");
        assert_eq!(flusher.stats().appends, 1);
        let again = store.load("p").expect("load").expect("some");
        assert_eq!(again.dump(), loaded.dump());
        assert_eq!(again.replayed().applied, 1);
        assert_eq!(again.replayed().ignored, None);
    }

    #[test]
    fn failed_appends_and_snapshots_fall_back_and_retry() {
        let store = Arc::new(Memory {
            journaling: true,
            ..Memory::default()
        });
        let interval = Duration::from_secs(2);
        let mut flusher = Flusher::new(store.clone(), "p", interval);
        let mut checkpoint = Checkpoint::new();
        checkpoint.journal.min_limit = 300;
        let t0 = Instant::now();
        checkpoint.record(&pod("a", 1)).expect("recorded");
        flusher.tick(&mut checkpoint, t0).expect("snapshot");
        assert!(checkpoint.journal_is_open());

        // A failed append closes the journal: the next tick saves a snapshot.
        store.fail_append.store(true, SeqCst);
        checkpoint.record(&pod("b", 1)).expect("recorded");
        flusher.tick(&mut checkpoint, t0).expect_err("append fails");
        assert!(!checkpoint.journal_is_open() && checkpoint.is_dirty());
        store.fail_append.store(false, SeqCst);
        assert!(flusher.due(&checkpoint, t0));
        flusher.tick(&mut checkpoint, t0).expect("snapshot");
        assert_eq!(store.writes.lock().expect("lock").len(), 2);
        assert!(checkpoint.journal_is_open());

        // A failed snapshot is tried again an interval later; records are appended meanwhile,
        // past the limit.
        store.fail.store(true, SeqCst);
        let mut n = 0;
        while store.writes.lock().expect("lock").len() == 2 && n < 100 {
            n += 1;
            checkpoint
                .record(&pod(&format!("p{n}"), 1))
                .expect("recorded");
            let t = t0 + Duration::from_millis(n);
            if let Err(error) = flusher.tick(&mut checkpoint, t) {
                assert!(error.to_string().contains("disk full"), "{error}");
                store.fail.store(false, SeqCst);
                checkpoint.record(&pod("after", 1)).expect("recorded");
                let appended = store.appends.lock().expect("lock").len();
                assert_eq!(flusher.wait(&checkpoint, t), Some(Duration::ZERO));
                flusher.tick(&mut checkpoint, t).expect("appended");
                assert_eq!(store.appends.lock().expect("lock").len(), appended + 1);
                assert_eq!(
                    store.writes.lock().expect("lock").len(),
                    2,
                    "no snapshot yet"
                );
                let wait = flusher.wait(&checkpoint, t).expect("a sync and a snapshot");
                assert!(wait > Duration::ZERO && wait <= interval, "{wait:?}");
                flusher
                    .tick(&mut checkpoint, t + interval / 2)
                    .expect("nothing to do");
                assert_eq!(
                    store.writes.lock().expect("lock").len(),
                    2,
                    "the snapshot is tried again an interval later"
                );
                flusher
                    .tick(&mut checkpoint, t + interval)
                    .expect("snapshot");
            }
        }
        assert_eq!(store.writes.lock().expect("lock").len(), 3);
        assert_eq!(
            store.journal.lock().expect("lock").len(),
            JOURNAL_HEADER_LEN,
            "reset behind the snapshot"
        );
    }

    #[test]
    fn a_store_without_journals_gets_snapshots_at_the_interval() {
        /// Only what a store must implement.
        struct Bare;
        impl CheckpointStore for Bare {
            fn read(&self, _: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
                Ok(None)
            }
            fn write(&self, _: &str, _: &[u8]) -> Result<(), CheckpointError> {
                Ok(())
            }
            fn remove(&self, _: &str) -> Result<(), CheckpointError> {
                Ok(())
            }
            fn location(&self, _: &str) -> String {
                "bare".into()
            }
        }
        assert!(!Bare.journals());
        assert!(matches!(
            Bare.append("p", b"x"),
            Err(CheckpointError::NoJournal { .. })
        ));
        assert!(Bare.read_journal("p").expect("none").is_none());
        Bare.reset_journal("p", b"header")
            .expect("nothing to reset");
        Bare.sync_journal("p").expect("nothing to sync");

        let store = Arc::new(Memory::default());
        let mut flusher = Flusher::new(store.clone(), "p", Duration::from_secs(2));
        let mut checkpoint = Checkpoint::new();
        let t0 = Instant::now();
        for i in 0..100u32 {
            checkpoint.record(&pod("a", i)).expect("recorded");
            flusher
                .tick(
                    &mut checkpoint,
                    t0 + Duration::from_millis(u64::from(i) * 50),
                )
                .expect("tick");
            assert!(checkpoint.journal_pending().is_empty(), "nothing framed");
        }
        // 5 s: at 0, 2 and 4 s.
        assert_eq!(store.writes.lock().expect("lock").len(), 3);
        assert_eq!(flusher.stats().appends, 0);
    }
}
