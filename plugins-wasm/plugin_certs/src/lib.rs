//! Certificates for Routes from a CFSSL CA: a Route (`route.openshift.io/v1`) annotated
//! `openshift.io/managed.cert: "true"` gets a certificate for its `spec.host`, issued by
//! CFSSL (`cfssl serve`) through the host's `http_request` capability, and patched into its
//! `spec.tls` through the host's `kube_request` capability (docs/ABI.md §6).
//!
//! # What it does
//!
//! On every `ADDED` or `MODIFIED` event of an annotated Route with a `spec.host`, it decides
//! from the Route alone (its annotations and `spec.tls`) whether a certificate is due:
//!
//! - **up to date** (nothing sent, a DEBUG line) when the annotations it wrote say it issued the
//!   certificate for this very host, `spec.tls` holds a certificate and a key, and the recorded
//!   expiry is more than `renew_before_days` away. This is what the `MODIFIED` event caused by
//!   its own patch looks like, so a patch never leads to another;
//! - **due** otherwise: no certificate issued by the plugin yet, the host changed, the
//!   certificate expires within `renew_before_days` (or has expired), `spec.tls` lost the
//!   certificate or key, or the recorded expiry is unreadable.
//!
//! When due, it asks CFSSL for a new ECDSA P-256 key and a certificate naming the host
//! (`POST {cfssl_url}/api/v1/cfssl/newcert`, CN and SAN = host), reads the certificate's expiry
//! and serial with `POST .../certinfo` (no X.509 parser in the module), and the CA's
//! certificate with `POST .../info`. Then it sends one JSON merge patch of the Route:
//!
//! ```json
//! {"metadata": {"annotations": {"event-controller/cert-host": "web.apps.example.com",
//!                               "event-controller/cert-not-after": "2027-11-27T01:57:00Z",
//!                               "event-controller/cert-serial": "6540946191772599..."}},
//!  "spec": {"tls": {"termination": "edge", "certificate": "-----BEGIN CERTIFICATE-----...",
//!                   "key": "-----BEGIN EC PRIVATE KEY-----...",
//!                   "caCertificate": "-----BEGIN CERTIFICATE-----..."}}}
//! ```
//!
//! An existing `termination` (`edge` or `reencrypt`) is kept, and so are the other fields of
//! `spec.tls` (a merge patch). A `passthrough` Route cannot carry a certificate: it gets a WARN
//! and nothing else.
//!
//! Renewal needs no event: after issuing a certificate, or finding it up to date, the plugin
//! asks the host to deliver the Route's event again when the renewal window opens
//! (`Outcome::with_retry_after`, `cert-not-after` − `renew_before_days` − now, at least a
//! minute). A newer event of the Route replaces that pending delivery, and asks again in turn,
//! so the Route's latest event always comes back in time. A restart loses the pending
//! deliveries, but every Route then arrives as `ADDED` and asks again.
//!
//! A `MODIFIED` event already queued before the patch (older than it) still shows the Route
//! without the new certificate. The plugin remembers the resourceVersion its patch produced
//! for each Route and skips older events (when resourceVersions are integers, as the API
//! server's are), so such an event does not issue a second certificate either.
//!
//! # What it does not do
//!
//! It does not compare `spec.tls.certificate` with what it issued: a certificate replaced by
//! hand under the plugin's annotations stays until the recorded expiry comes within the window.
//! It does not revoke replaced certificates, nor remove anything when the annotation goes.
//!
//! # Config
//!
//! ```toml
//! [plugins.plugin_certs.config]
//! cfssl_url = "http://127.0.0.1:8888"   # required: cfssl serve's base URL, without /api/v1
//! renew_before_days = 30                # default 30
//! # profile = "www"                     # CFSSL signing profile (default: CFSSL's default)
//! # label = "primary"                   # CFSSL signer label, for a multi-root CFSSL
//!
//! [plugins.plugin_certs.capabilities.http]
//! allow = ["http://127.0.0.1:8888/api/v1/cfssl/"]
//! [plugins.plugin_certs.capabilities.kubernetes]
//! patch = ["routes.route.openshift.io"]
//! ```
//!
//! The controller's own RBAC must allow `patch` on `routes.route.openshift.io` too. A CA whose
//! certificates live no longer than `renew_before_days` is refused at issuance (ERROR): the
//! Route would be renewed on every event.
//!
//! # Outcome
//!
//! One line per event of an annotated Route:
//! `certs: issued certificate for web.apps.example.com (Route shop/web), expires
//! 2027-11-27T01:57:00Z` (INFO; with `; replaces the one for old.apps.example.com`, or
//! `renewed ...; the previous one expires ...`), a DEBUG line when up to date (both with the
//! delivery at the renewal window above), and on failure
//! `certs: cannot issue a certificate for web.apps.example.com (Route shop/web): <reason>`:
//!
//! - WARN, and a retry of the event after the host's back-off (`Outcome::with_retry`: 1 s, 2 s,
//!   4 s... at most 5 min, unless a newer event of the Route comes first), when the failure may
//!   pass: CFSSL or the API server could not be reached or timed out, or answered 5xx, 429 or
//!   408. The line ends with `; will retry`;
//! - ERROR, and no retry, when retrying cannot help: the request was denied (no grant), CFSSL
//!   answered another 4xx or something unreadable, the API server refused the patch (403, 404,
//!   422...), or the CA's certificates live too short.
//!
//! A certificate counts as issued only once the patch succeeded: one whose patch failed is
//! thrown away (nothing was recorded), and the retried event issues another. Routes without the
//! annotation, and other kinds, give nothing.
//!
//! The module subscribes to `ADDED` and `MODIFIED` events of `routes.route.openshift.io` by
//! default (its `event-controller.subscribe` section).

mod cfssl;
mod route;
mod settings;
mod time;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use event_controller_guest::http::{self, Request, Response};
use event_controller_guest::{export_plugin, kube, Config, Error, Event, Outcome};
use serde_json::json;

pub use crate::route::ROUTES;
use crate::route::{Due, Route};
pub use crate::settings::Settings;

/// The default subscription (docs/ABI.md §6); the operator's `[plugins.NAME.subscribe]`
/// overrides it key by key.
#[cfg(target_arch = "wasm32")]
#[used]
#[link_section = "event-controller.subscribe"]
static SUBSCRIBE: [u8; 78] =
    *br#"{"resources":["routes.route.openshift.io"],"event_types":["ADDED","MODIFIED"]}"#;

/// What the plugin needs from its host: HTTP to CFSSL, patches of Routes, the time. The real
/// one is [`Wasm`]; tests bring their own.
pub trait Host {
    /// Sends `request` (`http_request`): `Ok` with any status, `Err` when no answer came.
    fn http(&mut self, request: &Request) -> Result<Response, Error>;
    /// Sends `request` (`kube_request`): `Ok` with any status the API server answered, `Err`
    /// when the host did not ask it (not granted, no cluster connection, a timeout).
    fn kube(&mut self, request: &kube::Request) -> Result<kube::Response, Error>;
    /// Now, Unix seconds.
    fn now(&self) -> i64;
}

/// The host's imports and the WASI clock.
pub struct Wasm;

impl Host for Wasm {
    fn http(&mut self, request: &Request) -> Result<Response, Error> {
        http::send(request)
    }

    fn kube(&mut self, request: &kube::Request) -> Result<kube::Response, Error> {
        kube::send(request)
    }

    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
            })
    }
}

/// Why a certificate could not be issued or patched in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Whether it may pass (a WARN and a retry of the event), or needs fixing (an ERROR).
    transient: bool,
    reason: String,
}

impl Failure {
    /// A failure that retrying will not mend.
    fn error(reason: String) -> Failure {
        Failure {
            transient: false,
            reason,
        }
    }
}

/// The shortest wait before a Route's event comes back for renewal.
pub const MIN_RENEWAL_DELAY: Duration = Duration::from_secs(60);

/// How long until the renewal window of a certificate expiring at `not_after` opens, at `now`
/// (Unix seconds), renewing `window` seconds before expiry; at least [`MIN_RENEWAL_DELAY`].
pub fn renewal_delay(not_after: i64, window: i64, now: i64) -> Duration {
    let seconds = not_after.saturating_sub(window).saturating_sub(now);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0)).max(MIN_RENEWAL_DELAY)
}

/// The plugin: its settings and, per Route (uid), the resourceVersion its last patch produced,
/// until an event at least as new arrives.
pub struct Plugin {
    settings: Settings,
    patched: BTreeMap<String, u64>,
}

impl Plugin {
    pub fn new(settings: Settings) -> Plugin {
        Plugin {
            settings,
            patched: BTreeMap::new(),
        }
    }

    /// Handles one watch event.
    pub fn handle(&mut self, event: &Event, host: &mut impl Host) -> Outcome {
        let is_route = event.kind() == Some("Route")
            && event
                .api_version()
                .is_some_and(|v| v.starts_with("route.openshift.io/"));
        if !is_route || !matches!(event.event_type(), Some("ADDED" | "MODIFIED")) {
            return Outcome::none();
        }
        let route: Route = match event.object() {
            Ok(route) => route,
            Err(error) => return Outcome::error(format!("certs: cannot read the Route: {error}")),
        };
        let uid = route.metadata.uid.clone().unwrap_or_default();
        if !route.managed() {
            self.patched.remove(&uid);
            return Outcome::none();
        }
        let who = route.who();
        let Some(host_name) = route.host() else {
            return Outcome::warn(format!(
                "certs: {who} asks for a certificate ({}) but has no spec.host",
                route::MANAGED
            ));
        };
        if route.termination() == Some("passthrough") {
            return Outcome::warn(format!(
                "certs: {who} uses passthrough termination: the certificate is the backend's, \
                 none issued"
            ));
        }
        if self.is_stale(&uid, &route) {
            return Outcome::debug(format!(
                "certs: skipped an event of {who} older than its certificate's patch"
            ));
        }

        let now = host.now();
        let window = self.settings.renew_before_seconds();
        let due = route.due(&host_name, now, window);
        if let Due::UpToDate { not_after } = due {
            return Outcome::debug(format!(
                "certs: certificate for {host_name} up to date ({who}), expires {}",
                time::format_rfc3339(not_after)
            ))
            .with_retry_after(renewal_delay(not_after, window, now));
        }
        match self.renew(&route, &host_name, now, host) {
            Ok((not_after, resource_version)) => {
                if let Some(rv) = resource_version.and_then(|rv| rv.parse().ok()) {
                    self.patched.insert(uid, rv);
                }
                let verb = if matches!(due, Due::Expiring { .. }) {
                    "renewed"
                } else {
                    "issued"
                };
                let because = match due {
                    Due::HostChanged { old } => format!("; replaces the one for {old}"),
                    Due::Expiring { not_after } => format!(
                        "; the previous one {} {}",
                        if not_after <= now {
                            "expired"
                        } else {
                            "expires"
                        },
                        time::format_rfc3339(not_after)
                    ),
                    Due::TlsMissing => "; spec.tls had lost the previous one".to_owned(),
                    Due::StateUnreadable { not_after } => format!(
                        "; the recorded {} {not_after:?} was unreadable",
                        route::CERT_NOT_AFTER
                    ),
                    Due::New | Due::UpToDate { .. } => String::new(),
                };
                Outcome::info(format!(
                    "certs: {verb} certificate for {host_name} ({who}), expires {}{because}",
                    time::format_rfc3339(not_after)
                ))
                .with_retry_after(renewal_delay(not_after, window, now))
            }
            Err(failure) if failure.transient => Outcome::warn(format!(
                "certs: cannot issue a certificate for {host_name} ({who}): {}; will retry",
                failure.reason
            ))
            .with_retry(),
            Err(failure) => Outcome::error(format!(
                "certs: cannot issue a certificate for {host_name} ({who}): {}",
                failure.reason
            )),
        }
    }

    /// True when the plugin patched this Route at a resourceVersion newer than the event's.
    /// An event at least as new ends the watch for that patch.
    fn is_stale(&mut self, uid: &str, route: &Route) -> bool {
        let Some(&patched) = self.patched.get(uid) else {
            return false;
        };
        let event_rv = route
            .metadata
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse::<u64>().ok());
        match event_rv {
            Some(rv) if rv < patched => true,
            _ => {
                self.patched.remove(uid);
                false
            }
        }
    }

    /// Issues a certificate for `host_name` and patches it into the Route: its expiry and the
    /// patched Route's resourceVersion.
    fn renew(
        &self,
        route: &Route,
        host_name: &str,
        now: i64,
        host: &mut impl Host,
    ) -> Result<(i64, Option<String>), Failure> {
        let issued = cfssl::issue(&self.settings, host_name, host)?;
        if issued.not_after - now <= self.settings.renew_before_seconds() {
            return Err(Failure::error(format!(
                "CFSSL issued a certificate that expires {}, within renew_before_days ({}) of \
                 now: it would be renewed on every event; lower renew_before_days or give the \
                 CA's signing profile a longer expiry",
                time::format_rfc3339(issued.not_after),
                self.settings.renew_before_days
            )));
        }
        let ca = cfssl::ca_certificate(&self.settings, host)?;
        let patch = json!({
            "metadata": {"annotations": {
                route::CERT_HOST: host_name,
                route::CERT_NOT_AFTER: time::format_rfc3339(issued.not_after),
                route::CERT_SERIAL: issued.serial,
            }},
            "spec": {"tls": {
                "termination": route.termination().unwrap_or("edge"),
                "certificate": issued.certificate,
                "key": issued.key,
                "caCertificate": ca,
            }},
        });
        let mut request = kube::Request::patch(ROUTES, &route.metadata.name, patch);
        if !route.metadata.namespace.is_empty() {
            request = request.namespace(&route.metadata.namespace);
        }
        match host.kube(&request) {
            Ok(response) if response.is_success() => Ok((
                issued.not_after,
                response.resource_version().map(str::to_owned),
            )),
            Ok(response) => Err(Failure {
                // 5xx, 429, 408: maybe passing; RBAC's 403, 404, 422: something needs fixing.
                transient: response.is_transient(),
                reason: format!(
                    "the API server refused the patch of the Route ({}): {}",
                    response.status, response.message
                ),
            }),
            Err(error) => Err(Failure {
                // A timeout or a connection failure may pass; not granted, no cluster
                // connection or an unreadable answer from the host will not.
                transient: error.is_transient(),
                reason: format!(
                    "the Route was not patched: {}",
                    error
                        .kube_error()
                        .map_or_else(|| error.to_string(), str::to_owned)
                ),
            }),
        }
    }
}

static PLUGIN: Mutex<Option<Plugin>> = Mutex::new(None);

fn init(config: Config) -> Result<(), String> {
    let settings = Settings::from_json(config.raw())?;
    *PLUGIN.lock().unwrap_or_else(PoisonError::into_inner) = Some(Plugin::new(settings));
    Ok(())
}

fn handle_event(event: &Event) -> Outcome {
    let mut plugin = PLUGIN.lock().unwrap_or_else(PoisonError::into_inner);
    match plugin.as_mut() {
        Some(plugin) => plugin.handle(event, &mut Wasm),
        None => Outcome::error("certs: not initialised (init did not run)"),
    }
}

export_plugin!(handle_event, init = init);

#[cfg(test)]
mod tests;
