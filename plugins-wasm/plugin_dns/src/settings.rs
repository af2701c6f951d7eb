//! The plugin's config (`[plugins.NAME.config]`): where the PowerDNS API is, which zone it keeps
//! records in, and what they say. `init` refuses an incomplete or invalid config, saying why.

use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::names;

/// `server_id` when the config has none: PowerDNS's only server id.
pub const DEFAULT_SERVER_ID: &str = "localhost";
/// `ttl` when the config has none, in seconds.
pub const DEFAULT_TTL: u32 = 60;
/// The largest TTL DNS allows (RFC 2181 §8).
const MAX_TTL: u32 = (1 << 31) - 1;

/// A complete config, for the messages.
const EXAMPLE: &str = r#"{"api_url": "http://127.0.0.1:8081", "server_id": "localhost", "zone": "apps.example.com.", "router_address": "10.0.0.10", "ttl": 60}"#;

/// The settings the plugin runs with, checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The API's base URL, without a trailing `/`, e.g. `http://127.0.0.1:8081`.
    pub api_url: String,
    /// PowerDNS's server id in the API's paths (`localhost`).
    pub server_id: String,
    /// The zone, lower case, with its trailing dot: `apps.example.com.`.
    pub zone: String,
    /// What every A record points at.
    pub router_address: Ipv4Addr,
    /// The records' TTL in seconds.
    pub ttl: u32,
}

/// The config as written: every key optional, so that all missing ones are named at once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    api_url: Option<String>,
    server_id: Option<String>,
    zone: Option<String>,
    router_address: Option<String>,
    ttl: Option<u32>,
}

impl Settings {
    /// Reads the config JSON `init` received.
    pub fn from_json(json: &str) -> Result<Settings, String> {
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| format!("invalid config: {e}; a complete one: {EXAMPLE}"))?;
        let missing: Vec<&str> = [
            ("api_url", raw.api_url.is_none()),
            ("zone", raw.zone.is_none()),
            ("router_address", raw.router_address.is_none()),
        ]
        .into_iter()
        .filter_map(|(key, missing)| missing.then_some(key))
        .collect();
        let (Some(api_url), Some(zone), Some(router_address)) =
            (raw.api_url, raw.zone, raw.router_address)
        else {
            return Err(format!(
                "incomplete config: {} missing; a complete one: {EXAMPLE} (the API key is not \
                 part of it: grant it as a secret header, [plugins.NAME.capabilities.http.headers] \
                 X-API-Key = {{ env = \"PDNS_API_KEY\" }})",
                missing.join(", ")
            ));
        };
        Ok(Settings {
            api_url: api_url_of(&api_url)?,
            server_id: server_id_of(raw.server_id.as_deref().unwrap_or(DEFAULT_SERVER_ID))?,
            zone: zone_of(&zone)?,
            router_address: router_address
                .trim()
                .parse()
                .map_err(|_| format!("router_address {router_address:?} is not an IPv4 address"))?,
            ttl: match raw.ttl.unwrap_or(DEFAULT_TTL) {
                ttl @ 1..=MAX_TTL => ttl,
                ttl => return Err(format!("ttl {ttl} is not between 1 and {MAX_TTL}")),
            },
        })
    }

    /// `{api_url}/api/v1/servers/{server_id}/zones/{zone}`: where the zone is read and patched.
    pub fn zone_url(&self) -> String {
        format!(
            "{}/api/v1/servers/{}/zones/{}",
            self.api_url, self.server_id, self.zone
        )
    }
}

fn api_url_of(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return Err(format!(
            "api_url {url:?} is not a URL (like http://127.0.0.1:8081)"
        ));
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return Err(format!("api_url {url:?} is not an http:// or https:// URL"));
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "api_url {url:?} has a query or fragment; give the server's base URL"
        ));
    }
    if trimmed.ends_with("/api/v1") || trimmed.ends_with("/api") {
        return Err(format!(
            "api_url {url:?} is the server's base URL, without /api/v1: the plugin adds the API's paths"
        ));
    }
    Ok(trimmed.to_owned())
}

fn server_id_of(id: &str) -> Result<String, String> {
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(id.to_owned())
    } else {
        Err(format!(
            "server_id {id:?} is not a PowerDNS server id (like localhost)"
        ))
    }
}

fn zone_of(zone: &str) -> Result<String, String> {
    names::zone(zone).map_err(|reason| format!("zone {zone:?} is not a DNS zone name: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_config() {
        let settings = Settings::from_json(EXAMPLE).expect("valid");
        assert_eq!(
            settings,
            Settings {
                api_url: "http://127.0.0.1:8081".into(),
                server_id: "localhost".into(),
                zone: "apps.example.com.".into(),
                router_address: Ipv4Addr::new(10, 0, 0, 10),
                ttl: 60,
            }
        );
        assert_eq!(
            settings.zone_url(),
            "http://127.0.0.1:8081/api/v1/servers/localhost/zones/apps.example.com."
        );
    }

    #[test]
    fn defaults_and_normalisation() {
        let settings = Settings::from_json(
            r#"{"api_url": "https://pdns.dns.svc:8081/", "zone": "Apps.Example.COM", "router_address": " 192.0.2.7 "}"#,
        )
        .expect("valid");
        assert_eq!(settings.api_url, "https://pdns.dns.svc:8081");
        assert_eq!(settings.server_id, DEFAULT_SERVER_ID);
        assert_eq!(settings.zone, "apps.example.com.");
        assert_eq!(settings.router_address, Ipv4Addr::new(192, 0, 2, 7));
        assert_eq!(settings.ttl, DEFAULT_TTL);
    }

    #[test]
    fn an_incomplete_config_is_refused_naming_every_missing_key() {
        let error = Settings::from_json("{}").expect_err("incomplete");
        assert!(
            error.starts_with(
                "incomplete config: api_url, zone, router_address missing; a complete one: {"
            ),
            "{error}"
        );
        assert!(error.contains("X-API-Key"), "{error}");
        let error = Settings::from_json(r#"{"api_url": "http://h:8081", "zone": "z."}"#)
            .expect_err("incomplete");
        assert!(
            error.starts_with("incomplete config: router_address missing"),
            "{error}"
        );
    }

    #[test]
    fn invalid_configs_are_refused_with_the_reason() {
        let cases = [
            (
                r#"{"api_url": "http://h", "zone": "z.", "router_address": "10.0.0.1", "api_key": "x"}"#,
                "invalid config: unknown field `api_key`",
            ),
            (
                r#"{"api_url": "h:8081", "zone": "z.", "router_address": "10.0.0.1"}"#,
                "api_url \"h:8081\" is not a URL",
            ),
            (
                r#"{"api_url": "ftp://h", "zone": "z.", "router_address": "10.0.0.1"}"#,
                "api_url \"ftp://h\" is not an http:// or https:// URL",
            ),
            (
                r#"{"api_url": "http://h:8081/api/v1", "zone": "z.", "router_address": "10.0.0.1"}"#,
                "api_url \"http://h:8081/api/v1\" is the server's base URL",
            ),
            (
                r#"{"api_url": "http://h", "zone": "a..b", "router_address": "10.0.0.1"}"#,
                "zone \"a..b\" is not a DNS zone name",
            ),
            (
                r#"{"api_url": "http://h", "zone": "z.", "router_address": "2001:db8::1"}"#,
                "router_address \"2001:db8::1\" is not an IPv4 address",
            ),
            (
                r#"{"api_url": "http://h", "zone": "z.", "router_address": "10.0.0.1", "ttl": 0}"#,
                "ttl 0 is not between 1 and",
            ),
            (
                r#"{"api_url": "http://h", "zone": "z.", "router_address": "10.0.0.1", "ttl": -5}"#,
                "invalid config:",
            ),
            (
                r#"{"api_url": "http://h", "server_id": "a/b", "zone": "z.", "router_address": "10.0.0.1"}"#,
                "server_id \"a/b\" is not",
            ),
            ("[]", "invalid config:"),
        ];
        for (json, expected) in cases {
            let error = Settings::from_json(json).expect_err(json);
            assert!(error.starts_with(expected), "{json}: {error}");
        }
    }
}
