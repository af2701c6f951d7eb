//! The SDK's error type.

use std::fmt;

/// Why an event or a config could not be read or deserialized.
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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Utf8 { what, source } => write!(f, "{what} is not valid UTF-8: {source}"),
            Repr::Head(message) => write!(f, "cannot read the event's head: {message}"),
            Repr::Json { what, source } => write!(f, "cannot deserialize {what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Utf8 { source, .. } => Some(source),
            Repr::Head(_) => None,
            Repr::Json { source, .. } => Some(source),
        }
    }
}
