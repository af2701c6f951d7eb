//! Kubernetes requests of plugins, with the controller's credentials: reads (`get`, `list`) and
//! writes (`create`, `apply`, `patch`, `delete`), each granted per resource and verb in
//! `[plugins.NAME.capabilities.kubernetes]`, optionally limited to namespaces and, for writes,
//! to objects matching a label selector. Everything not granted is refused before it reaches
//! the API server; so is anything in the controller's own namespace (its config, checkpoints
//! and Lease live there), whatever RBAC allows. Writes are throttled per plugin (a write storm
//! is refused, not amplified) and each one is logged with plugin, verb, object and status.

use super::watched_reads;
use crate::cluster::resource::{self, Resource};
use crate::metrics::CapabilityOutcome;
use crate::reflector::{Reflector, Written};
use crate::subscription::LabelSelector;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Default time one Kubernetes request may take.
pub const DEFAULT_KUBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default writes a plugin may make per second (and in a burst).
pub const DEFAULT_WRITES_PER_SECOND: u32 = 10;
/// Objects asked for per page when the host pages a `list` for a plugin.
const LIST_PAGE: usize = 500;
/// The most JSON a `list` answer may hold, in bytes.
pub(super) const MAX_LIST_BYTES: usize = 8 << 20;

/// `[plugins.NAME.capabilities.kubernetes]`: what the plugin may read and write.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSection {
    /// Resources the plugin may `get` and `list`, as its requests name them.
    #[serde(default)]
    pub read: Vec<String>,
    /// Resources the plugin may `create`.
    #[serde(default)]
    pub create: Vec<String>,
    /// Resources the plugin may server-side `apply`.
    #[serde(default)]
    pub apply: Vec<String>,
    /// Resources the plugin may `patch` (JSON merge patch).
    #[serde(default)]
    pub patch: Vec<String>,
    /// Resources the plugin may `delete`.
    #[serde(default)]
    pub delete: Vec<String>,
    /// When not empty, every request must name one of these namespaces (cluster-scoped
    /// resources and all-namespace lists are then refused).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Writes only touch objects whose labels match (for `create` and `apply`, the object sent;
    /// for `patch` and `delete`, the object as it is).
    pub label_selector: Option<String>,
    /// The field manager of its writes (default `event-controller-NAME`).
    pub field_manager: Option<String>,
    /// Writes per second (and burst) before further writes are refused (default 10).
    pub max_writes_per_second: Option<u32>,
}

impl KubernetesSection {
    /// The resources granted for `verb`.
    fn granted(&self, verb: Verb) -> &[String] {
        match verb {
            Verb::Get | Verb::List => &self.read,
            Verb::Create => &self.create,
            Verb::Apply => &self.apply,
            Verb::Patch => &self.patch,
            Verb::Delete => &self.delete,
        }
    }
}

/// What a plugin may ask of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read a collection (paged by the host).
    List,
    /// Create an object.
    Create,
    /// Server-side apply an object.
    Apply,
    /// JSON-merge-patch an object.
    Patch,
    /// Delete an object.
    Delete,
}

impl Verb {
    /// Every verb, as requests name them.
    const ALL: [(&'static str, Verb); 6] = [
        ("get", Verb::Get),
        ("list", Verb::List),
        ("create", Verb::Create),
        ("apply", Verb::Apply),
        ("patch", Verb::Patch),
        ("delete", Verb::Delete),
    ];

    fn parse(text: &str) -> Option<Verb> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, v)| *v)
    }

    /// The verb as requests name it.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(name, _)| name)
    }

    /// True for the verbs that change the cluster.
    pub fn writes(self) -> bool {
        !matches!(self, Verb::Get | Verb::List)
    }
}

/// What a plugin asks of the cluster: the JSON at `kube_request`'s pointer (docs/ABI.md §6).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeRequest {
    /// `get`, `list`, `create`, `apply`, `patch` or `delete`.
    pub verb: String,
    /// The resource, as granted (`routes.route.openshift.io`).
    pub resource: String,
    /// The object's namespace; `None` for cluster-scoped resources (and all namespaces, for
    /// `list`). For `create` and `apply`, the object's own `metadata.namespace` serves too.
    pub namespace: Option<String>,
    /// The object's name (`get`, `patch`, `delete`; for `apply`, the object's own name serves).
    pub name: Option<String>,
    /// The merge patch (`patch`).
    pub patch: Option<Value>,
    /// The object (`create`, `apply`).
    pub object: Option<Value>,
    /// `list`: a label selector.
    pub label_selector: Option<String>,
    /// `list`: a field selector.
    pub field_selector: Option<String>,
    /// `apply`: take over fields another manager owns (default `false`: a conflict is a 409).
    pub force: Option<bool>,
    /// `get`, `list`: ask the API server even when the controller's watches could answer.
    pub consistent: Option<bool>,
}

/// What the plugin gets back from `kube_request`.
#[derive(Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KubeAnswer {
    /// The API server answered with an object.
    Object {
        /// The HTTP status.
        status: u16,
        /// The object (read, created, applied, patched or deleted).
        object: Value,
    },
    /// The API server answered a `list` (every page).
    List {
        /// The HTTP status.
        status: u16,
        /// The objects.
        items: Vec<Value>,
    },
    /// The API server refused (its Status message).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The Status message.
        message: String,
    },
    /// The host refused the request: not granted, outside the plugin's namespaces or label
    /// selector, the controller's own objects, throttled, or an unknown verb. The plugin sees
    /// `{"error":"denied: ..."}` (or `throttled: ...`, `unknown verb ...`).
    Denied {
        /// Why.
        error: String,
    },
    /// The host could not ask: a malformed request, no cluster connection, a timeout.
    Error {
        /// Why.
        error: String,
    },
}

impl KubeAnswer {
    /// The `outcome` label of the request's metric.
    pub fn metric_outcome(&self) -> CapabilityOutcome {
        match self {
            KubeAnswer::Object { status, .. }
            | KubeAnswer::List { status, .. }
            | KubeAnswer::Refused { status, .. } => CapabilityOutcome::of_status(*status),
            KubeAnswer::Denied { error } if error.starts_with("throttled") => {
                CapabilityOutcome::Throttled
            }
            KubeAnswer::Denied { .. } => CapabilityOutcome::Denied,
            KubeAnswer::Error { .. } => CapabilityOutcome::Error,
        }
    }

    fn denied(error: String) -> KubeAnswer {
        KubeAnswer::Denied {
            error: format!("denied: {error}"),
        }
    }

    fn error(error: impl Into<String>) -> KubeAnswer {
        KubeAnswer::Error {
            error: error.into(),
        }
    }

    pub(super) fn list_too_big() -> KubeAnswer {
        KubeAnswer::error(format!(
            "the list is over {} MiB: narrow it with a namespace or selectors",
            MAX_LIST_BYTES >> 20
        ))
    }

    /// `status=N` or `error: ...`, for the log.
    fn outcome(&self) -> String {
        match self {
            KubeAnswer::Object { status, .. }
            | KubeAnswer::List { status, .. }
            | KubeAnswer::Refused { status, .. } => format!("status={status}"),
            KubeAnswer::Denied { error } | KubeAnswer::Error { error } => format!("error: {error}"),
        }
    }
}

/// The controller's own objects, which no grant covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protected {
    /// The controller's namespace, when it is known (a pod's `POD_NAMESPACE` or service
    /// account, or the config): nothing in it is a plugin's to read or write.
    pub namespace: Option<String>,
    /// Its Lease, `(namespace, name)`, with leader election.
    pub lease: Option<(String, String)>,
    /// Its checkpoint ConfigMaps, `(namespace, name prefix)`.
    pub checkpoints: Option<(String, String)>,
}

impl Protected {
    /// Why `resource` `namespace`/`name` is the controller's own, if it is.
    pub(super) fn covers(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Option<String> {
        let namespace = namespace?;
        if self.namespace.as_deref() == Some(namespace) {
            return Some(format!("namespace {namespace} is the controller's own"));
        }
        let lease = resource.plural == "leases" && resource.group == "coordination.k8s.io";
        if let (true, Some((ns, lease_name))) = (lease, &self.lease) {
            if ns == namespace && name.is_none_or(|n| n == lease_name) {
                return Some(format!("Lease {ns}/{lease_name} is the controller's own"));
            }
        }
        let configmap = resource.plural == "configmaps" && resource.group.is_empty();
        if let (true, Some((ns, prefix))) = (configmap, &self.checkpoints) {
            if ns == namespace && name.is_none_or(|n| n.starts_with(prefix.as_str())) {
                return Some(format!(
                    "the checkpoint ConfigMaps {ns}/{prefix}* are the controller's own"
                ));
            }
        }
        None
    }
}

/// A request checked against the grant: what to send.
struct Checked<'a> {
    verb: Verb,
    resource: Resource,
    namespace: Option<String>,
    name: Option<String>,
    request: &'a KubeRequest,
    selector: Option<LabelSelector>,
    field_manager: String,
}

/// Writes left per plugin: a token bucket refilled at the plugin's rate.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    warned: Option<Instant>,
}

/// The controller's connection, for plugins granted Kubernetes access: a client and the async
/// runtime it runs on, used from the plugins' worker threads.
pub struct KubeAccess {
    client: kube::Client,
    runtime: tokio::runtime::Handle,
    protected: Protected,
    served: Mutex<Vec<Resource>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// The watched objects, when reads may be answered from them.
    reflector: Option<Reflector>,
}

/// Where a read's answer came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServedFrom {
    /// The API server (or nowhere: refused by the host).
    Api,
    /// The controller's watches.
    Watch,
}

impl std::fmt::Debug for KubeAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeAccess").finish_non_exhaustive()
    }
}

impl KubeAccess {
    /// Access through `client`, whose futures run on `runtime`, never to `protected` objects.
    pub fn new(
        client: kube::Client,
        runtime: tokio::runtime::Handle,
        protected: Protected,
    ) -> KubeAccess {
        KubeAccess {
            client,
            runtime,
            protected,
            served: Mutex::new(Vec::new()),
            buckets: Mutex::new(HashMap::new()),
            reflector: None,
        }
    }

    /// Answers reads of the `readable` resources from `reflector` when the watches cover
    /// them: tells the reflector to keep their kinds (resolved through discovery now; a name
    /// the server does not serve is read from the API server). Only for watches that see
    /// every object (no label or field selector, initial objects delivered).
    pub fn serve_reads_from(&mut self, reflector: Reflector, readable: &[String]) {
        for name in readable {
            // The timer must be made inside the runtime.
            let resolved = self
                .runtime
                .block_on(async {
                    tokio::time::timeout(DEFAULT_KUBE_TIMEOUT, self.resolve(name)).await
                })
                .unwrap_or_else(|_| Err(format!("discovery took over {DEFAULT_KUBE_TIMEOUT:?}")));
            match resolved {
                Ok(resource) => reflector.keep_kind(&resource.api_version(), &resource.kind),
                Err(error) => tracing::debug!(
                    resource = %name,
                    "plugins' reads of {name} go to the API server: {error}"
                ),
            }
        }
        self.reflector = Some(reflector);
    }

    /// Serves `request` for `plugin` if `grant` allows it, within `time_left`; logs every write.
    pub fn send(
        &self,
        plugin: &str,
        grant: Option<&KubernetesSection>,
        request: &KubeRequest,
        time_left: Duration,
    ) -> KubeAnswer {
        let timeout = DEFAULT_KUBE_TIMEOUT.min(time_left);
        let (answer, served_from) = self
            .runtime
            .block_on(async {
                tokio::time::timeout(timeout, self.serve(plugin, grant, request)).await
            })
            .unwrap_or_else(|_| {
                let answer = KubeAnswer::error(format!("timed out after {timeout:?}"));
                (answer, ServedFrom::Api)
            });
        log_request(plugin, request, &answer, served_from);
        answer
    }

    async fn serve(
        &self,
        plugin: &str,
        grant: Option<&KubernetesSection>,
        request: &KubeRequest,
    ) -> (KubeAnswer, ServedFrom) {
        let checked = match self.check(plugin, grant, request).await {
            Ok(checked) => checked,
            Err(answer) => return (answer, ServedFrom::Api),
        };
        if let Some(answer) = self.read_from_watches(&checked) {
            return (answer, ServedFrom::Watch);
        }
        if checked.verb.writes() {
            let rate = grant
                .and_then(|g| g.max_writes_per_second)
                .unwrap_or(DEFAULT_WRITES_PER_SECOND);
            if let Err(answer) = self.take_write(plugin, rate) {
                return (answer, ServedFrom::Api);
            }
        }
        let answer = match checked.verb {
            Verb::Get => self.get(&checked).await,
            Verb::List => self.list(&checked).await,
            Verb::Create => self.create(&checked).await,
            Verb::Apply => self.apply(&checked).await,
            Verb::Patch => self.patch(&checked).await,
            Verb::Delete => self.delete(&checked).await,
        };
        if checked.verb.writes() {
            self.await_in_watches(&checked, &answer);
        }
        (answer, ServedFrom::Api)
    }

    /// After a write the server accepted, reads of the object skip the watches until they show
    /// it (read-your-writes; see [`crate::reflector`]).
    fn await_in_watches(&self, checked: &Checked<'_>, answer: &KubeAnswer) {
        let (Some(reflector), KubeAnswer::Object { status, object }) = (&self.reflector, answer)
        else {
            return;
        };
        if !(200..300).contains(status) {
            return;
        }
        let resource = &checked.resource;
        // A delete may be answered with a Status instead of the object.
        let is_object = object["kind"].as_str() == Some(resource.kind.as_str());
        let metadata = &object["metadata"];
        let field = |name: &str| metadata[name].as_str().filter(|_| is_object);
        let Some(name) = field("name").or(checked.name.as_deref()) else {
            return;
        };
        let namespace = field("namespace").or(checked.namespace.as_deref());
        let version = field("resourceVersion").map(str::to_owned);
        let written = match (checked.verb, version) {
            (Verb::Delete, version) => Written::deletion(version),
            (_, Some(version)) => Written::at(version),
            (_, None) => return,
        };
        reflector.await_write(
            &resource.api_version(),
            &resource.kind,
            namespace,
            name,
            written,
        );
    }

    /// A `get` or `list` answered from the watches, when they cover it and the plugin did not
    /// ask for a consistent read.
    fn read_from_watches(&self, checked: &Checked<'_>) -> Option<KubeAnswer> {
        let reflector = self.reflector.as_ref()?;
        let request = checked.request;
        if request.consistent == Some(true) {
            return None;
        }
        let namespace = checked.namespace.as_deref();
        match checked.verb {
            Verb::Get => {
                let name = checked.name.as_deref()?;
                watched_reads::get(reflector, &checked.resource, namespace, name)
            }
            Verb::List => watched_reads::list(
                reflector,
                &self.protected,
                &checked.resource,
                namespace,
                request.label_selector.as_deref(),
                request.field_selector.as_deref(),
            ),
            _ => None,
        }
    }

    /// The grant, the namespaces, the controller's own objects and the request's shape.
    async fn check<'a>(
        &self,
        plugin: &str,
        grant: Option<&KubernetesSection>,
        request: &'a KubeRequest,
    ) -> Result<Checked<'a>, KubeAnswer> {
        let names: Vec<&str> = Verb::ALL.iter().map(|(name, _)| *name).collect();
        let verb = Verb::parse(&request.verb).ok_or_else(|| KubeAnswer::Denied {
            error: format!(
                "unknown verb {:?}: one of {}",
                request.verb,
                names.join(", ")
            ),
        })?;
        let section = format!("[plugins.{plugin}.capabilities.kubernetes]");
        let grant = grant
            .filter(|g| g.granted(verb).iter().any(|r| r == &request.resource))
            .ok_or_else(|| {
                let key = if verb.writes() { verb.as_str() } else { "read" };
                KubeAnswer::denied(format!(
                    "plugin {plugin} may not {} {} (see {section}, key {key})",
                    verb.as_str(),
                    request.resource
                ))
            })?;
        let (namespace, name) = target(verb, request)
            .map_err(|e| KubeAnswer::error(format!("malformed request: {e}")))?;
        if !grant.namespaces.is_empty()
            && !namespace
                .as_ref()
                .is_some_and(|ns| grant.namespaces.contains(ns))
        {
            return Err(KubeAnswer::denied(format!(
                "plugin {plugin} may only reach namespaces {:?} (see {section}), not {}",
                grant.namespaces,
                namespace
                    .as_deref()
                    .unwrap_or("all namespaces or cluster-scoped objects")
            )));
        }
        let resource = self
            .resolve(&request.resource)
            .await
            .map_err(KubeAnswer::error)?;
        if resource.namespaced != namespace.is_some() && verb != Verb::List {
            let needs = if resource.namespaced {
                "needs"
            } else {
                "takes no"
            };
            return Err(KubeAnswer::error(format!(
                "malformed request: {} {needs} namespace",
                request.resource
            )));
        }
        // A list is refused only in the controller's own namespace; the controller's objects
        // elsewhere (its Lease, its checkpoints) are taken out of the answer (`list`).
        let named = if verb == Verb::List {
            Some("")
        } else {
            name.as_deref()
        };
        if let Some(why) = self
            .protected
            .covers(&resource, namespace.as_deref(), named)
        {
            return Err(KubeAnswer::denied(format!("{why}: no plugin may reach it")));
        }
        let selector = match (&grant.label_selector, verb.writes()) {
            (Some(text), true) => {
                Some(LabelSelector::parse(text).map_err(|e| KubeAnswer::error(e.to_string()))?)
            }
            _ => None,
        };
        Ok(Checked {
            verb,
            resource,
            namespace,
            name,
            request,
            selector,
            field_manager: grant
                .field_manager
                .clone()
                .unwrap_or_else(|| format!("event-controller-{plugin}")),
        })
    }

    /// Takes one write from `plugin`'s bucket, or refuses (logging at most once a second).
    fn take_write(&self, plugin: &str, per_second: u32) -> Result<(), KubeAnswer> {
        let rate = f64::from(per_second.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let bucket = buckets.entry(plugin.to_owned()).or_insert(Bucket {
            tokens: rate,
            refilled: now,
            warned: None,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        if bucket
            .warned
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            bucket.warned = Some(now);
            tracing::warn!(
                plugin,
                max_writes_per_second = per_second,
                "write storm: the plugin's writes are throttled (refused, not sent)"
            );
        }
        Err(KubeAnswer::Denied {
            error: format!("throttled: plugin {plugin} made more than {per_second} writes per second; this write was not sent"),
        })
    }

    fn object_path(&self, checked: &Checked<'_>) -> String {
        let collection = checked
            .resource
            .collection_path(checked.namespace.as_deref());
        match &checked.name {
            Some(name) => format!("{collection}/{name}"),
            None => collection,
        }
    }

    async fn get(&self, checked: &Checked<'_>) -> KubeAnswer {
        let request = http::Request::get(self.object_path(checked)).body(Vec::new());
        self.exchange(request).await
    }

    /// Every page of the collection, up to [`MAX_LIST_BYTES`].
    async fn list(&self, checked: &Checked<'_>) -> KubeAnswer {
        let collection = checked
            .resource
            .collection_path(checked.namespace.as_deref());
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut continue_token: Option<String> = None;
        loop {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("limit", &LIST_PAGE.to_string());
            if let Some(selector) = &checked.request.label_selector {
                query.append_pair("labelSelector", selector);
            }
            if let Some(selector) = &checked.request.field_selector {
                query.append_pair("fieldSelector", selector);
            }
            if let Some(token) = &continue_token {
                query.append_pair("continue", token);
            }
            let request =
                http::Request::get(format!("{collection}?{}", query.finish())).body(Vec::new());
            let page = match self.exchange(request).await {
                KubeAnswer::Object { object, .. } => object,
                other => return other,
            };
            bytes += page.to_string().len();
            if bytes > MAX_LIST_BYTES {
                return KubeAnswer::list_too_big();
            }
            if let Some(page_items) = page["items"].as_array() {
                items.extend(page_items.iter().cloned());
            }
            continue_token = page["metadata"]["continue"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if continue_token.is_none() {
                items.retain(|item| {
                    let metadata = &item["metadata"];
                    let namespace = metadata["namespace"].as_str();
                    let name = metadata["name"].as_str();
                    self.protected
                        .covers(&checked.resource, namespace, name)
                        .is_none()
                });
                return KubeAnswer::List { status: 200, items };
            }
        }
    }

    async fn create(&self, checked: &Checked<'_>) -> KubeAnswer {
        let object = checked.request.object.clone().unwrap_or_default();
        if let Some(answer) = outside_selector(checked, &object) {
            return answer;
        }
        let collection = checked
            .resource
            .collection_path(checked.namespace.as_deref());
        let path = format!(
            "{collection}?fieldManager={}",
            encode(&checked.field_manager)
        );
        let request = http::Request::post(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(object.to_string().into_bytes());
        self.exchange(request).await
    }

    async fn apply(&self, checked: &Checked<'_>) -> KubeAnswer {
        let object = checked.request.object.clone().unwrap_or_default();
        if let Some(answer) = outside_selector(checked, &object) {
            return answer;
        }
        let force = checked.request.force.unwrap_or(false);
        let path = format!(
            "{}?fieldManager={}&force={force}",
            self.object_path(checked),
            encode(&checked.field_manager)
        );
        let request = http::Request::patch(path)
            .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
            .body(object.to_string().into_bytes());
        self.exchange(request).await
    }

    async fn patch(&self, checked: &Checked<'_>) -> KubeAnswer {
        let precondition = match self.current_within_selector(checked).await {
            Ok(resource_version) => resource_version,
            Err(answer) => return answer,
        };
        let mut patch = checked.request.patch.clone().unwrap_or_default();
        if let (Some(version), Some(fields)) = (precondition, patch.as_object_mut()) {
            // The object must still be the one whose labels were checked.
            let metadata = fields
                .entry("metadata")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(metadata) = metadata.as_object_mut() {
                metadata.insert("resourceVersion".into(), Value::String(version));
            }
        }
        let path = format!(
            "{}?fieldManager={}",
            self.object_path(checked),
            encode(&checked.field_manager)
        );
        let request = http::Request::patch(path)
            .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
            .body(patch.to_string().into_bytes());
        self.exchange(request).await
    }

    async fn delete(&self, checked: &Checked<'_>) -> KubeAnswer {
        let precondition = match self.current_within_selector(checked).await {
            Ok(resource_version) => resource_version,
            Err(answer) => return answer,
        };
        let options = match precondition {
            Some(version) => {
                serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": version}})
            }
            None => serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1"}),
        };
        let request = http::Request::delete(self.object_path(checked))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(options.to_string().into_bytes());
        self.exchange(request).await
    }

    /// With a label selector in the grant: the object's resourceVersion if its labels match,
    /// else the refusal. Without one: nothing to check.
    async fn current_within_selector(
        &self,
        checked: &Checked<'_>,
    ) -> Result<Option<String>, KubeAnswer> {
        let Some(selector) = &checked.selector else {
            return Ok(None);
        };
        let current = match self.get(checked).await {
            KubeAnswer::Object { object, .. } => object,
            other => return Err(other),
        };
        if !selector.matches_object(&current) {
            return Err(KubeAnswer::denied(format!(
                "{} does not match the plugin's label selector",
                object_ref(checked.namespace.as_deref(), checked.name.as_deref())
            )));
        }
        Ok(current["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_owned))
    }

    /// Sends `request` (a path relative to the server) and reads the JSON answer.
    async fn exchange(&self, request: Result<http::Request<Vec<u8>>, http::Error>) -> KubeAnswer {
        let request = match request {
            Ok(request) => request,
            Err(e) => return KubeAnswer::error(format!("invalid request: {e}")),
        };
        let (mut parts, body) = request.into_parts();
        parts.headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let request = http::Request::from_parts(parts, kube::client::Body::from(body));
        let response = match self.client.send(request).await {
            Ok(response) => response,
            Err(e) => return KubeAnswer::error(crate::cluster::error_chain(&e)),
        };
        let status = response.status().as_u16();
        use http_body_util::BodyExt;
        let body = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => return KubeAnswer::error(format!("reading the response: {e}")),
        };
        if !(200..300).contains(&status) {
            return KubeAnswer::Refused {
                status,
                message: crate::cluster::status_message(&body),
            };
        }
        match serde_json::from_slice(&body) {
            Ok(object) => KubeAnswer::Object { status, object },
            Err(e) => KubeAnswer::error(format!("the answer is not JSON: {e}")),
        }
    }

    /// The resource named `name`, from discovery (cached; looked up again when unknown).
    async fn resolve(&self, name: &str) -> Result<Resource, String> {
        let cached = {
            let served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
            resource::resolve(name, &served).ok()
        };
        if let Some(found) = cached {
            return Ok(found);
        }
        let served = resource::discover(&self.client)
            .await
            .map_err(|e| e.to_string())?;
        let found = resource::resolve(name, &served).map_err(|e| e.to_string());
        *self.served.lock().unwrap_or_else(PoisonError::into_inner) = served;
        found
    }
}

/// The namespace and name a request is about, from its fields or its object's metadata.
fn target(verb: Verb, request: &KubeRequest) -> Result<(Option<String>, Option<String>), String> {
    let metadata = request.object.as_ref().map(|object| &object["metadata"]);
    let from_object = |key: &str| metadata.and_then(|m| m[key].as_str()).map(str::to_owned);
    let agree = |given: &Option<String>, own: Option<String>, what: &str| match (given, own) {
        (Some(given), Some(own)) if *given != own => Err(format!(
            "the request's {what} {given:?} and the object's {own:?} differ"
        )),
        (Some(given), _) => Ok(Some(given.clone())),
        (None, own) => Ok(own),
    };
    let needs = |field: &str| format!("a {} request needs {field}", verb.as_str());
    match verb {
        Verb::Create | Verb::Apply => {
            if request.object.is_none() {
                return Err(needs("an object"));
            }
            let namespace = agree(&request.namespace, from_object("namespace"), "namespace")?;
            let name = agree(&request.name, from_object("name"), "name")?;
            if verb == Verb::Apply && name.is_none() {
                return Err(needs("a name (metadata.name)"));
            }
            Ok((namespace, name))
        }
        Verb::Patch if request.patch.is_none() => Err(needs("a patch")),
        Verb::Get | Verb::Patch | Verb::Delete => match &request.name {
            Some(name) => Ok((request.namespace.clone(), Some(name.clone()))),
            None => Err(needs("a name")),
        },
        Verb::List => Ok((request.namespace.clone(), None)),
    }
}

/// The refusal when the grant has a label selector the object sent does not match.
fn outside_selector(checked: &Checked<'_>, object: &Value) -> Option<KubeAnswer> {
    let selector = checked.selector.as_ref()?;
    (!selector.matches_object(object)).then(|| {
        KubeAnswer::denied(format!(
            "{} does not carry labels matching the plugin's label selector",
            object_ref(checked.namespace.as_deref(), checked.name.as_deref())
        ))
    })
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `namespace/name`, `name`, or `(generated name)`.
fn object_ref(namespace: Option<&str>, name: Option<&str>) -> String {
    let name = name.unwrap_or("(generated name)");
    match namespace {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    }
}

/// Every write at INFO (plugin, verb, object, status); reads at DEBUG, saying where they were
/// served from.
fn log_request(plugin: &str, request: &KubeRequest, answer: &KubeAnswer, served_from: ServedFrom) {
    let metadata = request.object.as_ref().map(|object| &object["metadata"]);
    let name = request
        .name
        .as_deref()
        .or_else(|| metadata.and_then(|m| m["name"].as_str()));
    let namespace = request
        .namespace
        .as_deref()
        .or_else(|| metadata.and_then(|m| m["namespace"].as_str()));
    let object = object_ref(namespace, name);
    let outcome = answer.outcome();
    let verb = request.verb.as_str();
    if Verb::parse(verb).is_some_and(|v| !v.writes()) {
        let served_from = match served_from {
            ServedFrom::Api => "api",
            ServedFrom::Watch => "watch",
        };
        tracing::debug!(plugin, verb, resource = %request.resource, object = %object, outcome = %outcome, served_from, "plugin read {}", request.resource);
        return;
    }
    let past = match verb {
        "create" => "created",
        "apply" => "applied",
        "patch" => "patched",
        "delete" => "deleted",
        _ => "asked",
    };
    tracing::info!(
        plugin,
        verb,
        resource = %request.resource,
        namespace = namespace.unwrap_or(""),
        name = name.unwrap_or(""),
        outcome = %outcome,
        "plugin {past} {} {object}",
        request.resource
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(verb: &str, json: Value) -> KubeRequest {
        let mut value = json;
        value["verb"] = Value::String(verb.into());
        value["resource"] = Value::String("configmaps".into());
        serde_json::from_value(value).expect("a request")
    }

    #[test]
    fn the_target_comes_from_the_request_or_the_objects_metadata() {
        let object =
            serde_json::json!({"object": {"metadata": {"namespace": "shop", "name": "a"}}});
        let create = request("create", object.clone());
        assert_eq!(
            target(Verb::Create, &create),
            Ok((Some("shop".into()), Some("a".into())))
        );
        let mut differing = object;
        differing["namespace"] = "other".into();
        assert!(target(Verb::Apply, &request("apply", differing)).is_err());
        assert!(target(Verb::Get, &request("get", serde_json::json!({}))).is_err());
        assert!(target(
            Verb::Patch,
            &request("patch", serde_json::json!({"name": "a"}))
        )
        .is_err());
        assert_eq!(
            target(
                Verb::List,
                &request("list", serde_json::json!({"namespace": "shop"}))
            ),
            Ok((Some("shop".into()), None))
        );
    }

    #[test]
    fn the_controllers_own_objects_are_covered() {
        let configmaps = Resource {
            plural: "configmaps".into(),
            namespaced: true,
            ..Resource::test_pods()
        };
        let leases = Resource {
            group: "coordination.k8s.io".into(),
            plural: "leases".into(),
            ..configmaps.clone()
        };
        let protected = Protected {
            namespace: None,
            lease: Some(("ops".into(), "event-controller".into())),
            checkpoints: Some(("ops".into(), "ec-".into())),
        };
        assert!(protected
            .covers(&leases, Some("ops"), Some("event-controller"))
            .is_some());
        assert!(protected
            .covers(&leases, Some("ops"), Some("another"))
            .is_none());
        assert!(protected
            .covers(&configmaps, Some("ops"), Some("ec-dns"))
            .is_some());
        assert!(
            protected.covers(&configmaps, Some("ops"), None).is_some(),
            "a list would show them"
        );
        assert!(protected
            .covers(&configmaps, Some("shop"), Some("ec-dns"))
            .is_none());
        let in_namespace = Protected {
            namespace: Some("event-controller".into()),
            ..Protected::default()
        };
        let why = in_namespace
            .covers(&configmaps, Some("event-controller"), Some("anything"))
            .expect("covered");
        assert!(why.contains("controller's own"), "{why}");
    }

    #[test]
    fn verbs_are_named_and_grants_are_per_verb() {
        let grant = KubernetesSection {
            read: vec!["pods".into()],
            delete: vec!["configmaps".into()],
            ..KubernetesSection::default()
        };
        assert_eq!(grant.granted(Verb::List), ["pods".to_owned()]);
        assert_eq!(grant.granted(Verb::Delete), ["configmaps".to_owned()]);
        assert!(grant.granted(Verb::Create).is_empty());
        for (name, verb) in Verb::ALL {
            assert_eq!(Verb::parse(name), Some(verb));
            assert_eq!(verb.as_str(), name);
        }
        assert!(Verb::Apply.writes() && !Verb::Get.writes());
    }
}
