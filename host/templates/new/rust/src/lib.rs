//! `{{name}}`: an event-controller plugin. It logs every watch event at INFO as
//! `Kind: {kind}; Name: {name}`.
//!
//! `kind()` and `name()` read only the event's identity at its start, never the whole object;
//! `event.object::<T>()` deserializes the fields a plugin needs into its own struct.

use event_controller_guest::{export_plugin, Event, Outcome};

fn handle_event(event: &Event) -> Outcome {
    match (event.kind(), event.name()) {
        (Some(kind), Some(name)) => Outcome::info(format!("Kind: {kind}; Name: {name}")),
        _ => Outcome::none(),
    }
}

export_plugin!(handle_event);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_kind_and_name() {
        let event = Event::new(
            r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"shop"},"spec":{}}}"#,
        );
        let outcome = handle_event(&event);
        assert_eq!(outcome, Outcome::info("Kind: Pod; Name: web-1"));
    }

    #[test]
    fn reads_the_object_not_its_nested_members() {
        let event = Event::new(
            r#"{"object":{"metadata":{"ownerReferences":[{"kind":"ReplicaSet","name":"rs"}],"name":"web-2"},"kind":"Pod"},"type":"MODIFIED"}"#,
        );
        let outcome = handle_event(&event);
        assert_eq!(outcome, Outcome::info("Kind: Pod; Name: web-2"));
    }

    #[test]
    fn says_nothing_without_a_name() {
        let event = Event::new(r#"{"type":"ADDED","object":{"kind":"Pod","metadata":{}}}"#);
        assert_eq!(handle_event(&event), Outcome::none());
    }
}
