//! DNS names: checking hosts, the zone they must be in, and where the ownership record of a
//! name lives.
//!
//! Names are handled as PowerDNS's API writes them: lower case, absolute (ending with `.`).

/// The longest DNS name, in presentation form without the final dot (RFC 1035 §2.3.4).
const MAX_NAME: usize = 253;
/// The longest label.
const MAX_LABEL: usize = 63;

/// Prefix of the ownership record's name for a host: `_ec.web.apps.example.com.`. An underscore
/// cannot start a host name, so no host's records live there.
const OWNERSHIP_PREFIX: &str = "_ec.";
/// Prefix of the ownership record's name for a wildcard host `*.x.example.com.`:
/// `_ec-wildcard.x.example.com.` (PowerDNS refuses `_ec.*.x.example.com.`: a `*` must be the
/// first label).
const WILDCARD_OWNERSHIP_PREFIX: &str = "_ec-wildcard.";

/// A host from a Route or an Ingress as an absolute, lower-case name (`web.apps.example.com.`),
/// or why it is not a host name. A leading `*.` label (an Ingress wildcard) is allowed.
pub fn host(host: &str) -> Result<String, &'static str> {
    let lower = host.trim().to_ascii_lowercase();
    let relative = lower.strip_suffix('.').unwrap_or(&lower);
    let (wildcard, rest) = match relative.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, relative),
    };
    check(rest, |label| {
        let bytes = label.as_bytes();
        bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes.first() != Some(&b'-')
            && bytes.last() != Some(&b'-')
    })?;
    if wildcard && rest.is_empty() {
        return Err("a wildcard needs a domain under it");
    }
    // The ownership record's name is longer than the host's: it must fit too.
    let fqdn = format!("{relative}.");
    if ownership_name(&fqdn).len() - 1 > MAX_NAME {
        return Err("too long to hold an ownership record beside it");
    }
    Ok(fqdn)
}

/// A zone name from the config, absolute and lower case. Labels may also hold `_`.
pub fn zone(zone: &str) -> Result<String, &'static str> {
    let lower = zone.trim().to_ascii_lowercase();
    let relative = lower.strip_suffix('.').unwrap_or(&lower);
    if relative.is_empty() {
        return Err("the root zone is not supported");
    }
    check(relative, |label| {
        label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    })?;
    Ok(format!("{relative}."))
}

/// Checks the labels of `relative` (no final dot), each also with `label_ok`.
fn check(relative: &str, label_ok: impl Fn(&str) -> bool) -> Result<(), &'static str> {
    if relative.is_empty() {
        return Err("empty");
    }
    if relative.len() > MAX_NAME {
        return Err("longer than 253 characters");
    }
    for label in relative.split('.') {
        if label.is_empty() {
            return Err("an empty label");
        }
        if label.len() > MAX_LABEL {
            return Err("a label longer than 63 characters");
        }
        if !label_ok(label) {
            return Err("not a valid DNS name");
        }
    }
    Ok(())
}

/// Whether the absolute name `name` is `zone` or below it.
pub fn in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|head| head.ends_with('.'))
}

/// The name of the TXT record that says who owns the records at `name`.
pub fn ownership_name(name: &str) -> String {
    match name.strip_prefix("*.") {
        Some(rest) => format!("{WILDCARD_OWNERSHIP_PREFIX}{rest}"),
        None => format!("{OWNERSHIP_PREFIX}{name}"),
    }
}

/// The name whose ownership record is at `ownership`, if `ownership` is an ownership record's
/// name.
pub fn owned_name(ownership: &str) -> Option<String> {
    if let Some(rest) = ownership.strip_prefix(WILDCARD_OWNERSHIP_PREFIX) {
        return Some(format!("*.{rest}"));
    }
    ownership
        .strip_prefix(OWNERSHIP_PREFIX)
        .filter(|rest| !rest.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host("web.apps.example.com").as_deref(),
            Ok("web.apps.example.com.")
        );
        assert_eq!(
            host(" Web.Apps.Example.com. ").as_deref(),
            Ok("web.apps.example.com.")
        );
        assert_eq!(
            host("*.shop.apps.example.com").as_deref(),
            Ok("*.shop.apps.example.com.")
        );
        assert_eq!(host("a-1.b2").as_deref(), Ok("a-1.b2."));
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.example.com",
            "a b.example.com",
            "a.*.example.com",
            "*",
            "*.",
            "\"quoted\".example.com",
            "web.apps.example.com/path",
        ] {
            assert!(host(bad).is_err(), "{bad:?} passed");
        }
        let label = "a".repeat(63);
        assert!(host(&format!("{label}.com")).is_ok());
        assert!(host(&format!("{label}a.com")).is_err());
        // 253 characters, but no room for "_ec." in front.
        let long = format!("{label}.{label}.{label}.{}", "a".repeat(61));
        assert_eq!(long.len(), 253);
        assert_eq!(
            host(&long),
            Err("too long to hold an ownership record beside it")
        );
        let fits = format!("{label}.{label}.{label}.{}", "a".repeat(57));
        assert_eq!(ownership_name(&host(&fits).expect("fits")).len(), 254);
    }

    #[test]
    fn zones() {
        assert_eq!(zone("apps.example.com").as_deref(), Ok("apps.example.com."));
        assert_eq!(
            zone("APPS.example.com.").as_deref(),
            Ok("apps.example.com.")
        );
        assert_eq!(zone("_tcp.example.com").as_deref(), Ok("_tcp.example.com."));
        assert!(zone(".").is_err());
        assert!(zone("").is_err());
        assert!(zone("a..b").is_err());
        assert!(zone("a/b").is_err());
    }

    #[test]
    fn zone_membership() {
        let zone = "apps.example.com.";
        assert!(in_zone("web.apps.example.com.", zone));
        assert!(in_zone("a.b.apps.example.com.", zone));
        assert!(in_zone("*.b.apps.example.com.", zone));
        assert!(in_zone("apps.example.com.", zone));
        assert!(!in_zone("webapps.example.com.", zone));
        assert!(!in_zone("example.com.", zone));
        assert!(!in_zone("web.apps.example.org.", zone));
    }

    #[test]
    fn ownership_names_round_trip() {
        for name in [
            "web.apps.example.com.",
            "*.shop.apps.example.com.",
            "apps.example.com.",
        ] {
            let ownership = ownership_name(name);
            assert!(ownership.starts_with('_'), "{ownership}");
            assert_eq!(owned_name(&ownership).as_deref(), Some(name));
        }
        assert_eq!(
            ownership_name("*.shop.apps.example.com."),
            "_ec-wildcard.shop.apps.example.com."
        );
        assert_eq!(owned_name("web.apps.example.com."), None);
        assert_eq!(owned_name("_ec."), None);
        assert_eq!(owned_name("_acme-challenge.web.apps.example.com."), None);
    }
}
