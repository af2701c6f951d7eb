//! Outbound HTTP through the host's `event_controller.http_request` import, a capability
//! (`docs/ABI.md` §6).
//!
//! The host sends a request only to the URL prefixes the operator granted the plugin in
//! `[plugins.NAME.capabilities.http] allow = [...]`; without that section every request is
//! denied, and [`send`] returns an [`Error`] whose [`Error::http_error`] gives the host's reason.
//! Secret headers (tokens) are added by the host: the plugin never sees them.
//!
//! ```no_run
//! use event_controller_guest::http::{self, Request};
//!
//! # fn demo() -> Result<(), event_controller_guest::Error> {
//! let alerts = serde_json::json!([{"labels": {"alertname": "Demo"}}]);
//! let response = Request::post("http://alertmanager.monitoring:9093/api/v2/alerts")
//!     .json_body(&alerts)?
//!     .send()?;
//! if !response.is_success() {
//!     event_controller_guest::log::warn(&format!("status {}: {}", response.status, response.body));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A module that uses this imports `http_request`, and a host without it refuses to load the
//! module (naming the import).
//!
//! # The call
//! [`send`] writes the request as JSON (`{"method":"POST","url":"...","headers":{...},"body":"..."}`)
//! and calls `http_request(ptr, len)`. The host answers with `(ptr << 32) | len` of a buffer it
//! allocated with the plugin's `alloc`, holding `{"status":200,"headers":{...},"body":"...",
//! "truncated":false}` or `{"error":"..."}`. The SDK copies the answer out and frees the buffer
//! with `dealloc`. The call blocks the plugin and counts against its `call_timeout_ms`.
//!
//! # Native tests
//! Built for a non-wasm target there is no host: [`send`] goes to the transport installed with
//! [`mock::set`] on the current thread, and fails without one. The mock receives the request as
//! the host would (parsed back from the exact JSON the SDK sends) and answers with the host's
//! JSON, so plugin logic, including error handling, is testable with `cargo test`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Error;

/// One HTTP request, as the plugin hands it to the host.
///
/// Built with [`Request::new`] or the per-method shortcuts, then [`Request::header`],
/// [`Request::body`] or [`Request::json_body`]:
///
/// ```
/// use event_controller_guest::http::Request;
///
/// let request = Request::post("http://alertmanager:9093/api/v2/alerts")
///     .header("X-Scope", "team-a")
///     .json_body(&[1, 2, 3])
///     .expect("serializable");
/// assert_eq!(
///     request.to_json(),
///     r#"{"method":"POST","url":"http://alertmanager:9093/api/v2/alerts","headers":{"Content-Type":"application/json","X-Scope":"team-a"},"body":"[1,2,3]"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The method, e.g. `GET` or `POST` (the host's default when absent from the JSON is `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// The full URL, e.g. `http://alertmanager.monitoring:9093/api/v2/alerts`.
    pub url: String,
    /// Request headers. The host replaces any whose name it sets itself (secret headers).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The body, UTF-8 text; none when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

fn default_method() -> String {
    "GET".to_owned()
}

impl Request {
    /// A request with `method` (upper-cased) to `url`, no headers and no body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Request {
        Request {
            method: method.into().to_ascii_uppercase(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request::new("GET", url)
    }

    /// A `POST` to `url`.
    pub fn post(url: impl Into<String>) -> Request {
        Request::new("POST", url)
    }

    /// A `PUT` to `url`.
    pub fn put(url: impl Into<String>) -> Request {
        Request::new("PUT", url)
    }

    /// A `DELETE` of `url`.
    pub fn delete(url: impl Into<String>) -> Request {
        Request::new("DELETE", url)
    }

    /// Sets header `name` to `value`, replacing a header of the same name in any case.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        let name = name.into();
        self.headers
            .retain(|old, _| !old.eq_ignore_ascii_case(&name));
        self.headers.insert(name, value.into());
        self
    }

    /// The value of header `name`, ignoring ASCII case.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Sets the body to `body`.
    #[must_use]
    pub fn body(mut self, body: impl Into<String>) -> Request {
        self.body = Some(body.into());
        self
    }

    /// Sets the body to `value` as JSON and, unless one is set already, the header
    /// `Content-Type: application/json`.
    pub fn json_body<T: Serialize + ?Sized>(self, value: &T) -> Result<Request, Error> {
        let body = serde_json::to_string(value)
            .map_err(|e| Error::serialize("the HTTP request body", e))?;
        let request = if self.header_value("content-type").is_some() {
            self
        } else {
            self.header("Content-Type", "application/json")
        };
        Ok(request.body(body))
    }

    /// The JSON handed to the host's `http_request`.
    pub fn to_json(&self) -> String {
        // Strings and a map of strings: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Sends the request: [`send`]`(self)`.
    pub fn send(&self) -> Result<Response, Error> {
        send(self)
    }
}

/// The server's answer. Any status is a response, including 4xx and 5xx: check
/// [`Response::is_success`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Response headers as the host gives them (lower-case names; the last of repeated ones).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, decoded as UTF-8 (lossily, by the host), at most the operator's
    /// `max_response_bytes`.
    #[serde(default)]
    pub body: String,
    /// True when the body was longer than `max_response_bytes` and was cut.
    #[serde(default)]
    pub truncated: bool,
}

impl Response {
    /// The start of the body (at most 300 characters), on one line, for a log message.
    pub fn excerpt(&self) -> String {
        const MAX: usize = 300;
        let line = self.body.trim().replace(['\n', '\r'], " ");
        match line.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}...", &line[..cut]),
            None => line,
        }
    }

    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// True when the status may be different later: 5xx, 408 or 429
    /// ([`is_transient_status`](crate::is_transient_status)). Other 4xx say the request, the
    /// token or the config is wrong: retrying cannot help.
    pub fn is_transient(&self) -> bool {
        crate::is_transient_status(self.status)
    }

    /// [`Failure::Status`](crate::Failure::Status) unless the status is 2xx.
    pub fn failure(&self) -> Option<crate::Failure> {
        crate::Failure::of_status(self.status)
    }

    /// The value of header `name`, ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Deserializes the body as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.body).map_err(|e| Error::json("the HTTP response body", e))
    }
}

fn find_header<'a>(headers: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Sends `request` through the host and waits for the answer.
///
/// - `Ok(response)` for any status the server answered with.
/// - `Err(e)` with [`Error::http_error`] `== Some(reason)` when no response came: the URL is not
///   granted (`denied: ...`), a timeout, a refused connection, a malformed request.
///   [`Error::failure`] classifies it, and [`Error::is_transient`] says whether a retry may help.
/// - `Err(e)` (with `http_error() == None`) when the host's answer cannot be read.
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
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: String,
        #[serde(default)]
        truncated: bool,
    }
    const WHAT: &str = "the host's HTTP answer";
    let answer: Answer = serde_json::from_str(answer).map_err(|e| Error::json(WHAT, e))?;
    if let Some(reason) = answer.error {
        return Err(Error::http(reason));
    }
    let Some(status) = answer.status else {
        let missing = <serde_json::Error as serde::de::Error>::missing_field("status");
        return Err(Error::json(WHAT, missing));
    };
    Ok(Response {
        status,
        headers: answer.headers,
        body: answer.body,
        truncated: answer.truncated,
    })
}

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "event_controller")]
    unsafe extern "C" {
        pub fn http_request(ptr: *const u8, len: usize) -> i64;
    }
}

/// Hands the request JSON to the host and returns its answer's JSON.
#[cfg(target_arch = "wasm32")]
fn exchange(request: &str) -> Result<String, Error> {
    // SAFETY: the host only reads `[ptr, ptr + len)`, which is `request`.
    let packed = unsafe { host::http_request(request.as_ptr(), request.len()) };
    // SAFETY: `packed` is `http_request`'s answer, taken once.
    let Some(bytes) = (unsafe { crate::__rt::take_answer(packed) }) else {
        return Err(Error::http("the host's http_request returned no answer"));
    };
    String::from_utf8(bytes).map_err(|e| Error::utf8("the host's HTTP answer", e.utf8_error()))
}

#[cfg(not(target_arch = "wasm32"))]
fn exchange(request: &str) -> Result<String, Error> {
    mock::exchange(request)
}

/// A stand-in for the host's `http_request` on non-wasm targets, for unit tests.
///
/// The transport is per thread (tests run on threads of their own) and stays installed until
/// the [`Guard`](mock::Guard) returned by [`set`](mock::set) is dropped.
///
/// ```
/// use event_controller_guest::http::{self, mock, Request};
///
/// let _guard = mock::set(|request| {
///     assert_eq!(request.method, "POST");
///     if request.url.starts_with("http://allowed/") {
///         mock::respond(200, "ok")
///     } else {
///         mock::fail(&format!("denied: {} is not under an allowed prefix", request.url))
///     }
/// });
/// let response = Request::post("http://allowed/x").body("hi").send().expect("a response");
/// assert_eq!((response.status, response.body.as_str()), (200, "ok"));
/// let error = http::send(&Request::post("http://other/")).expect_err("denied");
/// assert!(error.http_error().expect("no response").starts_with("denied"));
/// ```
#[cfg(not(target_arch = "wasm32"))]
pub mod mock {
    use std::cell::RefCell;

    use super::{Request, Response};
    use crate::mock::{answer, Installed, Slot};
    use crate::Error;

    thread_local! {
        static TRANSPORT: Slot<Request> = const { RefCell::new(None) };
    }

    /// Installs `transport` for this thread: it receives each request and returns the host's
    /// answer as JSON (see [`respond`], [`respond_with`], [`fail`]; any text works, to test bad
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

    /// The host's answer for a response with `status` and `body` and no headers.
    pub fn respond(status: u16, body: &str) -> String {
        respond_with(&super::Response {
            status,
            headers: Default::default(),
            body: body.to_owned(),
            truncated: false,
        })
    }

    /// The host's answer for `response`.
    pub fn respond_with(response: &Response) -> String {
        serde_json::to_string(response).unwrap_or_default()
    }

    /// The host's answer when no response came: `{"error": reason}`.
    pub fn fail(reason: &str) -> String {
        serde_json::json!({ "error": reason }).to_string()
    }

    /// What `http_request` does natively: the request as the host would parse it, to the
    /// transport.
    pub(super) fn exchange(request: &str) -> Result<String, Error> {
        let request: Request = serde_json::from_str(request)
            .map_err(|e| Error::json("the HTTP request (as the host reads it)", e))?;
        answer(&TRANSPORT, &request).ok_or_else(|| {
            Error::http("no HTTP transport outside the host: install one with http::mock::set")
        })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    #[test]
    fn request_json_is_what_the_abi_says() {
        assert_eq!(
            Request::get("http://h/x").to_json(),
            r#"{"method":"GET","url":"http://h/x"}"#
        );
        let request = Request::new("post", "http://h/api/v2/alerts")
            .header("content-type", "text/plain")
            .header("Content-Type", "application/json")
            .body("[]");
        assert_eq!(
            request.to_json(),
            r#"{"method":"POST","url":"http://h/api/v2/alerts","headers":{"Content-Type":"application/json"},"body":"[]"}"#
        );
        let empty_body = Request::put("http://h/").body("");
        assert_eq!(
            empty_body.to_json(),
            r#"{"method":"PUT","url":"http://h/","body":""}"#
        );
        assert_eq!(Request::delete("u").method, "DELETE");
    }

    #[test]
    fn json_body_sets_the_content_type_unless_set() {
        #[derive(Serialize)]
        struct Alert<'a> {
            labels: BTreeMap<&'a str, &'a str>,
        }
        let alerts = [Alert {
            labels: BTreeMap::from([("alertname", "A \"quoted\" é")]),
        }];
        let request = Request::post("http://h/").json_body(&alerts).expect("JSON");
        assert_eq!(
            request.body.as_deref(),
            Some(r#"[{"labels":{"alertname":"A \"quoted\" é"}}]"#)
        );
        assert_eq!(
            request.header_value("CONTENT-TYPE"),
            Some("application/json")
        );
        let custom = Request::post("http://h/")
            .header("content-type", "application/merge-patch+json")
            .json_body(&serde_json::json!({"a": 1}))
            .expect("JSON");
        assert_eq!(custom.headers.len(), 1);
        assert_eq!(
            custom.header_value("Content-Type"),
            Some("application/merge-patch+json")
        );

        let unserializable: BTreeMap<Vec<u8>, i32> = BTreeMap::from([(vec![1], 1)]);
        let error = Request::post("http://h/")
            .json_body(&unserializable)
            .expect_err("keys must be strings");
        assert!(
            error
                .to_string()
                .starts_with("cannot serialize the HTTP request body"),
            "{error}"
        );
    }

    #[test]
    fn answers() {
        let response = parse_answer(
            r#"{"status":404,"headers":{"content-type":"text/plain"},"body":"nope","truncated":true}"#,
        )
        .expect("a response");
        assert_eq!(response.status, 404);
        assert!(!response.is_success());
        assert_eq!(response.header("Content-Type"), Some("text/plain"));
        assert_eq!(response.body, "nope");
        assert!(response.truncated);
        assert!(!response.is_transient());
        assert_eq!(response.failure(), Some(crate::Failure::Status(404)));

        let minimal = parse_answer(r#"{"status":200}"#).expect("a response");
        assert!(minimal.is_success());
        assert_eq!(minimal.body, "");
        assert!(minimal.headers.is_empty());
        assert!(!minimal.truncated);

        let denied =
            parse_answer(r#"{"error":"denied: http://x/ is not under an allowed prefix"}"#)
                .expect_err("no response");
        assert_eq!(
            denied.http_error(),
            Some("denied: http://x/ is not under an allowed prefix")
        );
        assert_eq!(
            denied.to_string(),
            "HTTP request failed: denied: http://x/ is not under an allowed prefix"
        );
        assert_eq!(denied.failure(), Some(crate::Failure::Denied));
        assert!(!denied.is_transient());
        let refused = parse_answer(r#"{"error":"io: Connection refused (os error 111)"}"#)
            .expect_err("no response");
        assert_eq!(refused.failure(), Some(crate::Failure::Unreachable));
        assert!(refused.is_transient());
        for (status, transient) in [
            (500, true),
            (503, true),
            (408, true),
            (429, true),
            (400, false),
            (401, false),
            (404, false),
            (200, false),
        ] {
            let response = parse_answer(&format!(r#"{{"status":{status}}}"#)).expect("a response");
            assert_eq!(response.is_transient(), transient, "{status}");
        }
        assert_eq!(minimal.failure(), None);

        for bad in ["", "[]", "{}", r#"{"status":"200"}"#, r#"{"status":70000}"#] {
            let error = parse_answer(bad).expect_err(bad);
            assert_eq!(error.http_error(), None, "{bad}");
            assert!(
                !error.is_transient(),
                "{bad}: an unreadable answer is a bug"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("cannot deserialize the host's HTTP answer"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn an_excerpt_is_one_line_of_at_most_300_characters() {
        let response = |body: &str| Response {
            status: 500,
            headers: BTreeMap::new(),
            body: body.into(),
            truncated: false,
        };
        assert_eq!(response("  a\r\nb\n ").excerpt(), "a  b");
        let long = response(&"é".repeat(301)).excerpt();
        assert_eq!(long, format!("{}...", "é".repeat(300)));
        assert_eq!(response(&"x".repeat(300)).excerpt(), "x".repeat(300));
    }

    #[test]
    fn response_json() {
        let response = Response {
            status: 200,
            headers: BTreeMap::new(),
            body: r#"[{"a":1}]"#.into(),
            truncated: false,
        };
        let value: serde_json::Value = response.json().expect("JSON");
        assert_eq!(value[0]["a"], 1);
        let error = Response {
            body: "oops".into(),
            ..response
        }
        .json::<serde_json::Value>()
        .expect_err("not JSON");
        assert!(
            error.to_string().contains("the HTTP response body"),
            "{error}"
        );
    }

    #[test]
    fn the_mock_sees_what_the_host_would_and_restores_on_drop() {
        assert!(send(&Request::get("http://h/"))
            .expect_err("no transport")
            .http_error()
            .expect("an HTTP error")
            .contains("mock::set"));

        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = seen.clone();
        let outer = mock::set(move |request| {
            log.borrow_mut().push(request.clone());
            mock::respond(202, "accepted")
        });
        let request = Request::post("http://h/a").json_body(&[1]).expect("JSON");
        let response = request.send().expect("a response");
        assert_eq!((response.status, response.body.as_str()), (202, "accepted"));
        assert_eq!(*seen.borrow(), [request]);

        {
            let _inner = mock::set(|_| mock::fail("timed out"));
            let error = Request::get("http://h/").send().expect_err("fails");
            assert_eq!(error.http_error(), Some("timed out"));
        }
        assert_eq!(
            Request::get("http://h/b")
                .send()
                .expect("outer again")
                .status,
            202
        );
        assert_eq!(seen.borrow().len(), 2);

        {
            let _bad = mock::set(|_| "not json".to_owned());
            let error = Request::get("http://h/").send().expect_err("bad answer");
            assert_eq!(error.http_error(), None);
        }
        drop(outer);
        assert!(Request::get("http://h/").send().is_err());
    }

    #[test]
    fn a_transport_may_send_itself() {
        let _guard = mock::set(|request| {
            if request.url == "http://h/outer" {
                // Re-entrant: no transport is installed while this one runs.
                let inner = Request::get("http://h/inner").send();
                assert!(inner.is_err());
            }
            mock::respond(200, &request.url)
        });
        assert_eq!(
            Request::get("http://h/outer").send().expect("ok").body,
            "http://h/outer"
        );
        assert_eq!(
            Request::get("http://h/again")
                .send()
                .expect("still installed")
                .body,
            "http://h/again"
        );
    }
}
