//! Logs every event at INFO as `Kind: {kind}; Name: {name}`; an ERROR naming the field if one is missing.
//!
//! Reads only the event's identity (`object.kind`, `object.metadata.name`), never the whole object.
//! The reference implementation of the conformance contract (docs/conformance.md): its optional
//! config `{"prefix": string, "skip_kind": string}` puts `prefix` before each INFO message, and
//! returns no outcome for events of kind `skip_kind`.

use event_controller_guest::{export_plugin, Config, Event, Outcome};
use serde::Deserialize;
use std::sync::OnceLock;

#[derive(Debug, Default, Deserialize)]
struct Settings {
    #[serde(default)]
    prefix: String,
    skip_kind: Option<String>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn init(config: Config) -> Result<(), String> {
    let settings: Settings = config.parse().map_err(|e| {
        format!("config must be an object with optional strings prefix and skip_kind: {e}")
    })?;
    let _ = SETTINGS.set(settings);
    Ok(())
}

fn handle_event(event: &Event) -> Option<Outcome> {
    let settings = SETTINGS.get_or_init(Settings::default);
    match (event.kind(), event.name()) {
        (Some(kind), _) if settings.skip_kind.as_deref() == Some(kind) => None,
        (Some(kind), Some(name)) => Some(Outcome::info(format!(
            "{}Kind: {kind}; Name: {name}",
            settings.prefix
        ))),
        _ => Some(missing(event)),
    }
}

/// The ERROR for an event without kind or name.
fn missing(event: &Event) -> Outcome {
    match event.head() {
        Err(error) => Outcome::error(error.to_string()),
        Ok(head) if head.kind.is_none() && head.name.is_none() => {
            Outcome::error("event has no object.kind and no object.metadata.name")
        }
        Ok(head) if head.kind.is_none() => Outcome::error("event has no object.kind"),
        Ok(_) => Outcome::error("event has no object.metadata.name"),
    }
}

export_plugin!(handle_event, init = init);

#[cfg(test)]
mod tests {
    use super::*;
    use event_controller_guest::Level;

    fn run(json: &str) -> Outcome {
        handle_event(&Event::new(json)).expect("an outcome")
    }

    #[test]
    fn logs_kind_and_name() {
        let outcome = run(
            r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"shop"},"spec":{}}}"#,
        );
        assert_eq!(outcome, Outcome::info("Kind: Pod; Name: web-1"));
    }

    #[test]
    fn names_the_missing_field() {
        let no_kind = run(r#"{"type":"ADDED","object":{"metadata":{"name":"a"}}}"#);
        assert_eq!(no_kind, Outcome::error("event has no object.kind"));
        let no_name = run(r#"{"type":"ADDED","object":{"kind":"Pod","metadata":{}}}"#);
        assert_eq!(no_name, Outcome::error("event has no object.metadata.name"));
        let neither = run(r#"{"type":"ADDED","object":{}}"#);
        assert_eq!(neither.level(), Some(Level::Error));
        let broken = run("{");
        assert_eq!(broken.level(), Some(Level::Error));
    }
}
