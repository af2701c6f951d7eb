//! The plugin's own metrics, through the host's `event_controller.metric` import (docs/ABI.md
//! §6): counters, gauges and histograms, exported on the controller's `/metrics` as
//! `event_controller_plugin_NAME{plugin="...",...}`. A metric is declared by its first update
//! (its kind, help and buckets); the values survive a hot reload of the plugin.
//!
//! ```no_run
//! use event_controller_guest::metric;
//!
//! metric::counter("warning_events", "Warning events by reason", &[("reason", "BackOff")], 1.0);
//! metric::gauge("watched_namespaces", "Namespaces with defaults", &[], 12.0);
//! metric::observe("sync_seconds", "Time to sync one object", &[], 0.042);
//! ```
//!
//! Each call returns whether the host recorded it; a refusal (a bad name, another kind, past
//! the plugin's 1000 series) is logged by the host once per reason. A module that uses this
//! imports `metric`, which hosts before it do not provide.
//!
//! Built for a non-wasm target (unit tests), the updates are kept per thread: [`mock::taken`]
//! returns them.

use serde::Serialize;
use std::collections::BTreeMap;

/// One update, as the host reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update {
    /// The name after the host's `event_controller_plugin_` prefix: `[a-z][a-z0-9_]*`.
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// The help text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub help: String,
    /// Label names and values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Added (counter), set (gauge) or observed (histogram).
    pub value: f64,
    /// A histogram's bucket bounds, on its first update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<f64>>,
}

fn update(
    kind: &'static str,
    name: &str,
    help: &str,
    labels: &[(&str, &str)],
    value: f64,
) -> Update {
    Update {
        name: name.to_owned(),
        kind,
        help: help.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        value,
        buckets: None,
    }
}

/// Adds `by` (0 or more) to the counter `name` with `labels`.
pub fn counter(name: &str, help: &str, labels: &[(&str, &str)], by: f64) -> bool {
    send(&update("counter", name, help, labels, by))
}

/// Sets the gauge `name` with `labels` to `value`.
pub fn gauge(name: &str, help: &str, labels: &[(&str, &str)], value: f64) -> bool {
    send(&update("gauge", name, help, labels, value))
}

/// Observes `value` in the histogram `name` with `labels` (default buckets, 5 ms to 10 s).
pub fn observe(name: &str, help: &str, labels: &[(&str, &str)], value: f64) -> bool {
    send(&update("histogram", name, help, labels, value))
}

/// Sends one update; whether the host recorded it.
pub fn send(update: &Update) -> bool {
    // Strings, numbers and a map: serializing cannot fail.
    let json = serde_json::to_string(update).unwrap_or_default();
    transport(update, &json)
}

#[cfg(target_arch = "wasm32")]
fn transport(_update: &Update, json: &str) -> bool {
    #[link(wasm_import_module = "event_controller")]
    unsafe extern "C" {
        fn metric(ptr: *const u8, len: usize) -> i32;
    }
    // SAFETY: the host only reads `[ptr, ptr + len)`, which is `json`.
    unsafe { metric(json.as_ptr(), json.len()) == 0 }
}

#[cfg(not(target_arch = "wasm32"))]
fn transport(update: &Update, _json: &str) -> bool {
    mock::RECORDED.with(|recorded| recorded.borrow_mut().push(update.clone()));
    true
}

/// The updates a native build made on the current thread, for unit tests.
#[cfg(not(target_arch = "wasm32"))]
pub mod mock {
    use super::Update;
    use std::cell::RefCell;

    thread_local! {
        pub(super) static RECORDED: RefCell<Vec<Update>> = const { RefCell::new(Vec::new()) };
    }

    /// The updates made on this thread since the last call, oldest first.
    pub fn taken() -> Vec<Update> {
        RECORDED.with(|recorded| std::mem::take(&mut *recorded.borrow_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_carry_the_json_the_host_reads() {
        assert!(counter(
            "warning_events",
            "Warnings",
            &[("reason", "BackOff")],
            1.0
        ));
        assert!(gauge("zones", "", &[], 3.0));
        let taken = mock::taken();
        assert_eq!(taken.len(), 2);
        assert_eq!(
            serde_json::to_string(&taken[0]).expect("JSON"),
            r#"{"name":"warning_events","kind":"counter","help":"Warnings","labels":{"reason":"BackOff"},"value":1.0}"#
        );
        assert_eq!(
            serde_json::to_string(&taken[1]).expect("JSON"),
            r#"{"name":"zones","kind":"gauge","value":3.0}"#
        );
        assert!(mock::taken().is_empty());
    }
}
