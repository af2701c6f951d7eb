//! Metrics that plugins declare and update themselves (the `metric` host function, docs/ABI.md
//! §6): counters, gauges and histograms exported on `/metrics` as
//! `event_controller_plugin_NAME` with the plugin's name in the `plugin` label, a prefix no
//! plugin can leave. A metric is declared by its first update (kind, help, buckets); each plugin
//! may hold at most [`MAX_SERIES_PER_PLUGIN`] series. The values live here, keyed by plugin
//! name, so they survive a hot reload of the same plugin.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};

/// The prefix of every plugin metric.
pub const PLUGIN_METRIC_PREFIX: &str = "event_controller_plugin_";
/// Series (metric and label values) one plugin may hold.
pub const MAX_SERIES_PER_PLUGIN: usize = 1000;
/// Labels one series may carry (besides `plugin`).
const MAX_LABELS: usize = 10;
/// The longest label value kept.
const MAX_LABEL_VALUE: usize = 256;
/// Histogram buckets when the first update gives none (Prometheus' defaults).
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What kind of metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// Only goes up: `value` is added.
    Counter,
    /// Any value: `value` is set.
    Gauge,
    /// Observations: `value` is observed.
    Histogram,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One update, as the plugin sends it: the JSON at `metric`'s pointer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricUpdate {
    /// The metric's name after the prefix: `[a-z][a-z0-9_]*`, at most 64 characters.
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: MetricKind,
    /// The help text (the first update's counts).
    #[serde(default)]
    pub help: Option<String>,
    /// Label names and values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Added (counter), set (gauge) or observed (histogram).
    pub value: f64,
    /// A histogram's upper bounds, ascending (the first update's count).
    #[serde(default)]
    pub buckets: Option<Vec<f64>>,
}

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// Not the JSON of an update.
    #[error("malformed metric update: {0}")]
    Malformed(String),
    /// A name or label the exposition cannot hold.
    #[error("invalid metric {name:?}: {reason}")]
    Invalid {
        /// The metric's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Declared before as another kind (by this plugin or another).
    #[error("metric {name:?} is a {declared}, not a {asked}")]
    KindConflict {
        /// The metric's name.
        name: String,
        /// Its kind.
        declared: &'static str,
        /// The kind asked for.
        asked: &'static str,
    },
    /// The plugin's series cap is reached.
    #[error("plugin {plugin} holds {MAX_SERIES_PER_PLUGIN} metric series, its limit: metric {name:?} with labels {labels:?} is not recorded (fewer label values, please)")]
    Cardinality {
        /// The plugin.
        plugin: String,
        /// The metric's name.
        name: String,
        /// The new series' labels.
        labels: BTreeMap<String, String>,
    },
}

/// One series' value.
#[derive(Debug, Clone)]
enum Value {
    Number(f64),
    Histogram {
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

/// A metric name's kind, help, buckets and series (plugin, labels).
#[derive(Debug)]
struct Family {
    kind: MetricKind,
    help: String,
    buckets: Vec<f64>,
    series: BTreeMap<(String, Vec<(String, String)>), Value>,
}

#[derive(Debug, Default)]
struct Store {
    families: BTreeMap<String, Family>,
    series_per_plugin: BTreeMap<String, usize>,
    warned: BTreeSet<(String, String)>,
}

/// Every plugin metric.
#[derive(Debug, Default)]
pub struct PluginMetrics {
    store: Mutex<Store>,
}

impl PluginMetrics {
    /// Applies `request` (an update's JSON) from `plugin`.
    pub fn update(&self, plugin: &str, request: &[u8]) -> Result<(), MetricError> {
        let update: MetricUpdate =
            serde_json::from_slice(request).map_err(|e| MetricError::Malformed(e.to_string()))?;
        check(&update)?;
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        store.apply(plugin, update)
    }

    /// True the first time `plugin` is refused for `reason` (to log each reason once).
    pub fn first_refusal(&self, plugin: &str, reason: &str) -> bool {
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        store.warned.insert((plugin.to_owned(), reason.to_owned()))
    }

    /// Appends the OpenMetrics text of every plugin metric to `out`.
    pub fn encode(&self, out: &mut String) {
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, family) in &store.families {
            family.encode(name, out);
        }
    }
}

impl Store {
    fn apply(&mut self, plugin: &str, update: MetricUpdate) -> Result<(), MetricError> {
        let family = self
            .families
            .entry(update.name.clone())
            .or_insert_with(|| Family {
                kind: update.kind,
                help: update.help.clone().unwrap_or_default(),
                buckets: update
                    .buckets
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BUCKETS.to_vec()),
                series: BTreeMap::new(),
            });
        if family.kind != update.kind {
            return Err(MetricError::KindConflict {
                name: update.name,
                declared: family.kind.as_str(),
                asked: update.kind.as_str(),
            });
        }
        let labels: Vec<(String, String)> = update.labels.clone().into_iter().collect();
        let key = (plugin.to_owned(), labels);
        if !family.series.contains_key(&key) {
            let held = self.series_per_plugin.entry(plugin.to_owned()).or_insert(0);
            if *held >= MAX_SERIES_PER_PLUGIN {
                return Err(MetricError::Cardinality {
                    plugin: plugin.to_owned(),
                    name: update.name,
                    labels: update.labels,
                });
            }
            *held += 1;
        }
        let buckets = family.buckets.len();
        let value = family
            .series
            .entry(key)
            .or_insert_with(|| match update.kind {
                MetricKind::Histogram => Value::Histogram {
                    counts: vec![0; buckets],
                    sum: 0.0,
                    count: 0,
                },
                _ => Value::Number(0.0),
            });
        match (update.kind, value) {
            (MetricKind::Counter, Value::Number(total)) => *total += update.value,
            (MetricKind::Gauge, Value::Number(current)) => *current = update.value,
            (MetricKind::Histogram, Value::Histogram { counts, sum, count }) => {
                for (bound, n) in family.buckets.iter().zip(counts.iter_mut()) {
                    if update.value <= *bound {
                        *n += 1;
                    }
                }
                *sum += update.value;
                *count += 1;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Family {
    fn encode(&self, name: &str, out: &mut String) {
        let full = format!("{PLUGIN_METRIC_PREFIX}{name}");
        let help = escape_help(&self.help);
        let _ = writeln!(out, "# HELP {full} {help}");
        let _ = writeln!(out, "# TYPE {full} {}", self.kind.as_str());
        for ((plugin, labels), value) in &self.series {
            let labels = label_text(plugin, labels);
            match value {
                Value::Number(v) if self.kind == MetricKind::Counter => {
                    let _ = writeln!(out, "{full}_total{{{labels}}} {v}");
                }
                Value::Number(v) => {
                    let _ = writeln!(out, "{full}{{{labels}}} {v}");
                }
                Value::Histogram { counts, sum, count } => {
                    for (bound, n) in self.buckets.iter().zip(counts) {
                        let _ = writeln!(out, "{full}_bucket{{{labels},le=\"{bound}\"}} {n}");
                    }
                    let _ = writeln!(out, "{full}_bucket{{{labels},le=\"+Inf\"}} {count}");
                    let _ = writeln!(out, "{full}_sum{{{labels}}} {sum}");
                    let _ = writeln!(out, "{full}_count{{{labels}}} {count}");
                }
            }
        }
    }
}

/// `plugin="NAME",k="v",...` with values escaped.
fn label_text(plugin: &str, labels: &[(String, String)]) -> String {
    let mut text = format!("plugin=\"{}\"", escape_value(plugin));
    for (key, value) in labels {
        let _ = write!(text, ",{key}=\"{}\"", escape_value(value));
    }
    text
}

fn escape_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Names, labels, values and buckets the exposition can hold.
fn check(update: &MetricUpdate) -> Result<(), MetricError> {
    let invalid = |reason: String| MetricError::Invalid {
        name: update.name.clone(),
        reason,
    };
    let name_ok = |name: &str, max: usize| {
        !name.is_empty()
            && name.len() <= max
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if !name_ok(&update.name, 64) {
        return Err(invalid(
            "a name is [a-z][a-z0-9_]*, at most 64 characters".into(),
        ));
    }
    let reserved = ["_total", "_bucket", "_count", "_sum", "_created", "_info"];
    if let Some(suffix) = reserved.iter().find(|s| update.name.ends_with(*s)) {
        return Err(invalid(format!(
            "a name may not end with {suffix} (the host adds suffixes)"
        )));
    }
    if update.labels.len() > MAX_LABELS {
        return Err(invalid(format!("more than {MAX_LABELS} labels")));
    }
    for (key, value) in &update.labels {
        if !name_ok(key, 64) || key == "plugin" || key == "le" {
            return Err(invalid(format!(
                "label {key:?}: a label is [a-z][a-z0-9_]*, not `plugin` or `le`"
            )));
        }
        if value.len() > MAX_LABEL_VALUE {
            return Err(invalid(format!(
                "label {key:?}: a value has at most {MAX_LABEL_VALUE} bytes"
            )));
        }
    }
    if !update.value.is_finite() {
        return Err(invalid("the value is not a finite number".into()));
    }
    if update.kind == MetricKind::Counter && update.value < 0.0 {
        return Err(invalid(
            "a counter only goes up: the value must be 0 or more".into(),
        ));
    }
    if let Some(buckets) = &update.buckets {
        let ascending = buckets.windows(2).all(|w| w[0] < w[1]);
        if update.kind != MetricKind::Histogram
            || buckets.is_empty()
            || !ascending
            || buckets.len() > 32
        {
            return Err(invalid(
                "buckets are 1 to 32 ascending bounds, for a histogram".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(metrics: &PluginMetrics, plugin: &str, json: &str) -> Result<(), MetricError> {
        metrics.update(plugin, json.as_bytes())
    }

    #[test]
    fn counters_gauges_and_histograms_are_exported_under_the_prefix_with_the_plugin() {
        let metrics = PluginMetrics::default();
        let warning = r#"{"name":"warning_events","kind":"counter","help":"Warning events","labels":{"reason":"BackOff"},"value":1}"#;
        update(&metrics, "warnings", warning).expect("counted");
        update(&metrics, "warnings", warning).expect("counted");
        update(
            &metrics,
            "dns",
            r#"{"name":"zones","kind":"gauge","value":3}"#,
        )
        .expect("set");
        update(
            &metrics,
            "dns",
            r#"{"name":"zones","kind":"gauge","value":2}"#,
        )
        .expect("set");
        let observe = r#"{"name":"sync_seconds","kind":"histogram","value":0.3,"buckets":[0.1,1]}"#;
        update(&metrics, "dns", observe).expect("observed");
        let mut text = String::new();
        metrics.encode(&mut text);
        for line in [
            "# TYPE event_controller_plugin_warning_events counter",
            "event_controller_plugin_warning_events_total{plugin=\"warnings\",reason=\"BackOff\"} 2",
            "event_controller_plugin_zones{plugin=\"dns\"} 2",
            "event_controller_plugin_sync_seconds_bucket{plugin=\"dns\",le=\"0.1\"} 0",
            "event_controller_plugin_sync_seconds_bucket{plugin=\"dns\",le=\"1\"} 1",
            "event_controller_plugin_sync_seconds_count{plugin=\"dns\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing in:\n{text}");
        }
    }

    #[test]
    fn bad_names_labels_values_and_kind_changes_are_refused() {
        let metrics = PluginMetrics::default();
        for bad in [
            r#"{"name":"Upper","kind":"gauge","value":1}"#,
            r#"{"name":"x_total","kind":"counter","value":1}"#,
            r#"{"name":"x","kind":"gauge","labels":{"plugin":"other"},"value":1}"#,
            r#"{"name":"x","kind":"counter","value":-1}"#,
            r#"{"name":"x","kind":"gauge","value":1,"buckets":[1]}"#,
        ] {
            assert!(
                matches!(update(&metrics, "p", bad), Err(MetricError::Invalid { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            update(&metrics, "p", "{"),
            Err(MetricError::Malformed(_))
        ));
        update(&metrics, "p", r#"{"name":"x","kind":"gauge","value":1}"#).expect("declared");
        let conflict = update(&metrics, "q", r#"{"name":"x","kind":"counter","value":1}"#);
        assert!(
            matches!(conflict, Err(MetricError::KindConflict { .. })),
            "{conflict:?}"
        );
    }

    #[test]
    fn a_plugin_cannot_hold_more_series_than_its_cap() {
        let metrics = PluginMetrics::default();
        for i in 0..MAX_SERIES_PER_PLUGIN {
            let json =
                format!(r#"{{"name":"by_id","kind":"counter","labels":{{"id":"{i}"}},"value":1}}"#);
            update(&metrics, "greedy", &json).expect("under the cap");
        }
        let over = r#"{"name":"by_id","kind":"counter","labels":{"id":"one-more"},"value":1}"#;
        let error = update(&metrics, "greedy", over)
            .expect_err("over the cap")
            .to_string();
        assert!(
            error.contains("plugin greedy holds 1000 metric series"),
            "{error}"
        );
        let known = r#"{"name":"by_id","kind":"counter","labels":{"id":"7"},"value":1}"#;
        update(&metrics, "greedy", known).expect("an existing series still counts");
        update(&metrics, "modest", over).expect("another plugin has its own cap");
    }
}
