//! The plugin's configuration, received once per instance through the `init` export.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use crate::Error;

/// The plugin's config table from the host's config file, as JSON (`{}` when it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    raw: String,
}

impl Config {
    /// Wraps the config JSON `raw`.
    pub fn new(raw: impl Into<String>) -> Config {
        Config { raw: raw.into() }
    }

    /// The config's JSON text.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Deserializes the config into `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.raw).map_err(|e| Error::json("the config", e))
    }
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The config this instance received in `init`, or `None` before `init` (or outside the host).
///
/// Set before the plugin's own init function runs, so it is also available there.
pub fn config() -> Option<&'static Config> {
    CONFIG.get()
}

/// Keeps the first config of this instance; the host sends exactly one.
pub(crate) fn store(config: Config) {
    // A second `init` breaks the ABI; keeping the first config keeps `&'static` references sound.
    let _ = CONFIG.set(config);
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Settings {
        greeting: String,
        #[serde(default)]
        loud: bool,
    }

    #[test]
    fn parse() {
        let config = Config::new(r#"{"greeting":"hello","extra":[1,2]}"#);
        assert_eq!(config.raw(), r#"{"greeting":"hello","extra":[1,2]}"#);
        assert_eq!(
            config.parse::<Settings>().expect("parses"),
            Settings {
                greeting: "hello".into(),
                loud: false
            }
        );
    }

    #[test]
    fn parse_errors_name_the_config() {
        let error = Config::new("{}")
            .parse::<Settings>()
            .expect_err("no greeting");
        let text = error.to_string();
        assert!(text.starts_with("cannot deserialize the config"), "{text}");
        assert!(text.contains("missing field `greeting`"), "{text}");
        assert!(Config::new(r#"{"greeting":1}"#)
            .parse::<Settings>()
            .is_err());
    }
}
