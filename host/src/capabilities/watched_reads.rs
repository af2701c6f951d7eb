//! Plugins' reads answered from the controller's own watches ([`crate::reflector`]) instead of
//! the API server: no extra load on it, and no wait. A read the watches do not cover (a kind
//! not watched, or not listed yet; another namespace; a field selector on other fields than
//! `metadata.name` and `metadata.namespace`; `consistent: true`) is not answered here, and goes
//! to the API server.

use super::kube::{KubeAnswer, Protected, MAX_LIST_BYTES};
use crate::cluster::resource::Resource;
use crate::event::{EventMeta, WatchEvent};
use crate::reflector::{Lookup, Reflector};
use crate::subscription::LabelSelector;
use serde_json::Value;

/// A `get` from the watches: the object, or the API server's 404; `None` when not covered.
pub(super) fn get(
    reflector: &Reflector,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
) -> Option<KubeAnswer> {
    let api_version = resource.api_version();
    match reflector.get(&api_version, &resource.kind, namespace, name) {
        Lookup::Uncovered => None,
        Lookup::Absent => Some(KubeAnswer::Refused {
            status: 404,
            message: format!("{} {name:?} not found", resource.qualified_name()),
        }),
        Lookup::Found(event) => object(&event).map(|object| KubeAnswer::Object {
            status: 200,
            object,
        }),
    }
}

/// A `list` from the watches, filtered by the selectors and without the controller's own
/// objects; `None` when not covered or when the field selector needs the API server.
pub(super) fn list(
    reflector: &Reflector,
    protected: &Protected,
    resource: &Resource,
    namespace: Option<&str>,
    label_selector: Option<&str>,
    field_selector: Option<&str>,
) -> Option<KubeAnswer> {
    let fields = FieldSelector::parse(field_selector.unwrap_or_default())?;
    // A selector that does not parse goes to the API server, which explains why.
    let labels = match label_selector {
        Some(text) => Some(LabelSelector::parse(text).ok()?),
        None => None,
    };
    let events = reflector.list(&resource.api_version(), &resource.kind, namespace)?;
    let mut items = Vec::new();
    let mut bytes = 0;
    for event in events {
        let meta = event.meta();
        let wanted = fields.matches(meta)
            && protected
                .covers(resource, meta.namespace(), Some(meta.name()))
                .is_none()
            && labels
                .as_ref()
                .is_none_or(|selector| event.labels().is_ok_and(|l| selector.matches(&l)));
        if !wanted {
            continue;
        }
        let object = object(&event)?;
        bytes += event.raw().len();
        if bytes > MAX_LIST_BYTES {
            return Some(KubeAnswer::list_too_big());
        }
        items.push(object);
    }
    Some(KubeAnswer::List { status: 200, items })
}

/// The event's object as JSON; `None` (ask the API server) if it cannot be read.
fn object(event: &WatchEvent) -> Option<Value> {
    let bytes = event.object_bytes().ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A field selector on the fields every resource has: `metadata.name` and
/// `metadata.namespace`, with `=`, `==` and `!=`, terms joined by commas.
#[derive(Debug, Default, PartialEq)]
struct FieldSelector {
    terms: Vec<FieldTerm>,
}

#[derive(Debug, PartialEq)]
struct FieldTerm {
    namespace: bool,
    value: String,
    equal: bool,
}

impl FieldSelector {
    /// The selector, or `None` when a term names another field (only the API server knows it).
    fn parse(text: &str) -> Option<FieldSelector> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, value, equal) = match term.split_once("!=") {
                Some((field, value)) => (field, value, false),
                None => {
                    let (field, value) = term.split_once('=')?;
                    (field, value.strip_prefix('=').unwrap_or(value), true)
                }
            };
            let namespace = match field.trim() {
                "metadata.namespace" => true,
                "metadata.name" => false,
                _ => return None,
            };
            terms.push(FieldTerm {
                namespace,
                value: value.trim().to_owned(),
                equal,
            });
        }
        Some(FieldSelector { terms })
    }

    fn matches(&self, meta: &EventMeta) -> bool {
        self.terms.iter().all(|term| {
            let field = if term.namespace {
                meta.namespace().unwrap_or_default()
            } else {
                meta.name()
            };
            (field == term.value) == term.equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ListedTarget;

    fn configmaps() -> Resource {
        Resource {
            group: String::new(),
            version: "v1".into(),
            plural: "configmaps".into(),
            singular: "configmap".into(),
            kind: "ConfigMap".into(),
            short_names: vec!["cm".into()],
            namespaced: true,
            preferred: true,
        }
    }

    fn watched(objects: &[(&str, &str, &str)]) -> Reflector {
        let reflector = Reflector::new();
        reflector.keep_kind("v1", "ConfigMap");
        for (namespace, name, labels) in objects {
            let line = format!(
                r#"{{"type":"ADDED","object":{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"{namespace}","labels":{{{labels}}}}},"data":{{"k":"v"}}}}}}"#
            );
            reflector.observe(&WatchEvent::parse(line.into_bytes()).expect("valid"));
        }
        reflector.listed(&ListedTarget {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: None,
        });
        reflector
    }

    fn listed_names(answer: Option<KubeAnswer>) -> Vec<String> {
        match answer {
            Some(KubeAnswer::List { status: 200, items }) => items
                .iter()
                .map(|item| {
                    format!(
                        "{}/{}",
                        item["metadata"]["namespace"].as_str().unwrap_or_default(),
                        item["metadata"]["name"].as_str().unwrap_or_default()
                    )
                })
                .collect(),
            other => panic!("a list: {other:?}"),
        }
    }

    #[test]
    fn a_get_answers_the_object_or_the_servers_404() {
        let reflector = watched(&[("shop", "a", "")]);
        match get(&reflector, &configmaps(), Some("shop"), "a") {
            Some(KubeAnswer::Object {
                status: 200,
                object,
            }) => {
                assert_eq!(object["data"]["k"], "v");
            }
            other => panic!("the object: {other:?}"),
        }
        assert_eq!(
            get(&reflector, &configmaps(), Some("shop"), "b"),
            Some(KubeAnswer::Refused {
                status: 404,
                message: r#"configmaps "b" not found"#.into()
            })
        );
        assert_eq!(
            get(&Reflector::new(), &configmaps(), Some("shop"), "a"),
            None
        );
    }

    #[test]
    fn a_list_applies_the_selectors_and_leaves_the_controllers_objects_out() {
        let reflector = watched(&[
            ("shop", "a", r#""owner":"me""#),
            ("shop", "b", r#""owner":"you""#),
            ("payments", "c", r#""owner":"me""#),
            ("controller", "d", r#""owner":"me""#),
        ]);
        let protected = Protected {
            namespace: Some("controller".into()),
            ..Protected::default()
        };
        let all = list(&reflector, &protected, &configmaps(), None, None, None);
        assert_eq!(listed_names(all), ["payments/c", "shop/a", "shop/b"]);
        let mine = list(
            &reflector,
            &protected,
            &configmaps(),
            None,
            Some("owner=me"),
            None,
        );
        assert_eq!(listed_names(mine), ["payments/c", "shop/a"]);
        let named = list(
            &reflector,
            &protected,
            &configmaps(),
            None,
            None,
            Some("metadata.name!=a,metadata.namespace==shop"),
        );
        assert_eq!(listed_names(named), ["shop/b"]);
        let in_shop = list(
            &reflector,
            &protected,
            &configmaps(),
            Some("shop"),
            None,
            None,
        );
        assert_eq!(listed_names(in_shop), ["shop/a", "shop/b"]);
    }

    #[test]
    fn what_only_the_api_server_knows_goes_to_it() {
        let reflector = watched(&[("shop", "a", "")]);
        let protected = Protected::default();
        let by_status = Some("status.phase=Running");
        assert_eq!(
            list(&reflector, &protected, &configmaps(), None, None, by_status),
            None
        );
        let broken = Some("owner in (a");
        assert_eq!(
            list(&reflector, &protected, &configmaps(), None, broken, None),
            None
        );
    }
}
