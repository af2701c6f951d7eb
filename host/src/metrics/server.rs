//! The HTTP/1 server of `/metrics`, `/plugins`, `/healthz` and `/readyz`.

use super::{Health, Metrics};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Content type of the `/metrics` answer.
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the `/plugins` answer.
const JSON_CONTENT_TYPE: &str = "application/json";
/// Content type of every other answer.
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (for example, out of file descriptors) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why the metrics server could not accept or serve a connection.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("accepting a metrics connection failed: {0}")]
    Accept(#[source] std::io::Error),
    #[error("serving the metrics connection from {peer} failed: {source}")]
    Connection {
        peer: SocketAddr,
        #[source]
        source: hyper::Error,
    },
    #[error("a metrics connection task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Serves `/metrics` (OpenMetrics text, content type
/// `application/openmetrics-text; version=1.0.0; charset=utf-8`), `/plugins` (what runs, as
/// JSON: [`super::PluginsReport`]), `/healthz` (200 "ok"), `/readyz` (200 "ok", or 503 with
/// the readiness message as text/plain) and 404 otherwise, over HTTP/1 with one task per
/// connection, until this future is dropped (which also ends the connections). Only GET and
/// HEAD are allowed on the four paths (405 otherwise).
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, health: Arc<Health>) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let connection =
                        serve_connection(builder.clone(), stream, peer, metrics.clone(), health.clone());
                    connections.spawn(connection);
                }
                Err(error) => {
                    tracing::warn!("{}; retrying", ServeError::Accept(error));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = joined {
                    tracing::warn!("{}", ServeError::Task(error));
                }
            }
        }
    }
}

/// Answers the requests on one connection until the client closes it.
async fn serve_connection(
    builder: http1::Builder,
    stream: TcpStream,
    peer: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = respond(&request, &metrics, &health);
        async move { Ok::<_, Infallible>(response) }
    });
    if let Err(source) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!("{}", ServeError::Connection { peer, source });
    }
}

/// The answer to one request.
fn respond(
    request: &Request<Incoming>,
    metrics: &Metrics,
    health: &Health,
) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if !matches!(path, "/metrics" | "/plugins" | "/healthz" | "/readyz") {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/metrics" => response(StatusCode::OK, OPENMETRICS_CONTENT_TYPE, metrics.encode()),
        "/plugins" => plugins(metrics),
        "/readyz" => match health.readiness() {
            Ok(()) => text(StatusCode::OK, "ok\n"),
            Err(missing) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{missing}\n")),
        },
        _ => text(StatusCode::OK, "ok\n"),
    }
}

/// What runs, as JSON (a 500 in the unlikely case it cannot be serialized).
fn plugins(metrics: &Metrics) -> Response<Full<Bytes>> {
    match serde_json::to_vec(&metrics.plugins_report()) {
        Ok(mut json) => {
            json.push(b'\n');
            response(StatusCode::OK, JSON_CONTENT_TYPE, json)
        }
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialize the plugins' status: {error}\n"),
        ),
    }
}

/// A plain text answer.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    response(status, TEXT_CONTENT_TYPE, body)
}

/// An answer with `status`, `content_type` and `body`.
fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The value of `series` in OpenMetrics `text`.
    fn sample(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|rest| rest.split(' ').next().unwrap_or_default().to_owned())
    }

    /// Sends `method path` over a fresh connection; the status line and body of the answer.
    async fn request(addr: SocketAddr, method: &str, path: &str) -> (String, String) {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .expect("a blank line after the head");
        let status = head.lines().next().unwrap_or_default().to_owned();
        assert!(
            head.to_ascii_lowercase().contains("content-type:"),
            "no content type in {head}"
        );
        if path == "/metrics" && status.contains("200") {
            assert!(head.contains(OPENMETRICS_CONTENT_TYPE), "{head}");
        }
        if path == "/plugins" && status.contains("200") {
            assert!(head.contains(JSON_CONTENT_TYPE), "{head}");
        }
        (status, body.to_owned())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn serves_metrics_health_and_readiness() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::new());
        let server = tokio::spawn(serve(listener, metrics.clone(), health.clone()));

        let (status, body) = request(addr, "GET", "/healthz").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, "ok\n");

        health.expect_sync("pods in shop");
        let (status, body) = request(addr, "GET", "/readyz").await;
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(
            body,
            "plugins not loaded yet; waiting for the first list of: pods in shop\n"
        );

        health.plugins_loaded();
        health.synced("pods in shop");
        let (status, body) = request(addr, "GET", "/readyz").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, "ok\n");

        metrics.set_plugins_loaded(2);
        let (status, body) = request(addr, "GET", "/metrics").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(
            sample(&body, "event_controller_plugins_loaded").as_deref(),
            Some("2")
        );
        assert!(body.ends_with("# EOF\n"), "{body}");

        let (status, body) = request(addr, "GET", "/plugins").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, "{\"plugins\":[]}\n");
        let origin = super::super::PluginOrigin::file(std::path::Path::new("/p/a.wasm"), "ab");
        metrics
            .statuses()
            .loaded("a", origin, "all".into(), Duration::ZERO);
        let (_, body) = request(addr, "GET", "/plugins").await;
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(json["plugins"][0]["name"], "a");
        assert_eq!(json["plugins"][0]["sha256"], "ab");
        let (status, body) = request(addr, "HEAD", "/plugins").await;
        assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", ""));
        let (status, _) = request(addr, "POST", "/plugins").await;
        assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");

        let (status, _) = request(addr, "GET", "/nope").await;
        assert_eq!(status, "HTTP/1.1 404 Not Found");
        let (status, _) = request(addr, "POST", "/metrics").await;
        assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");

        server.abort();
        assert!(server.await.is_err_and(|error| error.is_cancelled()));
    }
}
