//! The two kinds of objects the plugin reads, typed with only the fields it needs: a Route's
//! `spec.host` (`route.openshift.io/v1`) and an Ingress's `spec.rules[].host`
//! (`networking.k8s.io/v1`).

use std::borrow::Cow;

use event_controller_guest::{Error, Event};
use serde::Deserialize;

/// A kind the plugin keeps records for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `route.openshift.io` `Route`.
    Route,
    /// `networking.k8s.io` (or the old `extensions`) `Ingress`.
    Ingress,
}

impl Kind {
    /// The kind of an object with `kind` and `apiVersion`, if the plugin handles it.
    pub fn of(kind: &str, api_version: &str) -> Option<Kind> {
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        match (kind, group) {
            ("Route", "route.openshift.io") => Some(Kind::Route),
            ("Ingress", "networking.k8s.io" | "extensions") => Some(Kind::Ingress),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Route => "Route",
            Kind::Ingress => "Ingress",
        }
    }
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uid: Option<Cow<'a, str>>,
}

/// A Route: `metadata` and `spec.host`.
#[derive(Deserialize)]
struct Route<'a> {
    #[serde(borrow)]
    metadata: Metadata<'a>,
    #[serde(borrow, default)]
    spec: Option<RouteSpec<'a>>,
}

#[derive(Deserialize)]
struct RouteSpec<'a> {
    #[serde(borrow, default)]
    host: Option<Cow<'a, str>>,
}

/// An Ingress: `metadata` and `spec.rules[].host`.
#[derive(Deserialize)]
struct Ingress<'a> {
    #[serde(borrow)]
    metadata: Metadata<'a>,
    #[serde(borrow, default)]
    spec: Option<IngressSpec<'a>>,
}

#[derive(Deserialize)]
struct IngressSpec<'a> {
    #[serde(borrow, default)]
    rules: Option<Vec<IngressRule<'a>>>,
}

#[derive(Deserialize)]
struct IngressRule<'a> {
    #[serde(borrow, default)]
    host: Option<Cow<'a, str>>,
}

/// What the plugin needs of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// `Route/shop/web`: who owns the records, written into the ownership records.
    pub owner: String,
    /// The key of the per-instance state: the object's uid, else its owner string.
    pub key: String,
    /// Its hosts as written (not yet checked), in order, without duplicates or empty ones.
    pub hosts: Vec<String>,
}

impl Object {
    /// Reads the object of `event`, of kind `kind`.
    pub fn read(event: &Event, kind: Kind) -> Result<Object, Error> {
        let (metadata, hosts) = match kind {
            Kind::Route => {
                let route: Route = event.object()?;
                let host = route.spec.and_then(|spec| spec.host);
                (route.metadata, host.into_iter().collect::<Vec<_>>())
            }
            Kind::Ingress => {
                let ingress: Ingress = event.object()?;
                let rules = ingress.spec.and_then(|spec| spec.rules);
                let hosts = rules.into_iter().flatten().filter_map(|rule| rule.host);
                (ingress.metadata, hosts.collect())
            }
        };
        let owner = format!(
            "{}/{}/{}",
            kind.as_str(),
            metadata.namespace.as_deref().unwrap_or_default(),
            metadata.name.as_deref().unwrap_or_default()
        );
        let mut unique: Vec<String> = Vec::new();
        for host in hosts {
            let host = host.trim();
            if !host.is_empty() && !unique.iter().any(|seen| seen == host) {
                unique.push(host.to_owned());
            }
        }
        Ok(Object {
            key: metadata.uid.map_or_else(|| owner.clone(), Cow::into_owned),
            owner,
            hosts: unique,
        })
    }
}

/// An owner string as messages show it: `Route shop/web`.
pub fn display_owner(owner: &str) -> String {
    owner.replacen('/', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            Kind::of("Route", "route.openshift.io/v1"),
            Some(Kind::Route)
        );
        assert_eq!(
            Kind::of("Ingress", "networking.k8s.io/v1"),
            Some(Kind::Ingress)
        );
        assert_eq!(
            Kind::of("Ingress", "extensions/v1beta1"),
            Some(Kind::Ingress)
        );
        assert_eq!(Kind::of("Route", "v1"), None);
        assert_eq!(Kind::of("Route", "example.com/v1"), None);
        assert_eq!(Kind::of("Pod", "v1"), None);
    }

    #[test]
    fn a_route() {
        let event = Event::new(
            r#"{"type":"ADDED","object":{"kind":"Route","apiVersion":"route.openshift.io/v1","metadata":{"name":"web","namespace":"shop","uid":"u-1"},"spec":{"host":"web.apps.example.com","to":{"kind":"Service","name":"web"}},"status":{"ingress":[{"host":"web.apps.example.com"}]}}}"#,
        );
        assert_eq!(
            Object::read(&event, Kind::Route).expect("reads"),
            Object {
                owner: "Route/shop/web".into(),
                key: "u-1".into(),
                hosts: vec!["web.apps.example.com".into()],
            }
        );
        // A Route without a host yet, and a synthesized DELETED (identity only).
        for event in [
            r#"{"type":"ADDED","object":{"kind":"Route","apiVersion":"route.openshift.io/v1","metadata":{"name":"web","namespace":"shop","uid":"u-1"},"spec":{"host":""}}}"#,
            r#"{"type":"DELETED","object":{"kind":"Route","apiVersion":"route.openshift.io/v1","metadata":{"name":"web","namespace":"shop","uid":"u-1","resourceVersion":"9"}}}"#,
        ] {
            let object = Object::read(&Event::new(event), Kind::Route).expect("reads");
            assert!(object.hosts.is_empty(), "{event}");
            assert_eq!(object.owner, "Route/shop/web");
        }
    }

    #[test]
    fn an_ingress() {
        let event = Event::new(
            r#"{"type":"ADDED","object":{"kind":"Ingress","apiVersion":"networking.k8s.io/v1","metadata":{"name":"store","namespace":"shop"},"spec":{"ingressClassName":"nginx","rules":[{"host":"a.apps.example.com","http":{"paths":[]}},{"http":{"paths":[]}},{"host":"b.apps.example.com"},{"host":"a.apps.example.com"},{"host":" "}],"tls":[{"hosts":["tls-only.apps.example.com"]}]}}}"#,
        );
        assert_eq!(
            Object::read(&event, Kind::Ingress).expect("reads"),
            Object {
                owner: "Ingress/shop/store".into(),
                key: "Ingress/shop/store".into(),
                hosts: vec!["a.apps.example.com".into(), "b.apps.example.com".into()],
            }
        );
        let no_rules = Event::new(
            r#"{"type":"ADDED","object":{"kind":"Ingress","apiVersion":"networking.k8s.io/v1","metadata":{"name":"x","namespace":"shop","uid":"u"},"spec":{"rules":null,"defaultBackend":{}}}}"#,
        );
        assert!(Object::read(&no_rules, Kind::Ingress)
            .expect("reads")
            .hosts
            .is_empty());
    }

    #[test]
    fn a_malformed_object_is_an_error() {
        let event = Event::new(
            r#"{"type":"ADDED","object":{"kind":"Route","apiVersion":"route.openshift.io/v1","metadata":{"name":"web"},"spec":{"host":7}}}"#,
        );
        let error = Object::read(&event, Kind::Route).expect_err("host is a number");
        assert!(error.to_string().contains("the event's object"), "{error}");
    }
}
