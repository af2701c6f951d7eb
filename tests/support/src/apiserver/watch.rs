//! Watch streams: where a watch starts (initial events, history, or an ERROR), then live events,
//! bookmarks, the timeout, and the injected faults (slow lines, a line cut in half).

use super::body::{Body, Chunk};
use super::handler::{json_response, status_response, Resp};
use super::query::{Filter, ListOptions};
use super::resources::ResourceDef;
use super::status::Status;
use super::store::{event_line, Event, Obj};
use super::{Shared, State};
use bytes::Bytes;
use hyper::StatusCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{interval_at, sleep, sleep_until, Instant, MissedTickBehavior};

/// How long a cut stream waits between its half line and dropping the connection, so that the
/// half line is flushed to the client first.
const CUT_FLUSH: Duration = Duration::from_millis(50);

/// What a watch sends before live events.
enum Plan {
    /// One ERROR event with this Status, then the end.
    Expired(Status),
    /// ADDED for each object, then (streaming list) the initial-events-end BOOKMARK.
    Initial {
        objects: Vec<Arc<Obj>>,
        end_bookmark: bool,
    },
    /// These history events.
    Since(Vec<Arc<Event>>),
}

/// The 422 problems of a watch's options, as the real server validates them.
fn validate(opts: &ListOptions) -> Option<Status> {
    let mut problems = Vec::new();
    let matched = opts.resource_version_match.as_deref();
    if let Some(send) = opts.send_initial_events {
        if matched != Some("NotOlderThan") {
            problems.push((
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
                    .to_owned(),
            ));
        }
        if send && !opts.allow_bookmarks {
            problems.push((
                "allowWatchBookmarks",
                "sendInitialEvents requires setting allowWatchBookmarks to true".to_owned(),
            ));
        }
    } else if matched.is_some() {
        problems.push((
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
                .to_owned(),
        ));
    }
    (!problems.is_empty()).then(|| Status::invalid_list_options(&problems))
}

/// Starts a watch: decides what comes first and subscribes, atomically with respect to changes
/// of the world, then streams from a task of its own.
pub fn start(shared: &Arc<Shared>, state: &mut State, filter: Filter, opts: &ListOptions) -> Resp {
    if let Some(invalid) = validate(opts) {
        return status_response(shared, &invalid);
    }
    let requested = match opts.resource_version_number() {
        Ok(rv) => rv.unwrap_or(0),
        Err(message) => return status_response(shared, &Status::bad_request(message)),
    };
    let world = &mut state.world;
    let current = world.resource_version();
    let plan = if state.expire_watches > 0 {
        state.expire_watches -= 1;
        Plan::Expired(Status::too_old_resource_version(requested, current))
    } else {
        match (opts.send_initial_events, requested) {
            (Some(true), _) | (None, 0) => Plan::Initial {
                objects: world
                    .objects_at(filter.def, current, "")
                    .filter(|(_, obj)| filter.matches(obj))
                    .map(|(_, obj)| obj.clone())
                    .collect(),
                end_bookmark: opts.send_initial_events == Some(true),
            },
            (Some(false), 0) => Plan::Since(Vec::new()),
            (_, rv) => match world.events_since(rv) {
                Ok(events) => Plan::Since(events),
                Err(floor) => Plan::Expired(Status::too_old_resource_version(rv, floor)),
            },
        }
    };
    let events = (!matches!(plan, Plan::Expired(_))).then(|| world.subscribe());
    let (out, body) = mpsc::channel(16);
    let watch = Watch {
        sink: Sink {
            shared: shared.clone(),
            out,
        },
        filter,
        last_rv: current,
        bookmarks: opts.allow_bookmarks,
        bookmark_every: state.bookmark_interval.max(Duration::from_millis(1)),
        deadline: opts.timeout.map(|t| Instant::now() + t),
    };
    // Counted and subscribed to `end_watches` before the response: a test that sees the
    // response can rely on both.
    shared.open_watches.fetch_add(1, Ordering::SeqCst);
    let ended = shared.end_watches.subscribe();
    tokio::spawn(watch.run(plan, events, ended));
    json_response(shared, StatusCode::OK, Body::Stream(body))
}

/// The stream ended because the client is gone or the stream was cut.
struct Closed;

/// Where a watch's lines go: one chunk each, with the held, slow and cut faults applied.
struct Sink {
    shared: Arc<Shared>,
    out: mpsc::Sender<Chunk>,
}

impl Sink {
    async fn send(&self, line: Bytes) -> Result<(), Closed> {
        if *self.shared.hold_watches.borrow() {
            let mut held = self.shared.hold_watches.subscribe();
            let _ = held.wait_for(|held| !held).await;
        }
        let delay = self.shared.slow_delay();
        if !delay.is_zero() {
            sleep(delay).await;
        }
        if self.shared.take_cut() {
            let half = line.slice(..line.len() / 2);
            self.out.send(Chunk::Data(half)).await.map_err(|_| Closed)?;
            sleep(CUT_FLUSH).await;
            let _ = self.out.send(Chunk::Cut).await;
            return Err(Closed);
        }
        self.out.send(Chunk::Data(line)).await.map_err(|_| Closed)
    }
}

struct Watch {
    sink: Sink,
    filter: Filter,
    /// The resourceVersion this watch is consistent up to: the next bookmark's.
    last_rv: u64,
    bookmarks: bool,
    bookmark_every: Duration,
    deadline: Option<Instant>,
}

impl Watch {
    async fn run(
        mut self,
        plan: Plan,
        events: Option<mpsc::UnboundedReceiver<Arc<Event>>>,
        mut ended: tokio::sync::watch::Receiver<u64>,
    ) {
        let shared = self.sink.shared.clone();
        let _ = self.stream(plan, events, &mut ended).await;
        shared.open_watches.fetch_sub(1, Ordering::SeqCst);
    }

    async fn stream(
        &mut self,
        plan: Plan,
        events: Option<mpsc::UnboundedReceiver<Arc<Event>>>,
        ended: &mut tokio::sync::watch::Receiver<u64>,
    ) -> Result<(), Closed> {
        self.send_plan(plan).await?;
        let Some(mut events) = events else {
            return Ok(());
        };
        let mut ticker = interval_at(Instant::now() + self.bookmark_every, self.bookmark_every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let deadline = self.deadline;
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        loop {
            tokio::select! {
                _ = self.sink.out.closed() => return Err(Closed),
                _ = ended.changed() => return Ok(()),
                _ = sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => return Ok(()),
                event = events.recv() => {
                    let Some(event) = event else { return Ok(()) };
                    self.last_rv = self.last_rv.max(event.seq);
                    if let Some(line) = self.filter.render(&event) {
                        self.sink.send(line).await?;
                    }
                }
                _ = ticker.tick(), if self.bookmarks => {
                    self.sink.send(bookmark(self.filter.def, self.last_rv, false)).await?;
                }
            }
        }
    }

    async fn send_plan(&mut self, plan: Plan) -> Result<(), Closed> {
        match plan {
            Plan::Expired(status) => self.sink.send(event_line("ERROR", &status.to_json())).await,
            Plan::Initial {
                objects,
                end_bookmark,
            } => {
                for obj in objects {
                    self.sink.send(event_line("ADDED", &obj.raw)).await?;
                }
                if end_bookmark {
                    let line = bookmark(self.filter.def, self.last_rv, true);
                    self.sink.send(line).await?;
                }
                Ok(())
            }
            Plan::Since(events) => {
                for event in events {
                    if let Some(line) = self.filter.render(&event) {
                        self.sink.send(line).await?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// A BOOKMARK line at `rv`; `initial_end` adds the `k8s.io/initial-events-end` annotation of a
/// streaming list's end. Built-in types in their field order, CRDs (unstructured) sorted.
pub fn bookmark(def: &ResourceDef, rv: u64, initial_end: bool) -> Bytes {
    let annotations = r#""annotations":{"k8s.io/initial-events-end":"true"}"#;
    let api_version = def.api_version();
    let object = if def.crd {
        let annotations = if initial_end {
            format!("{annotations},")
        } else {
            String::new()
        };
        format!(
            r#"{{"apiVersion":"{api_version}","kind":"{}","metadata":{{{annotations}"resourceVersion":"{rv}"}}}}"#,
            def.kind
        )
    } else {
        let annotations = if initial_end {
            format!(",{annotations}")
        } else {
            String::new()
        };
        format!(
            r#"{{"kind":"{}","apiVersion":"{api_version}","metadata":{{"resourceVersion":"{rv}"{annotations}}}{}}}"#,
            def.kind, def.bookmark_tail
        )
    };
    event_line("BOOKMARK", object.as_bytes())
}
