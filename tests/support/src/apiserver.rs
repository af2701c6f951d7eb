//! A fake kube-apiserver for tests: real HTTP/1.1 and JSON on `127.0.0.1`, driven from
//! synchronous tests while the code under test (usually the real binary, as a child process)
//! talks to it like to a cluster.
//!
//! ```ignore
//! let server = ApiServer::start();
//! server.apply_event_lines("pods", &watch_fixture("pods.jsonl"));
//! // run the controller with K8S_API_ENDPOINT=server.url() ...
//! server.cut_next_watch_line();
//! server.apply_event_line("pods", line);
//! ```
//!
//! It runs on its own thread with its own tokio runtime (hyper 1 for HTTP). Dropping the
//! [`ApiServer`] shuts it down.
//!
//! # Faithful to the real server (v1.36)
//! - **Bytes.** Objects are stored as the exact JSON bytes they were given. A recorded watch line
//!   given to [`ApiServer::apply_event_line`] reaches open watches byte for byte. Initial and
//!   list items are the stored bytes too, except that list items of built-in types lose `kind`
//!   and `apiVersion` (CRD items keep them), as on the real server.
//! - **Discovery.** `/api`, `/api/v1`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}` and `/version`, with
//!   the real field order, verbs, short names, categories and subresources; the core resource
//!   list has no `apiVersion`, group resource lists do.
//! - **Revisions.** One global resourceVersion counter. Every revision of every object is kept,
//!   as etcd keeps them, so a paginated list is a consistent snapshot: its continue token
//!   (base64url JSON, like the real one) carries the revision and the next key. Lists are in key
//!   order (`namespace/name`), as etcd returns them.
//! - **Watch.** From a resourceVersion (the history window's events after it), from now (`""` or
//!   `"0"`: ADDED for every current object first), or a streaming list (`sendInitialEvents`:
//!   ADDED events, then a BOOKMARK annotated `k8s.io/initial-events-end`, byte for byte as in
//!   `watchlist-bookmark.jsonl`). Bookmarks, `timeoutSeconds`, label and field selectors and
//!   namespace paths. An object that enters a selector's set arrives as ADDED, one that leaves
//!   it as DELETED (with its previous state at the new resourceVersion). A too old
//!   resourceVersion gives 200 and one ERROR event with a 410 `Expired` Status, then the end of
//!   the stream. Chunked encoding, one event per line, each sent as soon as it exists.
//! - **Errors.** Status bodies with the real messages, reasons and details: 401, 403 (the RBAC
//!   message), 404, 410, 422 (invalid watch options), 429 (the recorded body and
//!   `Retry-After: 1`), 500, 504 (a list at a future resourceVersion).
//!
//! # Simplified
//! - Plain HTTP, or HTTPS with a throwaway CA ([`Builder::tls`]); no client certificates.
//!   Authentication is one bearer token.
//! - Over HTTP, GET, and PATCH of one object with a JSON merge patch (RFC 7386): the object
//!   changes at a new resourceVersion, watches get MODIFIED, and the patched object (its keys
//!   re-serialized in sorted order) is the answer; `deny` refuses it with the RBAC message.
//! - Create, update and delete over HTTP (`POST` to a namespace's collection, `PUT` and `DELETE`
//!   of an object) for `configmaps`, `leases`, `networkpolicies` and `resourcequotas` only
//!   (server-side apply too: a PATCH `application/apply-patch+yaml` creates an absent object
//!   and merges into a present one), with the real semantics: 201, or 409
//!   AlreadyExists; a PUT with `metadata.resourceVersion` must name the stored revision (else
//!   409 Conflict, "the object has been modified; ..."), one without it is unconditional, one
//!   that changes nothing changes no revision; DELETE answers a Success Status and honours
//!   `preconditions`; each change gets a new resourceVersion and its watch event. The server
//!   sets `uid` and `creationTimestamp` but not `managedFields`, and does not check that the
//!   namespace exists. Other resources answer these methods with 405: tests change them through
//!   this API instead.
//! - Eleven resources (core `pods`, `configmaps`, `secrets`, `services`, `events`, `namespaces`,
//!   `apps/v1` `deployments`, `coordination.k8s.io/v1` `leases` when built
//!   [`with_leases`](Builder::with_leases), core `resourcequotas` and `networking.k8s.io/v1`
//!   `networkpolicies` when built [`with_policies`](Builder::with_policies), and the
//!   `route.openshift.io/v1` `routes` CRD).
//!   Subresources are listed by discovery but not served. No aggregated discovery
//!   (`Accept: ...;g=apidiscovery` gets the legacy documents, as from a server without it), no
//!   protobuf, no `Table`.
//! - Field selectors: `metadata.name` and `metadata.namespace` only.
//! - Bookmarks of types other than Pod carry only `kind`, `apiVersion` and `metadata`; the real
//!   server adds the type's zero-valued `spec`/`status` (recorded only for Pods).
//! - Lists ignore `resourceVersionMatch` except `Exact`; `resourceVersion` newer than the
//!   server's gives 504 at once (the real one waits up to 3 s first). `limit` is honoured also
//!   with `resourceVersion=0` (the real watch cache may ignore it).
//! - The watch history and the compaction floor are one thing: the history keeps
//!   `history_limit` events, and revisions older than the oldest one are gone (the real server
//!   has a watch cache per resource and compacts etcd every 5 minutes). [`ApiServer::compact`]
//!   forgets everything before now.
//! - A watch from a resourceVersion newer than the server's starts from there without waiting.
//! - Recorded lines should be applied in resourceVersion order: the counter moves to the
//!   highest resourceVersion seen, and a line older than that is served as a change made at the
//!   current revision (its bytes are still sent unchanged).

mod body;
mod handler;
mod json;
mod ownership;
mod query;
mod resources;
mod status;
mod store;
mod tls;
mod watch;
mod write;

pub use tls::TestCa;

use crate::wait;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use resources::ResourceDef;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{BTreeSet, VecDeque};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use store::{EventType, Obj, World};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// The user named in 403 messages unless [`Builder::user`] says otherwise.
pub const DEFAULT_USER: &str = "system:serviceaccount:ns:sa";

/// A recorded watch stream from `tests/data/watch/` (a copy of the real server's bytes).
pub fn watch_fixture(name: &str) -> String {
    let path = super::repo().join("tests/data/watch").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`), as sent.
    pub query: String,
}

impl Request {
    /// The decoded value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        query::pairs(&self.query)
            .ok()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn is_watch(&self) -> bool {
        query::is_watch(&self.query)
    }
}

/// How to start an [`ApiServer`].
#[derive(Clone)]
pub struct Builder {
    token: Option<String>,
    user: String,
    denied: BTreeSet<String>,
    history_limit: usize,
    bookmark_interval: Duration,
    routes: bool,
    leases: bool,
    policies: bool,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            token: None,
            user: DEFAULT_USER.to_owned(),
            denied: BTreeSet::new(),
            history_limit: 1000,
            bookmark_interval: Duration::from_secs(1),
            routes: false,
            leases: false,
            policies: false,
            tls: None,
        }
    }
}

impl Builder {
    /// Requires `Authorization: Bearer <token>` on every request (401 otherwise).
    pub fn token(mut self, token: &str) -> Builder {
        self.token = Some(token.to_owned());
        self
    }

    /// The user named in 403 messages.
    pub fn user(mut self, user: &str) -> Builder {
        self.user = user.to_owned();
        self
    }

    /// Answers list, watch and get of `resource` (plural) with 403.
    pub fn deny(mut self, resource: &str) -> Builder {
        self.denied.insert(resource.to_owned());
        self
    }

    /// How many events the watch history keeps (default 1000).
    pub fn history_limit(mut self, events: usize) -> Builder {
        self.history_limit = events;
        self
    }

    /// How often a watch with `allowWatchBookmarks` gets a BOOKMARK (default 1 s; a real server
    /// sends one about every minute).
    pub fn bookmark_interval(mut self, every: Duration) -> Builder {
        self.bookmark_interval = every;
        self
    }

    /// Serves the routes CRD from the start, ready (no 429).
    pub fn with_routes(mut self) -> Builder {
        self.routes = true;
        self
    }

    /// Serves `coordination.k8s.io/v1` `leases` (discovery lists the group, and its objects can
    /// be created, updated and deleted over HTTP). Off by default, so that discovery documents
    /// stay those the other tests compare byte for byte.
    pub fn with_leases(mut self) -> Builder {
        self.leases = true;
        self
    }

    /// Serves `networking.k8s.io/v1` `networkpolicies` and core `resourcequotas` (discovery
    /// lists them, and their objects can be created, applied, patched, updated and deleted over
    /// HTTP), for plugins that manage per-namespace defaults. Off by default, like
    /// [`with_leases`](Builder::with_leases), so that the other tests' discovery documents stay
    /// the same.
    pub fn with_policies(mut self) -> Builder {
        self.policies = true;
        self
    }

    /// Serves HTTPS with a certificate for `127.0.0.1` and `localhost` signed by `ca`.
    pub fn tls(mut self, ca: &TestCa) -> Builder {
        self.tls = Some(ca.acceptor());
        self
    }

    pub fn start(self) -> ApiServer {
        ApiServer::launch(self)
    }
}

/// Everything the connections share with the test.
struct Shared {
    state: Mutex<State>,
    /// How many of the next watch lines to cut in half (then drop the connection).
    cut_lines: AtomicUsize,
    /// Delay before each watch line, in microseconds.
    slow_micros: AtomicU64,
    open_watches: AtomicUsize,
    /// While true, requests wait before being answered (open watch streams go on).
    stalled: tokio::sync::watch::Sender<bool>,
    /// Bumped to end every open watch stream.
    end_watches: tokio::sync::watch::Sender<u64>,
    /// While true, watch streams send nothing (their lines queue up).
    hold_watches: tokio::sync::watch::Sender<bool>,
    audit_ids: AtomicU64,
}

struct State {
    world: World,
    routes_installed: bool,
    /// Whether `leases` are served.
    leases: bool,
    /// Whether `networkpolicies` and `resourcequotas` are served.
    policies: bool,
    /// How many more list/watch calls on routes get 429 (storage initializing).
    routes_initializing: usize,
    token: Option<String>,
    user: String,
    denied: BTreeSet<String>,
    /// Status codes for the next requests, one each.
    failures: VecDeque<u16>,
    /// The status code for every request, until lifted.
    failing: Option<u16>,
    expire_watches: usize,
    bookmark_interval: Duration,
    requests: Vec<Request>,
    server_address: String,
    /// Who set which fields of each object (server-side apply's conflicts).
    owners: ownership::FieldOwners,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the server down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one of the `cut_lines` if any is left.
    fn take_cut(&self) -> bool {
        self.cut_lines
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn slow_delay(&self) -> Duration {
        Duration::from_micros(self.slow_micros.load(Ordering::Relaxed))
    }
}

/// A server that is accepting connections.
struct Serving {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// The fake kube-apiserver. See the module documentation.
pub struct ApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    runtime: tokio::runtime::Handle,
    serving: Mutex<Option<Serving>>,
    quit: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl ApiServer {
    /// A server with the defaults: no authentication, routes not installed.
    pub fn start() -> ApiServer {
        Builder::default().start()
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    fn launch(config: Builder) -> ApiServer {
        let (end_watches, _) = tokio::sync::watch::channel(0);
        let tls = config.tls;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                world: World::new(config.history_limit),
                routes_installed: config.routes,
                leases: config.leases,
                policies: config.policies,
                routes_initializing: 0,
                token: config.token,
                user: config.user,
                denied: config.denied,
                failures: VecDeque::new(),
                failing: None,
                expire_watches: 0,
                bookmark_interval: config.bookmark_interval,
                requests: Vec::new(),
                server_address: String::new(),
                owners: ownership::FieldOwners::default(),
            }),
            cut_lines: AtomicUsize::new(0),
            slow_micros: AtomicU64::new(0),
            open_watches: AtomicUsize::new(0),
            stalled: tokio::sync::watch::Sender::new(false),
            end_watches,
            hold_watches: tokio::sync::watch::Sender::new(false),
            audit_ids: AtomicU64::new(0),
        });
        let (runtime_tx, runtime_rx) = std::sync::mpsc::channel();
        let (quit, quit_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("test-apiserver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("test API server runtime");
                let _ = runtime_tx.send(runtime.handle().clone());
                runtime.block_on(async {
                    let _ = quit_rx.await;
                });
            })
            .expect("spawn the test API server thread");
        let runtime = runtime_rx.recv().expect("test API server runtime");
        let listener = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        shared.lock().server_address = addr.to_string();
        let server = ApiServer {
            shared,
            addr,
            runtime,
            serving: Mutex::new(None),
            quit: Some(quit),
            thread: Some(thread),
            tls,
        };
        server.serve(listener);
        server
    }

    /// `http://127.0.0.1:PORT` (`https://` with [`Builder::tls`]), the same across
    /// [`ApiServer::restart`].
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    // --- changing the world ---

    /// Applies one recorded watch line (`{"type":"ADDED|MODIFIED|DELETED","object":{...}}`) to
    /// `resource` (plural, like `pods`), and sends it to the open watches byte for byte (plus
    /// `\n`). The resourceVersion is the object's.
    pub fn apply_event_line(&self, resource: &str, line: &str) {
        #[derive(Deserialize)]
        struct Line<'a> {
            #[serde(rename = "type")]
            kind: String,
            #[serde(borrow)]
            object: &'a RawValue,
        }
        let def = resource_def(resource);
        let line = line.trim_end_matches(['\n', '\r']);
        let parsed: Line = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a watch event line ({e}): {line}"));
        let kind = EventType::parse(&parsed.kind).unwrap_or_else(|| {
            panic!(
                "apply_event_line takes ADDED, MODIFIED or DELETED, not {}",
                parsed.kind
            )
        });
        let obj = Obj::parse(def, Bytes::copy_from_slice(parsed.object.get().as_bytes()))
            .unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            obj.resource_version.parse::<u64>().is_ok(),
            "the object needs a numeric metadata.resourceVersion: {line}"
        );
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.shared
            .lock()
            .world
            .commit(def, kind, obj, Bytes::from(bytes));
    }

    /// Applies every non-empty line of `text` (a `.jsonl` file's contents) in order.
    pub fn apply_event_lines(&self, resource: &str, text: &str) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.apply_event_line(resource, line);
        }
    }

    /// Creates an object at the next resourceVersion and returns the ADDED line sent to
    /// watches. `object` needs `metadata.name` (and `namespace` when namespaced, else
    /// `default`); `kind`, `apiVersion` and `metadata.uid` are filled in when missing.
    pub fn create(&self, resource: &str, object: &str) -> String {
        let def = resource_def(resource);
        let mut state = self.shared.lock();
        let rv = state.world.resource_version() + 1;
        let uid = format!("00000000-0000-4000-8000-{rv:012x}");
        let obj = parse_object(def, prepare_object(def, object, rv, Some(&uid)));
        assert!(
            state.world.current(def, &obj.key()).is_none(),
            "{resource} {} already exists",
            obj.key()
        );
        commit(&mut state.world, def, EventType::Added, obj)
    }

    /// Replaces an existing object at the next resourceVersion (keeping its uid) and returns
    /// the MODIFIED line.
    pub fn modify(&self, resource: &str, object: &str) -> String {
        let def = resource_def(resource);
        let mut state = self.shared.lock();
        let rv = state.world.resource_version() + 1;
        let id = parse_object(def, prepare_object(def, object, rv, None));
        let old = state
            .world
            .current(def, &id.key())
            .unwrap_or_else(|| panic!("{resource} {} does not exist", id.key()))
            .clone();
        let obj = parse_object(def, prepare_object(def, object, rv, Some(&old.uid)));
        commit(&mut state.world, def, EventType::Modified, obj)
    }

    /// Deletes the object named by `object`'s metadata (name and namespace) at the next
    /// resourceVersion and returns the DELETED line, which carries the last stored state.
    pub fn delete(&self, resource: &str, object: &str) -> String {
        let def = resource_def(resource);
        let id = parse_object(def, prepare_object(def, object, 0, None));
        let mut state = self.shared.lock();
        let old = state
            .world
            .current(def, &id.key())
            .unwrap_or_else(|| panic!("{resource} {} does not exist", id.key()))
            .clone();
        let rv = state.world.resource_version() + 1;
        let raw = std::str::from_utf8(&old.raw)
            .map_err(|e| e.to_string())
            .and_then(|raw| json::with_resource_version(raw, rv))
            .unwrap_or_else(|e| panic!("{e}"));
        commit(
            &mut state.world,
            def,
            EventType::Deleted,
            parse_object(def, raw.into_bytes()),
        )
    }

    /// The current resourceVersion (the global counter).
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().world.resource_version()
    }

    /// The stored bytes of an object (`namespace` empty for cluster-scoped ones).
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<String> {
        let def = resource_def(resource);
        let state = self.shared.lock();
        let obj = state.world.current(def, &store::key(namespace, name))?;
        Some(String::from_utf8_lossy(&obj.raw).into_owned())
    }

    /// Installs the routes CRD: discovery lists it from now on, and its first list or watch
    /// call gets 429 (storage initializing), like a just-created CRD.
    pub fn install_routes(&self) {
        self.install_routes_initializing(1);
    }

    /// Installs the routes CRD; its first `calls` list/watch calls get 429 with Retry-After: 1.
    pub fn install_routes_initializing(&self, calls: usize) {
        let mut state = self.shared.lock();
        state.routes_installed = true;
        state.routes_initializing = calls;
    }

    // --- faults ---

    /// Cuts the next watch line sent (on any watch, open or not yet): half of it is sent, then
    /// the connection is dropped, without the end of the chunked body.
    pub fn cut_next_watch_line(&self) {
        self.shared.cut_lines.fetch_add(1, Ordering::SeqCst);
    }

    /// Answers the next `n` watch requests with one ERROR event (410 Expired), then the end.
    pub fn expire_next_watches(&self, n: usize) {
        self.shared.lock().expire_watches += n;
    }

    /// Answers the next `n` requests, whatever they are, with HTTP `code` and its Status body:
    /// 500 InternalError, 503, or 429 (Retry-After: 1, the recorded storage-initializing body).
    pub fn fail_next_requests(&self, n: usize, code: u16) {
        self.shared
            .lock()
            .failures
            .extend(std::iter::repeat_n(code, n));
    }

    /// Answers every request from now on (after the [`fail_next_requests`] ones) with HTTP
    /// `code`, like [`fail_next_requests`] (which, like this, leaves PATCH alone); `None` lifts
    /// it.
    ///
    /// [`fail_next_requests`]: ApiServer::fail_next_requests
    pub fn fail_all_requests(&self, code: Option<u16>) {
        self.shared.lock().failing = code;
    }

    /// Requests wait, unanswered, until [`ApiServer::resume_requests`] (a hung server; open watch
    /// streams are not affected).
    pub fn stall_requests(&self) {
        self.shared.stalled.send_replace(true);
    }

    pub fn resume_requests(&self) {
        self.shared.stalled.send_replace(false);
    }

    /// Watch streams send nothing until [`ApiServer::release_watches`]; changes queue up, so that
    /// a burst can then be sent at full speed.
    pub fn hold_watches(&self) {
        self.shared.hold_watches.send_replace(true);
    }

    pub fn release_watches(&self) {
        self.shared.hold_watches.send_replace(false);
    }

    /// Waits `delay` before sending each watch line (zero: full speed).
    pub fn slow_watches(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.slow_micros.store(micros, Ordering::Relaxed);
    }

    /// Forgets the watch history and old revisions: watches from an older resourceVersion and
    /// older continue tokens get 410.
    pub fn compact(&self) {
        self.shared.lock().world.compact();
    }

    /// Ends every open watch stream cleanly (as at the server's timeout).
    pub fn end_watches(&self) {
        self.shared.end_watches.send_modify(|n| *n += 1);
    }

    /// Closes every connection and the listening socket: connections are refused until
    /// [`ApiServer::restart`]. The world stays, and can be changed meanwhile.
    pub fn stop(&self) {
        let serving = self
            .serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(serving) = serving {
            let _ = serving.stop.send(());
            let _ = self.runtime.block_on(serving.task);
            wait::within(Duration::from_secs(2), || {
                (self.open_watches() == 0).then_some(())
            });
        }
    }

    /// Starts serving again on the same port (stopping first if running).
    pub fn restart(&self) {
        self.stop();
        let mut refused = None;
        let bound = wait::within(Duration::from_secs(5), || {
            StdListener::bind(self.addr)
                .map_err(|e| refused = Some(e))
                .ok()
        });
        let listener = bound.unwrap_or_else(|| {
            let e = refused.expect("bind was tried");
            panic!("rebind {}: {e}", self.addr)
        });
        self.serve(listener);
    }

    pub fn is_running(&self) -> bool {
        self.serving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    // --- authentication and authorization ---

    /// Changes the required bearer token (`None`: no authentication).
    pub fn set_token(&self, token: Option<&str>) {
        self.shared.lock().token = token.map(str::to_owned);
    }

    /// Answers list, watch and get of `resource` with 403 from now on.
    pub fn deny(&self, resource: &str) {
        self.shared.lock().denied.insert(resource.to_owned());
    }

    /// Lifts [`ApiServer::deny`].
    pub fn allow(&self, resource: &str) {
        self.shared.lock().denied.remove(resource);
    }

    pub fn set_bookmark_interval(&self, every: Duration) {
        self.shared.lock().bookmark_interval = every;
    }

    // --- observing ---

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Watch streams open now.
    pub fn open_watches(&self) -> usize {
        self.shared.open_watches.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` watch streams are open; false on timeout.
    pub fn wait_for_watches(&self, n: usize, timeout: Duration) -> bool {
        wait::within(timeout, || (self.open_watches() >= n).then_some(())).is_some()
    }

    fn serve(&self, listener: StdListener) {
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let _context = self.runtime.enter();
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        let (stop, stopped) = oneshot::channel();
        let task = self.runtime.spawn(accept_loop(
            listener,
            self.tls.clone(),
            self.shared.clone(),
            stopped,
        ));
        *self.serving.lock().unwrap_or_else(PoisonError::into_inner) = Some(Serving { stop, task });
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(quit) = self.quit.take() {
            let _ = quit.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until told to stop, then drops the listener and every connection.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, tls.clone(), shared.clone()));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
) {
    match tls {
        None => serve_http(stream, shared).await,
        // A failed handshake is the client refusing our certificate: the test looks at the
        // client's side of it.
        Some(tls) => {
            if let Ok(stream) = tls.accept(stream).await {
                serve_http(stream, shared).await;
            }
        }
    }
}

async fn serve_http<S>(stream: S, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| handler::handle(shared.clone(), req));
    // Errors here are a client going away or a cut stream: nothing to report.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn resource_def(resource: &str) -> &'static ResourceDef {
    resources::by_plural(resource).unwrap_or_else(|| {
        let known: Vec<&str> = resources::RESOURCES.iter().map(|d| d.plural).collect();
        panic!("unknown resource {resource:?}; the test API server knows {known:?}")
    })
}

/// Commits a change made through the convenience API; its line is built from the object.
fn commit(world: &mut World, def: &'static ResourceDef, kind: EventType, obj: Obj) -> String {
    let line = store::event_line(kind.as_str(), &obj.raw);
    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
    world.commit(def, kind, obj, line);
    text
}

/// `object` with `kind`, `apiVersion`, a namespace, `uid` (when given and the object has none)
/// and resourceVersion `rv` (0: leave it), in the real server's key order where keys are added.
fn prepare_object(def: &ResourceDef, object: &str, rv: u64, uid: Option<&str>) -> Vec<u8> {
    let mut members = json::Members::parse(object).unwrap_or_else(|e| panic!("{e}: {object}"));
    let meta_raw = members
        .get("metadata")
        .unwrap_or_else(|| panic!("no metadata: {object}"))
        .to_owned();
    let mut meta = json::Members::parse(&meta_raw).unwrap_or_else(|e| panic!("{e}: {object}"));
    if def.namespaced {
        meta.set_default(
            "namespace",
            json::string("default"),
            &["name", "generateName"],
        );
    }
    if let Some(uid) = uid {
        meta.set_default(
            "uid",
            json::string(uid),
            &["name", "generateName", "namespace"],
        );
    }
    if rv > 0 {
        meta.set(
            "resourceVersion",
            json::string(&rv.to_string()),
            &["name", "generateName", "namespace", "selfLink", "uid"],
        );
    }
    if def.crd {
        members.set_default("apiVersion", json::string(&def.api_version()), &[]);
        members.set_default("kind", json::string(def.kind), &["apiVersion"]);
    } else {
        members.set_default("kind", json::string(def.kind), &[]);
        members.set_default("apiVersion", json::string(&def.api_version()), &["kind"]);
    }
    members.set("metadata", meta.render(), &["kind", "apiVersion"]);
    members.render().into_bytes()
}

fn parse_object(def: &ResourceDef, raw: Vec<u8>) -> Obj {
    Obj::parse(def, Bytes::from(raw)).unwrap_or_else(|e| panic!("{e}"))
}
