//! Checkpoints kept in ConfigMaps: [`ConfigMapStore`], whose documentation describes the
//! objects, how they are written and read, and what it costs.

use super::{CheckpointError, CheckpointStore, DecodeError};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The most bytes an object may take as JSON: under the API server's 1 MiB (1,048,576 bytes)
/// limit on a ConfigMap, with room to spare.
pub const MAX_OBJECT_BYTES: usize = 1_000_000;

/// What is kept for an object's metadata (names, labels, annotations, and what the server adds:
/// uid, resourceVersion, creationTimestamp, managedFields) within [`MAX_OBJECT_BYTES`].
const METADATA_ALLOWANCE: usize = 16 * 1024;

/// The most snapshot bytes in one object: base64 makes 4 characters of every 3 bytes, and the
/// object stays under [`MAX_OBJECT_BYTES`] with its metadata (737,712 bytes, 983,616 in base64).
pub const MAX_CHUNK_BYTES: usize = (MAX_OBJECT_BYTES - METADATA_ALLOWANCE) / 4 * 3;

/// How long one request to the API server may take, unless told otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest plugin name accepted (it is kept whole in an annotation).
const MAX_PLUGIN_LEN: usize = 200;
/// The longest prefix accepted: with the name, a generation and a chunk number, the names stay
/// far under the 253 characters of a DNS-1123 subdomain.
const MAX_PREFIX_LEN: usize = 100;
/// A label value's limit, which the object name's plugin part also keeps.
const MAX_SEGMENT_LEN: usize = 63;
/// How many chunks past the last one a sweep deletes at most.
const MAX_SWEEP: usize = 10_000;

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const MANAGER: &str = "event-controller";
const CHECKPOINT_OF: &str = "event-controller/checkpoint-of";
const PART: &str = "event-controller/checkpoint-part";
const PLUGIN: &str = "event-controller/plugin";
const GENERATION: &str = "event-controller/generation";
const CHUNK: &str = "event-controller/chunk";
const CHUNKS: &str = "event-controller/chunks";
const LENGTH: &str = "event-controller/length";
const SHA256: &str = "event-controller/sha256";
const WRITTEN_BY: &str = "event-controller/written-by";
/// The `binaryData` key of the bytes.
const DATA_KEY: &str = "checkpoint";

/// Checkpoints kept in ConfigMaps of one namespace, for a controller without a volume: the
/// replicas of a leader-elected deployment share them, and a new leader loads what the old one
/// wrote.
///
/// # Layout
///
/// Each plugin's checkpoint is one *head* ConfigMap, `{prefix}-{name}`, and, when the snapshot
/// is larger than a chunk ([`MAX_CHUNK_BYTES`], about 720 KiB), *chunks*
/// `{prefix}-{name}.{generation}-{n}` (`n` from 0). `name` is the plugin's name when it is
/// already made of lowercase letters, digits and `-` (at most 63 characters, starting and ending
/// with a letter or digit); any other name is mapped deterministically: lowercased, every other
/// character replaced by `-`, cut to 54 characters, followed by `-` and 8 hex digits of the
/// sha256 of the real name (`My_Plugin` → `my-plugin-…`). The dot keeps chunk names apart from
/// every head name, which has none. Every object carries:
///
/// - labels `app.kubernetes.io/managed-by: event-controller`, `event-controller/checkpoint-of:
///   {name}` and `event-controller/checkpoint-part: head` or `chunk`;
/// - annotations `event-controller/plugin` (the real plugin name: a head naming another plugin
///   is refused with [`CheckpointError::NameTaken`], never read or overwritten) and
///   `event-controller/generation`; a chunk also `event-controller/chunk` (its index).
///
/// The head's annotations describe the snapshot: `event-controller/chunks` (0: the bytes are in
/// the head itself), `event-controller/length` and `event-controller/sha256` (of the whole
/// snapshot), and `event-controller/written-by` (the writer's identity, for messages). The
/// bytes are the `checkpoint` key of `binaryData` (base64 in JSON: a chunk's 720 KiB become
/// 960 KiB, so every object stays under [`MAX_OBJECT_BYTES`], 1,000,000 bytes, with room for
/// metadata, under the API server's 1 MiB limit).
///
/// # Writing
///
/// A write never changes what a reader sees until it is complete: it creates the chunks of a new
/// generation (the head's plus one) first, then replaces the head, naming the resourceVersion it
/// last read or wrote (optimistic concurrency), then deletes the previous generation's chunks,
/// best effort. A head that changed meanwhile (another replica wrote it) gets 409 Conflict: the
/// write fails with [`CheckpointError::Conflict`] (logged) and overwrites nothing. The store then
/// forgets what it knew of the head, so that the next write (the
/// [`Flusher`](crate::checkpoint::Flusher) tries again an interval later) reads the head anew and
/// replaces it: the latest writer wins, but never silently. (With leader election only the
/// leader's checkpoints change, so the writer after a conflict is the new leader.)
///
/// Chunks left by a write that did not finish (a crash, a failed request) carry the next
/// generation's names, so the next write replaces them; those past its last chunk are deleted by
/// the first write after a load or a failed write. [`CheckpointStore::remove`] deletes the head,
/// then every chunk of the plugin (found by label), leftovers included. Two writers writing the
/// same generation at the very same time (both having read the same head) could mix their chunks:
/// the one whose head write fails leaves the other's head naming chunks it overwrote, which the
/// sha256 shows (that checkpoint loads as [`CheckpointError::Corrupt`] until the next write).
///
/// # Reading
///
/// A read gets the head, then the chunks it names, checks that each belongs to the head's plugin
/// and generation, and checks the total length and sha256. A missing chunk or a mismatch (the
/// head moved on while the chunks were read) makes it read the head again, up to three times; a
/// checkpoint that is still inconsistent is [`CheckpointError::Corrupt`], like a torn file: the
/// plugin starts without it.
///
/// # Cost and guarantee
///
/// The store keeps no journal (a ConfigMap cannot be appended to): a
/// [`Flusher`](crate::checkpoint::Flusher) saves the whole snapshot at most every interval while
/// the checkpoint changes, and at shutdown. A save of a snapshot up to a chunk is one request (a
/// PUT of the head); a larger one is `n` chunk creations, the PUT of the head and the deletion of
/// the previous generation's chunks (so about `2n + 1` requests and `n` MB per interval while
/// changes flow). The first write after a load or a failed write also deletes one leftover chunk
/// name (usually answered 404), after reading the head if this store has not. A load is one GET,
/// plus one per chunk. Each request has a timeout ([`DEFAULT_REQUEST_TIMEOUT`], 10 s). What a
/// crash loses is the *Without a journal* case of the
/// [guarantee](crate::checkpoint#the-guarantee): the records made since the last save, at most
/// an interval's worth plus the duration of a save, delivered again after the restart (and the
/// `DELETED` of an object first handled, then deleted, in that window is missed).
///
/// The controller's service account needs `get`, `list`, `create`, `update` and `delete` on
/// `configmaps` in the namespace. The methods block the calling thread on the tokio runtime
/// given to [`ConfigMapStore::new`] (`Handle::block_on`): call them from a plugin's worker
/// thread, never from a task of the runtime.
pub struct ConfigMapStore {
    api: Api<ConfigMap>,
    runtime: tokio::runtime::Handle,
    namespace: String,
    prefix: String,
    chunk_bytes: usize,
    timeout: Duration,
    writer: String,
    /// What this store last read or wrote of each plugin's head; none: read it before writing.
    known: Mutex<HashMap<String, Known>>,
}

impl std::fmt::Debug for ConfigMapStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigMapStore")
            .field("namespace", &self.namespace)
            .field("prefix", &self.prefix)
            .field("chunk_bytes", &self.chunk_bytes)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A plugin's head as last seen.
#[derive(Debug, Clone)]
struct Known {
    /// `None`: there was no head.
    head: Option<HeadState>,
    /// Delete chunks of the next generation past the last one written (leftovers of a write
    /// that did not finish), at the next write.
    sweep: bool,
}

#[derive(Debug, Clone)]
struct HeadState {
    resource_version: String,
    generation: u64,
    chunks: usize,
}

/// What a head's annotations say of its snapshot.
struct Layout {
    generation: u64,
    chunks: usize,
    length: u64,
    sha256: String,
}

impl Layout {
    fn of(head: &ConfigMap) -> Result<Layout, &'static str> {
        let number = |key: &str| -> Result<u64, &'static str> {
            annotation(head, key)
                .and_then(|text| text.parse().ok())
                .ok_or("the head ConfigMap's generation, chunks or length annotation is missing or not a number")
        };
        let generation = number(GENERATION)?;
        let chunks = usize::try_from(number(CHUNKS)?).map_err(|_| "too many chunks")?;
        let length = number(LENGTH)?;
        let sha256 = annotation(head, SHA256)
            .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or("the head ConfigMap's sha256 annotation is missing or malformed")?
            .to_ascii_lowercase();
        Ok(Layout {
            generation,
            chunks,
            length,
            sha256,
        })
    }
}

/// Why a request failed.
enum Failure {
    /// The server answered with an error Status.
    Refused(Box<kube::core::Status>),
    /// No answer: the connection, TLS, a broken response, the timeout.
    Failed(String),
}

/// Why stored objects do not make a checkpoint: for [`CheckpointError::Corrupt`].
struct Torn {
    /// Which object, what is wrong with it.
    detail: String,
    source: DecodeError,
}

impl ConfigMapStore {
    /// Checkpoints in ConfigMaps of `namespace` named after `prefix` (for example
    /// `event-controller-checkpoint`), through `client`, whose futures run on `runtime`.
    /// `namespace` must be a DNS-1123 label, `prefix` lowercase letters, digits and `-`
    /// (starting and ending with a letter or digit, at most 100 characters). Use one prefix per
    /// deployment: every replica of it shares the checkpoints.
    pub fn new(
        client: kube::Client,
        runtime: tokio::runtime::Handle,
        namespace: String,
        prefix: String,
    ) -> Result<ConfigMapStore, CheckpointError> {
        if let Err(reason) = check_label(&namespace, MAX_SEGMENT_LEN) {
            return Err(CheckpointError::Settings(format!(
                "namespace {namespace:?} {reason}"
            )));
        }
        if let Err(reason) = check_label(&prefix, MAX_PREFIX_LEN) {
            return Err(CheckpointError::Settings(format!(
                "ConfigMap name prefix {prefix:?} {reason}"
            )));
        }
        Ok(ConfigMapStore {
            api: Api::namespaced(client, &namespace),
            runtime,
            namespace,
            prefix,
            chunk_bytes: MAX_CHUNK_BYTES,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            writer: default_writer(),
            known: Mutex::new(HashMap::new()),
        })
    }

    /// Cuts snapshots in chunks of at most `bytes` (1 to [`MAX_CHUNK_BYTES`], the default);
    /// smaller chunks are for tests.
    pub fn chunk_bytes(mut self, bytes: usize) -> ConfigMapStore {
        self.chunk_bytes = bytes.clamp(1, MAX_CHUNK_BYTES);
        self
    }

    /// How long one request may take ([`DEFAULT_REQUEST_TIMEOUT`] unless told otherwise).
    pub fn request_timeout(mut self, timeout: Duration) -> ConfigMapStore {
        self.timeout = timeout;
        self
    }

    /// Who writes, in the head's `event-controller/written-by` annotation and in conflict
    /// messages (the pod's name, say). The default is `$POD_NAME`, or `$HOSTNAME`, and the
    /// process id.
    pub fn writer(mut self, identity: &str) -> ConfigMapStore {
        self.writer = identity.chars().take(253).collect();
        self
    }

    /// The namespace of the ConfigMaps.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The prefix of their names.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The name of the head ConfigMap of `plugin`'s checkpoint (see [`ConfigMapStore`]).
    /// Refuses an empty name and one longer than 200 bytes.
    pub fn object_name(&self, plugin: &str) -> Result<String, CheckpointError> {
        Ok(format!("{}-{}", self.prefix, name_segment(plugin)?))
    }

    /// The name of chunk `index` of generation `generation` of the head `head`.
    fn chunk_name(head: &str, generation: u64, index: usize) -> String {
        format!("{head}.{generation}-{index}")
    }

    /// `configmap namespace/name`, for messages.
    fn describe(&self, name: &str) -> String {
        format!("configmap {}/{name}", self.namespace)
    }

    /// Runs `request` on the runtime, within the timeout.
    fn request<T>(&self, request: impl Future<Output = kube::Result<T>>) -> Result<T, Failure> {
        let timeout = self.timeout;
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, request).await })
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(kube::Error::Api(status))) => Err(Failure::Refused(status)),
            Ok(Err(other)) => Err(Failure::Failed(crate::cluster::error_chain(&other))),
            Err(_) => Err(Failure::Failed(format!("no answer within {timeout:?}"))),
        }
    }

    fn kube_error(
        &self,
        plugin: &str,
        action: &'static str,
        name: &str,
        failure: Failure,
    ) -> CheckpointError {
        let (status, message) = match failure {
            Failure::Refused(status) => (
                Some(status.code),
                format!("HTTP {} {}: {}", status.code, status.reason, status.message),
            ),
            Failure::Failed(message) => (None, message),
        };
        CheckpointError::Kube {
            plugin: plugin.to_owned(),
            action,
            object: self.describe(name),
            status,
            message,
        }
    }

    /// The object `name`, `None` when there is none.
    fn get(&self, plugin: &str, name: &str) -> Result<Option<ConfigMap>, CheckpointError> {
        self.request(self.api.get_opt(name))
            .map_err(|failure| self.kube_error(plugin, "read", name, failure))
    }

    /// Deletes the object `name`; false when there was none.
    fn delete(&self, plugin: &str, name: &str) -> Result<bool, CheckpointError> {
        match self.request(self.api.delete(name, &DeleteParams::default())) {
            Ok(_) => Ok(true),
            Err(Failure::Refused(status)) if status.code == 404 => Ok(false),
            Err(failure) => Err(self.kube_error(plugin, "delete", name, failure)),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, plugin: &str, known: Known) {
        self.known().insert(plugin.to_owned(), known);
    }

    fn forget(&self, plugin: &str) {
        self.known().remove(plugin);
    }

    /// Refuses a head that is not `plugin`'s checkpoint.
    fn check_owner(
        &self,
        plugin: &str,
        name: &str,
        object: &ConfigMap,
    ) -> Result<(), CheckpointError> {
        let managed = object
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(MANAGED_BY))
            .is_some_and(|manager| manager == MANAGER);
        let holder = if !managed {
            format!("it was not made by {MANAGER} (no label {MANAGED_BY}={MANAGER})")
        } else {
            match annotation(object, PLUGIN) {
                Some(owner) if owner == plugin => return Ok(()),
                Some(owner) => format!(
                    "it holds the checkpoint of plugin {owner:?} (both names map to it): rename one of the plugins"
                ),
                None => format!("it has no {PLUGIN} annotation"),
            }
        };
        Err(CheckpointError::NameTaken {
            plugin: plugin.to_owned(),
            location: self.describe(name),
            holder,
        })
    }

    /// The labels and annotations every object of `plugin`'s checkpoint has.
    fn meta(
        &self,
        plugin: &str,
        name: &str,
        part: &str,
        generation: u64,
    ) -> Result<ObjectMeta, CheckpointError> {
        let labels = BTreeMap::from([
            (MANAGED_BY.to_owned(), MANAGER.to_owned()),
            (CHECKPOINT_OF.to_owned(), name_segment(plugin)?),
            (PART.to_owned(), part.to_owned()),
        ]);
        let annotations = BTreeMap::from([
            (PLUGIN.to_owned(), plugin.to_owned()),
            (GENERATION.to_owned(), generation.to_string()),
        ]);
        Ok(ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        })
    }

    /// Reads the head of `plugin` to write over it (this store has not read it yet, or a write
    /// failed): what it knows of it from then on.
    fn fetch(&self, plugin: &str, head: &str) -> Result<Known, CheckpointError> {
        let known = match self.get(plugin, head)? {
            None => Known {
                head: None,
                sweep: true,
            },
            Some(object) => {
                self.check_owner(plugin, head, &object)?;
                Known {
                    head: Some(head_state(&object)),
                    sweep: true,
                }
            }
        };
        self.remember(plugin, known.clone());
        Ok(known)
    }

    /// Creates chunk `index` of `generation`, or replaces it if a write that did not finish
    /// left it (then `leftovers` is set).
    fn put_chunk(
        &self,
        plugin: &str,
        head: &str,
        generation: u64,
        index: usize,
        piece: &[u8],
        leftovers: &mut bool,
    ) -> Result<(), CheckpointError> {
        let name = Self::chunk_name(head, generation, index);
        let mut metadata = self.meta(plugin, &name, "chunk", generation)?;
        if let Some(annotations) = metadata.annotations.as_mut() {
            annotations.insert(CHUNK.to_owned(), index.to_string());
        }
        let chunk = ConfigMap {
            metadata,
            binary_data: Some(BTreeMap::from([(
                DATA_KEY.to_owned(),
                ByteString(piece.to_vec()),
            )])),
            ..ConfigMap::default()
        };
        match self.request(self.api.create(&PostParams::default(), &chunk)) {
            Ok(_) => Ok(()),
            Err(Failure::Refused(status)) if status.code == 409 => {
                // Left by a write of this generation that did not finish (no head names it).
                *leftovers = true;
                tracing::debug!(plugin, chunk = %self.describe(&name), "replacing a chunk left by an unfinished write");
                self.request(self.api.replace(&name, &PostParams::default(), &chunk))
                    .map(|_| ())
                    .map_err(|failure| self.kube_error(plugin, "replace", &name, failure))
            }
            Err(failure) => Err(self.kube_error(plugin, "create", &name, failure)),
        }
    }

    /// The error of a write refused with 409: someone else wrote the head.
    fn conflict(&self, plugin: &str, head: &str, status: &kube::core::Status) -> CheckpointError {
        let mut message = format!("HTTP 409 {}: {}", status.reason, status.message);
        if let Ok(Some(object)) = self.get(plugin, head) {
            let generation = annotation(&object, GENERATION).unwrap_or("?");
            let writer = annotation(&object, WRITTEN_BY).unwrap_or("an unknown writer");
            message.push_str(&format!(
                "; it now holds generation {generation}, written by {writer}"
            ));
        }
        tracing::warn!(plugin, head = %self.describe(head), "checkpoint changed by another writer: {message}");
        CheckpointError::Conflict {
            plugin: plugin.to_owned(),
            location: self.describe(head),
            message,
        }
    }

    /// The snapshot bytes the head `object` describes, from the head or its chunks.
    fn assemble(
        &self,
        plugin: &str,
        head: &str,
        object: &ConfigMap,
        layout: &Layout,
    ) -> Result<Result<Vec<u8>, Torn>, CheckpointError> {
        let expected = layout.length;
        let mut bytes = Vec::new();
        if layout.chunks == 0 {
            match data(object) {
                Some(data) => bytes = data,
                None => {
                    return Ok(Err(Torn {
                        detail: format!("binaryData.{DATA_KEY} is missing"),
                        source: DecodeError::Length { expected, found: 0 },
                    }))
                }
            }
        } else {
            bytes.reserve(usize::try_from(expected).unwrap_or(0).min(64 << 20));
            for index in 0..layout.chunks {
                let name = Self::chunk_name(head, layout.generation, index);
                let found = bytes.len() as u64;
                let Some(chunk) = self.get(plugin, &name)? else {
                    return Ok(Err(Torn {
                        detail: format!(
                            "chunk {} of {} is missing",
                            self.describe(&name),
                            layout.chunks
                        ),
                        source: DecodeError::Length { expected, found },
                    }));
                };
                let belongs = annotation(&chunk, PLUGIN) == Some(plugin)
                    && annotation(&chunk, GENERATION)
                        == Some(layout.generation.to_string().as_str())
                    && annotation(&chunk, CHUNK) == Some(index.to_string().as_str());
                let data = chunk
                    .binary_data
                    .and_then(|mut data| data.remove(DATA_KEY))
                    .filter(|_| belongs);
                let Some(ByteString(data)) = data else {
                    return Ok(Err(Torn {
                        detail: format!(
                            "chunk {} is not chunk {index} of generation {} of this plugin, or has no binaryData.{DATA_KEY}",
                            self.describe(&name),
                            layout.generation
                        ),
                        source: DecodeError::Malformed {
                            offset: bytes.len(),
                            what: "a chunk of another checkpoint, or without data",
                        },
                    }));
                };
                bytes.extend_from_slice(&data);
            }
        }
        if bytes.len() as u64 != expected {
            return Ok(Err(Torn {
                detail: format!(
                    "generation {}, {} chunks: {} bytes instead of {expected}",
                    layout.generation,
                    layout.chunks,
                    bytes.len()
                ),
                source: DecodeError::Length {
                    expected,
                    found: bytes.len() as u64,
                },
            }));
        }
        if sha256_hex(&bytes) != layout.sha256 {
            // The snapshot's own checks say what is wrong with it, if they can.
            let source =
                super::Checkpoint::decode(&bytes)
                    .err()
                    .unwrap_or(DecodeError::Malformed {
                        offset: 0,
                        what: "the sha256 of the bytes is not the one the head records",
                    });
            return Ok(Err(Torn {
                detail: format!(
                    "generation {}, {} chunks: the sha256 is not the head's",
                    layout.generation, layout.chunks
                ),
                source,
            }));
        }
        Ok(Ok(bytes))
    }

    /// True when the head is no longer at `resource_version` (another writer replaced it).
    fn head_moved(
        &self,
        plugin: &str,
        head: &str,
        resource_version: &str,
    ) -> Result<bool, CheckpointError> {
        Ok(self.get(plugin, head)?.is_none_or(|object| {
            object.metadata.resource_version.as_deref() != Some(resource_version)
        }))
    }

    fn corrupt(&self, plugin: &str, torn: Torn) -> CheckpointError {
        CheckpointError::Corrupt {
            plugin: plugin.to_owned(),
            location: format!("{} ({})", self.location(plugin), torn.detail),
            source: torn.source,
        }
    }

    /// Deletes chunks of `generation` from `from` on until one is missing (best effort).
    fn sweep(&self, plugin: &str, head: &str, generation: u64, from: usize) {
        for index in from..from + MAX_SWEEP {
            let name = Self::chunk_name(head, generation, index);
            match self.delete(plugin, &name) {
                Ok(true) => {
                    tracing::debug!(plugin, chunk = %self.describe(&name), "deleted a chunk left by an unfinished write")
                }
                Ok(false) => break,
                Err(error) => {
                    tracing::warn!(plugin, "cannot delete a leftover checkpoint chunk: {error}; it stays until the checkpoint is removed");
                    break;
                }
            }
        }
    }
}

impl CheckpointStore for ConfigMapStore {
    fn read(&self, plugin: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
        let head = self.object_name(plugin)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(object) = self.get(plugin, &head)? else {
                self.remember(
                    plugin,
                    Known {
                        head: None,
                        sweep: true,
                    },
                );
                return Ok(None);
            };
            self.check_owner(plugin, &head, &object)?;
            // Even an unusable checkpoint is written over by the next save.
            let state = head_state(&object);
            let resource_version = state.resource_version.clone();
            self.remember(
                plugin,
                Known {
                    head: Some(state),
                    sweep: true,
                },
            );
            let layout = Layout::of(&object).map_err(|what| {
                self.corrupt(
                    plugin,
                    Torn {
                        detail: "the head's annotations".to_owned(),
                        source: DecodeError::Malformed { offset: 0, what },
                    },
                )
            })?;
            match self.assemble(plugin, &head, &object, &layout)? {
                Ok(bytes) => return Ok(Some(bytes)),
                Err(torn) => {
                    // The head may have moved on while its chunks were read.
                    if attempt < 3 && self.head_moved(plugin, &head, &resource_version)? {
                        continue;
                    }
                    return Err(self.corrupt(plugin, torn));
                }
            }
        }
    }

    fn write(&self, plugin: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
        let head = self.object_name(plugin)?;
        let known = self.known().get(plugin).cloned();
        let known = match known {
            Some(known) => known,
            None => self.fetch(plugin, &head)?,
        };
        let previous = known.head.clone();
        let generation = previous.as_ref().map_or(1, |p| p.generation + 1);
        let pieces: Vec<&[u8]> = if bytes.len() <= self.chunk_bytes {
            Vec::new()
        } else {
            bytes.chunks(self.chunk_bytes).collect()
        };
        let mut leftovers = false;
        for (index, piece) in pieces.iter().enumerate() {
            if let Err(error) =
                self.put_chunk(plugin, &head, generation, index, piece, &mut leftovers)
            {
                // Those written are replaced by the next write (same generation).
                self.forget(plugin);
                return Err(error);
            }
        }
        let mut metadata = self.meta(plugin, &head, "head", generation)?;
        if let Some(annotations) = metadata.annotations.as_mut() {
            annotations.insert(CHUNKS.to_owned(), pieces.len().to_string());
            annotations.insert(LENGTH.to_owned(), bytes.len().to_string());
            annotations.insert(SHA256.to_owned(), sha256_hex(bytes));
            annotations.insert(WRITTEN_BY.to_owned(), self.writer.clone());
        }
        metadata.resource_version = previous.as_ref().map(|p| p.resource_version.clone());
        let object = ConfigMap {
            metadata,
            binary_data: pieces
                .is_empty()
                .then(|| BTreeMap::from([(DATA_KEY.to_owned(), ByteString(bytes.to_vec()))])),
            ..ConfigMap::default()
        };
        let (action, written) = match &previous {
            Some(_) => (
                "update",
                self.request(self.api.replace(&head, &PostParams::default(), &object)),
            ),
            None => (
                "create",
                self.request(self.api.create(&PostParams::default(), &object)),
            ),
        };
        let written = match written {
            Ok(written) => written,
            Err(failure) => {
                // Whatever happened, read the head again before the next write.
                self.forget(plugin);
                return Err(match failure {
                    Failure::Refused(status) if status.code == 409 => {
                        self.conflict(plugin, &head, &status)
                    }
                    failure => self.kube_error(plugin, action, &head, failure),
                });
            }
        };
        self.remember(
            plugin,
            Known {
                head: Some(HeadState {
                    resource_version: written.metadata.resource_version.unwrap_or_default(),
                    generation,
                    chunks: pieces.len(),
                }),
                sweep: false,
            },
        );
        // The checkpoint is written; the rest is tidying up.
        if let Some(previous) = previous.filter(|p| p.generation != generation) {
            for index in 0..previous.chunks {
                let name = Self::chunk_name(&head, previous.generation, index);
                if let Err(error) = self.delete(plugin, &name) {
                    tracing::warn!(plugin, "cannot delete an old checkpoint chunk: {error}; it stays until the checkpoint is removed");
                }
            }
        }
        if known.sweep || leftovers {
            self.sweep(plugin, &head, generation, pieces.len());
        }
        Ok(())
    }

    fn remove(&self, plugin: &str) -> Result<(), CheckpointError> {
        let head = self.object_name(plugin)?;
        self.forget(plugin);
        // The head first: a reader then finds no checkpoint, not a torn one.
        self.delete(plugin, &head)?;
        let selector = format!(
            "{MANAGED_BY}={MANAGER},{CHECKPOINT_OF}={}",
            name_segment(plugin)?
        );
        let listed = self
            .request(self.api.list(&ListParams::default().labels(&selector)))
            .map_err(|failure| self.kube_error(plugin, "list", &format!("{head}.*"), failure))?;
        let chunk_prefix = format!("{head}.");
        let mut result = Ok(());
        for object in listed.items {
            let Some(name) = object.metadata.name.as_deref() else {
                continue;
            };
            if name.starts_with(&chunk_prefix) {
                if let Err(error) = self.delete(plugin, name) {
                    result = result.and(Err(error));
                }
            }
        }
        if result.is_ok() {
            self.remember(
                plugin,
                Known {
                    head: None,
                    sweep: false,
                },
            );
        }
        result
    }

    fn location(&self, plugin: &str) -> String {
        match self.object_name(plugin) {
            Ok(name) => self.describe(&name),
            Err(_) => format!("configmaps {}/{}-*", self.namespace, self.prefix),
        }
    }
}

/// What a head says of itself, leniently: unreadable annotations count as generation 0 with no
/// chunks (to be written over).
fn head_state(object: &ConfigMap) -> HeadState {
    let number = |key| annotation(object, key).and_then(|text| text.parse().ok());
    HeadState {
        resource_version: object.metadata.resource_version.clone().unwrap_or_default(),
        generation: number(GENERATION).unwrap_or(0),
        chunks: number(CHUNKS)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
    }
}

fn annotation<'a>(object: &'a ConfigMap, key: &str) -> Option<&'a str> {
    object
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The bytes of `binaryData.checkpoint`.
fn data(object: &ConfigMap) -> Option<Vec<u8>> {
    let data = object.binary_data.as_ref()?.get(DATA_KEY)?;
    Some(data.0.clone())
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// `text` is lowercase letters, digits and `-`, starts and ends with a letter or digit, and has
/// at most `max` characters: a DNS-1123 label (when `max` is 63) and a valid label value.
fn check_label(text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    if text.len() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may hold only lowercase letters, digits and '-'".to_owned());
    }
    if text.starts_with('-') || text.ends_with('-') {
        return Err("must start and end with a letter or digit".to_owned());
    }
    Ok(())
}

/// The plugin's part of its objects' names, and the value of their `checkpoint-of` label: the
/// name itself when it is a valid label of at most 63 characters, otherwise the name lowercased,
/// other characters as `-`, cut to 54 characters, then `-` and 8 hex digits of its sha256.
fn name_segment(plugin: &str) -> Result<String, CheckpointError> {
    let invalid = |reason| CheckpointError::InvalidPluginName {
        plugin: plugin.to_owned(),
        reason,
    };
    if plugin.is_empty() {
        return Err(invalid("it is empty"));
    }
    if plugin.len() > MAX_PLUGIN_LEN {
        return Err(invalid("it is longer than 200 bytes"));
    }
    if check_label(plugin, MAX_SEGMENT_LEN).is_ok() {
        return Ok(plugin.to_owned());
    }
    let mapped: String = plugin
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .take(54)
        .collect();
    let base = mapped.trim_matches('-');
    let hash = &sha256_hex(plugin.as_bytes())[..8];
    Ok(if base.is_empty() {
        hash.to_owned()
    } else {
        format!("{base}-{hash}")
    })
}

/// `$POD_NAME` (or `$HOSTNAME`) and the process id.
fn default_writer() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown host".to_owned());
    format!("{host} (pid {})", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_map_to_valid_object_names() {
        assert_eq!(name_segment("alerts").expect("valid"), "alerts");
        assert_eq!(name_segment("a-1").expect("valid"), "a-1");
        let mapped = name_segment("My_Plugin").expect("mapped");
        assert!(mapped.starts_with("my-plugin-"), "{mapped}");
        assert_eq!(mapped.len(), "my-plugin-".len() + 8);
        // Deterministic, and distinct for names that lowercase alike.
        assert_eq!(name_segment("My_Plugin").expect("mapped"), mapped);
        assert_ne!(name_segment("my_plugin").expect("mapped"), mapped);
        assert_ne!(name_segment("my.plugin").expect("mapped"), mapped);
        for plugin in [
            "My_Plugin",
            "-lead",
            "trail-",
            "__",
            "ünïcode",
            "a.b",
            &"x".repeat(64),
            &"Y".repeat(200),
        ] {
            let segment = name_segment(plugin).expect("mapped");
            check_label(&segment, MAX_SEGMENT_LEN)
                .unwrap_or_else(|reason| panic!("{plugin:?} -> {segment:?} {reason}"));
        }
        assert!(matches!(
            name_segment(""),
            Err(CheckpointError::InvalidPluginName { .. })
        ));
        assert!(matches!(
            name_segment(&"x".repeat(201)),
            Err(CheckpointError::InvalidPluginName { .. })
        ));
    }

    #[test]
    fn a_full_chunk_stays_under_the_object_limit() {
        // base64 of a full chunk, with the metadata allowance, stays under the limit.
        assert_eq!(MAX_CHUNK_BYTES, 737_712);
        assert!(MAX_CHUNK_BYTES.div_ceil(3) * 4 + METADATA_ALLOWANCE <= MAX_OBJECT_BYTES);
        // The longest names fit a DNS-1123 subdomain.
        let head = format!("{}-{}", "p".repeat(MAX_PREFIX_LEN), "s".repeat(63));
        let chunk = ConfigMapStore::chunk_name(&head, u64::MAX, usize::MAX);
        assert!(chunk.len() <= 253, "{}", chunk.len());
    }
}
