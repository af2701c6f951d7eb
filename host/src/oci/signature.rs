//! Cosign-compatible signatures of plugin artifacts, with an ECDSA P-256 key pair (what
//! `cosign generate-key-pair` makes, and what `cosign import-key-pair` takes from OpenSSL).
//!
//! Cosign keeps the signatures of the artifact whose manifest digest is `sha256:HEX` in the same
//! repository, under the tag `sha256-HEX.sig`: an image manifest whose layers are "simple
//! signing" payloads (media type [`SIMPLE_SIGNING_MEDIA_TYPE`]), each layer's annotation
//! [`SIGNATURE_ANNOTATION`] holding the base64 of an ASN.1 DER ECDSA signature over the
//! payload's bytes (SHA-256). The payload names the digest it vouches for:
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"HOST/REPO"},
//!   "image":{"docker-manifest-digest":"sha256:HEX"},
//!   "type":"cosign container image signature"},"optional":null}
//! ```
//!
//! A signature counts when it verifies under the configured public key *and* its payload names
//! the manifest digest being loaded, so a signature cannot be moved to another artifact.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Media type of a signature layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the signature (base64 of DER).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The payload's `critical.type`.
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// Why a key could not be read or a signature does not count.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The key file could not be read.
    #[error("cannot read key {path}: {cause}")]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The key file is not an ECDSA P-256 key in PEM.
    #[error("key {path} is not an ECDSA P-256 {kind} key in PEM ({cause})")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// `public` or `private`.
        kind: &'static str,
        /// What the parser said.
        cause: String,
    },
    /// The signature is not base64 of a DER ECDSA signature.
    #[error("the signature is not base64 of an ECDSA signature")]
    Malformed,
    /// The signature does not verify under the key.
    #[error("the signature does not verify with the configured key")]
    WrongKey,
    /// The payload is not a cosign simple-signing payload.
    #[error("the signed payload is not a cosign signature payload: {0}")]
    BadPayload(String),
    /// The payload vouches for another artifact.
    #[error("the signature is for {signed}, not {loaded}")]
    OtherDigest {
        /// The digest the payload names.
        signed: String,
        /// The digest being loaded.
        loaded: String,
    },
}

/// The tag under which cosign keeps the signatures of `manifest_digest` (`sha256:HEX`):
/// `sha256-HEX.sig`.
pub fn signature_tag(manifest_digest: &str) -> String {
    format!("{}.sig", manifest_digest.replacen(':', "-", 1))
}

/// The simple-signing payload vouching that `repository` (`HOST/REPO`) at `manifest_digest`
/// is signed, in the layout cosign writes.
pub fn payload(repository: &str, manifest_digest: &str) -> Vec<u8> {
    serde_json::json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    })
    .to_string()
    .into_bytes()
}

/// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`, as in `cosign.pub`).
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, SignatureError> {
    let text = read_key_file(path)?;
    VerifyingKey::from_public_key_pem(&text).map_err(|cause| SignatureError::BadKey {
        path: path.to_owned(),
        kind: "public",
        cause: cause.to_string(),
    })
}

/// Reads a PEM private key: PKCS#8 (`-----BEGIN PRIVATE KEY-----`) or SEC1
/// (`-----BEGIN EC PRIVATE KEY-----`), unencrypted.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, SignatureError> {
    let text = read_key_file(path)?;
    let parsed = SigningKey::from_pkcs8_pem(&text)
        .map_err(|e| e.to_string())
        .or_else(|pkcs8| {
            p256::SecretKey::from_sec1_pem(&text)
                .map(SigningKey::from)
                .map_err(|sec1| format!("PKCS#8: {pkcs8}; SEC1: {sec1}"))
        });
    parsed.map_err(|cause| SignatureError::BadKey {
        path: path.to_owned(),
        kind: "private",
        cause,
    })
}

fn read_key_file(path: &Path) -> Result<String, SignatureError> {
    std::fs::read_to_string(path).map_err(|cause| SignatureError::ReadKey {
        path: path.to_owned(),
        cause,
    })
}

/// Signs `payload`: the base64 of the DER signature, as the annotation holds it.
pub fn sign(key: &SigningKey, payload: &[u8]) -> String {
    let signature: Signature = key.sign(payload);
    BASE64.encode(signature.to_der().as_bytes())
}

/// Checks that `signature` (base64 of DER) over `payload` verifies under `key`, and that the
/// payload vouches for `manifest_digest`.
pub fn verify(
    key: &VerifyingKey,
    payload: &[u8],
    signature: &str,
    manifest_digest: &str,
) -> Result<(), SignatureError> {
    let der = BASE64
        .decode(signature.trim())
        .map_err(|_| SignatureError::Malformed)?;
    let signature = Signature::from_der(&der).map_err(|_| SignatureError::Malformed)?;
    key.verify(payload, &signature)
        .map_err(|_| SignatureError::WrongKey)?;
    let signed = signed_digest(payload)?;
    if signed != manifest_digest {
        return Err(SignatureError::OtherDigest {
            signed,
            loaded: manifest_digest.to_owned(),
        });
    }
    Ok(())
}

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// The manifest digest a payload vouches for.
fn signed_digest(payload: &[u8]) -> Result<String, SignatureError> {
    let parsed: Payload =
        serde_json::from_slice(payload).map_err(|e| SignatureError::BadPayload(e.to_string()))?;
    if parsed.critical.kind != PAYLOAD_TYPE {
        return Err(SignatureError::BadPayload(format!(
            "type {:?}",
            parsed.critical.kind
        )));
    }
    Ok(parsed.critical.image.digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let private = dir.join(format!("{name}.key"));
        let public = dir.join(format!("{name}.pub"));
        let pem = key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM");
        std::fs::write(&private, pem.as_bytes()).expect("write private key");
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public PEM");
        std::fs::write(&public, pem).expect("write public key");
        (private, public)
    }

    #[test]
    fn a_signature_verifies_only_with_its_key_and_for_its_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (private, public) = key_pair(dir.path(), "right");
        let (_, other_public) = key_pair(dir.path(), "other");
        let signing = read_signing_key(&private).expect("private key");
        let payload = payload("registry.example/plugins/simple", DIGEST);
        let signature = sign(&signing, &payload);

        let key = read_verifying_key(&public).expect("public key");
        verify(&key, &payload, &signature, DIGEST).expect("verifies");

        let other = read_verifying_key(&other_public).expect("other public key");
        assert!(matches!(
            verify(&other, &payload, &signature, DIGEST),
            Err(SignatureError::WrongKey)
        ));
        let elsewhere = DIGEST.replace("0123", "4567");
        assert!(matches!(
            verify(&key, &payload, &signature, &elsewhere),
            Err(SignatureError::OtherDigest { .. })
        ));
        assert!(matches!(
            verify(&key, &payload, "not base64!", DIGEST),
            Err(SignatureError::Malformed)
        ));
    }

    #[test]
    fn the_payload_and_tag_follow_cosign() {
        let text = String::from_utf8(payload("r.example/a/b", DIGEST)).expect("UTF-8");
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value["critical"]["image"]["docker-manifest-digest"], DIGEST);
        assert_eq!(
            value["critical"]["identity"]["docker-reference"],
            "r.example/a/b"
        );
        assert_eq!(value["critical"]["type"], PAYLOAD_TYPE);
        assert_eq!(
            signature_tag(DIGEST),
            format!("sha256-{}.sig", &DIGEST["sha256:".len()..])
        );
    }

    #[test]
    fn a_key_that_is_not_pem_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cosign.pub");
        std::fs::write(&path, "not a key").expect("write");
        let error = read_verifying_key(&path)
            .expect_err("not a key")
            .to_string();
        assert!(
            error.contains("cosign.pub") && error.contains("public"),
            "{error}"
        );
    }
}
