//! A Route as the plugin reads it, and whether it needs a new certificate.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::time;

/// The resource as the plugin names it in its `kube_request`s; the operator's grant
/// (`[plugins.NAME.capabilities.kubernetes] patch = [...]`) must say exactly this.
pub const ROUTES: &str = "routes.route.openshift.io";
/// The annotation that asks for a certificate, with the value `"true"`.
pub const MANAGED: &str = "openshift.io/managed.cert";
/// The host the plugin issued the Route's certificate for.
pub const CERT_HOST: &str = "event-controller/cert-host";
/// When that certificate expires, RFC 3339 (UTC).
pub const CERT_NOT_AFTER: &str = "event-controller/cert-not-after";
/// Its serial number, decimal.
pub const CERT_SERIAL: &str = "event-controller/cert-serial";

/// The parts of a `route.openshift.io/v1` Route the plugin reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Route {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: Spec,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default, rename = "resourceVersion")]
    pub resource_version: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Spec {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Tls {
    #[serde(default)]
    pub termination: Option<String>,
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

/// Why a Route needs a certificate, or that it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// The certificate the plugin issued is in place, for this host, and not yet due.
    UpToDate { not_after: i64 },
    /// No certificate issued by the plugin.
    New,
    /// The plugin issued one for another host.
    HostChanged { old: String },
    /// The certificate expires within the renewal window (or has expired).
    Expiring { not_after: i64 },
    /// The annotations say the plugin issued one, but `spec.tls` lacks the certificate or key.
    TlsMissing,
    /// The recorded expiry cannot be read.
    StateUnreadable { not_after: String },
}

impl Route {
    /// True when the Route asks for a certificate (`openshift.io/managed.cert: "true"`).
    pub fn managed(&self) -> bool {
        self.annotation(MANAGED)
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
    }

    /// `Route shop/web`, for the messages.
    pub fn who(&self) -> String {
        if self.metadata.namespace.is_empty() {
            format!("Route {}", self.metadata.name)
        } else {
            format!("Route {}/{}", self.metadata.namespace, self.metadata.name)
        }
    }

    /// `spec.host`, trimmed and lower case, unless empty.
    pub fn host(&self) -> Option<String> {
        let host = self.spec.host.as_deref()?.trim().to_ascii_lowercase();
        (!host.is_empty()).then_some(host)
    }

    /// `spec.tls.termination`, when set.
    pub fn termination(&self) -> Option<&str> {
        self.spec
            .tls
            .as_ref()?
            .termination
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata.annotations.get(key).map(String::as_str)
    }

    /// Whether the Route needs a new certificate for `host` at `now` (Unix seconds), renewing
    /// `window` seconds before expiry.
    pub fn due(&self, host: &str, now: i64, window: i64) -> Due {
        let Some(issued_for) = self.annotation(CERT_HOST).map(str::trim) else {
            return Due::New;
        };
        if !issued_for.eq_ignore_ascii_case(host) {
            return Due::HostChanged {
                old: issued_for.to_owned(),
            };
        }
        let recorded = self.annotation(CERT_NOT_AFTER).unwrap_or_default();
        let Some(not_after) = time::parse_rfc3339(recorded) else {
            return Due::StateUnreadable {
                not_after: recorded.to_owned(),
            };
        };
        let present = |value: Option<&String>| value.is_some_and(|v| !v.trim().is_empty());
        let tls = self.spec.tls.as_ref();
        if !present(tls.and_then(|t| t.certificate.as_ref()))
            || !present(tls.and_then(|t| t.key.as_ref()))
        {
            return Due::TlsMissing;
        }
        if not_after - now <= window {
            return Due::Expiring { not_after };
        }
        Due::UpToDate { not_after }
    }
}
