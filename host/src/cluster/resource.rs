//! Resources as kubectl names them (`pods`, `po`, `Pod`, `deployments.apps`,
//! `ingresses.v1.networking.k8s.io`, any CRD), resolved through API discovery.

use http::Request;
use http_body_util::BodyExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResourceList, APIVersions};

/// One watchable resource of one API group version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Plural name, e.g. `pods`.
    pub plural: String,
    /// Singular name, e.g. `pod`.
    pub singular: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
    /// Short names, e.g. `po`.
    pub short_names: Vec<String>,
    /// True for namespaced resources.
    pub namespaced: bool,
    /// True when this is the group's preferred version.
    pub preferred: bool,
}

impl Resource {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` (`plural` for the core group), as kubectl prints it.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The collection's path: all namespaces, or one when the resource is namespaced.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{base}/namespaces/{ns}/{}", self.plural),
            _ => format!("{base}/{}", self.plural),
        }
    }

    /// True when `token` (the part before the first dot) names this resource.
    fn is_named(&self, token: &str) -> bool {
        let token = token.to_ascii_lowercase();
        self.plural == token
            || self.singular == token
            || self.kind.to_ascii_lowercase() == token
            || self.short_names.contains(&token)
    }

    /// True when `qualifier` (what follows the first dot) is this resource's group or
    /// `version.group`.
    fn in_group(&self, qualifier: &str) -> bool {
        qualifier == self.group || qualifier == format!("{}.{}", self.version, self.group)
    }

    /// Pods in v1, for unit tests.
    #[cfg(test)]
    pub fn test_pods() -> Resource {
        Resource {
            group: String::new(),
            version: "v1".into(),
            plural: "pods".into(),
            singular: "pod".into(),
            kind: "Pod".into(),
            short_names: vec!["po".into()],
            namespaced: true,
            preferred: true,
        }
    }
}

/// Discovery failed or a name resolves to nothing.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// A discovery request failed.
    #[error("API discovery failed at {path}: {message}")]
    Discovery {
        /// The discovery path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The name matches no resource the server serves.
    #[error("the server has no resource named {name:?}{}", suggestions(.close))]
    Unknown {
        /// The name as given.
        name: String,
        /// Close matches, best first.
        close: Vec<String>,
    },
}

fn suggestions(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", close.join(", "))
    }
}

/// Every list+watch-able resource the server serves, core group first, in discovery order.
pub async fn discover(client: &kube::Client) -> Result<Vec<Resource>, ResourceError> {
    let mut resources = Vec::new();
    let core: APIVersions = get_json(client, "/api").await?;
    for version in core.versions {
        let list: APIResourceList = get_json(client, &format!("/api/{version}")).await?;
        resources.extend(from_list("", &version, true, list));
    }
    let groups: APIGroupList = get_json(client, "/apis").await?;
    for group in groups.groups {
        let preferred = group.preferred_version.map(|v| v.version);
        for version in group.versions {
            let path = format!("/apis/{}", version.group_version);
            let list: APIResourceList = get_json(client, &path).await?;
            let is_preferred = preferred.as_deref() == Some(version.version.as_str());
            resources.extend(from_list(&group.name, &version.version, is_preferred, list));
        }
    }
    Ok(resources)
}

fn from_list(group: &str, version: &str, preferred: bool, list: APIResourceList) -> Vec<Resource> {
    list.resources
        .into_iter()
        .filter(|r| !r.name.contains('/'))
        .filter(|r| r.verbs.iter().any(|v| v == "watch") && r.verbs.iter().any(|v| v == "list"))
        .map(|r| Resource {
            group: group.to_owned(),
            version: version.to_owned(),
            singular: if r.singular_name.is_empty() {
                r.kind.to_ascii_lowercase()
            } else {
                r.singular_name
            },
            plural: r.name,
            kind: r.kind,
            short_names: r.short_names.unwrap_or_default(),
            namespaced: r.namespaced,
            preferred,
        })
        .collect()
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &kube::Client,
    path: &str,
) -> Result<T, ResourceError> {
    let failed = |message: String| ResourceError::Discovery {
        path: path.to_owned(),
        message,
    };
    let request = Request::get(path)
        .header(http::header::ACCEPT, "application/json")
        .body(kube::client::Body::empty())
        .map_err(|e| failed(e.to_string()))?;
    let response = client
        .send(request)
        .await
        .map_err(|e| failed(super::error_chain(&e)))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(failed(format!(
            "{status}: {}",
            super::status_message(&body)
        )));
    }
    serde_json::from_slice(&body).map_err(|e| failed(e.to_string()))
}

/// Resolves a kubectl-style name against discovered resources: the first match in discovery
/// order at its group's preferred version (or the version the name gives).
pub fn resolve(name: &str, resources: &[Resource]) -> Result<Resource, ResourceError> {
    let (token, qualifier) = match name.split_once('.') {
        Some((token, qualifier)) => (token, Some(qualifier)),
        None => (name, None),
    };
    let matches = |r: &&Resource| r.is_named(token) && qualifier.is_none_or(|q| r.in_group(q));
    let version_given = qualifier.is_some_and(|q| {
        resources
            .iter()
            .any(|r| q == format!("{}.{}", r.version, r.group))
    });
    resources
        .iter()
        .filter(matches)
        .find(|r| r.preferred || version_given)
        .or_else(|| resources.iter().find(matches))
        .cloned()
        .ok_or_else(|| ResourceError::Unknown {
            name: name.to_owned(),
            close: close_matches(token, resources),
        })
}

/// Up to three resource names within a small edit distance of `token`.
fn close_matches(token: &str, resources: &[Resource]) -> Vec<String> {
    let token = token.to_ascii_lowercase();
    let mut scored: Vec<(usize, String)> = resources
        .iter()
        .map(|r| {
            let distance = [&r.plural, &r.singular]
                .iter()
                .map(|n| strsim::levenshtein(&token, n))
                .min()
                .unwrap_or(usize::MAX);
            (distance, r.qualified_name())
        })
        .filter(|(distance, _)| *distance <= 3)
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, name)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        short: &[&str],
        preferred: bool,
    ) -> Resource {
        Resource {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: kind.to_ascii_lowercase(),
            kind: kind.into(),
            short_names: short.iter().map(|s| s.to_string()).collect(),
            namespaced: true,
            preferred,
        }
    }

    fn served() -> Vec<Resource> {
        vec![
            resource("", "v1", "pods", "Pod", &["po"], true),
            resource("", "v1", "events", "Event", &["ev"], true),
            resource("apps", "v1", "deployments", "Deployment", &["deploy"], true),
            resource("events.k8s.io", "v1", "events", "Event", &["ev"], true),
            resource(
                "networking.k8s.io",
                "v1beta1",
                "ingresses",
                "Ingress",
                &["ing"],
                false,
            ),
            resource(
                "networking.k8s.io",
                "v1",
                "ingresses",
                "Ingress",
                &["ing"],
                true,
            ),
            resource("route.openshift.io", "v1", "routes", "Route", &[], true),
        ]
    }

    fn resolved(name: &str) -> String {
        let r = resolve(name, &served()).expect(name);
        format!("{}/{}", r.api_version(), r.plural)
    }

    #[test]
    fn resolves_names_the_way_kubectl_does() {
        assert_eq!(resolved("pods"), "v1/pods");
        assert_eq!(resolved("po"), "v1/pods");
        assert_eq!(resolved("Pod"), "v1/pods");
        assert_eq!(resolved("pod"), "v1/pods");
        assert_eq!(resolved("deployments.apps"), "apps/v1/deployments");
        assert_eq!(resolved("events"), "v1/events", "the core group wins");
        assert_eq!(resolved("events.events.k8s.io"), "events.k8s.io/v1/events");
        assert_eq!(resolved("routes"), "route.openshift.io/v1/routes");
        assert_eq!(
            resolved("routes.route.openshift.io"),
            "route.openshift.io/v1/routes"
        );
        assert_eq!(
            resolved("ingresses"),
            "networking.k8s.io/v1/ingresses",
            "preferred version"
        );
        assert_eq!(
            resolved("ingresses.v1beta1.networking.k8s.io"),
            "networking.k8s.io/v1beta1/ingresses"
        );
    }

    #[test]
    fn unknown_names_list_close_matches() {
        let err = resolve("deployment.app", &served()).expect_err("wrong group");
        assert!(
            err.to_string()
                .contains("no resource named \"deployment.app\""),
            "{err}"
        );
        let err = resolve("pdos", &served()).expect_err("typo");
        assert_eq!(
            err.to_string(),
            "the server has no resource named \"pdos\"; did you mean pods?"
        );
        let err = resolve("zzzzzzzzzz", &served()).expect_err("nothing close");
        assert_eq!(
            err.to_string(),
            "the server has no resource named \"zzzzzzzzzz\""
        );
    }

    #[test]
    fn paths_follow_group_and_scope() {
        let pods = Resource::test_pods();
        assert_eq!(pods.collection_path(None), "/api/v1/pods");
        assert_eq!(
            pods.collection_path(Some("shop")),
            "/api/v1/namespaces/shop/pods"
        );
        let mut ns = resource("", "v1", "namespaces", "Namespace", &["ns"], true);
        ns.namespaced = false;
        assert_eq!(ns.collection_path(Some("shop")), "/api/v1/namespaces");
        let routes = &served()[6];
        assert_eq!(
            routes.collection_path(Some("a")),
            "/apis/route.openshift.io/v1/namespaces/a/routes"
        );
    }
}
