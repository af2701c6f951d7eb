//! Capabilities: what a plugin may do beyond logging, granted per plugin in the config file and
//! denied otherwise (docs/ABI.md §6): outbound HTTP (here) and Kubernetes reads and writes
//! ([`KubeAccess`]).
//!
//! Outbound HTTP reaches only the URL prefixes listed for the plugin, with a timeout (never
//! past the call's deadline), a response size cap and no redirects (a redirect could leave the
//! allowed prefixes). Secret headers (API keys, tokens) are read by the host from env vars or
//! files at each request and added to it; the plugin never sees them, and a header of the same
//! name set by the plugin is replaced.

mod kube;
mod watched_reads;

pub use kube::{KubeAccess, KubeAnswer, KubeRequest, KubernetesSection, Protected, Verb};

use crate::metrics::CapabilityOutcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// Default time one request may take.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on a response body.
pub const DEFAULT_MAX_RESPONSE: usize = 1 << 20;

/// `[plugins.NAME.capabilities]`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesSection {
    /// `[plugins.NAME.capabilities.http]`: outbound HTTP.
    pub http: Option<HttpSection>,
    /// `[plugins.NAME.capabilities.kubernetes]`: writes to the cluster.
    pub kubernetes: Option<KubernetesSection>,
}

/// `[plugins.NAME.capabilities.http]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// URL prefixes the plugin may reach, e.g. `http://alertmanager:9093/api/v2/`.
    pub allow: Vec<String>,
    /// Milliseconds one request may take (default 5000).
    pub timeout_ms: Option<u64>,
    /// Bytes of response body kept (default 1 MiB); the rest is cut and flagged.
    pub max_response_bytes: Option<usize>,
    /// Headers the host adds to every request, from env vars or files.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretHeader>,
}

/// Where a secret header's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretHeader {
    /// An environment variable of the controller.
    pub env: Option<String>,
    /// A file, read at each request (so a rotated secret is picked up).
    pub file: Option<PathBuf>,
    /// Put before the value, e.g. `Bearer `.
    #[serde(default)]
    pub prefix: String,
}

impl SecretHeader {
    /// The header's value now; `None` (and the request is refused) when it cannot be read.
    fn value(&self) -> Result<String, String> {
        let raw = match (&self.env, &self.file) {
            (Some(var), None) => {
                std::env::var(var).map_err(|_| format!("env var {var} is not set"))?
            }
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?,
            _ => return Err("a secret header needs exactly one of env and file".to_owned()),
        };
        Ok(format!(
            "{}{}",
            self.prefix,
            raw.trim_end_matches(['\n', '\r'])
        ))
    }
}

/// What a plugin asks for: the JSON at `http_request`'s pointer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    /// `GET` unless said.
    #[serde(default = "get")]
    pub method: String,
    /// The full URL.
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A UTF-8 body.
    pub body: Option<String>,
}

fn get() -> String {
    "GET".to_owned()
}

/// What the plugin gets back.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum HttpAnswer {
    /// The server answered (any status).
    Response {
        /// The HTTP status.
        status: u16,
        /// Response headers (lowercase names; the last of repeated ones).
        headers: BTreeMap<String, String>,
        /// The body, lossily decoded as UTF-8, at most the cap.
        body: String,
        /// The body was longer than the cap.
        truncated: bool,
    },
    /// Refused by the host before sending: no grant, or a URL outside the allowed prefixes.
    /// The plugin sees `{"error":"denied: ..."}`, like [`HttpAnswer::Error`].
    Denied {
        /// Why.
        error: String,
    },
    /// No answer: timed out, connection refused, malformed request.
    Error {
        /// Why.
        error: String,
    },
}

impl HttpAnswer {
    fn error(message: impl Into<String>) -> HttpAnswer {
        HttpAnswer::Error {
            error: message.into(),
        }
    }

    fn denied(message: impl Into<String>) -> HttpAnswer {
        HttpAnswer::Denied {
            error: message.into(),
        }
    }

    /// `status=N` or `error`, for log lines.
    pub fn outcome(&self) -> String {
        match self {
            HttpAnswer::Response { status, .. } => format!("status={status}"),
            HttpAnswer::Denied { error } | HttpAnswer::Error { error } => {
                format!("error: {error}")
            }
        }
    }

    /// The `outcome` label of the request's metric.
    pub fn metric_outcome(&self) -> CapabilityOutcome {
        match self {
            HttpAnswer::Response { status, .. } => CapabilityOutcome::of_status(*status),
            HttpAnswer::Denied { .. } => CapabilityOutcome::Denied,
            HttpAnswer::Error { .. } => CapabilityOutcome::Error,
        }
    }
}

/// The HTTP capability of one plugin, ready to use.
#[derive(Debug, Clone)]
pub struct HttpCapability {
    section: HttpSection,
    agent: ureq::Agent,
}

impl HttpCapability {
    /// The capability described by `section`.
    pub fn new(section: &HttpSection) -> HttpCapability {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        HttpCapability {
            section: section.clone(),
            agent: config.into(),
        }
    }

    /// True when `url` lies under an allowed prefix. URLs with `..` or `.` path segments,
    /// backslashes or user info are never allowed: they could step out of a prefix.
    pub fn allows(&self, url: &str) -> bool {
        let suspicious = url.contains('\\')
            || url
                .split(['/', '?', '#'])
                .any(|segment| segment == ".." || segment == ".")
            || url
                .split_once("://")
                .is_some_and(|(_, rest)| rest.split('/').next().is_some_and(|a| a.contains('@')));
        !suspicious
            && self
                .section
                .allow
                .iter()
                .any(|prefix| !prefix.is_empty() && url.starts_with(prefix.as_str()))
    }

    /// Sends `request` if allowed, within `time_left` of the call's deadline.
    pub fn send(&self, request: &HttpRequest, time_left: Duration) -> HttpAnswer {
        if !self.allows(&request.url) {
            return HttpAnswer::denied(format!(
                "denied: {} is not under an allowed prefix ({})",
                request.url,
                self.section.allow.join(", ")
            ));
        }
        let timeout = self
            .section
            .timeout_ms
            .map_or(DEFAULT_HTTP_TIMEOUT, Duration::from_millis)
            .min(time_left);
        if timeout.is_zero() {
            return HttpAnswer::error("the call's deadline has passed");
        }
        match self.build(request, timeout) {
            Ok(http_request) => self.exchange(http_request),
            Err(message) => HttpAnswer::error(message),
        }
    }

    /// The request with the plugin's headers, then the host's secret headers over them.
    fn build(
        &self,
        request: &HttpRequest,
        timeout: Duration,
    ) -> Result<http::Request<Vec<u8>>, String> {
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        let secret_names: Vec<String> = self
            .section
            .headers
            .keys()
            .map(|name| name.to_ascii_lowercase())
            .collect();
        for (name, value) in &request.headers {
            if !secret_names.contains(&name.to_ascii_lowercase()) {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        for (name, secret) in &self.section.headers {
            builder = builder.header(name.as_str(), secret.value()?);
        }
        let body = request.body.clone().unwrap_or_default().into_bytes();
        let built = builder
            .body(body)
            .map_err(|e| format!("invalid request: {e}"))?;
        Ok(self
            .agent
            .configure_request(built)
            .timeout_global(Some(timeout))
            .build())
    }

    fn exchange(&self, request: http::Request<Vec<u8>>) -> HttpAnswer {
        let cap = self
            .section
            .max_response_bytes
            .unwrap_or(DEFAULT_MAX_RESPONSE);
        let mut response = match self.agent.run(request) {
            Ok(response) => response,
            Err(error) => return HttpAnswer::error(error.to_string()),
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let mut body = Vec::new();
        let read = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .take(cap as u64 + 1)
            .read_to_end(&mut body);
        if let Err(error) = read {
            return HttpAnswer::error(format!("reading the response: {error}"));
        }
        let truncated = body.len() > cap;
        body.truncate(cap);
        HttpAnswer::Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capability(allow: &[&str]) -> HttpCapability {
        HttpCapability::new(&HttpSection {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            timeout_ms: None,
            max_response_bytes: None,
            headers: BTreeMap::new(),
        })
    }

    #[test]
    fn only_urls_under_an_allowed_prefix_are_allowed() {
        let http = capability(&["http://am:9093/api/v2/"]);
        assert!(http.allows("http://am:9093/api/v2/alerts"));
        assert!(!http.allows("http://am:9093/api/v1/alerts"));
        assert!(!http.allows("http://am:9093/api/v2/../../admin"));
        assert!(!http.allows("http://am:9093/api/v2/./alerts"));
        assert!(!http.allows("http://am:9093/api/v2/..\\admin"));
        assert!(!http.allows("http://evil@am:9093/api/v2/alerts"));
        assert!(!http.allows("http://am:90930/api/v2/alerts"));
        assert!(!capability(&[""]).allows("http://anything/"));
        assert!(!capability(&[]).allows("http://am:9093/api/v2/alerts"));
    }

    #[test]
    fn a_denied_request_says_why_and_sends_nothing() {
        let http = capability(&["http://127.0.0.1:9/allowed/"]);
        let request = HttpRequest {
            method: "POST".into(),
            url: "http://127.0.0.1:9/other".into(),
            headers: BTreeMap::new(),
            body: None,
        };
        let answer = http.send(&request, Duration::from_secs(1));
        assert!(
            matches!(&answer, HttpAnswer::Denied { error } if error.starts_with("denied: http://127.0.0.1:9/other")),
            "{answer:?}"
        );
        assert_eq!(answer.metric_outcome(), CapabilityOutcome::Denied);
        assert_eq!(
            serde_json::to_value(&answer).expect("json")["error"]
                .as_str()
                .map(|e| e.starts_with("denied: ")),
            Some(true),
            "the plugin sees an error, as before"
        );
    }

    #[test]
    fn secret_headers_come_from_env_or_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").expect("write");
        let from_file = SecretHeader {
            env: None,
            file: Some(file),
            prefix: "Bearer ".into(),
        };
        assert_eq!(from_file.value().expect("value"), "Bearer s3cret");
        let missing = SecretHeader {
            env: Some("EC_TEST_SURELY_UNSET_VARIABLE".into()),
            file: None,
            prefix: String::new(),
        };
        assert!(missing.value().is_err());
    }
}
