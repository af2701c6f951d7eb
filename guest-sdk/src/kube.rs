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
//! # Native tests
//! Built for a non-wasm target there is no host: [`send`] goes to the transport installed with
//! [`mock::set`] on the current thread, and fails without one, like [`http::mock`](crate::http).

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
}
