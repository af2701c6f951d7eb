//! Secret redaction: what of a core/v1 Secret a plugin may not see.
//!
//! Plugins are untrusted, so unless a plugin's configuration allows it (the caller decides), a
//! Secret event reaches it with:
//!
//! - every value under `object.data` and `object.stringData` replaced by `""`. The keys are
//!   kept, so a plugin still sees which keys a Secret has (`""` is valid base64, so the Secret
//!   still reads as a well-formed one);
//! - the annotation `kubectl.kubernetes.io/last-applied-configuration` replaced by `""`:
//!   `kubectl apply` stores the whole applied object there, `data` and `stringData` included.
//!
//! Nothing else is touched. `metadata.managedFields` names the fields each manager owns
//! (`"f:data":{"f:password":{}}`), never their values, so it gives away no more than the kept
//! keys do.
//!
//! The event is not re-serialized: only the JSON objects on the way to a redacted value (the
//! event, its `object`, `data`, `stringData`, `metadata` and `annotations`) are rebuilt, in
//! their members' original order (written compactly, keys re-escaped by `serde_json`); every
//! other member is copied as the server wrote it. An object in which nothing is redacted is kept
//! as it is, so a Secret without `data`, `stringData` or that annotation comes back byte for
//! byte. A repeated member (JSON allows `"data"` twice) is redacted every time it occurs.

use crate::event::{EventError, WatchEvent};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// The annotation in which `kubectl apply` keeps the last applied object, data included.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Why an event could not be redacted; such an event must not be handed to a plugin.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedactError {
    /// The event is not valid JSON.
    #[error("cannot redact watch event: malformed JSON: {0}")]
    Json(String),
    /// A member on the way to the redacted values is not a JSON object.
    #[error("cannot redact watch event: {path} is not a JSON object")]
    NotAnObject {
        /// Where, e.g. `object.data`.
        path: &'static str,
    },
    /// The redacted bytes no longer read as a watch event (not expected to happen).
    #[error("redacted watch event is invalid: {0}")]
    Event(#[from] EventError),
}

/// True when `event` carries a core/v1 Secret (kind `Secret`, apiVersion `v1`).
pub fn is_secret(event: &WatchEvent) -> bool {
    let meta = event.meta();
    meta.kind() == "Secret" && meta.api_version() == "v1"
}

/// A copy of `event` with the values of `object.data` and `object.stringData` and the
/// last-applied-configuration annotation replaced by `""` (see the [module docs](self)).
///
/// The kind is not checked: the rule is applied to whatever event is given, so call it for the
/// events [`is_secret`] accepts. A `null` `data`, `stringData` or `annotations` is kept; any
/// other non-object there is an error.
pub fn redact_secret(event: &WatchEvent) -> Result<WatchEvent, RedactError> {
    let raw = std::str::from_utf8(event.raw()).map_err(|_| EventError::NotUtf8)?;
    let redacted = rewrite(raw, "event", |key, value| match key {
        "object" => redact_object(value),
        _ => Ok(None),
    })?;
    match redacted {
        Some(text) => Ok(WatchEvent::parse(text.into_bytes())?),
        None => Ok(event.clone()),
    }
}

/// `object` with its data, string data and last-applied annotation redacted.
fn redact_object(object: &RawValue) -> Result<Option<String>, RedactError> {
    rewrite_object(object, "object", |key, value| match key {
        "data" => redact_values(value, "object.data"),
        "stringData" => redact_values(value, "object.stringData"),
        "metadata" => rewrite_nullable(value, "object.metadata", |key, value| match key {
            "annotations" => rewrite_nullable(value, "object.metadata.annotations", |key, _| {
                Ok((key == LAST_APPLIED_ANNOTATION).then(empty_string))
            }),
            _ => Ok(None),
        }),
        _ => Ok(None),
    })
}

/// The map `value` (or `null`) with every value replaced by `""`.
fn redact_values(value: &RawValue, path: &'static str) -> Result<Option<String>, RedactError> {
    rewrite_nullable(value, path, |_, _| Ok(Some(empty_string())))
}

fn empty_string() -> String {
    "\"\"".to_owned()
}

/// Like [`rewrite_object`], but a `null` is kept as it is.
fn rewrite_nullable(
    value: &RawValue,
    path: &'static str,
    replace: impl FnMut(&str, &RawValue) -> Result<Option<String>, RedactError>,
) -> Result<Option<String>, RedactError> {
    if value.get().trim() == "null" {
        return Ok(None);
    }
    rewrite_object(value, path, replace)
}

/// The object `value` with each member's value replaced by what `replace` returns for it, or
/// `None` when `replace` replaced nothing.
fn rewrite_object(
    value: &RawValue,
    path: &'static str,
    replace: impl FnMut(&str, &RawValue) -> Result<Option<String>, RedactError>,
) -> Result<Option<String>, RedactError> {
    if !value.get().trim_start().starts_with('{') {
        return Err(RedactError::NotAnObject { path });
    }
    rewrite(value.get(), path, replace)
}

/// The JSON object `text` rebuilt with the values `replace` returns (untouched members copied
/// verbatim, in order), or `None` when `replace` replaced nothing.
fn rewrite(
    text: &str,
    path: &'static str,
    mut replace: impl FnMut(&str, &RawValue) -> Result<Option<String>, RedactError>,
) -> Result<Option<String>, RedactError> {
    let members = match serde_json::from_str::<Members<'_>>(text) {
        Ok(members) => members.0,
        Err(e) if e.is_data() => return Err(RedactError::NotAnObject { path }),
        Err(e) => return Err(RedactError::Json(e.to_string())),
    };
    let mut replaced = Vec::with_capacity(members.len());
    let mut any = false;
    for (key, value) in &members {
        let new = replace(key, value)?;
        any |= new.is_some();
        replaced.push(new);
    }
    if !any {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    out.push('{');
    for (i, ((key, value), new)) in members.iter().zip(replaced).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).map_err(|e| RedactError::Json(e.to_string()))?);
        out.push(':');
        out.push_str(new.as_deref().unwrap_or(value.get()));
    }
    out.push('}');
    Ok(Some(out))
}

/// The members of one JSON object in document order, values as their raw text.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;
    use proptest::prelude::*;
    use serde_json::Value;

    fn event(line: &str) -> WatchEvent {
        WatchEvent::parse(line.as_bytes().to_vec()).expect("valid event")
    }

    fn redacted(line: &str) -> String {
        let out = redact_secret(&event(line)).expect("redacted");
        String::from_utf8(out.raw().to_vec()).expect("utf8")
    }

    #[test]
    fn redacts_data_string_data_and_last_applied() {
        let last_applied = r#"{"apiVersion":"v1","data":{"password":"aHVudGVyMg=="},"kind":"Secret","metadata":{"annotations":{},"name":"db","namespace":"prod"},"stringData":{"token":"s3cr3t-t0ken"},"type":"Opaque"}\n"#;
        let line = format!(
            concat!(
                r#"{{"type":"ADDED","object":{{"kind":"Secret","apiVersion":"v1","metadata":{{"name":"db","namespace":"prod","uid":"0d4c","resourceVersion":"4711","creationTimestamp":"2024-05-01T10:00:00Z","#,
                r#""labels":{{"app":"db","tier":"backend"}},"annotations":{{"owner":"team-a","kubectl.kubernetes.io/last-applied-configuration":{la},"note":"a \"quoted\" \u00e9 note"}},"#,
                r#""managedFields":[{{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1","time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{{"f:data":{{".":{{}},"f:password":{{}},"f:username":{{}}}},"f:type":{{}}}}}}]}},"#,
                r#""data":{{"username":"YWRtaW4=","password":"aHVudGVyMg=="}},"stringData":{{"token":"s3cr3t-t0ken"}},"type":"Opaque"}}}}"#
            ),
            la = serde_json::to_string(last_applied).expect("string"),
        );
        let expected = concat!(
            r#"{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","namespace":"prod","uid":"0d4c","resourceVersion":"4711","creationTimestamp":"2024-05-01T10:00:00Z","#,
            r#""labels":{"app":"db","tier":"backend"},"annotations":{"owner":"team-a","kubectl.kubernetes.io/last-applied-configuration":"","note":"a \"quoted\" \u00e9 note"},"#,
            r#""managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1","time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:password":{},"f:username":{}},"f:type":{}}}]},"#,
            r#""data":{"username":"","password":""},"stringData":{"token":""},"type":"Opaque"}}"#
        );
        let input = event(&line);
        assert!(is_secret(&input));
        let out = redact_secret(&input).expect("redacted");
        assert_eq!(std::str::from_utf8(out.raw()).expect("utf8"), expected);
        assert_eq!(out.meta(), input.meta());
        for secret in ["YWRtaW4=", "aHVudGVyMg==", "s3cr3t-t0ken"] {
            assert!(!expected.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn redacts_deleted_secrets() {
        let line = r#"{"type":"DELETED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"tls","namespace":"ns"},"data":{"tls.crt":"Y2VydA==","tls.key":"a2V5"},"type":"kubernetes.io/tls"}}"#;
        let out = redact_secret(&event(line)).expect("redacted");
        assert_eq!(out.meta().event_type, EventType::Deleted);
        assert_eq!(
            out.raw(),
            br#"{"type":"DELETED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"tls","namespace":"ns"},"data":{"tls.crt":"","tls.key":""},"type":"kubernetes.io/tls"}}"#
        );
    }

    #[test]
    fn leaves_a_secret_without_values_as_it_is() {
        for line in [
            r#"{"type":"MODIFIED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"empty","annotations":{"a":"b"}},"type":"Opaque"}}"#,
            r#"{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"n","annotations":null},"data":null,"stringData":{}}}"#,
            "{ \"type\" : \"ADDED\" , \"object\" : { \"kind\" : \"Secret\", \"apiVersion\":\"v1\", \"metadata\" : {\"name\":\"w\"} } }",
        ] {
            assert_eq!(redacted(line), line);
        }
    }

    #[test]
    fn keeps_whitespace_of_untouched_members_and_decodes_keys() {
        let line = "{\"object\": {\"metadata\": {\"name\": \"s\"}, \"kind\":\"Secret\",\"apiVersion\":\"v1\", \"d\\u0061ta\": {\"k\\\"ey\": \"dmFs\"}}, \"type\": \"ADDED\"}";
        assert_eq!(
            redacted(line),
            r#"{"object":{"metadata":{"name": "s"},"kind":"Secret","apiVersion":"v1","data":{"k\"ey":""}},"type":"ADDED"}"#
        );
    }

    #[test]
    fn redacts_repeated_members() {
        let line = r#"{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"d"},"data":{"a":"Zmlyc3Q="},"data":{"a":"c2Vjb25k","a":"dGhpcmQ="}}}"#;
        assert_eq!(
            redacted(line),
            r#"{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"d"},"data":{"a":""},"data":{"a":"","a":""}}}"#
        );
    }

    #[test]
    fn only_core_v1_secrets_are_secrets() {
        let configmap = event(
            r#"{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c"},"data":{"k":"v"}}}"#,
        );
        assert!(!is_secret(&configmap));
        let other = event(
            r#"{"type":"ADDED","object":{"kind":"Secret","apiVersion":"example.com/v1","metadata":{"name":"s"}}}"#,
        );
        assert!(!is_secret(&other));
    }

    #[test]
    fn malformed_events_are_errors() {
        let err = |line: &str| redact_secret(&event(line)).expect_err(line);
        let secret = |rest: &str| {
            format!(
                r#"{{"type":"ADDED","object":{{"kind":"Secret","apiVersion":"v1","metadata":{{"name":"s"}}{rest}}}}}"#
            )
        };
        assert_eq!(
            err(&secret(r#","data":"c2VjcmV0""#)),
            RedactError::NotAnObject {
                path: "object.data"
            }
        );
        assert_eq!(
            err(&secret(r#","stringData":["x"]"#)),
            RedactError::NotAnObject {
                path: "object.stringData"
            }
        );
        assert!(matches!(
            err(
                r#"{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","annotations":7}}}"#
            ),
            RedactError::NotAnObject {
                path: "object.metadata.annotations"
            }
        ));
        // The head reader accepts events whose tail it does not read.
        for rest in [
            r#","data":{"a":tru}"#,
            r#","data":{"a":"x",}"#,
            r#","data":{"a":"x\q"}"#,
            r#","data":{"a":01}"#,
        ] {
            assert!(matches!(err(&secret(rest)), RedactError::Json(_)), "{rest}");
        }
        assert!(matches!(
            err(
                r#"{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"},"data":{"a":"x"}}"#
            ),
            RedactError::Json(_)
        ));
    }

    /// A compact Secret event with the given data, the members in the API server's order; with
    /// `redacted`, as [`redact_secret`] should return it.
    fn secret_line(
        data: &[(String, String)],
        string_data: &[(String, String)],
        redacted: bool,
    ) -> String {
        let json = |s: &str| serde_json::to_string(s).expect("string");
        let map = |pairs: &[(String, String)]| {
            let members: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", json(k), if redacted { json("") } else { json(v) }))
                .collect();
            format!("{{{}}}", members.join(","))
        };
        let last_applied = if redacted {
            String::new()
        } else {
            format!(
                r#"{{"apiVersion":"v1","data":{},"kind":"Secret","stringData":{}}}"#,
                map(data),
                map(string_data)
            )
        };
        format!(
            concat!(
                r#"{{"type":"MODIFIED","object":{{"kind":"Secret","apiVersion":"v1","metadata":{{"name":"p","namespace":"ns","#,
                r#""labels":{{"app":"p"}},"annotations":{{"z":"1","{la_key}":{la},"a":"2"}},"#,
                r#""managedFields":[{{"manager":"m","fieldsV1":{{"f:data":{{}}}}}}]}},"data":{data},"stringData":{sd},"type":"Opaque"}}}}"#
            ),
            la_key = LAST_APPLIED_ANNOTATION,
            la = json(&last_applied),
            data = map(data),
            sd = map(string_data),
        )
    }

    /// The event as JSON without what redaction may change.
    fn rest(line: &str) -> Value {
        let mut value: Value = serde_json::from_str(line).expect("json");
        let object = value["object"].as_object_mut().expect("object");
        object.remove("data");
        object.remove("stringData");
        value["object"]["metadata"]["annotations"]
            .as_object_mut()
            .expect("annotations")
            .remove(LAST_APPLIED_ANNOTATION);
        value
    }

    fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::btree_map(any::<String>(), any::<String>(), 0..6)
            .prop_map(|map| map.into_iter().collect())
    }

    proptest! {
        /// Whatever the data, the output is JSON with the same keys in the same order, every
        /// value and the last-applied annotation empty, no value left, and the rest unchanged.
        #[test]
        fn redacts_every_value_and_nothing_else(data in pairs(), string_data in pairs()) {
            let line = secret_line(&data, &string_data, false);
            let out = redact_secret(&event(&line)).expect("redacted");
            let out = std::str::from_utf8(out.raw()).expect("utf8");
            let parsed: Value = serde_json::from_str(out).expect("json");
            for (field, pairs) in [("data", &data), ("stringData", &string_data)] {
                let map = parsed["object"][field].as_object().expect("map");
                let mut keys: Vec<&String> = map.keys().collect();
                let mut expected: Vec<&String> = pairs.iter().map(|(k, _)| k).collect();
                keys.sort();
                expected.sort();
                prop_assert_eq!(keys, expected);
                prop_assert!(map.values().all(|v| v == ""));
            }
            prop_assert_eq!(
                &parsed["object"]["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
                ""
            );
            prop_assert_eq!(rest(out), rest(&line));
            // Byte for byte what the server would have sent with the values empty.
            let expected = secret_line(&data, &string_data, true);
            prop_assert_eq!(out, expected.as_str());
            // No value is left, in any form, unless it occurs elsewhere (e.g. in a key).
            for (_, value) in data.iter().chain(&string_data) {
                let escaped = serde_json::to_string(value).expect("string");
                let escaped = &escaped[1..escaped.len() - 1];
                if escaped.len() >= 4 && !expected.contains(escaped) {
                    prop_assert!(!out.contains(escaped), "{:?} leaked into {}", value, out);
                }
            }
        }
    }
}
