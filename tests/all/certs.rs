//! Certificates for Routes, end to end: the real controller runs `plugin_certs` (built into
//! `target/plugins`) against the test API server with the Route CRD, and the plugin gets its
//! certificates from a real CFSSL CA (Debian's `golang-cfssl`, `cfssl serve` on loopback, with a
//! throwaway CA made by `cfssl gencert -initca`). The `openssl` CLI then checks what landed in
//! the Route: the certificate chains to the test CA, names the host, and matches the key.
//!
//! - An annotated Route gets one PATCH, with its certificate, key, CA and the annotations that
//!   record the state; the MODIFIED event that PATCH causes, and a later change of the Route,
//!   patch nothing. A Route without the annotation gets nothing.
//! - Without the `kubernetes` grant, nothing is patched and the plugin says why.
//! - CFSSL killed in the middle of a run while a Route gets the annotation: WARNs with retries,
//!   nothing patched; started again on the same port with the same CA, the retried event issues
//!   the certificate, with one successful PATCH.
//!
//! A missing cfssl (or openssl) fails the tests under CI (`CI` set) and skips them loudly
//! elsewhere, naming `bash scripts/toolchains/cfssl.sh install`.

use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::apiserver::ApiServer;
use support::cfssl::Cfssl;
use support::controller::{Controller, PATIENCE, QUIET};
use support::*;

const PLUGIN: &str = "plugin_certs";
const HOST: &str = "web.apps.example.com";
const ROUTE_PATH: &str = "/apis/route.openshift.io/v1/namespaces/shop/routes/web";

/// The plugin's config section and its capabilities; `kubernetes` false leaves out the grant
/// to patch Routes.
fn config(cfssl: &Cfssl, kubernetes: bool) -> String {
    let url = cfssl.url();
    let mut config = format!(
        r#"
[plugins.plugin_certs.config]
cfssl_url = "{url}"
renew_before_days = 30

[plugins.plugin_certs.capabilities.http]
allow = ["{url}/api/v1/cfssl/"]
"#
    );
    if kubernetes {
        config.push_str(
            r#"
[plugins.plugin_certs.capabilities.kubernetes]
patch = ["routes.route.openshift.io"]
"#,
        );
    }
    config
}

/// A Route in `shop`; `managed` asks the plugin for a certificate (the annotation).
fn route(name: &str, host: &str, managed: bool) -> String {
    let mut route: Value = serde_json::from_str(&route_object("shop", name, host)).expect("JSON");
    route["metadata"]["annotations"] = if managed {
        json!({"openshift.io/managed.cert": "true"})
    } else {
        json!({})
    };
    route.to_string()
}

/// The PATCH requests the API server received, as paths.
fn patches(server: &ApiServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.path)
        .collect()
}

/// `openssl ARGS`: its stdout; panics with its stderr when it fails.
fn openssl(args: &[&str], dir: &Path) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Checks with `openssl` the certificate and key of a Route's `spec.tls`: the certificate chains
/// to the test CA, names `host` (subject and only SAN), and matches the key. Returns its
/// notAfter, as `2027-11-27 01:57:00Z`.
fn check_certificate(cfssl: &Cfssl, tls: &Value, host: &str) -> String {
    let work = tempfile::tempdir().expect("temp dir");
    for (file, value) in [("cert.pem", &tls["certificate"]), ("key.pem", &tls["key"])] {
        std::fs::write(
            work.path().join(file),
            value.as_str().expect("a PEM string"),
        )
        .expect("write PEM");
    }
    std::fs::write(work.path().join("ca.pem"), cfssl.ca_pem()).expect("write CA");
    assert_eq!(
        openssl(&["verify", "-CAfile", "ca.pem", "cert.pem"], work.path()).trim(),
        "cert.pem: OK"
    );
    let san = openssl(
        &[
            "x509",
            "-in",
            "cert.pem",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
        work.path(),
    );
    assert_eq!(
        san.lines().map(str::trim).collect::<Vec<_>>(),
        ["X509v3 Subject Alternative Name: ", &format!("DNS:{host}")].map(str::trim),
        "{san}"
    );
    let subject = openssl(
        &["x509", "-in", "cert.pem", "-noout", "-subject"],
        work.path(),
    );
    assert_eq!(subject.trim(), format!("subject=CN = {host}"));
    assert_eq!(
        openssl(
            &["x509", "-in", "cert.pem", "-noout", "-pubkey"],
            work.path()
        ),
        openssl(&["pkey", "-in", "key.pem", "-pubout"], work.path()),
        "the key is the certificate's"
    );
    let end = openssl(
        &[
            "x509", "-in", "cert.pem", "-noout", "-enddate", "-dateopt", "iso_8601",
        ],
        work.path(),
    );
    end.trim()
        .strip_prefix("notAfter=")
        .unwrap_or_else(|| panic!("{end}"))
        .to_owned()
}

#[test]
fn an_annotated_route_gets_one_certificate_that_chains_to_the_ca() {
    let Some(cfssl) =
        Cfssl::start_or_skip("an_annotated_route_gets_one_certificate_that_chains_to_the_ca")
    else {
        return;
    };
    let server = ApiServer::builder().with_routes().start();
    server.create("routes", &route("plain", "plain.apps.example.com", false));
    server.create("routes", &route("web", HOST, true));
    let (dir, config) = plugins_dir_with_config(&[PLUGIN], &config(&cfssl, true));
    let controller = Controller::start_in(
        &server,
        dir,
        &[
            ("CONFIG_FILE", &config),
            ("K8S_RESOURCE", "routes"),
            // The plugin's DEBUG outcomes too ("up to date").
            ("LOG_LEVEL", "info,plugin=debug"),
        ],
    );
    let context = || {
        format!(
            "controller log: {:#?}\nrequests: {:#?}\nCFSSL log:\n{}",
            controller.logs(),
            server.requests(),
            cfssl.log()
        )
    };

    let loaded = controller.wait_for_log("plugin loaded");
    assert_eq!(
        str_of(&loaded, "subscription"),
        "resources=routes.route.openshift.io types=ADDED,MODIFIED",
        "{}",
        context()
    );

    // ADDED: issued and patched; then the MODIFIED event of that patch: up to date.
    let lines = controller.wait_for_plugin_lines(PLUGIN, "", 2);
    let (level, issued) = &lines[0];
    assert_eq!(level, "INFO", "{}", context());
    let prefix = format!("certs: issued certificate for {HOST} (Route shop/web), expires ");
    assert!(issued.starts_with(&prefix), "{}", context());
    let expires = &issued[prefix.len()..];
    assert_eq!(
        lines[1],
        (
            "DEBUG".to_owned(),
            format!("certs: certificate for {HOST} up to date (Route shop/web), expires {expires}")
        ),
        "{}",
        context()
    );
    assert_eq!(patches(&server), [ROUTE_PATH], "{}", context());

    // What the Route holds now.
    let stored: Value = serde_json::from_str(
        &server
            .object("routes", "shop", "web")
            .expect("the Route is there"),
    )
    .expect("JSON");
    let tls = &stored["spec"]["tls"];
    assert_eq!(tls["termination"], "edge");
    let annotations = &stored["metadata"]["annotations"];
    assert_eq!(annotations["openshift.io/managed.cert"], "true");
    assert_eq!(annotations["event-controller/cert-host"], HOST);
    assert_eq!(annotations["event-controller/cert-not-after"], *expires);
    let serial = annotations["event-controller/cert-serial"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !serial.is_empty() && serial.bytes().all(|b| b.is_ascii_digit()),
        "{serial:?}"
    );
    assert_eq!(stored["spec"]["to"]["name"], "web", "the rest is untouched");
    assert_eq!(
        tls["caCertificate"].as_str().map(str::trim),
        Some(cfssl.ca_pem().trim())
    );

    // openssl: the certificate chains to the test CA, names the host, matches the key, and
    // expires when the annotation says.
    assert_eq!(
        check_certificate(&cfssl, tls, HOST),
        expires.replace('T', " ")
    );

    // Someone changes the Route (a label), keeping what the plugin wrote: nothing is issued.
    let mut changed = stored.clone();
    changed["metadata"]["labels"] = json!({"app": "web"});
    server.modify("routes", &changed.to_string());
    let lines = controller.wait_for_plugin_lines(PLUGIN, "", 3);
    assert_eq!(lines[2].0, "DEBUG", "{}", context());
    std::thread::sleep(QUIET);

    // One PATCH in all, and nothing for the Route without the annotation.
    assert_eq!(patches(&server), [ROUTE_PATH], "{}", context());
    let lines = controller.plugin_lines(PLUGIN);
    assert_eq!(lines.len(), 3, "{}", context());
    assert!(
        lines.iter().all(|(_, message)| !message.contains("plain")),
        "{}",
        context()
    );
    assert!(
        server
            .object("routes", "shop", "plain")
            .is_some_and(|plain| !plain.contains("tls") && !plain.contains("event-controller")),
        "{}",
        context()
    );
    let errors: Vec<Value> = controller
        .logs()
        .into_iter()
        .filter(|l| l["level"] == "ERROR" || l["level"] == "WARN")
        .collect();
    assert!(errors.is_empty(), "{}", context());
}

#[test]
fn without_the_kubernetes_grant_nothing_is_patched() {
    let Some(cfssl) = Cfssl::start_or_skip("without_the_kubernetes_grant_nothing_is_patched")
    else {
        return;
    };
    let server = ApiServer::builder().with_routes().start();
    server.create("routes", &route("web", HOST, true));
    let (dir, config) = plugins_dir_with_config(&[PLUGIN], &config(&cfssl, false));
    let controller = Controller::start_in(
        &server,
        dir,
        &[("CONFIG_FILE", &config), ("K8S_RESOURCE", "routes")],
    );
    let lines = controller.wait_for_plugin_lines(PLUGIN, "", 1);
    let (level, message) = &lines[0];
    assert_eq!(level, "ERROR", "{:#?}", controller.logs());
    assert_eq!(
        message,
        &format!(
            "certs: cannot issue a certificate for {HOST} (Route shop/web): the Route was not \
             patched: denied: plugin {PLUGIN} may not patch routes.route.openshift.io (see \
             [plugins.{PLUGIN}.capabilities.kubernetes], key patch)"
        ),
        "{:#?}",
        controller.logs()
    );
    std::thread::sleep(QUIET);
    assert!(patches(&server).is_empty(), "{:#?}", server.requests());
    let stored = server.object("routes", "shop", "web").expect("the Route");
    assert!(!stored.contains("tls"), "{stored}");
}

/// CFSSL goes down in the middle of a run, and a Route gets the annotation meanwhile: the
/// plugin cannot issue, says so with a WARN and a retry, and patches nothing; the controller
/// goes on. Once CFSSL is back (same port, same CA), the retried event issues the certificate,
/// with one successful PATCH, and with no further event from the cluster.
#[test]
fn a_certificate_is_issued_once_cfssl_comes_back() {
    let Some(cfssl) = Cfssl::start_or_skip("a_certificate_is_issued_once_cfssl_comes_back") else {
        return;
    };
    let server = ApiServer::builder().with_routes().start();
    server.create("routes", &route("web", HOST, true));
    server.create("routes", &route("api", "api.apps.example.com", false));
    let (dir, config) = plugins_dir_with_config(&[PLUGIN], &config(&cfssl, true));
    let controller = Controller::start_in(
        &server,
        dir,
        &[("CONFIG_FILE", &config), ("K8S_RESOURCE", "routes")],
    );
    let context = || {
        format!(
            "controller log: {:#?}\nrequests: {:#?}\nCFSSL log:\n{}",
            controller.logs(),
            server.requests(),
            cfssl.log()
        )
    };
    let lines = controller.wait_for_plugin_lines(PLUGIN, "", 1);
    assert_eq!(lines[0].0, "INFO", "{}", context());
    assert_eq!(patches(&server), [ROUTE_PATH], "{}", context());

    // CFSSL goes down; meanwhile the api Route asks for a certificate.
    cfssl.stop();
    let began = Instant::now();
    let stored: Value = serde_json::from_str(
        &server
            .object("routes", "shop", "api")
            .expect("the Route is there"),
    )
    .expect("JSON");
    let mut annotated = stored.clone();
    annotated["metadata"]["annotations"] = json!({"openshift.io/managed.cert": "true"});
    server.modify("routes", &annotated.to_string());

    // A WARN with a retry; the host delivers the event again while CFSSL is down.
    let url = cfssl.url();
    let failed = format!(
        "certs: cannot issue a certificate for api.apps.example.com (Route shop/api): CFSSL POST \
         {url}/api/v1/cfssl/newcert: HTTP request failed: "
    );
    let warnings = wait::until(
        PATIENCE,
        || {
            let warnings: Vec<(String, String)> = controller
                .plugin_lines(PLUGIN)
                .into_iter()
                .filter(|(_, message)| message.starts_with(&failed))
                .collect();
            (warnings.len() >= 2).then_some(warnings)
        },
        || format!("{PLUGIN} did not warn twice {failed:?}: {}", context()),
    );
    for (level, message) in &warnings {
        assert_eq!(level, "WARN", "{message}");
        assert!(message.ends_with("; will retry"), "{message}");
    }
    assert_eq!(patches(&server), [ROUTE_PATH], "{}", context());
    let scheduled = controller.metric(&format!(
        r#"event_controller_plugin_retries_total{{plugin="{PLUGIN}"}}"#
    ));
    assert!(scheduled >= 2.0, "{scheduled}: {}", context());
    assert_eq!(
        controller.get("/readyz"),
        (200, "ok\n".to_owned()),
        "{}",
        context()
    );

    // Back, with the same CA: the retry issues the certificate, patched in once.
    let stopped_for = began.elapsed();
    cfssl.start_again();
    let restarted = Instant::now();
    let issued = "certs: issued certificate for api.apps.example.com (Route shop/api), expires ";
    let issued_line = wait::until(
        PATIENCE,
        || {
            controller
                .plugin_lines(PLUGIN)
                .into_iter()
                .find(|(_, message)| message.starts_with(issued))
        },
        || format!("{PLUGIN} never logged {issued:?}: {}", context()),
    );
    let converged = restarted.elapsed();
    assert_eq!(issued_line.0, "INFO", "{}", context());
    let api_path = "/apis/route.openshift.io/v1/namespaces/shop/routes/api";
    assert_eq!(patches(&server), [ROUTE_PATH, api_path], "{}", context());
    // The host's log of its writes: one, and it succeeded.
    let writes: Vec<String> = controller
        .logs()
        .iter()
        .filter(|l| str_of(l, "message") == "plugin patched routes.route.openshift.io shop/api")
        .map(|l| str_of(l, "outcome"))
        .collect();
    assert_eq!(writes, ["status=200"], "{}", context());
    let stored: Value = serde_json::from_str(
        &server
            .object("routes", "shop", "api")
            .expect("the Route is there"),
    )
    .expect("JSON");
    let annotations = &stored["metadata"]["annotations"];
    assert_eq!(
        annotations["event-controller/cert-host"],
        "api.apps.example.com"
    );
    let expires = annotations["event-controller/cert-not-after"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        check_certificate(&cfssl, &stored["spec"]["tls"], "api.apps.example.com"),
        expires.replace('T', " "),
        "{}",
        context()
    );
    eprintln!("certs: down for {stopped_for:?}, converged {converged:?} after the restart");

    // Done: no more attempts, no more patches. What is pending is each Route's delivery at its
    // renewal window, months away.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(patches(&server), [ROUTE_PATH, api_path], "{}", context());
    let pending = format!(r#"event_controller_plugin_pending_retries{{plugin="{PLUGIN}"}}"#);
    assert_eq!(controller.metric(&pending), 2.0, "{}", context());
    let errors: Vec<Value> = controller
        .logs()
        .into_iter()
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert!(errors.is_empty(), "{}", context());
    assert_eq!(controller.get("/healthz"), (200, "ok\n".to_owned()));
}
