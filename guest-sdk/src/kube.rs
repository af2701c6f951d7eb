//! Kubernetes reads and writes through the host's `event_controller.kube_request` import, a
//! capability (`docs/ABI.md` §6).
//!
//! The host serves only the verbs and resources the operator granted the plugin in
//! `[plugins.NAME.capabilities.kubernetes]` (`read`, `create`, `apply`, `patch`, `delete`), with
//! the controller's own credentials (so its RBAC must allow it too): [`Request::get`],
//! [`Request::list`], [`Request::create`], [`Request::apply`], [`Request::patch`] (a JSON merge
//! patch, RFC 7386) and [`Request::delete`].
//!
//! ```no_run
//! use event_controller_guest::kube::Request;
//!
//! # fn demo() -> Result<(), event_controller_guest::Error> {
//! let patch = serde_json::json!({"metadata": {"annotations": {"seen-by": "my-plugin"}}});
//! let response = Request::patch("routes.route.openshift.io", "web", patch)
//!     .namespace("shop")
//!     .send()?;
//! if !response.is_success() {
//!     // The API server refused (RBAC's 403, 404, 422...): its Status message.
//!     event_controller_guest::log::warn(&format!("{}: {}", response.status, response.message));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A module that uses this imports `kube_request`, and a host without it refuses to load the
//! module (naming the import).
//!
//! # The call
//! [`send`] writes the request as JSON
//! (`{"verb":"patch","resource":"...","namespace":"...","name":"...","patch":{...}}`) and calls
//! `kube_request(ptr, len)`. The host answers with `(ptr << 32) | len` of a buffer it allocated
//! with the plugin's `alloc`, holding `{"status":200,"object":{...}}` (the patched object),
//! `{"status":403,"message":"..."}` (the API server refused, with its Status message) or
//! `{"error":"..."}` (the host did not ask the API server: not granted, no cluster connection, a
//! timeout). The SDK copies the answer out and frees the buffer with `dealloc`. The call blocks
//! the plugin and counts against its `call_timeout_ms`.
//!
//! # Loop safety: owned objects, compare before writing
//! A plugin that writes objects it also watches sees its own writes come back as events
//! (`docs/ABI.md` §6, "Loop safety"). Two helpers do the safe thing:
//!
//! - [`ensure`]`(resource, desired, owner)` reads the object `desired` names and writes only
//!   when needed: absent, it is created carrying the owner label ([`OWNER_LABEL`] `= owner`);
//!   present, owned and different in a field `desired` sets (its `spec`, `data` or any other
//!   top-level field, its labels and annotations), those fields are server-side applied; present
//!   and equal, nothing is written ([`Ensured::Unchanged`]: what the event caused by the
//!   plugin's own write finds, so a write never leads to another); present but **not** owned
//!   (no owner label, or another owner's), it is left alone ([`Ensured::NotOwned`]).
//! - [`remove_owned`]`(resource, namespace, name, owner)` deletes the object only when it
//!   carries the owner label.
//!
//! Grant the plugin `read` and `create`, `apply` or `delete` on the resource, and
//! `label_selector = "app.kubernetes.io/managed-by=OWNER"` ([`owner_selector`]): the host then
//! refuses any write to an object without the label, whatever the plugin does.
//!
//! ```no_run
//! use event_controller_guest::kube::{self, Ensured};
//! use serde_json::json;
//!
//! # fn demo() -> Result<(), event_controller_guest::Error> {
//! let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota",
//!     "metadata": {"namespace": "shop", "name": "ns-defaults"},
//!     "spec": {"hard": {"pods": "10"}}});
//! match kube::ensure("resourcequotas", quota, "ns-defaults")? {
//!     Ensured::Created(_) | Ensured::Updated(_) => { /* wrote */ }
//!     Ensured::Unchanged(_) => { /* nothing to do: no write */ }
//!     Ensured::NotOwned(_) => { /* someone else's: left alone, say so */ }
//!     Ensured::Refused { verb, response } => { /* the API server refused `verb` */ }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Native tests
//! Built for a non-wasm target there is no host: [`send`] goes to the transport installed with
//! [`mock::set`] on the current thread, and fails without one, like [`http::mock`](crate::http).
//! [`mock::FakeCluster`] is such a transport: a small in-memory API server (get, list, create,
//! apply, patch, delete) that records the requests, for testing a plugin's writes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// One Kubernetes request, as the plugin hands it to the host. Fields a verb does not use stay
/// `None` and are left out of the JSON.
///
/// ```
/// use event_controller_guest::kube::Request;
/// use serde_json::json;
///
/// let request = Request::patch("routes.route.openshift.io", "web", json!({"spec": {"tls": null}}))
///     .namespace("shop");
/// assert_eq!(
///     request.to_json(),
///     r#"{"verb":"patch","resource":"routes.route.openshift.io","namespace":"shop","name":"web","patch":{"spec":{"tls":null}}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// `get`, `list`, `create`, `apply`, `patch` or `delete`.
    pub verb: String,
    /// The resource, exactly as the operator granted it, e.g. `routes.route.openshift.io`.
    pub resource: String,
    /// The object's namespace; `None` for a cluster-scoped resource (or, for `list`, all
    /// namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name (`get`, `patch`, `delete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The JSON merge patch (RFC 7386: `null` removes a field), for `patch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Value>,
    /// The object, for `create` and `apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// A label selector, for `list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// A field selector, for `list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<String>,
    /// For `apply`: take over fields another manager owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// For `get` and `list`: ask the API server even when the controller's watches could
    /// answer (docs/ABI.md §6, "Where reads come from").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent: Option<bool>,
}

impl Request {
    fn new(verb: &str, resource: impl Into<String>) -> Request {
        Request {
            verb: verb.to_owned(),
            resource: resource.into(),
            namespace: None,
            name: None,
            patch: None,
            object: None,
            label_selector: None,
            field_selector: None,
            force: None,
            consistent: None,
        }
    }

    /// A merge patch of the cluster-scoped object `name` of `resource`; add
    /// [`Request::namespace`] for a namespaced one.
    pub fn patch(resource: impl Into<String>, name: impl Into<String>, patch: Value) -> Request {
        Request {
            name: Some(name.into()),
            patch: Some(patch),
            ..Request::new("patch", resource)
        }
    }

    /// Reads the object `name` of `resource` (granted under `read`).
    pub fn get(resource: impl Into<String>, name: impl Into<String>) -> Request {
        Request {
            name: Some(name.into()),
            ..Request::new("get", resource)
        }
    }

    /// Lists `resource` (granted under `read`): every page, the host follows `continue`. Narrow
    /// it with [`Request::namespace`] and [`Request::label_selector`].
    pub fn list(resource: impl Into<String>) -> Request {
        Request::new("list", resource)
    }

    /// Creates `object` (its `metadata` names it and, for a namespaced resource, its namespace).
    pub fn create(resource: impl Into<String>, object: Value) -> Request {
        Request {
            object: Some(object),
            ..Request::new("create", resource)
        }
    }

    /// Server-side applies `object` (with `metadata.name`) under the plugin's field manager.
    pub fn apply(resource: impl Into<String>, object: Value) -> Request {
        Request {
            object: Some(object),
            ..Request::new("apply", resource)
        }
    }

    /// Deletes the object `name` of `resource`.
    pub fn delete(resource: impl Into<String>, name: impl Into<String>) -> Request {
        Request {
            name: Some(name.into()),
            ..Request::new("delete", resource)
        }
    }

    /// Sets a `list`'s label selector.
    #[must_use]
    pub fn label_selector(mut self, selector: impl Into<String>) -> Request {
        self.label_selector = Some(selector.into());
        self
    }

    /// Sets a `list`'s field selector.
    #[must_use]
    pub fn field_selector(mut self, selector: impl Into<String>) -> Request {
        self.field_selector = Some(selector.into());
        self
    }

    /// Lets an `apply` take over fields another manager owns.
    #[must_use]
    pub fn force(mut self) -> Request {
        self.force = Some(true);
        self
    }

    /// Makes a `get` or `list` a consistent read: from the API server, never from the
    /// controller's watches, which may not have seen the plugin's own latest write yet.
    #[must_use]
    pub fn consistent(mut self) -> Request {
        self.consistent = Some(true);
        self
    }

    /// Sets the object's namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Request {
        self.namespace = Some(namespace.into());
        self
    }

    /// The JSON handed to the host's `kube_request`.
    pub fn to_json(&self) -> String {
        // Strings and a JSON value: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Sends the request: [`send`]`(self)`.
    pub fn send(&self) -> Result<Response, Error> {
        send(self)
    }
}

/// The API server's answer. Any status is a response, including its refusals (403, 404, 422,
/// 5xx): check [`Response::is_success`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The HTTP status the API server answered with.
    pub status: u16,
    /// On success, the object as the API server returned it (read, created, applied, patched or
    /// deleted); `Null` otherwise.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub object: Value,
    /// For a `list`, every object of every page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Value>,
    /// On a refusal, the API server's Status message; empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Response {
    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// True when the status may be different later: 5xx, 408 or 429
    /// ([`is_transient_status`](crate::is_transient_status)). Other refusals (RBAC's 403, 404,
    /// 409, 422...) say the request, the object or the permissions are wrong.
    pub fn is_transient(&self) -> bool {
        crate::is_transient_status(self.status)
    }

    /// [`Failure::Status`](crate::Failure::Status) unless the status is 2xx.
    pub fn failure(&self) -> Option<crate::Failure> {
        crate::Failure::of_status(self.status)
    }

    /// The object's `metadata.resourceVersion`, when it has one.
    pub fn resource_version(&self) -> Option<&str> {
        self.object["metadata"]["resourceVersion"].as_str()
    }

    /// Deserializes [`Response::object`] into `T`.
    pub fn object<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.object).map_err(|e| Error::json("the answered object", e))
    }
}

/// Sends `request` through the host and waits for the answer.
///
/// - `Ok(response)` for any status the API server answered with, its refusals included.
/// - `Err(e)` with [`Error::kube_error`] `== Some(reason)` when the host did not get an answer
///   from the API server: the resource is not granted (`denied: ...`), a verb other than `patch`,
///   no cluster connection, a timeout, a connection failure. [`Error::failure`] classifies it, and
///   [`Error::is_transient`] says whether a retry may help.
/// - `Err(e)` (with `kube_error() == None`) when the host's answer cannot be read.
///
/// On non-wasm targets it uses the [`mock`] transport of the current thread.
pub fn send(request: &Request) -> Result<Response, Error> {
    let answer = exchange(&request.to_json())?;
    parse_answer(&answer)
}

/// Reads the host's answer: a response, or `{"error": "..."}`.
fn parse_answer(answer: &str) -> Result<Response, Error> {
    #[derive(Deserialize)]
    struct Answer {
        error: Option<String>,
        status: Option<u16>,
        #[serde(default)]
        object: Value,
        #[serde(default)]
        items: Vec<Value>,
        #[serde(default)]
        message: String,
    }
    const WHAT: &str = "the host's kube_request answer";
    let answer: Answer = serde_json::from_str(answer).map_err(|e| Error::json(WHAT, e))?;
    if let Some(reason) = answer.error {
        return Err(Error::kube(reason));
    }
    let Some(status) = answer.status else {
        let missing = <serde_json::Error as serde::de::Error>::missing_field("status");
        return Err(Error::json(WHAT, missing));
    };
    Ok(Response {
        status,
        object: answer.object,
        items: answer.items,
        message: answer.message,
    })
}

/// The label that marks an object as a plugin's own (`app.kubernetes.io/managed-by`, the
/// Kubernetes recommended label for "the tool managing this object"); its value is the owner,
/// usually the plugin's name or a configured value.
pub const OWNER_LABEL: &str = "app.kubernetes.io/managed-by";

/// The label selector of `owner`'s objects: `app.kubernetes.io/managed-by=OWNER`, for a `list`
/// and for the grant's `label_selector`.
pub fn owner_selector(owner: &str) -> String {
    format!("{OWNER_LABEL}={owner}")
}

/// True when `object` carries the owner label with the value `owner`.
pub fn is_owned(object: &Value, owner: &str) -> bool {
    object["metadata"]["labels"][OWNER_LABEL].as_str() == Some(owner)
}

/// True when every field `desired` sets is in `current` with the same value: objects member by
/// member (members `desired` lacks are ignored, such as the fields the API server defaults; a
/// `null` member must be absent; an empty object matches only an empty object, as in a
/// NetworkPolicy's `podSelector: {}`), arrays element by element (the same length), anything
/// else equal.
pub fn contains(current: &Value, desired: &Value) -> bool {
    match (current, desired) {
        (Value::Object(current), Value::Object(desired)) if desired.is_empty() => {
            current.is_empty()
        }
        (Value::Object(current), Value::Object(desired)) => desired.iter().all(|(key, value)| {
            current.get(key).is_some_and(|c| contains(c, value))
                || (value.is_null() && !current.contains_key(key))
        }),
        (Value::Array(current), Value::Array(desired)) => {
            current.len() == desired.len()
                && current.iter().zip(desired).all(|(c, d)| contains(c, d))
        }
        (current, desired) => current == desired,
    }
}

/// True when `current` has every field of `desired` that [`ensure`] compares: its top-level
/// fields other than `apiVersion`, `kind`, `metadata` and `status` (`spec`, `data`...), and its
/// `metadata.labels` and `metadata.annotations`.
pub fn matches_desired(current: &Value, desired: &Value) -> bool {
    let Some(fields) = desired.as_object() else {
        return false;
    };
    let top = fields
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "status"))
        .all(|(key, value)| contains(&current[key], value));
    let meta = ["labels", "annotations"].iter().all(|key| {
        let wanted = &desired["metadata"][key];
        // Labels and annotations are maps others add to: only the desired ones count.
        let empty = wanted.as_object().is_some_and(serde_json::Map::is_empty);
        wanted.is_null() || empty || contains(&current["metadata"][key], wanted)
    });
    top && meta
}

/// What [`ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    /// The object did not exist: created (the answered object).
    Created(Value),
    /// It was the owner's and differed: its fields were applied (the answered object).
    Updated(Value),
    /// It was the owner's and had every desired field: nothing was written (the object read).
    Unchanged(Value),
    /// It exists without the owner's label: left alone (the object read).
    NotOwned(Value),
    /// The API server refused `verb` (`get`, `create` or `apply`): its answer. A `create`
    /// refused with 409 means someone created the object in between.
    Refused {
        /// The refused request's verb.
        verb: &'static str,
        /// The API server's answer (check [`Response::is_transient`]).
        response: Response,
    },
}

impl Ensured {
    /// True when it wrote ([`Ensured::Created`] or [`Ensured::Updated`]).
    pub fn wrote(&self) -> bool {
        matches!(self, Ensured::Created(_) | Ensured::Updated(_))
    }
}

/// What [`remove_owned`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// The owner's object was deleted.
    Deleted,
    /// There was no such object: nothing to do.
    Absent,
    /// It exists without the owner's label: left alone (the object read).
    NotOwned(Value),
    /// The API server refused `verb` (`get` or `delete`): its answer. A `delete` refused with
    /// 409 means the object changed in between.
    Refused {
        /// The refused request's verb.
        verb: &'static str,
        /// The API server's answer.
        response: Response,
    },
}

/// Makes the object `desired` describes exist with the fields it sets, owned by `owner`,
/// writing only when something differs (see the module documentation, "Loop safety").
///
/// `desired` is the whole object as it should be created: `apiVersion`, `kind`, `metadata`
/// with `name` (and `namespace` for a namespaced resource), and the fields to keep in line
/// (`spec`, `data`...). The owner label ([`OWNER_LABEL`] `= owner`) is added to its labels.
///
/// 1. `get` of the object. Absent (404): `create` of `desired`, [`Ensured::Created`]. When
///    the create finds it exists after all (409: someone else created it in between), a
///    consistent `get` and on to 2.
/// 2. Present without the owner label (or with another owner's): [`Ensured::NotOwned`],
///    nothing written.
/// 3. Present, owned, with every field of `desired` ([`matches_desired`]):
///    [`Ensured::Unchanged`], nothing written.
/// 4. Present, owned, different: server-side `apply` of `desired` (forced: the owner takes back
///    fields someone else changed), [`Ensured::Updated`].
///
/// A refusal of the API server (RBAC's 403, a 409 race, 5xx) is [`Ensured::Refused`]; `Err` is
/// a request the host did not send (not granted, throttled, no connection, a timeout: see
/// [`Error::is_transient`]), or a `desired` without `metadata.name`.
pub fn ensure(resource: &str, desired: Value, owner: &str) -> Result<Ensured, Error> {
    let mut desired = desired;
    let Some(name) = desired["metadata"]["name"].as_str().map(str::to_owned) else {
        return Err(Error::kube(
            "malformed request: ensure needs an object with metadata.name",
        ));
    };
    let namespace = desired["metadata"]["namespace"].as_str().map(str::to_owned);
    if let Some(metadata) = desired.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(serde_json::Map::new());
        }
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(OWNER_LABEL.to_owned(), Value::String(owner.to_owned()));
        }
    }
    let in_namespace = |request: Request| match &namespace {
        Some(namespace) => request.namespace(namespace),
        None => request,
    };
    let mut current = in_namespace(Request::get(resource, &name)).send()?;
    if current.status == 404 {
        let created = Request::create(resource, desired.clone()).send()?;
        if created.is_success() {
            return Ok(Ensured::Created(created.object));
        }
        if created.status != 409 {
            return Ok(Ensured::Refused {
                verb: "create",
                response: created,
            });
        }
        // It exists after all: the read was answered from the controller's watches before they
        // saw it, or someone created it in between. Read it from the API server and go on.
        current = in_namespace(Request::get(resource, &name))
            .consistent()
            .send()?;
    }
    if !current.is_success() {
        return Ok(Ensured::Refused {
            verb: "get",
            response: current,
        });
    }
    if !is_owned(&current.object, owner) {
        return Ok(Ensured::NotOwned(current.object));
    }
    if matches_desired(&current.object, &desired) {
        return Ok(Ensured::Unchanged(current.object));
    }
    let applied = Request::apply(resource, desired).force().send()?;
    Ok(if applied.is_success() {
        Ensured::Updated(applied.object)
    } else {
        Ensured::Refused {
            verb: "apply",
            response: applied,
        }
    })
}

/// Deletes the object `name` of `resource` (in `namespace`, `None` for a cluster-scoped one)
/// only if it carries the owner label with the value `owner`: `get`, then `delete`.
///
/// [`Removed::Absent`] when there is none (also when it went between the two requests),
/// [`Removed::NotOwned`] when it is someone else's (nothing written), [`Removed::Refused`]
/// when the API server refused; `Err` like [`ensure`]'s.
pub fn remove_owned(
    resource: &str,
    namespace: Option<&str>,
    name: &str,
    owner: &str,
) -> Result<Removed, Error> {
    let in_namespace = |request: Request| match namespace {
        Some(namespace) => request.namespace(namespace),
        None => request,
    };
    let current = in_namespace(Request::get(resource, name)).send()?;
    if current.status == 404 {
        return Ok(Removed::Absent);
    }
    if !current.is_success() {
        return Ok(Removed::Refused {
            verb: "get",
            response: current,
        });
    }
    if !is_owned(&current.object, owner) {
        return Ok(Removed::NotOwned(current.object));
    }
    let deleted = in_namespace(Request::delete(resource, name)).send()?;
    Ok(match deleted.status {
        status if (200..300).contains(&status) => Removed::Deleted,
        404 => Removed::Absent,
        _ => Removed::Refused {
            verb: "delete",
            response: deleted,
        },
    })
}

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "event_controller")]
    unsafe extern "C" {
        pub fn kube_request(ptr: *const u8, len: usize) -> i64;
    }
}

/// Hands the request JSON to the host and returns its answer's JSON.
#[cfg(target_arch = "wasm32")]
fn exchange(request: &str) -> Result<String, Error> {
    // SAFETY: the host only reads `[ptr, ptr + len)`, which is `request`.
    let packed = unsafe { host::kube_request(request.as_ptr(), request.len()) };
    // SAFETY: `packed` is `kube_request`'s answer, taken once.
    let Some(bytes) = (unsafe { crate::__rt::take_answer(packed) }) else {
        return Err(Error::kube("the host's kube_request returned no answer"));
    };
    String::from_utf8(bytes)
        .map_err(|e| Error::utf8("the host's kube_request answer", e.utf8_error()))
}

#[cfg(not(target_arch = "wasm32"))]
fn exchange(request: &str) -> Result<String, Error> {
    mock::exchange(request)
}

/// A stand-in for the host's `kube_request` on non-wasm targets, for unit tests.
///
/// The transport is per thread and stays installed until the [`Guard`](mock::Guard) returned by
/// [`set`](mock::set) is dropped.
///
/// ```
/// use event_controller_guest::kube::{mock, Request};
/// use event_controller_guest::Failure;
/// use serde_json::json;
///
/// let _guard = mock::set(|request| match request.resource.as_str() {
///     "routes.route.openshift.io" => mock::respond(200, json!({"metadata": {"resourceVersion": "7"}})),
///     "secrets" => mock::refuse(403, "secrets \"x\" is forbidden"),
///     other => mock::fail(&format!("denied: plugin p may not patch {other}")),
/// });
/// let patch = json!({"metadata": {"labels": {"a": "b"}}});
/// let ok = Request::patch("routes.route.openshift.io", "web", patch.clone()).namespace("shop");
/// assert_eq!(ok.send().expect("a response").resource_version(), Some("7"));
/// let refused = Request::patch("secrets", "x", patch.clone()).send().expect("a response");
/// assert_eq!((refused.status, refused.is_transient()), (403, false));
/// let error = Request::patch("pods", "p", patch).send().expect_err("denied");
/// assert_eq!(error.failure(), Some(Failure::Denied));
/// ```
#[cfg(not(target_arch = "wasm32"))]
pub mod mock {
    use std::cell::RefCell;

    use serde_json::Value;

    use super::{Request, Response};
    use crate::mock::{answer, Installed, Slot};
    use crate::Error;

    thread_local! {
        static TRANSPORT: Slot<Request> = const { RefCell::new(None) };
    }

    /// Installs `transport` for this thread: it receives each request and returns the host's
    /// answer as JSON (see [`respond`], [`refuse`], [`fail`]; any text works, to test bad
    /// answers). Dropping the guard restores the previous transport.
    #[must_use = "the transport is removed when the guard is dropped"]
    pub fn set(transport: impl FnMut(&Request) -> String + 'static) -> Guard {
        Guard {
            _installed: Installed::new(&TRANSPORT, Box::new(transport)),
        }
    }

    /// Keeps a transport installed; restores the previous one when dropped.
    pub struct Guard {
        _installed: Installed<Request>,
    }

    /// The host's answer when the API server answered `status` with `object`:
    /// `{"status": status, "object": object}`.
    pub fn respond(status: u16, object: Value) -> String {
        serde_json::json!({ "status": status, "object": object }).to_string()
    }

    /// The host's answer to a `list`: `{"status": 200, "items": items}`.
    pub fn respond_list(items: Vec<Value>) -> String {
        serde_json::json!({ "status": 200, "items": items }).to_string()
    }

    /// The host's answer when the API server refused with `status` and the Status `message`:
    /// `{"status": status, "message": message}`.
    pub fn refuse(status: u16, message: &str) -> String {
        serde_json::json!({ "status": status, "message": message }).to_string()
    }

    /// The host's answer for `response`.
    pub fn respond_with(response: &Response) -> String {
        serde_json::to_string(response).unwrap_or_default()
    }

    /// The host's answer when it did not ask the API server: `{"error": reason}`.
    pub fn fail(reason: &str) -> String {
        serde_json::json!({ "error": reason }).to_string()
    }

    /// A small in-memory API server for native tests of a plugin's reads and writes: it
    /// stores objects per resource, namespace and name, answers `get`, `list` (with a
    /// namespace and an equality label selector), `create` (201, or 409 when it exists),
    /// `apply` (merged in like a merge patch; created when absent), `patch` (RFC 7386) and
    /// `delete` (its answer is the deleted object) the way the host would, gives each change
    /// a new `resourceVersion`, and records every request. It does not check grants: assert on
    /// [`FakeCluster::requests`].
    ///
    /// ```
    /// use event_controller_guest::kube::{self, mock::FakeCluster, Ensured};
    /// use serde_json::json;
    ///
    /// let cluster = FakeCluster::new();
    /// let _transport = cluster.install();
    /// let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota",
    ///     "metadata": {"namespace": "shop", "name": "q"}, "spec": {"hard": {"pods": "1"}}});
    /// let first = kube::ensure("resourcequotas", quota.clone(), "me").expect("an answer");
    /// assert!(matches!(first, Ensured::Created(_)));
    /// let again = kube::ensure("resourcequotas", quota, "me").expect("an answer");
    /// assert!(matches!(again, Ensured::Unchanged(_)));
    /// assert_eq!(cluster.writes().len(), 1);
    /// ```
    #[derive(Debug, Clone, Default)]
    pub struct FakeCluster {
        state: std::rc::Rc<RefCell<FakeState>>,
    }

    #[derive(Debug, Default)]
    struct FakeState {
        objects: std::collections::BTreeMap<(String, String, String), Value>,
        requests: Vec<Request>,
        resource_version: u64,
    }

    impl FakeCluster {
        /// An empty cluster.
        pub fn new() -> FakeCluster {
            FakeCluster::default()
        }

        /// Installs it as this thread's transport ([`set`]).
        #[must_use = "the transport is removed when the guard is dropped"]
        pub fn install(&self) -> Guard {
            let cluster = self.clone();
            set(move |request| cluster.answer(request))
        }

        /// Stores `object` of `resource` (its `metadata.namespace` and `name` say where) at a
        /// new resourceVersion, as someone else's change (not recorded as a request); returns
        /// it as stored.
        pub fn insert(&self, resource: &str, object: Value) -> Value {
            let namespace = object["metadata"]["namespace"].as_str().unwrap_or("");
            let name = object["metadata"]["name"].as_str().unwrap_or("");
            let key = (resource.to_owned(), namespace.to_owned(), name.to_owned());
            self.store(key, object)
        }

        /// Removes an object, as someone else's change; returns it.
        pub fn remove(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
            let key = (resource.to_owned(), namespace.to_owned(), name.to_owned());
            self.state.borrow_mut().objects.remove(&key)
        }

        /// The stored object (`namespace` empty for a cluster-scoped one).
        pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
            let key = (resource.to_owned(), namespace.to_owned(), name.to_owned());
            self.state.borrow().objects.get(&key).cloned()
        }

        /// Every request so far, in order.
        pub fn requests(&self) -> Vec<Request> {
            self.state.borrow().requests.clone()
        }

        /// The writes so far (`create`, `apply`, `patch`, `delete`), in order.
        pub fn writes(&self) -> Vec<Request> {
            self.requests()
                .into_iter()
                .filter(|r| !matches!(r.verb.as_str(), "get" | "list"))
                .collect()
        }

        /// Forgets the requests so far.
        pub fn clear_requests(&self) {
            self.state.borrow_mut().requests.clear();
        }

        fn store(&self, key: (String, String, String), mut object: Value) -> Value {
            let mut state = self.state.borrow_mut();
            state.resource_version += 1;
            let rv = state.resource_version;
            if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.insert("resourceVersion".into(), Value::String(rv.to_string()));
                metadata
                    .entry("uid")
                    .or_insert_with(|| Value::String(format!("uid-{rv}")));
                if !key.1.is_empty() {
                    metadata.insert("namespace".into(), Value::String(key.1.clone()));
                }
            }
            state.objects.insert(key, object.clone());
            object
        }

        /// The host's answer to `request` (what the installed transport returns).
        pub fn answer(&self, request: &Request) -> String {
            self.state.borrow_mut().requests.push(request.clone());
            let metadata = request.object.as_ref().map(|o| &o["metadata"]);
            let field = |own: &Option<String>, key: &str| {
                own.clone()
                    .or_else(|| metadata.and_then(|m| m[key].as_str()).map(str::to_owned))
                    .unwrap_or_default()
            };
            let namespace = field(&request.namespace, "namespace");
            let name = field(&request.name, "name");
            let key = (request.resource.clone(), namespace.clone(), name.clone());
            let current = self.state.borrow().objects.get(&key).cloned();
            let not_found = || refuse(404, &format!("{} \"{name}\" not found", request.resource));
            match (request.verb.as_str(), current) {
                ("get", Some(object)) => respond(200, object),
                ("get" | "patch" | "delete", None) => not_found(),
                ("list", _) => {
                    let state = self.state.borrow();
                    let items = state
                        .objects
                        .iter()
                        .filter(|((resource, ns, _), object)| {
                            *resource == request.resource
                                && request.namespace.as_ref().is_none_or(|n| n == ns)
                                && selects(request.label_selector.as_deref(), object)
                        })
                        .map(|(_, object)| object.clone())
                        .collect();
                    respond_list(items)
                }
                ("create", Some(_)) => refuse(
                    409,
                    &format!("{} \"{name}\" already exists", request.resource),
                ),
                ("create" | "apply", None) => {
                    let object = request.object.clone().unwrap_or_default();
                    respond(201, self.store(key, object))
                }
                ("apply", Some(mut object)) => {
                    merge(&mut object, request.object.as_ref().unwrap_or(&Value::Null));
                    respond(200, self.store(key, object))
                }
                ("patch", Some(mut object)) => {
                    merge(&mut object, request.patch.as_ref().unwrap_or(&Value::Null));
                    respond(200, self.store(key, object))
                }
                ("delete", Some(object)) => {
                    self.state.borrow_mut().objects.remove(&key);
                    respond(200, object)
                }
                (verb, _) => fail(&format!("unknown verb {verb:?}")),
            }
        }
    }

    /// RFC 7386.
    fn merge(target: &mut Value, patch: &Value) {
        let Value::Object(members) = patch else {
            *target = patch.clone();
            return;
        };
        if !target.is_object() {
            *target = Value::Object(serde_json::Map::new());
        }
        if let Value::Object(object) = target {
            for (key, value) in members {
                if value.is_null() {
                    object.remove(key);
                } else {
                    merge(object.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
    }

    /// An equality-based label selector (`a=b,c!=d,e`) against `object`'s labels.
    fn selects(selector: Option<&str>, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        selector
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .all(|term| {
                if let Some((key, value)) = term.split_once("!=") {
                    labels[key.trim()].as_str() != Some(value.trim())
                } else if let Some((key, value)) = term.split_once('=') {
                    let value = value.trim_start_matches('=').trim();
                    labels[key.trim()].as_str() == Some(value)
                } else if let Some(key) = term.strip_prefix('!') {
                    labels.get(key).is_none()
                } else {
                    labels.get(term).is_some()
                }
            })
    }

    /// What `kube_request` does natively: the request as the host would parse it, to the
    /// transport.
    pub(super) fn exchange(request: &str) -> Result<String, Error> {
        let request: Request = serde_json::from_str(request)
            .map_err(|e| Error::json("the Kubernetes request (as the host reads it)", e))?;
        answer(&TRANSPORT, &request).ok_or_else(|| {
            Error::kube(
                "no Kubernetes transport outside the host: install one with kube::mock::set",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use serde_json::json;

    use super::*;
    use crate::Failure;

    #[test]
    fn every_verb_writes_the_json_the_host_reads() {
        let object = json!({"metadata": {"namespace": "shop", "name": "a"}});
        let cases = [
            (Request::get("configmaps", "a").namespace("shop"), r#"{"verb":"get","resource":"configmaps","namespace":"shop","name":"a"}"#.to_owned()),
            (Request::get("configmaps", "a").namespace("shop").consistent(), r#"{"verb":"get","resource":"configmaps","namespace":"shop","name":"a","consistent":true}"#.to_owned()),
            (Request::list("configmaps").namespace("shop").label_selector("owner=me"), r#"{"verb":"list","resource":"configmaps","namespace":"shop","label_selector":"owner=me"}"#.to_owned()),
            (Request::create("configmaps", object.clone()), format!(r#"{{"verb":"create","resource":"configmaps","object":{object}}}"#)),
            (Request::apply("configmaps", object.clone()).force(), format!(r#"{{"verb":"apply","resource":"configmaps","object":{object},"force":true}}"#)),
            (Request::delete("configmaps", "a").namespace("shop"), r#"{"verb":"delete","resource":"configmaps","namespace":"shop","name":"a"}"#.to_owned()),
        ];
        for (request, json) in cases {
            assert_eq!(request.to_json(), json);
        }
        let _transport = mock::set(|_| mock::respond_list(vec![json!({"kind": "ConfigMap"})]));
        let listed = Request::list("configmaps").send().expect("listed");
        assert_eq!(listed.items.len(), 1);
    }

    #[test]
    fn request_json_is_what_the_abi_says() {
        assert_eq!(
            Request::patch("nodes", "n1", json!({"metadata": {"labels": {"a": null}}})).to_json(),
            r#"{"verb":"patch","resource":"nodes","name":"n1","patch":{"metadata":{"labels":{"a":null}}}}"#
        );
        let request = Request::patch("routes.route.openshift.io", "web", json!({}))
            .namespace("other")
            .namespace("shop");
        assert_eq!(
            request.to_json(),
            r#"{"verb":"patch","resource":"routes.route.openshift.io","namespace":"shop","name":"web","patch":{}}"#
        );
    }

    #[test]
    fn answers() {
        let patched = parse_answer(
            r#"{"status":200,"object":{"metadata":{"name":"web","resourceVersion":"17"}}}"#,
        )
        .expect("a response");
        assert!(patched.is_success());
        assert_eq!(patched.failure(), None);
        assert_eq!(patched.resource_version(), Some("17"));
        assert_eq!(patched.message, "");
        #[derive(Deserialize)]
        struct Meta {
            name: String,
        }
        #[derive(Deserialize)]
        struct Object {
            metadata: Meta,
        }
        assert_eq!(
            patched.object::<Object>().expect("typed").metadata.name,
            "web"
        );
        let error = patched.object::<u8>().expect_err("not a number");
        assert!(error.to_string().contains("the answered object"), "{error}");

        let minimal = parse_answer(r#"{"status":200}"#).expect("a response");
        assert!(minimal.is_success());
        assert_eq!(minimal.object, Value::Null);
        assert_eq!(minimal.resource_version(), None);

        let refused = parse_answer(
            r#"{"status":403,"message":"routes.route.openshift.io \"web\" is forbidden"}"#,
        )
        .expect("a refusal is a response");
        assert!(!refused.is_success());
        assert!(!refused.is_transient());
        assert_eq!(refused.failure(), Some(Failure::Status(403)));
        assert_eq!(
            refused.message,
            "routes.route.openshift.io \"web\" is forbidden"
        );
        for (status, transient) in [
            (500, true),
            (503, true),
            (429, true),
            (408, true),
            (404, false),
            (409, false),
            (422, false),
        ] {
            let response = parse_answer(&format!(r#"{{"status":{status},"message":"m"}}"#))
                .expect("a response");
            assert_eq!(response.is_transient(), transient, "{status}");
        }

        let cases = [
            (
                "denied: plugin p may not patch routes.route.openshift.io (see [plugins.p.capabilities.kubernetes])",
                Failure::Denied,
            ),
            (r#"unknown verb "delete": only "patch" is supported"#, Failure::Denied),
            ("malformed request: missing field `name`", Failure::Invalid),
            (
                "no Kubernetes connection (the controller is not watching a cluster)",
                Failure::Unavailable,
            ),
            ("timed out after 5s", Failure::Unreachable),
            (
                "client error (Connect): tcp connect error: Connection refused (os error 111)",
                Failure::Unreachable,
            ),
        ];
        for (reason, failure) in cases {
            let error = parse_answer(&mock::fail(reason)).expect_err(reason);
            assert_eq!(error.kube_error(), Some(reason));
            assert_eq!(error.http_error(), None);
            assert_eq!(error.failure(), Some(failure), "{reason}");
            assert_eq!(
                error.is_transient(),
                failure == Failure::Unreachable,
                "{reason}"
            );
            assert_eq!(
                error.to_string(),
                format!("Kubernetes request failed: {reason}")
            );
        }

        for bad in [
            "",
            "not JSON",
            "[]",
            "{}",
            r#"{"status":"200"}"#,
            r#"{"status":70000}"#,
        ] {
            let error = parse_answer(bad).expect_err(bad);
            assert_eq!(error.kube_error(), None, "{bad}");
            assert_eq!(error.failure(), None, "{bad}");
            assert!(!error.is_transient(), "{bad}");
            assert!(
                error
                    .to_string()
                    .starts_with("cannot deserialize the host's kube_request answer"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn the_mock_sees_what_the_host_would_and_restores_on_drop() {
        let error = send(&Request::patch("pods", "p", json!({}))).expect_err("no transport");
        assert!(error
            .kube_error()
            .expect("a kube error")
            .contains("mock::set"));

        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = seen.clone();
        let outer = mock::set(move |request| {
            log.borrow_mut().push(request.clone());
            mock::respond(200, json!({"metadata": {"name": request.name}}))
        });
        let request = Request::patch("pods", "p", json!({"a": 1})).namespace("ns");
        let response = request.send().expect("a response");
        assert_eq!(response.object["metadata"]["name"], "p");
        assert_eq!(*seen.borrow(), [request]);

        {
            let _inner = mock::set(|_| mock::refuse(422, "invalid"));
            let response = Request::patch("pods", "p", json!({}))
                .send()
                .expect("refused");
            assert_eq!(
                (response.status, response.message.as_str()),
                (422, "invalid")
            );
            let _innermost = mock::set(|_| {
                mock::respond_with(&Response {
                    status: 201,
                    object: json!({"kind": "Pod"}),
                    items: Vec::new(),
                    message: String::new(),
                })
            });
            let response = Request::patch("pods", "p", json!({})).send().expect("ok");
            assert_eq!(
                (response.status, response.object["kind"].as_str()),
                (201, Some("Pod"))
            );
        }
        assert!(Request::patch("pods", "q", json!({}))
            .send()
            .expect("outer again")
            .is_success());
        assert_eq!(seen.borrow().len(), 2);

        {
            let _bad = mock::set(|_| "not json".to_owned());
            let error = Request::patch("pods", "p", json!({}))
                .send()
                .expect_err("bad answer");
            assert_eq!(error.kube_error(), None);
        }
        drop(outer);
        assert!(Request::patch("pods", "p", json!({})).send().is_err());
    }

    fn quota(pods: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"namespace": "shop", "name": "defaults", "annotations": {"a": "1"}},
            "spec": {"hard": {"pods": pods}}})
    }

    fn verbs(cluster: &mock::FakeCluster) -> Vec<String> {
        cluster.requests().iter().map(|r| r.verb.clone()).collect()
    }

    #[test]
    fn ensure_creates_what_is_absent_with_the_owner_label() {
        let cluster = mock::FakeCluster::new();
        let _transport = cluster.install();
        let ensured = ensure("resourcequotas", quota("10"), "me").expect("an answer");
        let Ensured::Created(object) = &ensured else {
            panic!("{ensured:?}");
        };
        assert!(ensured.wrote());
        assert!(is_owned(object, "me"));
        assert_eq!(verbs(&cluster), ["get", "create"]);
        let stored = cluster
            .object("resourcequotas", "shop", "defaults")
            .expect("stored");
        assert_eq!(stored["metadata"]["labels"][OWNER_LABEL], "me");
        assert_eq!(stored["metadata"]["annotations"]["a"], "1");
        assert_eq!(stored["spec"]["hard"]["pods"], "10");
    }

    #[test]
    fn ensure_writes_nothing_when_equal_and_applies_only_a_difference() {
        let cluster = mock::FakeCluster::new();
        let _transport = cluster.install();
        ensure("resourcequotas", quota("10"), "me").expect("created");
        // What the API server adds (status, defaults, other labels) is no difference.
        let mut stored = cluster
            .object("resourcequotas", "shop", "defaults")
            .expect("stored");
        stored["status"] = json!({"used": {"pods": "0"}});
        stored["spec"]["scopes"] = json!(["NotTerminating"]);
        stored["metadata"]["labels"]["team"] = json!("payments");
        cluster.insert("resourcequotas", stored);
        cluster.clear_requests();
        let again = ensure("resourcequotas", quota("10"), "me").expect("an answer");
        assert!(matches!(again, Ensured::Unchanged(_)), "{again:?}");
        assert!(!again.wrote());
        assert_eq!(verbs(&cluster), ["get"], "no write when equal");

        let changed = ensure("resourcequotas", quota("20"), "me").expect("an answer");
        let Ensured::Updated(object) = &changed else {
            panic!("{changed:?}");
        };
        assert_eq!(object["spec"]["hard"]["pods"], "20");
        assert_eq!(verbs(&cluster), ["get", "get", "apply"]);
        let apply = &cluster.writes()[0];
        assert_eq!(apply.force, Some(true), "the owner takes its fields back");
        assert_eq!(
            apply.object.as_ref().expect("object")["metadata"]["labels"][OWNER_LABEL],
            "me"
        );

        // A changed annotation is a difference too; a missing one as well.
        let mut annotated = quota("20");
        annotated["metadata"]["annotations"]["a"] = json!("2");
        assert!(ensure("resourcequotas", annotated, "me")
            .expect("an answer")
            .wrote());
    }

    #[test]
    fn ensure_leaves_objects_it_does_not_own_alone() {
        let cluster = mock::FakeCluster::new();
        let _transport = cluster.install();
        let mut theirs = quota("99");
        cluster.insert("resourcequotas", theirs.clone());
        theirs["metadata"]["labels"] = json!({OWNER_LABEL: "someone-else"});
        cluster.insert("resourcequotas", theirs);
        let ensured = ensure("resourcequotas", quota("10"), "me").expect("an answer");
        let Ensured::NotOwned(object) = ensured else {
            panic!("{ensured:?}");
        };
        assert_eq!(object["spec"]["hard"]["pods"], "99");
        assert!(cluster.writes().is_empty());
        let removed =
            remove_owned("resourcequotas", Some("shop"), "defaults", "me").expect("an answer");
        assert!(matches!(removed, Removed::NotOwned(_)), "{removed:?}");
        assert!(cluster.writes().is_empty());
        assert!(cluster
            .object("resourcequotas", "shop", "defaults")
            .is_some());
    }

    #[test]
    fn remove_owned_deletes_only_the_owners_object() {
        let cluster = mock::FakeCluster::new();
        let _transport = cluster.install();
        assert_eq!(
            remove_owned("resourcequotas", Some("shop"), "defaults", "me").expect("an answer"),
            Removed::Absent
        );
        ensure("resourcequotas", quota("10"), "me").expect("created");
        assert_eq!(
            remove_owned("resourcequotas", Some("shop"), "defaults", "me").expect("an answer"),
            Removed::Deleted
        );
        assert_eq!(cluster.object("resourcequotas", "shop", "defaults"), None);
        let deletes: Vec<Request> = cluster
            .writes()
            .into_iter()
            .filter(|r| r.verb == "delete")
            .collect();
        assert_eq!(deletes.len(), 1);
        assert_eq!(deletes[0].namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn ensure_goes_on_from_a_consistent_read_when_a_stale_read_missed_the_object() {
        let existing = {
            let mut object = quota("1");
            object["metadata"]["labels"] = json!({ OWNER_LABEL: "me" });
            object
        };
        let sent = Rc::new(RefCell::new(Vec::new()));
        let log = sent.clone();
        let _stale = mock::set(move |request| {
            log.borrow_mut().push(request.clone());
            match (request.verb.as_str(), request.consistent) {
                ("get", None) => mock::refuse(404, "resourcequotas \"defaults\" not found"),
                ("create", _) => mock::refuse(409, "resourcequotas \"defaults\" already exists"),
                ("get", Some(true)) => mock::respond(200, existing.clone()),
                _ => mock::refuse(500, "unexpected"),
            }
        });
        let ensured = ensure("resourcequotas", quota("1"), "me").expect("an answer");
        assert!(matches!(ensured, Ensured::Unchanged(_)), "{ensured:?}");
        let verbs: Vec<(String, Option<bool>)> = sent
            .borrow()
            .iter()
            .map(|r| (r.verb.clone(), r.consistent))
            .collect();
        assert_eq!(
            verbs,
            [
                ("get".to_owned(), None),
                ("create".to_owned(), None),
                ("get".to_owned(), Some(true))
            ]
        );
    }

    #[test]
    fn refusals_and_host_errors_are_told_apart() {
        let _refusing = mock::set(|request| match request.verb.as_str() {
            "get" => mock::refuse(404, "not found"),
            _ => mock::refuse(403, "forbidden"),
        });
        let ensured = ensure("resourcequotas", quota("1"), "me").expect("an answer");
        let Ensured::Refused { verb, response } = ensured else {
            panic!("{ensured:?}");
        };
        assert_eq!((verb, response.status), ("create", 403));

        let _denied = mock::set(|_| mock::fail("denied: plugin p may not get resourcequotas"));
        let error = ensure("resourcequotas", quota("1"), "me").expect_err("denied");
        assert_eq!(error.failure(), Some(Failure::Denied));
        let error = remove_owned("resourcequotas", Some("shop"), "x", "me").expect_err("denied");
        assert_eq!(error.failure(), Some(Failure::Denied));
        let error = ensure("resourcequotas", json!({"metadata": {}}), "me").expect_err("no name");
        assert_eq!(error.failure(), Some(Failure::Invalid));
    }

    #[test]
    fn contains_compares_only_the_desired_fields() {
        let current =
            json!({"a": {"b": 1, "c": [{"port": 80, "protocol": "TCP"}]}, "d": 2, "e": {}});
        assert!(contains(&current, &json!({"a": {"c": [{"port": 80}]}})));
        assert!(contains(&current, &json!({"e": {}})));
        assert!(!contains(&current, &json!({"a": {}})), "{{}} means empty");
        assert!(contains(&current, &json!({"f": null})));
        assert!(!contains(&current, &json!({"d": null})));
        assert!(!contains(&current, &json!({"a": {"c": []}})));
        assert!(!contains(&current, &json!({"a": {"b": 2}})));
        assert!(!contains(&current, &json!({"g": {}})));

        let object = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}},
            "spec": {"p": 1}, "status": {"q": 2}});
        let wanted = json!({"apiVersion": "v1", "kind": "K",
            "metadata": {"name": "n", "labels": {"a": "1"}, "annotations": {}}, "spec": {"p": 1}});
        assert!(
            matches_desired(&object, &wanted),
            "others' labels and annotations count not"
        );
        let mut other_spec = wanted.clone();
        other_spec["spec"]["p"] = json!(2);
        assert!(!matches_desired(&object, &other_spec));
        let mut other_label = wanted;
        other_label["metadata"]["labels"]["b"] = json!("3");
        assert!(!matches_desired(&object, &other_label));
    }

    #[test]
    fn the_fake_cluster_lists_by_namespace_and_label() {
        let cluster = mock::FakeCluster::new();
        let _transport = cluster.install();
        for (ns, name, owner) in [("a", "x", "me"), ("a", "y", "you"), ("b", "x", "me")] {
            cluster.insert(
                "configmaps",
                json!({"metadata": {"namespace": ns, "name": name, "labels": {OWNER_LABEL: owner}}}),
            );
        }
        let listed = Request::list("configmaps")
            .namespace("a")
            .label_selector(owner_selector("me"))
            .send()
            .expect("listed");
        assert_eq!(listed.items.len(), 1);
        assert_eq!(listed.items[0]["metadata"]["name"], "x");
        let all = Request::list("configmaps").label_selector(format!("{OWNER_LABEL}!=me"));
        assert_eq!(all.send().expect("listed").items.len(), 1);
        let patched = Request::patch("configmaps", "x", json!({"data": {"k": "v"}}))
            .namespace("b")
            .send()
            .expect("patched");
        assert_eq!(patched.object["data"]["k"], "v");
        assert_eq!(
            Request::get("configmaps", "z")
                .namespace("a")
                .send()
                .expect("404")
                .status,
            404
        );
    }
}
