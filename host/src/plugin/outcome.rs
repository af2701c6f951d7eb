//! The result a plugin returns from `handle_event`:
//! `{"level":"INFO","message":"...","retry":true,"retry_after_ms":1500}`, every field optional
//! (docs/ABI.md §3).

use event_controller_guest::abi::Level;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::time::Duration;

/// What a plugin made of one event: a message to log, a request to see the event again, both
/// or neither ([`Outcome::none`], also what a `0` result means).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The message to log, if any.
    pub message: Option<Message>,
    /// The retry asked for, if any.
    pub retry: Option<Retry>,
}

/// A message the plugin asked the host to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The level to log at.
    pub level: Level,
    /// The text to log.
    pub text: String,
}

/// A plugin's request to be handed the same event again later (unless a newer event for the
/// same object comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// `"retry":true`: after the host's per-object back-off.
    Backoff,
    /// `"retry_after_ms":N`: no sooner than this.
    After(Duration),
}

#[derive(Deserialize)]
struct RawOutcome<'a> {
    #[serde(borrow, default)]
    level: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    // Read as values so that a wrong type gets a message naming the field.
    #[serde(default)]
    retry: Option<Value>,
    #[serde(default)]
    retry_after_ms: Option<Value>,
}

impl Outcome {
    /// Nothing to log, no retry.
    pub const fn none() -> Outcome {
        Outcome {
            message: None,
            retry: None,
        }
    }

    /// A message at `level`, no retry.
    pub fn log(level: Level, text: impl Into<String>) -> Outcome {
        Outcome {
            message: Some(Message {
                level,
                text: text.into(),
            }),
            retry: None,
        }
    }

    /// True when there is nothing to log and no retry.
    pub fn is_none(&self) -> bool {
        self.message.is_none() && self.retry.is_none()
    }

    /// Parses a result buffer. Unknown fields are ignored; `null` counts as absent; the error
    /// text says what is wrong with the result.
    pub fn parse(bytes: &[u8]) -> Result<Outcome, String> {
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
        let retry = retry(raw.retry.as_ref(), raw.retry_after_ms.as_ref())?;
        Ok(Outcome {
            message: raw.message.map(|text| Message {
                level,
                text: text.into_owned(),
            }),
            retry,
        })
    }
}

/// The retry that `"retry"` and `"retry_after_ms"` ask for: `retry_after_ms` implies `retry`.
fn retry(retry: Option<&Value>, after_ms: Option<&Value>) -> Result<Option<Retry>, String> {
    let asked = match retry {
        None | Some(Value::Null) => None,
        Some(Value::Bool(asked)) => Some(*asked),
        Some(other) => {
            return Err(format!(
                "result field \"retry\" must be true or false, not {}",
                brief(other)
            ))
        }
    };
    let after = match after_ms {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().map(Duration::from_millis),
        Some(other) => {
            return Err(format!(
            "result field \"retry_after_ms\" must be a non-negative integer (milliseconds), not {}",
            brief(other)
        ))
        }
    };
    match (asked, after) {
        (Some(false), Some(_)) => Err(
            "result has \"retry_after_ms\" with \"retry\":false; leave \"retry\" out or make it true"
                .to_owned(),
        ),
        (_, Some(after)) => Ok(Some(Retry::After(after))),
        (Some(true), None) => Ok(Some(Retry::Backoff)),
        (Some(false) | None, None) => Ok(None),
    }
}

/// A JSON value for an error message, cut short.
fn brief(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 40 {
        let mut cut = 40;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(outcome: &Outcome) -> Option<(Level, &str)> {
        outcome.message.as_ref().map(|m| (m.level, m.text.as_str()))
    }

    #[test]
    fn parses_levels_case_insensitively() {
        let outcome = Outcome::parse(br#"{"level":"warning","message":"m"}"#).expect("valid");
        assert_eq!(message(&outcome), Some((Level::Warn, "m")));
        assert_eq!(outcome.retry, None);
        let info = Outcome::parse(br#"{"message":"x"}"#).expect("valid");
        assert_eq!(message(&info), Some((Level::Info, "x")));
    }

    #[test]
    fn no_message_means_nothing_to_log() {
        assert_eq!(Outcome::parse(br#"{"level":"ERROR"}"#), Ok(Outcome::none()));
        assert_eq!(Outcome::parse(br#"{"message":null}"#), Ok(Outcome::none()));
        assert!(Outcome::parse(b"{}").expect("valid").is_none());
    }

    #[test]
    fn parses_retry_requests_with_or_without_a_message() {
        let outcome =
            Outcome::parse(br#"{"level":"WARN","message":"down","retry":true}"#).expect("valid");
        assert_eq!(message(&outcome), Some((Level::Warn, "down")));
        assert_eq!(outcome.retry, Some(Retry::Backoff));

        let after = Outcome::parse(br#"{"retry":true,"retry_after_ms":1500}"#).expect("valid");
        assert_eq!(after.message, None);
        assert_eq!(after.retry, Some(Retry::After(Duration::from_millis(1500))));
        assert!(!after.is_none());

        // retry_after_ms implies retry; null is absent; false is no retry.
        let implied = Outcome::parse(br#"{"retry_after_ms":0}"#).expect("valid");
        assert_eq!(implied.retry, Some(Retry::After(Duration::ZERO)));
        let null = Outcome::parse(br#"{"message":"m","retry":null,"retry_after_ms":null}"#);
        assert_eq!(null.expect("valid").retry, None);
        let no = Outcome::parse(br#"{"message":"m","retry":false}"#).expect("valid");
        assert_eq!(no, Outcome::log(Level::Info, "m"));
        let huge = Outcome::parse(br#"{"retry_after_ms":18446744073709551615}"#).expect("valid");
        assert_eq!(
            huge.retry,
            Some(Retry::After(Duration::from_millis(u64::MAX)))
        );
    }

    #[test]
    fn explains_bad_results() {
        let err = |b: &[u8]| Outcome::parse(b).expect_err("bad");
        assert!(err(b"\xff").contains("UTF-8"));
        assert!(err(b"this is not json").contains("JSON"));
        assert!(err(br#"{"message":5}"#).contains("JSON"));
        assert!(err(br#"{"level":"LOUD","message":"x"}"#).contains("LOUD"));
    }

    #[test]
    fn explains_bad_retry_fields() {
        let err = |b: &[u8]| Outcome::parse(b).expect_err("bad");
        assert_eq!(
            err(br#"{"retry":"yes"}"#),
            r#"result field "retry" must be true or false, not "yes""#
        );
        assert_eq!(
            err(br#"{"retry":1}"#),
            r#"result field "retry" must be true or false, not 1"#
        );
        for bad in ["-5", "1.5", "\"100\"", "[1]"] {
            let json = format!(r#"{{"retry":true,"retry_after_ms":{bad}}}"#);
            assert_eq!(
                err(json.as_bytes()),
                format!(
                    r#"result field "retry_after_ms" must be a non-negative integer (milliseconds), not {bad}"#
                )
            );
        }
        assert!(err(br#"{"retry":false,"retry_after_ms":10}"#).contains("\"retry\":false"));
        let long = format!(r#"{{"retry":"{}"}}"#, "é".repeat(100));
        assert!(err(long.as_bytes()).ends_with('…'));
    }
}
