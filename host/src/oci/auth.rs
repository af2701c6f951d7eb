//! Registry credentials from a docker `config.json`: the file `docker login` writes, and the
//! `.dockerconfigjson` key of the `kubernetes.io/dockerconfigjson` Secrets that Kubernetes pull
//! secrets are (the older `.dockercfg` form, without the `auths` wrapper, is read too).
//!
//! For a registry `HOST[:PORT]`, the entry keyed `HOST[:PORT]`, `https://HOST[:PORT]` or
//! `http://HOST[:PORT]` (with or without a path such as `/v1/`) gives either `auth` (base64 of
//! `user:password`), `username` and `password`, or `registrytoken` (a bearer token). Credential
//! helpers (`credsStore`, `credHelpers`) are not run. Passwords and tokens are never logged:
//! [`RegistryAuth`]'s `Debug` shows the user name only.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a credentials file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// It could not be read.
    #[error("cannot read registry credentials {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// It is not a docker config.json.
    #[error("registry credentials {path} are not a docker config.json: {cause}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        cause: serde_json::Error,
    },
    /// An `auth` value is not base64 of `user:password`.
    #[error("registry credentials {path}: the entry for {registry} has an `auth` that is not base64 of user:password")]
    BadAuth {
        /// The file.
        path: PathBuf,
        /// The entry's key.
        registry: String,
    },
}

/// One registry's entry.
#[derive(Debug, Default, Clone, Deserialize)]
struct Entry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    registrytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ConfigFile {
    Docker { auths: BTreeMap<String, Entry> },
    Legacy(BTreeMap<String, Entry>),
}

/// The credentials of every registry a config.json names; anonymous for the others.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    by_registry: BTreeMap<String, RegistryAuth>,
}

impl Credentials {
    /// No credentials: every registry anonymously.
    pub fn anonymous() -> Credentials {
        Credentials::default()
    }

    /// Reads a docker config.json.
    pub fn load(path: &Path) -> Result<Credentials, AuthError> {
        let text = std::fs::read(path).map_err(|cause| AuthError::Read {
            path: path.to_owned(),
            cause,
        })?;
        let parsed: ConfigFile =
            serde_json::from_slice(&text).map_err(|cause| AuthError::Parse {
                path: path.to_owned(),
                cause,
            })?;
        let entries = match parsed {
            ConfigFile::Docker { auths } => auths,
            ConfigFile::Legacy(entries) => entries,
        };
        let mut by_registry = BTreeMap::new();
        for (key, entry) in entries {
            let auth = entry_auth(&entry).ok_or_else(|| AuthError::BadAuth {
                path: path.to_owned(),
                registry: key.clone(),
            })?;
            by_registry.insert(registry_of_key(&key), auth);
        }
        Ok(Credentials { by_registry })
    }

    /// The file to read when none is configured: `$REGISTRY_AUTH_FILE`, else
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, whichever exists first.
    pub fn default_file() -> Option<PathBuf> {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let candidates = [
            env("REGISTRY_AUTH_FILE").map(PathBuf::from),
            env("DOCKER_CONFIG").map(|dir| PathBuf::from(dir).join("config.json")),
            env("HOME").map(|home| PathBuf::from(home).join(".docker/config.json")),
        ];
        candidates.into_iter().flatten().find(|path| path.is_file())
    }

    /// How to authenticate to `registry` (`HOST[:PORT]`).
    pub fn for_registry(&self, registry: &str) -> RegistryAuth {
        let aliases: &[&str] = match registry {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
                &["docker.io", "index.docker.io", "registry-1.docker.io"]
            }
            _ => &[],
        };
        std::iter::once(registry)
            .chain(aliases.iter().copied())
            .find_map(|name| self.by_registry.get(name))
            .cloned()
            .unwrap_or(RegistryAuth::Anonymous)
    }
}

/// `HOST[:PORT]` of a config.json key: `https://index.docker.io/v1/` is `index.docker.io`.
fn registry_of_key(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_owned()
}

/// An entry's credentials, or `None` when its `auth` is not base64 of `user:password`.
fn entry_auth(entry: &Entry) -> Option<RegistryAuth> {
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = BASE64.decode(auth.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        return Some(RegistryAuth::Basic(user.to_owned(), password.to_owned()));
    }
    if let (Some(user), Some(password)) = (&entry.username, &entry.password) {
        return Some(RegistryAuth::Basic(user.clone(), password.clone()));
    }
    if let Some(token) = &entry.registrytoken {
        return Some(RegistryAuth::Bearer(token.clone()));
    }
    Some(RegistryAuth::Anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn a_pull_secret_gives_basic_auth_per_registry() {
        let auth = BASE64.encode("robot:s3cret");
        let (_dir, path) = write(&format!(
            r#"{{"auths":{{"https://registry.example:5000/v1/":{{"auth":"{auth}"}},
                "other.example":{{"username":"u","password":"p"}},
                "tokens.example":{{"registrytoken":"t"}}}}}}"#
        ));
        let credentials = Credentials::load(&path).expect("loads");
        assert_eq!(
            credentials.for_registry("registry.example:5000"),
            RegistryAuth::Basic("robot".into(), "s3cret".into())
        );
        assert_eq!(
            credentials.for_registry("other.example"),
            RegistryAuth::Basic("u".into(), "p".into())
        );
        assert_eq!(
            credentials.for_registry("tokens.example"),
            RegistryAuth::Bearer("t".into())
        );
        assert_eq!(
            credentials.for_registry("unknown.example"),
            RegistryAuth::Anonymous
        );
        let debug = format!("{:?}", credentials.for_registry("registry.example:5000"));
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn the_legacy_dockercfg_form_is_read() {
        let auth = BASE64.encode("a:b");
        let (_dir, path) = write(&format!(r#"{{"docker.io":{{"auth":"{auth}"}}}}"#));
        let credentials = Credentials::load(&path).expect("loads");
        assert_eq!(
            credentials.for_registry("index.docker.io"),
            RegistryAuth::Basic("a".into(), "b".into())
        );
    }

    #[test]
    fn a_bad_file_is_named_without_its_secrets() {
        let (_dir, path) = write(r#"{"auths":{"r.example":{"auth":"bm9jb2xvbg=="}}}"#);
        let error = Credentials::load(&path).expect_err("no colon").to_string();
        assert!(
            error.contains("config.json") && error.contains("r.example"),
            "{error}"
        );
        let (_dir, path) = write("[1, 2]");
        let error = Credentials::load(&path)
            .expect_err("not an object")
            .to_string();
        assert!(error.contains("not a docker config.json"), "{error}");
    }
}
