//! Tests of the test API server (`support::apiserver`) over real HTTP/1.1, with a small blocking
//! client written here from the socket up (so that framing, chunking and cut streams are seen
//! exactly as a client sees them). The recorded streams in `tests/data/` are the real server's
//! bytes; where the server must reproduce them, the tests compare bytes.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::apiserver::{watch_fixture, ApiServer};
use support::wait;

// --- a blocking HTTP/1.1 client ---

const TIMEOUT: Duration = Duration::from_secs(5);

/// A response read to its end.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What a watch stream gave next.
#[derive(Debug, PartialEq)]
enum Next {
    /// A complete line, without its `\n`.
    Line(String),
    /// The chunked body ended properly.
    End,
    /// The connection closed before the end of the chunked body; the bytes of the unfinished
    /// line.
    Cut(Vec<u8>),
    /// Nothing arrived in time.
    Timeout,
}

/// A response whose chunked body is read line by line as it arrives.
struct Stream {
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    /// Bytes of the current, unfinished line.
    pending: Vec<u8>,
    /// Bytes left in the current chunk.
    chunk_left: usize,
    done: bool,
}

impl Stream {
    /// The next line, waiting up to `wait`.
    fn next(&mut self, wait: Duration) -> Next {
        if self.done {
            return Next::End;
        }
        let _ = self.reader.get_ref().set_read_timeout(Some(wait));
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Next::Line(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            if self.chunk_left == 0 {
                match self.chunk_size() {
                    Ok(0) => {
                        self.done = true;
                        return Next::End;
                    }
                    Ok(size) => self.chunk_left = size,
                    Err(next) => return next,
                }
            }
            let mut buf = vec![0; self.chunk_left.min(64 * 1024)];
            match self.reader.read(&mut buf) {
                Ok(0) => return self.cut(),
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    self.chunk_left -= n;
                    if self.chunk_left == 0 {
                        let mut crlf = [0; 2];
                        if self.reader.read_exact(&mut crlf).is_err() {
                            return self.cut();
                        }
                    }
                }
                Err(e) => return self.error(e),
            }
        }
    }

    fn chunk_size(&mut self) -> Result<usize, Next> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(self.cut()),
            Ok(_) => usize::from_str_radix(line.trim(), 16)
                .map_err(|_| panic!("bad chunk size line {line:?}")),
            Err(e) => Err(self.error(e)),
        }
    }

    fn cut(&mut self) -> Next {
        self.done = true;
        Next::Cut(std::mem::take(&mut self.pending))
    }

    fn error(&mut self, e: std::io::Error) -> Next {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Next::Timeout,
            _ => self.cut(),
        }
    }

    /// Lines until `n` have arrived, the stream ends, or nothing comes for `wait`.
    fn lines(&mut self, n: usize, wait: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        while lines.len() < n {
            match self.next(wait) {
                Next::Line(line) => lines.push(line),
                other => panic!("after {} lines: {other:?}", lines.len()),
            }
        }
        lines
    }

    /// Everything until the stream ends, which it must within `wait`.
    fn rest(&mut self, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left.max(Duration::from_millis(1))) {
                Next::Line(line) => lines.push(line),
                Next::End => return lines,
                other => panic!("after {lines:?}: {other:?}"),
            }
        }
    }
}

struct Client {
    addr: SocketAddr,
    token: Option<String>,
}

impl Client {
    fn new(server: &ApiServer) -> Client {
        Client {
            addr: server.addr(),
            token: None,
        }
    }

    fn with_token(server: &ApiServer, token: &str) -> Client {
        Client {
            addr: server.addr(),
            token: Some(token.to_owned()),
        }
    }

    /// Sends `GET target` and reads the status line and headers.
    fn send(
        &self,
        method: &str,
        target: &str,
    ) -> (BufReader<TcpStream>, u16, Vec<(String, String)>) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n{auth}Connection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).expect("send request");
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).expect("status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header line");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header");
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        (reader, status, headers)
    }

    fn get(&self, target: &str) -> Response {
        self.request("GET", target)
    }

    fn request(&self, method: &str, target: &str) -> Response {
        let (reader, status, headers) = self.send(method, target);
        let chunked = headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
        let body = if chunked {
            let mut stream = Stream {
                status,
                headers: headers.clone(),
                reader,
                pending: Vec::new(),
                chunk_left: 0,
                done: false,
            };
            let mut body = Vec::new();
            for line in stream.rest(TIMEOUT) {
                body.extend_from_slice(line.as_bytes());
                body.push(b'\n');
            }
            body
        } else {
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .expect("content-length");
            let mut body = vec![0; length];
            let mut reader = reader;
            reader.read_exact(&mut body).expect("body");
            body
        };
        Response {
            status,
            headers,
            body,
        }
    }

    fn watch(&self, target: &str) -> Stream {
        let (reader, status, headers) = self.send("GET", target);
        assert_eq!(status, 200, "watch {target}");
        assert!(
            headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == "chunked"),
            "a watch is chunked: {headers:?}"
        );
        Stream {
            status,
            headers,
            reader,
            pending: Vec::new(),
            chunk_left: 0,
            done: false,
        }
    }
}

// --- helpers ---

fn lines(fixture: &str) -> Vec<String> {
    watch_fixture(fixture).lines().map(str::to_owned).collect()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The bytes of the `object` of a watch line.
fn object_of(line: &str) -> &str {
    let start = line.find(r#""object":"#).expect("object") + r#""object":"#.len();
    &line[start..line.len() - 1]
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let meta = &item["metadata"];
            match meta["namespace"].as_str() {
                Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
                None => meta["name"].as_str().unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

fn configmap(namespace: &str, name: &str, labels: &str) -> String {
    format!(
        r#"{{"kind":"ConfigMap","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"{namespace}","labels":{{{labels}}}}},"data":{{"k":"v"}}}}"#
    )
}

/// A server holding every recorded stream except the watch-list one.
fn recorded_world() -> ApiServer {
    let server = ApiServer::builder().with_routes().start();
    load_recorded(&server);
    server
}

/// Applies every recorded stream, merged in resourceVersion order (the order they happened in).
fn load_recorded(server: &ApiServer) {
    let mut all = Vec::new();
    for (resource, file) in [
        ("namespaces", "namespaces.jsonl"),
        ("configmaps", "configmaps.jsonl"),
        ("secrets", "secrets.jsonl"),
        ("events", "events.jsonl"),
        ("services", "services.jsonl"),
        ("pods", "pods.jsonl"),
        ("deployments", "deployments.jsonl"),
        ("routes", "routes.jsonl"),
    ] {
        for line in lines(file) {
            let rv: u64 = parse(&line)["object"]["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|rv| rv.parse().ok())
                .expect("resourceVersion");
            all.push((rv, resource, line));
        }
    }
    all.sort_by_key(|(rv, _, _)| *rv);
    for (_, resource, line) in all {
        server.apply_event_line(resource, &line);
    }
}

// --- discovery ---

#[test]
fn core_discovery_is_shaped_like_the_real_servers() {
    let server = ApiServer::start();
    let client = Client::new(&server);

    let api = client.get("/api");
    assert_eq!(api.status, 200);
    assert_eq!(api.header("content-type"), Some("application/json"));
    let api = api.json();
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], serde_json::json!(["v1"]));
    assert_eq!(
        api["serverAddressByClientCIDRs"][0]["serverAddress"],
        server.addr().to_string()
    );

    let v1 = client.get("/api/v1");
    assert_eq!(v1.status, 200);
    let text = v1.text();
    assert!(
        text.starts_with(r#"{"kind":"APIResourceList","groupVersion":"v1","resources":["#),
        "the core list has no apiVersion: {text}"
    );
    // Field order and content of one resource, as the real server writes them.
    assert!(
        text.contains(concat!(
            r#"{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","#,
            r#""verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"#,
            r#""shortNames":["po"],"categories":["all"]}"#
        )),
        "{text}"
    );
    assert!(
        text.contains(r#"{"name":"pods/status","singularName":"","namespaced":true,"kind":"Pod","verbs":["get","patch","update"]}"#),
        "{text}"
    );
    let v1 = v1.json();
    let resources = v1["resources"].as_array().expect("resources");
    let find = |name: &str| {
        resources
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {resources:?}"))
    };
    for (name, kind, short) in [
        ("pods", "Pod", Some("po")),
        ("configmaps", "ConfigMap", Some("cm")),
        ("secrets", "Secret", None),
        ("services", "Service", Some("svc")),
        ("events", "Event", Some("ev")),
        ("namespaces", "Namespace", Some("ns")),
    ] {
        let r = find(name);
        assert_eq!(r["kind"], kind);
        assert_eq!(r["shortNames"][0].as_str(), short, "{name}");
        assert!(r["verbs"]
            .as_array()
            .expect("verbs")
            .contains(&"watch".into()));
    }
    assert_eq!(find("namespaces")["namespaced"], false);
    assert_eq!(find("pods")["namespaced"], true);
    let names: Vec<&str> = resources
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "resources are listed by name");

    let version = client.get("/version").json();
    assert_eq!(version["gitVersion"], "v1.36.2");
}

#[test]
fn group_discovery_and_a_crd_installed_later() {
    let server = ApiServer::start();
    let client = Client::new(&server);

    let groups = client.get("/apis");
    assert_eq!(
        groups.text(),
        concat!(
            r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":"#,
            r#"[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":"#,
            r#"{"groupVersion":"apps/v1","version":"v1"}}]}"#,
            "\n"
        )
    );
    let apps = client.get("/apis/apps/v1");
    let apps_text = apps.text();
    assert!(
        apps_text.starts_with(
            r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":["#
        ),
        "{apps_text}"
    );
    assert!(apps_text.contains(r#"{"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","#));
    assert!(apps_text.contains(r#"{"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale","#));
    let group = client.get("/apis/apps").json();
    assert_eq!(group["kind"], "APIGroup");
    assert_eq!(group["preferredVersion"]["groupVersion"], "apps/v1");

    // Before the CRD exists: nothing under its group, and a NotFound Status.
    let missing = client.get("/apis/route.openshift.io/v1");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.text(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}"#.to_owned() + "\n"
    );
    assert_eq!(client.get("/apis/route.openshift.io/v1/routes").status, 404);

    server.install_routes_initializing(2);
    let groups = client.get("/apis").json();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names, ["apps", "route.openshift.io"]);
    let routes = client.get("/apis/route.openshift.io/v1").text();
    assert!(routes.contains(concat!(
        r#"{"name":"routes","singularName":"route","namespaced":true,"kind":"Route","#,
        r#""verbs":["delete","deletecollection","get","list","patch","create","update","watch"]}"#
    )));
    assert!(routes
        .contains(r#"{"name":"routes/status","singularName":"","namespaced":true,"kind":"Route""#));

    // The just-created CRD's storage is initializing: 429 with Retry-After and the recorded
    // body, for the configured number of list/watch calls, then it serves.
    let recorded =
        std::fs::read(support::repo().join("tests/data/status-429-storage-initializing.json"))
            .expect("fixture");
    for target in [
        "/apis/route.openshift.io/v1/routes",
        "/apis/route.openshift.io/v1/routes?watch=1",
    ] {
        let busy = client.get(target);
        assert_eq!(busy.status, 429, "{target}");
        assert_eq!(busy.header("retry-after"), Some("1"));
        assert_eq!(busy.body, recorded, "byte for byte the recorded body");
    }
    let list = client.get("/apis/route.openshift.io/v1/routes");
    assert_eq!(list.status, 200);
    let rv = server.resource_version();
    assert_eq!(
        list.text(),
        format!(
            r#"{{"apiVersion":"route.openshift.io/v1","items":[],"kind":"RouteList","metadata":{{"continue":"","resourceVersion":"{rv}"}}}}"#
        ) + "\n"
    );
}

// --- list ---

#[test]
fn list_items_are_the_stored_bytes_without_kind_for_built_ins() {
    let server = recorded_world();
    let client = Client::new(&server);
    let pods = lines("pods.jsonl");

    let list = client.get("/api/v1/pods");
    assert_eq!(list.status, 200);
    let text = list.text();
    // After the recorded stream: only web-... is left, at its last state (rv 227); the global
    // revision is the highest of all streams (routes, 250).
    let web = object_of(&pods[3]);
    let item = web.replacen(r#"{"kind":"Pod","apiVersion":"v1","#, "{", 1);
    assert_eq!(
        text,
        format!(
            r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"250"}},"items":[{item}]}}"#
        ) + "\n"
    );

    // A CRD's items keep kind and apiVersion, and its list is unstructured (sorted keys).
    let route = server.create(
        "routes",
        r#"{"apiVersion":"route.openshift.io/v1","kind":"Route","metadata":{"name":"r","namespace":"shop"},"spec":{"host":"a.example"}}"#,
    );
    let routes = client
        .get("/apis/route.openshift.io/v1/namespaces/shop/routes")
        .json();
    assert_eq!(routes["kind"], "RouteList");
    assert_eq!(routes["items"][0]["kind"], "Route");
    assert_eq!(routes["items"][0], parse(&route)["object"]);
    assert_eq!(routes["metadata"]["resourceVersion"], "251");

    // A single object is served whole; a missing one is a NotFound Status.
    let one = client.get("/api/v1/namespaces/shop/pods/web-7d4b9c6f5-x2k8p");
    assert_eq!(one.text(), format!("{web}\n"));
    let gone = client.get("/api/v1/namespaces/payments/pods/ledger-worker-0");
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.text(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"ledger-worker-0\" not found","reason":"NotFound","details":{"name":"ledger-worker-0","kind":"pods"},"code":404}"#.to_owned() + "\n"
    );
    let namespace = client.get("/api/v1/namespaces/shop").json();
    assert_eq!(namespace["kind"], "Namespace");
}

#[test]
fn list_pages_are_a_consistent_snapshot_in_key_order() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    for (ns, name) in [
        ("b", "two"),
        ("a", "one"),
        ("b", "one"),
        ("a", "two"),
        ("c", "x"),
    ] {
        server.create("configmaps", &configmap(ns, name, ""));
    }
    let rv = server.resource_version();
    assert_eq!(rv, 5);

    let first = client.get("/api/v1/configmaps?limit=2").json();
    assert_eq!(names(&first), ["a/one", "a/two"]);
    assert_eq!(first["metadata"]["resourceVersion"], "5");
    assert_eq!(first["metadata"]["remainingItemCount"], 3);
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_owned();

    // Changes after the first page do not show in the next ones.
    server.delete("configmaps", &configmap("b", "one", ""));
    server.create("configmaps", &configmap("b", "aaa", ""));

    let second = client
        .get(&format!("/api/v1/configmaps?limit=2&continue={token}"))
        .json();
    assert_eq!(names(&second), ["b/one", "b/two"]);
    assert_eq!(second["metadata"]["resourceVersion"], "5");
    let token = second["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_owned();
    let third = client
        .get(&format!("/api/v1/configmaps?limit=2&continue={token}"))
        .json();
    assert_eq!(names(&third), ["c/x"]);
    assert!(third["metadata"].get("continue").is_none());
    assert!(third["metadata"].get("remainingItemCount").is_none());

    // A fresh list sees the changes.
    let now = client.get("/api/v1/configmaps").json();
    assert_eq!(names(&now), ["a/one", "a/two", "b/aaa", "b/two", "c/x"]);
    assert_eq!(now["metadata"]["resourceVersion"], "7");

    // The token is the real server's kind: base64url JSON with the revision and next key.
    let first_token = first["metadata"]["continue"].as_str().expect("continue");
    assert!(first_token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));

    // Expired after compaction: 410 Expired. Garbled: 400, as on the real server.
    server.compact();
    let expired = client.get(&format!("/api/v1/configmaps?limit=2&continue={token}"));
    assert_eq!(expired.status, 410);
    let expired = expired.json();
    assert_eq!(expired["reason"], "Expired");
    assert!(expired["message"]
        .as_str()
        .expect("message")
        .starts_with("The provided continue parameter is too old"));
    let garbled = client.get("/api/v1/configmaps?limit=2&continue=not-a-token");
    assert_eq!(garbled.status, 400);
    assert_eq!(garbled.json()["reason"], "BadRequest");
}

#[test]
fn list_by_namespace_and_selectors() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    server.create(
        "configmaps",
        &configmap("shop", "web", r#""app":"web","tier":"frontend""#),
    );
    server.create("configmaps", &configmap("shop", "db", r#""app":"db""#));
    server.create(
        "configmaps",
        &configmap("pay", "web", r#""app":"web","tier":"backend""#),
    );
    server.create("configmaps", &configmap("pay", "plain", ""));

    let cases = [
        (
            "/api/v1/namespaces/shop/configmaps",
            vec!["shop/db", "shop/web"],
        ),
        (
            "/api/v1/configmaps?labelSelector=app%3Dweb",
            vec!["pay/web", "shop/web"],
        ),
        (
            "/api/v1/configmaps?labelSelector=app%3D%3Dweb",
            vec!["pay/web", "shop/web"],
        ),
        (
            "/api/v1/configmaps?labelSelector=app!%3Dweb",
            vec!["pay/plain", "shop/db"],
        ),
        (
            "/api/v1/configmaps?labelSelector=tier",
            vec!["pay/web", "shop/web"],
        ),
        (
            "/api/v1/configmaps?labelSelector=!tier",
            vec!["pay/plain", "shop/db"],
        ),
        (
            "/api/v1/configmaps?labelSelector=app%3Dweb,tier%3Dbackend",
            vec!["pay/web"],
        ),
        (
            "/api/v1/configmaps?labelSelector=app+in+(db,web),tier+notin+(backend)",
            vec!["shop/db", "shop/web"],
        ),
        (
            "/api/v1/configmaps?fieldSelector=metadata.name%3Dweb",
            vec!["pay/web", "shop/web"],
        ),
        (
            "/api/v1/configmaps?fieldSelector=metadata.namespace!%3Dshop",
            vec!["pay/plain", "pay/web"],
        ),
        (
            "/api/v1/namespaces/pay/configmaps?labelSelector=app&fieldSelector=metadata.name%3Dweb",
            vec!["pay/web"],
        ),
    ];
    for (target, expected) in cases {
        let list = client.get(target);
        assert_eq!(list.status, 200, "{target}: {}", list.text());
        assert_eq!(names(&list.json()), expected, "{target}");
    }

    // With a selector, pages carry no remainingItemCount (the real server cannot count them).
    let page = client
        .get("/api/v1/configmaps?labelSelector=app&limit=1")
        .json();
    assert_eq!(names(&page), ["pay/web"]);
    assert!(page["metadata"]["continue"].is_string());
    assert!(page["metadata"].get("remainingItemCount").is_none());

    for bad in [
        "/api/v1/configmaps?labelSelector=a%3D%3D%3Db%20c",
        "/api/v1/configmaps?fieldSelector=spec.nodeName%3Dx",
        "/api/v1/configmaps?limit=ten",
        "/api/v1/configmaps?labelSelector=%zz",
        "/api/v1/configmaps?watch=maybe",
    ] {
        let response = client.get(bad);
        assert_eq!(response.status, 400, "{bad}");
        assert_eq!(response.json()["reason"], "BadRequest", "{bad}");
    }
    assert_eq!(
        client
            .get("/api/v1/configmaps?fieldSelector=spec.nodeName%3Dx")
            .json()["message"],
        "field label not supported: spec.nodeName"
    );
}

#[test]
fn list_resource_version_semantics() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    server.create("configmaps", &configmap("a", "one", ""));
    server.create("configmaps", &configmap("a", "two", ""));
    server.delete("configmaps", &configmap("a", "one", ""));

    let exact = client
        .get("/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=Exact")
        .json();
    assert_eq!(names(&exact), ["a/one"]);
    assert_eq!(exact["metadata"]["resourceVersion"], "1");
    let any = client.get("/api/v1/configmaps?resourceVersion=0").json();
    assert_eq!(names(&any), ["a/two"]);
    assert_eq!(any["metadata"]["resourceVersion"], "3");

    let future = client.get("/api/v1/configmaps?resourceVersion=99");
    assert_eq!(future.status, 504);
    assert_eq!(
        future.json()["message"],
        "Too large resource version: 99, current: 3"
    );
    server.compact();
    let old = client.get("/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=Exact");
    assert_eq!(old.status, 410);
    assert_eq!(old.json()["reason"], "Expired");
}

// --- watch ---

#[test]
fn watch_from_a_resource_version_replays_the_recorded_bytes() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    let pods = lines("pods.jsonl");
    server.apply_event_lines("pods", &watch_fixture("pods.jsonl"));

    // Everything after rv 222 is the whole recorded stream, byte for byte.
    let mut all = client.watch("/api/v1/pods?watch=1&resourceVersion=222");
    assert_eq!(all.lines(pods.len(), TIMEOUT), pods);
    // From the middle: only what followed.
    let mut tail = client.watch("/api/v1/pods?watch=true&resourceVersion=228");
    assert_eq!(tail.lines(2, TIMEOUT), pods[5..]);
    // In one namespace.
    let mut shop = client.watch("/api/v1/namespaces/shop/pods?watch=1&resourceVersion=222");
    let expected: Vec<String> = pods
        .iter()
        .filter(|l| l.contains(r#""namespace":"shop""#))
        .cloned()
        .collect();
    assert_eq!(shop.lines(expected.len(), TIMEOUT), expected);

    // Live: a recorded line applied now reaches every open watch unchanged.
    let deployments = lines("deployments.jsonl");
    let mut live = client.watch("/apis/apps/v1/deployments?watch=1&resourceVersion=244");
    server.apply_event_line("deployments", &deployments[0]);
    server.apply_event_line("deployments", &deployments[1]);
    assert_eq!(live.lines(2, TIMEOUT), deployments[..2]);
    // Other resources' events are not on the pods watch.
    assert_eq!(all.next(Duration::from_millis(100)), Next::Timeout);

    // Content-Type and status of a watch.
    assert_eq!(live.status, 200);
    assert!(live
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v == "application/json"));
}

#[test]
fn watch_from_now_starts_with_the_current_objects() {
    let server = recorded_world();
    let client = Client::new(&server);
    let mut watch = client.watch("/api/v1/configmaps?watch=1");
    let recorded = lines("configmaps.jsonl");
    // The two system ConfigMaps are what is left, in key order, as ADDED with their bytes.
    let expected: Vec<String> = recorded[..2]
        .iter()
        .map(|l| format!(r#"{{"type":"ADDED","object":{}}}"#, object_of(l)))
        .collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_by_key(|l| {
        parse(l)["object"]["metadata"]["name"]
            .as_str()
            .map(str::to_owned)
    });
    assert_eq!(watch.lines(2, TIMEOUT), expected_sorted);
    assert_eq!(
        watch.next(Duration::from_millis(100)),
        Next::Timeout,
        "no bookmark unless asked"
    );
    let created = server.create("configmaps", &configmap("shop", "new", ""));
    assert_eq!(watch.lines(1, TIMEOUT), [created]);
}

#[test]
fn streaming_list_reproduces_the_recorded_watch_list() {
    let server = recorded_world();
    let client = Client::new(&server);
    // The recording was made at revision 252.
    server.create("secrets", r#"{"metadata":{"name":"a","namespace":"shop"}}"#);
    server.create("secrets", r#"{"metadata":{"name":"b","namespace":"shop"}}"#);
    assert_eq!(server.resource_version(), 252);

    let mut watch = client.watch(
        "/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
    );
    let recorded = lines("watchlist-bookmark.jsonl");
    assert_eq!(
        watch.lines(recorded.len(), TIMEOUT),
        recorded,
        "byte for byte"
    );

    // Then live events.
    let pod = server.create(
        "pods",
        r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"shop"}}"#,
    );
    assert_eq!(watch.lines(1, TIMEOUT), [pod]);

    // The same for a CRD: an unstructured bookmark.
    let mut routes = client.watch(
        "/apis/route.openshift.io/v1/routes?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
    );
    assert_eq!(
        routes.lines(1, TIMEOUT),
        [
            r#"{"type":"BOOKMARK","object":{"apiVersion":"route.openshift.io/v1","kind":"Route","metadata":{"annotations":{"k8s.io/initial-events-end":"true"},"resourceVersion":"253"}}}"#
        ]
    );

    // The real server's validation of the options.
    let invalid =
        client.get("/api/v1/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan");
    assert_eq!(invalid.status, 422);
    assert_eq!(
        invalid.json()["message"],
        r#"ListOptions.meta.k8s.io "" is invalid: allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true"#
    );
    assert_eq!(
        client
            .get("/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true")
            .status,
        422
    );
}

#[test]
fn bookmarks_come_at_the_interval_with_the_latest_revision() {
    let server = ApiServer::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start();
    let client = Client::new(&server);
    server.create("configmaps", &configmap("a", "one", ""));
    let mut watch = client.watch("/api/v1/pods?watch=1&resourceVersion=1&allowWatchBookmarks=true");
    assert_eq!(
        watch.lines(1, TIMEOUT),
        [
            r#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"1"},"spec":{"containers":null},"status":{}}}"#
        ]
    );
    // A change to another resource moves the bookmark's revision, not the stream.
    server.create("configmaps", &configmap("a", "two", ""));
    let next = watch.lines(1, TIMEOUT);
    assert_eq!(
        parse(&next[0])["object"]["metadata"]["resourceVersion"],
        "2"
    );

    let mut cms =
        client.watch("/api/v1/configmaps?watch=1&resourceVersion=2&allowWatchBookmarks=1");
    assert_eq!(
        cms.lines(1, TIMEOUT),
        [
            r#"{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"2"}}}"#
        ]
    );

    let mut quiet = client.watch("/api/v1/pods?watch=1&resourceVersion=2");
    assert_eq!(quiet.next(Duration::from_millis(300)), Next::Timeout);
}

#[test]
fn watch_timeout_ends_the_stream_cleanly() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    let started = Instant::now();
    let mut watch = client.watch("/api/v1/pods?watch=1&timeoutSeconds=1");
    assert_eq!(watch.next(Duration::from_secs(3)), Next::End);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );

    let mut ended = client.watch("/api/v1/pods?watch=1");
    server.end_watches();
    assert_eq!(ended.next(TIMEOUT), Next::End);
}

#[test]
fn selectors_on_a_watch_turn_entering_and_leaving_into_added_and_deleted() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    let mut watch = client.watch(
        "/api/v1/namespaces/shop/configmaps?watch=1&resourceVersion=0&labelSelector=app%3Dweb",
    );
    let other = server.create("configmaps", &configmap("shop", "c", r#""app":"db""#));
    let _ = other;
    let entering = server.modify("configmaps", &configmap("shop", "c", r#""app":"web""#));
    let changed = server.modify(
        "configmaps",
        &configmap("shop", "c", r#""app":"web","x":"y""#),
    );
    let leaving = server.modify("configmaps", &configmap("shop", "c", r#""app":"db""#));
    server.create("configmaps", &configmap("pay", "d", r#""app":"web""#));
    let got = watch.lines(3, TIMEOUT);
    assert_eq!(
        got[0],
        format!(r#"{{"type":"ADDED","object":{}}}"#, object_of(&entering))
    );
    assert_eq!(got[1], changed);
    let deleted = parse(&got[2]);
    assert_eq!(deleted["type"], "DELETED");
    assert_eq!(
        deleted["object"]["metadata"]["labels"]["app"], "web",
        "the previous state"
    );
    assert_eq!(
        deleted["object"]["metadata"]["resourceVersion"],
        parse(&leaving)["object"]["metadata"]["resourceVersion"]
    );
    assert_eq!(
        watch.next(Duration::from_millis(100)),
        Next::Timeout,
        "the other namespace is not watched"
    );
}

// --- faults ---

#[test]
fn too_old_resource_version_gives_one_410_error_event() {
    let server = ApiServer::builder().history_limit(3).start();
    let client = Client::new(&server);
    server.apply_event_lines("pods", &watch_fixture("pods.jsonl"));

    let mut old = client.watch("/api/v1/pods?watch=1&resourceVersion=222");
    assert_eq!(
        old.rest(TIMEOUT),
        [
            r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 222 (227)","reason":"Expired","code":410}}"#
        ]
    );
    // Within the window (the last 3 events, after 227) it works.
    let pods = lines("pods.jsonl");
    let mut recent = client.watch("/api/v1/pods?watch=1&resourceVersion=227");
    assert_eq!(recent.lines(3, TIMEOUT), pods[4..]);

    // After compaction, only the present is left.
    server.compact();
    let mut compacted = client.watch("/api/v1/pods?watch=1&resourceVersion=243");
    let error = parse(&compacted.rest(TIMEOUT)[0]);
    assert_eq!(error["type"], "ERROR");
    assert_eq!(error["object"]["code"], 410);
    assert_eq!(
        error["object"]["message"],
        "too old resource version: 243 (244)"
    );
    let mut now = client.watch("/api/v1/pods?watch=1&resourceVersion=244");
    assert_eq!(
        now.next(Duration::from_millis(100)),
        Next::Timeout,
        "open and quiet"
    );
}

#[test]
fn expire_next_watches_answers_them_with_410() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    server.create("pods", r#"{"metadata":{"name":"p","namespace":"a"}}"#);
    server.expire_next_watches(2);
    for _ in 0..2 {
        let mut watch = client.watch("/api/v1/pods?watch=1&resourceVersion=1");
        let lines = watch.rest(TIMEOUT);
        assert_eq!(lines.len(), 1);
        let error = parse(&lines[0]);
        assert_eq!(error["type"], "ERROR");
        assert_eq!(error["object"]["reason"], "Expired");
        assert_eq!(error["object"]["code"], 410);
    }
    let mut fine = client.watch("/api/v1/pods?watch=1&resourceVersion=1");
    assert_eq!(fine.next(Duration::from_millis(100)), Next::Timeout);
    // Lists are not affected.
    assert_eq!(client.get("/api/v1/pods").status, 200);
}

#[test]
fn a_cut_stream_sends_half_a_line_then_drops_the_connection() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    let pods = lines("pods.jsonl");
    let mut watch = client.watch("/api/v1/pods?watch=1&resourceVersion=0");
    let mut other = client.watch("/api/v1/configmaps?watch=1&resourceVersion=0");
    assert!(server.wait_for_watches(2, TIMEOUT));

    server.cut_next_watch_line();
    server.apply_event_line("pods", &pods[0]);
    let sent = format!("{}\n", pods[0]);
    let half = &sent.as_bytes()[..sent.len() / 2];
    assert_eq!(watch.next(TIMEOUT), Next::Cut(half.to_vec()));
    wait::until(
        TIMEOUT,
        || (server.open_watches() == 1).then_some(()),
        || {
            format!(
                "the cut watch is not closed: {} open, not 1",
                server.open_watches()
            )
        },
    );

    // Only one line was cut: the next watch (and the other one) get whole lines.
    let mut again = client.watch("/api/v1/pods?watch=1&resourceVersion=223");
    server.apply_event_line("pods", &pods[1]);
    assert_eq!(again.lines(1, TIMEOUT), [pods[1].clone()]);
    let cm = server.create("configmaps", &configmap("a", "b", ""));
    assert_eq!(other.lines(1, TIMEOUT), [cm]);
}

#[test]
fn injected_500_and_429_answer_the_next_requests() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    server.fail_next_requests(2, 500);
    server.fail_next_requests(1, 429);
    for _ in 0..2 {
        let failed = client.get("/api/v1/pods");
        assert_eq!(failed.status, 500);
        assert_eq!(
            failed.text(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: injected by the test","reason":"InternalError","details":{"causes":[{"message":"injected by the test"}]},"code":500}"#.to_owned() + "\n"
        );
    }
    let busy = client.get("/api/v1/pods?watch=1");
    assert_eq!(busy.status, 429);
    assert_eq!(busy.header("retry-after"), Some("1"));
    let body = busy.json();
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["details"]["retryAfterSeconds"], 1);
    assert_eq!(client.get("/api/v1/pods").status, 200);

    server.fail_next_requests(1, 503);
    assert_eq!(client.get("/api").json()["reason"], "ServiceUnavailable");
}

#[test]
fn a_restart_keeps_the_port_and_serves_changes_made_while_down() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    let url = server.url();
    let pods = lines("pods.jsonl");
    server.apply_event_line("pods", &pods[0]);
    let mut watch = client.watch("/api/v1/pods?watch=1&resourceVersion=223");
    assert!(server.wait_for_watches(1, TIMEOUT));

    server.stop();
    assert!(!server.is_running());
    assert_eq!(
        watch.next(TIMEOUT),
        Next::Cut(Vec::new()),
        "the stream breaks"
    );
    let refused = TcpStream::connect(server.addr()).expect_err("refused while down");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(server.open_watches(), 0);

    // The world moves on while the server is down.
    for line in &pods[1..] {
        server.apply_event_line("pods", line);
    }
    server.restart();
    assert_eq!(server.url(), url);
    let list = client.get("/api/v1/pods").json();
    assert_eq!(names(&list), ["shop/web-7d4b9c6f5-x2k8p"]);
    assert_eq!(list["metadata"]["resourceVersion"], "244");
    let mut resumed = client.watch("/api/v1/pods?watch=1&resourceVersion=223");
    assert_eq!(resumed.lines(6, TIMEOUT), pods[1..]);
}

#[test]
fn slow_streams_wait_before_each_line() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    server.apply_event_lines("pods", &watch_fixture("pods.jsonl"));
    server.slow_watches(Duration::from_millis(100));
    let started = Instant::now();
    let mut watch = client.watch("/api/v1/pods?watch=1&resourceVersion=240");
    assert_eq!(watch.lines(2, TIMEOUT).len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    server.slow_watches(Duration::ZERO);
}

// --- authentication, authorization, bad requests, the log ---

#[test]
fn a_token_is_required_when_configured() {
    let server = ApiServer::builder().token("s3cret").start();
    let unauthorized = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#.to_owned() + "\n";
    for client in [Client::new(&server), Client::with_token(&server, "wrong")] {
        let response = client.get("/api/v1/pods");
        assert_eq!(response.status, 401);
        assert_eq!(response.text(), unauthorized);
        assert_eq!(client.get("/api").status, 401);
    }
    let client = Client::with_token(&server, "s3cret");
    assert_eq!(client.get("/api/v1/pods").status, 200);
    assert_eq!(client.get("/apis").status, 200);

    // A rotated token.
    server.set_token(Some("next"));
    assert_eq!(client.get("/api/v1/pods").status, 401);
    assert_eq!(
        Client::with_token(&server, "next")
            .get("/api/v1/pods")
            .status,
        200
    );
}

#[test]
fn denied_resources_get_the_real_403() {
    let server = ApiServer::builder().deny("pods").start();
    let client = Client::new(&server);
    let cluster = client.get("/api/v1/pods");
    assert_eq!(cluster.status, 403);
    assert_eq!(
        cluster.text(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"system:serviceaccount:ns:sa\" cannot list resource \"pods\" in API group \"\" at the cluster scope","reason":"Forbidden","details":{"kind":"pods"},"code":403}"#.to_owned() + "\n"
    );
    let watch = client.get("/api/v1/namespaces/shop/pods?watch=1").json();
    assert_eq!(
        watch["message"],
        r#"pods is forbidden: User "system:serviceaccount:ns:sa" cannot watch resource "pods" in API group "" in the namespace "shop""#
    );
    // Discovery and other resources are allowed.
    assert_eq!(client.get("/api/v1").status, 200);
    assert_eq!(client.get("/api/v1/configmaps").status, 200);

    server.deny("deployments");
    let apps = client.get("/apis/apps/v1/deployments").json();
    assert_eq!(
        apps["details"],
        serde_json::json!({"group": "apps", "kind": "deployments"})
    );
    server.allow("pods");
    assert_eq!(client.get("/api/v1/pods").status, 200);
}

#[test]
fn bad_requests_get_a_status_and_the_server_lives_on() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    let cases = [
        ("GET", "/api/v1/namespaces/%zz/pods", 400),
        ("GET", "/api/v1/pods?resourceVersion=abc", 400),
        ("GET", "/api/v1/pods?watch=1&resourceVersion=abc", 400),
        ("GET", "/api/v1/pods/name-without-namespace", 404),
        ("GET", "/api/v1/namespaces/shop/namespaces", 404),
        ("GET", "/api/v2", 404),
        ("GET", "/nothing/here", 404),
        ("POST", "/api/v1/namespaces/shop/pods", 405),
        ("DELETE", "/api/v1/namespaces/shop/pods/x", 405),
    ];
    for (method, target, status) in cases {
        let response = client.request(method, target);
        assert_eq!(
            response.status,
            status,
            "{method} {target}: {}",
            response.text()
        );
        assert_eq!(response.json()["kind"], "Status");
    }
    // Garbage on the socket gets hyper's 400 and no panic.
    let mut raw = TcpStream::connect(server.addr()).expect("connect");
    raw.write_all(b"\x00\x01 nonsense\r\n\r\n").expect("write");
    let mut answer = Vec::new();
    raw.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let _ = raw.read_to_end(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(client.get("/api/v1/pods").status, 200);
}

#[test]
fn requests_are_logged() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    client.get("/api/v1");
    client.get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb&limit=5");
    drop(client.watch("/api/v1/pods?watch=1&resourceVersion=0"));
    let log = server.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(
        (
            log[0].method.as_str(),
            log[0].path.as_str(),
            log[0].query.as_str()
        ),
        ("GET", "/api/v1", "")
    );
    assert_eq!(log[1].path, "/api/v1/namespaces/shop/pods");
    assert_eq!(log[1].param("labelSelector").as_deref(), Some("app=web"));
    assert_eq!(log[1].param("limit").as_deref(), Some("5"));
    assert!(!log[1].is_watch() && log[2].is_watch());
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[test]
fn convenience_changes_assign_revisions_and_keep_key_order() {
    let server = ApiServer::start();
    let created = server.create(
        "pods",
        r#"{"metadata":{"name":"p","namespace":"a","labels":{"x":"1"}},"spec":{}}"#,
    );
    let object = parse(&created)["object"].clone();
    assert!(created.starts_with(r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"a","uid":""#), "{created}");
    assert_eq!(object["metadata"]["resourceVersion"], "1");
    let uid = object["metadata"]["uid"].clone();

    let modified = parse(&server.modify(
        "pods",
        r#"{"metadata":{"name":"p","namespace":"a","labels":{"x":"2"}},"spec":{}}"#,
    ));
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["metadata"]["uid"], uid, "the uid stays");
    assert_eq!(modified["object"]["metadata"]["resourceVersion"], "2");

    let deleted = parse(&server.delete("pods", r#"{"metadata":{"name":"p","namespace":"a"}}"#));
    assert_eq!(deleted["type"], "DELETED");
    assert_eq!(
        deleted["object"]["metadata"]["labels"]["x"], "2",
        "the last state"
    );
    assert_eq!(deleted["object"]["metadata"]["resourceVersion"], "3");
    assert!(server.object("pods", "a", "p").is_none());

    let again = parse(&server.create("pods", r#"{"metadata":{"name":"p","namespace":"a"}}"#));
    assert_ne!(
        again["object"]["metadata"]["uid"], uid,
        "a new object, a new uid"
    );
    let ns = parse(&server.create("namespaces", r#"{"metadata":{"name":"n"}}"#));
    assert!(ns["object"]["metadata"].get("namespace").is_none());
}

#[test]
fn concurrent_changes_reach_a_watch_in_revision_order() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    let mut watch = client.watch("/api/v1/configmaps?watch=1&resourceVersion=0");
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let server = &server;
            scope.spawn(move || {
                for i in 0..25 {
                    server.create(
                        "configmaps",
                        &configmap("ns", &format!("w{writer}-{i}"), ""),
                    );
                }
            });
        }
    });
    let revisions: Vec<u64> = watch
        .lines(100, TIMEOUT)
        .iter()
        .map(|line| {
            let event = parse(line);
            assert_eq!(event["type"], "ADDED");
            event["object"]["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|rv| rv.parse().ok())
                .expect("resourceVersion")
        })
        .collect();
    assert_eq!(
        revisions,
        (1..=100).collect::<Vec<u64>>(),
        "in order, none lost, none twice"
    );
    let list = client.get("/api/v1/configmaps").json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(100));
}

// --- writes: create, update, delete ---

/// Sends `method target` with a JSON `body` and reads the whole (non-chunked) response.
fn send_json(server: &ApiServer, method: &str, target: &str, body: &str) -> Response {
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

const CONFIGMAPS: &str = "/api/v1/namespaces/shop/configmaps";

#[test]
fn create_update_and_delete_with_optimistic_concurrency_and_watch_events() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    let mut watch = client.watch(&format!("{CONFIGMAPS}?watch=1&resourceVersion=0"));
    assert!(server.wait_for_watches(1, TIMEOUT));

    // Create: 201, the server's fields added, an ADDED event with the same bytes.
    let created = send_json(
        &server,
        "POST",
        CONFIGMAPS,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","labels":{"a":"1"}},"data":{"k":"v"}}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let object = created.json();
    assert_eq!(object["metadata"]["namespace"], "shop");
    assert_eq!(object["metadata"]["resourceVersion"], "1");
    assert!(object["metadata"]["uid"].is_string());
    assert!(object["metadata"]["creationTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let line = watch.lines(1, TIMEOUT).remove(0);
    assert_eq!(
        line,
        format!(
            r#"{{"type":"ADDED","object":{}}}"#,
            created.text().trim_end()
        )
    );
    let uid = object["metadata"]["uid"].clone();

    // A second create of the name: 409 AlreadyExists.
    let again = send_json(&server, "POST", CONFIGMAPS, r#"{"metadata":{"name":"cm"}}"#);
    assert_eq!(again.status, 409);
    assert_eq!(
        again.text(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"cm\" already exists","reason":"AlreadyExists","details":{"name":"cm","kind":"configmaps"},"code":409}"#.to_owned() + "\n"
    );

    // Update at the stored revision: 200, a new revision, the uid kept, MODIFIED.
    let cm = format!("{CONFIGMAPS}/cm");
    let updated = send_json(
        &server,
        "PUT",
        &cm,
        r#"{"metadata":{"name":"cm","namespace":"shop","resourceVersion":"1"},"data":{"k":"w"}}"#,
    );
    assert_eq!(updated.status, 200, "{}", updated.text());
    let object = updated.json();
    assert_eq!(object["metadata"]["resourceVersion"], "2");
    assert_eq!(object["metadata"]["uid"], uid);
    assert_eq!(object["data"]["k"], "w");
    let event = parse(&watch.lines(1, TIMEOUT)[0]);
    assert_eq!(event["type"], "MODIFIED");
    assert_eq!(event["object"], object);

    // At a stale revision: 409 Conflict with the real message; nothing changes.
    let stale = send_json(
        &server,
        "PUT",
        &cm,
        r#"{"metadata":{"name":"cm","resourceVersion":"1"},"data":{"k":"x"}}"#,
    );
    assert_eq!(stale.status, 409);
    assert_eq!(
        stale.text(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on configmaps \"cm\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"cm","kind":"configmaps"},"code":409}"#.to_owned() + "\n"
    );
    assert_eq!(server.resource_version(), 2);

    // Without a resourceVersion: unconditional. The same again changes nothing: no revision,
    // no event.
    let unconditional = r#"{"metadata":{"name":"cm"},"data":{"k":"y"}}"#;
    let forced = send_json(&server, "PUT", &cm, unconditional);
    assert_eq!(forced.status, 200);
    assert_eq!(forced.json()["metadata"]["resourceVersion"], "3");
    assert_eq!(parse(&watch.lines(1, TIMEOUT)[0])["type"], "MODIFIED");
    let same = send_json(&server, "PUT", &cm, unconditional);
    assert_eq!(same.status, 200);
    assert_eq!(same.json()["metadata"]["resourceVersion"], "3");
    assert_eq!(server.resource_version(), 3);

    // Delete: a failed precondition is a 409; then 200 with a Success Status, DELETED with the
    // last state at the new revision, and the object is gone.
    let precondition = send_json(
        &server,
        "DELETE",
        &cm,
        r#"{"preconditions":{"resourceVersion":"2"}}"#,
    );
    assert_eq!(precondition.status, 409);
    assert_eq!(
        precondition.json()["message"],
        r#"Operation cannot be fulfilled on configmaps "cm": Precondition failed: ResourceVersion in precondition: 2, ResourceVersion in object meta: 3"#
    );
    let deleted = send_json(&server, "DELETE", &cm, "");
    assert_eq!(deleted.status, 200);
    assert_eq!(
        deleted.json(),
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": "cm", "kind": "configmaps", "uid": uid}})
    );
    let event = parse(&watch.lines(1, TIMEOUT)[0]);
    assert_eq!(event["type"], "DELETED");
    assert_eq!(event["object"]["metadata"]["resourceVersion"], "4");
    assert_eq!(event["object"]["data"]["k"], "y");
    assert_eq!(client.get(&cm).status, 404);
    assert_eq!(send_json(&server, "PUT", &cm, unconditional).status, 404);
    assert_eq!(send_json(&server, "DELETE", &cm, "").status, 404);
}

#[test]
fn writes_are_checked_like_the_real_server_checks_them() {
    let server = ApiServer::start();
    let cases = [
        // No name.
        ("POST", CONFIGMAPS, r#"{"metadata":{}}"#, 422),
        // Another namespace than the path's.
        (
            "POST",
            CONFIGMAPS,
            r#"{"metadata":{"name":"a","namespace":"other"}}"#,
            400,
        ),
        // Another kind.
        (
            "POST",
            CONFIGMAPS,
            r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"a"}}"#,
            400,
        ),
        ("POST", CONFIGMAPS, "not json", 400),
        // Creates go to a namespace's collection.
        (
            "POST",
            "/api/v1/configmaps",
            r#"{"metadata":{"name":"a"}}"#,
            405,
        ),
        // Resources without HTTP writes.
        (
            "POST",
            "/api/v1/namespaces/shop/pods",
            r#"{"metadata":{"name":"a"}}"#,
            405,
        ),
        (
            "PUT",
            "/api/v1/namespaces/shop/pods/a",
            r#"{"metadata":{"name":"a"}}"#,
            405,
        ),
    ];
    for (method, target, body, status) in cases {
        let response = send_json(&server, method, target, body);
        assert_eq!(
            response.status,
            status,
            "{method} {target} {body}: {}",
            response.text()
        );
        assert_eq!(response.json()["kind"], "Status");
    }
    let invalid = send_json(&server, "POST", CONFIGMAPS, r#"{"metadata":{}}"#).json();
    assert_eq!(
        invalid["message"],
        r#"ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required"#
    );
    let with_rv = send_json(
        &server,
        "POST",
        CONFIGMAPS,
        r#"{"metadata":{"name":"a","resourceVersion":"7"}}"#,
    );
    assert_eq!(
        with_rv.text(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"resourceVersion should not be set on objects to be created","code":500}"#.to_owned() + "\n"
    );
    let generated = send_json(
        &server,
        "POST",
        CONFIGMAPS,
        r#"{"metadata":{"generateName":"gen-"}}"#,
    );
    assert_eq!(generated.status, 201);
    let name = generated.json()["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    assert!(
        name.starts_with("gen-") && name.len() == "gen-".len() + 5,
        "{name}"
    );
    // A PUT names the object of its path.
    let renamed = send_json(
        &server,
        "PUT",
        &format!("{CONFIGMAPS}/{name}"),
        r#"{"metadata":{"name":"other"}}"#,
    );
    assert_eq!(renamed.status, 400);
    // Denied writes get the RBAC message with their verb.
    server.deny("configmaps");
    let denied = send_json(&server, "POST", CONFIGMAPS, r#"{"metadata":{"name":"b"}}"#).json();
    assert_eq!(
        denied["message"],
        r#"configmaps is forbidden: User "system:serviceaccount:ns:sa" cannot create resource "configmaps" in API group "" in the namespace "shop""#
    );
    assert_eq!(
        server.resource_version(),
        1,
        "only the generated one was created"
    );
}

#[test]
fn leases_are_served_when_asked_for() {
    let without = ApiServer::start();
    assert_eq!(
        Client::new(&without)
            .get("/apis/coordination.k8s.io/v1")
            .status,
        404
    );

    let server = ApiServer::builder().with_leases().start();
    let client = Client::new(&server);
    let groups = client.get("/apis").json();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names, ["apps", "coordination.k8s.io"]);
    let resources = client.get("/apis/coordination.k8s.io/v1").text();
    assert!(
        resources.contains(concat!(
            r#"{"name":"leases","singularName":"lease","namespaced":true,"kind":"Lease","#,
            r#""verbs":["create","delete","deletecollection","get","list","patch","update","watch"]}"#
        )),
        "{resources}"
    );

    let leases = "/apis/coordination.k8s.io/v1/namespaces/ec/leases";
    let created = send_json(
        &server,
        "POST",
        leases,
        r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},"spec":{"holderIdentity":"a","leaseDurationSeconds":15}}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["spec"]["holderIdentity"], "a");
    let mut watch = client.watch(&format!("{leases}?watch=1&resourceVersion=1"));
    let conflict = send_json(
        &server,
        "PUT",
        &format!("{leases}/l"),
        r#"{"metadata":{"name":"l","resourceVersion":"0"},"spec":{"holderIdentity":"b"}}"#,
    );
    assert_eq!(conflict.status, 409);
    assert_eq!(
        conflict.text(),
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on leases.coordination.k8s.io \"l\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"l","group":"coordination.k8s.io","kind":"leases"},"code":409}"#.to_owned() + "\n"
    );
    let deleted = send_json(&server, "DELETE", &format!("{leases}/l"), "{}");
    assert_eq!(deleted.status, 200);
    let event = parse(&watch.lines(1, TIMEOUT)[0]);
    assert_eq!(event["type"], "DELETED");
    assert_eq!(event["object"]["kind"], "Lease");
    assert_eq!(
        client.get(&format!("{leases}/l")).json()["message"],
        r#"leases.coordination.k8s.io "l" not found"#
    );
}

#[test]
fn a_failing_or_stalled_server_answers_every_request_so_until_told_otherwise() {
    let server = ApiServer::start();
    let client = Client::new(&server);
    server.fail_all_requests(Some(503));
    for target in ["/api/v1/pods", "/api", CONFIGMAPS] {
        assert_eq!(client.get(target).status, 503, "{target}");
    }
    assert_eq!(
        send_json(&server, "POST", CONFIGMAPS, r#"{"metadata":{"name":"a"}}"#).status,
        503
    );
    server.fail_all_requests(None);
    assert_eq!(client.get("/api/v1/pods").status, 200);

    server.stall_requests();
    let addr = server.addr();
    let waiting = std::thread::spawn(move || {
        let status = Client { addr, token: None }.get("/api/v1/pods").status;
        (status, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "a stalled server does not answer");
    let resumed = Instant::now();
    server.resume_requests();
    let (status, answered) = waiting.join().expect("request");
    assert_eq!(status, 200);
    assert!(answered >= resumed, "answered only once resumed");
}

#[test]
fn policies_are_served_when_asked_for() {
    let without = ApiServer::start();
    let client = Client::new(&without);
    assert_eq!(client.get("/apis/networking.k8s.io/v1").status, 404);
    assert!(!client.get("/api/v1").text().contains("resourcequotas"));

    let server = ApiServer::builder().with_policies().start();
    let client = Client::new(&server);
    let groups = client.get("/apis").json();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names, ["apps", "networking.k8s.io"]);
    assert_eq!(
        client.get("/apis/networking.k8s.io").json()["preferredVersion"]["groupVersion"],
        "networking.k8s.io/v1"
    );
    let resources = client.get("/apis/networking.k8s.io/v1").text();
    assert!(
        resources.contains(concat!(
            r#"{"name":"networkpolicies","singularName":"networkpolicy","namespaced":true,"kind":"NetworkPolicy","#,
            r#""verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["netpol"]}"#
        )),
        "{resources}"
    );
    let core = client.get("/api/v1").text();
    assert!(
        core.contains(r#"{"name":"resourcequotas","singularName":"resourcequota","namespaced":true,"kind":"ResourceQuota","#)
            && core.contains(r#"{"name":"resourcequotas/status","singularName":"","namespaced":true,"kind":"ResourceQuota","#),
        "{core}"
    );

    let quotas = "/api/v1/namespaces/shop/resourcequotas";
    let created = send_json(
        &server,
        "POST",
        quotas,
        r#"{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"q"},"spec":{"hard":{"pods":"1"}}}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let patched = send_json(
        &server,
        "PATCH",
        &format!("{quotas}/q"),
        r#"{"spec":{"hard":{"pods":"2"}}}"#,
    );
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.json()["spec"]["hard"]["pods"], "2");
    let policies = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies";
    let created = send_json(
        &server,
        "POST",
        policies,
        r#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"p"},"spec":{"podSelector":{}}}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(server.object("networkpolicies", "shop", "p").is_some());
    let deleted = send_json(&server, "DELETE", &format!("{policies}/p"), "{}");
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        client.get(&format!("{policies}/p")).json()["message"],
        r#"networkpolicies.networking.k8s.io "p" not found"#
    );
}
