//! Test plugin: asks the host for retries. `flaky-*` objects: `with_retry_after(50 ms)` on the
//! first 2 deliveries of each resourceVersion (logging INFO `try {name} rv={rv} #{n}`), then
//! INFO `done {name} rv={rv} after {n} tries`; `later-*`: the same with one retry after 300 ms
//! (INFO `later {name} rv={rv} #1`); `always-*`: a retry after the host's back-off on every
//! delivery, with no message; anything else: INFO `seen {name}`.

use event_controller_guest::{export_plugin, Event, Outcome};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Deliveries per object of its latest resourceVersion: name -> (rv, deliveries).
static DELIVERIES: Mutex<BTreeMap<String, (String, u32)>> = Mutex::new(BTreeMap::new());

/// How many times `name` at `rv` has been delivered, this time included.
fn delivery(name: &str, rv: &str) -> u32 {
    let mut deliveries = DELIVERIES.lock().unwrap_or_else(|e| e.into_inner());
    let entry = deliveries
        .entry(name.to_owned())
        .or_insert_with(|| (rv.to_owned(), 0));
    if entry.0 != rv {
        *entry = (rv.to_owned(), 0);
    }
    entry.1 += 1;
    entry.1
}

fn handle_event(event: &Event) -> Outcome {
    let head = match event.head() {
        Ok(head) => head,
        Err(error) => return Outcome::error(error.to_string()),
    };
    let name = head.name.as_deref().unwrap_or("?");
    let rv = head.resource_version.as_deref().unwrap_or("?");
    let (retries, delay, word) = if name.starts_with("flaky-") {
        (2, Duration::from_millis(50), "try")
    } else if name.starts_with("later-") {
        (1, Duration::from_millis(300), "later")
    } else if name.starts_with("always-") {
        return Outcome::none().with_retry();
    } else {
        return Outcome::info(format!("seen {name}"));
    };
    let n = delivery(name, rv);
    if n <= retries {
        Outcome::info(format!("{word} {name} rv={rv} #{n}")).with_retry_after(delay)
    } else {
        Outcome::info(format!("done {name} rv={rv} after {n} tries"))
    }
}

export_plugin!(handle_event);
