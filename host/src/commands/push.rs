//! `event-controller push PLUGIN.wasm oci://HOST/REPO:TAG [--sign-key KEY]`: publishes a plugin
//! as a CNCF wasm OCI artifact, optionally with a cosign signature ([`crate::oci`]).

use crate::oci::{self, OciError, OciReference, Pushed, Registry, RegistrySettings};
use std::path::{Path, PathBuf};

/// Why a plugin could not be pushed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The plugin file could not be read.
    #[error("cannot read {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not WebAssembly.
    #[error("{path} is not a WebAssembly module or component (no \\0asm header)")]
    NotWasm {
        /// The file.
        path: PathBuf,
    },
    /// The target is not a registry reference.
    #[error(transparent)]
    Reference(#[from] oci::ReferenceError),
    /// The push (or signing) failed.
    #[error(transparent)]
    Registry(#[from] OciError),
}

/// Pushes `plugin` to `target` (`oci://HOST/REPO:TAG`), signed with the PEM private key
/// `sign_key` when given.
pub fn run(
    plugin: &Path,
    target: &str,
    sign_key: Option<&Path>,
    settings: &RegistrySettings,
) -> Result<Pushed, PushError> {
    let target: OciReference = target.parse()?;
    let wasm = std::fs::read(plugin).map_err(|cause| PushError::Read {
        path: plugin.to_owned(),
        cause,
    })?;
    if !wasm.starts_with(b"\0asm") {
        return Err(PushError::NotWasm {
            path: plugin.to_owned(),
        });
    }
    let key = sign_key
        .map(oci::signature::read_signing_key)
        .transpose()
        .map_err(OciError::from)?;
    let registry = Registry::new(settings)?;
    Ok(registry.push(&wasm, &target, key.as_ref())?)
}
