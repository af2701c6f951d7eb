//! The host side of a plugin instance's `Store`: what the instance may use ([`limits`]), what it
//! may call (deny-all WASI preview 1 and the `event_controller` functions for core modules,
//! linked by [`add_to_linker`]; deny-all WASI 0.2 and the `event-controller:plugin/host`
//! interface for components, linked by [`component::add_to_linker`]), and where its output goes
//! ([`output`]).
//!
//! Everything a plugin can import is here, beside the store data ([`HostState`]) it uses; the
//! grants behind the HTTP and Kubernetes functions come from [`crate::capabilities`].

pub mod component;
mod functions;
pub mod limits;
pub mod output;
pub mod ticker;

pub use self::functions::add_to_linker;
pub use self::limits::{LimitExceeded, Limiter, Limits, EPOCH_TICK};
pub use self::ticker::{on_epoch, EpochTicker, InFlight};

use self::output::CapturedOutput;
use crate::capabilities::{
    CapabilitiesSection, HttpAnswer, HttpCapability, HttpRequest, KubeAccess, KubeAnswer,
    KubeRequest, KubernetesSection,
};
use crate::logging;
use crate::metrics::{Capability, CapabilityOutcome, Metrics};
use event_controller_guest::abi::Level;
use std::sync::Arc;
use std::time::Instant;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;

/// What the host lends a plugin's instances beyond WASI: the cluster connection for
/// `kube_request`, the metrics its capability requests are counted in, and the epoch ticker
/// that makes its deadlines come.
#[derive(Clone, Default)]
pub struct HostServices {
    /// The controller's cluster connection (none under `replay`: every `kube_request` fails).
    pub kube: Option<Arc<KubeAccess>>,
    /// Where capability requests are counted (none: not counted).
    pub metrics: Option<Arc<Metrics>>,
    /// The runtime's epoch ticker, which ticks when a call is past its deadline (none, the default:
    /// the engine has no deadlines). Plugins get it with [`crate::runtime::Runtime::services`].
    pub epoch_ticker: EpochTicker,
}

impl std::fmt::Debug for HostServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostServices")
            .field("kube", &self.kube.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("epoch_ticker", &self.epoch_ticker)
            .finish()
    }
}

/// The host side of one instance's `Store`.
pub struct HostState {
    /// The plugin's name, for the log lines the instance causes.
    plugin: Arc<str>,
    wasi: WasiP1Ctx,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
    limiter: Limiter,
    http: Option<HttpCapability>,
    kube_grant: Option<KubernetesSection>,
    services: HostServices,
    /// When the guest code running now must be done.
    deadline: Instant,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("plugin", &self.plugin)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl HostState {
    /// The store data of a new instance of `plugin`, within `limits`, granted `capabilities`.
    pub fn new(
        plugin: Arc<str>,
        limits: &Limits,
        capabilities: &CapabilitiesSection,
        services: HostServices,
    ) -> HostState {
        let stdout = CapturedOutput::default();
        let stderr = CapturedOutput::default();
        // Nothing granted: no preopens, no env, no args, no network. Clocks and random work.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build_p1();
        HostState {
            plugin,
            wasi,
            stdout,
            stderr,
            limiter: Limiter::new(limits),
            http: capabilities.http.as_ref().map(HttpCapability::new),
            kube_grant: capabilities.kubernetes.clone(),
            services,
            deadline: Instant::now(),
        }
    }

    /// The limiter the store enforces memory and table limits with.
    pub fn limiter(&mut self) -> &mut Limiter {
        &mut self.limiter
    }

    /// Sets when the guest code about to run must be done (what is left of it bounds the
    /// capability requests it makes).
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// When the guest code running now must be done.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Marks a guest call of this instance in flight, due by its deadline, until the guard
    /// drops: the epoch ticker wakes at the deadline, which is what interrupts the call.
    pub fn call_in_flight(&self) -> InFlight {
        self.services.epoch_ticker.call(self.deadline)
    }

    /// Serves the plugin's `kube_request` (`request` is its JSON): denied unless granted, and
    /// impossible without a cluster connection. Counted and timed in the metrics.
    fn kube_request(&self, request: &[u8]) -> KubeAnswer {
        let started = Instant::now();
        let answer = self.answer_kube_request(request);
        self.count(Capability::Kubernetes, answer.metric_outcome(), started);
        answer
    }

    /// Updates one of the plugin's own metrics (`request` is the update's JSON); a refusal is
    /// logged at WARN once per reason and returned. Under `replay`, without metrics, it is
    /// accepted and dropped.
    pub fn metric(&self, request: &[u8]) -> Result<(), String> {
        let Some(metrics) = &self.services.metrics else {
            return Ok(());
        };
        let store = metrics.plugin_metrics();
        store.update(&self.plugin, request).map_err(|error| {
            let reason = error.to_string();
            if store.first_refusal(&self.plugin, &reason) {
                tracing::warn!(plugin = %self.plugin, "metric refused: {reason}");
            }
            reason
        })
    }

    /// Serves the plugin's `http_request` (`request` is its JSON): denied without the
    /// capability, else sent within what is left of the call's deadline. Counted and timed in
    /// the metrics.
    fn http_request(&self, request: &[u8]) -> HttpAnswer {
        let started = Instant::now();
        let answer = self.answer_http_request(request);
        self.count(Capability::Http, answer.metric_outcome(), started);
        answer
    }

    /// Counts a capability request that started at `started` and ended with `outcome`.
    fn count(&self, capability: Capability, outcome: CapabilityOutcome, started: Instant) {
        if let Some(metrics) = &self.services.metrics {
            let seconds = started.elapsed().as_secs_f64();
            metrics.capability_request(&self.plugin, capability, outcome, seconds);
        }
    }

    fn answer_kube_request(&self, request: &[u8]) -> KubeAnswer {
        let request: KubeRequest = match serde_json::from_slice(request) {
            Ok(request) => request,
            Err(e) => {
                return KubeAnswer::Error {
                    error: format!("malformed request: {e}"),
                }
            }
        };
        let Some(kube) = &self.services.kube else {
            return KubeAnswer::Error {
                error: "no Kubernetes connection (the controller is not watching a cluster)"
                    .to_owned(),
            };
        };
        let time_left = self.deadline.saturating_duration_since(Instant::now());
        kube.send(&self.plugin, self.kube_grant.as_ref(), &request, time_left)
    }

    fn answer_http_request(&self, request: &[u8]) -> HttpAnswer {
        let Some(http) = &self.http else {
            return HttpAnswer::Denied {
                error: format!(
                    "denied: plugin {} has no [plugins.{}.capabilities.http] section",
                    self.plugin, self.plugin
                ),
            };
        };
        let request: HttpRequest = match serde_json::from_slice(request) {
            Ok(request) => request,
            Err(e) => {
                return HttpAnswer::Error {
                    error: format!("malformed request: {e}"),
                }
            }
        };
        let time_left = self.deadline.saturating_duration_since(Instant::now());
        let answer = http.send(&request, time_left);
        tracing::debug!(plugin = %self.plugin, method = %request.method, url = %request.url,
            outcome = %answer.outcome(), "plugin HTTP request");
        answer
    }

    /// Logs what the plugin wrote to stdout (INFO) and stderr (WARN) since the last call.
    pub fn flush_output(&self) {
        for (stream, output, level) in [
            ("stdout", &self.stdout, Level::Info),
            ("stderr", &self.stderr, Level::Warn),
        ] {
            let drained = output.drain();
            for line in &drained.lines {
                logging::plugin_line(&self.plugin, stream, level, line);
            }
            if drained.dropped > 0 {
                tracing::warn!(plugin = %self.plugin, stream, dropped_bytes = drained.dropped,
                    "plugin output exceeded the buffer; the rest was dropped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::HttpSection;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// Answers `GET /ok...` with 200 and anything else with 404, on a loopback port, for as long
    /// as the test runs.
    fn http_server() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let status = if request.starts_with(b"GET /ok") {
                    "200 OK"
                } else {
                    "404 Not Found"
                };
                let answer =
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        format!("http://{address}")
    }

    fn state(http: Option<HttpSection>, metrics: &Arc<Metrics>) -> HostState {
        let capabilities = CapabilitiesSection {
            http,
            kubernetes: None,
        };
        let services = HostServices {
            kube: None,
            metrics: Some(metrics.clone()),
            ..HostServices::default()
        };
        let mut state =
            HostState::new("caller".into(), &Limits::default(), &capabilities, services);
        state.deadline = Instant::now() + Duration::from_secs(10);
        state
    }

    fn requests(metrics: &Metrics, capability: &str, outcome: &str) -> String {
        let series = format!(
            r#"event_controller_capability_requests_total{{plugin="caller",capability="{capability}",outcome="{outcome}"}} "#
        );
        let text = metrics.encode();
        text.lines()
            .find_map(|line| line.strip_prefix(series.as_str()))
            .unwrap_or("0")
            .to_owned()
    }

    #[test]
    fn http_requests_are_counted_by_outcome_and_timed() {
        let metrics = Arc::new(Metrics::new());
        let server = http_server();
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}", listener.local_addr().expect("address"))
        };
        let section = HttpSection {
            allow: vec![format!("{server}/"), format!("{closed}/")],
            timeout_ms: Some(5000),
            max_response_bytes: None,
            headers: Default::default(),
        };
        let state = state(Some(section), &metrics);
        let get = |url: String| format!(r#"{{"url":"{url}"}}"#).into_bytes();
        let answer = state.http_request(&get(format!("{server}/ok")));
        assert!(
            matches!(answer, HttpAnswer::Response { status: 200, .. }),
            "{answer:?}"
        );
        let answer = state.http_request(&get(format!("{server}/missing")));
        assert!(
            matches!(answer, HttpAnswer::Response { status: 404, .. }),
            "{answer:?}"
        );
        let answer = state.http_request(&get("http://elsewhere.invalid/".to_owned()));
        assert!(matches!(answer, HttpAnswer::Denied { .. }), "{answer:?}");
        let answer = state.http_request(&get(format!("{closed}/x")));
        assert!(matches!(answer, HttpAnswer::Error { .. }), "{answer:?}");
        let answer = state.http_request(b"not json");
        assert!(matches!(answer, HttpAnswer::Error { .. }), "{answer:?}");

        assert_eq!(requests(&metrics, "http", "ok"), "1");
        assert_eq!(requests(&metrics, "http", "status_error"), "1");
        assert_eq!(requests(&metrics, "http", "denied"), "1");
        assert_eq!(requests(&metrics, "http", "error"), "2");
        let count = r#"event_controller_capability_request_duration_seconds_count{plugin="caller",capability="http"} 5"#;
        assert!(metrics.encode().contains(count), "{}", metrics.encode());
    }

    #[test]
    fn requests_without_a_grant_or_a_cluster_are_counted_too() {
        let metrics = Arc::new(Metrics::new());
        let state = state(None, &metrics);
        let answer = state.http_request(br#"{"url":"http://127.0.0.1:9/"}"#);
        assert!(matches!(answer, HttpAnswer::Denied { .. }), "{answer:?}");
        let patch = br#"{"verb":"patch","resource":"pods","namespace":"ns","name":"p","patch":{}}"#;
        let answer = state.kube_request(patch);
        assert!(matches!(answer, KubeAnswer::Error { .. }), "{answer:?}");
        assert_eq!(requests(&metrics, "http", "denied"), "1");
        assert_eq!(requests(&metrics, "kubernetes", "error"), "1");

        // Without a metrics handle nothing is counted, and nothing breaks.
        let quiet = HostState::new(
            "quiet".into(),
            &Limits::default(),
            &CapabilitiesSection::default(),
            HostServices::default(),
        );
        assert!(matches!(
            quiet.http_request(b"{}"),
            HttpAnswer::Denied { .. }
        ));
    }
}
