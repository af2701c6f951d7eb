//! What a handler returns: nothing, or one message for the host to log, and optionally a
//! request to deliver the same event again later (docs/ABI.md §3).

use std::fmt::Display;
use std::time::Duration;

use crate::abi::{Level, MAX_RESULT_LEN};

/// The result of handling one event: [`Outcome::none`] or a message at a [`Level`], and
/// optionally a [`Retry`].
///
/// It is sent to the host as `{"level":"INFO","message":"..."}`, with `"retry":true` and
/// `"retry_after_ms":N` added when a retry is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    message: Option<(Level, String)>,
    retry: Option<Retry>,
}

/// A request to deliver the same event again later (unless a newer event for the same object
/// comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// After the host's per-object back-off (1 s, doubling, at most 5 min).
    Backoff,
    /// No sooner than this.
    After(Duration),
}

impl Outcome {
    /// Nothing to log.
    pub const fn none() -> Outcome {
        Outcome {
            message: None,
            retry: None,
        }
    }

    /// Log `message` at `level`.
    pub fn new(level: Level, message: impl Into<String>) -> Outcome {
        Outcome {
            message: Some((level, message.into())),
            retry: None,
        }
    }

    /// The same outcome, asking the host to deliver the event again after its back-off: for a
    /// failure that may pass, such as an unreachable third-party server.
    pub fn with_retry(mut self) -> Outcome {
        self.retry = Some(Retry::Backoff);
        self
    }

    /// The same outcome, asking the host to deliver the event again no sooner than `delay`:
    /// for work that falls due later, such as renewing a certificate.
    pub fn with_retry_after(mut self, delay: Duration) -> Outcome {
        self.retry = Some(Retry::After(delay));
        self
    }

    /// The retry asked for, if any.
    pub fn retry(&self) -> Option<Retry> {
        self.retry
    }

    /// Log `message` at `TRACE`.
    pub fn trace(message: impl Into<String>) -> Outcome {
        Outcome::new(Level::Trace, message)
    }

    /// Log `message` at `DEBUG`.
    pub fn debug(message: impl Into<String>) -> Outcome {
        Outcome::new(Level::Debug, message)
    }

    /// Log `message` at `INFO`.
    pub fn info(message: impl Into<String>) -> Outcome {
        Outcome::new(Level::Info, message)
    }

    /// Log `message` at `WARN`.
    pub fn warn(message: impl Into<String>) -> Outcome {
        Outcome::new(Level::Warn, message)
    }

    /// Log `message` at `ERROR`.
    pub fn error(message: impl Into<String>) -> Outcome {
        Outcome::new(Level::Error, message)
    }

    /// Whether there is nothing to log and no retry asked for (nothing is sent to the host).
    pub fn is_none(&self) -> bool {
        self.message.is_none() && self.retry.is_none()
    }

    /// The level, if there is a message.
    pub fn level(&self) -> Option<Level> {
        self.message.as_ref().map(|(level, _)| *level)
    }

    /// The message, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(|(_, message)| message.as_str())
    }

    /// The JSON sent to the host, or `None` for [`Outcome::none`].
    ///
    /// A message whose JSON would exceed [`MAX_RESULT_LEN`] is cut and marked `[truncated]`.
    pub fn to_json(&self) -> Option<String> {
        let bytes = self.to_json_bytes()?;
        // Built from `&str`s and ASCII only, so always UTF-8.
        String::from_utf8(bytes).ok()
    }

    /// [`Outcome::to_json`] as bytes with `len() == capacity()` where possible (no second copy).
    pub(crate) fn to_json_bytes(&self) -> Option<Vec<u8>> {
        let Some((level, message)) = self.message.as_ref() else {
            return self.retry.map(|retry| {
                let mut json = b"{".to_vec();
                push_retry(&mut json, retry);
                json.push(b'}');
                json
            });
        };
        let mut json = encode(*level, message);
        if json.len() > MAX_RESULT_LEN - RETRY_ROOM {
            json = encode_truncated(*level, message);
        }
        if let Some(retry) = self.retry {
            json.pop(); // the closing brace
            json.push(b',');
            push_retry(&mut json, retry);
            json.push(b'}');
        }
        Some(json)
    }
}

/// Room kept at the end of a result for the retry fields.
const RETRY_ROOM: usize = 64;

/// Appends `"retry":true` and, for [`Retry::After`], `,"retry_after_ms":N`.
fn push_retry(json: &mut Vec<u8>, retry: Retry) {
    json.extend_from_slice(br#""retry":true"#);
    if let Retry::After(delay) = retry {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        json.extend_from_slice(format!(r#","retry_after_ms":{ms}"#).as_bytes());
    }
}

const HEAD: &[u8] = br#"{"level":""#;
const MIDDLE: &[u8] = br#"","message":"#;
const TRUNCATED: &str = "… [truncated]";

fn encode(level: Level, message: &str) -> Vec<u8> {
    let level = level.as_str().as_bytes();
    // Exact when `message` needs no escaping, the common case.
    let len = HEAD.len() + level.len() + MIDDLE.len() + message.len() + 3;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(HEAD);
    out.extend_from_slice(level);
    out.extend_from_slice(MIDDLE);
    if serde_json::to_writer(&mut out, message).is_err() {
        // Unreachable: serializing a `str` into a `Vec` cannot fail. Stay valid JSON anyway.
        out.truncate(HEAD.len() + level.len() + MIDDLE.len());
        out.extend_from_slice(b"\"\"");
    }
    out.push(b'}');
    out
}

/// Encodes the longest prefix of `message` that, escaped and marked, fits [`MAX_RESULT_LEN`].
fn encode_truncated(level: Level, message: &str) -> Vec<u8> {
    let budget = MAX_RESULT_LEN - 64 - RETRY_ROOM - TRUNCATED.len();
    let mut used = 0;
    let mut cut = 0;
    for (index, c) in message.char_indices() {
        used += escaped_len(c);
        if used > budget {
            break;
        }
        cut = index + c.len_utf8();
    }
    let mut short = String::with_capacity(cut + TRUNCATED.len());
    short.push_str(&message[..cut]);
    short.push_str(TRUNCATED);
    encode(level, &short)
}

/// The length of `c` in a JSON string as `serde_json` escapes it.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{08}' | '\u{0C}' | '\n' | '\r' | '\t' => 2,
        '\0'..='\u{1F}' => 6,
        _ => c.len_utf8(),
    }
}

/// What a handler may return: [`Outcome`], `Option<Outcome>`, `()` or `Result<_, E: Display>`.
///
/// An `Err(e)` becomes an `ERROR` outcome with the message `e.to_string()`, so handlers can use `?`.
pub trait IntoOutcome {
    /// Converts into the [`Outcome`] sent to the host.
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for Outcome {
    fn into_outcome(self) -> Outcome {
        self
    }
}

impl IntoOutcome for Option<Outcome> {
    fn into_outcome(self) -> Outcome {
        self.unwrap_or_default()
    }
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Outcome {
        Outcome::none()
    }
}

impl<O: IntoOutcome, E: Display> IntoOutcome for Result<O, E> {
    fn into_outcome(self) -> Outcome {
        match self {
            Ok(outcome) => outcome.into_outcome(),
            Err(error) => Outcome::error(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_exact() {
        assert_eq!(
            Outcome::info("Kind: Pod; Name: web-1").to_json().as_deref(),
            Some(r#"{"level":"INFO","message":"Kind: Pod; Name: web-1"}"#)
        );
        assert_eq!(
            Outcome::trace("t").to_json().as_deref(),
            Some(r#"{"level":"TRACE","message":"t"}"#)
        );
        assert_eq!(
            Outcome::debug("").to_json().as_deref(),
            Some(r#"{"level":"DEBUG","message":""}"#)
        );
        assert_eq!(
            Outcome::warn("w").to_json().as_deref(),
            Some(r#"{"level":"WARN","message":"w"}"#)
        );
        assert_eq!(
            Outcome::error(String::from("e")).to_json().as_deref(),
            Some(r#"{"level":"ERROR","message":"e"}"#)
        );
        assert_eq!(Outcome::none().to_json(), None);
    }

    #[test]
    fn retries_are_appended_fields() {
        assert_eq!(
            Outcome::warn("down").with_retry().to_json().as_deref(),
            Some(r#"{"level":"WARN","message":"down","retry":true}"#)
        );
        assert_eq!(
            Outcome::none()
                .with_retry_after(Duration::from_millis(1500))
                .to_json()
                .as_deref(),
            Some(r#"{"retry":true,"retry_after_ms":1500}"#)
        );
        assert!(!Outcome::none().with_retry().is_none());
        let long = "x".repeat(MAX_RESULT_LEN * 2);
        let json = Outcome::info(long).with_retry().to_json().expect("json");
        assert!(json.len() <= MAX_RESULT_LEN, "{}", json.len());
        assert!(json.ends_with(r#","retry":true}"#));
    }

    #[test]
    fn json_escapes_and_round_trips() {
        let text = "container \"sidecar\" \\ tab\t nl\n nul\0 é ✓ \u{7f}";
        let json = Outcome::new(Level::Warn, text)
            .to_json()
            .expect("a message");
        let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(value["level"], "WARN");
        assert_eq!(value["message"], text);
        assert!(json.contains(r#"\"sidecar\""#), "{json}");
        assert!(json.contains(r"\u0000"), "{json}");
    }

    #[test]
    fn capacity_is_exact_without_escapes() {
        let bytes = Outcome::info("plain text")
            .to_json_bytes()
            .expect("a message");
        assert_eq!(bytes.len(), bytes.capacity());
    }

    #[test]
    fn huge_messages_are_truncated_to_the_limit() {
        for unit in ["x", "\"", "\u{1}", "é", "✓"] {
            let text = unit.repeat(MAX_RESULT_LEN);
            let json = Outcome::error(text).to_json().expect("a message");
            assert!(json.len() <= MAX_RESULT_LEN, "{unit:?}: {}", json.len());
            assert!(
                json.len() > MAX_RESULT_LEN - 200,
                "{unit:?}: {}",
                json.len()
            );
            let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            let message = value["message"].as_str().expect("a string");
            assert!(message.ends_with(TRUNCATED));
            assert!(message.starts_with(unit));
        }
    }

    #[test]
    fn accessors() {
        let outcome = Outcome::warn("w");
        assert_eq!(outcome.level(), Some(Level::Warn));
        assert_eq!(outcome.message(), Some("w"));
        assert!(!outcome.is_none());
        assert!(Outcome::none().is_none());
        assert_eq!(Outcome::default(), Outcome::none());
        assert_eq!(Outcome::none().level(), None);
    }

    #[test]
    fn into_outcome() {
        assert_eq!(Outcome::info("i").into_outcome(), Outcome::info("i"));
        assert_eq!(Some(Outcome::info("i")).into_outcome(), Outcome::info("i"));
        assert_eq!(None::<Outcome>.into_outcome(), Outcome::none());
        assert_eq!(().into_outcome(), Outcome::none());
        let ok: Result<Option<Outcome>, String> = Ok(None);
        assert_eq!(ok.into_outcome(), Outcome::none());
        let err: Result<Outcome, String> = Err("boom".into());
        assert_eq!(err.into_outcome(), Outcome::error("boom"));
    }
}
