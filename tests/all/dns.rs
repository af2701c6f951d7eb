//! DNS records for Routes and Ingresses, end to end: the real controller runs `plugin_dns`
//! (built into `target/plugins`), which keeps A records in a real PowerDNS authoritative server
//! (Debian's `pdns-server` with the gsqlite3 backend and its HTTP API, on loopback), and the
//! tests ask DNS (`dig`) what resolves.
//!
//! - A Route's host resolves to the router address; a changed host moves the record; the same
//!   event delivered again changes nothing (not even the SOA serial); a deletion removes it. A
//!   record written by hand, and a host owned by another Route, are left alone.
//! - An Ingress with two hosts (and a wildcard, and a host outside the zone) through `replay`,
//!   one process per step: each step starts with an empty plugin state, as after a restart,
//!   so the records are found through their ownership records. (The test API server does not
//!   serve Ingresses; `replay` runs the same plugin host.)
//! - Failures: no grant, a wrong API key, an incomplete config.
//! - An outage: PowerDNS killed in the middle of a run while Routes are created, moved and
//!   deleted, then started again on the same ports with its database; the retried events bring
//!   the records to the cluster's state.
//!
//! A missing PowerDNS (or dig, or sqlite3) fails the tests under CI (`CI` set) and skips them
//! loudly elsewhere, naming `bash scripts/toolchains/pdns.sh install`.

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use support::apiserver::ApiServer;
use support::controller::Controller;
use support::pdns::{self, PowerDns};
use support::*;

const PLUGIN: &str = "plugin_dns";
const ROUTER: &str = "10.0.0.10";

/// The plugin's config section and the capability granting it the zone's API URL, with the API
/// key as a secret header from `PDNS_API_KEY`.
fn config(pdns: &PowerDns) -> String {
    let api = pdns.api_url();
    let zone = pdns::ZONE;
    format!(
        r#"
[plugins.plugin_dns.config]
api_url = "{api}"
server_id = "localhost"
zone = "{zone}"
router_address = "{ROUTER}"
ttl = 60

[plugins.plugin_dns.capabilities.http]
allow = ["{api}/api/v1/servers/localhost/zones/{zone}"]
[plugins.plugin_dns.capabilities.http.headers]
X-API-Key = {{ env = "PDNS_API_KEY" }}
"#
    )
}

fn info(message: &str) -> (String, String) {
    ("INFO".to_owned(), message.to_owned())
}

fn warn(message: &str) -> (String, String) {
    ("WARN".to_owned(), message.to_owned())
}

#[test]
fn route_records_resolve_move_stay_put_and_disappear() {
    let Some(pdns) = PowerDns::start_or_skip("route_records_resolve_move_stay_put_and_disappear")
    else {
        return;
    };
    // A record written by hand, which the plugin must never change nor delete.
    pdns.patch(
        &json!({"rrsets": [{"name": "manual.apps.example.com.", "type": "A", "ttl": 300,
        "changetype": "REPLACE", "records": [{"content": "192.0.2.1", "disabled": false}]}]}),
    );
    // Asked before it exists: the server may now hold a negative answer in its cache.
    assert_eq!(pdns.status("web.apps.example.com"), "NXDOMAIN");

    let server = ApiServer::builder().with_routes().start();
    let (dir, config) = plugins_dir_with_config(&[PLUGIN], &config(&pdns));
    let controller = Controller::start_in(
        &server,
        dir,
        &[
            ("CONFIG_FILE", &config),
            ("K8S_RESOURCE", "routes"),
            ("PDNS_API_KEY", pdns.api_key()),
            // The plugin's DEBUG outcomes too ("no records to remove").
            ("LOG_LEVEL", "info,plugin=debug"),
        ],
    );
    let context = || {
        format!(
            "controller log: {:#?}\nPowerDNS log:\n{}",
            controller.logs(),
            pdns.log()
        )
    };

    // The module's own default subscription (its custom section) is in force.
    let loaded = controller.wait_for_log("plugin loaded");
    assert_eq!(
        str_of(&loaded, "subscription"),
        "resources=routes.route.openshift.io,ingresses.networking.k8s.io"
    );

    // Created: the host resolves to the router, with its ownership record beside it.
    server.create(
        "routes",
        &route_object("shop", "web", "web.apps.example.com"),
    );
    assert_eq!(
        controller.wait_for_plugin_lines(PLUGIN, "", 1)[0],
        info("dns: web.apps.example.com. A 10.0.0.10 (Route shop/web)")
    );
    assert_eq!(
        pdns.dig("web.apps.example.com", "A"),
        [ROUTER],
        "{}",
        context()
    );
    assert_eq!(
        pdns.dig("_ec.web.apps.example.com", "TXT"),
        ["\"heritage=event-controller,owner=Route/shop/web\""]
    );
    let created = pdns.serial();

    // The host changes: the record moves, the old name is gone.
    server.modify(
        "routes",
        &route_object("shop", "web", "shop.apps.example.com"),
    );
    assert_eq!(
        controller.wait_for_plugin_lines(PLUGIN, "", 2)[1],
        info("dns: shop.apps.example.com. A 10.0.0.10; removed web.apps.example.com. (Route shop/web)")
    );
    assert_eq!(
        pdns.dig("shop.apps.example.com", "A"),
        [ROUTER],
        "{}",
        context()
    );
    assert!(pdns.dig("web.apps.example.com", "A").is_empty());
    assert_eq!(pdns.status("web.apps.example.com"), "NXDOMAIN");
    assert_eq!(pdns.status("_ec.web.apps.example.com"), "NXDOMAIN");
    let moved = pdns.serial();
    assert_eq!(moved, created + 1, "one PATCH, one serial");

    // Delivered again (only the resourceVersion changes): nothing changes, not even the serial.
    server.modify(
        "routes",
        &route_object("shop", "web", "shop.apps.example.com"),
    );
    assert_eq!(
        controller.wait_for_plugin_lines(PLUGIN, "", 3)[2],
        info("dns: shop.apps.example.com. A 10.0.0.10 already in place (Route shop/web)")
    );
    assert_eq!(pdns.dig("shop.apps.example.com", "A"), [ROUTER]);
    assert_eq!(pdns.serial(), moved, "{}", context());
    let a_records: Vec<Value> = pdns
        .rrsets()
        .into_iter()
        .filter(|r| r["type"] == "A" && r["name"] == "shop.apps.example.com.")
        .collect();
    assert_eq!(a_records.len(), 1, "{a_records:?}");
    assert_eq!(a_records[0]["records"].as_array().map(Vec::len), Some(1));

    // Names it does not own: another Route's host, a record written by hand.
    server.create(
        "routes",
        &route_object("shop", "copycat", "shop.apps.example.com"),
    );
    assert_eq!(
        controller.wait_for_plugin_lines(PLUGIN, "", 4)[3],
        warn(
            "dns: left shop.apps.example.com. alone: owned by Route shop/web (Route shop/copycat)"
        )
    );
    server.create(
        "routes",
        &route_object("shop", "manual", "manual.apps.example.com"),
    );
    assert_eq!(
        controller.wait_for_plugin_lines(PLUGIN, "", 5)[4],
        warn("dns: left manual.apps.example.com. alone: it has A records that event-controller did not write (Route shop/manual)")
    );
    assert_eq!(pdns.dig("manual.apps.example.com", "A"), ["192.0.2.1"]);

    // Deleted: the record disappears.
    server.delete(
        "routes",
        &route_object("shop", "web", "shop.apps.example.com"),
    );
    assert_eq!(
        controller.wait_for_plugin_lines(PLUGIN, "", 6)[5],
        info("dns: removed shop.apps.example.com. (Route shop/web)")
    );
    assert!(pdns.dig("shop.apps.example.com", "A").is_empty());
    assert_eq!(pdns.status("shop.apps.example.com"), "NXDOMAIN");

    // The other claimant gets the name on its next event; then everything goes.
    server.modify(
        "routes",
        &route_object("shop", "copycat", "shop.apps.example.com"),
    );
    assert_eq!(
        controller.wait_for_plugin_lines(PLUGIN, "", 7)[6],
        info("dns: shop.apps.example.com. A 10.0.0.10 (Route shop/copycat)")
    );
    assert_eq!(pdns.dig("shop.apps.example.com", "A"), [ROUTER]);
    server.delete(
        "routes",
        &route_object("shop", "copycat", "shop.apps.example.com"),
    );
    assert_eq!(
        controller.wait_for_plugin_lines(PLUGIN, "", 8)[7],
        info("dns: removed shop.apps.example.com. (Route shop/copycat)")
    );
    server.delete(
        "routes",
        &route_object("shop", "manual", "manual.apps.example.com"),
    );
    assert_eq!(
        controller.wait_for_plugin_lines(PLUGIN, "", 9)[8],
        (
            "DEBUG".to_owned(),
            "dns: no records to remove (Route shop/manual)".to_owned()
        )
    );
    // What is left: the zone's own records and the hand-written one.
    let left: Vec<String> = pdns
        .rrsets()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["name"].as_str().unwrap_or(""),
                r["type"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        left,
        [
            "apps.example.com. NS",
            "apps.example.com. SOA",
            "manual.apps.example.com. A"
        ],
        "{}",
        context()
    );
    assert_eq!(pdns.dig("manual.apps.example.com", "A"), ["192.0.2.1"]);
    // One line per event, no more.
    std::thread::sleep(support::controller::QUIET);
    assert_eq!(controller.plugin_lines(PLUGIN).len(), 9, "{}", context());
    let errors: Vec<Value> = controller
        .logs()
        .into_iter()
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert!(errors.is_empty(), "{}", context());
}

/// PowerDNS goes down in the middle of a run: meanwhile a Route is created, one's host moves
/// and one is deleted. Each event's zone read fails with a WARN and a retry, the controller goes
/// on, and once PowerDNS is back (same ports, same database), the retried events bring DNS to
/// the cluster's state with no further event from the cluster.
#[test]
fn records_converge_after_powerdns_comes_back() {
    let Some(pdns) = PowerDns::start_or_skip("records_converge_after_powerdns_comes_back") else {
        return;
    };
    let server = ApiServer::builder().with_routes().start();
    let (dir, config) = plugins_dir_with_config(&[PLUGIN], &config(&pdns));
    let controller = Controller::start_in(
        &server,
        dir,
        &[
            ("CONFIG_FILE", &config),
            ("K8S_RESOURCE", "routes"),
            ("PDNS_API_KEY", pdns.api_key()),
        ],
    );
    let context = || {
        format!(
            "controller log: {:#?}\nPowerDNS log:\n{}",
            controller.logs(),
            pdns.log()
        )
    };
    server.create(
        "routes",
        &route_object("shop", "web", "web.apps.example.com"),
    );
    server.create(
        "routes",
        &route_object("shop", "old", "old.apps.example.com"),
    );
    controller.wait_for_plugin_lines(PLUGIN, "A 10.0.0.10 (Route shop/", 2);
    assert_eq!(
        pdns.dig("web.apps.example.com", "A"),
        [ROUTER],
        "{}",
        context()
    );
    assert_eq!(
        pdns.dig("old.apps.example.com", "A"),
        [ROUTER],
        "{}",
        context()
    );

    // PowerDNS goes down; meanwhile a new Route, a moved host, a deleted Route.
    pdns.stop();
    let began = Instant::now();
    server.create(
        "routes",
        &route_object("shop", "api", "api.apps.example.com"),
    );
    server.modify(
        "routes",
        &route_object("shop", "web", "shop.apps.example.com"),
    );
    server.delete(
        "routes",
        &route_object("shop", "old", "old.apps.example.com"),
    );

    // Each is a WARN with a retry; the host delivers each again while PowerDNS is down.
    let zone_url = format!(
        "{}/api/v1/servers/localhost/zones/{}",
        pdns.api_url(),
        pdns::ZONE
    );
    for who in ["Route shop/api", "Route shop/web", "Route shop/old"] {
        let failed = controller.wait_for_plugin_lines(PLUGIN, &format!("; will retry ({who})"), 2);
        for (level, message) in &failed {
            assert_eq!(level, "WARN", "{message}");
            assert!(
                message.starts_with(&format!(
                    "dns: cannot read zone apps.example.com.: GET {zone_url}: HTTP request failed: "
                )),
                "{message}"
            );
        }
    }
    assert_eq!(
        controller.get("/readyz"),
        (200, "ok\n".to_owned()),
        "{}",
        context()
    );

    let scheduled = controller.metric(&format!(
        r#"event_controller_plugin_retries_total{{plugin="{PLUGIN}"}}"#
    ));
    assert!(scheduled >= 6.0, "{scheduled}: {}", context());

    // Back, with its database: the retries finish the work.
    let stopped_for = began.elapsed();
    pdns.start_again();
    let restarted = Instant::now();
    for line in [
        "dns: api.apps.example.com. A 10.0.0.10 (Route shop/api)",
        "dns: shop.apps.example.com. A 10.0.0.10; removed web.apps.example.com. (Route shop/web)",
        "dns: removed old.apps.example.com. (Route shop/old)",
    ] {
        let done = controller.wait_for_plugin_lines(PLUGIN, line, 1);
        assert_eq!(done, [info(line)], "{}", context());
    }
    let converged = restarted.elapsed();
    assert_eq!(
        pdns.dig("api.apps.example.com", "A"),
        [ROUTER],
        "{}",
        context()
    );
    assert_eq!(
        pdns.dig("shop.apps.example.com", "A"),
        [ROUTER],
        "{}",
        context()
    );
    for gone in ["web.apps.example.com", "old.apps.example.com"] {
        assert_eq!(pdns.status(gone), "NXDOMAIN", "{gone}: {}", context());
    }
    let owned: Vec<String> = pdns
        .rrsets()
        .iter()
        .filter(|r| r["type"] == "TXT")
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        owned,
        ["_ec.api.apps.example.com.", "_ec.shop.apps.example.com."],
        "{}",
        context()
    );
    eprintln!("dns: down for {stopped_for:?}, converged {converged:?} after the restart");

    // Done: no more retries, no more changes.
    let serial = pdns.serial();
    let lines = controller.plugin_lines(PLUGIN).len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        controller.plugin_lines(PLUGIN).len(),
        lines,
        "{}",
        context()
    );
    assert_eq!(pdns.serial(), serial);
    let pending = format!(r#"event_controller_plugin_pending_retries{{plugin="{PLUGIN}"}}"#);
    assert_eq!(controller.metric(&pending), 0.0, "{}", context());
    assert_eq!(controller.get("/healthz"), (200, "ok\n".to_owned()));
    let errors: Vec<Value> = controller
        .logs()
        .into_iter()
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert!(errors.is_empty(), "{}", context());
}

/// Runs `replay` of `events` through the plugin with `config`, the API key in `PDNS_API_KEY`.
fn replay_with(dir: &Path, config: &str, events: &[String], api_key: &str) -> Run {
    let config_path = dir.join("config.toml");
    std::fs::write(&config_path, config).expect("config");
    let events = events_file(dir, "events.jsonl", events);
    let output = controller()
        .args(["replay", "--log-format", "json", "--plugins-dir"])
        .arg(dir)
        .arg("--config")
        .arg(&config_path)
        .arg(&events)
        .env("PDNS_API_KEY", api_key)
        .output()
        .expect("run replay");
    Run::from(output)
}

fn ingress(event_type: &str, rv: u64, hosts: &[&str]) -> String {
    let mut rules: Vec<Value> = hosts
        .iter()
        .map(|host| {
            json!({"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "store", "port": {"number": 80}}}}]}})
        })
        .collect();
    // A rule without a host (any host): no record.
    rules.push(
        json!({"http": {"paths": [{"path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "store", "port": {"number": 80}}}}]}}),
    );
    json!({"type": event_type, "object": {
        "kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": "store", "namespace": "shop", "uid": "7f3c1c52-9d5e-4a51-9a43-0d6f2b1e4c11", "resourceVersion": rv.to_string()},
        "spec": {"ingressClassName": "nginx", "rules": rules},
    }})
    .to_string()
}

#[test]
fn ingress_hosts_across_restarts() {
    let Some(pdns) = PowerDns::start_or_skip("ingress_hosts_across_restarts") else {
        return;
    };
    let dir = plugins_dir(&[PLUGIN]);
    let config = config(&pdns);
    let run = |events: &[String]| {
        let run = replay_with(dir.path(), &config, events, pdns.api_key());
        assert!(
            run.status.success(),
            "{}\nPowerDNS log:\n{}",
            run.stderr,
            pdns.log()
        );
        run.plugin_messages(PLUGIN)
    };

    // Two hosts, one outside the zone, and the same event twice (a re-delivery).
    let added = ingress(
        "ADDED",
        10,
        &[
            "a.apps.example.com",
            "b.apps.example.com",
            "shop.example.org",
        ],
    );
    let first = added.clone();
    let again = added
        .replace("\"ADDED\"", "\"MODIFIED\"")
        .replace("\"10\"", "\"11\"");
    assert_eq!(
        run(&[first, again]),
        [
            info("dns: a.apps.example.com. A 10.0.0.10; b.apps.example.com. A 10.0.0.10; skipped shop.example.org: not in zone apps.example.com. (Ingress shop/store)"),
            info("dns: a.apps.example.com. A 10.0.0.10 already in place; b.apps.example.com. A 10.0.0.10 already in place; skipped shop.example.org: not in zone apps.example.com. (Ingress shop/store)"),
        ]
    );
    assert_eq!(pdns.dig("a.apps.example.com", "A"), [ROUTER]);
    assert_eq!(pdns.dig("b.apps.example.com", "A"), [ROUTER]);
    let serial = pdns.serial();

    // A new process (empty plugin state): one host replaced by a wildcard.
    assert_eq!(
        run(&[ingress("MODIFIED", 12, &["b.apps.example.com", "*.c.apps.example.com"])]),
        [info("dns: b.apps.example.com. A 10.0.0.10 already in place; *.c.apps.example.com. A 10.0.0.10; removed a.apps.example.com. (Ingress shop/store)")]
    );
    assert_eq!(pdns.status("a.apps.example.com"), "NXDOMAIN");
    assert_eq!(pdns.dig("b.apps.example.com", "A"), [ROUTER]);
    assert_eq!(pdns.dig("anything.c.apps.example.com", "A"), [ROUTER]);
    assert_eq!(pdns.serial(), serial + 1);

    // Another new process, and a DELETED carrying only the identity (as a synthesized one does).
    let deleted = json!({"type": "DELETED", "object": {
        "kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": "store", "namespace": "shop", "uid": "7f3c1c52-9d5e-4a51-9a43-0d6f2b1e4c11", "resourceVersion": "13"}}})
    .to_string();
    assert_eq!(
        run(&[deleted]),
        [info(
            "dns: removed *.c.apps.example.com.; removed b.apps.example.com. (Ingress shop/store)"
        )]
    );
    for name in [
        "a.apps.example.com",
        "b.apps.example.com",
        "anything.c.apps.example.com",
        "_ec.b.apps.example.com",
        "_ec-wildcard.c.apps.example.com",
    ] {
        assert_eq!(pdns.status(name), "NXDOMAIN", "{name}");
    }
    let left: Vec<Value> = pdns
        .rrsets()
        .into_iter()
        .filter(|r| r["type"] != "SOA" && r["type"] != "NS")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn refusals_are_reported_and_change_nothing() {
    let Some(pdns) = PowerDns::start_or_skip("refusals_are_reported_and_change_nothing") else {
        return;
    };
    let dir = plugins_dir(&[PLUGIN]);
    let added = [ingress("ADDED", 10, &["a.apps.example.com"])];
    let zone_url = format!(
        "{}/api/v1/servers/localhost/zones/{}",
        pdns.api_url(),
        pdns::ZONE
    );
    let full = config(&pdns);

    // A wrong API key: PowerDNS answers 401.
    let run = replay_with(dir.path(), &full, &added, "not-the-key");
    let messages = run.plugin_messages(PLUGIN);
    assert_eq!(messages.len(), 1, "{}", run.stderr);
    assert_eq!(messages[0].0, "ERROR");
    assert!(
        messages[0].1.starts_with(&format!(
            "dns: cannot read zone apps.example.com.: GET {zone_url} answered 401"
        )),
        "{messages:?}"
    );

    // No grant: the host denies the request; PowerDNS never sees it.
    let ungranted = full
        .split("[plugins.plugin_dns.capabilities.http]")
        .next()
        .expect("the config part")
        .to_owned();
    let run = replay_with(dir.path(), &ungranted, &added, pdns.api_key());
    assert_eq!(
        run.plugin_messages(PLUGIN),
        [("ERROR".to_owned(), format!("dns: cannot read zone apps.example.com.: GET {zone_url}: HTTP request failed: denied: plugin plugin_dns has no [plugins.plugin_dns.capabilities.http] section (Ingress shop/store)"))],
        "{}",
        run.stderr
    );

    // An incomplete config: init refuses it, naming what is missing; the plugin does not load.
    let incomplete = full.replace(&format!("router_address = \"{ROUTER}\"\n"), "");
    let run = replay_with(dir.path(), &incomplete, &added, pdns.api_key());
    let messages = run.plugin_messages(PLUGIN);
    assert_eq!(messages.len(), 1, "{}", run.stderr);
    assert_eq!(messages[0].0, "ERROR");
    assert!(
        messages[0]
            .1
            .starts_with("incomplete config: router_address missing; a complete one: {"),
        "{messages:?}"
    );
    assert_eq!(
        run.errors_containing("init refused").len(),
        1,
        "{}",
        run.stderr
    );

    assert_eq!(pdns.status("a.apps.example.com"), "NXDOMAIN");
    assert_eq!(pdns.serial(), pdns::INITIAL_SERIAL);
}
