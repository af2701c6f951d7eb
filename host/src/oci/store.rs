//! The local copy of pulled plugins: what lets the controller start with the last good version
//! of each reference while its registry is down.
//!
//! ```text
//! DIR/blobs/sha256/HEX       the plugin's bytes (a wasm layer), named by their digest
//! DIR/refs/HEX.json          per reference (HEX: sha256 of its text): the manifest digest it
//!                            last resolved to, the layer's digest, and the signatures that
//!                            were verified then
//! ```
//!
//! Every file is written to a temporary name and renamed, so a crash leaves the old one or the
//! new one. A blob is checked against its digest whenever it is read.

use crate::runtime::sha256_hex;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A signature as the registry held it: the payload and the base64 of the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPayload {
    /// The simple-signing payload's bytes, base64.
    pub payload: String,
    /// The signature annotation's value (base64 of DER).
    pub signature: String,
}

/// What a reference last resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefRecord {
    /// The reference, `oci://HOST/REPO:TAG` or `...@sha256:HEX`.
    pub reference: String,
    /// The manifest's digest, `sha256:HEX`.
    pub manifest_digest: String,
    /// The wasm layer's digest, `sha256:HEX`.
    pub layer_digest: String,
    /// The signatures found for the manifest digest (empty when none was required).
    #[serde(default)]
    pub signatures: Vec<SignedPayload>,
}

/// The directory of pulled plugins.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating) the store in `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Store> {
        std::fs::create_dir_all(dir.join("blobs/sha256"))?;
        std::fs::create_dir_all(dir.join("refs"))?;
        Ok(Store {
            dir: dir.to_owned(),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bytes of blob `digest` (`sha256:HEX`), if stored and intact.
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let bytes = std::fs::read(&path).ok()?;
        if format!("sha256:{}", sha256_hex(&bytes)) == digest {
            Some(bytes)
        } else {
            tracing::warn!(path = %path.display(), "stored plugin does not match its digest; ignored");
            None
        }
    }

    /// Stores `bytes` as blob `digest`.
    pub fn put_blob(&self, digest: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.blob_path(digest).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("not a sha256 digest: {digest}"),
            )
        })?;
        write_atomically(&path, bytes)
    }

    /// What `reference` last resolved to, if recorded.
    pub fn record(&self, reference: &str) -> Option<RefRecord> {
        let text = std::fs::read(self.record_path(reference)).ok()?;
        serde_json::from_slice(&text)
            .ok()
            .filter(|record: &RefRecord| record.reference == reference)
    }

    /// Records what a reference resolved to.
    pub fn put_record(&self, record: &RefRecord) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        write_atomically(&self.record_path(&record.reference), &text)
    }

    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| self.dir.join("blobs/sha256").join(hex))
    }

    fn record_path(&self, reference: &str) -> PathBuf {
        let name = format!("{}.json", sha256_hex(reference.as_bytes()));
        self.dir.join("refs").join(name)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_and_records_round_trip_and_a_damaged_blob_is_not_served() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("opens");
        let bytes = b"\0asm\x01\0\0\0".to_vec();
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        store.put_blob(&digest, &bytes).expect("stores");
        assert_eq!(store.blob(&digest), Some(bytes.clone()));

        let record = RefRecord {
            reference: "oci://r.example/p:1".into(),
            manifest_digest: "sha256:aa".into(),
            layer_digest: digest.clone(),
            signatures: vec![],
        };
        store.put_record(&record).expect("records");
        assert_eq!(store.record("oci://r.example/p:1"), Some(record));
        assert_eq!(store.record("oci://r.example/p:2"), None);

        let path = dir
            .path()
            .join("blobs/sha256")
            .join(&digest["sha256:".len()..]);
        std::fs::write(path, b"damaged").expect("damage");
        assert_eq!(store.blob(&digest), None);
        assert!(store.put_blob("md5:abc", &bytes).is_err());
    }
}
