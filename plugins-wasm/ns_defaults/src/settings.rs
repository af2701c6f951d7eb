//! The plugin's config (`[plugins.ns_defaults.config]`), checked by `init`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The name of the objects and the owner label's value unless the config says otherwise.
pub const DEFAULT_NAME: &str = "ns-defaults";

/// What the plugin keeps in every matching namespace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The labels a namespace must carry (all of them, with these values) to get the defaults.
    pub namespace_selector: BTreeMap<String, String>,
    /// The `spec` of the NetworkPolicy to keep in each matching namespace; none when absent.
    #[serde(default)]
    pub network_policy: Option<Value>,
    /// The `spec` of the ResourceQuota to keep in each matching namespace; none when absent.
    #[serde(default)]
    pub resource_quota: Option<Value>,
    /// The objects' name (default `ns-defaults`).
    #[serde(default = "default_name")]
    pub name: String,
    /// The value of the owner label `app.kubernetes.io/managed-by` on the objects it creates,
    /// and the only objects it changes or deletes (default `ns-defaults`).
    #[serde(default = "default_name")]
    pub owner: String,
}

fn default_name() -> String {
    DEFAULT_NAME.to_owned()
}

impl Settings {
    /// Reads and checks the config JSON `init` received.
    pub fn from_json(json: &str) -> Result<Settings, String> {
        let settings: Settings = serde_json::from_str(json)
            .map_err(|e| format!("ns_defaults: the config is not valid: {e}"))?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        if self.namespace_selector.is_empty() {
            return Err(
                "ns_defaults: namespace_selector is empty: it would give every \
                        namespace (kube-system too) the defaults; name the labels a namespace \
                        must carry"
                    .to_owned(),
            );
        }
        if self.network_policy.is_none() && self.resource_quota.is_none() {
            return Err(
                "ns_defaults: neither network_policy nor resource_quota is set: nothing to do"
                    .to_owned(),
            );
        }
        for (key, spec) in [
            ("network_policy", &self.network_policy),
            ("resource_quota", &self.resource_quota),
        ] {
            if spec.as_ref().is_some_and(|s| !s.is_object()) {
                return Err(format!(
                    "ns_defaults: {key} must be the object's spec (a table), not {}",
                    spec.as_ref().map(Value::to_string).unwrap_or_default()
                ));
            }
        }
        if !is_label_value(&self.owner) || self.owner.is_empty() {
            return Err(format!(
                "ns_defaults: owner {:?} is not a label value (at most 63 characters: letters, \
                 digits, '-', '_', '.', starting and ending with a letter or digit)",
                self.owner
            ));
        }
        if self.name.is_empty()
            || self.name.len() > 253
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(format!(
                "ns_defaults: name {:?} is not an object name (lowercase letters, digits, '-', '.')",
                self.name
            ));
        }
        Ok(())
    }

    /// True when `labels` carry every label of the selector.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.namespace_selector
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
    }
}

fn is_label_value(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_none_or(u8::is_ascii_alphanumeric)
        && bytes.last().is_none_or(u8::is_ascii_alphanumeric)
}
