//! The resources the test API server serves, and its discovery documents (`/api`, `/api/v1`,
//! `/apis`, `/apis/{group}`, `/apis/{group}/{version}`, `/version`), shaped and ordered like the
//! real server's.

use serde::Serialize;

/// One resource: what discovery says about it and how its objects look on the wire.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    /// The resource name in paths: `pods`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// A CustomResourceDefinition: served as unstructured JSON (keys in alphabetical order, list
    /// items keep `kind` and `apiVersion`) and absent until installed.
    pub crd: bool,
    /// What a BOOKMARK object carries after its `metadata`: the type's zero-valued fields as the
    /// real server serializes them (recorded for Pods in `watchlist-bookmark.jsonl`).
    pub bookmark_tail: &'static str,
    /// Whether discovery shows the resource: always, or once the test asks for it.
    pub served: Served,
    /// Whether clients may create (POST), update (PUT) and delete (DELETE) its objects over HTTP.
    /// Resources without it answer those methods with 405: tests change them through the
    /// [`ApiServer`](super::ApiServer) methods.
    pub http_writes: bool,
}

/// When a resource is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Always,
    /// Once the routes CRD is installed.
    WithRoutes,
    /// When the server was built with [`Builder::with_leases`](super::Builder::with_leases).
    WithLeases,
    /// When the server was built with [`Builder::with_policies`](super::Builder::with_policies).
    WithPolicies,
}

/// A subresource listed by discovery (`pods/status`); the server does not serve it.
#[derive(Debug, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

impl ResourceDef {
    /// The resource as the real server names it in messages: `configmaps`,
    /// `leases.coordination.k8s.io`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `v1`, `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

/// The route CRD's group.
pub const ROUTES_GROUP: &str = "route.openshift.io";

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CRD_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

const fn status(kind: &'static str) -> Subresource {
    Subresource {
        name: "status",
        group: "",
        version: "",
        kind,
        verbs: STATUS_VERBS,
    }
}

/// Every resource the server knows, in the real server's group order, the routes CRD last.
pub static RESOURCES: &[ResourceDef] = &[
    ResourceDef {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        verbs: RW,
        subresources: &[
            Subresource {
                name: "log",
                group: "",
                version: "",
                kind: "Pod",
                verbs: &["get"],
            },
            status("Pod"),
        ],
        crd: false,
        served: Served::Always,
        http_writes: false,
        bookmark_tail: r#","spec":{"containers":null},"status":{}"#,
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        verbs: RW,
        subresources: &[],
        crd: false,
        served: Served::Always,
        http_writes: true,
        bookmark_tail: "",
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: RW,
        subresources: &[],
        crd: false,
        served: Served::Always,
        http_writes: false,
        bookmark_tail: "",
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        verbs: RW,
        subresources: &[status("Service")],
        crd: false,
        served: Served::Always,
        http_writes: false,
        bookmark_tail: "",
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        verbs: RW,
        subresources: &[],
        crd: false,
        served: Served::Always,
        http_writes: false,
        bookmark_tail: "",
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        subresources: &[
            Subresource {
                name: "finalize",
                group: "",
                version: "",
                kind: "Namespace",
                verbs: &["update"],
            },
            status("Namespace"),
        ],
        crd: false,
        served: Served::Always,
        http_writes: false,
        bookmark_tail: "",
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "resourcequotas",
        singular: "resourcequota",
        kind: "ResourceQuota",
        namespaced: true,
        short_names: &["quota"],
        categories: &[],
        verbs: RW,
        subresources: &[status("ResourceQuota")],
        crd: false,
        served: Served::WithPolicies,
        http_writes: true,
        bookmark_tail: "",
    },
    ResourceDef {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        verbs: RW,
        subresources: &[
            Subresource {
                name: "scale",
                group: "autoscaling",
                version: "v1",
                kind: "Scale",
                verbs: STATUS_VERBS,
            },
            status("Deployment"),
        ],
        crd: false,
        served: Served::Always,
        http_writes: false,
        bookmark_tail: "",
    },
    ResourceDef {
        group: "networking.k8s.io",
        version: "v1",
        plural: "networkpolicies",
        singular: "networkpolicy",
        kind: "NetworkPolicy",
        namespaced: true,
        short_names: &["netpol"],
        categories: &[],
        verbs: RW,
        subresources: &[],
        crd: false,
        served: Served::WithPolicies,
        http_writes: true,
        bookmark_tail: "",
    },
    ResourceDef {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: RW,
        subresources: &[],
        crd: false,
        served: Served::WithLeases,
        http_writes: true,
        bookmark_tail: "",
    },
    ResourceDef {
        group: ROUTES_GROUP,
        version: "v1",
        plural: "routes",
        singular: "route",
        kind: "Route",
        namespaced: true,
        short_names: &[],
        categories: &[],
        verbs: CRD_VERBS,
        subresources: &[status("Route")],
        crd: true,
        served: Served::WithRoutes,
        http_writes: false,
        bookmark_tail: "",
    },
];

/// The resource named `plural`, installed or not.
pub fn by_plural(plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES.iter().find(|def| def.plural == plural)
}

/// What discovery currently shows: every built-in resource, leases and the policies
/// (NetworkPolicies, ResourceQuotas) when asked for, and the CRD once installed.
#[derive(Clone, Copy)]
pub struct Visible {
    pub routes: bool,
    pub leases: bool,
    pub policies: bool,
}

impl Visible {
    pub fn resources(self) -> impl Iterator<Item = &'static ResourceDef> {
        RESOURCES.iter().filter(move |def| match def.served {
            Served::Always => true,
            Served::WithRoutes => self.routes,
            Served::WithLeases => self.leases,
            Served::WithPolicies => self.policies,
        })
    }

    /// The served resource `plural` of `group`/`version`.
    pub fn find(self, group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
        self.resources()
            .find(|def| def.group == group && def.version == version && def.plural == plural)
    }

    /// The served API groups (not the core group), in order, each with its one version.
    fn groups(self) -> Vec<(&'static str, &'static str)> {
        let mut groups: Vec<(&str, &str)> = Vec::new();
        for def in self.resources().filter(|def| !def.group.is_empty()) {
            if !groups.contains(&(def.group, def.version)) {
                groups.push((def.group, def.version));
            }
        }
        groups
    }

    fn has_group_version(self, group: &str, version: &str) -> bool {
        self.resources()
            .any(|def| def.group == group && def.version == version)
    }
}

// --- the documents, as the real server serializes them (field order of the Go structs) ---

#[derive(Serialize)]
struct ApiVersions<'a> {
    kind: &'a str,
    versions: Vec<&'a str>,
    #[serde(rename = "serverAddressByClientCIDRs")]
    server_addresses: Vec<ServerAddress<'a>>,
}

#[derive(Serialize)]
struct ServerAddress<'a> {
    #[serde(rename = "clientCIDR")]
    client_cidr: &'a str,
    #[serde(rename = "serverAddress")]
    server_address: &'a str,
}

#[derive(Serialize)]
struct ApiResourceList {
    kind: &'static str,
    #[serde(rename = "apiVersion", skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    #[serde(rename = "groupVersion")]
    group_version: String,
    resources: Vec<ApiResource>,
}

#[derive(Serialize)]
struct ApiResource {
    name: String,
    #[serde(rename = "singularName")]
    singular_name: &'static str,
    namespaced: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    group: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
    #[serde(rename = "shortNames", skip_serializing_if = "<[_]>::is_empty")]
    short_names: &'static [&'static str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    categories: &'static [&'static str],
}

#[derive(Serialize)]
struct ApiGroupList {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    groups: Vec<ApiGroup>,
}

#[derive(Serialize)]
struct ApiGroup {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(rename = "apiVersion", skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    name: &'static str,
    versions: Vec<GroupVersion>,
    #[serde(rename = "preferredVersion")]
    preferred_version: GroupVersion,
}

#[derive(Serialize, Clone)]
struct GroupVersion {
    #[serde(rename = "groupVersion")]
    group_version: String,
    version: &'static str,
}

fn to_json<T: Serialize>(doc: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail; an empty body would show it if it did.
    let mut out = serde_json::to_vec(doc).unwrap_or_default();
    out.push(b'\n');
    out
}

/// `GET /api`.
pub fn api_versions(server_address: &str) -> Vec<u8> {
    to_json(&ApiVersions {
        kind: "APIVersions",
        versions: vec!["v1"],
        server_addresses: vec![ServerAddress {
            client_cidr: "0.0.0.0/0",
            server_address,
        }],
    })
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`; `None` when nothing is served there.
pub fn resource_list(visible: Visible, group: &str, version: &str) -> Option<Vec<u8>> {
    if !visible.has_group_version(group, version) {
        return None;
    }
    let mut resources = Vec::new();
    for def in visible
        .resources()
        .filter(|def| def.group == group && def.version == version)
    {
        resources.push(ApiResource {
            name: def.plural.to_owned(),
            singular_name: def.singular,
            namespaced: def.namespaced,
            group: "",
            version: "",
            kind: def.kind,
            verbs: def.verbs,
            short_names: def.short_names,
            categories: def.categories,
        });
        for sub in def.subresources {
            resources.push(ApiResource {
                name: format!("{}/{}", def.plural, sub.name),
                singular_name: "",
                namespaced: def.namespaced,
                group: sub.group,
                version: sub.version,
                kind: sub.kind,
                verbs: sub.verbs,
                short_names: &[],
                categories: &[],
            });
        }
    }
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    let (api_version, group_version) = if group.is_empty() {
        // The core list has no apiVersion, exactly like the real server's.
        (None, version.to_owned())
    } else {
        (Some("v1"), format!("{group}/{version}"))
    };
    Some(to_json(&ApiResourceList {
        kind: "APIResourceList",
        api_version,
        group_version,
        resources,
    }))
}

fn api_group(group: &'static str, version: &'static str, with_type: bool) -> ApiGroup {
    let gv = GroupVersion {
        group_version: format!("{group}/{version}"),
        version,
    };
    ApiGroup {
        kind: with_type.then_some("APIGroup"),
        api_version: with_type.then_some("v1"),
        name: group,
        versions: vec![gv.clone()],
        preferred_version: gv,
    }
}

/// `GET /apis`.
pub fn group_list(visible: Visible) -> Vec<u8> {
    let groups = visible
        .groups()
        .into_iter()
        .map(|(group, version)| api_group(group, version, false))
        .collect();
    to_json(&ApiGroupList {
        kind: "APIGroupList",
        api_version: "v1",
        groups,
    })
}

/// `GET /apis/{group}`; `None` for a group that is not served.
pub fn group(visible: Visible, name: &str) -> Option<Vec<u8>> {
    let (group, version) = visible.groups().into_iter().find(|(g, _)| *g == name)?;
    Some(to_json(&api_group(group, version, true)))
}

/// `GET /version`.
pub fn version() -> Vec<u8> {
    let mut out = concat!(
        r#"{"major":"1","minor":"36","emulationMajor":"1","emulationMinor":"36","#,
        r#""minCompatibilityMajor":"1","minCompatibilityMinor":"35","gitVersion":"v1.36.2","#,
        r#""gitCommit":"0000000000000000000000000000000000000000","gitTreeState":"clean","#,
        r#""buildDate":"2026-11-01T00:00:00Z","goVersion":"go1.25.4","compiler":"gc","#,
        r#""platform":"linux/amd64"}"#
    )
    .as_bytes()
    .to_vec();
    out.push(b'\n');
    out
}
