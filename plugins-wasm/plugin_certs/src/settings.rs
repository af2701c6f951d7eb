//! The plugin's config (`[plugins.NAME.config]`): where CFSSL is and when to renew. `init`
//! refuses an incomplete or invalid config, saying why.

use serde::Deserialize;

/// `renew_before_days` when the config has none.
pub const DEFAULT_RENEW_BEFORE_DAYS: u32 = 30;
/// More than any CA hands out: a bigger value is a mistake.
const MAX_RENEW_BEFORE_DAYS: u32 = 3650;

/// A complete config, for the messages.
const EXAMPLE: &str = r#"{"cfssl_url": "http://127.0.0.1:8888", "renew_before_days": 30, "profile": "www", "label": ""}"#;

/// The settings the plugin runs with, checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// CFSSL's base URL, without a trailing `/` nor the API path, e.g. `http://127.0.0.1:8888`.
    pub cfssl_url: String,
    /// A certificate expiring within this many days is replaced.
    pub renew_before_days: u32,
    /// The CFSSL signing profile (`"profile"` of the requests); CFSSL's default when `None`.
    pub profile: Option<String>,
    /// The CFSSL signer label (`"label"`, for a multi-root CFSSL); the default signer when
    /// `None`.
    pub label: Option<String>,
}

/// The config as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    cfssl_url: Option<String>,
    renew_before_days: Option<u32>,
    profile: Option<String>,
    label: Option<String>,
}

impl Settings {
    /// Reads the config JSON `init` received.
    pub fn from_json(json: &str) -> Result<Settings, String> {
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| format!("invalid config: {e}; a complete one: {EXAMPLE}"))?;
        let Some(url) = raw.cfssl_url else {
            return Err(format!(
                "incomplete config: cfssl_url missing; a complete one: {EXAMPLE}"
            ));
        };
        let renew_before_days = raw.renew_before_days.unwrap_or(DEFAULT_RENEW_BEFORE_DAYS);
        if renew_before_days > MAX_RENEW_BEFORE_DAYS {
            return Err(format!(
                "renew_before_days {renew_before_days} is more than {MAX_RENEW_BEFORE_DAYS}"
            ));
        }
        let non_empty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        Ok(Settings {
            cfssl_url: cfssl_url_of(&url)?,
            renew_before_days,
            profile: non_empty(raw.profile),
            label: non_empty(raw.label),
        })
    }

    /// `{cfssl_url}/api/v1/cfssl/{endpoint}`.
    pub fn endpoint(&self, endpoint: &str) -> String {
        format!("{}/api/v1/cfssl/{endpoint}", self.cfssl_url)
    }

    /// The renewal window in seconds.
    pub fn renew_before_seconds(&self) -> i64 {
        i64::from(self.renew_before_days) * crate::time::DAY
    }
}

fn cfssl_url_of(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(format!(
            "cfssl_url {url:?} is not a URL (like http://127.0.0.1:8888)"
        ));
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return Err(format!(
            "cfssl_url {url:?} is not an http:// or https:// URL"
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "cfssl_url {url:?} has a query or fragment; give the server's base URL"
        ));
    }
    if trimmed.contains("/api/v1") {
        return Err(format!(
            "cfssl_url {url:?} is the server's base URL, without /api/v1/cfssl: the plugin adds the API's paths"
        ));
    }
    Ok(trimmed.to_owned())
}
