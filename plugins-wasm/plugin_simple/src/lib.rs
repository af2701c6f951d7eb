//! Logs every event at INFO as `Kind: {kind}; Name: {name}`; an ERROR naming the field if one is missing.
//!
//! Reads only the event's identity (`object.kind`, `object.metadata.name`), never the whole object.

use event_controller_guest::{export_plugin, Event, Outcome};

fn handle_event(event: &Event) -> Outcome {
    match (event.kind(), event.name()) {
        (Some(kind), Some(name)) => Outcome::info(format!("Kind: {kind}; Name: {name}")),
        _ => match event.head() {
            Err(error) => Outcome::error(error.to_string()),
            Ok(head) if head.kind.is_none() && head.name.is_none() => {
                Outcome::error("event has no object.kind and no object.metadata.name")
            }
            Ok(head) if head.kind.is_none() => Outcome::error("event has no object.kind"),
            Ok(_) => Outcome::error("event has no object.metadata.name"),
        },
    }
}

export_plugin!(handle_event);

#[cfg(test)]
mod tests {
    use super::*;
    use event_controller_guest::Level;

    fn run(json: &str) -> Outcome {
        handle_event(&Event::new(json))
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
