//! The plugin against a fake PowerDNS that records every request and keeps a zone in memory,
//! answering and applying them the way PowerDNS 4.7 does (a PATCH bumps the serial, even when
//! it changes nothing).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use event_controller_guest::Retry;
use serde_json::{json, Value};

use super::*;

const ZONE_URL: &str = "http://127.0.0.1:8081/api/v1/servers/localhost/zones/apps.example.com.";
const CONFIG: &str = r#"{"api_url": "http://127.0.0.1:8081", "server_id": "localhost", "zone": "apps.example.com.", "router_address": "10.0.0.10", "ttl": 60}"#;

/// A canned answer instead of the zone's.
enum Canned {
    Status(u16, &'static str),
    Truncated,
    NoAnswer(&'static str),
    /// The fake's own answer, to let one request through before a canned one.
    Served,
}

/// PowerDNS's zone API in memory.
#[derive(Default)]
struct FakePdns {
    /// (name, type) -> (ttl, contents).
    rrsets: BTreeMap<(String, String), (u32, Vec<String>)>,
    serial: u32,
    requests: Vec<Request>,
    canned: VecDeque<Canned>,
}

impl FakePdns {
    fn new() -> FakePdns {
        FakePdns {
            serial: 1,
            ..FakePdns::default()
        }
    }

    fn add(&mut self, name: &str, rtype: &str, content: &str) {
        self.rrsets.insert(
            (name.to_owned(), rtype.to_owned()),
            (300, vec![content.to_owned()]),
        );
    }

    fn get(&self, name: &str, rtype: &str) -> Option<Vec<String>> {
        self.rrsets
            .get(&(name.to_owned(), rtype.to_owned()))
            .map(|(_, contents)| contents.clone())
    }

    /// `(name, type)` of every rrset.
    fn names(&self) -> Vec<(String, String)> {
        self.rrsets.keys().cloned().collect()
    }

    /// The requests since the last call, as `METHOD url`.
    fn take_requests(&mut self) -> Vec<String> {
        self.requests
            .drain(..)
            .map(|r| format!("{} {}", r.method, r.url))
            .collect()
    }

    fn zone_json(&self) -> String {
        let mut rrsets: Vec<Value> = self
            .rrsets
            .iter()
            .map(|((name, rtype), (ttl, contents))| {
                let records: Vec<Value> = contents
                    .iter()
                    .map(|c| json!({"content": c, "disabled": false}))
                    .collect();
                json!({"comments": [], "name": name, "records": records, "ttl": ttl, "type": rtype})
            })
            .collect();
        rrsets.push(json!({"comments": [], "name": "apps.example.com.", "type": "SOA", "ttl": 60,
            "records": [{"content": format!("ns1.apps.example.com. hostmaster.apps.example.com. {} 10800 3600 604800 60", self.serial), "disabled": false}]}));
        json!({"id": "apps.example.com.", "kind": "Native", "name": "apps.example.com.", "serial": self.serial, "rrsets": rrsets}).to_string()
    }

    fn apply(&mut self, body: &str) {
        let patch: Value = serde_json::from_str(body).expect("PATCH body is JSON");
        for rrset in patch["rrsets"].as_array().expect("rrsets") {
            let key = (
                rrset["name"].as_str().expect("name").to_owned(),
                rrset["type"].as_str().expect("type").to_owned(),
            );
            match rrset["changetype"].as_str() {
                Some("REPLACE") => {
                    let contents = rrset["records"]
                        .as_array()
                        .expect("records")
                        .iter()
                        .map(|r| r["content"].as_str().expect("content").to_owned())
                        .collect();
                    let ttl = rrset["ttl"].as_u64().expect("ttl") as u32;
                    self.rrsets.insert(key, (ttl, contents));
                }
                Some("DELETE") => {
                    self.rrsets.remove(&key);
                }
                other => panic!("changetype {other:?}"),
            }
        }
        self.serial += 1;
    }
}

/// An error as the SDK gives it when no response came.
fn no_answer(reason: &'static str) -> Error {
    let _guard = http::mock::set(move |_| http::mock::fail(reason));
    http::send(&Request::get("http://unused/")).expect_err("no answer")
}

fn response(status: u16, body: &str, truncated: bool) -> Response {
    Response {
        status,
        headers: BTreeMap::new(),
        body: body.to_owned(),
        truncated,
    }
}

impl Transport for FakePdns {
    fn send(&mut self, request: &Request) -> Result<Response, Error> {
        self.requests.push(request.clone());
        assert_eq!(request.url, ZONE_URL);
        match self.canned.pop_front() {
            Some(Canned::Status(status, body)) => return Ok(response(status, body, false)),
            Some(Canned::Truncated) => {
                let zone = self.zone_json();
                return Ok(response(200, &zone[..zone.len() / 2], true));
            }
            Some(Canned::NoAnswer(reason)) => return Err(no_answer(reason)),
            Some(Canned::Served) | None => {}
        }
        match request.method.as_str() {
            "GET" => Ok(response(200, &self.zone_json(), false)),
            "PATCH" => {
                assert_eq!(
                    request.header_value("content-type"),
                    Some("application/json")
                );
                self.apply(request.body.as_deref().expect("a body"));
                Ok(response(204, "", false))
            }
            other => panic!("unexpected method {other}"),
        }
    }
}

fn plugin() -> Plugin {
    Plugin::new(Settings::from_json(CONFIG).expect("valid config"))
}

fn route(event_type: &str, name: &str, host: Option<&str>) -> String {
    let mut object = json!({
        "kind": "Route", "apiVersion": "route.openshift.io/v1",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"), "resourceVersion": "7"},
    });
    if let Some(host) = host {
        object["spec"] = json!({"host": host, "to": {"kind": "Service", "name": name}});
    }
    json!({"type": event_type, "object": object}).to_string()
}

fn ingress(event_type: &str, name: &str, hosts: &[&str]) -> String {
    let rules: Vec<Value> = hosts
        .iter()
        .map(|h| json!({"host": h, "http": {"paths": []}}))
        .collect();
    json!({"type": event_type, "object": {
        "kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
        "spec": {"rules": rules},
    }})
    .to_string()
}

/// Handles `event` and returns (level, message).
fn handle(plugin: &mut Plugin, pdns: &mut FakePdns, event: &str) -> (Level, String) {
    let outcome = plugin.handle(&Event::new(event), pdns);
    (
        outcome.level().expect("an outcome"),
        outcome.message().unwrap_or_default().to_owned(),
    )
}

fn info(message: &str) -> (Level, String) {
    (Level::Info, message.to_owned())
}

#[test]
fn a_routes_life_adds_moves_keeps_and_removes_its_record() {
    let mut plugin = plugin();
    let mut pdns = FakePdns::new();

    let added = route("ADDED", "web", Some("web.apps.example.com"));
    assert_eq!(
        handle(&mut plugin, &mut pdns, &added),
        info("dns: web.apps.example.com. A 10.0.0.10 (Route shop/web)")
    );
    assert_eq!(
        pdns.requests[1].body.as_deref(),
        Some(
            r#"{"rrsets":[{"name":"web.apps.example.com.","type":"A","ttl":60,"changetype":"REPLACE","records":[{"content":"10.0.0.10","disabled":false}]},{"name":"_ec.web.apps.example.com.","type":"TXT","ttl":60,"changetype":"REPLACE","records":[{"content":"\"heritage=event-controller,owner=Route/shop/web\"","disabled":false}]}]}"#
        )
    );
    assert_eq!(
        pdns.requests[0].header_value("accept"),
        Some("application/json")
    );
    assert_eq!(
        pdns.take_requests(),
        [format!("GET {ZONE_URL}"), format!("PATCH {ZONE_URL}")]
    );
    assert_eq!(
        pdns.get("web.apps.example.com.", "A"),
        Some(vec!["10.0.0.10".to_owned()])
    );
    assert_eq!(
        pdns.get("_ec.web.apps.example.com.", "TXT"),
        Some(vec![
            "\"heritage=event-controller,owner=Route/shop/web\"".to_owned()
        ])
    );
    let serial = pdns.serial;

    // Re-delivery: a GET, no PATCH, the serial stays.
    assert_eq!(
        handle(&mut plugin, &mut pdns, &added.replace("ADDED", "MODIFIED")),
        info("dns: web.apps.example.com. A 10.0.0.10 already in place (Route shop/web)")
    );
    assert_eq!(pdns.take_requests(), [format!("GET {ZONE_URL}")]);
    assert_eq!(pdns.serial, serial);

    // The host changes: the new name in, the old one out, in one PATCH.
    let moved = route("MODIFIED", "web", Some("shop.apps.example.com"));
    assert_eq!(
        handle(&mut plugin, &mut pdns, &moved),
        info("dns: shop.apps.example.com. A 10.0.0.10; removed web.apps.example.com. (Route shop/web)")
    );
    assert_eq!(
        pdns.take_requests(),
        [format!("GET {ZONE_URL}"), format!("PATCH {ZONE_URL}")]
    );
    assert_eq!(
        pdns.names(),
        [
            ("_ec.shop.apps.example.com.".into(), "TXT".into()),
            ("shop.apps.example.com.".into(), "A".into())
        ]
    );

    let deleted = route("DELETED", "web", Some("shop.apps.example.com"));
    assert_eq!(
        handle(&mut plugin, &mut pdns, &deleted),
        info("dns: removed shop.apps.example.com. (Route shop/web)")
    );
    assert!(pdns.names().is_empty(), "{:?}", pdns.names());
    assert!(plugin.held.is_empty());

    // A DELETED delivered again finds nothing to remove and changes nothing.
    pdns.take_requests();
    let serial = pdns.serial;
    assert_eq!(
        handle(&mut plugin, &mut pdns, &deleted),
        (
            Level::Debug,
            "dns: no records to remove (Route shop/web)".to_owned()
        )
    );
    assert_eq!(pdns.take_requests(), [format!("GET {ZONE_URL}")]);
    assert_eq!(pdns.serial, serial);
}

#[test]
fn a_new_instance_finds_what_it_owns_through_the_ownership_records() {
    let mut pdns = FakePdns::new();
    handle(
        &mut plugin(),
        &mut pdns,
        &route("ADDED", "web", Some("web.apps.example.com")),
    );
    // After a restart: the host moved while the controller was down.
    assert_eq!(
        handle(
            &mut plugin(),
            &mut pdns,
            &route("ADDED", "web", Some("shop.apps.example.com"))
        ),
        info("dns: shop.apps.example.com. A 10.0.0.10; removed web.apps.example.com. (Route shop/web)")
    );
    // Another restart, then a synthesized DELETED that carries only the identity.
    assert_eq!(
        handle(&mut plugin(), &mut pdns, &route("DELETED", "web", None)),
        info("dns: removed shop.apps.example.com. (Route shop/web)")
    );
    assert!(pdns.names().is_empty(), "{:?}", pdns.names());
}

#[test]
fn an_ingress_gets_a_record_per_host_in_the_zone() {
    let mut plugin = plugin();
    let mut pdns = FakePdns::new();
    let added = ingress(
        "ADDED",
        "store",
        &[
            "a.apps.example.com",
            "b.apps.example.com",
            "other.example.org",
            "*.c.apps.example.com",
        ],
    );
    assert_eq!(
        handle(&mut plugin, &mut pdns, &added),
        info("dns: a.apps.example.com. A 10.0.0.10; b.apps.example.com. A 10.0.0.10; skipped other.example.org: not in zone apps.example.com.; *.c.apps.example.com. A 10.0.0.10 (Ingress shop/store)")
    );
    assert_eq!(
        pdns.names(),
        [
            ("*.c.apps.example.com.".into(), "A".into()),
            ("_ec-wildcard.c.apps.example.com.".into(), "TXT".into()),
            ("_ec.a.apps.example.com.".into(), "TXT".into()),
            ("_ec.b.apps.example.com.".into(), "TXT".into()),
            ("a.apps.example.com.".into(), "A".into()),
            ("b.apps.example.com.".into(), "A".into()),
        ]
    );
    // A rule dropped.
    assert_eq!(
        handle(
            &mut plugin,
            &mut pdns,
            &ingress("MODIFIED", "store", &["b.apps.example.com", "*.c.apps.example.com"])
        ),
        info("dns: b.apps.example.com. A 10.0.0.10 already in place; *.c.apps.example.com. A 10.0.0.10 already in place; removed a.apps.example.com. (Ingress shop/store)")
    );
    assert_eq!(pdns.get("a.apps.example.com.", "A"), None);
    assert_eq!(
        handle(&mut plugin, &mut pdns, &ingress("DELETED", "store", &[])),
        info(
            "dns: removed *.c.apps.example.com.; removed b.apps.example.com. (Ingress shop/store)"
        )
    );
    assert!(pdns.names().is_empty());

    // Only hosts outside the zone: nothing to write, one INFO line.
    assert_eq!(
        handle(
            &mut plugin,
            &mut pdns,
            &ingress("ADDED", "ext", &["x.example.org"])
        ),
        info("dns: skipped x.example.org: not in zone apps.example.com. (Ingress shop/ext)")
    );
    assert_eq!(
        handle(&mut plugin, &mut pdns, &ingress("ADDED", "none", &[])),
        (Level::Debug, "dns: no hosts (Ingress shop/none)".to_owned())
    );
}

#[test]
fn records_it_did_not_write_are_never_changed_nor_deleted() {
    let mut plugin = plugin();
    let mut pdns = FakePdns::new();
    pdns.add("manual.apps.example.com.", "A", "192.0.2.1");
    handle(
        &mut plugin,
        &mut pdns,
        &route("ADDED", "web", Some("web.apps.example.com")),
    );
    pdns.take_requests();

    let (level, message) = handle(
        &mut plugin,
        &mut pdns,
        &route("ADDED", "manual", Some("manual.apps.example.com")),
    );
    assert_eq!(level, Level::Warn);
    assert_eq!(message, "dns: left manual.apps.example.com. alone: it has A records that event-controller did not write (Route shop/manual)");
    let (level, message) = handle(
        &mut plugin,
        &mut pdns,
        &route("ADDED", "copycat", Some("web.apps.example.com")),
    );
    assert_eq!(level, Level::Warn);
    assert_eq!(
        message,
        "dns: left web.apps.example.com. alone: owned by Route shop/web (Route shop/copycat)"
    );
    assert_eq!(
        pdns.take_requests(),
        [format!("GET {ZONE_URL}"), format!("GET {ZONE_URL}")]
    );
    for name in ["manual", "copycat"] {
        let (level, _) = handle(&mut plugin, &mut pdns, &route("DELETED", name, None));
        assert_eq!(level, Level::Debug);
    }
    assert_eq!(
        pdns.get("manual.apps.example.com.", "A"),
        Some(vec!["192.0.2.1".to_owned()])
    );
    assert_eq!(
        pdns.get("web.apps.example.com.", "A"),
        Some(vec!["10.0.0.10".to_owned()])
    );

    // Someone takes web.apps.example.com. over by hand: the owner, once deleted, leaves it.
    pdns.add(
        "_ec.web.apps.example.com.",
        "TXT",
        "\"heritage=event-controller,owner=Route/other/web\"",
    );
    let (level, message) = handle(&mut plugin, &mut pdns, &route("DELETED", "web", None));
    assert_eq!(level, Level::Warn);
    assert_eq!(message, "dns: left web.apps.example.com. alone: its ownership record no longer names this object (Route shop/web)");
    assert!(pdns.get("web.apps.example.com.", "A").is_some());
}

#[test]
fn failures_change_nothing_and_say_why() {
    let mut plugin = plugin();
    let mut pdns = FakePdns::new();
    let added = route("ADDED", "web", Some("web.apps.example.com"));

    pdns.canned.push_back(Canned::NoAnswer(
        "denied: plugin plugin_dns has no [plugins.plugin_dns.capabilities.http] section",
    ));
    assert_eq!(
        handle(&mut plugin, &mut pdns, &added),
        (Level::Error, format!("dns: cannot read zone apps.example.com.: GET {ZONE_URL}: HTTP request failed: denied: plugin plugin_dns has no [plugins.plugin_dns.capabilities.http] section (Route shop/web)"))
    );
    pdns.canned
        .push_back(Canned::NoAnswer("connection refused"));
    assert_eq!(
        handle(&mut plugin, &mut pdns, &added),
        (Level::Warn, format!("dns: cannot read zone apps.example.com.: GET {ZONE_URL}: HTTP request failed: connection refused; will retry (Route shop/web)"))
    );
    pdns.canned.push_back(Canned::Status(
        401,
        "{\"error\": \"Authentication by API Key failed\"}",
    ));
    assert_eq!(
        handle(&mut plugin, &mut pdns, &added),
        (Level::Error, format!("dns: cannot read zone apps.example.com.: GET {ZONE_URL} answered 401: {{\"error\": \"Authentication by API Key failed\"}} (Route shop/web)"))
    );
    pdns.canned.push_back(Canned::Truncated);
    let (level, message) = handle(&mut plugin, &mut pdns, &added);
    assert_eq!(level, Level::Error);
    assert!(message.contains("max_response_bytes"), "{message}");
    pdns.canned
        .push_back(Canned::Status(200, "<html>not the API</html>"));
    let (level, message) = handle(&mut plugin, &mut pdns, &added);
    assert_eq!(level, Level::Error);
    assert!(
        message.contains("cannot deserialize the HTTP response body")
            && message.contains("<html>not the API</html>"),
        "{message}"
    );
    assert!(pdns.names().is_empty());

    // The GET works, the PATCH fails: nothing remembered; the next event does it all.
    pdns.take_requests();
    pdns.canned
        .push_back(Canned::Status(200, "{\"rrsets\": []}"));
    pdns.canned
        .push_back(Canned::Status(500, "{\"error\": \"database is locked\"}"));
    assert_eq!(
        handle(&mut plugin, &mut pdns, &added),
        (Level::Warn, format!("dns: cannot update zone apps.example.com.: PATCH {ZONE_URL} answered 500: {{\"error\": \"database is locked\"}}; not applied: web.apps.example.com. A 10.0.0.10; will retry (Route shop/web)"))
    );
    assert!(plugin.held.is_empty());
    pdns.canned
        .push_back(Canned::Status(200, "{\"rrsets\": []}"));
    pdns.canned.push_back(Canned::Status(
        422,
        "{\"error\": \"RRset web.apps.example.com. IN A: Conflicts with pre-existing RRset\"}",
    ));
    assert_eq!(handle(&mut plugin, &mut pdns, &added).0, Level::Error);
    assert_eq!(
        handle(&mut plugin, &mut pdns, &added),
        info("dns: web.apps.example.com. A 10.0.0.10 (Route shop/web)")
    );
}

/// Handles `event`; its level and the retry it asks for.
fn retry_of(
    plugin: &mut Plugin,
    pdns: &mut FakePdns,
    event: &str,
) -> (Option<Level>, Option<Retry>) {
    let outcome = plugin.handle(&Event::new(event), pdns);
    (outcome.level(), outcome.retry())
}

#[test]
fn passing_failures_ask_for_a_retry_and_lasting_ones_do_not() {
    let mut plugin = plugin();
    let mut pdns = FakePdns::new();
    let added = route("ADDED", "web", Some("web.apps.example.com"));
    let retry = (Some(Level::Warn), Some(Retry::Backoff));
    let no_retry = (Some(Level::Error), None);
    for (canned, expected) in [
        (Canned::Status(503, "Service Unavailable"), retry),
        (Canned::Status(502, ""), retry),
        (Canned::Status(429, "slow down"), retry),
        (Canned::Status(408, ""), retry),
        (
            Canned::NoAnswer("io: Connection refused (os error 111)"),
            retry,
        ),
        (Canned::NoAnswer("timeout: global"), retry),
        (Canned::Status(400, "{\"error\": \"bad\"}"), no_retry),
        (Canned::Status(401, ""), no_retry),
        (Canned::Status(404, "Not Found"), no_retry),
        (Canned::Status(422, ""), no_retry),
        (
            Canned::NoAnswer("denied: not under an allowed prefix"),
            no_retry,
        ),
        (
            Canned::NoAnswer("env var PDNS_API_KEY is not set"),
            no_retry,
        ),
        (Canned::Truncated, no_retry),
    ] {
        let what = match &canned {
            Canned::Status(status, _) => status.to_string(),
            Canned::NoAnswer(reason) => (*reason).to_owned(),
            Canned::Truncated => "truncated".to_owned(),
            Canned::Served => unreachable!(),
        };
        pdns.canned.push_back(canned);
        assert_eq!(retry_of(&mut plugin, &mut pdns, &added), expected, "{what}");
    }
    assert!(pdns.names().is_empty());
    assert!(plugin.held.is_empty());

    // PowerDNS goes away between the GET and the PATCH of a moved host: nothing is remembered
    // as moved, and the retried event (the zone read again) does the whole move.
    assert_eq!(
        retry_of(&mut plugin, &mut pdns, &added),
        (Some(Level::Info), None)
    );
    let moved = route("MODIFIED", "web", Some("shop.apps.example.com"));
    pdns.canned.push_back(Canned::Served);
    pdns.canned
        .push_back(Canned::NoAnswer("io: Connection refused (os error 111)"));
    assert_eq!(retry_of(&mut plugin, &mut pdns, &moved), retry);
    assert_eq!(plugin.held["uid-web"], ["web.apps.example.com."]);
    assert_eq!(
        pdns.get("web.apps.example.com.", "A"),
        Some(vec!["10.0.0.10".to_owned()])
    );
    assert_eq!(
        handle(&mut plugin, &mut pdns, &moved),
        info("dns: shop.apps.example.com. A 10.0.0.10; removed web.apps.example.com. (Route shop/web)")
    );
    assert_eq!(plugin.held["uid-web"], ["shop.apps.example.com."]);

    // A DELETED whose PATCH fails is retried, and the retry removes the records.
    let deleted = route("DELETED", "web", None);
    pdns.canned.push_back(Canned::Served);
    pdns.canned.push_back(Canned::Status(503, ""));
    assert_eq!(retry_of(&mut plugin, &mut pdns, &deleted), retry);
    assert!(pdns.get("shop.apps.example.com.", "A").is_some());
    assert_eq!(
        handle(&mut plugin, &mut pdns, &deleted),
        info("dns: removed shop.apps.example.com. (Route shop/web)")
    );
    assert!(pdns.names().is_empty());
    assert!(plugin.held.is_empty());
}

#[test]
fn other_objects_are_ignored_and_bad_ones_reported() {
    let mut plugin = plugin();
    let mut pdns = FakePdns::new();
    for event in [
        r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"shop"}}}"#,
        r#"{"type":"ADDED","object":{"kind":"Route","apiVersion":"example.com/v1","metadata":{"name":"r","namespace":"shop"},"spec":{"host":"x.apps.example.com"}}}"#,
        r#"{"type":"BOOKMARK","object":{"kind":"Route","apiVersion":"route.openshift.io/v1","metadata":{"resourceVersion":"9"}}}"#,
    ] {
        assert!(
            plugin.handle(&Event::new(event), &mut pdns).is_none(),
            "{event}"
        );
    }
    assert!(pdns.requests.is_empty());
    let outcome = plugin.handle(
        &Event::new(
            r#"{"type":"ADDED","object":{"kind":"Route","apiVersion":"route.openshift.io/v1","metadata":{"name":"r","namespace":"shop"},"spec":{"host":["x"]}}}"#,
        ),
        &mut pdns,
    );
    assert_eq!(outcome.level(), Some(Level::Error));
    assert!(
        outcome
            .message()
            .is_some_and(|m| m.starts_with("dns: cannot read the Route: ")),
        "{outcome:?}"
    );
    assert!(pdns.requests.is_empty());
}

#[test]
fn through_the_sdk_the_requests_are_what_the_host_receives() {
    // `Host` sends through the SDK, which natively hands the host's view of each request to
    // the mock transport: here, the fake PowerDNS.
    let pdns = Rc::new(RefCell::new(FakePdns::new()));
    let server = pdns.clone();
    let _guard = http::mock::set(move |request| {
        let answer = server.borrow_mut().send(request).expect("an answer");
        http::mock::respond_with(&answer)
    });
    let mut plugin = plugin();
    let outcome = plugin.handle(
        &Event::new(&route("ADDED", "web", Some("web.apps.example.com"))),
        &mut Host,
    );
    assert_eq!(
        outcome.message(),
        Some("dns: web.apps.example.com. A 10.0.0.10 (Route shop/web)")
    );
    let pdns = pdns.borrow();
    assert_eq!(pdns.requests.len(), 2);
    let patch = &pdns.requests[1];
    assert_eq!(patch.method, "PATCH");
    assert_eq!(
        patch.headers.get("Content-Type").map(String::as_str),
        Some("application/json")
    );
    assert!(!patch
        .headers
        .keys()
        .any(|h| h.eq_ignore_ascii_case("x-api-key")));
}

#[test]
fn init_refuses_an_incomplete_config() {
    let error =
        init(Config::new(r#"{"api_url": "http://127.0.0.1:8081"}"#)).expect_err("incomplete");
    assert!(
        error.starts_with("incomplete config: zone, router_address missing"),
        "{error}"
    );
    init(Config::new(CONFIG)).expect("complete");
}
