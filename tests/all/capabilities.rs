//! The `http_request` capability through the real binary: `test_http` sends the request of its
//! config to a recording HTTP server in this test, and logs the answer the host gave it.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

/// What the server does with each request.
#[derive(Clone, Copy)]
enum Behaviour {
    Answer,
    Sleep(Duration),
    Redirect,
}

/// One request the server received: request line, headers (lowercase names), body.
#[derive(Debug, Clone)]
struct Received {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server on loopback that records what it receives.
struct Server {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    fn start(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let log = log.clone();
                std::thread::spawn(move || serve(stream, behaviour, &log));
            }
        });
        Server { port, received }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

fn serve(stream: std::net::TcpStream, behaviour: Behaviour, log: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    log.lock().expect("lock").push(Received {
        line: line.trim_end().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut stream = stream;
    let response = match behaviour {
        Behaviour::Answer => {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}".to_owned()
        }
        Behaviour::Sleep(delay) => {
            std::thread::sleep(delay);
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        }
        Behaviour::Redirect => "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
    };
    let _ = stream.write_all(response.as_bytes());
}

/// Replays one Pod event through `test_http` with `config` (TOML for its plugin section, after
/// `[plugins.test_http]`) and returns what the plugin logged: the host's answer, parsed.
fn answer_with(config: &str, env: &[(&str, &str)]) -> Value {
    let (plugins, config_path) = plugins_dir_with_config(&["test_http"], config);
    let events = plugins.path().join("events.jsonl");
    std::fs::write(&events, pod_event("ADDED", "shop", "web-1")).expect("events");
    let output = controller()
        .args(["replay", "--log-format", "json", "--plugins-dir"])
        .arg(plugins.path())
        .arg("--config")
        .arg(&config_path)
        .arg(&events)
        .envs(env.iter().copied())
        .output()
        .expect("run replay");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["plugin"] == "test_http" && l["target"] == "plugin")
        .unwrap_or_else(|| panic!("test_http said nothing:\n{stderr}"));
    serde_json::from_str(&str_of(&line, "message")).expect("the answer is JSON")
}

fn request(url: &str) -> String {
    format!(
        "[plugins.test_http.config.request]\nmethod = \"POST\"\nurl = \"{url}\"\nbody = '{{\"pod\":\"{{name}}\"}}'\n[plugins.test_http.config.request.headers]\nContent-Type = \"application/json\"\nAuthorization = \"stolen-or-forged\"\n"
    )
}

#[test]
fn an_allowed_request_goes_out_with_the_hosts_secret_headers() {
    let server = Server::start(Behaviour::Answer);
    let config = format!(
        "{}[plugins.test_http.capabilities.http]\nallow = [\"{}\"]\n[plugins.test_http.capabilities.http.headers]\nAuthorization = {{ env = \"EC_TEST_TOKEN\", prefix = \"Bearer \" }}\n",
        request(&server.url("/api/v2/alerts")),
        server.url("/api/v2/")
    );
    let answer = answer_with(&config, &[("EC_TEST_TOKEN", "s3cret")]);
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["body"], "{\"ok\":true}");
    assert_eq!(answer["truncated"], false);
    assert_eq!(answer["headers"]["content-type"], "application/json");
    let received = server.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].line, "POST /api/v2/alerts HTTP/1.1");
    assert_eq!(received[0].body, "{\"pod\":\"web-1\"}");
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    // The host's secret replaced the plugin's own Authorization header.
    assert_eq!(received[0].header("authorization"), Some("Bearer s3cret"));
}

#[test]
fn requests_outside_the_grant_are_denied_and_never_sent() {
    let server = Server::start(Behaviour::Answer);
    let outside = format!(
        "{}[plugins.test_http.capabilities.http]\nallow = [\"{}\"]\n",
        request(&server.url("/admin")),
        server.url("/api/v2/")
    );
    let answer = answer_with(&outside, &[]);
    let error = answer["error"].as_str().expect("an error");
    assert!(error.starts_with("denied:"), "{error}");
    let escape = format!(
        "{}[plugins.test_http.capabilities.http]\nallow = [\"{}\"]\n",
        request(&server.url("/api/v2/../admin")),
        server.url("/api/v2/")
    );
    assert!(answer_with(&escape, &[])["error"]
        .as_str()
        .is_some_and(|e| e.starts_with("denied:")));
    let ungranted = answer_with(&request(&server.url("/api/v2/alerts")), &[]);
    assert_eq!(
        ungranted["error"],
        "denied: plugin test_http has no [plugins.test_http.capabilities.http] section"
    );
    assert!(server.received().is_empty(), "{:?}", server.received());
}

#[test]
fn slow_servers_time_out_and_redirects_are_not_followed() {
    let slow = Server::start(Behaviour::Sleep(Duration::from_secs(3)));
    let config = format!(
        "{}[plugins.test_http.capabilities.http]\nallow = [\"{}\"]\ntimeout_ms = 300\n",
        request(&slow.url("/api/v2/alerts")),
        slow.url("/api/v2/")
    );
    let answer = answer_with(&config, &[]);
    let error = answer["error"].as_str().expect("an error");
    assert!(error.to_ascii_lowercase().contains("timeout"), "{error}");

    let redirecting = Server::start(Behaviour::Redirect);
    let config = format!(
        "{}[plugins.test_http.capabilities.http]\nallow = [\"{}\"]\n",
        request(&redirecting.url("/api/v2/alerts")),
        redirecting.url("/api/v2/")
    );
    let answer = answer_with(&config, &[]);
    assert_eq!(answer["status"], 302, "{answer}");
    assert_eq!(
        answer["headers"]["location"],
        "http://127.0.0.1:9/elsewhere"
    );
}

/// `test_http` in `kube_request` mode patches Route shop/web on each Pod event; `grant` is its
/// capability section (or none).
fn kube_patch_answer(server: &support::apiserver::ApiServer, grant: &str) -> Value {
    let (plugins, config) = plugins_dir_with_config(
        &["test_http"],
        &format!(
            "[plugins.test_http.config]\nfunction = \"kube_request\"\n[plugins.test_http.config.request]\nverb = \"patch\"\nresource = \"routes.route.openshift.io\"\nnamespace = \"shop\"\nname = \"web\"\npatch = {{ metadata = {{ annotations = {{ seen-by = \"{{name}}\" }} }} }}\n{grant}"
        ),
    );
    let controller = support::controller::Controller::start_in(
        server,
        plugins,
        &[("CONFIG_FILE", config.as_str())],
    );
    let said = wait::until(
        support::controller::PATIENCE,
        || controller.plugin_said("test_http").into_iter().next(),
        || format!("test_http said nothing:\n{:#?}", controller.logs()),
    );
    serde_json::from_str(&said).expect("the answer is JSON")
}

#[test]
fn a_granted_plugin_patches_objects_with_the_controllers_credentials() {
    let server = support::apiserver::ApiServer::builder()
        .with_routes()
        .start();
    server.create(
        "routes",
        &route_object("shop", "web", "web.apps.example.com"),
    );
    server.create("pods", &pod_object("shop", "web-1", "nginx:1"));
    let grant =
        "[plugins.test_http.capabilities.kubernetes]\npatch = [\"routes.route.openshift.io\"]\n";
    let answer = kube_patch_answer(&server, grant);
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(
        answer["object"]["metadata"]["annotations"]["seen-by"],
        "web-1"
    );
    assert_eq!(answer["object"]["spec"]["host"], "web.apps.example.com");
    let patches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(
        patches[0].path,
        "/apis/route.openshift.io/v1/namespaces/shop/routes/web"
    );
}

#[test]
fn kubernetes_writes_outside_the_grant_or_rbac_are_refused() {
    let server = support::apiserver::ApiServer::builder()
        .with_routes()
        .start();
    server.create(
        "routes",
        &route_object("shop", "web", "web.apps.example.com"),
    );
    server.create("pods", &pod_object("shop", "web-1", "nginx:1"));
    let answer = kube_patch_answer(&server, "");
    assert_eq!(
        answer["error"],
        "denied: plugin test_http may not patch routes.route.openshift.io (see [plugins.test_http.capabilities.kubernetes], key patch)"
    );
    assert!(server.requests().iter().all(|r| r.method != "PATCH"));

    server.deny("routes");
    let grant =
        "[plugins.test_http.capabilities.kubernetes]\npatch = [\"routes.route.openshift.io\"]\n";
    let answer = kube_patch_answer(&server, grant);
    assert_eq!(answer["status"], 403, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot patch resource \"routes\"")),
        "{answer}"
    );
}

/// `test_http` in `kube_request` mode sends `request` (TOML inline-table members, `{name}` the
/// Pod's name) on each Pod event, under `grant` (TOML lines of the kubernetes section) and
/// `env`; the answers it logged, once `n` have come.
fn kube_answers(
    server: &support::apiserver::ApiServer,
    request: &str,
    grant: &str,
    env: &[(&str, &str)],
    n: usize,
) -> (Vec<Value>, support::controller::Controller) {
    let (plugins, config) = plugins_dir_with_config(
        &["test_http"],
        &format!(
            "[plugins.test_http.config]\nfunction = \"kube_request\"\nrequest = {{ {request} }}\n\n[plugins.test_http.capabilities.kubernetes]\n{grant}\n"
        ),
    );
    let mut with_config = vec![("CONFIG_FILE", config.as_str())];
    with_config.extend_from_slice(env);
    let controller = support::controller::Controller::start_in(server, plugins, &with_config);
    let said = wait::until(
        support::controller::PATIENCE,
        || {
            let said = controller.plugin_said("test_http");
            (said.len() >= n).then_some(said)
        },
        || {
            format!(
                "test_http did not answer {n} times:\n{:#?}",
                controller.logs()
            )
        },
    );
    let answers = said
        .iter()
        .map(|line| serde_json::from_str(line).expect("the answer is JSON"))
        .collect();
    (answers, controller)
}

fn server_with_pod(pod: &str) -> support::apiserver::ApiServer {
    let server = support::apiserver::ApiServer::start();
    server.create("pods", &pod_object("shop", pod, "nginx:1"));
    server
}

const CONFIGMAP: &str = r#"verb = "VERB", resource = "configmaps", object = { apiVersion = "v1", kind = "ConfigMap", metadata = { namespace = "shop", name = "for-{name}", labels = { owner = "ns-defaults" } }, data = { pod = "{name}" } }"#;

fn configmap_request(verb: &str) -> String {
    CONFIGMAP.replace("VERB", verb)
}

#[test]
fn a_plugin_creates_applies_reads_lists_and_deletes_within_its_grants() {
    let server = server_with_pod("web-1");
    let grant = "create = [\"configmaps\"]\napply = [\"configmaps\"]\nread = [\"configmaps\"]\ndelete = [\"configmaps\"]";

    let (answers, controller) = kube_answers(&server, &configmap_request("create"), grant, &[], 1);
    assert_eq!(answers[0]["status"], 201, "{}", answers[0]);
    let created = server
        .object("configmaps", "shop", "for-web-1")
        .expect("created");
    assert!(created.contains("\"pod\":\"web-1\""), "{created}");
    let logged = controller.wait_for_log("plugin created configmaps shop/for-web-1");
    assert_eq!(logged["outcome"], "status=201", "{logged}");
    drop(controller);

    // Apply over it: the applied fields win, the object stays.
    let apply = configmap_request("apply")
        .replace("pod = \"{name}\"", "pod = \"{name}\", applied = \"yes\"");
    let (answers, controller) = kube_answers(&server, &apply, grant, &[], 1);
    assert_eq!(answers[0]["status"], 200, "{}", answers[0]);
    assert_eq!(answers[0]["object"]["data"]["applied"], "yes");
    let patches = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 1);
    drop(controller);

    let get = r#"verb = "get", resource = "configmaps", namespace = "shop", name = "for-{name}""#;
    let (answers, controller) = kube_answers(&server, get, grant, &[], 1);
    assert_eq!(
        answers[0]["object"]["data"]["applied"], "yes",
        "{}",
        answers[0]
    );
    drop(controller);

    let list = r#"verb = "list", resource = "configmaps", namespace = "shop", label_selector = "owner=ns-defaults""#;
    let (answers, controller) = kube_answers(&server, list, grant, &[], 1);
    let items = answers[0]["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", answers[0]);
    assert_eq!(items[0]["metadata"]["name"], "for-web-1");
    let listed = server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "GET" && r.path.ends_with("/configmaps"))
        .expect("a list");
    assert_eq!(
        listed.param("labelSelector").as_deref(),
        Some("owner=ns-defaults")
    );
    assert_eq!(
        listed.param("limit").as_deref(),
        Some("500"),
        "the host pages the list"
    );
    drop(controller);

    let delete =
        r#"verb = "delete", resource = "configmaps", namespace = "shop", name = "for-{name}""#;
    let (answers, controller) = kube_answers(&server, delete, grant, &[], 1);
    assert_eq!(answers[0]["status"], 200, "{}", answers[0]);
    assert_eq!(server.object("configmaps", "shop", "for-web-1"), None);
    controller.wait_for_log("plugin deleted configmaps shop/for-web-1");
}

#[test]
fn writes_outside_the_grants_namespaces_selector_or_into_the_controllers_namespace_are_refused() {
    let server = server_with_pod("web-1");
    let create = configmap_request("create");

    let (answers, _c) = kube_answers(&server, &create, "read = [\"configmaps\"]", &[], 1);
    assert_eq!(
        answers[0]["error"],
        "denied: plugin test_http may not create configmaps (see [plugins.test_http.capabilities.kubernetes], key create)"
    );
    let (answers, _c) = kube_answers(
        &server,
        &create,
        "create = [\"configmaps\"]\nnamespaces = [\"payments\"]",
        &[],
        1,
    );
    let error = answers[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("denied: plugin test_http may only reach namespaces [\"payments\"]"),
        "{error}"
    );

    // A label selector: the object sent must match, and so must an object to delete.
    let unlabelled = create.replace("owner = \"ns-defaults\"", "owner = \"someone-else\"");
    let grant = "create = [\"configmaps\"]\ndelete = [\"configmaps\"]\nlabel_selector = \"owner=ns-defaults\"";
    let (answers, _c) = kube_answers(&server, &unlabelled, grant, &[], 1);
    let error = answers[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("does not carry labels matching the plugin's label selector"),
        "{error}"
    );
    server.create("configmaps", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":"shop","name":"for-web-1","labels":{"owner":"a-human"}},"data":{"keep":"me"}}"#);
    let delete =
        r#"verb = "delete", resource = "configmaps", namespace = "shop", name = "for-{name}""#;
    let (answers, _c) = kube_answers(&server, delete, grant, &[], 1);
    let error = answers[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("shop/for-web-1 does not match the plugin's label selector"),
        "{error}"
    );
    assert!(
        server.object("configmaps", "shop", "for-web-1").is_some(),
        "not deleted"
    );

    // The controller's own namespace: refused whatever the grant says.
    let grant = "create = [\"configmaps\"]\nread = [\"configmaps\"]";
    let (answers, _c) = kube_answers(&server, &create, grant, &[("POD_NAMESPACE", "shop")], 1);
    let error = answers[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("namespace shop is the controller's own: no plugin may reach it"),
        "{error}"
    );
    let writes = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" || r.method == "DELETE")
        .count();
    assert_eq!(writes, 0, "nothing refused reached the API server");

    // A list across namespaces leaves the controller's own out.
    server.create("configmaps", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":"payments","name":"theirs"}}"#);
    let list = r#"verb = "list", resource = "configmaps""#;
    let (answers, _c) = kube_answers(&server, list, grant, &[("POD_NAMESPACE", "shop")], 1);
    let namespaces: Vec<&str> = answers[0]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(namespaces, ["payments"], "{}", answers[0]);
}

#[test]
fn a_write_storm_is_throttled_not_amplified() {
    let server = server_with_pod("web-0");
    for i in 1..12 {
        server.create("pods", &pod_object("shop", &format!("web-{i}"), "nginx:1"));
    }
    let grant = "create = [\"configmaps\"]\nmax_writes_per_second = 2";
    let (answers, controller) = kube_answers(&server, &configmap_request("create"), grant, &[], 12);
    let created = answers.iter().filter(|a| a["status"] == 201).count();
    let throttled: Vec<&Value> = answers
        .iter()
        .filter(|a| {
            a["error"].as_str().is_some_and(|e| {
                e.starts_with("throttled: plugin test_http made more than 2 writes per second")
            })
        })
        .collect();
    assert!((2..12).contains(&created), "{answers:#?}");
    assert_eq!(created + throttled.len(), 12, "{answers:#?}");
    let posts = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, created, "throttled writes are not sent");
    controller.wait_for_log("write storm: the plugin's writes are throttled");
    let counted = controller.metric(
        "event_controller_capability_requests_total{plugin=\"test_http\",capability=\"kubernetes\",outcome=\"throttled\"}",
    );
    assert_eq!(counted as usize, throttled.len());
}

/// A ConfigMap in `shop` with label `owner`.
fn configmap_object(name: &str, owner: &str, value: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"shop","labels":{{"owner":"{owner}"}}}},"data":{{"value":"{value}"}}}}"#
    )
}

/// A controller watching Pods and ConfigMaps whose `test_http` (Pods only) sends `request`
/// under a `read` grant of ConfigMaps, once its lists are complete; then a Pod is created and
/// the plugin's answer and the read's log line come back, with the API server's requests from
/// the Pod's creation on.
fn watched_read(
    server: &support::apiserver::ApiServer,
    request: &str,
    pod: &str,
) -> (Value, Value, Vec<support::apiserver::Request>) {
    let (plugins, config) = plugins_dir_with_config(
        &["test_http"],
        &format!(
            "[plugins.test_http.config]\nfunction = \"kube_request\"\nrequest = {{ {request} }}\n\n[plugins.test_http.subscribe]\nresources = [\"pods\"]\n\n[plugins.test_http.capabilities.kubernetes]\nread = [\"configmaps\"]\n"
        ),
    );
    let env = [
        ("CONFIG_FILE", config.as_str()),
        ("K8S_RESOURCE", "pods,configmaps"),
        ("RUST_LOG", "info,event_controller::capabilities=debug"),
    ];
    let controller = support::controller::Controller::start_in(server, plugins, &env);
    controller
        .wait_for_log("plugins' reads of ConfigMap in all namespaces are served from the watch");
    server.clear_requests();
    server.create("pods", &pod_object("shop", pod, "nginx:1"));
    let said = wait::until(
        support::controller::PATIENCE,
        || controller.plugin_said("test_http").first().cloned(),
        || format!("test_http did not answer:\n{:#?}", controller.logs()),
    );
    let answer = serde_json::from_str(&said).expect("the answer is JSON");
    let logged = controller.wait_for_log("plugin read configmaps");
    let requests = server.requests();
    // The next controller must not find this Pod in its first list, before its ConfigMaps.
    server.delete("pods", &pod_object("shop", pod, "nginx:1"));
    (answer, logged, requests)
}

/// Requests that read ConfigMaps (not the controller's own watch of them).
fn configmap_reads(requests: &[support::apiserver::Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/configmaps") && !r.is_watch())
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect()
}

#[test]
fn reads_of_watched_resources_are_answered_from_the_watches_without_asking_the_api_server() {
    let server = support::apiserver::ApiServer::start();
    server.create("configmaps", &configmap_object("settings", "me", "1"));
    server.create("configmaps", &configmap_object("other", "you", "2"));

    let get = r#"verb = "get", resource = "configmaps", namespace = "shop", name = "settings""#;
    let (answer, logged, requests) = watched_read(&server, get, "web-1");
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["object"]["data"]["value"], "1", "{answer}");
    assert_eq!(logged["served_from"], "watch", "{logged}");
    assert_eq!(configmap_reads(&requests), Vec::<String>::new());

    let missing = r#"verb = "get", resource = "configmaps", namespace = "shop", name = "absent""#;
    let (answer, _, requests) = watched_read(&server, missing, "web-2");
    assert_eq!(answer["status"], 404, "{answer}");
    assert_eq!(answer["message"], r#"configmaps "absent" not found"#);
    assert_eq!(configmap_reads(&requests), Vec::<String>::new());

    let list = r#"verb = "list", resource = "configmaps", namespace = "shop", label_selector = "owner=me""#;
    let (answer, logged, requests) = watched_read(&server, list, "web-3");
    let items = answer["items"].as_array().expect("items");
    let names: Vec<&Value> = items.iter().map(|i| &i["metadata"]["name"]).collect();
    assert_eq!(names, ["settings"], "{answer}");
    assert_eq!(logged["served_from"], "watch", "{logged}");
    assert_eq!(configmap_reads(&requests), Vec::<String>::new());

    // A consistent read, and a field selector only the API server knows, go to it.
    let consistent = format!("{get}, consistent = true");
    let (answer, logged, requests) = watched_read(&server, &consistent, "web-4");
    assert_eq!(answer["object"]["data"]["value"], "1", "{answer}");
    assert_eq!(logged["served_from"], "api", "{logged}");
    assert_eq!(
        configmap_reads(&requests),
        ["GET /api/v1/namespaces/shop/configmaps/settings?"]
    );
    let by_field = r#"verb = "list", resource = "configmaps", namespace = "shop", field_selector = "data.value=1""#;
    let (_, logged, requests) = watched_read(&server, by_field, "web-5");
    assert_eq!(logged["served_from"], "api", "{logged}");
    assert_eq!(configmap_reads(&requests).len(), 1, "{requests:?}");
}

/// A plugin reads its own write even while the watch lags behind it: the object it created is
/// not yet in the watch (each watch line comes 600 ms late), so the read goes to the API server
/// instead of answering 404 from the watch.
#[test]
fn a_plugin_reads_its_own_write_before_the_watch_shows_it() {
    let server = support::apiserver::ApiServer::start();
    let get = r#"verb = "get", resource = "configmaps", namespace = "shop", name = "for-{name}""#;
    let (plugins, config) = plugins_dir_with_config(
        &["test_http"],
        &format!(
            "[plugins.test_http.config]\nfunction = \"kube_request\"\nrequest = {{ {} }}\nthen = {{ {get} }}\n\n[plugins.test_http.subscribe]\nresources = [\"pods\"]\n\n[plugins.test_http.capabilities.kubernetes]\ncreate = [\"configmaps\"]\nread = [\"configmaps\"]\n",
            configmap_request("create")
        ),
    );
    let env = [
        ("CONFIG_FILE", config.as_str()),
        ("K8S_RESOURCE", "pods,configmaps"),
        ("RUST_LOG", "info,event_controller::capabilities=debug"),
    ];
    let controller = support::controller::Controller::start_in(&server, plugins, &env);
    controller
        .wait_for_log("plugins' reads of ConfigMap in all namespaces are served from the watch");
    server.slow_watches(Duration::from_millis(600));
    server.create("pods", &pod_object("shop", "web-1", "nginx:1"));
    let said = wait::until(
        support::controller::PATIENCE,
        || controller.plugin_said("test_http").first().cloned(),
        || format!("test_http did not answer:\n{:#?}", controller.logs()),
    );
    let answers: Value = serde_json::from_str(&said).expect("the answers are JSON");
    assert_eq!(answers[0]["status"], 201, "{said}");
    assert_eq!(
        answers[1]["status"], 200,
        "the plugin reads what it created: {said}"
    );
    assert_eq!(answers[1]["object"]["data"]["pod"], "web-1", "{said}");
    let logged = controller.wait_for_log("plugin read configmaps");
    assert_eq!(logged["served_from"], "api", "{logged}");
}

/// The pitfall docs/ABI.md §6 warns of, as the real API server answers it: fields a plugin
/// created belong to its field manager as an update, so a plain apply that changes them is a
/// 409 naming the manager and the field; a forced apply takes them over.
#[test]
fn a_plain_apply_over_fields_the_plugin_created_conflicts_and_a_forced_one_wins() {
    let server = server_with_pod("web-1");
    let grant = "create = [\"configmaps\"]\napply = [\"configmaps\"]";
    let (answers, controller) = kube_answers(&server, &configmap_request("create"), grant, &[], 1);
    assert_eq!(answers[0]["status"], 201, "{}", answers[0]);
    drop(controller);

    let changed = configmap_request("apply").replace("pod = \"{name}\"", "pod = \"changed\"");
    let (answers, controller) = kube_answers(&server, &changed, grant, &[], 1);
    assert_eq!(answers[0]["status"], 409, "{}", answers[0]);
    assert_eq!(
        answers[0]["message"],
        "Apply failed with 1 conflict: conflict with \"event-controller-test_http\" using v1: .data.pod"
    );
    drop(controller);

    let forced = format!("{changed}, force = true");
    let (answers, _controller) = kube_answers(&server, &forced, grant, &[], 1);
    assert_eq!(answers[0]["status"], 200, "{}", answers[0]);
    assert_eq!(answers[0]["object"]["data"]["pod"], "changed");
}
