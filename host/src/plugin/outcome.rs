//! The result a plugin returns from `handle_event`: `{"level":"INFO","message":"..."}`.

use event_controller_guest::abi::Level;
use serde::Deserialize;
use std::borrow::Cow;

/// A message the plugin asked the host to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The level to log at.
    pub level: Level,
    /// The text to log.
    pub message: String,
}

#[derive(Deserialize)]
struct RawOutcome<'a> {
    #[serde(borrow, default)]
    level: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

impl Outcome {
    /// Parses a result buffer. `Ok(None)` means the plugin has nothing to log.
    /// Unknown fields are ignored; the error text says what is wrong with the result.
    pub fn parse(bytes: &[u8]) -> Result<Option<Outcome>, String> {
        let text =
            std::str::from_utf8(bytes).map_err(|e| format!("result is not valid UTF-8 ({e})"))?;
        let raw: RawOutcome<'_> = serde_json::from_str(text)
            .map_err(|e| format!("result is not a JSON object of the ABI's form ({e})"))?;
        let level = match raw.level.as_deref() {
            None => Level::Info,
            Some(name) => name
                .parse()
                .map_err(|_| format!("result has unknown level {name:?}"))?,
        };
        Ok(raw.message.map(|message| Outcome {
            level,
            message: message.into_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_case_insensitively() {
        let outcome = Outcome::parse(br#"{"level":"warning","message":"m","retry":true}"#)
            .expect("valid")
            .expect("a message");
        assert_eq!(outcome.level, Level::Warn);
        assert_eq!(outcome.message, "m");
        let info = Outcome::parse(br#"{"message":"x"}"#).expect("valid");
        assert_eq!(info.map(|o| o.level), Some(Level::Info));
    }

    #[test]
    fn no_message_means_nothing_to_log() {
        assert_eq!(Outcome::parse(br#"{"level":"ERROR"}"#), Ok(None));
        assert_eq!(Outcome::parse(br#"{"message":null}"#), Ok(None));
    }

    #[test]
    fn explains_bad_results() {
        let err = |b: &[u8]| Outcome::parse(b).expect_err("bad");
        assert!(err(b"\xff").contains("UTF-8"));
        assert!(err(b"this is not json").contains("JSON"));
        assert!(err(br#"{"message":5}"#).contains("JSON"));
        assert!(err(br#"{"level":"LOUD","message":"x"}"#).contains("LOUD"));
    }
}
