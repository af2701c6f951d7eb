//! The plugin against a fake host: a CFSSL that answers like `cfssl serve` 1.2 (Debian's
//! golang-cfssl) and an API server that applies merge patches to one stored Route, with a
//! clock the test sets.

use std::collections::VecDeque;
use std::time::Duration;

use event_controller_guest::http::mock;
use event_controller_guest::{Level, Retry};
use serde_json::{json, Value};

use super::*;

const CFSSL: &str = "http://127.0.0.1:8888";
const CONFIG: &str = r#"{"cfssl_url": "http://127.0.0.1:8888", "renew_before_days": 30}"#;
const HOST: &str = "web.apps.example.com";
/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIleaf\n-----END CERTIFICATE-----\n";
const KEY_PEM: &str = "-----BEGIN EC PRIVATE KEY-----\nMHckey\n-----END EC PRIVATE KEY-----\n";
const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIca\n-----END CERTIFICATE-----\n";

/// A canned answer instead of CFSSL's or the API server's.
enum Canned {
    Http(u16, &'static str),
    NoAnswer(&'static str),
    Kube(&'static str),
    /// CFSSL's own answer, to let one request through before a canned one.
    Pass,
}

struct Fake {
    now: i64,
    /// How long the CA's certificates live, seconds.
    lifetime: i64,
    issued: u64,
    /// The Route as stored by the API server.
    route: Value,
    resource_version: u64,
    http: Vec<Request>,
    kube: Vec<Value>,
    canned: VecDeque<Canned>,
}

impl Fake {
    fn new(route: Value) -> Fake {
        let resource_version = route["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(1);
        Fake {
            now: NOW,
            lifetime: 365 * time::DAY,
            issued: 0,
            route,
            resource_version,
            http: Vec::new(),
            kube: Vec::new(),
            canned: VecDeque::new(),
        }
    }

    /// The stored Route as a watch event.
    fn event(&self, event_type: &str) -> String {
        json!({"type": event_type, "object": self.route}).to_string()
    }

    /// Replaces the stored Route (a change by someone else) at the next resourceVersion.
    fn modify(&mut self, change: impl FnOnce(&mut Value)) {
        change(&mut self.route);
        self.bump();
    }

    fn bump(&mut self) {
        self.resource_version += 1;
        self.route["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
    }

    /// The requests since the last call, as `METHOD url` and `kube VERB resource ns/name`.
    fn take_requests(&mut self) -> Vec<String> {
        let mut seen: Vec<String> = self
            .http
            .drain(..)
            .map(|r| format!("{} {}", r.method, r.url))
            .collect();
        seen.extend(self.kube.drain(..).map(|k| {
            format!(
                "kube {} {} {}/{}",
                k["verb"].as_str().unwrap_or("?"),
                k["resource"].as_str().unwrap_or("?"),
                k["namespace"].as_str().unwrap_or("-"),
                k["name"].as_str().unwrap_or("?")
            )
        }));
        seen
    }

    fn cfssl(&mut self, request: &Request) -> Response {
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap_or("")).unwrap();
        let endpoint = request.url.strip_prefix(&format!("{CFSSL}/api/v1/cfssl/"));
        let result = match endpoint {
            Some("newcert") => {
                let host = body["request"]["CN"].as_str().unwrap();
                assert_eq!(body["request"]["hosts"], json!([host]));
                self.issued += 1;
                json!({
                    "certificate": format!("{CERT_PEM}{host} #{}\n", self.issued),
                    "certificate_request": "-----BEGIN CERTIFICATE REQUEST-----\n",
                    "private_key": KEY_PEM,
                    "sums": {},
                })
            }
            Some("certinfo") => {
                let pem = body["certificate"].as_str().unwrap();
                let host = pem.lines().nth(3).unwrap().split(' ').next().unwrap();
                json!({
                    "subject": {"common_name": host, "names": [host]},
                    "serial_number": format!("12345678901234567890{}", self.issued),
                    "sans": [host],
                    "not_before": time::format_rfc3339(self.now - 300),
                    "not_after": time::format_rfc3339(self.now + self.lifetime),
                    "sigalg": "ECDSAWithSHA256",
                })
            }
            Some("info") => {
                json!({"certificate": CA_PEM, "usages": ["signing"], "expiry": "8760h"})
            }
            _ => {
                return response(
                    404,
                    &json!({"success": false, "result": null, "errors": [{"code": 404, "message": "not found"}]}).to_string(),
                )
            }
        };
        response(
            200,
            &json!({"success": true, "result": result, "errors": [], "messages": []}).to_string(),
        )
    }
}

fn response(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: Default::default(),
        body: body.to_owned(),
        truncated: false,
    }
}

/// RFC 7386.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            let object = target.as_object_mut().unwrap();
            for (key, value) in fields {
                if value.is_null() {
                    object.remove(key);
                } else {
                    merge(object.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

impl Host for Fake {
    fn http(&mut self, request: &Request) -> Result<Response, Error> {
        self.http.push(request.clone());
        if matches!(self.canned.front(), Some(Canned::Pass)) {
            self.canned.pop_front();
            return Ok(self.cfssl(request));
        }
        if matches!(
            self.canned.front(),
            Some(Canned::Http(..) | Canned::NoAnswer(_))
        ) {
            // Through the SDK's mock, so the error is what `http::send` gives.
            let answer = match self.canned.pop_front() {
                Some(Canned::Http(status, body)) => mock::respond(status, body),
                Some(Canned::NoAnswer(reason)) => mock::fail(reason),
                _ => unreachable!(),
            };
            let _guard = mock::set(move |_| answer.clone());
            return http::send(request);
        }
        Ok(self.cfssl(request))
    }

    fn kube(&mut self, sent: &kube::Request) -> Result<kube::Response, Error> {
        let request = serde_json::to_value(sent).expect("JSON");
        self.kube.push(request.clone());
        if matches!(self.canned.front(), Some(Canned::Kube(_))) {
            let Some(Canned::Kube(answer)) = self.canned.pop_front() else {
                unreachable!()
            };
            // Through the SDK's mock, so the answer is read as `kube::send` reads it.
            let _guard = kube::mock::set(move |_| answer.to_owned());
            return kube::send(sent);
        }
        assert_eq!(request["verb"], "patch");
        assert_eq!(request["resource"], ROUTES);
        assert_eq!(request["namespace"], self.route["metadata"]["namespace"]);
        assert_eq!(request["name"], self.route["metadata"]["name"]);
        merge(&mut self.route, &request["patch"]);
        self.bump();
        Ok(kube::Response {
            status: 200,
            object: self.route.clone(),
            items: Vec::new(),
            message: String::new(),
        })
    }

    fn now(&self) -> i64 {
        self.now
    }
}

fn route_with(name: &str, host: Option<&str>, annotations: Value) -> Value {
    let mut route = json!({
        "kind": "Route", "apiVersion": "route.openshift.io/v1",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "resourceVersion": "10", "annotations": annotations},
        "spec": {"to": {"kind": "Service", "name": name, "weight": 100}, "wildcardPolicy": "None"},
    });
    if let Some(host) = host {
        route["spec"]["host"] = json!(host);
    }
    route
}

fn managed_route() -> Value {
    route_with(
        "web",
        Some(HOST),
        json!({"openshift.io/managed.cert": "true"}),
    )
}

fn plugin() -> Plugin {
    Plugin::new(Settings::from_json(CONFIG).expect("valid config"))
}

fn handle(plugin: &mut Plugin, fake: &mut Fake, event_type: &str) -> (Option<Level>, String) {
    let raw = fake.event(event_type);
    let outcome = plugin.handle(&Event::new(&raw), fake);
    (
        outcome.level(),
        outcome.message().unwrap_or_default().to_owned(),
    )
}

/// Handles the stored Route as an `event_type` event: the whole outcome.
fn handle_outcome(plugin: &mut Plugin, fake: &mut Fake, event_type: &str) -> Outcome {
    let raw = fake.event(event_type);
    plugin.handle(&Event::new(&raw), fake)
}

fn info(message: &str) -> (Option<Level>, String) {
    (Some(Level::Info), message.to_owned())
}

fn issue_requests() -> Vec<String> {
    vec![
        format!("POST {CFSSL}/api/v1/cfssl/newcert"),
        format!("POST {CFSSL}/api/v1/cfssl/certinfo"),
        format!("POST {CFSSL}/api/v1/cfssl/info"),
        "kube patch routes.route.openshift.io shop/web".to_owned(),
    ]
}

#[test]
fn issues_patches_and_stays_quiet_on_its_own_modified_event() {
    let mut plugin = plugin();
    let mut fake = Fake::new(managed_route());
    assert_eq!(
        handle(&mut plugin, &mut fake, "ADDED"),
        info("certs: issued certificate for web.apps.example.com (Route shop/web), expires 2027-01-01T00:00:00Z")
    );
    let newcert = fake.http[0].clone();
    assert_eq!(
        newcert.header_value("content-type"),
        Some("application/json")
    );
    assert_eq!(
        serde_json::from_str::<Value>(newcert.body.as_deref().unwrap()).unwrap(),
        json!({"request": {"CN": HOST, "hosts": [HOST], "key": {"algo": "ecdsa", "size": 256}}})
    );
    assert_eq!(
        fake.http[2].body.as_deref(),
        Some("{}"),
        "info asks for the default signer"
    );
    let patch = fake.kube[0]["patch"].clone();
    assert_eq!(
        patch,
        json!({
            "metadata": {"annotations": {
                "event-controller/cert-host": HOST,
                "event-controller/cert-not-after": "2027-01-01T00:00:00Z",
                "event-controller/cert-serial": "123456789012345678901",
            }},
            "spec": {"tls": {
                "termination": "edge",
                "certificate": format!("{CERT_PEM}{HOST} #1\n"),
                "key": KEY_PEM,
                "caCertificate": CA_PEM,
            }},
        })
    );
    assert_eq!(fake.take_requests(), issue_requests());
    // The rest of the Route is untouched.
    assert_eq!(fake.route["spec"]["to"]["name"], "web");
    assert_eq!(
        fake.route["metadata"]["annotations"]["openshift.io/managed.cert"],
        "true"
    );

    // The MODIFIED event the patch causes: up to date, nothing sent.
    let (level, message) = handle(&mut plugin, &mut fake, "MODIFIED");
    assert_eq!(level, Some(Level::Debug));
    assert_eq!(
        message,
        "certs: certificate for web.apps.example.com up to date (Route shop/web), expires 2027-01-01T00:00:00Z"
    );
    assert!(fake.take_requests().is_empty());

    // A new instance (a restart) reads the same from the Route alone.
    let mut restarted = self::plugin();
    assert_eq!(
        handle(&mut restarted, &mut fake, "ADDED").0,
        Some(Level::Debug)
    );
    // Other changes of the Route: still nothing.
    fake.modify(|r| r["metadata"]["labels"] = json!({"app": "web"}));
    assert_eq!(
        handle(&mut plugin, &mut fake, "MODIFIED").0,
        Some(Level::Debug)
    );
    assert!(fake.take_requests().is_empty());
}

#[test]
fn other_routes_kinds_and_events_get_nothing() {
    let mut plugin = plugin();
    for annotations in [
        json!({}),
        json!({"openshift.io/managed.cert": "false"}),
        json!({"openshift.io/managed.cert": ""}),
        json!({"openshift.io/host.generated": "true"}),
    ] {
        let mut fake = Fake::new(route_with("web", Some(HOST), annotations.clone()));
        for event_type in ["ADDED", "MODIFIED", "DELETED"] {
            let outcome = handle(&mut plugin, &mut fake, event_type);
            assert_eq!(outcome, (None, String::new()), "{annotations} {event_type}");
        }
        assert!(fake.take_requests().is_empty());
    }
    // Annotated, but deleted, or bookmarks, or another kind.
    let mut fake = Fake::new(managed_route());
    assert_eq!(handle(&mut plugin, &mut fake, "DELETED").0, None);
    assert_eq!(handle(&mut plugin, &mut fake, "BOOKMARK").0, None);
    let mut ingress = managed_route();
    ingress["kind"] = json!("Ingress");
    ingress["apiVersion"] = json!("networking.k8s.io/v1");
    let mut fake = Fake::new(ingress);
    assert_eq!(handle(&mut plugin, &mut fake, "ADDED").0, None);
    assert!(fake.take_requests().is_empty());
    // "True" counts.
    let mut fake = Fake::new(route_with(
        "web",
        Some(HOST),
        json!({"openshift.io/managed.cert": "True"}),
    ));
    assert_eq!(handle(&mut plugin, &mut fake, "ADDED").0, Some(Level::Info));
}

#[test]
fn a_changed_host_gets_a_new_certificate() {
    let mut plugin = plugin();
    let mut fake = Fake::new(managed_route());
    handle(&mut plugin, &mut fake, "ADDED");
    handle(&mut plugin, &mut fake, "MODIFIED");
    fake.take_requests();
    fake.modify(|r| r["spec"]["host"] = json!("Shop.Apps.Example.com"));
    assert_eq!(
        handle(&mut plugin, &mut fake, "MODIFIED"),
        info("certs: issued certificate for shop.apps.example.com (Route shop/web), expires 2027-01-01T00:00:00Z; replaces the one for web.apps.example.com")
    );
    assert_eq!(fake.take_requests(), issue_requests());
    assert_eq!(
        fake.route["metadata"]["annotations"]["event-controller/cert-host"],
        "shop.apps.example.com"
    );
    assert_eq!(
        handle(&mut plugin, &mut fake, "MODIFIED").0,
        Some(Level::Debug)
    );
}

#[test]
fn renews_within_the_window_and_not_before() {
    let mut plugin = plugin();
    let mut fake = Fake::new(managed_route());
    handle(&mut plugin, &mut fake, "ADDED");
    fake.take_requests();
    // 31 days before expiry: not yet.
    fake.now = NOW + 334 * time::DAY;
    assert_eq!(
        handle(&mut plugin, &mut fake, "MODIFIED").0,
        Some(Level::Debug)
    );
    assert!(fake.take_requests().is_empty());
    // 30 days before: renewed.
    fake.now = NOW + 335 * time::DAY;
    fake.modify(|_| {});
    assert_eq!(
        handle(&mut plugin, &mut fake, "MODIFIED"),
        info("certs: renewed certificate for web.apps.example.com (Route shop/web), expires 2027-12-02T00:00:00Z; the previous one expires 2027-01-01T00:00:00Z")
    );
    assert_eq!(fake.take_requests(), issue_requests());
    assert_eq!(
        fake.route["metadata"]["annotations"]["event-controller/cert-serial"],
        "123456789012345678902"
    );
    assert_eq!(
        handle(&mut plugin, &mut fake, "MODIFIED").0,
        Some(Level::Debug)
    );
    // Long expired (the controller was down): renewed, saying so.
    fake.now += 2 * 365 * time::DAY;
    fake.modify(|_| {});
    let (level, message) = handle(&mut plugin, &mut fake, "ADDED");
    assert_eq!(level, Some(Level::Info));
    assert!(
        message.ends_with("; the previous one expired 2027-12-02T00:00:00Z"),
        "{message}"
    );
}

#[test]
fn a_lost_certificate_or_an_unreadable_state_is_reissued() {
    let mut plugin = plugin();
    let mut fake = Fake::new(managed_route());
    handle(&mut plugin, &mut fake, "ADDED");
    fake.take_requests();
    fake.modify(|r| {
        r["spec"]
            .as_object_mut()
            .unwrap()
            .remove("tls")
            .map(drop)
            .unwrap_or(())
    });
    assert_eq!(
        handle(&mut plugin, &mut fake, "MODIFIED"),
        info("certs: issued certificate for web.apps.example.com (Route shop/web), expires 2027-01-01T00:00:00Z; spec.tls had lost the previous one")
    );
    assert_eq!(fake.take_requests(), issue_requests());
    fake.modify(|r| {
        r["metadata"]["annotations"]["event-controller/cert-not-after"] = json!("soon")
    });
    assert_eq!(
        handle(&mut plugin, &mut fake, "MODIFIED"),
        info("certs: issued certificate for web.apps.example.com (Route shop/web), expires 2027-01-01T00:00:00Z; the recorded event-controller/cert-not-after \"soon\" was unreadable")
    );
}

#[test]
fn terminations() {
    let mut plugin = plugin();
    let mut route = managed_route();
    route["spec"]["tls"] = json!({"termination": "reencrypt", "destinationCACertificate": "DEST",
        "insecureEdgeTerminationPolicy": "Redirect"});
    let mut fake = Fake::new(route);
    assert_eq!(handle(&mut plugin, &mut fake, "ADDED").0, Some(Level::Info));
    assert_eq!(
        fake.kube[0]["patch"]["spec"]["tls"]["termination"],
        "reencrypt"
    );
    let tls = &fake.route["spec"]["tls"];
    assert_eq!(tls["destinationCACertificate"], "DEST");
    assert_eq!(tls["insecureEdgeTerminationPolicy"], "Redirect");
    assert_eq!(tls["key"], KEY_PEM);

    let mut route = managed_route();
    route["spec"]["tls"] = json!({"termination": "passthrough"});
    let mut fake = Fake::new(route);
    assert_eq!(
        handle(&mut plugin, &mut fake, "ADDED"),
        (
            Some(Level::Warn),
            "certs: Route shop/web uses passthrough termination: the certificate is the backend's, none issued".to_owned()
        )
    );
    assert!(fake.take_requests().is_empty());

    let mut fake = Fake::new(route_with(
        "web",
        None,
        json!({"openshift.io/managed.cert": "true"}),
    ));
    assert_eq!(
        handle(&mut plugin, &mut fake, "ADDED"),
        (
            Some(Level::Warn),
            "certs: Route shop/web asks for a certificate (openshift.io/managed.cert) but has no spec.host".to_owned()
        )
    );
    assert!(fake.take_requests().is_empty());
}

#[test]
fn an_event_older_than_the_patch_issues_nothing() {
    let mut plugin = plugin();
    let mut fake = Fake::new(managed_route());
    let before = fake.event("MODIFIED");
    handle(&mut plugin, &mut fake, "ADDED");
    fake.take_requests();
    // A MODIFIED at the same revision as the ADDED, queued before the patch, then its own.
    let outcome = plugin.handle(&Event::new(&before), &mut fake);
    assert_eq!(
        (outcome.level(), outcome.message()),
        (
            Some(Level::Debug),
            Some("certs: skipped an event of Route shop/web older than its certificate's patch")
        )
    );
    assert!(fake.take_requests().is_empty());
    assert_eq!(
        handle(&mut plugin, &mut fake, "MODIFIED").0,
        Some(Level::Debug)
    );
    // Forgotten once seen: the same old event now counts (the Route lost its certificate).
    let outcome = plugin.handle(&Event::new(&before), &mut fake);
    assert_eq!(outcome.level(), Some(Level::Info));
    assert!(plugin.patched.len() <= 1);
}

#[test]
fn cfssl_failures_patch_nothing() {
    let retry = Some(Retry::Backoff);
    let cases: [(Canned, Level, Option<Retry>, &str); 7] = [
        (
            Canned::NoAnswer("denied: http://127.0.0.1:8888/api/v1/cfssl/newcert is not under an allowed prefix"),
            Level::Error,
            None,
            "CFSSL POST http://127.0.0.1:8888/api/v1/cfssl/newcert: HTTP request failed: denied: http://127.0.0.1:8888/api/v1/cfssl/newcert is not under an allowed prefix",
        ),
        (
            Canned::NoAnswer("io: Connection refused (os error 111)"),
            Level::Warn,
            retry,
            "CFSSL POST http://127.0.0.1:8888/api/v1/cfssl/newcert: HTTP request failed: io: Connection refused (os error 111); will retry",
        ),
        (
            Canned::NoAnswer("timeout: global"),
            Level::Warn,
            retry,
            "CFSSL POST http://127.0.0.1:8888/api/v1/cfssl/newcert: HTTP request failed: timeout: global; will retry",
        ),
        (
            Canned::Http(400, r#"{"success":false,"result":null,"errors":[{"code":2400,"message":"invalid curve"}],"messages":[]}"#),
            Level::Error,
            None,
            "CFSSL POST http://127.0.0.1:8888/api/v1/cfssl/newcert answered 400: invalid curve (code 2400)",
        ),
        (
            Canned::Http(502, "Bad Gateway\n"),
            Level::Warn,
            retry,
            "CFSSL POST http://127.0.0.1:8888/api/v1/cfssl/newcert answered 502: Bad Gateway; will retry",
        ),
        (
            Canned::Http(503, ""),
            Level::Warn,
            retry,
            "CFSSL POST http://127.0.0.1:8888/api/v1/cfssl/newcert answered 503; will retry",
        ),
        (
            Canned::Http(200, r#"{"success":true,"result":{"certificate":"x"}}"#),
            Level::Error,
            None,
            "CFSSL POST http://127.0.0.1:8888/api/v1/cfssl/newcert: unexpected result: missing field `private_key`",
        ),
    ];
    for (canned, level, retry, reason) in cases {
        let mut plugin = plugin();
        let mut fake = Fake::new(managed_route());
        fake.canned.push_back(canned);
        let outcome = handle_outcome(&mut plugin, &mut fake, "ADDED");
        assert_eq!(
            (outcome.level(), outcome.message()),
            (
                Some(level),
                Some(format!("certs: cannot issue a certificate for web.apps.example.com (Route shop/web): {reason}").as_str())
            )
        );
        assert_eq!(outcome.retry(), retry, "{reason}");
        assert_eq!(
            fake.take_requests(),
            [format!("POST {CFSSL}/api/v1/cfssl/newcert")]
        );
        // The retry (or the next event) issues it.
        assert_eq!(
            handle(&mut plugin, &mut fake, "MODIFIED").0,
            Some(Level::Info)
        );
    }
}

#[test]
fn a_failure_after_newcert_records_nothing_and_the_retry_issues_once() {
    let mut plugin = plugin();
    let mut fake = Fake::new(managed_route());
    let added = fake.event("ADDED");
    // CFSSL goes away between newcert and info.
    fake.canned.push_back(Canned::Pass);
    fake.canned.push_back(Canned::Pass);
    fake.canned.push_back(Canned::NoAnswer(
        "io: Connection reset by peer (os error 104)",
    ));
    let outcome = plugin.handle(&Event::new(&added), &mut fake);
    assert_eq!(outcome.level(), Some(Level::Warn));
    assert_eq!(outcome.retry(), Some(Retry::Backoff));
    assert!(fake.kube.is_empty(), "nothing patched");
    assert!(plugin.patched.is_empty());
    fake.take_requests();
    // The retried delivery: the same event, a new certificate, one patch.
    let outcome = plugin.handle(&Event::new(&added), &mut fake);
    assert_eq!(outcome.level(), Some(Level::Info), "{outcome:?}");
    assert_eq!(fake.take_requests(), issue_requests());
    assert_eq!(
        fake.route["metadata"]["annotations"]["event-controller/cert-serial"],
        "123456789012345678902",
        "the second certificate issued is the one patched in"
    );
}

#[test]
fn patch_failures_say_whether_they_may_pass() {
    let cases = [
        (
            r#"{"status":403,"message":"routes.route.openshift.io \"web\" is forbidden: User \"system:serviceaccount:ops:event-controller\" cannot patch resource \"routes\" in API group \"route.openshift.io\" in the namespace \"shop\""}"#,
            Level::Error,
            None,
            "the API server refused the patch of the Route (403): routes.route.openshift.io \"web\" is forbidden: User \"system:serviceaccount:ops:event-controller\" cannot patch resource \"routes\" in API group \"route.openshift.io\" in the namespace \"shop\"",
        ),
        (
            r#"{"status":422,"message":"Route.route.openshift.io \"web\" is invalid"}"#,
            Level::Error,
            None,
            "the API server refused the patch of the Route (422): Route.route.openshift.io \"web\" is invalid",
        ),
        (
            r#"{"error":"denied: patch of routes.route.openshift.io is not granted"}"#,
            Level::Error,
            None,
            "the Route was not patched: denied: patch of routes.route.openshift.io is not granted",
        ),
        (
            r#"{"error":"no Kubernetes connection (the controller is not watching a cluster)"}"#,
            Level::Error,
            None,
            "the Route was not patched: no Kubernetes connection (the controller is not watching a cluster)",
        ),
        (
            "not JSON",
            Level::Error,
            None,
            "the Route was not patched: cannot deserialize the host's kube_request answer: expected ident at line 1 column 2",
        ),
        (
            r#"{"error":"timed out after 5000 ms"}"#,
            Level::Warn,
            Some(Retry::Backoff),
            "the Route was not patched: timed out after 5000 ms; will retry",
        ),
        (
            r#"{"error":"client error (Connect): tcp connect error: Connection refused (os error 111)"}"#,
            Level::Warn,
            Some(Retry::Backoff),
            "the Route was not patched: client error (Connect): tcp connect error: Connection refused (os error 111); will retry",
        ),
        (
            r#"{"status":503,"message":"the server is currently unable to handle the request"}"#,
            Level::Warn,
            Some(Retry::Backoff),
            "the API server refused the patch of the Route (503): the server is currently unable to handle the request; will retry",
        ),
        (
            r#"{"status":429,"message":"too many requests"}"#,
            Level::Warn,
            Some(Retry::Backoff),
            "the API server refused the patch of the Route (429): too many requests; will retry",
        ),
    ];
    for (answer, level, retry, reason) in cases {
        let mut plugin = plugin();
        let mut fake = Fake::new(managed_route());
        fake.canned.push_back(Canned::Kube(answer));
        let outcome = handle_outcome(&mut plugin, &mut fake, "ADDED");
        assert_eq!(
            (outcome.level(), outcome.message()),
            (
                Some(level),
                Some(format!("certs: cannot issue a certificate for web.apps.example.com (Route shop/web): {reason}").as_str())
            )
        );
        assert_eq!(outcome.retry(), retry, "{reason}");
        assert_eq!(fake.take_requests(), issue_requests());
        // Nothing recorded: not in the Route, not in the plugin.
        assert!(fake.route["spec"].get("tls").is_none());
        assert!(plugin.patched.is_empty());
        // The retried event issues again, and this time the patch goes through.
        assert_eq!(handle(&mut plugin, &mut fake, "ADDED").0, Some(Level::Info));
        assert_eq!(fake.take_requests(), issue_requests());
    }
    // Natively there is no kube_request: the real host type says so, as a failure that may
    // pass (like a host that returned no answer).
    let request = kube::Request::patch(ROUTES, "web", json!({})).namespace("shop");
    let error = Wasm.kube(&request).expect_err("no host");
    assert!(
        error
            .kube_error()
            .is_some_and(|reason| reason.starts_with("no Kubernetes transport outside the host")),
        "{error}"
    );
    assert!(error.is_transient());
}

#[test]
fn the_event_comes_back_when_the_renewal_window_opens() {
    let mut plugin = plugin();
    let mut fake = Fake::new(managed_route());
    // Issued at NOW for a year: back in 365 - 30 days.
    let outcome = handle_outcome(&mut plugin, &mut fake, "ADDED");
    assert_eq!(outcome.level(), Some(Level::Info));
    let in_335_days = Some(Retry::After(Duration::from_secs(335 * 86_400)));
    assert_eq!(outcome.retry(), in_335_days);
    // Its own MODIFIED event (which replaces that pending delivery): up to date, the same.
    let outcome = handle_outcome(&mut plugin, &mut fake, "MODIFIED");
    assert_eq!(outcome.level(), Some(Level::Debug));
    assert_eq!(outcome.retry(), in_335_days);
    // A day later, a change of the Route: a day less.
    fake.now += time::DAY;
    fake.modify(|r| r["metadata"]["labels"] = json!({"app": "web"}));
    assert_eq!(
        handle_outcome(&mut plugin, &mut fake, "MODIFIED").retry(),
        Some(Retry::After(Duration::from_secs(334 * 86_400)))
    );
    // Seconds before the window: at least a minute.
    fake.now = NOW + 335 * time::DAY - 5;
    assert_eq!(
        handle_outcome(&mut plugin, &mut fake, "MODIFIED").retry(),
        Some(Retry::After(MIN_RENEWAL_DELAY))
    );
    // The delivery itself, in the window: renewed, and back in a year less 30 days.
    fake.now = NOW + 335 * time::DAY;
    let outcome = handle_outcome(&mut plugin, &mut fake, "MODIFIED");
    assert!(
        outcome
            .message()
            .is_some_and(|m| m.starts_with("certs: renewed certificate")),
        "{outcome:?}"
    );
    assert_eq!(outcome.retry(), in_335_days);

    assert_eq!(renewal_delay(1_000, 100, 0), Duration::from_secs(900));
    assert_eq!(renewal_delay(1_000, 100, 900), MIN_RENEWAL_DELAY);
    assert_eq!(renewal_delay(1_000, 100, 5_000), MIN_RENEWAL_DELAY);
    assert_eq!(
        renewal_delay(i64::MAX, 0, i64::MIN),
        Duration::from_secs(i64::MAX as u64)
    );
}

#[test]
fn no_retry_for_what_needs_a_change_of_the_route() {
    let mut plugin = plugin();
    let mut route = managed_route();
    route["spec"]["tls"] = json!({"termination": "passthrough"});
    let mut fake = Fake::new(route);
    assert_eq!(
        handle_outcome(&mut plugin, &mut fake, "ADDED").retry(),
        None
    );
    let mut fake = Fake::new(managed_route());
    fake.lifetime = 30 * time::DAY;
    let outcome = handle_outcome(&mut plugin, &mut fake, "ADDED");
    assert_eq!(
        (outcome.level(), outcome.retry()),
        (Some(Level::Error), None)
    );
}

#[test]
fn a_ca_lifetime_inside_the_window_is_refused() {
    let mut plugin = plugin();
    let mut fake = Fake::new(managed_route());
    fake.lifetime = 30 * time::DAY;
    assert_eq!(
        handle(&mut plugin, &mut fake, "ADDED"),
        (
            Some(Level::Error),
            "certs: cannot issue a certificate for web.apps.example.com (Route shop/web): CFSSL issued a certificate that expires 2026-01-31T00:00:00Z, within renew_before_days (30) of now: it would be renewed on every event; lower renew_before_days or give the CA's signing profile a longer expiry".to_owned()
        )
    );
    assert_eq!(
        fake.take_requests(),
        [
            format!("POST {CFSSL}/api/v1/cfssl/newcert"),
            format!("POST {CFSSL}/api/v1/cfssl/certinfo"),
        ]
    );
}

#[test]
fn profile_and_label_reach_cfssl() {
    let settings = Settings::from_json(
        r#"{"cfssl_url": "http://127.0.0.1:8888/", "profile": "www", "label": "primary"}"#,
    )
    .expect("valid");
    let mut plugin = Plugin::new(settings);
    let mut fake = Fake::new(managed_route());
    handle(&mut plugin, &mut fake, "ADDED");
    let body = |i: usize| -> Value {
        serde_json::from_str(fake.http[i].body.as_deref().unwrap()).unwrap()
    };
    assert_eq!(body(0)["profile"], "www");
    assert_eq!(body(0)["label"], "primary");
    assert_eq!(body(2), json!({"profile": "www", "label": "primary"}));
}

#[test]
fn settings() {
    assert_eq!(
        Settings::from_json(r#"{"cfssl_url": " https://ca.example.com:8888/ "}"#),
        Ok(Settings {
            cfssl_url: "https://ca.example.com:8888".to_owned(),
            renew_before_days: 30,
            profile: None,
            label: None,
        })
    );
    for (config, wanted) in [
        ("{}", "incomplete config: cfssl_url missing"),
        (
            r#"{"cfssl_url": "http://x", "renew": 3}"#,
            "invalid config: unknown field `renew`",
        ),
        (
            r#"{"cfssl_url": "ca:8888"}"#,
            "cfssl_url \"ca:8888\" is not a URL",
        ),
        (
            r#"{"cfssl_url": "ftp://ca"}"#,
            "is not an http:// or https:// URL",
        ),
        (
            r#"{"cfssl_url": "http://ca/api/v1/cfssl"}"#,
            "without /api/v1/cfssl",
        ),
        (
            r#"{"cfssl_url": "http://ca", "renew_before_days": -1}"#,
            "invalid config",
        ),
        (
            r#"{"cfssl_url": "http://ca", "renew_before_days": 4000}"#,
            "renew_before_days 4000 is more than 3650",
        ),
    ] {
        let error = Settings::from_json(config).expect_err(config);
        assert!(error.contains(wanted), "{config}: {error}");
    }
}
