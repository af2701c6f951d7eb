//! The head of a watch event: its `type`, `object.kind`/`apiVersion` and `object.metadata` identity.
//!
//! PLACEHOLDER: this naive version parses the whole event with `serde_json`; it is replaced by a
//! reader that stops after `metadata`.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// The identifying fields of a watch event, borrowed from the event's JSON where possible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventHead<'a> {
    /// `type`: `ADDED`, `MODIFIED` or `DELETED`.
    pub event_type: Option<Cow<'a, str>>,
    /// `object.apiVersion`.
    pub api_version: Option<Cow<'a, str>>,
    /// `object.kind`.
    pub kind: Option<Cow<'a, str>>,
    /// `object.metadata.name`.
    pub name: Option<Cow<'a, str>>,
    /// `object.metadata.namespace`.
    pub namespace: Option<Cow<'a, str>>,
    /// `object.metadata.uid`.
    pub uid: Option<Cow<'a, str>>,
    /// `object.metadata.resourceVersion`.
    pub resource_version: Option<Cow<'a, str>>,
    /// `object.metadata.labels`.
    pub labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> EventHead<'a> {
    /// Reads the head of the watch event `json`.
    pub fn read(json: &'a [u8]) -> Result<EventHead<'a>, HeadError> {
        let value: Value = serde_json::from_slice(json).map_err(|e| HeadError(e.to_string()))?;
        let Value::Object(event) = value else {
            return Err(HeadError("the event is not a JSON object".into()));
        };
        let string = |v: Option<&Value>| -> Option<Cow<'a, str>> {
            v.and_then(Value::as_str).map(|s| Cow::Owned(s.to_owned()))
        };
        let object = event.get("object");
        let metadata = object.and_then(|o| o.get("metadata"));
        let field = |name: &str| string(metadata.and_then(|m| m.get(name)));
        let labels = metadata
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((Cow::Owned(k.clone()), Cow::Owned(v.as_str()?.to_owned())))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(EventHead {
            event_type: string(event.get("type")),
            api_version: string(object.and_then(|o| o.get("apiVersion"))),
            kind: string(object.and_then(|o| o.get("kind"))),
            name: field("name"),
            namespace: field("namespace"),
            uid: field("uid"),
            resource_version: field("resourceVersion"),
            labels,
        })
    }
}

/// Why the head of an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError(String);

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HeadError {}
