//! The plugin's config (`[plugins.plugin_alertmanager.config]`), checked once in `init`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The Warning Event reasons that become alerts unless `warning_event_reasons` says otherwise:
/// the kubelet's, the scheduler's and the controllers' reasons for trouble with workloads and
/// nodes (not the informational ones such as probe failures during start-up).
pub const DEFAULT_WARNING_REASONS: &[&str] = &[
    "BackOff",
    "BackoffLimitExceeded",
    "Evicted",
    "EvictionThresholdMet",
    "Failed",
    "FailedAttachVolume",
    "FailedCreate",
    "FailedCreatePodSandBox",
    "FailedKillPod",
    "FailedMount",
    "FailedScheduling",
    "OOMKilling",
    "SystemOOM",
];

/// What `init` receives, as written in the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    url: Option<String>,
    #[serde(default)]
    severity_default: Option<String>,
    #[serde(default)]
    resolve_after_seconds: Option<u64>,
    #[serde(default)]
    warning_event_reasons: Option<Vec<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    generator_url: Option<String>,
}

/// The checked config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Alertmanager's base URL without a trailing `/`, e.g. `http://127.0.0.1:9093`.
    pub url: String,
    /// The severity of `KubeWarningEvent` alerts (the other alerts have fixed severities).
    pub severity_default: String,
    /// How long a firing alert lives in Alertmanager without being sent again, in milliseconds.
    pub resolve_after_ms: i64,
    /// Warning Event reasons that become alerts; `None` means every reason (`["*"]`).
    pub warning_event_reasons: Option<Vec<String>>,
    /// Labels added to every alert (the plugin's own labels win over these).
    pub labels: BTreeMap<String, String>,
    /// `generatorURL` of every alert, if set.
    pub generator_url: Option<String>,
}

impl Settings {
    /// The `POST` endpoint: `{url}/api/v2/alerts`.
    pub fn alerts_endpoint(&self) -> String {
        format!("{}/api/v2/alerts", self.url)
    }

    /// Reads and checks the config JSON; the error says what is wrong and how to fix it.
    pub fn from_json(json: &str) -> Result<Settings, String> {
        const WHERE: &str = "plugin_alertmanager: [plugins.plugin_alertmanager.config]";
        if !json.trim_start().starts_with('{') {
            return Err(format!("{WHERE}: the config must be a table, got {json}"));
        }
        let raw: Raw = serde_json::from_str(json).map_err(|e| format!("{WHERE}: {e}"))?;
        let url = raw.url.unwrap_or_default();
        let url = url.trim().trim_end_matches('/');
        if url.is_empty() {
            return Err(format!(
                "{WHERE} needs `url`, Alertmanager's base URL, e.g. url = \"http://alertmanager.monitoring:9093\" \
                 (and the capability [plugins.plugin_alertmanager.capabilities.http] allow = [\"http://alertmanager.monitoring:9093/api/v2/\"])"
            ));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "{WHERE}: `url` must start with http:// or https://, got {url:?}"
            ));
        }
        let severity_default = raw.severity_default.unwrap_or_else(|| "warning".to_owned());
        if severity_default.is_empty() {
            return Err(format!("{WHERE}: `severity_default` is empty"));
        }
        let seconds = raw.resolve_after_seconds.unwrap_or(300);
        if seconds == 0 || seconds > 366 * 86_400 {
            return Err(format!(
                "{WHERE}: `resolve_after_seconds` must be between 1 and 31622400, got {seconds}"
            ));
        }
        let warning_event_reasons = match raw.warning_event_reasons {
            None => Some(
                DEFAULT_WARNING_REASONS
                    .iter()
                    .map(|&r| r.to_owned())
                    .collect(),
            ),
            Some(reasons) if reasons.iter().any(|r| r == "*") => None,
            Some(reasons) => Some(reasons),
        };
        for (name, value) in &raw.labels {
            if !is_label_name(name) {
                return Err(format!(
                    "{WHERE}: label name {name:?} is not valid (letters, digits and _, not starting with a digit)"
                ));
            }
            if value.is_empty() {
                return Err(format!("{WHERE}: label {name:?} has an empty value"));
            }
        }
        Ok(Settings {
            url: url.to_owned(),
            severity_default,
            resolve_after_ms: i64::try_from(seconds).unwrap_or(i64::MAX) * 1000,
            warning_event_reasons,
            labels: raw.labels,
            generator_url: raw.generator_url.filter(|u| !u.is_empty()),
        })
    }

    /// Whether a Warning Event with `reason` becomes an alert.
    pub fn alerts_on_reason(&self, reason: &str) -> bool {
        match &self.warning_event_reasons {
            None => true,
            Some(reasons) => reasons.iter().any(|r| r == reason),
        }
    }
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let settings = Settings::from_json(r#"{"url":"http://127.0.0.1:9093/"}"#).expect("valid");
        assert_eq!(settings.url, "http://127.0.0.1:9093");
        assert_eq!(
            settings.alerts_endpoint(),
            "http://127.0.0.1:9093/api/v2/alerts"
        );
        assert_eq!(settings.severity_default, "warning");
        assert_eq!(settings.resolve_after_ms, 300_000);
        assert!(settings.alerts_on_reason("BackOff"));
        assert!(settings.alerts_on_reason("FailedScheduling"));
        assert!(!settings.alerts_on_reason("KubeAPIReadyz"));
        assert!(settings.labels.is_empty());
        assert_eq!(settings.generator_url, None);
    }

    #[test]
    fn everything_set() {
        let settings = Settings::from_json(
            r#"{"url":"https://am:9093","severity_default":"info","resolve_after_seconds":60,
                "warning_event_reasons":["Unhealthy"],"labels":{"cluster":"prod"},
                "generator_url":"https://console.example/"}"#,
        )
        .expect("valid");
        assert_eq!(settings.severity_default, "info");
        assert_eq!(settings.resolve_after_ms, 60_000);
        assert!(settings.alerts_on_reason("Unhealthy"));
        assert!(!settings.alerts_on_reason("BackOff"));
        assert_eq!(settings.labels["cluster"], "prod");
        assert_eq!(
            settings.generator_url.as_deref(),
            Some("https://console.example/")
        );
        let any = Settings::from_json(r#"{"url":"http://am","warning_event_reasons":["*"]}"#)
            .expect("valid");
        assert!(any.alerts_on_reason("KubeAPIReadyz"));
    }

    #[test]
    fn refusals_say_why() {
        for (config, expected) in [
            ("{}", "needs `url`"),
            (r#"{"url":""}"#, "needs `url`"),
            (r#"{"url":"am:9093"}"#, "must start with http://"),
            (
                r#"{"url":"http://am","resolve_after_seconds":0}"#,
                "resolve_after_seconds",
            ),
            (
                r#"{"url":"http://am","resolve_after_seconds":-1}"#,
                "invalid value",
            ),
            (
                r#"{"url":"http://am","severity_default":""}"#,
                "severity_default",
            ),
            (r#"{"url":"http://am","urls":"x"}"#, "unknown field `urls`"),
            (
                r#"{"url":"http://am","labels":{"a-b":"c"}}"#,
                "label name \"a-b\"",
            ),
            (r#"{"url":"http://am","labels":{"a":""}}"#, "empty value"),
            ("[]", "must be a table"),
        ] {
            let error = Settings::from_json(config).expect_err(config);
            assert!(
                error.starts_with("plugin_alertmanager: [plugins.plugin_alertmanager.config]"),
                "{error}"
            );
            assert!(error.contains(expected), "{config}: {error}");
        }
    }
}
