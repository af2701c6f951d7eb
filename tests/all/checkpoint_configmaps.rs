//! Checkpoints in ConfigMaps (`event_controller::checkpoint::ConfigMapStore`) against the test
//! API server: round trips of a small checkpoint (one object) and of a large one (30,000 Pods,
//! several chunks, each object under the 1 MiB limit), a new generation replacing the old one
//! and deleting its chunks, corrupt and missing chunks, a concurrent writer, name collisions,
//! failing requests, and a `Flusher` saving at the interval. The figures of the large checkpoint
//! are printed (`cargo test --test checkpoint_configmaps -- --nocapture` shows them).

use event_controller::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, ConfigMapStore, Flusher, MAX_CHUNK_BYTES,
    MAX_OBJECT_BYTES,
};
use event_controller::event::WatchEvent;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::apiserver::ApiServer;

const NAMESPACE: &str = "ec";
const PREFIX: &str = "ec-checkpoint";
const PLUGIN: &str = "alerts";
const HEAD: &str = "ec-checkpoint-alerts";

/// The server, and the runtime the stores' client runs on (the test thread is the plugin's
/// worker thread).
struct Fixture {
    server: ApiServer,
    runtime: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Fixture {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("event_controller=debug")
            .try_init();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        Fixture {
            server: ApiServer::start(),
            runtime,
        }
    }

    fn client(&self) -> kube::Client {
        let _context = self.runtime.enter();
        let config = kube::Config::new(self.server.url().parse().expect("server URL"));
        kube::Client::try_from(config).expect("client")
    }

    /// A store, as one replica has it.
    fn store(&self) -> ConfigMapStore {
        ConfigMapStore::new(
            self.client(),
            self.runtime.handle().clone(),
            NAMESPACE.to_owned(),
            PREFIX.to_owned(),
        )
        .expect("valid settings")
    }

    /// The ConfigMaps of the namespace, sorted by name, with their stored JSON.
    fn configmaps(&self) -> Vec<(String, String)> {
        let api: Api<ConfigMap> = Api::namespaced(self.client(), NAMESPACE);
        let list = self
            .runtime
            .block_on(api.list(&ListParams::default()))
            .expect("list");
        let mut out: Vec<(String, String)> = list
            .items
            .into_iter()
            .map(|cm| {
                let name = cm.metadata.name.expect("name");
                let raw = self
                    .server
                    .object("configmaps", NAMESPACE, &name)
                    .expect("stored");
                (name, raw)
            })
            .collect();
        out.sort();
        out
    }

    fn names(&self) -> Vec<String> {
        self.configmaps()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    fn object(&self, name: &str) -> Value {
        let raw = self
            .server
            .object("configmaps", NAMESPACE, name)
            .unwrap_or_else(|| panic!("no configmap {name}"));
        serde_json::from_str(&raw).expect("JSON")
    }

    /// Replaces a stored ConfigMap, as another client would (a new resourceVersion).
    fn modify(&self, object: &Value) {
        self.server.modify("configmaps", &object.to_string());
    }

    /// Write requests (POST, PUT, DELETE) since the last call.
    fn writes(&self) -> Vec<String> {
        let requests = self.server.requests();
        self.server.clear_requests();
        requests
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path.rsplit('/').next().unwrap_or("")))
            .collect()
    }
}

/// An ADDED event for Pod number `n` at resourceVersion `rv`, with four labels.
fn pod(n: u64, rv: u64) -> WatchEvent {
    let line = format!(
        r#"{{"type":"ADDED","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"web-{n}","namespace":"team-{}","uid":"{:08x}-0000-4000-8000-{:012x}","resourceVersion":"{rv}","labels":{{"app":"web-{}","pod-template-hash":"{:010x}","tier":"frontend","release":"r{}"}}}},"spec":{{"nodeName":"node-1"}}}}}}"#,
        n % 20,
        n,
        n,
        n % 50,
        n.wrapping_mul(0x9E37_79B9) % (1 << 40),
        n % 7
    );
    WatchEvent::parse(line.into_bytes()).expect("valid event")
}

fn checkpoint_of(events: &[WatchEvent]) -> Checkpoint {
    let mut checkpoint = Checkpoint::new();
    for event in events {
        checkpoint.record(event).expect("recorded");
    }
    checkpoint
}

fn pods(range: std::ops::Range<u64>, rv: u64) -> Vec<WatchEvent> {
    range.map(|n| pod(n, rv)).collect()
}

/// `loaded` holds every object of `events` at its version, and nothing else.
fn assert_holds(loaded: &Checkpoint, events: &[WatchEvent]) {
    assert_eq!(loaded.len(), events.len());
    for event in events {
        assert_eq!(
            loaded.version_of(event),
            event.meta().resource_version().map(str::to_owned),
            "{}",
            event.meta().name()
        );
    }
}

fn annotation<'a>(object: &'a Value, key: &str) -> &'a str {
    object["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no annotation {key}: {object}"))
}

#[test]
fn a_small_checkpoint_is_one_configmap() {
    let fx = Fixture::new();
    let store = fx.store();
    assert_eq!(store.location(PLUGIN), "configmap ec/ec-checkpoint-alerts");
    assert!(store.load(PLUGIN).expect("load").is_none(), "nothing yet");

    let events = pods(0..10, 5);
    let checkpoint = checkpoint_of(&events);
    let bytes = checkpoint.encode();
    store.write(PLUGIN, &bytes).expect("written");
    // The first write after a load also deletes leftovers of an unfinished write, if any.
    assert_eq!(
        fx.writes(),
        vec!["POST configmaps".to_owned(), format!("DELETE {HEAD}.1-0")]
    );

    let objects = fx.configmaps();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let head = fx.object(HEAD);
    assert_eq!(
        head["metadata"]["labels"],
        serde_json::json!({
            "app.kubernetes.io/managed-by": "event-controller",
            "event-controller/checkpoint-of": "alerts",
            "event-controller/checkpoint-part": "head",
        })
    );
    assert_eq!(annotation(&head, "event-controller/plugin"), PLUGIN);
    assert_eq!(annotation(&head, "event-controller/generation"), "1");
    assert_eq!(annotation(&head, "event-controller/chunks"), "0");
    assert_eq!(
        annotation(&head, "event-controller/length"),
        bytes.len().to_string()
    );
    assert_eq!(annotation(&head, "event-controller/sha256").len(), 64);
    assert!(head["binaryData"]["checkpoint"].is_string());

    // Another replica loads it.
    let other = fx.store();
    assert_eq!(other.read(PLUGIN).expect("read"), Some(bytes.clone()));
    let loaded = other.load(PLUGIN).expect("load").expect("some");
    assert_holds(&loaded, &events);
    assert!(loaded.is_resuming() && !loaded.is_dirty());

    // The next save is one PUT of the head.
    let more = pods(0..12, 6);
    store
        .save(PLUGIN, &checkpoint_of(&more))
        .expect("saved again");
    assert_eq!(fx.writes(), vec![format!("PUT {HEAD}")]);
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &more,
    );
    assert_eq!(
        annotation(&fx.object(HEAD), "event-controller/generation"),
        "2"
    );

    store.remove(PLUGIN).expect("removed");
    assert!(fx.names().is_empty());
    assert!(store.load(PLUGIN).expect("load").is_none());
    store.remove(PLUGIN).expect("nothing to remove");
}

#[test]
fn a_large_checkpoint_is_chunked_under_the_object_limit() {
    let fx = Fixture::new();
    let store = fx.store();
    let events = pods(0..30_000, 7);
    let checkpoint = checkpoint_of(&events);
    let bytes = checkpoint.encode();
    let chunks = bytes.len().div_ceil(MAX_CHUNK_BYTES);
    assert!(chunks >= 2, "{} bytes", bytes.len());

    let started = Instant::now();
    store.write(PLUGIN, &bytes).expect("written");
    let save_time = started.elapsed();
    let mut expected: Vec<String> = (0..chunks).map(|n| format!("{HEAD}.1-{n}")).collect();
    expected.insert(0, HEAD.to_owned());
    assert_eq!(fx.names(), expected);
    let objects = fx.configmaps();
    let sizes: Vec<usize> = objects.iter().map(|(_, raw)| raw.len()).collect();
    for (name, raw) in &objects {
        assert!(raw.len() < MAX_OBJECT_BYTES, "{name}: {} bytes", raw.len());
        assert!(raw.len() < 1 << 20, "{name}: {} bytes", raw.len());
        let object: Value = serde_json::from_str(raw).expect("JSON");
        assert_eq!(
            object["metadata"]["labels"]["event-controller/checkpoint-of"],
            "alerts"
        );
    }
    let head = fx.object(HEAD);
    assert!(head.get("binaryData").is_none(), "the bytes are in chunks");
    assert_eq!(
        annotation(&head, "event-controller/chunks"),
        chunks.to_string()
    );
    let chunk = fx.object(&format!("{HEAD}.1-1"));
    assert_eq!(annotation(&chunk, "event-controller/chunk"), "1");
    assert_eq!(
        chunk["metadata"]["labels"]["event-controller/checkpoint-part"],
        "chunk"
    );

    // A new leader loads it.
    let other = fx.store();
    let started = Instant::now();
    assert_eq!(other.read(PLUGIN).expect("read"), Some(bytes.clone()));
    let read_time = started.elapsed();
    let started = Instant::now();
    let loaded = other.load(PLUGIN).expect("load").expect("some");
    let load_time = started.elapsed();
    assert_holds(&loaded, &events);

    // Its next save replaces the generation and deletes the old chunks.
    let changed = pods(0..31_000, 8);
    let changed_checkpoint = checkpoint_of(&changed);
    fx.writes();
    let started = Instant::now();
    other.save(PLUGIN, &changed_checkpoint).expect("saved");
    let resave_time = started.elapsed();
    let new_chunks = fx
        .names()
        .iter()
        .filter(|n| n.starts_with(&format!("{HEAD}.2-")))
        .count();
    let mut expected: Vec<String> = (0..new_chunks).map(|n| format!("{HEAD}.2-{n}")).collect();
    expected.insert(0, HEAD.to_owned());
    assert_eq!(fx.names(), expected, "generation 1 is gone");
    let writes = fx.writes();
    let deleted: Vec<&String> = writes
        .iter()
        .filter(|w| w.starts_with(&format!("DELETE {HEAD}.1-")))
        .collect();
    assert_eq!(deleted.len(), chunks, "{writes:?}");
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &changed,
    );
    eprintln!(
        "30,000 pods: {} bytes in {} objects (head + {chunks} chunks of at most {MAX_CHUNK_BYTES} \
         bytes), stored JSON sizes {sizes:?}; write {save_time:?}, read {read_time:?}, load \
         (read + decode) {load_time:?}; 31,000 pods saved over it in {resave_time:?} \
         ({} requests: {writes:?})",
        bytes.len(),
        chunks + 1,
        writes.len(),
    );
}

#[test]
fn a_new_generation_replaces_the_old_whatever_its_chunk_count() {
    let fx = Fixture::new();
    let store = fx.store().chunk_bytes(2048);
    let chunk_names = |generation: u32| -> Vec<String> {
        fx.names()
            .into_iter()
            .filter(|n| n.starts_with(&format!("{HEAD}.{generation}-")))
            .collect()
    };
    let big = checkpoint_of(&pods(0..300, 1));
    store.save(PLUGIN, &big).expect("saved");
    let first = chunk_names(1);
    assert!(first.len() > 4, "{first:?}");
    let smaller = pods(0..100, 2);
    store.save(PLUGIN, &checkpoint_of(&smaller)).expect("saved");
    assert!(chunk_names(1).is_empty());
    let second = chunk_names(2);
    assert!(
        !second.is_empty() && second.len() < first.len(),
        "{second:?}"
    );
    assert_eq!(fx.names().len(), second.len() + 1);
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &smaller,
    );

    // Small enough for the head alone: every chunk goes.
    let tiny = pods(0..3, 3);
    store.save(PLUGIN, &checkpoint_of(&tiny)).expect("saved");
    assert_eq!(fx.names(), vec![HEAD.to_owned()]);
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &tiny,
    );
}

/// Chunk `index` of generation 1 with one base64 character of its data changed.
fn corrupt_chunk(fx: &Fixture, index: usize) {
    let mut chunk = fx.object(&format!("{HEAD}.1-{index}"));
    let data = chunk["binaryData"]["checkpoint"]
        .as_str()
        .expect("data")
        .to_owned();
    let mut chars: Vec<char> = data.chars().collect();
    let at = chars.len() / 2;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chunk["binaryData"]["checkpoint"] = Value::String(chars.into_iter().collect());
    fx.modify(&chunk);
}

#[test]
fn a_corrupt_or_missing_chunk_is_corrupt() {
    let fx = Fixture::new();
    let store = fx.store().chunk_bytes(2048);
    let events = pods(0..200, 1);
    store.save(PLUGIN, &checkpoint_of(&events)).expect("saved");

    corrupt_chunk(&fx, 1);
    let error = fx.store().load(PLUGIN).expect_err("corrupt");
    assert!(matches!(error, CheckpointError::Corrupt { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("configmap ec/ec-checkpoint-alerts (generation 1")
            && message.contains("sha256"),
        "{message}"
    );

    // The next save writes over it, and it loads again.
    let reader = fx.store().chunk_bytes(2048);
    assert!(reader.load(PLUGIN).is_err());
    reader
        .save(PLUGIN, &checkpoint_of(&events))
        .expect("saved over");
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &events,
    );

    // A head whose annotations make no sense.
    let mut head = fx.object(HEAD);
    head["metadata"]["annotations"]["event-controller/length"] = Value::String("lots".into());
    fx.modify(&head);
    let error = fx.store().load(PLUGIN).expect_err("unreadable head");
    assert!(matches!(error, CheckpointError::Corrupt { .. }), "{error}");
    let mut head = fx.object(HEAD);
    head["metadata"]["annotations"]["event-controller/length"] = Value::String("12".into());
    fx.modify(&head);
    let error = fx.store().load(PLUGIN).expect_err("wrong length");
    assert!(error.to_string().contains("bytes instead of 12"), "{error}");

    // A chunk deleted behind the head's back.
    fx.server.delete(
        "configmaps",
        &format!(r#"{{"metadata":{{"name":"{HEAD}.2-0","namespace":"ec"}}}}"#),
    );
    let error = fx.store().load(PLUGIN).expect_err("torn");
    assert!(matches!(error, CheckpointError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("is missing"), "{error}");
}

#[test]
fn a_concurrent_writer_is_a_conflict_not_an_overwrite() {
    let fx = Fixture::new();
    let a = fx.store().writer("replica-a");
    let b = fx.store().writer("replica-b");
    let from_a = pods(0..5, 1);
    let from_b = pods(0..7, 2);

    // Both find nothing; b creates it first.
    assert!(a.load(PLUGIN).expect("load").is_none());
    assert!(b.load(PLUGIN).expect("load").is_none());
    b.save(PLUGIN, &checkpoint_of(&from_b)).expect("b saved");
    let error = a
        .save(PLUGIN, &checkpoint_of(&from_a))
        .expect_err("created meanwhile");
    assert!(matches!(error, CheckpointError::Conflict { .. }), "{error}");
    assert!(
        error.to_string().contains("written by replica-b"),
        "{error}"
    );
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &from_b,
    );

    // a reloads (say it became leader) and writes; b, which wrote last, no longer may.
    a.load(PLUGIN).expect("load").expect("some");
    a.save(PLUGIN, &checkpoint_of(&from_a)).expect("a saved");
    let error = b
        .save(PLUGIN, &checkpoint_of(&from_b))
        .expect_err("changed behind b's back");
    assert!(matches!(error, CheckpointError::Conflict { .. }), "{error}");
    assert!(
        error.to_string().contains("written by replica-a"),
        "{error}"
    );
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &from_a,
    );

    // The head changed by someone else entirely (kubectl edit, say).
    let mut head = fx.object(HEAD);
    head["metadata"]["annotations"]["edited"] = Value::String("by hand".into());
    fx.modify(&head);
    let error = a
        .save(PLUGIN, &checkpoint_of(&pods(0..9, 3)))
        .expect_err("edited");
    assert!(matches!(error, CheckpointError::Conflict { .. }), "{error}");
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &from_a,
    );

    // After the reported conflict, the next write reads the head anew and replaces it.
    let last = pods(0..9, 4);
    a.save(PLUGIN, &checkpoint_of(&last))
        .expect("a saved again");
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &last,
    );
}

#[test]
fn leftovers_of_an_unfinished_write_are_replaced_and_swept() {
    let fx = Fixture::new();
    let store = fx.store().chunk_bytes(2048);
    let events = pods(0..100, 1);
    store.save(PLUGIN, &checkpoint_of(&events)).expect("saved");
    let chunks = fx.names().len() - 1;
    // A writer died while writing generation 2, with more chunks than the next write has.
    for n in 0..chunks + 3 {
        fx.server.create(
            "configmaps",
            &format!(
                r#"{{"metadata":{{"name":"{HEAD}.2-{n}","namespace":"ec","labels":{{"app.kubernetes.io/managed-by":"event-controller","event-controller/checkpoint-of":"alerts"}}}},"binaryData":{{"checkpoint":"AAAA"}}}}"#
            ),
        );
    }
    // The next leader loads generation 1 and saves generation 2 over the leftovers.
    let next = fx.store().chunk_bytes(2048);
    assert_holds(&next.load(PLUGIN).expect("load").expect("some"), &events);
    let changed = pods(0..100, 2);
    next.save(PLUGIN, &checkpoint_of(&changed)).expect("saved");
    let mut expected: Vec<String> = (0..chunks).map(|n| format!("{HEAD}.2-{n}")).collect();
    expected.insert(0, HEAD.to_owned());
    assert_eq!(fx.names(), expected);
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &changed,
    );

    // Removing finds every object of the plugin by its labels, leftovers included.
    fx.server.create(
        "configmaps",
        &format!(
            r#"{{"metadata":{{"name":"{HEAD}.9-0","namespace":"ec","labels":{{"app.kubernetes.io/managed-by":"event-controller","event-controller/checkpoint-of":"alerts"}}}}}}"#
        ),
    );
    fx.server.create(
        "configmaps",
        r#"{"metadata":{"name":"unrelated","namespace":"ec"}}"#,
    );
    next.remove(PLUGIN).expect("removed");
    assert_eq!(fx.names(), vec!["unrelated".to_owned()]);
}

#[test]
fn names_map_to_valid_object_names_and_collisions_are_refused() {
    let fx = Fixture::new();
    let store = fx.store();
    let odd = "My_Plugin";
    let head = store.object_name(odd).expect("mapped");
    assert!(head.starts_with("ec-checkpoint-my-plugin-"), "{head}");
    let events = pods(0..3, 1);
    store.save(odd, &checkpoint_of(&events)).expect("saved");
    let object = fx.object(&head);
    assert_eq!(annotation(&object, "event-controller/plugin"), odd);
    let segment = head.strip_prefix("ec-checkpoint-").expect("prefix");
    assert_eq!(
        object["metadata"]["labels"]["event-controller/checkpoint-of"],
        segment
    );
    assert_holds(&fx.store().load(odd).expect("load").expect("some"), &events);

    // A plugin literally named like the mapped name maps to the same object: refused.
    let error = fx.store().load(segment).expect_err("taken");
    assert!(
        matches!(error, CheckpointError::NameTaken { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("\"My_Plugin\""), "{error}");
    let error = fx
        .store()
        .save(segment, &checkpoint_of(&events))
        .expect_err("taken");
    assert!(
        matches!(error, CheckpointError::NameTaken { .. }),
        "{error}"
    );

    // A ConfigMap the controller did not make is neither read nor written.
    fx.server.create(
        "configmaps",
        &format!(r#"{{"metadata":{{"name":"{HEAD}","namespace":"ec"}},"data":{{"k":"v"}}}}"#),
    );
    let error = store.load(PLUGIN).expect_err("foreign");
    assert!(
        error.to_string().contains("not made by event-controller"),
        "{error}"
    );
    store
        .save(PLUGIN, &checkpoint_of(&events))
        .expect_err("foreign");
    assert_eq!(fx.object(HEAD)["data"]["k"], "v");

    assert!(matches!(
        store.save("", &checkpoint_of(&events)),
        Err(CheckpointError::InvalidPluginName { .. })
    ));
    let settings = ConfigMapStore::new(
        fx.client(),
        fx.runtime.handle().clone(),
        "ec".to_owned(),
        "Bad_Prefix".to_owned(),
    )
    .expect_err("invalid prefix");
    assert!(
        matches!(settings, CheckpointError::Settings(_)),
        "{settings}"
    );
}

#[test]
fn failed_requests_are_errors_with_the_server_message() {
    let fx = Fixture::new();
    let store = fx.store().request_timeout(Duration::from_millis(300));
    let events = pods(0..3, 1);
    store.save(PLUGIN, &checkpoint_of(&events)).expect("saved");

    fx.server.fail_next_requests(1, 500);
    let error = store
        .save(PLUGIN, &checkpoint_of(&events))
        .expect_err("500");
    match &error {
        CheckpointError::Kube {
            action,
            object,
            status,
            ..
        } => {
            assert_eq!(
                (*action, object.as_str(), *status),
                ("update", "configmap ec/ec-checkpoint-alerts", Some(500))
            );
        }
        other => panic!("{other}"),
    }

    fx.server.stall_requests();
    let error = store.load(PLUGIN).expect_err("no answer");
    fx.server.resume_requests();
    assert!(
        matches!(&error, CheckpointError::Kube { status: None, .. })
            && error.to_string().contains("no answer within 300ms"),
        "{error}"
    );

    // Both passed: the next save reads the head anew and succeeds.
    let more = pods(0..4, 2);
    store.save(PLUGIN, &checkpoint_of(&more)).expect("saved");
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &more,
    );
}

#[test]
fn a_flusher_saves_a_snapshot_at_most_every_interval() {
    let fx = Fixture::new();
    let store = Arc::new(fx.store());
    assert!(!store.journals());
    let interval = Duration::from_secs(2);
    let mut flusher = Flusher::new(store.clone(), PLUGIN, interval);
    let mut checkpoint = Checkpoint::new();
    let t0 = Instant::now();
    fx.writes();

    checkpoint.record(&pod(1, 1)).expect("recorded");
    let written = flusher.tick(&mut checkpoint, t0).expect("tick");
    assert!(written.is_some());
    assert_eq!(
        fx.writes(),
        vec!["POST configmaps".to_owned(), format!("DELETE {HEAD}.1-0")]
    );

    // Within the interval: nothing written, however many events.
    for n in 2..50 {
        checkpoint.record(&pod(n, 2)).expect("recorded");
        let at = t0 + Duration::from_millis(20 * n);
        assert_eq!(flusher.tick(&mut checkpoint, at).expect("tick"), None);
    }
    assert!(fx.writes().is_empty());
    assert_eq!(
        flusher.wait(&checkpoint, t0 + Duration::from_secs(1)),
        Some(Duration::from_secs(1))
    );
    assert!(flusher
        .tick(&mut checkpoint, t0 + interval)
        .expect("tick")
        .is_some());
    assert_eq!(fx.writes(), vec![format!("PUT {HEAD}")]);
    assert!(!checkpoint.is_dirty());
    assert_eq!(flusher.stats().snapshots, 2);
    assert_eq!(flusher.stats().appends, 0);
    let expected: Vec<WatchEvent> = std::iter::once(pod(1, 1)).chain(pods(2..50, 2)).collect();
    assert_holds(
        &fx.store().load(PLUGIN).expect("load").expect("some"),
        &expected,
    );

    // At shutdown, what is left.
    checkpoint.record(&pod(50, 3)).expect("recorded");
    assert!(flusher.flush(&mut checkpoint).expect("flush").is_some());
    assert_eq!(flusher.flush(&mut checkpoint).expect("flush"), None);
    assert_eq!(fx.writes(), vec![format!("PUT {HEAD}")]);
    assert_eq!(
        fx.store().load(PLUGIN).expect("load").expect("some").len(),
        50
    );
}
