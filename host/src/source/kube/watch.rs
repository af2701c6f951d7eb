//! List, then watch, one resource (in one namespace or all), across every failure.
//!
//! The loop, read top to bottom:
//!
//! 1. **List** and hand every object to the [`Reconciler`], which delivers only what changed
//!    since the last list. The list is streamed (a watch with `sendInitialEvents`, which then goes
//!    on as the watch) where the server supports it, else paginated.
//! 2. **Watch** from the list's `resourceVersion`, with bookmarks. Each event line is kept as
//!    the server's bytes. BOOKMARKs only move the `resourceVersion` on; object changes go through
//!    the reconciler (which drops what plugins have already seen).
//! 3. When the stream ends (server timeout, cut connection) → watch again from the last
//!    `resourceVersion`. When the server says 410 Gone (the version is too old) → list again.
//! 4. Any failure (unreachable, 401, 403, 429, 5xx) → one log line saying what and where, then
//!    retry after a backoff (or the server's `Retry-After`). Nothing ends the loop but shutdown.

use crate::backoff::Backoff;
use crate::cluster::resource::Resource;
use crate::cluster::{error_chain, status_message, Connection};
use crate::event::{event_bytes, EventError, EventType, WatchEvent};
use crate::source::reconcile::Reconciler;
use crate::source::{ListedTarget, SourceEvent};
use bytes::{Buf, Bytes, BytesMut};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::num::NonZeroU32;
use std::time::Duration;
use tokio::sync::mpsc;

/// Server-side watch timeout; kube's client read timeout is longer (295 s).
const WATCH_TIMEOUT_SECONDS: u32 = 290;
/// Objects per page of a paginated list unless configured otherwise: client-go's and kubectl's,
/// and the best of those measured against a real API server (docs/performance.md).
pub const DEFAULT_PAGE_SIZE: NonZeroU32 = NonZeroU32::new(500).expect("not zero");

/// What one watch loop covers.
#[derive(Debug, Clone)]
pub struct WatchTarget {
    /// The resource.
    pub resource: Resource,
    /// One namespace, or `None` for all.
    pub namespace: Option<String>,
    /// `labelSelector`, passed to the server.
    pub label_selector: Option<String>,
    /// `fieldSelector`, passed to the server.
    pub field_selector: Option<String>,
    /// Try streaming lists (`sendInitialEvents`) before paginated ones.
    pub streaming_lists: bool,
    /// Objects per page of a paginated list.
    pub page_size: NonZeroU32,
}

impl WatchTarget {
    /// `plural[.group] in namespace` for log lines.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} in namespace {ns}", self.resource.qualified_name()),
            None => format!("{} in all namespaces", self.resource.qualified_name()),
        }
    }

    /// What a completed list of this target covers.
    pub fn listed(&self) -> ListedTarget {
        ListedTarget {
            api_version: self.resource.api_version(),
            kind: self.resource.kind.clone(),
            namespace: self.namespace.clone().filter(|_| self.resource.namespaced),
        }
    }

    fn url(&self, query: &[(&str, &str)]) -> String {
        let mut url = self.resource.collection_path(self.namespace.as_deref());
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (key, value) in query {
            serializer.append_pair(key, value);
        }
        if let Some(labels) = &self.label_selector {
            serializer.append_pair("labelSelector", labels);
        }
        if let Some(fields) = &self.field_selector {
            serializer.append_pair("fieldSelector", fields);
        }
        let query = serializer.finish();
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        url
    }
}

/// Why a list or watch request failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The request did not get an answer (connection refused, TLS, timeout...).
    #[error("cannot reach the API server: {0}")]
    Unreachable(String),
    /// The server answered with an error status.
    #[error("the API server answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: StatusCode,
        /// The `Status` message, or the body.
        message: String,
        /// `Retry-After`, when the server gave one (429, 503).
        retry_after: Option<Duration>,
    },
    /// The `resourceVersion` is too old: the watch must start from a new list.
    #[error("resource version expired (410 Gone): {0}")]
    Gone(String),
    /// The server sent something that is not a watch event or a list.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// A line could not be turned into an event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// Shutdown: the receiving side has gone away.
    #[error("the event receiver has shut down")]
    Closed,
}

impl WatchError {
    /// How long to wait before the next attempt, when the server said.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            WatchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How long a watch waits before reconnecting: 0.5 s doubling to 30 s, reset after a success
/// (unless the server says `Retry-After`).
pub const RECONNECT: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

/// Lists and watches `target` forever, sending what plugins must receive to `events`.
/// Returns only when `events` is closed (shutdown).
pub async fn run(
    connection: Connection,
    target: WatchTarget,
    mut reconciler: Reconciler,
    events: mpsc::Sender<SourceEvent>,
    observer: super::Observer,
) {
    let client = connection.client;
    let what = target.describe();
    let mut failures = 0u32;
    let mut resource_version: Option<String> = None;
    let mut streaming_lists = target.streaming_lists;
    let (to, report) = (&events, &observer);
    for attempt in 0u64.. {
        if attempt > 0 {
            observer.restarted(&target);
        }
        let step = match &resource_version {
            None if streaming_lists => {
                let start = Start::WithInitialEvents;
                watch(&client, &target, start, &mut reconciler, to, report).await
            }
            None => list(&client, &target, &mut reconciler, to, report).await,
            Some(rv) => {
                let start = Start::After(rv);
                watch(&client, &target, start, &mut reconciler, to, report).await
            }
        };
        if resource_version.is_none()
            && streaming_lists
            && step.as_ref().is_err_and(rejects_streaming)
        {
            tracing::info!(watch = %what, "the server does not stream lists (sendInitialEvents); listing in pages");
            streaming_lists = false;
            continue;
        }
        match step {
            Ok(next) => {
                failures = 0;
                resource_version = Some(next);
            }
            Err(WatchError::Closed) => return,
            Err(WatchError::Gone(message)) => {
                tracing::info!(watch = %what, "{message}; listing again");
                resource_version = None;
            }
            Err(error) => {
                let delay = error.retry_after().unwrap_or_else(|| {
                    failures = failures.saturating_add(1);
                    RECONNECT.after(failures)
                });
                tracing::warn!(
                    watch = %what,
                    server = %connection.url,
                    retry_in_ms = delay.as_millis() as u64,
                    "{error}; retrying"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Lists page by page, reconciling each page as it arrives (so memory holds one page, not the
/// whole list); returns the list's `resourceVersion`. Deletions are synthesized only once the
/// last page is in: a list that fails half-way deletes nothing.
async fn list(
    client: &kube::Client,
    target: &WatchTarget,
    reconciler: &mut Reconciler,
    events: &mpsc::Sender<SourceEvent>,
    observer: &super::Observer,
) -> Result<String, WatchError> {
    let mut listed = 0usize;
    let mut continue_token: Option<String> = None;
    reconciler.start_list();
    let resource_version = loop {
        let limit = target.page_size.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(token) = &continue_token {
            query.push(("continue", token.as_str()));
        }
        let body = get(client, &target.url(&query)).await?;
        let page = ListPage::parse(&body, &target.resource)?;
        listed += page.items.len();
        for item in &page.items {
            if let Some(event) = reconciler.listed(item)? {
                send(events, event).await?;
            }
        }
        match page.continue_token {
            Some(token) => continue_token = Some(token),
            None => break page.resource_version,
        }
    };
    finish_list(reconciler, events, target, listed, &resource_version).await?;
    listed_marker(events, target, observer).await?;
    Ok(resource_version)
}

/// The list is complete: sends the synthesized deletions and logs what was listed.
async fn finish_list(
    reconciler: &mut Reconciler,
    events: &mpsc::Sender<SourceEvent>,
    target: &WatchTarget,
    listed: usize,
    resource_version: &str,
) -> Result<(), WatchError> {
    for deleted in reconciler.finish_list()? {
        send(events, deleted).await?;
    }
    tracing::info!(
        watch = %target.describe(),
        objects = listed,
        resource_version = %resource_version,
        "listed"
    );
    Ok(())
}

/// Where a watch starts.
#[derive(Clone, Copy)]
enum Start<'a> {
    /// After this `resourceVersion`.
    After(&'a str),
    /// With the current objects first, as ADDED events, up to a BOOKMARK marking their end (a
    /// streaming list: `sendInitialEvents`, Kubernetes 1.27+, on by default since 1.32).
    WithInitialEvents,
}

/// The annotation on the BOOKMARK that ends a streaming list's initial events.
const INITIAL_EVENTS_END: &[u8] = br#""k8s.io/initial-events-end":"true""#;

/// True when the server refused a streaming list because it does not support one (it then
/// answers 400 or 422 about `sendInitialEvents`); a paginated list is used instead.
fn rejects_streaming(error: &WatchError) -> bool {
    matches!(error, WatchError::Status { status, .. }
        if *status == StatusCode::UNPROCESSABLE_ENTITY || *status == StatusCode::BAD_REQUEST)
}

/// Watches until the stream ends; returns the last version seen. A streaming list first
/// reconciles the initial events as a list, then goes on as a watch.
async fn watch(
    client: &kube::Client,
    target: &WatchTarget,
    start: Start<'_>,
    reconciler: &mut Reconciler,
    events: &mpsc::Sender<SourceEvent>,
    observer: &super::Observer,
) -> Result<String, WatchError> {
    let timeout = WATCH_TIMEOUT_SECONDS.to_string();
    let mut query = vec![
        ("watch", "true"),
        ("allowWatchBookmarks", "true"),
        ("timeoutSeconds", timeout.as_str()),
    ];
    let mut listing = match start {
        Start::After(rv) => {
            query.push(("resourceVersion", rv));
            false
        }
        Start::WithInitialEvents => {
            query.push(("sendInitialEvents", "true"));
            query.push(("resourceVersionMatch", "NotOlderThan"));
            true
        }
    };
    let mut body = open(client, &target.url(&query)).await?.into_body();
    if listing {
        reconciler.start_list();
    }
    let mut last_version = match start {
        Start::After(rv) => rv.to_owned(),
        Start::WithInitialEvents => String::new(),
    };
    let mut listed = 0usize;
    let mut lines = LineBuffer::default();
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(frame)) => frame,
            // A cut connection: the partial line is dropped, and the next watch resumes.
            Some(Err(error)) => {
                tracing::debug!(watch = %target.describe(), "watch stream broke: {error}");
                break;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        for line in lines.push(data) {
            let event = WatchEvent::parse(line)?;
            if let Some(version) = event.meta().resource_version() {
                version.clone_into(&mut last_version);
            }
            let delivered = match event.meta().event_type {
                EventType::Error => return Err(watch_error_event(&event)),
                EventType::Bookmark if listing && contains(event.raw(), INITIAL_EVENTS_END) => {
                    listing = false;
                    finish_list(reconciler, events, target, listed, &last_version).await?;
                    listed_marker(events, target, observer).await?;
                    None
                }
                EventType::Bookmark => None,
                _ if listing => {
                    listed += 1;
                    reconciler.listed(&event)?
                }
                _ => reconciler.watched(&event)?,
            };
            if let Some(delivered) = delivered {
                send(events, delivered).await?;
            }
        }
    }
    if listing {
        return Err(WatchError::Protocol(
            "the stream ended before its initial events were complete".to_owned(),
        ));
    }
    Ok(last_version)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn send(events: &mpsc::Sender<SourceEvent>, event: WatchEvent) -> Result<(), WatchError> {
    events
        .send(SourceEvent::Event(event))
        .await
        .map_err(|_| WatchError::Closed)
}

/// Reports a completed list, then sends its marker behind the list's events (so whoever sees
/// the marker has seen the list, and readiness already counts it).
async fn listed_marker(
    events: &mpsc::Sender<SourceEvent>,
    target: &WatchTarget,
    observer: &super::Observer,
) -> Result<(), WatchError> {
    observer.listed(target);
    events
        .send(SourceEvent::Listed(target.listed()))
        .await
        .map_err(|_| WatchError::Closed)
}

/// Sends a GET and checks its status.
async fn open(
    client: &kube::Client,
    url: &str,
) -> Result<http::Response<kube::client::Body>, WatchError> {
    let request = Request::get(url)
        .header(http::header::ACCEPT, "application/json")
        // Watch streams are read line by line as they come: no compression.
        .header(http::header::ACCEPT_ENCODING, "identity")
        .body(kube::client::Body::empty())
        .map_err(|e| WatchError::Protocol(e.to_string()))?;
    let response = client
        .send(request)
        .await
        .map_err(|e| WatchError::Unreachable(error_chain(&e)))?;
    if response.status().is_success() {
        return Ok(response);
    }
    Err(status_error(response).await)
}

/// A whole response body.
async fn get(client: &kube::Client, url: &str) -> Result<Bytes, WatchError> {
    let body = open(client, url).await?.into_body();
    body.collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|e| WatchError::Unreachable(format!("reading the response: {}", error_chain(&e))))
}

/// Turns an error response (with its `Status` body) into a [`WatchError`].
async fn status_error(response: http::Response<kube::client::Body>) -> WatchError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let message = status_message(&body);
    if status == StatusCode::GONE {
        return WatchError::Gone(message);
    }
    WatchError::Status {
        status,
        message,
        retry_after,
    }
}

/// An ERROR event in a watch stream: 410 means list again; anything else is retried.
fn watch_error_event(event: &WatchEvent) -> WatchError {
    #[derive(serde::Deserialize)]
    struct Status {
        code: Option<u16>,
        message: Option<String>,
    }
    let status: Option<Status> = event
        .object_bytes()
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let (code, message) = match status {
        Some(s) => (s.code, s.message.unwrap_or_default()),
        None => (None, String::from_utf8_lossy(event.raw()).into_owned()),
    };
    match code {
        Some(410) => WatchError::Gone(message),
        Some(code) => WatchError::Status {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message,
            retry_after: None,
        },
        None => WatchError::Protocol(format!("ERROR event without a code: {message}")),
    }
}

/// Splits a byte stream into lines without copying complete lines that arrive in one chunk.
#[derive(Default)]
struct LineBuffer {
    partial: BytesMut,
}

impl LineBuffer {
    /// Adds a chunk and returns the complete, non-blank lines it finishes.
    fn push(&mut self, mut chunk: Bytes) -> Vec<Bytes> {
        let mut lines = Vec::new();
        while let Some(newline) = memchr::memchr(b'\n', &chunk) {
            let head = chunk.split_to(newline);
            chunk.advance(1);
            let line = if self.partial.is_empty() {
                head
            } else {
                self.partial.extend_from_slice(&head);
                std::mem::take(&mut self.partial).freeze()
            };
            if !line.trim_ascii().is_empty() {
                lines.push(line);
            }
        }
        self.partial.extend_from_slice(&chunk);
        lines
    }
}

/// One page of a list response: items made into ADDED events.
struct ListPage {
    items: Vec<WatchEvent>,
    resource_version: String,
    continue_token: Option<String>,
}

impl ListPage {
    fn parse(body: &[u8], resource: &Resource) -> Result<ListPage, WatchError> {
        #[derive(serde::Deserialize)]
        struct Metadata {
            #[serde(rename = "resourceVersion")]
            resource_version: Option<String>,
            #[serde(rename = "continue")]
            continue_token: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct List<'a> {
            metadata: Metadata,
            #[serde(borrow, default)]
            items: Vec<&'a serde_json::value::RawValue>,
        }
        let list: List<'_> = serde_json::from_slice(body)
            .map_err(|e| WatchError::Protocol(format!("not a list: {e}")))?;
        let items = list
            .items
            .iter()
            .map(|item| list_item_event(item.get().as_bytes(), resource))
            .collect::<Result<_, _>>()?;
        Ok(ListPage {
            items,
            resource_version: list.metadata.resource_version.unwrap_or_default(),
            continue_token: list.metadata.continue_token.filter(|t| !t.is_empty()),
        })
    }
}

/// An ADDED event for a list item. Items of built-in types come without `kind` and
/// `apiVersion` (the list has them); those are spliced in front of the item's own bytes.
fn list_item_event(item: &[u8], resource: &Resource) -> Result<WatchEvent, WatchError> {
    let as_is = WatchEvent::parse(event_bytes(EventType::Added, item));
    if let Ok(event) = as_is {
        return Ok(event);
    }
    let body = item
        .strip_prefix(b"{")
        .ok_or_else(|| WatchError::Protocol("a list item is not an object".to_owned()))?;
    let mut object = format!(
        r#"{{"kind":"{}","apiVersion":"{}""#,
        resource.kind,
        resource.api_version()
    )
    .into_bytes();
    if !body.trim_ascii_start().starts_with(b"}") {
        object.push(b',');
    }
    object.extend_from_slice(body);
    Ok(WatchEvent::parse(event_bytes(EventType::Added, &object))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_across_chunks() {
        let mut buffer = LineBuffer::default();
        assert!(buffer.push(Bytes::from_static(b"{\"a\":")).is_empty());
        let lines = buffer.push(Bytes::from_static(b"1}\n\n{\"b\":2}\n{\"c\""));
        assert_eq!(lines, [&b"{\"a\":1}"[..], &b"{\"b\":2}"[..]]);
        assert_eq!(
            buffer.push(Bytes::from_static(b":3}\n")),
            [&b"{\"c\":3}"[..]]
        );
    }

    #[test]
    fn list_items_get_their_kind_back() {
        let pods = Resource::test_pods();
        let event = list_item_event(
            br#"{"metadata":{"name":"a","uid":"u","resourceVersion":"5"}}"#,
            &pods,
        )
        .expect("event");
        assert_eq!(
            event.raw(),
            br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","uid":"u","resourceVersion":"5"}}}"#
        );
        let crd =
            br#"{"apiVersion":"route.openshift.io/v1","kind":"Route","metadata":{"name":"r"}}"#;
        let event = list_item_event(crd, &pods).expect("event");
        assert_eq!(
            event.meta().kind(),
            "Route",
            "items that have a kind keep it"
        );
    }

    #[test]
    fn status_bodies_give_their_message() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"x\" cannot list resource \"pods\"","reason":"Forbidden","code":403}"#;
        assert_eq!(
            status_message(body),
            r#"pods is forbidden: User "x" cannot list resource "pods""#
        );
        assert_eq!(status_message(b"plain text\n"), "plain text");
    }
}
