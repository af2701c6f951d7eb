//! Keeps DNS in line with the cluster's Routes and Ingresses: every host of a Route
//! (`route.openshift.io/v1`, `spec.host`) or an Ingress (`networking.k8s.io/v1`,
//! `spec.rules[].host`) in the configured zone gets an A record pointing at the router's
//! address, in a PowerDNS authoritative server, through its HTTP API and the host's
//! `http_request` capability (docs/ABI.md §6).
//!
//! # What it does
//!
//! For every `ADDED`, `MODIFIED` or `DELETED` event of a Route or an Ingress, it reads the zone
//! (`GET {api_url}/api/v1/servers/{server_id}/zones/{zone}`), works out what has to change, and
//! sends it in one `PATCH` of the same URL (one transaction in PowerDNS):
//!
//! - each host in the zone gets `REPLACE` of its A rrset (`router_address`, `ttl`) and of its
//!   ownership record (below);
//! - each name the object had before but no longer has (a host changed, a rule removed, the
//!   object deleted) gets `DELETE` of both rrsets;
//! - when the zone is already as wanted, **no PATCH is sent**: re-delivering an event changes
//!   nothing, not even the zone's SOA serial (PowerDNS bumps it on every PATCH, even an empty
//!   one).
//!
//! Hosts outside the zone are skipped (INFO); hosts that are not DNS names are skipped (WARN).
//! Wildcard Ingress hosts (`*.shop.apps.example.com`) get a wildcard A record. Only a Route's
//! `spec.host` counts (OpenShift fills it in when the Route is created), not its
//! `status.ingress[].host` nor its `wildcardPolicy`; only an Ingress's `spec.rules[].host`
//! count, not `spec.tls[].hosts`.
//!
//! # Ownership: it never touches records it did not write
//!
//! Beside each A record it writes a TXT record
//! `"heritage=event-controller,owner=Route/shop/web"` at `_ec.<name>`
//! (`_ec-wildcard.<rest>` for `*.<rest>`, since PowerDNS wants `*` first). Before each change
//! it reads the zone, and:
//!
//! - writes a name only if its ownership record names this object, or the name has neither an
//!   ownership record nor any A, AAAA or CNAME record. A name owned by another object, or
//!   holding records written by someone else, is left alone with a WARN saying who has it
//!   (the first Route to claim a host keeps it; the other gets its records on its next event
//!   after the first lets go);
//! - deletes a name only if its ownership record names this object. The names it deletes are
//!   those the zone says the object owns (so a restart, or a `DELETED` that carries only the
//!   object's identity, loses nothing) and those this instance remembers writing for it (its
//!   state: object uid → names), minus those it still wants. A remembered name whose ownership
//!   record is gone or changed is not deleted (WARN).
//!
//! Reading the zone costs one GET per event, with every rrset of the zone. The host caps
//! answers at `max_response_bytes` (1 MiB by default, about 5,000 rrsets); a cut answer is an
//! error, never acted on: raise the cap for bigger zones.
//!
//! # Config
//!
//! ```toml
//! [plugins.plugin_dns.config]
//! api_url = "http://127.0.0.1:8081"   # required: the PowerDNS webserver, without /api/v1
//! server_id = "localhost"             # default localhost
//! zone = "apps.example.com."          # required; must exist in PowerDNS
//! router_address = "10.0.0.10"        # required: IPv4 of the router every host points at
//! ttl = 60                            # default 60
//!
//! [plugins.plugin_dns.capabilities.http]
//! allow = ["http://127.0.0.1:8081/api/v1/servers/localhost/zones/apps.example.com."]
//! [plugins.plugin_dns.capabilities.http.headers]
//! X-API-Key = { env = "PDNS_API_KEY" }   # the API key stays with the host
//! ```
//!
//! `init` refuses a config without `api_url`, `zone` or `router_address`, or with an invalid or
//! unknown key, naming them.
//!
//! # Outcome
//!
//! One line per event, naming the object, e.g.
//! `dns: web.apps.example.com. A 10.0.0.10 (Route shop/web)`,
//! `dns: shop.apps.example.com. A 10.0.0.10; removed web.apps.example.com. (Route shop/web)`,
//! `dns: web.apps.example.com. A 10.0.0.10 already in place (Route shop/web)`. INFO, or WARN
//! when a host was skipped as invalid or taken. Objects without hosts or records give a DEBUG
//! line.
//!
//! When the zone cannot be read or changed, nothing is changed and the line says why:
//!
//! - WARN, and a retry of the event (`Outcome::with_retry`: the host delivers it again after
//!   its back-off, 1 s, 2 s, 4 s... at most 5 min, unless a newer event of the object comes
//!   first), when the failure may pass: no answer (refused connection, timeout), or PowerDNS
//!   answered 5xx, 429 or 408. The line ends with `will retry`;
//! - ERROR, and no retry, when retrying cannot help: the request was denied (no grant), PowerDNS
//!   answered another 4xx (a wrong key, a missing zone, a rejected change), or its answer was cut
//!   or unreadable.
//!
//! The per-instance state is updated only after a successful PATCH, and the zone is read again
//! on every delivery, so the retried event finds what is left to do (and a PATCH that did land
//! although its answer was lost is then found in place).
//!
//! The module subscribes to `routes.route.openshift.io` and `ingresses.networking.k8s.io` by
//! default (its `event-controller.subscribe` section); other kinds are ignored.

mod names;
mod objects;
mod settings;
mod zone;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use event_controller_guest::http::{self, Request, Response};
use event_controller_guest::{export_plugin, Config, Error, Event, Level, Outcome};

use crate::objects::{Kind, Object};
pub use crate::settings::Settings;
use crate::zone::{Item, Patch, ZoneView};

/// The default subscription (docs/ABI.md §6); the operator's `[plugins.NAME.subscribe]`
/// overrides it key by key.
#[cfg(target_arch = "wasm32")]
#[used]
#[link_section = "event-controller.subscribe"]
static SUBSCRIBE: [u8; 73] =
    *br#"{"resources":["routes.route.openshift.io","ingresses.networking.k8s.io"]}"#;

/// How requests reach PowerDNS: the host's `http_request`, or a recorder in tests.
pub trait Transport {
    /// Sends `request`: `Ok` with any status the server answered, `Err` when no answer came
    /// (denied, refused, timed out).
    fn send(&mut self, request: &Request) -> Result<Response, Error>;
}

/// The host's `http_request` capability.
pub struct Host;

impl Transport for Host {
    fn send(&mut self, request: &Request) -> Result<Response, Error> {
        http::send(request)
    }
}

/// The plugin: its settings and, per object (uid), the names it wrote for it.
pub struct Plugin {
    settings: Settings,
    held: BTreeMap<String, Vec<String>>,
}

/// Why the zone could not be read or changed.
struct Failure {
    /// Whether it may pass: a WARN and a retry of the event, else an ERROR.
    transient: bool,
    reason: String,
}

impl Failure {
    fn permanent(reason: String) -> Failure {
        Failure {
            transient: false,
            reason,
        }
    }

    /// The event's outcome: `message` (which ends with `(who)`), WARN with a retry or ERROR.
    fn outcome(&self, message: String, who: &str) -> Outcome {
        if self.transient {
            Outcome::warn(format!("{message}; will retry ({who})")).with_retry()
        } else {
            Outcome::error(format!("{message} ({who})"))
        }
    }
}

impl Plugin {
    pub fn new(settings: Settings) -> Plugin {
        Plugin {
            settings,
            held: BTreeMap::new(),
        }
    }

    /// Handles one watch event, sending requests through `transport`.
    pub fn handle(&mut self, event: &Event, transport: &mut impl Transport) -> Outcome {
        let (Some(kind), Some(event_type)) = (
            Kind::of(
                event.kind().unwrap_or_default(),
                event.api_version().unwrap_or_default(),
            ),
            event.event_type(),
        ) else {
            return Outcome::none();
        };
        let deleted = match event_type {
            "ADDED" | "MODIFIED" => false,
            "DELETED" => true,
            _ => return Outcome::none(),
        };
        let object = match Object::read(event, kind) {
            Ok(object) => object,
            Err(error) => {
                return Outcome::error(format!("dns: cannot read the {}: {error}", kind.as_str()))
            }
        };
        let who = objects::display_owner(&object.owner);
        let hosts: &[String] = if deleted { &[] } else { &object.hosts };

        let zone = match self.read_zone(transport) {
            Ok(zone) => zone,
            Err(failure) => {
                let message = format!(
                    "dns: cannot read zone {}: {}",
                    self.settings.zone, failure.reason
                );
                return failure.outcome(message, &who);
            }
        };
        let remembered = self.held.get(&object.key).cloned().unwrap_or_default();
        let plan = zone::plan(&self.settings, &object.owner, hosts, &remembered, &zone);
        let summary = self.describe(&plan.items);

        if !plan.changes.is_empty() {
            if let Err(failure) = self.patch(&plan.changes, transport) {
                let message = format!(
                    "dns: cannot update zone {}: {}; not applied: {summary}",
                    self.settings.zone, failure.reason
                );
                return failure.outcome(message, &who);
            }
        }
        if plan.held.is_empty() {
            self.held.remove(&object.key);
        } else {
            self.held.insert(object.key, plan.held);
        }

        if plan.items.is_empty() {
            let nothing = if deleted {
                "no records to remove"
            } else {
                "no hosts"
            };
            return Outcome::debug(format!("dns: {nothing} ({who})"));
        }
        let level = if plan.items.iter().any(Item::is_warning) {
            Level::Warn
        } else {
            Level::Info
        };
        Outcome::new(level, format!("dns: {summary} ({who})"))
    }

    /// The zone's rrsets.
    fn read_zone(&self, transport: &mut impl Transport) -> Result<ZoneView, Failure> {
        let request = Request::get(self.settings.zone_url()).header("Accept", "application/json");
        let response = exchange(transport, &request)?;
        if response.truncated {
            return Err(Failure::permanent(format!(
                "the answer was cut at the host's max_response_bytes ({} bytes kept): raise \
                 [plugins.NAME.capabilities.http] max_response_bytes",
                response.body.len()
            )));
        }
        let doc = response
            .json()
            .map_err(|error| Failure::permanent(format!("{error}: {}", response.excerpt())))?;
        Ok(ZoneView::from_doc(doc))
    }

    /// Sends the changes in one PATCH.
    fn patch(
        &self,
        changes: &[zone::Change],
        transport: &mut impl Transport,
    ) -> Result<(), Failure> {
        let request = Request::new("PATCH", self.settings.zone_url())
            .json_body(&Patch { rrsets: changes })
            .map_err(|error| Failure::permanent(error.to_string()))?;
        exchange(transport, &request).map(drop)
    }

    /// The items as one line: `web.apps.example.com. A 10.0.0.10; removed old.apps.example.com.`.
    fn describe(&self, items: &[Item]) -> String {
        let address = self.settings.router_address;
        let zone = &self.settings.zone;
        items
            .iter()
            .map(|item| match item {
                Item::Set(name) => format!("{name} A {address}"),
                Item::Unchanged(name) => format!("{name} A {address} already in place"),
                Item::Removed(name) => format!("removed {name}"),
                Item::OutOfZone(host) => format!("skipped {host}: not in zone {zone}"),
                Item::Invalid(host, reason) => format!("skipped {host:?}: {reason}"),
                Item::Taken(name, by) => format!("left {name} alone: {by}"),
                Item::Disowned(name) => {
                    format!("left {name} alone: its ownership record no longer names this object")
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Sends `request`; a 2xx answer is `Ok`, anything else a [`Failure`], transient or not.
fn exchange(transport: &mut impl Transport, request: &Request) -> Result<Response, Failure> {
    let what = format!("{} {}", request.method, request.url);
    match transport.send(request) {
        Ok(response) if response.is_success() => Ok(response),
        Ok(response) => Err(Failure {
            // Other 4xx: the key, the grant, the zone or the request is wrong.
            transient: response.is_transient(),
            reason: format!(
                "{what} answered {}: {}",
                response.status,
                response.excerpt()
            ),
        }),
        Err(error) => Err(Failure {
            // No reason: the host's answer is unreadable, a bug rather than a passing failure.
            transient: error.is_transient(),
            reason: format!("{what}: {error}"),
        }),
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
        Some(plugin) => plugin.handle(event, &mut Host),
        None => Outcome::error("dns: not initialised (init did not run)"),
    }
}

export_plugin!(handle_event, init = init);

#[cfg(test)]
mod tests;
