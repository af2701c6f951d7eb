//! Test plugin: on every event, counts it in `events_seen{kind, type}`, sets the gauge
//! `last_name_length` to the length of the object's name, observes 0.3 in `fake_seconds`, and
//! tries a metric whose label is the object's name (`per_object`), so that a test can push it
//! past its series cap. Logs INFO `recorded N/4` with how many updates the host took.

use event_controller_guest::{export_plugin, metric, Event, Outcome};

fn handle_event(event: &Event) -> Outcome {
    let Ok(head) = event.head() else {
        return Outcome::error("no head");
    };
    let kind = head.kind.as_deref().unwrap_or("?");
    let event_type = head.event_type.as_deref().unwrap_or("?");
    let name = head.name.as_deref().unwrap_or("");
    let recorded = [
        metric::counter(
            "events_seen",
            "Events this plugin saw",
            &[("kind", kind), ("type", event_type)],
            1.0,
        ),
        metric::gauge(
            "last_name_length",
            "Length of the last name",
            &[],
            name.len() as f64,
        ),
        metric::observe("fake_seconds", "A fixed observation", &[], 0.3),
        metric::counter(
            "per_object",
            "One series per object",
            &[("object", name)],
            1.0,
        ),
    ]
    .iter()
    .filter(|ok| **ok)
    .count();
    Outcome::info(format!("recorded {recorded}/4"))
}

export_plugin!(handle_event);
