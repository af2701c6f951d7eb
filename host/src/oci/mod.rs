//! Plugins from OCI registries: `[plugins.NAME] source = "oci://HOST/REPO:TAG"` (or
//! `@sha256:HEX`), pulled with the ORAS project's `oci-client`, optionally required to carry a
//! cosign signature by a configured key, and kept in a local [`store`] so that the controller
//! starts with the last good version while the registry is down. `event-controller push`
//! publishes a plugin the same way ([`Registry::push`]).
//!
//! Artifacts are read in two layouts (a manifest with exactly one wasm layer):
//!
//! - the CNCF TAG Runtime wasm OCI artifact: config [`CONFIG_MEDIA_TYPE`], layer
//!   [`LAYER_MEDIA_TYPE`] (what `push` writes, as do `wkg oci push` and Spin's registry
//!   support);
//! - the older `wasm-to-oci` layout of Kubewarden policies: config
//!   [`WASM_TO_OCI_CONFIG_MEDIA_TYPE`], layer [`WASM_TO_OCI_LAYER_MEDIA_TYPE`].
//!
//! The layer's bytes are checked against its digest, the manifest's against a pinned digest,
//! and, when a key is configured, a cosign signature ([`signature`]) must name the manifest
//! digest. Registry credentials come from a docker config.json ([`auth`]).

pub mod auth;
pub mod signature;
pub mod store;

use crate::runtime::sha256_hex;
use auth::{AuthError, Credentials};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use p256::ecdsa::{SigningKey, VerifyingKey};
use signature::SignatureError;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use store::{RefRecord, SignedPayload, Store};

/// Config media type of the CNCF TAG Runtime wasm artifact.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Layer media type of the CNCF TAG Runtime wasm artifact.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Config media type of `wasm-to-oci` (Kubewarden policies).
pub const WASM_TO_OCI_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v1+json";
/// Layer media type of `wasm-to-oci` (Kubewarden policies).
pub const WASM_TO_OCI_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// The manifest types asked for.
const MANIFEST_TYPES: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// How long to wait for a registry's TCP and TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a registry may stay silent while answering.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The URL scheme of a plugin source.
const SCHEME: &str = "oci://";

/// A plugin's registry reference: `oci://HOST[:PORT]/REPO:TAG` (no tag: `latest`) or
/// `oci://HOST/REPO@sha256:HEX`.
#[derive(Clone, PartialEq, Eq)]
pub struct OciReference {
    text: String,
    reference: Reference,
}

/// Why a source is not an OCI reference.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a registry reference oci://HOST/REPO:TAG or oci://HOST/REPO@sha256:HEX: {reason}")]
pub struct ReferenceError {
    text: String,
    reason: String,
}

impl FromStr for OciReference {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<OciReference, ReferenceError> {
        let error = |reason: String| ReferenceError {
            text: text.to_owned(),
            reason,
        };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| error("it must start with oci://".into()))?;
        let host = rest.split('/').next().unwrap_or_default();
        let explicit_host =
            rest.contains('/') && (host.contains('.') || host.contains(':') || host == "localhost");
        if !explicit_host {
            return Err(error(
                "name the registry host (for Docker Hub: docker.io/...)".into(),
            ));
        }
        let reference = Reference::try_from(rest).map_err(|e| error(e.to_string()))?;
        Ok(OciReference {
            text: text.to_owned(),
            reference,
        })
    }
}

impl<'de> serde::Deserialize<'de> for OciReference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl OciReference {
    /// True for a digest reference (`@sha256:...`), whose content never changes.
    pub fn is_pinned(&self) -> bool {
        self.reference.digest().is_some()
    }

    /// `HOST[:PORT]`.
    pub fn registry(&self) -> &str {
        self.reference.resolve_registry()
    }

    /// `HOST[:PORT]/REPO`, the repository's name in signatures.
    pub fn repository(&self) -> String {
        format!(
            "{}/{}",
            self.reference.registry(),
            self.reference.repository()
        )
    }

    /// This repository at `digest`, as a reference.
    pub fn at_digest(&self, digest: &str) -> OciReference {
        let text = format!("{SCHEME}{}@{digest}", self.repository());
        let reference = Reference::with_digest(
            self.reference.registry().to_owned(),
            self.reference.repository().to_owned(),
            digest.to_owned(),
        );
        OciReference { text, reference }
    }

    fn with_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.reference.registry().to_owned(),
            self.reference.repository().to_owned(),
            tag.to_owned(),
        )
    }
}

/// How to reach registries: the `[registry]` section of the config file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistrySettings {
    /// A docker config.json with credentials (default: [`Credentials::default_file`]).
    pub auth_file: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust, for registries with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Registries (`HOST:PORT`) reached over plain HTTP.
    pub insecure: Vec<String>,
    /// Where pulled plugins are kept (default: `oci/` in the compiled-module cache, else the
    /// user's cache, `event-controller/oci`).
    pub cache_dir: Option<PathBuf>,
}

impl RegistrySettings {
    /// The store directory: the configured one, else `$XDG_CACHE_HOME/event-controller/oci`
    /// or `~/.cache/event-controller/oci`.
    pub fn store_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let base = env("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("event-controller/oci"))
    }
}

/// Why a plugin could not be fetched from (or pushed to) its registry.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The client could not be set up (a CA file, the async runtime).
    #[error("registry client: {0}")]
    Setup(String),
    /// The credentials file is unusable.
    #[error(transparent)]
    Credentials(#[from] AuthError),
    /// The registry could not be reached or refused the request.
    #[error("{reference}: {cause}")]
    Registry {
        /// The reference.
        reference: String,
        /// What went wrong, with its causes.
        cause: String,
    },
    /// The artifact is not a plugin (no single wasm layer).
    #[error("{reference}: not a wasm plugin artifact: {reason}")]
    NotAPlugin {
        /// The reference.
        reference: String,
        /// Why.
        reason: String,
    },
    /// Content does not match the digest it was asked by.
    #[error("{reference}: content does not match its digest (expected {expected}, got {actual})")]
    Digest {
        /// The reference.
        reference: String,
        /// The digest asked for.
        expected: String,
        /// The content's digest.
        actual: String,
    },
    /// A signature was required and none verified.
    #[error("{reference} ({digest}): signature required: {reason}")]
    Signature {
        /// The reference.
        reference: String,
        /// The manifest digest.
        digest: String,
        /// Why no signature counts.
        reason: String,
    },
    /// A key could not be read.
    #[error(transparent)]
    Key(#[from] SignatureError),
    /// The local store failed.
    #[error("plugin store {path}: {cause}")]
    Store {
        /// The store's directory.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// Nothing is stored for the reference (it was never pulled here).
    #[error("{reference}: no copy was ever pulled into the local store")]
    NotStored {
        /// The reference.
        reference: String,
    },
}

impl OciError {
    /// True when the registry answered with something that must not run (unsigned or wrongly
    /// signed, not matching its digest, not a plugin), as opposed to not answering.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            OciError::Signature { .. }
                | OciError::Digest { .. }
                | OciError::NotAPlugin { .. }
                | OciError::Key(_)
        )
    }
}

/// A plugin's bytes as pulled (or read back from the store), with what identifies them.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The manifest's digest, `sha256:HEX`.
    pub manifest_digest: String,
    /// The wasm layer's digest, `sha256:HEX`.
    pub layer_digest: String,
    /// The wasm bytes.
    pub bytes: Vec<u8>,
    /// True when a signature by the configured key was verified.
    pub signed: bool,
    /// True when read back from the local store (the registry could not be asked).
    pub from_store: bool,
}

/// What pushing a plugin produced.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The artifact's manifest digest.
    pub manifest_digest: String,
    /// The digest reference, `oci://HOST/REPO@sha256:HEX`.
    pub pinned: OciReference,
    /// The signature tag written, when signed.
    pub signature_tag: Option<String>,
}

/// A client of the registries, with credentials, trust and the local store.
pub struct Registry {
    client: Client,
    runtime: tokio::runtime::Runtime,
    credentials: Credentials,
    store: Option<Store>,
}

impl Registry {
    /// A client as `settings` say. A store directory that cannot be created leaves the client
    /// without one (logged): pulls work, a registry outage at start does not fall back.
    pub fn new(settings: &RegistrySettings) -> Result<Registry, OciError> {
        // reqwest takes the process's rustls provider: ring, as for the API server's client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let credentials = match settings
            .auth_file
            .clone()
            .or_else(Credentials::default_file)
        {
            Some(path) => Credentials::load(&path)?,
            None => Credentials::anonymous(),
        };
        let client = Client::new(client_config(settings)?);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OciError::Setup(format!("cannot start its runtime: {e}")))?;
        let store = settings.store_dir().and_then(|dir| match Store::open(&dir) {
            Ok(store) => Some(store),
            Err(error) => {
                tracing::warn!(dir = %dir.display(), "no local store of pulled plugins: {error}");
                None
            }
        });
        Ok(Registry {
            client,
            runtime,
            credentials,
            store,
        })
    }

    /// The manifest digest `source` resolves to now (one request; no content pulled).
    pub fn resolve(&self, source: &OciReference) -> Result<String, OciError> {
        let auth = self.credentials.for_registry(source.registry());
        let digest = self
            .runtime
            .block_on(self.client.fetch_manifest_digest(&source.reference, &auth))
            .map_err(|e| registry_error(source, &e))?;
        Ok(digest)
    }

    /// Pulls `source` (checking digests and, with `key`, its signature) and stores it.
    pub fn pull(
        &self,
        source: &OciReference,
        key: Option<&VerifyingKey>,
    ) -> Result<Artifact, OciError> {
        let auth = self.credentials.for_registry(source.registry());
        self.runtime.block_on(self.pull_async(source, key, &auth))
    }

    async fn pull_async(
        &self,
        source: &OciReference,
        key: Option<&VerifyingKey>,
        auth: &RegistryAuth,
    ) -> Result<Artifact, OciError> {
        let (manifest_bytes, _) = self
            .client
            .pull_manifest_raw(&source.reference, auth, MANIFEST_TYPES)
            .await
            .map_err(|e| registry_error(source, &e))?;
        let actual = format!("sha256:{}", sha256_hex(&manifest_bytes));
        if let Some(pinned) = source.reference.digest() {
            check_digest(source, pinned, &actual)?;
        }
        let layer = wasm_layer(source, &manifest_bytes)?;
        let signatures = match key {
            Some(key) => vec![self.verified_signature(source, &actual, key, auth).await?],
            None => Vec::new(),
        };
        let bytes = match self.stored_blob(&layer.digest) {
            Some(bytes) => bytes,
            None => self.pull_layer(source, &layer).await?,
        };
        let artifact = Artifact {
            manifest_digest: actual,
            layer_digest: layer.digest,
            bytes,
            signed: key.is_some(),
            from_store: false,
        };
        self.remember(source, &artifact, signatures)?;
        Ok(artifact)
    }

    async fn pull_layer(
        &self,
        source: &OciReference,
        layer: &OciDescriptor,
    ) -> Result<Vec<u8>, OciError> {
        let mut bytes = Vec::with_capacity(usize::try_from(layer.size).unwrap_or(0));
        self.client
            .pull_blob(&source.reference, layer, &mut bytes)
            .await
            .map_err(|e| registry_error(source, &e))?;
        check_digest(
            source,
            &layer.digest,
            &format!("sha256:{}", sha256_hex(&bytes)),
        )?;
        Ok(bytes)
    }

    /// The first signature of `digest` that verifies under `key`.
    async fn verified_signature(
        &self,
        source: &OciReference,
        digest: &str,
        key: &VerifyingKey,
        auth: &RegistryAuth,
    ) -> Result<SignedPayload, OciError> {
        let refuse = |reason: String| OciError::Signature {
            reference: source.to_string(),
            digest: digest.to_owned(),
            reason,
        };
        let tag = signature::signature_tag(digest);
        let signatures = source.with_tag(&tag);
        let (bytes, _) = self
            .client
            .pull_manifest_raw(&signatures, auth, MANIFEST_TYPES)
            .await
            .map_err(|e| refuse(format!("no signature found (tag {tag}: {})", chain(&e))))?;
        let manifest: OciImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| refuse(format!("tag {tag} is not a signature manifest: {e}")))?;
        let mut reasons = Vec::new();
        for layer in signature_layers(&manifest) {
            let Some(value) = annotation(layer, signature::SIGNATURE_ANNOTATION) else {
                continue;
            };
            let mut payload = Vec::new();
            if let Err(error) = self
                .client
                .pull_blob(&signatures, layer, &mut payload)
                .await
            {
                reasons.push(format!("payload {}: {}", layer.digest, chain(&error)));
                continue;
            }
            match signature::verify(key, &payload, value, digest) {
                Ok(()) => {
                    return Ok(SignedPayload {
                        payload: BASE64.encode(&payload),
                        signature: value.to_owned(),
                    })
                }
                Err(error) => reasons.push(error.to_string()),
            }
        }
        if reasons.is_empty() {
            reasons.push(format!("tag {tag} holds no cosign signature"));
        }
        Err(refuse(reasons.join("; ")))
    }

    /// The last version of `source` pulled here, checked again (digest, and the stored
    /// signature under `key`): what runs while the registry is down.
    pub fn stored(
        &self,
        source: &OciReference,
        key: Option<&VerifyingKey>,
    ) -> Result<Artifact, OciError> {
        let not_stored = || OciError::NotStored {
            reference: source.to_string(),
        };
        let store = self.store.as_ref().ok_or_else(not_stored)?;
        let record = store.record(&source.to_string()).ok_or_else(not_stored)?;
        let bytes = store.blob(&record.layer_digest).ok_or_else(not_stored)?;
        if let Some(key) = key {
            let verified = record.signatures.iter().any(|signed| {
                let payload = BASE64.decode(&signed.payload).unwrap_or_default();
                signature::verify(key, &payload, &signed.signature, &record.manifest_digest).is_ok()
            });
            if !verified {
                return Err(OciError::Signature {
                    reference: source.to_string(),
                    digest: record.manifest_digest,
                    reason: "the stored copy carries no signature by the configured key".into(),
                });
            }
        }
        Ok(Artifact {
            manifest_digest: record.manifest_digest,
            layer_digest: record.layer_digest,
            bytes,
            signed: key.is_some(),
            from_store: true,
        })
    }

    fn stored_blob(&self, digest: &str) -> Option<Vec<u8>> {
        self.store.as_ref()?.blob(digest)
    }

    fn remember(
        &self,
        source: &OciReference,
        artifact: &Artifact,
        signatures: Vec<SignedPayload>,
    ) -> Result<(), OciError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let store_error = |cause| OciError::Store {
            path: store.dir().to_owned(),
            cause,
        };
        store
            .put_blob(&artifact.layer_digest, &artifact.bytes)
            .map_err(store_error)?;
        let record = RefRecord {
            reference: source.to_string(),
            manifest_digest: artifact.manifest_digest.clone(),
            layer_digest: artifact.layer_digest.clone(),
            signatures,
        };
        store.put_record(&record).map_err(store_error)
    }

    /// Publishes `wasm` at `target` in the CNCF wasm artifact layout and, with `sign_key`,
    /// a cosign signature of it beside (added to the signatures already there).
    pub fn push(
        &self,
        wasm: &[u8],
        target: &OciReference,
        sign_key: Option<&SigningKey>,
    ) -> Result<Pushed, OciError> {
        let auth = self.credentials.for_registry(target.registry());
        self.runtime
            .block_on(self.push_async(wasm, target, sign_key, &auth))
    }

    async fn push_async(
        &self,
        wasm: &[u8],
        target: &OciReference,
        sign_key: Option<&SigningKey>,
        auth: &RegistryAuth,
    ) -> Result<Pushed, OciError> {
        let error = |e: oci_client::errors::OciDistributionError| registry_error(target, &e);
        self.client
            .store_auth_if_needed(target.registry(), auth)
            .await;
        let layer = descriptor(LAYER_MEDIA_TYPE, wasm);
        let config = artifact_config(wasm, &layer.digest);
        let config_descriptor = descriptor(CONFIG_MEDIA_TYPE, &config);
        let manifest = OciImageManifest {
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
            config: config_descriptor.clone(),
            layers: vec![layer.clone()],
            ..OciImageManifest::default()
        };
        self.push_blob(target, wasm, &layer).await.map_err(error)?;
        self.push_blob(target, &config, &config_descriptor)
            .await
            .map_err(error)?;
        let manifest_digest = self
            .push_manifest(&target.reference, &manifest)
            .await
            .map_err(error)?;
        let pinned = target.at_digest(&manifest_digest);
        let signature_tag = match sign_key {
            Some(key) => Some(
                self.push_signature(target, &manifest_digest, key, auth)
                    .await?,
            ),
            None => None,
        };
        Ok(Pushed {
            manifest_digest,
            pinned,
            signature_tag,
        })
    }

    async fn push_blob(
        &self,
        target: &OciReference,
        bytes: &[u8],
        descriptor: &OciDescriptor,
    ) -> Result<(), oci_client::errors::OciDistributionError> {
        if !self
            .client
            .blob_exists(&target.reference, &descriptor.digest)
            .await?
        {
            self.client
                .push_blob(&target.reference, bytes.to_vec(), &descriptor.digest)
                .await?;
        }
        Ok(())
    }

    /// Pushes `manifest` under `reference`'s tag; its digest.
    async fn push_manifest(
        &self,
        reference: &Reference,
        manifest: &OciImageManifest,
    ) -> Result<String, oci_client::errors::OciDistributionError> {
        let bytes = serde_json::to_vec(manifest)?;
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        let content_type = http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE);
        self.client
            .push_manifest_raw(reference, bytes, content_type)
            .await?;
        Ok(digest)
    }

    /// Adds a signature of `digest` to the repository's cosign signature tag; the tag.
    async fn push_signature(
        &self,
        target: &OciReference,
        digest: &str,
        key: &SigningKey,
        auth: &RegistryAuth,
    ) -> Result<String, OciError> {
        let error = |e: oci_client::errors::OciDistributionError| registry_error(target, &e);
        let tag = signature::signature_tag(digest);
        let signatures = target.with_tag(&tag);
        let payload = signature::payload(&target.repository(), digest);
        let mut layer = descriptor(signature::SIMPLE_SIGNING_MEDIA_TYPE, &payload);
        let value = signature::sign(key, &payload);
        layer.annotations = Some(BTreeMap::from([(
            signature::SIGNATURE_ANNOTATION.to_owned(),
            value,
        )]));
        // Signatures already there (other keys) are kept, as cosign keeps them.
        let mut layers: Vec<OciDescriptor> = match self
            .client
            .pull_manifest_raw(&signatures, auth, MANIFEST_TYPES)
            .await
        {
            Ok((bytes, _)) => serde_json::from_slice::<OciImageManifest>(&bytes)
                .map(|m| m.layers)
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        layers.retain(|known| known.digest != layer.digest);
        layers.push(layer.clone());
        let config = signature_config(&layers);
        let config_descriptor = descriptor(oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE, &config);
        self.push_blob(target, &payload, &layer)
            .await
            .map_err(error)?;
        self.push_blob(target, &config, &config_descriptor)
            .await
            .map_err(error)?;
        let manifest = OciImageManifest {
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
            config: config_descriptor,
            layers,
            ..OciImageManifest::default()
        };
        self.push_manifest(&signatures, &manifest)
            .await
            .map_err(error)?;
        Ok(tag)
    }
}

/// The client's protocol, trust and timeouts.
fn client_config(settings: &RegistrySettings) -> Result<ClientConfig, OciError> {
    let mut config = ClientConfig {
        protocol: if settings.insecure.is_empty() {
            ClientProtocol::Https
        } else {
            ClientProtocol::HttpsExcept(settings.insecure.clone())
        },
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        user_agent: concat!("event-controller/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    };
    if let Some(path) = &settings.ca_file {
        let data = std::fs::read(path)
            .map_err(|e| OciError::Setup(format!("cannot read CA file {}: {e}", path.display())))?;
        config.extra_root_certificates.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data,
        });
    }
    Ok(config)
}

/// The one wasm layer of a manifest.
fn wasm_layer(source: &OciReference, manifest: &[u8]) -> Result<OciDescriptor, OciError> {
    let not_a_plugin = |reason: String| OciError::NotAPlugin {
        reference: source.to_string(),
        reason,
    };
    let manifest: OciImageManifest = serde_json::from_slice(manifest)
        .map_err(|e| not_a_plugin(format!("manifest does not parse: {e}")))?;
    let mut wasm = manifest.layers.iter().filter(|layer| {
        layer.media_type == LAYER_MEDIA_TYPE || layer.media_type == WASM_TO_OCI_LAYER_MEDIA_TYPE
    });
    match (wasm.next(), wasm.next()) {
        (Some(layer), None) => Ok(layer.clone()),
        (Some(_), Some(_)) => Err(not_a_plugin("more than one wasm layer".into())),
        (None, _) => {
            let types: Vec<&str> = manifest
                .layers
                .iter()
                .map(|l| l.media_type.as_str())
                .collect();
            Err(not_a_plugin(format!(
                "no layer of type {LAYER_MEDIA_TYPE} or {WASM_TO_OCI_LAYER_MEDIA_TYPE} \
                 (config {}, layers {types:?})",
                manifest.config.media_type
            )))
        }
    }
}

fn signature_layers(manifest: &OciImageManifest) -> impl Iterator<Item = &OciDescriptor> {
    manifest
        .layers
        .iter()
        .filter(|layer| layer.media_type == signature::SIMPLE_SIGNING_MEDIA_TYPE)
}

fn annotation<'a>(layer: &'a OciDescriptor, key: &str) -> Option<&'a str> {
    layer.annotations.as_ref()?.get(key).map(String::as_str)
}

fn check_digest(source: &OciReference, expected: &str, actual: &str) -> Result<(), OciError> {
    if expected == actual {
        return Ok(());
    }
    Err(OciError::Digest {
        reference: source.to_string(),
        expected: expected.to_owned(),
        actual: actual.to_owned(),
    })
}

/// A descriptor of `bytes` with `media_type`.
fn descriptor(media_type: &str, bytes: &[u8]) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_owned(),
        digest: format!("sha256:{}", sha256_hex(bytes)),
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        ..OciDescriptor::default()
    }
}

/// The CNCF wasm artifact config: `os` is `wasip2` for a component, `wasip1` for a module.
fn artifact_config(wasm: &[u8], layer_digest: &str) -> Vec<u8> {
    let component = wasm.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00]);
    serde_json::json!({
        "architecture": "wasm",
        "os": if component { "wasip2" } else { "wasip1" },
        "layerDigests": [layer_digest],
    })
    .to_string()
    .into_bytes()
}

/// The image config cosign writes for a signature manifest.
fn signature_config(layers: &[OciDescriptor]) -> Vec<u8> {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    serde_json::json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string()
    .into_bytes()
}

fn registry_error(
    source: &OciReference,
    error: &oci_client::errors::OciDistributionError,
) -> OciError {
    OciError::Registry {
        reference: source.to_string(),
        cause: chain(error),
    }
}

/// An error and its causes, `a: b: c`, without repeats.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// Reads the public key a plugin's signature must verify under (a section's `verify_key`),
/// each time it is needed so that a rotated key applies; `None` when no key is named.
pub fn verifying_key(path: Option<&Path>) -> Result<Option<VerifyingKey>, OciError> {
    path.map(signature::read_verifying_key)
        .transpose()
        .map_err(OciError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_need_the_scheme_a_host_and_a_tag_or_digest() {
        let tagged: OciReference = "oci://127.0.0.1:5000/plugins/simple:v1"
            .parse()
            .expect("parses");
        assert_eq!(tagged.registry(), "127.0.0.1:5000");
        assert_eq!(tagged.repository(), "127.0.0.1:5000/plugins/simple");
        assert!(!tagged.is_pinned());
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = tagged.at_digest(&digest);
        assert!(pinned.is_pinned());
        assert_eq!(
            pinned.to_string(),
            format!("oci://127.0.0.1:5000/plugins/simple@{digest}")
        );
        let latest: OciReference = "oci://r.example/p".parse().expect("no tag: latest");
        assert!(!latest.is_pinned());
        let reparsed: OciReference = pinned.to_string().parse().expect("parses");
        assert_eq!(reparsed, pinned);
        for bad in [
            "127.0.0.1:5000/plugins/simple:v1",
            "oci://plugins/simple:v1",
            "oci://registry.example/Plugins/UPPER:v1",
        ] {
            let error = bad.parse::<OciReference>().expect_err(bad).to_string();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn only_a_manifest_with_one_wasm_layer_is_a_plugin() {
        let source: OciReference = "oci://r.example/p:1".parse().expect("parses");
        let manifest = |layers: &[&str]| {
            let layers: Vec<OciDescriptor> = layers
                .iter()
                .map(|media_type| descriptor(media_type, media_type.as_bytes()))
                .collect();
            let manifest = OciImageManifest {
                config: descriptor(CONFIG_MEDIA_TYPE, b"{}"),
                layers,
                ..OciImageManifest::default()
            };
            serde_json::to_vec(&manifest).expect("serializes")
        };
        let cncf = wasm_layer(&source, &manifest(&[LAYER_MEDIA_TYPE])).expect("CNCF layout");
        assert_eq!(cncf.media_type, LAYER_MEDIA_TYPE);
        let older = wasm_layer(&source, &manifest(&[WASM_TO_OCI_LAYER_MEDIA_TYPE]));
        assert!(older.is_ok(), "wasm-to-oci layout");
        let image = wasm_layer(
            &source,
            &manifest(&["application/vnd.oci.image.layer.v1.tar"]),
        )
        .expect_err("an image")
        .to_string();
        assert!(image.contains("not a wasm plugin artifact"), "{image}");
        let two = manifest(&[LAYER_MEDIA_TYPE, LAYER_MEDIA_TYPE]);
        assert!(wasm_layer(&source, &two).is_err());
    }

    #[test]
    fn the_artifact_config_says_module_or_component() {
        let module = artifact_config(b"\0asm\x01\0\0\0", "sha256:x");
        let component = artifact_config(b"\0asm\x0d\0\x01\0", "sha256:x");
        let os = |bytes: &[u8]| {
            serde_json::from_slice::<serde_json::Value>(bytes).expect("JSON")["os"].clone()
        };
        assert_eq!(os(&module), "wasip1");
        assert_eq!(os(&component), "wasip2");
    }
}
