//! The connection to the API server, shared by everything that talks to it (the watches, the
//! election, ConfigMap checkpoints, plugins' Kubernetes requests):
//!
//! - [`connect`] builds a client: an explicit endpoint (the seed's `K8S_API_ENDPOINT`,
//!   `K8S_TOKEN`, `K8S_CA`) or, without one, what kube-rs infers (`KUBECONFIG`,
//!   `~/.kube/config`, then the in-cluster service account). Token and CA files are re-read
//!   when they rotate; TLS is always verified.
//! - [`resource`] resolves kubectl-style names through API discovery.
//! - [`error_chain`] and [`status_message`] turn the client's errors and the server's `Status`
//!   bodies into one line for the log.

pub mod resource;

use secrecy::SecretString;
use std::path::PathBuf;

/// Which API server, and how to authenticate to it.
#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    /// `host:port` or a URL; `None` to infer from kubeconfig or the service account.
    pub api_endpoint: Option<String>,
    /// A bearer token.
    pub token: Option<String>,
    /// A file holding the bearer token, re-read when it changes.
    pub token_file: Option<PathBuf>,
    /// The CA bundle (PEM) to verify the server with.
    pub ca_file: Option<PathBuf>,
}

/// The client could not be configured (not: the server is unreachable, which is retried).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint is not a URL or `host:port`.
    #[error("invalid API endpoint {endpoint:?}: {message}")]
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it is invalid.
        message: String,
    },
    /// Neither an endpoint nor a kubeconfig nor a service account was found.
    #[error("no Kubernetes connection configured (set K8S_API_ENDPOINT, KUBECONFIG or run in a pod): {0}")]
    Infer(String),
    /// kube-rs rejected the configuration (e.g. an unreadable CA file).
    #[error("cannot build the Kubernetes client: {0}")]
    Client(String),
}

/// `host:port` → `https://host:port`; URLs are kept.
fn endpoint_uri(endpoint: &str) -> Result<http::Uri, ConnectError> {
    let url = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    };
    url.parse()
        .map_err(|e: http::uri::InvalidUri| ConnectError::Endpoint {
            endpoint: endpoint.to_owned(),
            message: e.to_string(),
        })
}

/// A client and the server it talks to (for log lines).
#[derive(Clone)]
pub struct Connection {
    /// The client.
    pub client: kube::Client,
    /// The API server's URL.
    pub url: String,
}

/// Builds the client from the settings (see the module docs for the order of sources).
pub async fn connect(settings: &ClusterSettings) -> Result<Connection, ConnectError> {
    let mut config = match &settings.api_endpoint {
        Some(endpoint) => kube::Config::new(endpoint_uri(endpoint)?),
        None => kube::Config::infer()
            .await
            .map_err(|e| ConnectError::Infer(e.to_string()))?,
    };
    if let Some(ca_file) = &settings.ca_file {
        config.root_cert_file = Some(ca_file.clone());
    }
    if let Some(token) = &settings.token {
        config.auth_info.token = Some(SecretString::from(token.clone()));
    }
    if let Some(token_file) = &settings.token_file {
        config.auth_info.token_file = Some(token_file.display().to_string());
    }
    let url = config.cluster_url.to_string();
    let client =
        kube::Client::try_from(config).map_err(|e| ConnectError::Client(format!("{e:#}")))?;
    tracing::info!(server = %url, "connecting to the Kubernetes API");
    Ok(Connection { client, url })
}

/// `error` and all its causes, `: `-separated, each said once: kube's own `Display` stops at
/// "client error (Connect)", and the reason (a refused certificate, a refused connection) is
/// further down the chain.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let message = error.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = error.source();
    }
    text
}

/// The `message` of a `Status` body, or the body itself.
pub fn status_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Status {
        message: Option<String>,
    }
    match serde_json::from_slice::<Status>(body) {
        Ok(Status {
            message: Some(message),
        }) => message,
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_name_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Outer(#[source] std::io::Error);
        let io = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        assert_eq!(
            error_chain(&Outer(io)),
            "client error (Connect): invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn endpoints_may_omit_the_scheme() {
        assert_eq!(
            endpoint_uri("master.example.com:8443")
                .expect("valid")
                .to_string(),
            "https://master.example.com:8443/"
        );
        assert_eq!(
            endpoint_uri("http://127.0.0.1:8080")
                .expect("valid")
                .to_string(),
            "http://127.0.0.1:8080/"
        );
        assert!(endpoint_uri("not a url").is_err());
    }
}
