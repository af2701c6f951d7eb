//! `event-controller status [--address HOST:PORT] [--json]`: what runs in a live controller,
//! asked of its `/plugins` endpoint (the metrics address) and printed as a table, one row per
//! plugin, with notes below for back-offs, failures and refused versions.

use crate::metrics::status::{unix_seconds, PluginState};
use crate::metrics::{PluginStatus, PluginsReport};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime};

/// Where `status` asks when neither `--address` nor the metrics address says otherwise.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9090";
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the answer may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an error answer's body quoted in an error.
const QUOTED_BODY: usize = 200;
/// Digits of a sha256 shown in the table.
const SHORT_SHA: usize = 12;

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The metrics address is `off`: there is nothing to ask.
    #[error(
        "the metrics endpoints are off (METRICS_ADDRESS=off), so there is no /plugins to ask; \
         pass --address HOST:PORT"
    )]
    Off,
    /// Nothing answers at the address.
    #[error(
        "nothing answers at {address}: {cause}; is `event-controller run` running with its \
         metrics there (--metrics-address, METRICS_ADDRESS)? Pass --address HOST:PORT otherwise"
    )]
    Connect {
        /// The address asked.
        address: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The connection broke, or timed out, before the whole answer came.
    #[error("reading http://{address}/plugins failed: {cause}")]
    Read {
        /// The address asked.
        address: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The answer was not 200 (or not HTTP).
    #[error("http://{address}/plugins answered {status}: {body}{hint}")]
    Http {
        /// The address asked.
        address: String,
        /// The status line (or what came instead).
        status: String,
        /// The start of the body.
        body: String,
        /// What a 404 likely means.
        hint: &'static str,
    },
    /// The body was not the JSON of `/plugins`.
    #[error("http://{address}/plugins answered something that is not its JSON: {cause}")]
    Json {
        /// The address asked.
        address: String,
        /// Why.
        cause: serde_json::Error,
    },
}

/// What `/plugins` answered: its JSON as sent, and read.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The body, as the controller sent it.
    pub json: String,
    /// The body, read.
    pub report: PluginsReport,
}

/// The address to ask: `configured` (a `--address`, or the metrics address `run` was given),
/// else [`DEFAULT_ADDRESS`]. A wildcard host (`0.0.0.0`, `[::]`, as `run` listens) becomes
/// loopback; `off` is an error.
pub fn address_to_ask(configured: Option<&str>) -> Result<String, StatusError> {
    let Some(address) = configured.map(str::trim) else {
        return Ok(DEFAULT_ADDRESS.to_owned());
    };
    if address.eq_ignore_ascii_case("off") {
        return Err(StatusError::Off);
    }
    if let Some(port) = address.strip_prefix("0.0.0.0:") {
        return Ok(format!("127.0.0.1:{port}"));
    }
    if let Some(port) = address.strip_prefix("[::]:") {
        return Ok(format!("[::1]:{port}"));
    }
    Ok(address.to_owned())
}

/// `GET http://address/plugins`, read.
pub fn fetch(address: &str) -> Result<Answer, StatusError> {
    let mut stream = connect(address)?;
    let read_error = |cause| StatusError::Read {
        address: address.to_owned(),
        cause,
    };
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(read_error)?;
    // HTTP/1.0: the server answers with a length and closes; no chunks to decode.
    let request =
        format!("GET /plugins HTTP/1.0\r\nHost: {address}\r\nAccept: application/json\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(read_error)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(read_error)?;
    let json = body_of_ok(address, &String::from_utf8_lossy(&answer))?;
    let report = serde_json::from_str(&json).map_err(|cause| StatusError::Json {
        address: address.to_owned(),
        cause,
    })?;
    Ok(Answer { json, report })
}

/// A connection to the first of `address`'s addresses that accepts one.
fn connect(address: &str) -> Result<TcpStream, StatusError> {
    let connect_error = |cause| StatusError::Connect {
        address: address.to_owned(),
        cause,
    };
    let candidates: Vec<SocketAddr> = address.to_socket_addrs().map_err(connect_error)?.collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to");
    for candidate in candidates {
        match TcpStream::connect_timeout(&candidate, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(connect_error(last))
}

/// The body of `answer` (a whole HTTP response) if its status is 200.
fn body_of_ok(address: &str, answer: &str) -> Result<String, StatusError> {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let status = head.lines().next().unwrap_or_default();
    let code = status.split(' ').nth(1);
    if status.starts_with("HTTP/") && code == Some("200") {
        return Ok(body.to_owned());
    }
    let hint = if code == Some("404") {
        " (a controller from before `status` existed, or not an event-controller)"
    } else {
        ""
    };
    Err(StatusError::Http {
        address: address.to_owned(),
        status: if status.is_empty() {
            "nothing".to_owned()
        } else {
            status.to_owned()
        },
        body: body.trim().chars().take(QUOTED_BODY).collect(),
        hint,
    })
}

/// The column headers of [`table`].
const HEADERS: [&str; 11] = [
    "NAME",
    "STATE",
    "SOURCE",
    "SHA256",
    "LOADED",
    "QUEUE",
    "BACKLOG",
    "CALLS",
    "FAILURES",
    "LAST-FAILURE",
    "RETRIES",
];

/// `report` as an aligned table, one row per plugin, ages counted up to `now`; then a note per
/// back-off, last failure and refused version. "no plugins" when there are none.
pub fn table(report: &PluginsReport, now: SystemTime) -> String {
    if report.plugins.is_empty() {
        return "no plugins\n".to_owned();
    }
    let now = unix_seconds(now);
    let mut rows = vec![HEADERS.map(str::to_owned).to_vec()];
    rows.extend(report.plugins.iter().map(|plugin| row(plugin, now)));
    let mut out = aligned(&rows);
    let notes: Vec<String> = report
        .plugins
        .iter()
        .flat_map(|plugin| notes_of(plugin, now))
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            out.push_str(&note);
            out.push('\n');
        }
    }
    out
}

/// One plugin's cells, in the order of [`HEADERS`].
fn row(plugin: &PluginStatus, now: f64) -> Vec<String> {
    let loaded = plugin
        .loaded
        .as_ref()
        .map_or_else(|| "-".to_owned(), |loaded| ago(now - loaded.at_unix));
    let backlog = if plugin.lag_seconds >= 1.0 {
        format!(
            "{} ({} behind)",
            plugin.backlog_objects,
            span(plugin.lag_seconds)
        )
    } else {
        plugin.backlog_objects.to_string()
    };
    let last_failure = plugin.last_failure.as_ref().map_or_else(
        || "-".to_owned(),
        |failure| format!("{} {}", failure.kind, ago(now - failure.at_unix)),
    );
    vec![
        plugin.name.clone(),
        plugin.state.as_str().to_owned(),
        plugin.source.clone(),
        plugin.sha256.chars().take(SHORT_SHA).collect(),
        loaded,
        plugin.queue_depth.to_string(),
        backlog,
        plugin.calls.to_string(),
        plugin.failures.to_string(),
        last_failure,
        plugin.pending_retries.to_string(),
    ]
}

/// What the table's cells cannot say about `plugin`: its back-off, its last failure's message,
/// its refused version.
fn notes_of(plugin: &PluginStatus, now: f64) -> Vec<String> {
    let name = &plugin.name;
    let mut notes = Vec::new();
    if let Some(backoff) = &plugin.backoff {
        let when = if backoff.until_unix > now {
            format!("in {}", span(backoff.until_unix - now))
        } else {
            "passed; the next event is tried".to_owned()
        };
        notes.push(format!(
            "{name}: backed off after {} failures in a row: events skipped until {} ({when})",
            backoff.consecutive_failures, backoff.until
        ));
    }
    if let Some(failure) = &plugin.last_failure {
        notes.push(format!(
            "{name}: last failure ({}, on {}, {}): {}",
            failure.kind,
            failure.event,
            failure.at,
            first_line(&failure.message)
        ));
    }
    if let Some(error) = &plugin.load_error {
        let sha: String = error.sha256.chars().take(SHORT_SHA).collect();
        let outcome = match plugin.state {
            PluginState::Failed => "it gets no events".to_owned(),
            _ => format!(
                "version {} keeps running",
                plugin.sha256.chars().take(SHORT_SHA).collect::<String>()
            ),
        };
        notes.push(format!(
            "{name}: version {sha} from {} refused ({}): {}; {outcome}",
            error.source,
            error.at,
            first_line(&error.message)
        ));
    }
    notes
}

/// `rows` with each column as wide as its widest cell, two spaces apart, no trailing spaces.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `seconds` ago, as `12s ago` (`0s ago` for a time not yet come, a clock skew).
fn ago(seconds: f64) -> String {
    format!("{} ago", span(seconds.max(0.0)))
}

/// A duration of `seconds`, in its two largest units: `45s`, `3m12s`, `2h5m`, `3d4h`.
fn span(seconds: f64) -> String {
    // Whole seconds; a negative or NaN duration counts as none.
    let total = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m{secs}s"),
        (0, _, _) => format!("{hours}h{minutes}m"),
        _ => format!("{days}d{hours}h"),
    }
}

/// The first line of `text` (a trap's message goes on with its backtrace).
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::status::{rfc3339, BackoffStatus, LastFailure, LoadFailure, LoadTime};
    use std::time::UNIX_EPOCH;

    /// 2026-11-26T22:11:17Z.
    const NOW: u64 = 1_795_731_077;

    fn at(secs_before_now: u64) -> (String, f64) {
        let time = UNIX_EPOCH + Duration::from_secs(NOW - secs_before_now);
        (rfc3339(time), unix_seconds(time))
    }

    fn plugin(name: &str, state: PluginState) -> PluginStatus {
        let (loaded_at, loaded_unix) = at(125);
        PluginStatus {
            name: name.to_owned(),
            state,
            source: format!("/plugins/{name}.wasm"),
            sha256: "0123456789abcdef0123".to_owned(),
            digest: None,
            loaded: Some(LoadTime {
                at: loaded_at,
                at_unix: loaded_unix,
                duration_ms: 3.5,
            }),
            subscription: Some("all events".to_owned()),
            queue_depth: 0,
            backlog_objects: 0,
            lag_seconds: 0.0,
            calls: 10,
            failures: 0,
            last_failure: None,
            backoff: None,
            pending_retries: 0,
            load_error: None,
        }
    }

    fn report() -> PluginsReport {
        let (failed_at, failed_unix) = at(3);
        let in_two_seconds = UNIX_EPOCH + Duration::from_secs(NOW + 2);
        let (until, until_unix) = (rfc3339(in_two_seconds), unix_seconds(in_two_seconds));
        let mut crashing = plugin("crashing", PluginState::BackedOff);
        crashing.failures = 3;
        crashing.queue_depth = 2;
        crashing.backlog_objects = 2;
        crashing.lag_seconds = 75.0;
        crashing.last_failure = Some(LastFailure {
            kind: "trap".to_owned(),
            message: "trapped: wasm trap: unreachable\nwasm backtrace: ...".to_owned(),
            event: "ADDED Pod shop/crash-3".to_owned(),
            at: failed_at.clone(),
            at_unix: failed_unix,
        });
        crashing.backoff = Some(BackoffStatus {
            until: until.clone(),
            until_unix,
            delay_ms: 2000,
            consecutive_failures: 4,
        });
        let mut broken = plugin("broken", PluginState::Failed);
        broken.loaded = None;
        broken.subscription = None;
        broken.calls = 0;
        broken.load_error = Some(LoadFailure {
            source: "/plugins/broken.wasm".to_owned(),
            sha256: "ffffffffffffffff".to_owned(),
            digest: None,
            message: "not a WebAssembly module".to_owned(),
            at: failed_at,
            at_unix: failed_unix,
        });
        let mut simple = plugin("plugin_simple", PluginState::Running);
        simple.pending_retries = 7;
        PluginsReport {
            plugins: vec![broken, crashing, simple],
        }
    }

    #[test]
    fn the_table_has_a_row_per_plugin_in_aligned_columns() {
        let text = table(&report(), UNIX_EPOCH + Duration::from_secs(NOW));
        let lines: Vec<&str> = text.lines().collect();
        let expected = [
            "NAME           STATE       SOURCE                       SHA256        LOADED    QUEUE  BACKLOG           CALLS  FAILURES  LAST-FAILURE  RETRIES",
            "broken         failed      /plugins/broken.wasm         0123456789ab  -         0      0                 0      0         -             0",
            "crashing       backed-off  /plugins/crashing.wasm       0123456789ab  2m5s ago  2      2 (1m15s behind)  10     3         trap 3s ago   0",
            "plugin_simple  running     /plugins/plugin_simple.wasm  0123456789ab  2m5s ago  0      0                 10     0         -             7",
        ];
        assert_eq!(lines[..4], expected, "\n{text}");
        assert_eq!(lines[4], "");
        assert_eq!(
            lines[5..],
            [
                "broken: version ffffffffffff from /plugins/broken.wasm refused (2026-11-26T22:11:14.000Z): not a WebAssembly module; it gets no events",
                "crashing: backed off after 4 failures in a row: events skipped until 2026-11-26T22:11:19.000Z (in 2s)",
                "crashing: last failure (trap, on ADDED Pod shop/crash-3, 2026-11-26T22:11:14.000Z): trapped: wasm trap: unreachable",
            ],
            "\n{text}"
        );
    }

    #[test]
    fn a_refused_version_beside_a_running_one_and_no_plugins() {
        let mut running = plugin("p", PluginState::Running);
        running.load_error = Some(LoadFailure {
            source: "/plugins/p.wasm".to_owned(),
            sha256: "eeeeeeeeeeeeeeee".to_owned(),
            digest: None,
            message: "missing export `handle_event`".to_owned(),
            at: "2026-11-26T22:11:14.000Z".to_owned(),
            at_unix: 0.0,
        });
        let report = PluginsReport {
            plugins: vec![running],
        };
        let text = table(&report, UNIX_EPOCH + Duration::from_secs(NOW));
        assert!(
            text.ends_with(
                "p: version eeeeeeeeeeee from /plugins/p.wasm refused \
                 (2026-11-26T22:11:14.000Z): missing export `handle_event`; version \
                 0123456789ab keeps running\n"
            ),
            "{text}"
        );
        assert_eq!(
            table(&PluginsReport::default(), SystemTime::now()),
            "no plugins\n"
        );
    }

    #[test]
    fn spans_use_their_two_largest_units() {
        assert_eq!(span(0.4), "0s");
        assert_eq!(span(-3.0), "0s");
        assert_eq!(span(f64::NAN), "0s");
        assert_eq!(span(45.9), "45s");
        assert_eq!(span(192.0), "3m12s");
        assert_eq!(span(7500.0), "2h5m");
        assert_eq!(span(3.0 * 86_400.0 + 4.0 * 3600.0 + 59.0), "3d4h");
        assert_eq!(ago(-5.0), "0s ago");
    }

    #[test]
    fn the_address_asked() {
        assert_eq!(address_to_ask(None).ok().as_deref(), Some(DEFAULT_ADDRESS));
        let ask = |configured| address_to_ask(Some(configured)).ok();
        assert_eq!(ask("0.0.0.0:9191").as_deref(), Some("127.0.0.1:9191"));
        assert_eq!(ask("[::]:9090").as_deref(), Some("[::1]:9090"));
        assert_eq!(ask("10.0.0.5:9090").as_deref(), Some("10.0.0.5:9090"));
        assert!(matches!(address_to_ask(Some("OFF")), Err(StatusError::Off)));
    }

    #[test]
    fn only_a_200_answer_is_read() {
        let ok = "HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{\"plugins\":[]}";
        assert_eq!(
            body_of_ok("a:1", ok).ok().as_deref(),
            Some("{\"plugins\":[]}")
        );
        let missing = "HTTP/1.0 404 Not Found\r\n\r\nnot found\n";
        let error = body_of_ok("a:1", missing).expect_err("a 404");
        assert_eq!(
            error.to_string(),
            "http://a:1/plugins answered HTTP/1.0 404 Not Found: not found (a controller from \
             before `status` existed, or not an event-controller)"
        );
        let error = body_of_ok("a:1", "").expect_err("nothing");
        assert_eq!(error.to_string(), "http://a:1/plugins answered nothing: ");
    }

    #[test]
    fn nothing_answering_is_a_clear_error() {
        // A port just released: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        drop(listener);
        let error = fetch(&address).expect_err("nothing answers");
        assert!(matches!(error, StatusError::Connect { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("nothing answers at {address}: ")),
            "{error}"
        );
    }
}
