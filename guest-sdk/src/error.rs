//! The SDK's error type.

use std::fmt;

/// Why an event or a config could not be read or deserialized, or why an HTTP request
/// ([`http::send`](crate::http::send)) got no response.
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

    /// For an HTTP request that got no response, the reason (the host's `{"error": ...}`
    /// answer, such as a denied URL, a timeout or a refused connection); `None` for other errors,
    /// including a response the SDK could not read.
    pub fn http_error(&self) -> Option<&str> {
        match &self.repr {
            Repr::Http(reason) => Some(reason),
            _ => None,
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
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Utf8 { source, .. } => Some(source),
            Repr::Head(_) | Repr::Http(_) => None,
            Repr::Json { source, .. } | Repr::Serialize { source, .. } => Some(source),
        }
    }
}
