//! Which events a plugin sees: its subscription filter.
//!
//! A subscription is written as `[plugins.NAME.subscribe]` in the config file, or as JSON with
//! the same keys in the module's [`CUSTOM_SECTION`] custom section (the module's defaults).
//! [`Subscription::resolve`] merges the two key by key, the config file winning, and compiles the
//! result once; [`Subscription::matches`] then decides each event from the identity the host has
//! already read ([`WatchEvent::meta`]) and, only when a label selector is set, from
//! `metadata.labels` ([`WatchEvent::labels`]). The rest of the object is never parsed.
//!
//! An event matches when it passes every key that is set. A key that is absent, an empty list or
//! an empty `label_selector` puts no restriction on the events (so the config file can lift a
//! restriction the module declares with `resources = []`). No subscription at all
//! ([`Subscription::all`]) matches every event.
//!
//! - `resources`: the event's kind must be named by one entry. An entry is `NAME`,
//!   `NAME.GROUP` or `NAME.VERSION.GROUP`. `NAME` names a kind when it is the kind itself or
//!   the plural resource name the Kubernetes RESTMapper guesses from it, case-insensitively: the
//!   lowercase kind plus `es` when it ends in `s`, `x`, `z`, `ch` or `sh`; with a final `y`
//!   after a consonant replaced by `ies`; else plus `s` (`Pod`, `pod`, `pods`; `Ingress`,
//!   `ingresses`; `NetworkPolicy`, `networkpolicies`). As in kube-rs, `Endpoints` and
//!   `EndpointSlice` are their own plurals (`endpoints`, `endpointslices`) and the metrics kinds
//!   `NodeMetrics` and `PodMetrics` are `nodes` and `pods`. Whatever follows the first dot must
//!   be the event's API group, or its version followed by `.GROUP` (just the version for the
//!   core group, whose name is empty): `pods` and `pods.v1` match apiVersion `v1`,
//!   `deployments.apps` and `deployments.v1.apps` match `apps/v1`,
//!   `ingresses.v1.networking.k8s.io` matches `networking.k8s.io/v1`. Short names (`po`,
//!   `deploy`) and irregular plurals of custom resources are not known to the host: such an
//!   entry is accepted but matches nothing. An entry that is empty, contains whitespace or has an
//!   empty dot-separated part is an error.
//! - `event_types`: the event's type must be one of `ADDED`, `MODIFIED`, `DELETED`, written in
//!   any case. Any other name is an error.
//! - `namespaces`: the event's namespace must be one of these. A cluster-scoped object has the
//!   namespace `""`: it passes only when the list contains `""`.
//! - `exclude_namespaces`: the event's namespace must not be one of these (`""` excludes
//!   cluster-scoped objects). Exclusion wins over `namespaces`.
//! - `label_selector`: a Kubernetes equality- and set-based label selector: comma-separated
//!   requirements, all of which must hold: `k=v` or `k==v` (label `k` is `v`), `k!=v` (`k` is
//!   absent or not `v`), `k in (v1,v2)`, `k notin (v1,v2)` (absent or none of them), `k` (present),
//!   `!k` (absent). Commas inside parentheses separate set values; whitespace around tokens is
//!   ignored; `k=` means the empty value. Keys and values must be valid Kubernetes label keys and
//!   values; the `<` and `>` operators are not supported. Errors name the requirement and the
//!   byte offset in the selector. An event whose labels cannot be read does not match.
//!
//! Checks run cheapest first (type, namespace, kind, then labels) and stop at the first that
//! fails; none allocates except reading the labels.

mod selector;

pub use selector::LabelSelector;

use self::selector::{parse_selector, Requirement};
use crate::event::{EventType, WatchEvent};
use serde::Deserialize;
use std::fmt::Write as _;

/// A subscription as written in `[plugins.NAME.subscribe]` or in a module's custom section.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSection {
    /// Resources, kubectl-style or by kind.
    pub resources: Option<Vec<String>>,
    /// `ADDED`, `MODIFIED`, `DELETED`.
    pub event_types: Option<Vec<String>>,
    /// Namespaces to include.
    pub namespaces: Option<Vec<String>>,
    /// Namespaces to exclude.
    pub exclude_namespaces: Option<Vec<String>>,
    /// A label selector.
    pub label_selector: Option<String>,
}

/// The custom section a module may carry with its default subscription, as JSON with the same keys.
pub const CUSTOM_SECTION: &str = "event-controller.subscribe";

/// Why a subscription or a module's default subscription is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// An `event_types` entry other than ADDED, MODIFIED or DELETED.
    #[error("unknown event type {0:?} in event_types (expected ADDED, MODIFIED or DELETED)")]
    InvalidEventType(String),
    /// A `resources` entry that cannot name a resource.
    #[error("invalid resource {resource:?} in resources: {reason}")]
    InvalidResource {
        /// The entry as written.
        resource: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `label_selector` that does not parse.
    #[error("invalid label selector {selector:?}: {reason} in {term:?} at byte {offset}")]
    InvalidLabelSelector {
        /// The whole selector.
        selector: String,
        /// The requirement (comma-separated term) at fault.
        term: String,
        /// The byte offset in `selector` of the fault.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The module's custom section is not a subscription in JSON.
    #[error("custom section {CUSTOM_SECTION:?} is not a valid subscription: {0}")]
    CustomSectionJson(String),
    /// The module carries more than one custom section.
    #[error("the module has more than one {CUSTOM_SECTION:?} custom section")]
    DuplicateCustomSection,
    /// The module's sections could not be walked.
    #[error("cannot read the module's sections: {0}")]
    Module(String),
}

/// Every event type: the mask of an unrestricted subscription.
const ANY_TYPE: u8 = u8::MAX;

fn type_bit(event_type: EventType) -> u8 {
    match event_type {
        EventType::Added => 1,
        EventType::Modified => 1 << 1,
        EventType::Deleted => 1 << 2,
        EventType::Bookmark => 1 << 3,
        EventType::Error => 1 << 4,
    }
}

/// The types a subscription may name, in the order [`Subscription::describe`] lists them.
const SUBSCRIBABLE: [EventType; 3] = [EventType::Added, EventType::Modified, EventType::Deleted];

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// Any of these; empty for any resource.
    resources: Vec<ResourcePattern>,
    /// Bits of [`type_bit`]; [`ANY_TYPE`] when unrestricted.
    event_types: u8,
    /// Any of these (`""` for cluster-scoped); empty for any namespace.
    namespaces: Vec<String>,
    /// None of these.
    exclude_namespaces: Vec<String>,
    /// All of these.
    labels: Vec<Requirement>,
}

impl Subscription {
    /// The subscription that matches every event.
    pub fn all() -> Subscription {
        Subscription {
            resources: Vec::new(),
            event_types: ANY_TYPE,
            namespaces: Vec::new(),
            exclude_namespaces: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// True when nothing is filtered out.
    pub fn is_all(&self) -> bool {
        *self == Subscription::all()
    }

    /// Compiles the module's defaults and the config file's subscription.
    ///
    /// `config` keys override `module` keys one by one (a key absent in config keeps the module's
    /// value). With neither, the result is [`Subscription::all`].
    pub fn resolve(
        module: Option<&SubscriptionSection>,
        config: Option<&SubscriptionSection>,
    ) -> Result<Subscription, SubscriptionError> {
        fn pick<'a, T>(
            module: Option<&'a SubscriptionSection>,
            config: Option<&'a SubscriptionSection>,
            key: impl Fn(&'a SubscriptionSection) -> Option<&'a T>,
        ) -> Option<&'a T> {
            config.and_then(&key).or_else(|| module.and_then(&key))
        }
        let list = |key: fn(&SubscriptionSection) -> Option<&Vec<String>>| {
            pick(module, config, key).map_or(&[][..], Vec::as_slice)
        };

        let resources = list(|s| s.resources.as_ref())
            .iter()
            .map(|entry| ResourcePattern::parse(entry))
            .collect::<Result<Vec<_>, _>>()?;
        let mut event_types = ANY_TYPE;
        let types = list(|s| s.event_types.as_ref());
        if !types.is_empty() {
            event_types = 0;
            for name in types {
                let event_type = SUBSCRIBABLE
                    .into_iter()
                    .find(|t| t.as_str().eq_ignore_ascii_case(name))
                    .ok_or_else(|| SubscriptionError::InvalidEventType(name.clone()))?;
                event_types |= type_bit(event_type);
            }
        }
        let labels = match pick(module, config, |s| s.label_selector.as_ref()) {
            Some(selector) => parse_selector(selector)?,
            None => Vec::new(),
        };
        Ok(Subscription {
            resources,
            event_types,
            namespaces: list(|s| s.namespaces.as_ref()).to_vec(),
            exclude_namespaces: list(|s| s.exclude_namespaces.as_ref()).to_vec(),
            labels,
        })
    }

    /// True when the plugin should see `event`; see the module documentation for the rules.
    pub fn matches(&self, event: &WatchEvent) -> bool {
        let meta = event.meta();
        if self.event_types & type_bit(meta.event_type) == 0 {
            return false;
        }
        let namespace = meta.namespace().unwrap_or("");
        if !self.namespaces.is_empty() && !self.namespaces.iter().any(|ns| ns == namespace) {
            return false;
        }
        if self.exclude_namespaces.iter().any(|ns| ns == namespace) {
            return false;
        }
        if !self.resources.is_empty()
            && !self
                .resources
                .iter()
                .any(|r| r.matches(meta.kind(), meta.api_version()))
        {
            return false;
        }
        if self.labels.is_empty() {
            return true;
        }
        match event.labels() {
            Ok(labels) => self.labels.iter().all(|r| r.matches(&labels)),
            Err(_) => false,
        }
    }

    /// One line for logs, e.g. "resources=pods,routes types=ADDED,DELETED namespaces=shop
    /// -kube-system labels=app=web" or "all events".
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.resources.is_empty() {
            let names: Vec<&str> = self.resources.iter().map(|r| r.written.as_str()).collect();
            parts.push(format!("resources={}", names.join(",")));
        }
        if self.event_types != ANY_TYPE {
            let names: Vec<&str> = SUBSCRIBABLE
                .into_iter()
                .filter(|t| self.event_types & type_bit(*t) != 0)
                .map(EventType::as_str)
                .collect();
            parts.push(format!("types={}", names.join(",")));
        }
        if !self.namespaces.is_empty() || !self.exclude_namespaces.is_empty() {
            let show = |ns: &String| {
                if ns.is_empty() {
                    "\"\"".to_owned()
                } else {
                    ns.clone()
                }
            };
            let include: Vec<String> = self.namespaces.iter().map(show).collect();
            let exclude: Vec<String> = self
                .exclude_namespaces
                .iter()
                .map(|ns| format!("-{}", show(ns)))
                .collect();
            let lists: Vec<String> = [include, exclude]
                .into_iter()
                .filter(|l| !l.is_empty())
                .map(|l| l.join(","))
                .collect();
            parts.push(format!("namespaces={}", lists.join(" ")));
        }
        if !self.labels.is_empty() {
            let mut selector = String::new();
            for (i, requirement) in self.labels.iter().enumerate() {
                if i > 0 {
                    selector.push(',');
                }
                let _ = write!(selector, "{requirement}");
            }
            parts.push(format!("labels={selector}"));
        }
        if parts.is_empty() {
            "all events".to_owned()
        } else {
            parts.join(" ")
        }
    }
}

/// The module's default subscription from its `event-controller.subscribe` custom section (JSON),
/// if any. Only the section headers are walked (with wasmparser) and only that custom section is
/// read: other sections, function bodies included, are stepped over without being decoded or
/// validated. In a component, only a top-level section counts: nested modules are stepped over
/// whole. More than one such section is an error.
pub fn module_defaults(wasm: &[u8]) -> Result<Option<SubscriptionSection>, SubscriptionError> {
    use wasmparser::{Chunk, Parser, Payload};

    let module_error = |e: wasmparser::BinaryReaderError| SubscriptionError::Module(e.to_string());
    let truncated = || SubscriptionError::Module("section extends past the end".to_owned());
    let mut parser = Parser::new(0);
    let mut rest = wasm;
    let mut found: Option<&[u8]> = None;
    loop {
        let (consumed, payload) = match parser.parse(rest, true).map_err(module_error)? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            Chunk::NeedMoreData(_) => return Err(truncated()),
        };
        rest = rest.get(consumed..).ok_or_else(truncated)?;
        match payload {
            Payload::CustomSection(section) if section.name() == CUSTOM_SECTION => {
                let previous = found.replace(section.data());
                if previous.is_some() {
                    return Err(SubscriptionError::DuplicateCustomSection);
                }
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                // A component's nested modules and components are stepped over whole (the parser
                // has already counted their bytes): only its own top-level sections count.
                rest = rest.get(unchecked_range.len()..).ok_or_else(truncated)?;
            }
            Payload::CodeSectionStart { size, .. } => {
                // Step over the function bodies instead of reading them one by one.
                parser.skip_section();
                let size = usize::try_from(size).map_err(|_| truncated())?;
                rest = rest.get(size..).ok_or_else(truncated)?;
            }
            Payload::End(_) => break,
            _ => {}
        }
    }
    found
        .map(|json| {
            serde_json::from_slice(json)
                .map_err(|e| SubscriptionError::CustomSectionJson(e.to_string()))
        })
        .transpose()
}

/// One `resources` entry.
#[derive(Debug, Clone, PartialEq)]
struct ResourcePattern {
    /// As written, for [`Subscription::describe`].
    written: String,
    /// The part before the first dot, ASCII-lowercased.
    name: String,
    /// The part after the first dot, ASCII-lowercased: a group or `version.group`.
    api: Option<String>,
}

impl ResourcePattern {
    fn parse(entry: &str) -> Result<ResourcePattern, SubscriptionError> {
        let invalid = |reason| SubscriptionError::InvalidResource {
            resource: entry.to_owned(),
            reason,
        };
        if entry.is_empty() {
            return Err(invalid("empty"));
        }
        if entry.chars().any(char::is_whitespace) {
            return Err(invalid("contains whitespace"));
        }
        if entry.split('.').any(str::is_empty) {
            return Err(invalid("empty part between dots"));
        }
        let lower = entry.to_ascii_lowercase();
        let (name, api) = match lower.split_once('.') {
            Some((name, api)) => (name.to_owned(), Some(api.to_owned())),
            None => (lower, None),
        };
        Ok(ResourcePattern {
            written: entry.to_owned(),
            name,
            api,
        })
    }

    fn matches(&self, kind: &str, api_version: &str) -> bool {
        names_kind(&self.name, kind)
            && self
                .api
                .as_deref()
                .is_none_or(|api| api_matches(api, api_version))
    }
}

/// True when `name` (lowercase) is `kind` or its guessed plural; mirrors kube-core's
/// `discovery::to_plural` (without its panic on the one-letter kind `Y`).
fn names_kind(name: &str, kind: &str) -> bool {
    if name.eq_ignore_ascii_case(kind) {
        return true;
    }
    const SPECIAL: [(&str, &str); 4] = [
        ("endpoints", "endpoints"),
        ("endpointslices", "endpointslices"),
        ("nodemetrics", "nodes"),
        ("podmetrics", "pods"),
    ];
    if let Some((_, plural)) = SPECIAL.iter().find(|(k, _)| k.eq_ignore_ascii_case(kind)) {
        return name == *plural;
    }
    let kind = kind.as_bytes();
    let ends_with = |suffix: &[u8]| {
        kind.len() >= suffix.len() && kind[kind.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    let (stem, suffix): (&[u8], &[u8]) = if [&b"s"[..], b"x", b"z", b"ch", b"sh"]
        .into_iter()
        .any(ends_with)
    {
        (kind, b"es")
    } else if kind.len() >= 2
        && ends_with(b"y")
        && !matches!(
            kind[kind.len() - 2].to_ascii_lowercase(),
            b'a' | b'e' | b'i' | b'o' | b'u'
        )
    {
        (&kind[..kind.len() - 1], b"ies")
    } else {
        (kind, b"s")
    };
    let name = name.as_bytes();
    name.len() == stem.len() + suffix.len()
        && name[..stem.len()].eq_ignore_ascii_case(stem)
        && &name[stem.len()..] == suffix
}

/// True when `api` (the part of a resource entry after its name) is the group of `api_version`,
/// or its version followed by `.group` (the version alone for the core group).
fn api_matches(api: &str, api_version: &str) -> bool {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    if !group.is_empty() && api.eq_ignore_ascii_case(group) {
        return true;
    }
    if version.is_empty() || api.len() < version.len() {
        return false;
    }
    let (head, tail) = api.as_bytes().split_at(version.len());
    if !head.eq_ignore_ascii_case(version.as_bytes()) {
        return false;
    }
    if group.is_empty() {
        tail.is_empty()
    } else {
        tail.first() == Some(&b'.') && tail[1..].eq_ignore_ascii_case(group.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// An event of `kind` in `api_version`; `namespace` `None` for cluster-scoped.
    fn event(
        event_type: &str,
        kind: &str,
        api_version: &str,
        namespace: Option<&str>,
        labels: &[(&str, &str)],
    ) -> WatchEvent {
        let mut metadata = serde_json::json!({ "name": "a" });
        if let Some(ns) = namespace {
            metadata["namespace"] = ns.into();
        }
        if !labels.is_empty() {
            let labels: serde_json::Map<String, serde_json::Value> = labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).into()))
                .collect();
            metadata["labels"] = labels.into();
        }
        let json = serde_json::json!({
            "type": event_type,
            "object": { "kind": kind, "apiVersion": api_version, "metadata": metadata },
        });
        WatchEvent::parse(json.to_string().into_bytes()).expect("valid event")
    }

    fn pod(namespace: &str, labels: &[(&str, &str)]) -> WatchEvent {
        event("ADDED", "Pod", "v1", Some(namespace), labels)
    }

    fn section() -> SubscriptionSection {
        SubscriptionSection::default()
    }

    fn compile(section: SubscriptionSection) -> Subscription {
        Subscription::resolve(None, Some(&section)).expect("valid subscription")
    }

    fn resources(entries: &[&str]) -> Subscription {
        compile(SubscriptionSection {
            resources: Some(entries.iter().map(|e| (*e).to_owned()).collect()),
            ..section()
        })
    }

    fn selector(selector: &str) -> Result<Subscription, SubscriptionError> {
        Subscription::resolve(
            None,
            Some(&SubscriptionSection {
                label_selector: Some(selector.to_owned()),
                ..section()
            }),
        )
    }

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn no_subscription_matches_everything() {
        let all = Subscription::resolve(None, None).expect("valid");
        assert_eq!(all, Subscription::all());
        assert!(all.is_all());
        assert_eq!(all.describe(), "all events");
        assert!(all.matches(&pod("shop", &[])));
        assert!(all.matches(&event("DELETED", "Node", "v1", None, &[])));
        let empty = compile(SubscriptionSection {
            resources: Some(Vec::new()),
            event_types: Some(Vec::new()),
            namespaces: Some(Vec::new()),
            exclude_namespaces: Some(Vec::new()),
            label_selector: Some("  ".to_owned()),
        });
        assert!(empty.is_all(), "empty keys restrict nothing");
    }

    #[test]
    fn resources_name_kinds_like_kubectl() {
        let cases = [
            (
                "Pod",
                "v1",
                &["Pod", "pod", "POD", "pods", "Pods", "pods.v1"][..],
            ),
            (
                "Ingress",
                "networking.k8s.io/v1",
                &[
                    "ingresses",
                    "ingress",
                    "ingresses.networking.k8s.io",
                    "ingresses.v1.networking.k8s.io",
                ],
            ),
            (
                "Deployment",
                "apps/v1",
                &[
                    "deployments.apps",
                    "deployments.v1.apps",
                    "deployment.apps",
                    "deployments",
                ],
            ),
            (
                "NetworkPolicy",
                "networking.k8s.io/v1",
                &["networkpolicies", "networkpolicy"],
            ),
            ("Gateway", "gateway.networking.k8s.io/v1", &["gateways"]),
            ("Box", "example.com/v1", &["boxes"]),
            ("Batch", "example.com/v1", &["batches"]),
            ("Dish", "example.com/v1", &["dishes"]),
            ("Quiz", "example.com/v1", &["quizes"]),
            ("Endpoints", "v1", &["endpoints"]),
            (
                "EndpointSlice",
                "discovery.k8s.io/v1",
                &["endpointslices", "endpointslices.discovery.k8s.io"],
            ),
            (
                "NodeMetrics",
                "metrics.k8s.io/v1beta1",
                &["nodes.metrics.k8s.io", "nodemetrics"],
            ),
            (
                "PodMetrics",
                "metrics.k8s.io/v1beta1",
                &["pods.metrics.k8s.io"],
            ),
            ("Route", "route.openshift.io/v1", &["routes"]),
            ("Y", "example.com/v1", &["ys", "y"]),
        ];
        for (kind, api_version, entries) in cases {
            let added = event("ADDED", kind, api_version, Some("ns"), &[]);
            for entry in entries {
                assert!(resources(&[entry]).matches(&added), "{entry} names {kind}");
            }
        }
        let misses = [
            (
                "Pod",
                "v1",
                &[
                    "po",
                    "pod.apps",
                    "pods.apps",
                    "pods.v2",
                    "pods.v1.apps",
                    "podses",
                    "deployments",
                ][..],
            ),
            (
                "Deployment",
                "apps/v1",
                &[
                    "deployments.v1",
                    "deployments.v2.apps",
                    "deployments.extensions",
                    "deploy",
                ],
            ),
            (
                "Ingress",
                "networking.k8s.io/v1",
                &["ingress.v1", "ingresss", "ingresses.k8s.io"],
            ),
            ("Gateway", "gateway.networking.k8s.io/v1", &["gatewaies"]),
            ("NetworkPolicy", "networking.k8s.io/v1", &["networkpolicys"]),
            ("Endpoints", "v1", &["endpointses"]),
            ("NodeMetrics", "metrics.k8s.io/v1beta1", &["nodemetricses"]),
            ("Pod", "", &["pods.v1"]),
        ];
        for (kind, api_version, entries) in misses {
            let added = event("ADDED", kind, api_version, Some("ns"), &[]);
            for entry in entries {
                assert!(
                    !resources(&[entry]).matches(&added),
                    "{entry} does not name {kind} {api_version}"
                );
            }
        }
        let two = resources(&["pods", "deployments.apps"]);
        assert!(two.matches(&pod("ns", &[])));
        assert!(two.matches(&event("MODIFIED", "Deployment", "apps/v1", Some("ns"), &[])));
        assert!(!two.matches(&event("MODIFIED", "Service", "v1", Some("ns"), &[])));
    }

    #[test]
    fn rejects_malformed_resources() {
        for entry in ["", "pods.", ".apps", "pods..apps", "pods apps"] {
            let err = Subscription::resolve(
                None,
                Some(&SubscriptionSection {
                    resources: strings(&[entry]),
                    ..section()
                }),
            )
            .expect_err(entry);
            assert!(
                matches!(err, SubscriptionError::InvalidResource { ref resource, .. } if resource == entry),
                "{err}"
            );
        }
    }

    #[test]
    fn event_types_are_case_insensitive_and_checked() {
        let types = compile(SubscriptionSection {
            event_types: strings(&["added", "Deleted"]),
            ..section()
        });
        assert!(types.matches(&event("ADDED", "Pod", "v1", Some("ns"), &[])));
        assert!(types.matches(&event("DELETED", "Pod", "v1", Some("ns"), &[])));
        assert!(!types.matches(&event("MODIFIED", "Pod", "v1", Some("ns"), &[])));
        assert_eq!(types.describe(), "types=ADDED,DELETED");
        for bad in ["BOOKMARK", "ERROR", "CREATED", ""] {
            let err = Subscription::resolve(
                Some(&SubscriptionSection {
                    event_types: strings(&["ADDED", bad]),
                    ..section()
                }),
                None,
            )
            .expect_err(bad);
            assert_eq!(err, SubscriptionError::InvalidEventType(bad.to_owned()));
            assert!(err.to_string().contains("ADDED, MODIFIED or DELETED"));
        }
    }

    #[test]
    fn namespaces_include_and_exclude() {
        let shop = compile(SubscriptionSection {
            namespaces: strings(&["shop", "web"]),
            ..section()
        });
        assert!(shop.matches(&pod("shop", &[])));
        assert!(shop.matches(&pod("web", &[])));
        assert!(!shop.matches(&pod("kube-system", &[])));
        let node = event("ADDED", "Node", "v1", None, &[]);
        assert!(!shop.matches(&node), "cluster-scoped objects are left out");
        let with_cluster = compile(SubscriptionSection {
            namespaces: strings(&["shop", ""]),
            ..section()
        });
        assert!(with_cluster.matches(&node));
        assert!(with_cluster.matches(&pod("shop", &[])));

        let exclude = compile(SubscriptionSection {
            exclude_namespaces: strings(&["kube-system"]),
            ..section()
        });
        assert!(exclude.matches(&pod("shop", &[])));
        assert!(exclude.matches(&node));
        assert!(!exclude.matches(&pod("kube-system", &[])));
        let no_cluster = compile(SubscriptionSection {
            exclude_namespaces: strings(&[""]),
            ..section()
        });
        assert!(!no_cluster.matches(&node));
        assert!(no_cluster.matches(&pod("shop", &[])));

        let both = compile(SubscriptionSection {
            namespaces: strings(&["shop", "kube-system"]),
            exclude_namespaces: strings(&["kube-system"]),
            ..section()
        });
        assert!(both.matches(&pod("shop", &[])));
        assert!(!both.matches(&pod("kube-system", &[])), "exclusion wins");
    }

    #[test]
    fn label_selector_operators() {
        let web = &[("app", "web"), ("tier", "front")][..];
        let db = &[("app", "db")][..];
        let none = &[][..];
        // (selector, matches web, matches db, matches none)
        let cases = [
            ("app=web", true, false, false),
            ("app==web", true, false, false),
            ("app != web", false, true, true),
            ("app", true, true, false),
            ("!tier", false, true, true),
            ("app in (web, db)", true, true, false),
            ("app in (web,cache)", true, false, false),
            ("app notin (web,cache)", false, true, true),
            ("app=web,tier=front", true, false, false),
            ("app in (db,web),!tier", false, true, false),
            ("tier=", false, false, false),
            ("tier!=", true, true, true),
            (" app , tier in (front) ", true, false, false),
            ("example.com/team", false, false, false),
        ];
        for (text, on_web, on_db, on_none) in cases {
            let sub = selector(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(sub.matches(&pod("ns", web)), on_web, "{text} on web");
            assert_eq!(sub.matches(&pod("ns", db)), on_db, "{text} on db");
            assert_eq!(
                sub.matches(&pod("ns", none)),
                on_none,
                "{text} without labels"
            );
        }
        let empty_value = selector("tier=").expect("valid");
        assert!(empty_value.matches(&pod("ns", &[("tier", "")])));
        let prefixed = selector("example.com/team=a-b_c.d").expect("valid");
        assert!(prefixed.matches(&pod("ns", &[("example.com/team", "a-b_c.d")])));
    }

    #[test]
    fn unreadable_labels_do_not_match() {
        let line = br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","labels":{"app" "web"}}}}"#;
        let event = WatchEvent::parse(line.to_vec()).expect("identity is readable");
        assert!(event.labels().is_err());
        assert!(!selector("!app").expect("valid").matches(&event));
        assert!(Subscription::all().matches(&event));
    }

    #[test]
    fn bad_label_selectors_name_the_term() {
        let cases = [
            ("app=web,", "", 8, "empty requirement"),
            ("app=web,,x", "", 8, "empty requirement"),
            ("app=web, tier in (a,b", "tier in (a,b", 21, "missing ')'"),
            ("tier in a", "tier in a", 8, "expected '(' after 'in'"),
            ("app=web,tier>3", "tier>3", 12, "not supported"),
            ("app=a=b", "app=a=b", 5, "unexpected '='"),
            (
                "app web",
                "app web",
                4,
                "expected '=', '==', '!=', 'in' or 'notin'",
            ),
            ("!", "!", 1, "expected a label key after '!'"),
            ("!a=b", "!a=b", 2, "unexpected '='"),
            ("=web", "=web", 0, "expected a label key or '!'"),
            ("app:web", "app:web", 0, "invalid label key \"app:web\""),
            (
                "x,Example.com/app=web",
                "Example.com/app=web",
                2,
                "prefix \"Example.com\"",
            ),
            ("app=-web", "app=-web", 4, "invalid label value \"-web\""),
            (
                "app in (a, b c)",
                "app in (a, b c)",
                13,
                "expected a value, ',' or ')'",
            ),
            ("app in (a)) ", "app in (a))", 10, "unexpected ')'"),
        ];
        for (text, term, offset, reason) in cases {
            match selector(text) {
                Err(SubscriptionError::InvalidLabelSelector {
                    selector: s,
                    term: t,
                    offset: o,
                    reason: r,
                }) => {
                    assert_eq!(s, text);
                    assert_eq!((t.as_str(), o), (term, offset), "{text}: {r}");
                    assert!(r.contains(reason), "{text}: {r}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let message = selector("app=web,tier in (a")
            .expect_err("unclosed")
            .to_string();
        assert_eq!(
            message,
            "invalid label selector \"app=web,tier in (a\": missing ')' in \"tier in (a\" at byte 18"
        );
    }

    #[test]
    fn checks_run_cheapest_first() {
        // The labels of this event are unreadable; filters decided before labels still work.
        let line = br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","labels":{"app" "web"}}}}"#;
        let unreadable = WatchEvent::parse(line.to_vec()).expect("valid");
        let sub = compile(SubscriptionSection {
            resources: strings(&["pods"]),
            event_types: strings(&["ADDED"]),
            namespaces: strings(&["ns"]),
            label_selector: Some("!app".to_owned()),
            ..section()
        });
        assert!(!sub.matches(&unreadable), "unreadable labels");
        assert!(!sub.matches(&event("MODIFIED", "Pod", "v1", Some("ns"), &[])));
        assert!(!sub.matches(&event("ADDED", "Pod", "v1", Some("other"), &[])));
        assert!(!sub.matches(&event("ADDED", "Service", "v1", Some("ns"), &[])));
        assert!(sub.matches(&event("ADDED", "Pod", "v1", Some("ns"), &[])));
    }

    #[test]
    fn config_overrides_module_key_by_key() {
        let module = SubscriptionSection {
            resources: strings(&["pods"]),
            label_selector: Some("app=web".to_owned()),
            ..section()
        };
        let config = SubscriptionSection {
            event_types: strings(&["DELETED"]),
            ..section()
        };
        let both = Subscription::resolve(Some(&module), Some(&config)).expect("valid");
        assert_eq!(
            both.describe(),
            "resources=pods types=DELETED labels=app=web"
        );
        let web = &[("app", "web")][..];
        assert!(both.matches(&event("DELETED", "Pod", "v1", Some("ns"), web)));
        assert!(!both.matches(&event("ADDED", "Pod", "v1", Some("ns"), web)));
        assert!(!both.matches(&event("DELETED", "Service", "v1", Some("ns"), web)));

        let config = SubscriptionSection {
            resources: strings(&["services"]),
            label_selector: Some(String::new()),
            ..section()
        };
        let replaced = Subscription::resolve(Some(&module), Some(&config)).expect("valid");
        assert_eq!(replaced.describe(), "resources=services");
        assert!(replaced.matches(&event("ADDED", "Service", "v1", Some("ns"), &[])));
        assert!(!replaced.matches(&pod("ns", web)));

        let lifted = Subscription::resolve(
            Some(&module),
            Some(&SubscriptionSection {
                resources: Some(Vec::new()),
                label_selector: Some(String::new()),
                ..section()
            }),
        )
        .expect("valid");
        assert!(lifted.is_all());

        let module_only = Subscription::resolve(Some(&module), None).expect("valid");
        assert_eq!(module_only.describe(), "resources=pods labels=app=web");
        let bad_module = SubscriptionSection {
            label_selector: Some("app=(".to_owned()),
            ..section()
        };
        assert!(Subscription::resolve(Some(&bad_module), None).is_err());
        let fixed = SubscriptionSection {
            label_selector: Some("app".to_owned()),
            ..section()
        };
        assert!(
            Subscription::resolve(Some(&bad_module), Some(&fixed)).is_ok(),
            "the module's value is never used"
        );
    }

    #[test]
    fn describes_in_one_line() {
        let sub = compile(SubscriptionSection {
            resources: strings(&["pods", "routes"]),
            event_types: strings(&["deleted", "ADDED"]),
            namespaces: strings(&["shop"]),
            exclude_namespaces: strings(&["kube-system"]),
            label_selector: Some("app=web".to_owned()),
        });
        assert_eq!(
            sub.describe(),
            "resources=pods,routes types=ADDED,DELETED namespaces=shop -kube-system labels=app=web"
        );
        let sub = compile(SubscriptionSection {
            exclude_namespaces: strings(&["a", ""]),
            label_selector: Some("x==1, y!=2,z in (a,b),w notin(c),!v,u".to_owned()),
            ..section()
        });
        assert_eq!(
            sub.describe(),
            "namespaces=-a,-\"\" labels=x=1,y!=2,z in (a,b),w!=c,!v,u"
        );
    }

    /// `name` as a custom section: id 0, size, name length, name, payload (LEB128 sizes).
    fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
        fn leb128(mut n: usize, out: &mut Vec<u8>) {
            loop {
                let byte = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    out.push(byte);
                    return;
                }
                out.push(byte | 0x80);
            }
        }
        let mut body = Vec::new();
        leb128(name.len(), &mut body);
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(payload);
        let mut section = vec![0];
        leb128(body.len(), &mut section);
        section.extend(body);
        section
    }

    fn module_with(sections: &[Vec<u8>]) -> Vec<u8> {
        let mut wasm = wat::parse_str(
            r#"(module
                 (memory (export "memory") 1)
                 (func (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
                 (data (i32.const 0) "hi"))"#,
        )
        .expect("valid wat");
        for section in sections {
            wasm.extend_from_slice(section);
        }
        wasm
    }

    #[test]
    fn module_defaults_from_the_custom_section() {
        assert_eq!(module_defaults(&module_with(&[])).expect("valid"), None);
        let other = custom_section("producers", b"\0");
        assert_eq!(
            module_defaults(&module_with(std::slice::from_ref(&other))).expect("valid"),
            None
        );

        // Long enough for a two-byte LEB128 size.
        let json = format!(
            r#"{{"resources":["pods"],"event_types":["ADDED"],"label_selector":"app=web","namespaces":[{}]}}"#,
            vec!["\"shop\""; 20].join(",")
        );
        let one = module_with(&[
            other.clone(),
            custom_section(CUSTOM_SECTION, json.as_bytes()),
        ]);
        let defaults = module_defaults(&one).expect("valid").expect("present");
        assert_eq!(defaults.resources, strings(&["pods"]));
        assert_eq!(defaults.label_selector.as_deref(), Some("app=web"));
        assert_eq!(defaults.exclude_namespaces, None);
        let sub = Subscription::resolve(Some(&defaults), None).expect("valid");
        assert!(sub.matches(&pod("shop", &[("app", "web")])));

        // A custom section before the code section is found too.
        let mut early = wat::parse_str("(module)").expect("valid wat");
        early.extend(custom_section(
            CUSTOM_SECTION,
            br#"{"event_types":["DELETED"]}"#,
        ));
        early.extend_from_slice(&module_with(&[])[8..]);
        let defaults = module_defaults(&early).expect("valid").expect("present");
        assert_eq!(defaults.event_types, strings(&["DELETED"]));

        for bad in [
            &br#"{"resources":"pods"}"#[..],
            br#"{"resource":["pods"]}"#,
            b"{",
            b"\xff",
        ] {
            let wasm = module_with(&[custom_section(CUSTOM_SECTION, bad)]);
            let err = module_defaults(&wasm).expect_err("bad json");
            assert!(
                matches!(err, SubscriptionError::CustomSectionJson(_)),
                "{err}"
            );
            assert!(err.to_string().contains(CUSTOM_SECTION), "{err}");
        }

        let twice = module_with(&[
            custom_section(CUSTOM_SECTION, b"{}"),
            other,
            custom_section(CUSTOM_SECTION, b"{}"),
        ]);
        assert_eq!(
            module_defaults(&twice),
            Err(SubscriptionError::DuplicateCustomSection)
        );
    }

    #[test]
    fn module_defaults_rejects_what_is_not_a_module() {
        for wasm in [&b""[..], b"not wasm", b"\0asm\x01\0\0\0\x00\x10\x03abc"] {
            let err = module_defaults(wasm).expect_err("not a module");
            assert!(matches!(err, SubscriptionError::Module(_)), "{err}");
        }
        let mut cut = module_with(&[custom_section(CUSTOM_SECTION, b"{}")]);
        cut.truncate(cut.len() - 1);
        assert!(matches!(
            module_defaults(&cut),
            Err(SubscriptionError::Module(_))
        ));
    }

    fn any_event(
    ) -> impl Strategy<Value = (String, String, Option<String>, BTreeMap<String, String>)> {
        (
            prop::sample::select(vec!["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]),
            prop::sample::select(vec!["Pod", "Deployment", "Node", "Ingress", "Widget"]),
            prop::option::of("[a-z]{1,3}"),
            prop::collection::btree_map("[a-c]", "[x-z]{0,1}", 0..4),
        )
            .prop_map(|(t, k, ns, labels)| (t.to_owned(), k.to_owned(), ns, labels))
    }

    fn build(
        (t, kind, ns, labels): &(String, String, Option<String>, BTreeMap<String, String>),
    ) -> WatchEvent {
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        event(t, kind, "v1", ns.as_deref(), &labels)
    }

    proptest! {
        #[test]
        fn all_matches_every_event(spec in any_event()) {
            prop_assert!(Subscription::all().matches(&build(&spec)));
        }

        #[test]
        fn equality_selector_matches_exactly_that_label(
            spec in any_event(),
            key in "[a-c]",
            value in "[x-z]{0,1}",
        ) {
            let sub = selector(&format!("{key}={value}")).expect("valid");
            let expected = spec.3.get(&key) == Some(&value);
            prop_assert_eq!(sub.matches(&build(&spec)), expected);
        }
    }
}
