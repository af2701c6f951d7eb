//! The compiled-module cache: wasmtime's compiled artifacts on disk, so that a restart (or a
//! second controller on the same node) loads a plugin in well under a millisecond instead of
//! compiling it again (tens of milliseconds, far more for a Go plugin).
//!
//! # Format
//!
//! One file per module and engine in the cache directory, named
//! `{module_sha256}-{engine_key16}.cwasm`:
//!
//! - `module_sha256` is the lowercase hex sha256 of the `.wasm` bytes (64 characters);
//! - `engine_key16` is the first 16 hex characters of the engine key, a sha256 of everything
//!   wasmtime says decides whether compiled code fits an engine
//!   ([`wasmtime::Engine::precompile_compatibility_hash`]: target, compiler flags, tunables,
//!   wasm features, wasmtime version). A different [`Config`](wasmtime::Config) or wasmtime
//!   release gives a different key, so its entries are simply never looked at (and
//!   [`ModuleCache::prune`] removes them).
//!
//! The content is the payload first, so that wasmtime can map the file itself, then a trailer:
//!
//! | bytes | what |
//! |-------|------|
//! | n     | the payload: [`wasmtime::Module::serialize`]'s output (or, for a component, [`Component::serialize`]'s) |
//! | 32    | the sha256 of the payload |
//! | 8     | n, little-endian |
//! | 8     | the magic [`MAGIC`] (`ECCACHE2`, the format's version) |
//!
//! An entry of up to [`VERIFIED_UP_TO`] payload bytes (every core module seen so far) is read and
//! its sha256 checked before wasmtime gets it. A larger one (a Python or JavaScript component
//! is 35 MB compiled) is memory-mapped by wasmtime instead ([`Artifact::deserialize_file`]),
//! which starts it in about 2 ms where reading and hashing it would take over 50: its length
//! and trailer are checked, its sha256 is not.
//!
//! Entries are written to a temporary file in the same directory and renamed into place, so a
//! reader sees either the whole old entry, the whole new one or none, never half of one. Every
//! hit sets the entry's modification time to now, and [`ModuleCache::prune`] removes entries
//! that have not been used for a while.
//!
//! # Trust model
//!
//! [`wasmtime::Module::deserialize`] is `unsafe`: it trusts its input to be wasmtime's own,
//! unmodified output and does little validation of it; crafted bytes can run arbitrary native
//! code in the controller. So:
//!
//! - **The cache directory must be writable only by the controller** (its own user, or a volume
//!   only its container mounts). Anyone who can write there can make the controller execute
//!   code of their choice. The directory is created with mode `0700` on Unix, and opening a
//!   group- or world-writable directory logs a warning.
//! - Each entry carries a sha256 of its payload, checked before a payload of up to
//!   [`VERIFIED_UP_TO`] bytes is handed to wasmtime. This catches accidental damage (truncated
//!   writes, bit rot, a full disk): it is not a signature and does not protect against someone
//!   able to write the directory. Larger, mapped entries are checked for truncation (length and
//!   trailer) only: bit rot inside one goes unnoticed.
//! - Entries of another engine configuration or wasmtime version are rejected twice: their file
//!   name has another engine key, and wasmtime's own header check (version and config of the
//!   engine that produced them) refuses them should one end up under our name anyway.
//!
//! Whatever is wrong with an entry (unreadable, truncated, wrong magic, wrong checksum, refused
//! by wasmtime), it is never trusted: the module is compiled again, the entry overwritten, and
//! the caller told why ([`CacheStatus::Rejected`]). Failing to write an entry only costs the
//! next start a compile: it is logged and otherwise ignored.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use wasmtime::component::Component;
use wasmtime::{Engine, Module, Precompiled};

/// The last 8 bytes of every entry; the trailing digit is the format's version.
pub const MAGIC: &[u8; 8] = b"ECCACHE2";
/// Entries with payloads up to this size are read and their sha256 checked; larger ones are
/// memory-mapped.
pub const VERIFIED_UP_TO: u64 = 8 << 20;

/// The extension of entry files.
const EXTENSION: &str = ".cwasm";
/// How many hex digits of the engine key go into entry names.
const ENGINE_KEY_IN_NAME: usize = 16;
/// Length of the trailer after the payload: payload sha256, payload length and magic.
const TRAILER_LEN: usize = 32 + 8 + MAGIC.len();
/// Temporary files are named `.{entry name}.{pid}.{n}.tmp`.
const TMP_SUFFIX: &str = ".tmp";

/// What the cache holds: a compiled core module or a compiled component, each wasmtime's own
/// artifact with its own serialized form.
pub trait Artifact: Sized {
    /// What [`Engine::detect_precompiled`] says this artifact's serialized form is.
    const KIND: Precompiled;
    /// Compiles `bytes` for `engine`.
    fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
    /// The serialized form, for an entry.
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;
    /// Rebuilds the artifact from an entry's payload.
    ///
    /// # Safety
    ///
    /// `payload` must be [`Artifact::serialize`]'s output, unmodified (see the trust model
    /// above).
    #[allow(unsafe_code)]
    unsafe fn deserialize(engine: &Engine, payload: &[u8]) -> wasmtime::Result<Self>;
    /// Rebuilds the artifact from the entry at `path` by mapping it (wasmtime ignores the
    /// trailer after its own output).
    ///
    /// # Safety
    ///
    /// As for [`Artifact::deserialize`], and the file must not change while the artifact lives
    /// (entries are replaced by renaming, never rewritten in place).
    #[allow(unsafe_code)]
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self>;
}

impl Artifact for Module {
    const KIND: Precompiled = Precompiled::Module;
    fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Module> {
        Module::new(engine, bytes)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Module::serialize(self)
    }
    #[allow(unsafe_code)]
    unsafe fn deserialize(engine: &Engine, payload: &[u8]) -> wasmtime::Result<Module> {
        // SAFETY: the caller's promise is `Module::deserialize`'s requirement.
        unsafe { Module::deserialize(engine, payload) }
    }
    #[allow(unsafe_code)]
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Module> {
        // SAFETY: the caller's promise is `Module::deserialize_file`'s requirement.
        unsafe { Module::deserialize_file(engine, path) }
    }
}

impl Artifact for Component {
    const KIND: Precompiled = Precompiled::Component;
    fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        Component::new(engine, bytes)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Component::serialize(self)
    }
    #[allow(unsafe_code)]
    unsafe fn deserialize(engine: &Engine, payload: &[u8]) -> wasmtime::Result<Component> {
        // SAFETY: the caller's promise is `Component::deserialize`'s requirement.
        unsafe { Component::deserialize(engine, payload) }
    }
    #[allow(unsafe_code)]
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
        // SAFETY: the caller's promise is `Component::deserialize_file`'s requirement.
        unsafe { Component::deserialize_file(engine, path) }
    }
}

/// How a module was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// Loaded from a valid cache entry: not compiled.
    Hit,
    /// No entry: compiled (and an entry written, unless that failed).
    Miss,
    /// An entry existed but was corrupt or foreign (why): it was ignored, the module compiled
    /// again and the entry rewritten.
    Rejected(String),
    /// No cache is configured: compiled.
    Disabled,
}

/// Why a cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The directory could not be created.
    #[error("module cache {dir}: cannot create the directory: {cause}")]
    Create {
        /// The cache directory.
        dir: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The path exists but is not a directory.
    #[error("module cache {dir}: not a directory")]
    NotADirectory {
        /// The cache directory.
        dir: PathBuf,
    },
    /// A file could not be created (or removed) in the directory.
    #[error("module cache {dir}: not writable: {cause}")]
    NotWritable {
        /// The cache directory.
        dir: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// A directory of compiled modules for one engine configuration. See the module documentation
/// for the format and why the directory must be writable only by the controller.
#[derive(Debug, Clone)]
pub struct ModuleCache {
    dir: PathBuf,
    /// Lowercase hex sha256 of `engine.precompile_compatibility_hash()`.
    engine_key: String,
    /// Payloads up to this size are read and verified; larger ones are mapped.
    verified_up_to: u64,
}

impl ModuleCache {
    /// Opens `dir` (creating it), checking it is writable (create+remove a probe file).
    pub fn open(dir: &Path, engine: &Engine) -> Result<ModuleCache, CacheError> {
        create_private_dir(dir).map_err(|cause| CacheError::Create {
            dir: dir.to_owned(),
            cause,
        })?;
        let metadata = std::fs::metadata(dir).map_err(|cause| CacheError::Create {
            dir: dir.to_owned(),
            cause,
        })?;
        if !metadata.is_dir() {
            return Err(CacheError::NotADirectory {
                dir: dir.to_owned(),
            });
        }
        warn_if_shared(dir, &metadata);
        let probe = dir.join(format!(".probe.{}.{}", std::process::id(), unique()));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|file| {
                drop(file);
                std::fs::remove_file(&probe)
            })
            .map_err(|cause| CacheError::NotWritable {
                dir: dir.to_owned(),
                cause,
            })?;
        Ok(ModuleCache {
            dir: dir.to_owned(),
            engine_key: engine_key(engine),
            verified_up_to: VERIFIED_UP_TO,
        })
    }

    /// `$XDG_CACHE_HOME/event-controller/modules`, else `$HOME/.cache/event-controller/modules`;
    /// None when neither env var is set (empty or relative values count as unset).
    pub fn default_dir() -> Option<PathBuf> {
        let absolute = |name| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|path| path.is_absolute())
        };
        let base = absolute("XDG_CACHE_HOME")
            .or_else(|| absolute("HOME").map(|home| home.join(".cache")))?;
        Some(base.join("event-controller").join("modules"))
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The module for `bytes` (whose sha256 hex is `sha256`): deserialized from a valid entry,
    /// or compiled with `engine` and stored (atomically: written to a temporary file in the
    /// directory, then renamed). A store failure is logged (warn) and ignored: the module is
    /// still returned.
    ///
    /// `engine` must be the engine (or one configured alike) the cache was opened with;
    /// otherwise the cache is bypassed ([`CacheStatus::Disabled`]). A `sha256` that is not 64
    /// lowercase hex digits is ignored and computed from `bytes`.
    pub fn load_or_compile<A: Artifact>(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(A, CacheStatus), wasmtime::Error> {
        if engine_key(engine) != self.engine_key {
            tracing::warn!(dir = %self.dir.display(),
                "module cache: the engine differs from the one the cache was opened with; not using the cache");
            return Ok((A::compile(engine, bytes)?, CacheStatus::Disabled));
        }
        let computed;
        let sha256 = if is_hex(sha256, 64) {
            sha256
        } else {
            computed = sha256_hex(bytes);
            &computed
        };
        let path = self.entry_path(sha256);
        let status = match self.load::<A>(engine, &path) {
            Ok(Some(module)) => {
                touch(&path);
                return Ok((module, CacheStatus::Hit));
            }
            Ok(None) => CacheStatus::Miss,
            Err(reason) => {
                tracing::warn!(entry = %path.display(), %reason,
                    "module cache: ignoring an invalid entry; compiling the module again");
                CacheStatus::Rejected(reason)
            }
        };
        let module = A::compile(engine, bytes)?;
        if let Err(e) = self.store(&path, &module) {
            tracing::warn!(entry = %path.display(), error = %format_args!("{e:#}"),
                "module cache: cannot store the compiled module; the next start compiles it again");
        }
        Ok((module, status))
    }

    /// Removes entries of other engines (another engine key) and entries not used for
    /// `max_age` (by modification time, which every hit refreshes), and temporary files older
    /// than `max_age` left by interrupted writes. Returns how many files were removed. Never
    /// removes files it does not recognise as its own (by name), nor anything but regular
    /// files.
    pub fn prune(&self, max_age: Duration) -> usize {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "module cache: cannot list the directory");
                return 0;
            }
        };
        let own_key = &self.engine_key[..ENGINE_KEY_IN_NAME];
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let remove_always = match parse_entry_name(name) {
                Some((_, key)) => key != own_key,
                None if is_tmp_name(name) => false,
                None => continue,
            };
            // `DirEntry::metadata` does not follow symlinks.
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if !metadata.is_file() {
                continue;
            }
            let stale = metadata
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age > max_age);
            if !(remove_always || stale) {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(entry = %entry.path().display(), error = %e, "module cache: cannot remove an entry");
                }
            }
        }
        removed
    }

    /// Where the entry for the module with this sha256 lives.
    fn entry_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!(
            "{sha256}-{}{EXTENSION}",
            &self.engine_key[..ENGINE_KEY_IN_NAME]
        ))
    }

    /// The artifact in the entry at `path`: `None` when there is none, `Err(why)` when it is
    /// not valid.
    fn load<A: Artifact>(&self, engine: &Engine, path: &Path) -> Result<Option<A>, String> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open: {e}")),
        };
        let payload_len = read_trailer(&mut file)?;
        let refused = |e: wasmtime::Error| format!("wasmtime refused it: {e:#}");
        if payload_len <= self.verified_up_to {
            let mut data = Vec::new();
            file.rewind()
                .and_then(|()| file.read_to_end(&mut data))
                .map_err(|e| format!("cannot read: {e}"))?;
            let payload = verify_payload(&data)?;
            check_kind::<A>(Engine::detect_precompiled(payload))?;
            // SAFETY: `Artifact::deserialize` requires `Artifact::serialize` output, unmodified.
            // The payload comes from an entry this controller wrote (`store`) in a directory
            // that only it may write (see the module documentation: the deployment's duty), and
            // it matches the sha256 stored with it, so it is not damaged. Output of another
            // wasmtime version or engine configuration is refused by wasmtime itself.
            #[allow(unsafe_code)]
            let artifact = unsafe { A::deserialize(engine, payload) }.map_err(refused)?;
            return Ok(Some(artifact));
        }
        drop(file);
        let kind =
            Engine::detect_precompiled_file(path).map_err(|e| format!("cannot read: {e}"))?;
        check_kind::<A>(kind)?;
        // SAFETY: as above, but for the sha256, which is not checked for a mapped entry (its
        // length and trailer are). The file is never rewritten in place: entries are replaced
        // by renaming a new file over them, which leaves the mapped one intact.
        #[allow(unsafe_code)]
        let artifact = unsafe { A::deserialize_file(engine, path) }.map_err(refused)?;
        Ok(Some(artifact))
    }

    /// Writes the entry for `module` at `path`: to a temporary file, then renamed into place.
    fn store<A: Artifact>(&self, path: &Path, module: &A) -> Result<(), wasmtime::Error> {
        let payload = module.serialize()?;
        let digest = Sha256::digest(&payload);
        let file_name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("entry");
        let tmp = self.dir.join(format!(
            ".{file_name}.{}.{}{TMP_SUFFIX}",
            std::process::id(),
            unique()
        ));
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(&payload)?;
            file.write_all(&digest)?;
            file.write_all(&(payload.len() as u64).to_le_bytes())?;
            file.write_all(MAGIC)?;
            drop(file);
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(written?)
    }
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The payload of an entry after checking its magic, length and checksum; `Err(why)` if any is
/// wrong.
fn verify_payload(data: &[u8]) -> Result<&[u8], String> {
    let (payload, trailer) = data
        .split_at_checked(data.len().saturating_sub(TRAILER_LEN))
        .ok_or_else(|| "truncated while reading".to_owned())?;
    if Sha256::digest(payload).as_slice() != &trailer[..32] {
        return Err(format!(
            "the payload's sha256 does not match the one stored with it (damaged, {} payload bytes)",
            payload.len()
        ));
    }
    Ok(payload)
}

/// Reads the trailer of the entry `file` and checks it against the file's length: the payload's
/// length.
fn read_trailer(file: &mut File) -> Result<u64, String> {
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if len <= TRAILER_LEN as u64 {
        return Err(format!(
            "truncated: {len} bytes, not even a payload and a trailer"
        ));
    }
    let mut trailer = [0u8; TRAILER_LEN];
    file.seek(SeekFrom::End(-(TRAILER_LEN as i64)))
        .and_then(|_| file.read_exact(&mut trailer))
        .map_err(|e| format!("cannot read: {e}"))?;
    let (rest, magic) = trailer.split_at(TRAILER_LEN - MAGIC.len());
    if magic != MAGIC {
        return Err(format!(
            "not a cache entry of this format (trailer magic {:?})",
            String::from_utf8_lossy(magic)
        ));
    }
    let mut stored_len = [0u8; 8];
    stored_len.copy_from_slice(&rest[32..]);
    let payload_len = u64::from_le_bytes(stored_len);
    if payload_len.checked_add(TRAILER_LEN as u64) != Some(len) {
        return Err(format!(
            "truncated or damaged: {len} bytes for a {payload_len}-byte payload and its trailer"
        ));
    }
    Ok(payload_len)
}

/// Checks that a payload wasmtime detected as `kind` is its output for an `A`.
fn check_kind<A: Artifact>(kind: Option<Precompiled>) -> Result<(), String> {
    if kind != Some(A::KIND) {
        return Err(format!(
            "the payload is not a precompiled wasmtime {:?}",
            A::KIND
        ));
    }
    Ok(())
}

/// Lowercase hex sha256 of the engine's compatibility hash: the same in every process whose
/// engine is configured alike, on the same kind of machine, with the same wasmtime.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex(&hasher.0.finalize())
}

/// A [`Hasher`] that feeds everything it is given into a sha256, so that a [`Hash`] impl gives
/// a digest that is stable across processes (unlike `DefaultHasher`, which is seeded).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The first 8 bytes of the digest so far (the key uses the whole digest instead).
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Whether `s` is exactly `len` lowercase hex digits.
fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `(module_sha256, engine_key16)` if `name` is an entry's name.
fn parse_entry_name(name: &str) -> Option<(&str, &str)> {
    let stem = name.strip_suffix(EXTENSION)?;
    let (sha256, key) = stem.split_once('-')?;
    (is_hex(sha256, 64) && is_hex(key, ENGINE_KEY_IN_NAME)).then_some((sha256, key))
}

/// Whether `name` is one of the temporary files `store` writes: `.{entry}.{pid}.{n}.tmp`.
fn is_tmp_name(name: &str) -> bool {
    let Some(inner) = name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(TMP_SUFFIX))
    else {
        return false;
    };
    let mut parts = inner.rsplitn(3, '.');
    let (Some(n), Some(pid), Some(entry)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(n) && digits(pid) && parse_entry_name(entry).is_some()
}

/// A number unique within this process, for temporary file names.
fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Marks the entry at `path` as used now, for [`ModuleCache::prune`]. Failures are harmless
/// (the entry may be pruned and rebuilt a little early).
fn touch(path: &Path) {
    let result = OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file: File| file.set_modified(SystemTime::now()));
    if let Err(e) = result {
        tracing::debug!(entry = %path.display(), error = %e, "module cache: cannot update the entry's time");
    }
}

/// Creates `dir` and its parents; the directory itself (if new) is private to the user on Unix.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Warns when others may write the directory: they could make the controller run their code.
fn warn_if_shared(dir: &Path, metadata: &std::fs::Metadata) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode();
        if mode & 0o022 != 0 {
            tracing::warn!(dir = %dir.display(), mode = %format_args!("{:o}", mode & 0o7777),
                "module cache: the directory is writable by other users, who could make the controller run code of their choice; it should be writable only by the controller");
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, metadata);
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Config, Instance, Store};

    const WAT: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;

    fn wasm() -> Vec<u8> {
        wat::parse_str(WAT).unwrap()
    }

    fn answer(engine: &Engine, module: &Module) -> i32 {
        let mut store = Store::new(engine, ());
        // Only the fuel-consuming engines of these tests need fuel; the others refuse it.
        let _ = store.set_fuel(1_000);
        let instance = Instance::new(&mut store, module, &[]).unwrap();
        let answer = instance
            .get_typed_func::<(), i32>(&mut store, "answer")
            .unwrap();
        answer.call(&mut store, ()).unwrap()
    }

    fn load(cache: &ModuleCache, engine: &Engine, bytes: &[u8]) -> CacheStatus {
        let (module, status) = cache
            .load_or_compile(engine, bytes, &sha256_hex(bytes))
            .unwrap();
        assert_eq!(answer(engine, &module), 42);
        status
    }

    /// The only entry in the cache directory.
    fn only_entry(cache: &ModuleCache) -> PathBuf {
        let entries: Vec<PathBuf> = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        entries.into_iter().next().unwrap()
    }

    fn set_age(path: &Path, age: Duration) {
        let file = OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn sha256_hex_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn engine_key_is_stable_and_depends_on_config() {
        let a = engine_key(&Engine::default());
        assert_eq!(a, engine_key(&Engine::default()));
        assert!(is_hex(&a, 64));
        let fuel = Engine::new(Config::new().consume_fuel(true)).unwrap();
        assert_ne!(a, engine_key(&fuel));
    }

    #[test]
    fn miss_then_hit() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::open(&dir.path().join("a/b"), &engine).unwrap();
        let bytes = wasm();
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Miss);
        let entry = only_entry(&cache);
        let name = entry.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            parse_entry_name(name),
            Some((sha256_hex(&bytes).as_str(), &cache.engine_key[..16]))
        );
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Hit);
        // Another engine configured alike (another process, say) uses the same entries.
        let again = ModuleCache::open(cache.dir(), &Engine::default()).unwrap();
        assert_eq!(load(&again, &engine, &bytes), CacheStatus::Hit);
    }

    #[test]
    fn hits_refresh_the_entry_time() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::open(dir.path(), &engine).unwrap();
        let bytes = wasm();
        load(&cache, &engine, &bytes);
        let entry = only_entry(&cache);
        set_age(&entry, Duration::from_secs(3600));
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Hit);
        assert_eq!(cache.prune(Duration::from_secs(600)), 0);
        assert!(entry.exists());
    }

    #[test]
    fn corrupt_entries_are_rejected_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::open(dir.path(), &engine).unwrap();
        let bytes = wasm();
        load(&cache, &engine, &bytes);
        let entry = only_entry(&cache);
        let mut data = std::fs::read(&entry).unwrap();
        let middle = (data.len() - TRAILER_LEN) / 2;
        data[middle] ^= 0x40;
        std::fs::write(&entry, &data).unwrap();
        match load(&cache, &engine, &bytes) {
            CacheStatus::Rejected(reason) => assert!(reason.contains("sha256"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Hit);
    }

    #[test]
    fn truncated_entries_and_other_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::open(dir.path(), &engine).unwrap();
        let bytes = wasm();
        load(&cache, &engine, &bytes);
        let entry = only_entry(&cache);
        let data = std::fs::read(&entry).unwrap();
        for (bad, why) in [
            (&data[..data.len() - 100], "magic"),
            (&data[100..], "truncated"),
            (&data[..TRAILER_LEN], "truncated"),
            (&b""[..], "truncated"),
            (&[b'x'; 100][..], "magic"),
        ] {
            std::fs::write(&entry, bad).unwrap();
            match load(&cache, &engine, &bytes) {
                CacheStatus::Rejected(reason) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{other:?}"),
            }
            assert_eq!(std::fs::read(&entry).unwrap(), data, "rebuilt");
        }
        // A correct checksum over something that is not wasmtime's output is refused too.
        let mut fake = bytes.clone();
        fake.extend_from_slice(&Sha256::digest(&bytes));
        fake.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        fake.extend_from_slice(MAGIC);
        std::fs::write(&entry, &fake).unwrap();
        match load(&cache, &engine, &bytes) {
            CacheStatus::Rejected(reason) => assert!(reason.contains("precompiled"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Hit);
    }

    #[test]
    fn large_entries_are_mapped_and_checked_for_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let mut cache = ModuleCache::open(dir.path(), &engine).unwrap();
        cache.verified_up_to = 0;
        let bytes = wasm();
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Miss);
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Hit);
        let entry = only_entry(&cache);
        let data = std::fs::read(&entry).unwrap();
        for (bad, why) in [
            (&data[..data.len() - 1], "magic"),
            (&data[1..], "truncated"),
        ] {
            std::fs::write(&entry, bad).unwrap();
            match load(&cache, &engine, &bytes) {
                CacheStatus::Rejected(reason) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
        // Not wasmtime's output: refused before wasmtime maps it.
        let mut fake = vec![0u8; 4096];
        fake.extend_from_slice(&Sha256::digest(&fake));
        fake.extend_from_slice(&4096u64.to_le_bytes());
        fake.extend_from_slice(MAGIC);
        std::fs::write(&entry, &fake).unwrap();
        assert!(matches!(
            load(&cache, &engine, &bytes),
            CacheStatus::Rejected(_)
        ));
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Hit);
    }

    #[test]
    fn components_are_cached_like_modules_and_never_mistaken_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::open(dir.path(), &engine).unwrap();
        let bytes = wat::parse_str("(component)").unwrap();
        let sha = sha256_hex(&bytes);
        let compile = || cache.load_or_compile::<Component>(&engine, &bytes, &sha);
        assert_eq!(compile().unwrap().1, CacheStatus::Miss);
        assert_eq!(compile().unwrap().1, CacheStatus::Hit);
        // The same entry asked for as a core module: refused, never deserialized as one.
        let as_module = cache.load_or_compile::<Module>(&engine, &bytes, &sha);
        assert!(
            as_module.is_err(),
            "a component does not compile as a module"
        );
        assert_eq!(compile().unwrap().1, CacheStatus::Hit);
    }

    #[test]
    fn entries_of_other_engines_are_not_used_and_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let fuel = Engine::new(Config::new().consume_fuel(true)).unwrap();
        let cache = ModuleCache::open(dir.path(), &engine).unwrap();
        let fuel_cache = ModuleCache::open(dir.path(), &fuel).unwrap();
        let bytes = wasm();

        // The fuel engine's entry has another name: not even looked at.
        assert_eq!(load(&fuel_cache, &fuel, &bytes), CacheStatus::Miss);
        let foreign = only_entry(&cache);
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Miss);

        // Under our name anyway, wasmtime refuses it.
        let ours = cache.entry_path(&sha256_hex(&bytes));
        std::fs::copy(&foreign, &ours).unwrap();
        match load(&cache, &engine, &bytes) {
            CacheStatus::Rejected(reason) => assert!(reason.contains("wasmtime"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Hit);

        // A cache opened for another engine is bypassed.
        let (_, status) = cache
            .load_or_compile::<Module>(&fuel, &bytes, &sha256_hex(&bytes))
            .unwrap();
        assert_eq!(status, CacheStatus::Disabled);

        assert_eq!(cache.prune(Duration::from_secs(3600)), 1);
        assert!(!foreign.exists());
        assert!(ours.exists());
    }

    #[test]
    fn prune_removes_old_entries_only() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::open(dir.path(), &engine).unwrap();
        let fresh = wasm();
        let old = wat::parse_str(
            r#"(module (func (export "answer") (result i32) i32.const 40 i32.const 2 i32.add))"#,
        )
        .unwrap();
        load(&cache, &engine, &fresh);
        load(&cache, &engine, &old);
        let fresh_entry = cache.entry_path(&sha256_hex(&fresh));
        let old_entry = cache.entry_path(&sha256_hex(&old));
        set_age(&old_entry, Duration::from_secs(7200));

        // Files that are not entries are left alone, however old.
        let unrelated = [
            "notes.txt".to_owned(),
            format!("{}-{}.cwasm", "0".repeat(63), "0".repeat(16)),
            format!("{}.cwasm", "0".repeat(64)),
            ".something.tmp".to_owned(),
        ];
        for name in &unrelated {
            let path = dir.path().join(name);
            std::fs::write(&path, b"keep me").unwrap();
            set_age(&path, Duration::from_secs(7200));
        }
        // A directory with an entry's name is not removed either.
        let subdir = dir
            .path()
            .join(format!("{}-{}.cwasm", "1".repeat(64), "2".repeat(16)));
        std::fs::create_dir(&subdir).unwrap();
        // A temporary file left by an interrupted write is removed once old.
        let tmp = dir.path().join(format!(
            ".{}.123.4.tmp",
            fresh_entry.file_name().unwrap().to_str().unwrap()
        ));
        std::fs::write(&tmp, b"half").unwrap();
        set_age(&tmp, Duration::from_secs(7200));

        assert_eq!(cache.prune(Duration::from_secs(3600)), 2);
        assert!(fresh_entry.exists());
        assert!(!old_entry.exists());
        assert!(!tmp.exists());
        assert!(subdir.is_dir());
        for name in &unrelated {
            assert!(dir.path().join(name).exists(), "{name}");
        }
        assert_eq!(cache.prune(Duration::from_secs(3600)), 0);
        assert_eq!(load(&cache, &engine, &old), CacheStatus::Miss);
    }

    #[test]
    fn open_fails_cleanly_where_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let engine = Engine::default();
        let err = ModuleCache::open(&file.join("cache"), &engine).unwrap_err();
        assert!(matches!(err, CacheError::Create { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot create"), "{err}");
        let err = ModuleCache::open(&file, &engine).unwrap_err();
        assert!(
            matches!(
                err,
                CacheError::Create { .. } | CacheError::NotADirectory { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn bad_sha256_arguments_are_recomputed() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::open(dir.path(), &engine).unwrap();
        let bytes = wasm();
        let (_, status) = cache
            .load_or_compile::<Module>(&engine, &bytes, "../../etc/passwd")
            .unwrap();
        assert_eq!(status, CacheStatus::Miss);
        assert_eq!(only_entry(&cache), cache.entry_path(&sha256_hex(&bytes)));
        assert_eq!(load(&cache, &engine, &bytes), CacheStatus::Hit);
    }

    #[test]
    fn default_dir_is_under_the_user_cache() {
        // Reads the environment only; the variables are not changed (tests run in parallel).
        if let Some(dir) = ModuleCache::default_dir() {
            assert!(dir.ends_with("event-controller/modules"), "{dir:?}");
            assert!(dir.is_absolute());
        }
    }
}
