//! The SDK's error type, and the classification of failed capability requests ([`Failure`]).

use std::fmt;

/// Why an event or a config could not be read or deserialized, or why an HTTP request
/// ([`http::send`](crate::http::send)) or a Kubernetes request ([`kube::send`](crate::kube::send))
/// got no response.
///
/// For a request that got no response, [`Error::failure`] says what kind of failure it was and
/// [`Error::is_transient`] whether retrying may help.
#[derive(Debug)]
pub struct Error {
    repr: Repr,
}

#[derive(Debug)]
enum Repr {
    Utf8 {
        what: &'static str,
        source: std::str::Utf8Error,
    },
    Head(String),
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    Serialize {
        what: &'static str,
        source: serde_json::Error,
    },
    Http(String),
    Kube(String),
}

impl Error {
    pub(crate) fn utf8(what: &'static str, source: std::str::Utf8Error) -> Error {
        Error {
            repr: Repr::Utf8 { what, source },
        }
    }

    pub(crate) fn head(message: String) -> Error {
        Error {
            repr: Repr::Head(message),
        }
    }

    pub(crate) fn json(what: &'static str, source: serde_json::Error) -> Error {
        Error {
            repr: Repr::Json { what, source },
        }
    }

    pub(crate) fn serialize(what: &'static str, source: serde_json::Error) -> Error {
        Error {
            repr: Repr::Serialize { what, source },
        }
    }

    pub(crate) fn http(reason: impl Into<String>) -> Error {
        Error {
            repr: Repr::Http(reason.into()),
        }
    }

    pub(crate) fn kube(reason: impl Into<String>) -> Error {
        Error {
            repr: Repr::Kube(reason.into()),
        }
    }

    /// For an HTTP request that got no response, the reason (the host's `{"error": ...}`
    /// answer, such as a denied URL, a timeout or a refused connection); `None` for other errors,
    /// including a response the SDK could not read.
    pub fn http_error(&self) -> Option<&str> {
        match &self.repr {
            Repr::Http(reason) => Some(reason),
            _ => None,
        }
    }

    /// For a Kubernetes request that got no answer from the API server, the reason (the host's
    /// `{"error": ...}` answer, such as a resource not granted, no cluster connection or a
    /// timeout); `None` for other errors, including an answer the SDK could not read. A refusal
    /// by the API server (403, 422...) is a [`kube::Response`](crate::kube::Response), not an
    /// error.
    pub fn kube_error(&self) -> Option<&str> {
        match &self.repr {
            Repr::Kube(reason) => Some(reason),
            _ => None,
        }
    }

    /// For a capability request that got no response ([`http_error`](Error::http_error) or
    /// [`kube_error`](Error::kube_error) is `Some`), what kind of failure it was, from the
    /// host's reason ([`Failure::of_reason`]); `None` for other errors (an event, a config or a
    /// host answer that cannot be read: a bug or a wrong config, never a passing failure).
    pub fn failure(&self) -> Option<Failure> {
        match &self.repr {
            Repr::Http(reason) | Repr::Kube(reason) => Some(Failure::of_reason(reason)),
            _ => None,
        }
    }

    /// True when retrying the request may help: it got no response because of the connection
    /// (refused, reset, timed out: [`Failure::Unreachable`]). False for a request the host
    /// refused or could not make (denied, invalid, a secret or a cluster connection it lacks),
    /// and for every error that is not a capability request's.
    pub fn is_transient(&self) -> bool {
        self.failure().is_some_and(Failure::is_transient)
    }
}

/// What kind of failure a capability request (`http_request`, `kube_request`) met, and so
/// whether retrying it may help ([`Failure::is_transient`]).
///
/// The host says why it gave no response only in words (`{"error": "..."}`); the start of those
/// words is part of the ABI (`docs/ABI.md` §6), and this is the one place that reads them
/// ([`Failure::of_reason`]). A response's status is classified by [`Failure::of_status`].
///
/// ```
/// use event_controller_guest::Failure;
///
/// assert_eq!(Failure::of_reason("denied: http://x/ is not under an allowed prefix"), Failure::Denied);
/// assert_eq!(Failure::of_reason("env var TOKEN is not set"), Failure::Unavailable);
/// assert_eq!(Failure::of_reason("io: Connection refused (os error 111)"), Failure::Unreachable);
/// assert!(Failure::of_reason("timed out after 5s").is_transient());
/// assert_eq!(Failure::of_status(503), Some(Failure::Status(503)));
/// assert!(Failure::Status(429).is_transient() && !Failure::Status(404).is_transient());
/// assert_eq!(Failure::of_status(204), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Failure {
    /// The host refused the request: the capability is not granted, the URL is outside the
    /// allowed prefixes, the resource or the verb is not granted (`denied: ...`,
    /// `unknown verb ...`). Permanent: the operator's config must change.
    Denied,
    /// The host could not read or build the request (`malformed request: ...`,
    /// `invalid request: ...`). Permanent: the plugin must change.
    Invalid,
    /// The host cannot make requests as configured: a secret header it cannot read
    /// (`env var ... is not set`, `cannot read ...`), no cluster connection
    /// (`no Kubernetes connection ...`, under `replay`). Permanent until the host is fixed.
    Unavailable,
    /// The host refused a write past the plugin's `max_writes_per_second` (`throttled: ...`).
    /// Transient: the same write may pass a moment later.
    Throttled,
    /// No response for any other reason: a refused or reset connection, a timeout, the call's
    /// deadline, no answer from the host at all. Transient.
    Unreachable,
    /// The server answered with this status, not 2xx. Transient for 5xx, 408 and 429
    /// ([`is_transient_status`]).
    Status(u16),
}

impl Failure {
    /// Classifies the host's reason for giving no response (its `{"error": ...}` answer), by the
    /// prefixes `docs/ABI.md` §6 lists: `denied`, `unknown verb` → [`Failure::Denied`];
    /// `malformed request`, `invalid request` → [`Failure::Invalid`]; `env var `, `cannot read `,
    /// `no Kubernetes connection` → [`Failure::Unavailable`]; `throttled` →
    /// [`Failure::Throttled`]; anything else
    /// → [`Failure::Unreachable`].
    pub fn of_reason(reason: &str) -> Failure {
        const PREFIXES: [(&str, Failure); 8] = [
            ("denied", Failure::Denied),
            ("unknown verb", Failure::Denied),
            ("malformed request", Failure::Invalid),
            ("invalid request", Failure::Invalid),
            ("env var ", Failure::Unavailable),
            ("cannot read ", Failure::Unavailable),
            ("no Kubernetes connection", Failure::Unavailable),
            ("throttled", Failure::Throttled),
        ];
        PREFIXES
            .iter()
            .find(|(prefix, _)| reason.starts_with(prefix))
            .map_or(Failure::Unreachable, |&(_, failure)| failure)
    }

    /// [`Failure::Status`] for a status that is not 2xx; `None` for a success.
    pub fn of_status(status: u16) -> Option<Failure> {
        (!(200..300).contains(&status)).then_some(Failure::Status(status))
    }

    /// True when retrying may help: [`Failure::Unreachable`], and [`Failure::Status`] with a
    /// transient status ([`is_transient_status`]).
    pub fn is_transient(self) -> bool {
        match self {
            Failure::Unreachable | Failure::Throttled => true,
            Failure::Status(status) => is_transient_status(status),
            Failure::Denied | Failure::Invalid | Failure::Unavailable => false,
        }
    }
}

/// Whether a response with `status` may be different later: 5xx (the server or a proxy in
/// trouble), 408 (request timeout) and 429 (too many requests). Any other status is either a
/// success or says the request, the grant or the config is wrong.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..)
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Denied => f.write_str("denied by the host"),
            Failure::Invalid => f.write_str("invalid request"),
            Failure::Unavailable => f.write_str("unavailable on this host"),
            Failure::Throttled => f.write_str("throttled"),
            Failure::Unreachable => f.write_str("no response"),
            Failure::Status(status) => write!(f, "status {status}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Utf8 { what, source } => write!(f, "{what} is not valid UTF-8: {source}"),
            Repr::Head(message) => write!(f, "cannot read the event's head: {message}"),
            Repr::Json { what, source } => write!(f, "cannot deserialize {what}: {source}"),
            Repr::Serialize { what, source } => write!(f, "cannot serialize {what}: {source}"),
            Repr::Http(reason) => write!(f, "HTTP request failed: {reason}"),
            Repr::Kube(reason) => write!(f, "Kubernetes request failed: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Utf8 { source, .. } => Some(source),
            Repr::Head(_) | Repr::Http(_) | Repr::Kube(_) => None,
            Repr::Json { source, .. } | Repr::Serialize { source, .. } => Some(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_reasons_of_docs_abi_are_classified() {
        // The reasons the host gives (host/src/capabilities.rs, host/src/plugin/instance.rs).
        let cases = [
            (
                "denied: http://x/ is not under an allowed prefix (http://y/)",
                Failure::Denied,
            ),
            (
                "denied: plugin p has no [plugins.p.capabilities.http] section",
                Failure::Denied,
            ),
            (
                "denied: plugin p may not patch routes.route.openshift.io (see ...)",
                Failure::Denied,
            ),
            (
                r#"unknown verb "delete": only "patch" is supported"#,
                Failure::Denied,
            ),
            (
                "malformed request: missing field `url` at line 1 column 2",
                Failure::Invalid,
            ),
            ("invalid request: invalid uri character", Failure::Invalid),
            ("env var PDNS_API_KEY is not set", Failure::Unavailable),
            (
                "throttled: plugin p made more than 10 writes per second; this write was not sent",
                Failure::Throttled,
            ),
            (
                "cannot read /run/secrets/token: No such file or directory (os error 2)",
                Failure::Unavailable,
            ),
            (
                "no Kubernetes connection (the controller is not watching a cluster)",
                Failure::Unavailable,
            ),
            (
                "io: Connection refused (os error 111)",
                Failure::Unreachable,
            ),
            ("timeout: global", Failure::Unreachable),
            ("timed out after 5s", Failure::Unreachable),
            ("the call's deadline has passed", Failure::Unreachable),
            (
                "reading the response: connection reset",
                Failure::Unreachable,
            ),
            (
                "the host's http_request returned no answer",
                Failure::Unreachable,
            ),
            ("", Failure::Unreachable),
            // Prefixes only, and case matters: these are the host's exact words.
            ("connection denied", Failure::Unreachable),
            ("Denied: x", Failure::Unreachable),
        ];
        for (reason, failure) in cases {
            assert_eq!(Failure::of_reason(reason), failure, "{reason}");
            assert_eq!(
                Failure::of_reason(reason).is_transient(),
                matches!(failure, Failure::Unreachable | Failure::Throttled),
                "{reason}"
            );
        }
    }

    #[test]
    fn statuses() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_transient_status(status), "{status}");
            assert_eq!(Failure::of_status(status), Some(Failure::Status(status)));
            assert!(Failure::Status(status).is_transient());
        }
        for status in [
            100, 200, 201, 204, 299, 300, 304, 400, 401, 403, 404, 409, 422,
        ] {
            assert!(!is_transient_status(status), "{status}");
        }
        for status in [200, 201, 204, 299] {
            assert_eq!(Failure::of_status(status), None);
        }
        assert_eq!(Failure::of_status(404), Some(Failure::Status(404)));
        assert!(!Failure::Status(404).is_transient());
        assert_eq!(Failure::Status(503).to_string(), "status 503");
    }

    #[test]
    fn only_capability_errors_have_a_failure() {
        let http = Error::http("io: Connection refused");
        assert_eq!(http.failure(), Some(Failure::Unreachable));
        assert!(http.is_transient());
        assert_eq!(http.kube_error(), None);

        let kube = Error::kube("denied: plugin p may not patch pods");
        assert_eq!(kube.failure(), Some(Failure::Denied));
        assert!(!kube.is_transient());
        assert_eq!(
            kube.kube_error(),
            Some("denied: plugin p may not patch pods")
        );
        assert_eq!(kube.http_error(), None);
        assert_eq!(
            kube.to_string(),
            "Kubernetes request failed: denied: plugin p may not patch pods"
        );

        let unreadable = serde_json::from_str::<u8>("x").expect_err("not JSON");
        let unreadable = Error::json("the host's HTTP answer", unreadable);
        assert_eq!(unreadable.failure(), None);
        assert!(!unreadable.is_transient());
        assert!(!Error::head("bad".into()).is_transient());
    }
}
