//! CFSSL's HTTP API (`cfssl serve`), as far as the plugin uses it:
//!
//! - `POST /api/v1/cfssl/newcert` `{"request": {"CN", "hosts", "key"}, "profile", "label"}`:
//!   a new key and a certificate signed by the CA, as PEM (`result.certificate`,
//!   `result.private_key`);
//! - `POST /api/v1/cfssl/certinfo` `{"certificate": PEM}`: what the certificate says
//!   (`result.not_after`, RFC 3339; `result.serial_number`, decimal; `result.sans`), so the
//!   plugin needs no X.509 parser of its own;
//! - `POST /api/v1/cfssl/info` `{"label", "profile"}`: the CA's certificate (`result.certificate`).
//!
//! Every answer is the envelope `{"success": bool, "result": ..., "errors": [{"code",
//! "message"}], "messages": [...]}`; a failure is HTTP 400 (or 500) with `success: false`.

use event_controller_guest::http::Request;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::settings::Settings;
use crate::{time, Failure, Host};

/// A certificate and its key, fresh from the CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The certificate, PEM.
    pub certificate: String,
    /// Its private key, PEM.
    pub key: String,
    /// When it expires, Unix seconds.
    pub not_after: i64,
    /// Its serial number, decimal, as CFSSL writes it.
    pub serial: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    errors: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct NewCert {
    certificate: String,
    private_key: String,
}

#[derive(Deserialize)]
struct CertInfo {
    not_after: String,
    #[serde(default)]
    serial_number: String,
    #[serde(default)]
    sans: Vec<String>,
}

#[derive(Deserialize)]
struct Info {
    certificate: String,
}

/// A new key and certificate for `host`, with what the certificate says about itself.
pub fn issue(
    settings: &Settings,
    host_name: &str,
    host: &mut impl Host,
) -> Result<Issued, Failure> {
    let mut body = json!({
        "request": {
            "CN": host_name,
            "hosts": [host_name],
            "key": {"algo": "ecdsa", "size": 256},
        }
    });
    add_signer(settings, &mut body);
    let new: NewCert = call(settings, "newcert", &body, host)?;
    let info: CertInfo = call(
        settings,
        "certinfo",
        &json!({"certificate": new.certificate}),
        host,
    )?;
    let not_after = time::parse_rfc3339(&info.not_after).ok_or_else(|| {
        Failure::error(format!(
            "CFSSL's certinfo gave a not_after that is not an RFC 3339 time: {:?}",
            info.not_after
        ))
    })?;
    if !info.sans.is_empty()
        && !info
            .sans
            .iter()
            .any(|san| san.eq_ignore_ascii_case(host_name))
    {
        return Err(Failure::error(format!(
            "CFSSL issued a certificate for {} instead of {host_name} (a signing profile that \
             overrides the hosts?)",
            info.sans.join(", ")
        )));
    }
    Ok(Issued {
        certificate: new.certificate,
        key: new.private_key,
        not_after,
        serial: info.serial_number,
    })
}

/// The CA's certificate, PEM.
pub fn ca_certificate(settings: &Settings, host: &mut impl Host) -> Result<String, Failure> {
    let mut body = json!({});
    add_signer(settings, &mut body);
    let info: Info = call(settings, "info", &body, host)?;
    Ok(info.certificate)
}

/// `"profile"` and `"label"` from the settings, when set.
fn add_signer(settings: &Settings, body: &mut Value) {
    if let Some(profile) = &settings.profile {
        body["profile"] = json!(profile);
    }
    if let Some(label) = &settings.label {
        body["label"] = json!(label);
    }
}

/// POSTs `body` to `endpoint` and reads the envelope's `result` as `T`.
fn call<T: for<'de> Deserialize<'de>>(
    settings: &Settings,
    endpoint: &str,
    body: &Value,
    host: &mut impl Host,
) -> Result<T, Failure> {
    let url = settings.endpoint(endpoint);
    let what = format!("CFSSL POST {url}");
    let request = Request::post(&url)
        .json_body(body)
        .map_err(|error| Failure::error(format!("{what}: {error}")))?;
    let response = match host.http(&request) {
        Ok(response) => response,
        Err(error) => {
            return Err(Failure {
                // Refused, timed out: CFSSL may be back for the retry. Not granted, or an
                // unreadable answer from the host: the config (or a bug) needs fixing.
                transient: error.is_transient(),
                reason: format!("{what}: {error}"),
            });
        }
    };
    let envelope: Option<Envelope> = serde_json::from_str(&response.body).ok();
    let errors = envelope
        .as_ref()
        .map(|e| {
            e.errors
                .iter()
                .map(|m| format!("{} (code {})", m.message, m.code))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| response.excerpt());
    if !response.is_success() {
        return Err(Failure {
            // 5xx, 429, 408: maybe passing; other 4xx: the request or the CA's config is wrong.
            transient: response.is_transient(),
            reason: format!(
                "{what} answered {}{}{errors}",
                response.status,
                if errors.is_empty() { "" } else { ": " }
            ),
        });
    }
    let Some(envelope) = envelope else {
        return Err(Failure::error(format!(
            "{what}: the answer is not CFSSL's JSON: {}",
            response.excerpt()
        )));
    };
    if !envelope.success {
        return Err(Failure::error(format!("{what} failed: {errors}")));
    }
    serde_json::from_value(envelope.result)
        .map_err(|error| Failure::error(format!("{what}: unexpected result: {error}")))
}
