//! Namespace defaults: every Namespace whose labels match the config's `namespace_selector`
//! gets a NetworkPolicy and a ResourceQuota named `ns-defaults`, which the plugin owns (label
//! `app.kubernetes.io/managed-by: ns-defaults`) and keeps as configured; when the namespace
//! stops matching, the plugin deletes them, and only them. It writes through the host's
//! `kube_request` capability with the SDK's loop-safe helpers (`kube::ensure`,
//! `kube::remove_owned`: compare before writing, touch only what carries the owner label).
//! See `README.md` beside this crate for the config and the grants.
//!
//! # What it does, event by event
//!
//! - **Namespace `ADDED` or `MODIFIED`, matching** (and not terminating): `ensure` of each
//!   configured object: created when absent, applied when a configured field differs, nothing
//!   written when equal. An object of that name without the owner label is left alone, with a
//!   WARN.
//! - **Namespace `ADDED` or `MODIFIED`, not matching**: `remove_owned` of each object: deleted
//!   when it carries the owner label, left alone otherwise. A namespace it found clean is not
//!   asked again until it matches once more.
//! - **NetworkPolicy or ResourceQuota of that name, carrying the owner label** (`ADDED`,
//!   `MODIFIED`, `DELETED`): in a matching namespace, `ensure` of that object: a deleted one is
//!   recreated, one changed by hand is put back, and the event caused by the plugin's own write
//!   finds it equal and writes nothing. In a namespace that no longer matches, it is removed.
//!   In a terminating or deleted namespace, nothing is done.
//! - Everything else: nothing (no request).
//!
//! Every event is handled from the cluster's current state (a `get` before any write), so a
//! re-delivered event, a restart or a second replica writes nothing when all is in place.
//!
//! # Outcome
//!
//! One line per event that led to requests, `ns_defaults: namespace shop: created
//! NetworkPolicy shop/ns-defaults; ResourceQuota shop/ns-defaults up to date`: INFO when it
//! wrote, DEBUG when nothing needed writing, WARN when an object is not its own (left alone) or
//! a failure may pass (the API server unreachable, 5xx, 429, a 409 race, the write throttle:
//! the event is delivered again later, `Outcome::with_retry`), ERROR when a request was denied
//! or refused for good (403, 422).
//!
//! The module subscribes to `namespaces`, `networkpolicies.networking.k8s.io` and
//! `resourcequotas` (its `event-controller.subscribe` section).

mod settings;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use event_controller_guest::kube::{self, Ensured, Removed};
use event_controller_guest::{export_plugin, Config, Error, Event, Level, Outcome};
use serde::Deserialize;
use serde_json::{json, Value};

pub use crate::settings::{Settings, DEFAULT_NAME};

/// The module's default subscription, the payload of its `event-controller.subscribe` section.
pub const SUBSCRIPTION: &[u8] =
    br#"{"resources":["namespaces","networkpolicies.networking.k8s.io","resourcequotas"]}"#;

/// The default subscription (docs/ABI.md §6); the operator's `[plugins.NAME.subscribe]`
/// overrides it key by key.
#[cfg(target_arch = "wasm32")]
#[used]
#[link_section = "event-controller.subscribe"]
static SUBSCRIBE: [u8; SUBSCRIPTION.len()] = {
    let mut bytes = [0u8; SUBSCRIPTION.len()];
    let mut i = 0;
    while i < bytes.len() {
        bytes[i] = SUBSCRIPTION[i];
        i += 1;
    }
    bytes
};

/// One of the two kinds of object the plugin keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// The resource as the grant names it.
    pub resource: &'static str,
    pub api_version: &'static str,
    pub kind: &'static str,
}

/// NetworkPolicies.
pub const NETWORK_POLICY: Kind = Kind {
    resource: "networkpolicies.networking.k8s.io",
    api_version: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
};

/// ResourceQuotas.
pub const RESOURCE_QUOTA: Kind = Kind {
    resource: "resourcequotas",
    api_version: "v1",
    kind: "ResourceQuota",
};

/// The fields of an event's object the plugin reads.
#[derive(Debug, Default, Deserialize)]
struct Object {
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    status: Status,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default, rename = "deletionTimestamp")]
    deletion_timestamp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Status {
    #[serde(default)]
    phase: Option<String>,
}

impl Object {
    fn terminating(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
            || self.status.phase.as_deref() == Some("Terminating")
    }
}

/// What the plugin last found of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// It matches the selector.
    Matching,
    /// It does not match, and holds none of the plugin's objects.
    Clean,
}

/// The plugin: its settings and what it knows of the namespaces seen.
pub struct Plugin {
    settings: Settings,
    namespaces: BTreeMap<String, Seen>,
}

/// What one request did, for the outcome line.
struct Step {
    level: Level,
    retry: bool,
    text: String,
}

impl Step {
    fn new(level: Level, text: String) -> Step {
        Step {
            level,
            retry: false,
            text,
        }
    }

    /// A failure: WARN and a retry when it may pass, ERROR otherwise.
    fn failed(transient: bool, text: String) -> Step {
        if transient {
            Step {
                level: Level::Warn,
                retry: true,
                text: format!("{text}; will retry"),
            }
        } else {
            Step::new(Level::Error, text)
        }
    }

    fn no_answer(what: &str, error: &Error) -> Step {
        let reason = error
            .kube_error()
            .map_or_else(|| error.to_string(), str::to_owned);
        Step::failed(error.is_transient(), format!("cannot {what}: {reason}"))
    }

    fn refused(what: &str, response: &kube::Response) -> Step {
        // 409: someone else wrote it in between; the next look sees what they did.
        let transient = response.is_transient() || response.status == 409;
        Step::failed(
            transient,
            format!(
                "cannot {what}: the API server answered {}: {}",
                response.status, response.message
            ),
        )
    }
}

/// One outcome for the steps of an event: the most severe level, a retry if any step asks.
fn outcome(namespace: &str, steps: Vec<Step>) -> Outcome {
    let Some(level) = steps.iter().map(|s| s.level).max() else {
        return Outcome::none();
    };
    let retry = steps.iter().any(|s| s.retry);
    let text: Vec<String> = steps.into_iter().map(|s| s.text).collect();
    let outcome = Outcome::new(
        level,
        format!("ns_defaults: namespace {namespace}: {}", text.join("; ")),
    );
    if retry {
        outcome.with_retry()
    } else {
        outcome
    }
}

impl Plugin {
    pub fn new(settings: Settings) -> Plugin {
        Plugin {
            settings,
            namespaces: BTreeMap::new(),
        }
    }

    /// The kinds the config asks for, with their specs.
    fn kinds(&self) -> Vec<(Kind, &Value)> {
        [
            (NETWORK_POLICY, &self.settings.network_policy),
            (RESOURCE_QUOTA, &self.settings.resource_quota),
        ]
        .into_iter()
        .filter_map(|(kind, spec)| spec.as_ref().map(|spec| (kind, spec)))
        .collect()
    }

    /// The object of `kind` as it should be in `namespace`.
    fn desired(&self, kind: Kind, spec: &Value, namespace: &str) -> Value {
        json!({
            "apiVersion": kind.api_version,
            "kind": kind.kind,
            "metadata": {
                "name": self.settings.name,
                "namespace": namespace,
                "labels": {kube::OWNER_LABEL: self.settings.owner},
            },
            "spec": spec,
        })
    }

    /// Handles one watch event.
    pub fn handle(&mut self, event: &Event) -> Outcome {
        let kind = match (event.api_version(), event.kind()) {
            (Some("v1"), Some("Namespace")) => None,
            (Some(v), Some(k)) if v == NETWORK_POLICY.api_version && k == NETWORK_POLICY.kind => {
                Some(NETWORK_POLICY)
            }
            (Some(v), Some(k)) if v == RESOURCE_QUOTA.api_version && k == RESOURCE_QUOTA.kind => {
                Some(RESOURCE_QUOTA)
            }
            _ => return Outcome::none(),
        };
        let event_type = event.event_type().unwrap_or_default().to_owned();
        let object: Object = match event.object() {
            Ok(object) => object,
            Err(error) => {
                return Outcome::error(format!("ns_defaults: cannot read the object: {error}"))
            }
        };
        match kind {
            None => self.namespace_event(&event_type, &object),
            Some(kind) => self.owned_object_event(kind, &event_type, &object),
        }
    }

    fn namespace_event(&mut self, event_type: &str, namespace: &Object) -> Outcome {
        let name = namespace.metadata.name.as_str();
        if event_type == "DELETED" || namespace.terminating() {
            // Its objects go with it.
            self.namespaces.remove(name);
            return Outcome::none();
        }
        if self.settings.selects(&namespace.metadata.labels) {
            self.ensure_all(name)
        } else if self.namespaces.get(name) == Some(&Seen::Clean) {
            Outcome::none()
        } else {
            self.remove_all(name)
        }
    }

    /// An event of a NetworkPolicy or ResourceQuota: only the plugin's own object matters.
    fn owned_object_event(&mut self, kind: Kind, event_type: &str, object: &Object) -> Outcome {
        let owned = object.metadata.labels.get(kube::OWNER_LABEL) == Some(&self.settings.owner);
        if object.metadata.name != self.settings.name || !owned {
            return Outcome::none();
        }
        let Some(spec) = self
            .kinds()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, spec)| spec.clone())
        else {
            // A kind the config no longer names: left as it is.
            return Outcome::none();
        };
        let namespace = object.metadata.namespace.clone();
        // A deletion may be its namespace's: ask the cluster whether that is terminating
        // rather than trust what the plugin last saw (the watches of different resources are
        // not ordered with each other).
        let known = (event_type != "DELETED")
            .then(|| self.namespaces.get(&namespace))
            .flatten();
        let matching = match known {
            Some(Seen::Matching) => Some(true),
            _ => match self.look_up_namespace(&namespace) {
                Ok(matching) => matching,
                Err(step) => return outcome(&namespace, vec![step]),
            },
        };
        match matching {
            // Gone or terminating: nothing to keep.
            None => Outcome::none(),
            Some(true) => {
                self.namespaces.insert(namespace.clone(), Seen::Matching);
                let step = self.ensure_one(kind, &spec, &namespace);
                outcome(&namespace, vec![step])
            }
            Some(false) => {
                self.namespaces.remove(&namespace);
                let step = self.remove_one(kind, &namespace);
                outcome(&namespace, vec![step])
            }
        }
    }

    /// Whether `namespace` matches (`None`: it is gone or terminating), read from the cluster.
    fn look_up_namespace(&self, namespace: &str) -> Result<Option<bool>, Step> {
        let what = format!("read namespace {namespace}");
        let response = kube::Request::get("namespaces", namespace)
            .send()
            .map_err(|e| Step::no_answer(&what, &e))?;
        if response.status == 404 {
            return Ok(None);
        }
        if !response.is_success() {
            return Err(Step::refused(&what, &response));
        }
        let object: Object = response
            .object()
            .map_err(|e| Step::new(Level::Error, format!("cannot {what}: {e}")))?;
        if object.terminating() {
            return Ok(None);
        }
        Ok(Some(self.settings.selects(&object.metadata.labels)))
    }

    fn ensure_all(&mut self, namespace: &str) -> Outcome {
        let steps: Vec<Step> = self
            .kinds()
            .into_iter()
            .map(|(kind, spec)| self.ensure_one(kind, spec, namespace))
            .collect();
        self.namespaces.insert(namespace.to_owned(), Seen::Matching);
        outcome(namespace, steps)
    }

    fn remove_all(&mut self, namespace: &str) -> Outcome {
        let steps: Vec<Step> = [NETWORK_POLICY, RESOURCE_QUOTA]
            .into_iter()
            .map(|kind| self.remove_one(kind, namespace))
            .collect();
        if steps.iter().all(|s| s.level != Level::Error && !s.retry) {
            self.namespaces.insert(namespace.to_owned(), Seen::Clean);
        } else {
            self.namespaces.remove(namespace);
        }
        // Nothing to say about a namespace that never had them.
        let steps: Vec<Step> = steps
            .into_iter()
            .filter(|s| s.level != Level::Trace)
            .collect();
        outcome(namespace, steps)
    }

    fn ensure_one(&self, kind: Kind, spec: &Value, namespace: &str) -> Step {
        let object = format!("{} {namespace}/{}", kind.kind, self.settings.name);
        let desired = self.desired(kind, spec, namespace);
        match kube::ensure(kind.resource, desired, &self.settings.owner) {
            Ok(Ensured::Created(_)) => Step::new(Level::Info, format!("created {object}")),
            Ok(Ensured::Updated(_)) => Step::new(Level::Info, format!("updated {object}")),
            Ok(Ensured::Unchanged(_)) => Step::new(Level::Debug, format!("{object} up to date")),
            Ok(Ensured::NotOwned(_)) => Step::new(
                Level::Warn,
                format!(
                    "{object} exists without the label {}: not ours, left alone",
                    kube::owner_selector(&self.settings.owner)
                ),
            ),
            Ok(Ensured::Refused { verb, response }) => {
                Step::refused(&format!("{verb} {object}"), &response)
            }
            Err(error) => Step::no_answer(&format!("keep {object}"), &error),
        }
    }

    fn remove_one(&self, kind: Kind, namespace: &str) -> Step {
        let object = format!("{} {namespace}/{}", kind.kind, self.settings.name);
        let removed = kube::remove_owned(
            kind.resource,
            Some(namespace),
            &self.settings.name,
            &self.settings.owner,
        );
        match removed {
            Ok(Removed::Deleted) => Step::new(
                Level::Info,
                format!("deleted {object} (the namespace no longer matches)"),
            ),
            // Nothing there: nothing to say.
            Ok(Removed::Absent) => Step::new(Level::Trace, String::new()),
            Ok(Removed::NotOwned(_)) => {
                Step::new(Level::Debug, format!("{object} is not ours: left alone"))
            }
            Ok(Removed::Refused { verb, response }) => {
                Step::refused(&format!("{verb} {object}"), &response)
            }
            Err(error) => Step::no_answer(&format!("remove {object}"), &error),
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
        Some(plugin) => plugin.handle(event),
        None => Outcome::error("ns_defaults: not initialised (init did not run)"),
    }
}

export_plugin!(handle_event, init = init);

#[cfg(test)]
mod tests;
