//! One watch event: the server's bytes, kept as they came, plus the identity the host needs.
//!
//! The host never re-serializes an event. [`WatchEvent::parse`] reads only the identity at the
//! head of the JSON (type, kind, apiVersion, name, namespace, uid, resourceVersion) and keeps the
//! original bytes, which every plugin receives. Labels are read on demand.

use bytes::Bytes;
use event_controller_guest::head::{EventHead, Fields, HeadError, Labels};
use std::fmt;
use std::sync::Arc;

/// The `type` of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The object was created (or listed at start).
    Added,
    /// The object changed.
    Modified,
    /// The object was deleted; the event carries its last state.
    Deleted,
    /// A progress marker carrying only a resourceVersion; never passed to plugins.
    Bookmark,
    /// An error from the server (e.g. 410 Gone) carrying a `Status`; never passed to plugins.
    Error,
}

impl EventType {
    /// The name as the API server writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
            EventType::Bookmark => "BOOKMARK",
            EventType::Error => "ERROR",
        }
    }

    fn parse(name: &str) -> Option<EventType> {
        Some(match name {
            "ADDED" => EventType::Added,
            "MODIFIED" => EventType::Modified,
            "DELETED" => EventType::Deleted,
            "BOOKMARK" => EventType::Bookmark,
            "ERROR" => EventType::Error,
            _ => return None,
        })
    }

    /// True for the types plugins receive: ADDED, MODIFIED and DELETED.
    pub fn is_object_change(self) -> bool {
        matches!(
            self,
            EventType::Added | EventType::Modified | EventType::Deleted
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a line or message is not a usable watch event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// The JSON is malformed or truncated where the host reads it.
    #[error("malformed watch event: {0}")]
    Malformed(HeadError),
    /// The event could not be parsed as a whole (only where the host must rebuild it).
    #[error("malformed watch event: {0}")]
    Json(String),
    /// The event is not UTF-8 (JSON must be).
    #[error("malformed watch event: not valid UTF-8")]
    NotUtf8,
    /// No `type` field.
    #[error("watch event has no \"type\"")]
    MissingType,
    /// A `type` the API does not define.
    #[error("watch event has unknown type {0:?}")]
    UnknownType(String),
    /// An object change without `object.kind` or `object.metadata.name`.
    #[error("{event_type} event has no object.{field}")]
    MissingField {
        /// The event's type.
        event_type: EventType,
        /// The missing field, e.g. `metadata.name`.
        field: &'static str,
    },
}

/// The identity of an event's object, read once from the head of its JSON.
///
/// Its six strings share one allocation: an event's identity is made on the source's thread
/// and dropped on a plugin's, and every allocation crossing threads costs both.
#[derive(Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// The event's type.
    pub event_type: EventType,
    /// The fields' text back to back, in [`Field`] order.
    text: Box<str>,
    /// Where each field ends in `text`.
    ends: [u32; FIELDS],
    /// Bit `1 << field` is set for each field present (an empty one included): an optional
    /// field's absence is not its emptiness.
    present: u8,
}

/// The identity's fields, in their order in [`EventMeta`]'s text.
#[derive(Clone, Copy)]
enum Field {
    Kind,
    Name,
    ApiVersion,
    Namespace,
    Uid,
    ResourceVersion,
}

const FIELDS: usize = 6;

/// The fields of an [`EventMeta`], borrowed, to build one from.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetaFields<'a> {
    /// `object.kind` (empty only for BOOKMARK/ERROR events without one).
    pub kind: &'a str,
    /// `object.metadata.name` (empty only for BOOKMARK/ERROR events).
    pub name: &'a str,
    /// `object.apiVersion` (empty when absent).
    pub api_version: &'a str,
    /// `object.metadata.namespace`; `None` for cluster-scoped objects.
    pub namespace: Option<&'a str>,
    /// `object.metadata.uid`.
    pub uid: Option<&'a str>,
    /// `object.metadata.resourceVersion`.
    pub resource_version: Option<&'a str>,
}

impl EventMeta {
    /// An identity of these fields.
    pub fn new(event_type: EventType, fields: MetaFields<'_>) -> EventMeta {
        let values = [
            Some(fields.kind),
            Some(fields.name),
            Some(fields.api_version),
            fields.namespace,
            fields.uid,
            fields.resource_version,
        ];
        let mut text = String::with_capacity(values.iter().flatten().map(|v| v.len()).sum());
        let mut ends = [0; FIELDS];
        let mut present = 0;
        for (index, value) in values.iter().enumerate() {
            if let Some(value) = value {
                text.push_str(value);
                present |= 1 << index;
            }
            // Kubernetes caps an object's metadata far below 4 GiB; a longer identity is cut.
            ends[index] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        EventMeta {
            event_type,
            text: text.into_boxed_str(),
            ends,
            present,
        }
    }

    fn from_head(head: EventHead<'_>) -> Result<EventMeta, EventError> {
        let type_name = head.event_type.ok_or(EventError::MissingType)?;
        let event_type = EventType::parse(&type_name)
            .ok_or_else(|| EventError::UnknownType(type_name.into_owned()))?;
        let require = |present: bool, field| match present || !event_type.is_object_change() {
            true => Ok(()),
            false => Err(EventError::MissingField { event_type, field }),
        };
        require(head.kind.is_some(), "kind")?;
        require(head.name.is_some(), "metadata.name")?;
        Ok(EventMeta::new(
            event_type,
            MetaFields {
                kind: head.kind.as_deref().unwrap_or_default(),
                name: head.name.as_deref().unwrap_or_default(),
                api_version: head.api_version.as_deref().unwrap_or_default(),
                namespace: head.namespace.as_deref(),
                uid: head.uid.as_deref(),
                resource_version: head.resource_version.as_deref(),
            },
        ))
    }

    /// The key that identifies the object across its events: its uid, or `namespace/name`
    /// for objects without one.
    pub fn key(&self) -> String {
        self.uid().map_or_else(|| self.object_ref(), str::to_owned)
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub fn object_ref(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{ns}/{}", self.name()),
            None => self.name().to_owned(),
        }
    }

    fn field(&self, field: Field) -> Option<&str> {
        let index = field as usize;
        if self.present & (1 << index) == 0 {
            return None;
        }
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]) as usize;
        self.text.get(start..self.ends[index] as usize)
    }

    /// `object.kind` (empty only for BOOKMARK/ERROR events without one).
    pub fn kind(&self) -> &str {
        self.field(Field::Kind).unwrap_or_default()
    }

    /// `object.metadata.name` (empty only for BOOKMARK/ERROR events).
    pub fn name(&self) -> &str {
        self.field(Field::Name).unwrap_or_default()
    }

    /// `object.apiVersion` (empty when absent).
    pub fn api_version(&self) -> &str {
        self.field(Field::ApiVersion).unwrap_or_default()
    }

    /// `object.metadata.namespace`; `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        self.field(Field::Namespace)
    }

    /// `object.metadata.uid`.
    pub fn uid(&self) -> Option<&str> {
        self.field(Field::Uid)
    }

    /// `object.metadata.resourceVersion`.
    pub fn resource_version(&self) -> Option<&str> {
        self.field(Field::ResourceVersion)
    }

    /// The same identity with another type.
    pub fn with_type(&self, event_type: EventType) -> EventMeta {
        EventMeta {
            event_type,
            ..self.clone()
        }
    }

    fn fields(&self) -> MetaFields<'_> {
        MetaFields {
            kind: self.kind(),
            name: self.name(),
            api_version: self.api_version(),
            namespace: self.namespace(),
            uid: self.uid(),
            resource_version: self.resource_version(),
        }
    }
}

impl fmt::Debug for EventMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = self.fields();
        f.debug_struct("EventMeta")
            .field("event_type", &self.event_type)
            .field("api_version", &fields.api_version)
            .field("kind", &fields.kind)
            .field("namespace", &fields.namespace)
            .field("name", &fields.name)
            .field("uid", &fields.uid)
            .field("resource_version", &fields.resource_version)
            .finish()
    }
}

/// One watch event: the exact bytes the server sent and their identity. Cloning shares both
/// (the dispatcher hands one clone to each plugin's worker).
#[derive(Debug, Clone)]
pub struct WatchEvent {
    raw: Bytes,
    meta: Arc<EventMeta>,
}

impl WatchEvent {
    /// Reads the identity of one watch event (one line of a watch stream, without its newline).
    pub fn parse(raw: impl Into<Bytes>) -> Result<WatchEvent, EventError> {
        let raw = raw.into();
        if simdutf8::basic::from_utf8(&raw).is_err() {
            return Err(EventError::NotUtf8);
        }
        let head = EventHead::read_fields(&raw, Fields::IDENTITY).map_err(EventError::Malformed)?;
        let meta = Arc::new(EventMeta::from_head(head)?);
        Ok(WatchEvent { raw, meta })
    }

    /// The bytes exactly as the server sent them.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The event's identity.
    pub fn meta(&self) -> &EventMeta {
        &self.meta
    }

    /// The event's identity, to share with what outlives the event.
    pub fn shared_meta(&self) -> &Arc<EventMeta> {
        &self.meta
    }

    /// The same event with another `type`, for the events a source synthesizes (an ADDED seen
    /// again after a relist becomes MODIFIED). The object's bytes are kept as they are: when the
    /// event starts with `{"type":"` (the API server's order) only the type's value is replaced;
    /// otherwise the event is rebuilt as `{"type":..,"object":<the object's bytes>}`. An event
    /// that has the type already is shared, not copied.
    pub fn with_type(&self, event_type: EventType) -> Result<WatchEvent, EventError> {
        if self.meta.event_type == event_type {
            return Ok(self.clone());
        }
        let raw = retyped(&self.raw, event_type)?;
        let meta = Arc::new(self.meta.with_type(event_type));
        Ok(WatchEvent { raw, meta })
    }

    /// The bytes of the event's `object`, sharing the event's buffer when the event has the API
    /// server's shape (`{"type":"..","object":{..}}`).
    pub fn object_bytes(&self) -> Result<Bytes, EventError> {
        const OBJECT_KEY: &[u8] = br#"","object":"#;
        let raw = &self.raw;
        let fast = raw.strip_prefix(br#"{"type":""#).and_then(|rest| {
            let type_end = rest.iter().position(|&b| b == b'"')?;
            let object = rest[type_end..].strip_prefix(OBJECT_KEY)?;
            let end = object.iter().rposition(|&b| b == b'}')?;
            let start = raw.len() - object.len();
            Some(raw.slice(start..start + end))
        });
        match fast {
            Some(object) => Ok(object),
            None => Ok(Bytes::copy_from_slice(raw_object(raw)?.get().as_bytes())),
        }
    }

    /// `object.metadata.labels`, in document order, read from the bytes on each call.
    pub fn labels(&self) -> Result<Labels<'_>, EventError> {
        let head = EventHead::read_fields(&self.raw, Fields::LABELS.union(Fields::TYPE))
            .map_err(EventError::Malformed)?;
        Ok(head.labels)
    }
}

/// `raw` with its `type` replaced; see [`WatchEvent::with_type`].
fn retyped(raw: &[u8], event_type: EventType) -> Result<Bytes, EventError> {
    const PREFIX: &[u8] = br#"{"type":""#;
    let new_type = event_type.as_str().as_bytes();
    if let Some(rest) = raw.strip_prefix(PREFIX) {
        // Type names have no escapes: the value ends at the next quote.
        if let Some(end) = rest.iter().position(|&b| b == b'"') {
            let mut out = Vec::with_capacity(raw.len() + 8);
            out.extend_from_slice(PREFIX);
            out.extend_from_slice(new_type);
            out.extend_from_slice(&rest[end..]);
            return Ok(out.into());
        }
    }
    Ok(event_bytes(event_type, raw_object(raw)?.get().as_bytes()))
}

/// The event's `object`, found by parsing the whole event.
fn raw_object(raw: &[u8]) -> Result<&serde_json::value::RawValue, EventError> {
    #[derive(serde::Deserialize)]
    struct Object<'a> {
        #[serde(borrow)]
        object: &'a serde_json::value::RawValue,
    }
    serde_json::from_slice::<Object<'_>>(raw)
        .map(|parsed| parsed.object)
        .map_err(|e| EventError::Json(e.to_string()))
}

/// `{"type":"TYPE","object":OBJECT}` around the bytes of one object.
pub fn event_bytes(event_type: EventType, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(event_type.as_str().as_bytes());
    out.extend_from_slice(br#"","object":"#);
    out.extend_from_slice(object);
    out.push(b'}');
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_bytes_and_reads_identity() {
        let line = br#"{"type":"DELETED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","uid":"u","resourceVersion":"9"}}}"#;
        let event = WatchEvent::parse(line.to_vec()).expect("valid");
        assert_eq!(event.raw(), line);
        let meta = event.meta();
        assert_eq!(meta.event_type, EventType::Deleted);
        assert_eq!(meta.object_ref(), "ns/a");
        assert_eq!(meta.resource_version(), Some("9"));
        assert!(event.labels().expect("readable").is_empty());
    }

    #[test]
    fn identity_fields_share_one_text_and_keep_absent_apart_from_empty() {
        let fields = MetaFields {
            kind: "Pod",
            name: "web-1",
            api_version: "v1",
            namespace: Some(""),
            uid: None,
            resource_version: Some("42"),
        };
        let meta = EventMeta::new(EventType::Added, fields);
        assert_eq!(
            (meta.kind(), meta.name(), meta.api_version()),
            ("Pod", "web-1", "v1")
        );
        assert_eq!(meta.namespace(), Some(""), "empty, but present");
        assert_eq!(meta.uid(), None);
        assert_eq!(meta.resource_version(), Some("42"));
        let deleted = meta.with_type(EventType::Deleted);
        assert_eq!(deleted.event_type, EventType::Deleted);
        assert_eq!(deleted.fields().name, "web-1");
        assert_ne!(deleted, meta);
        let none = EventMeta::new(EventType::Bookmark, MetaFields::default());
        assert_eq!((none.kind(), none.namespace()), ("", None));
        assert_eq!(
            format!("{meta:?}"),
            r#"EventMeta { event_type: Added, api_version: "v1", kind: "Pod", namespace: Some(""), name: "web-1", uid: None, resource_version: Some("42") }"#
        );
    }

    #[test]
    fn reads_labels_on_demand() {
        let line = br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","labels":{"app":"web"}}}}"#;
        let event = WatchEvent::parse(line.to_vec()).expect("valid");
        let labels = event.labels().expect("readable");
        assert_eq!(
            labels,
            [(
                std::borrow::Cow::Borrowed("app"),
                std::borrow::Cow::Borrowed("web")
            )]
        );
    }

    #[test]
    fn rejects_what_is_not_an_event() {
        let err = |s: &str| WatchEvent::parse(s.as_bytes().to_vec()).expect_err(s);
        assert_eq!(err(r#"{"object":{}}"#), EventError::MissingType);
        assert_eq!(
            err(r#"{"type":"CHANGED","object":{}}"#),
            EventError::UnknownType("CHANGED".into())
        );
        assert!(matches!(
            err(r#"{"type":"ADDED","object":{"kind":"Pod","metadata":{}}}"#),
            EventError::MissingField {
                field: "metadata.name",
                ..
            }
        ));
        assert!(matches!(err("{\"type\":"), EventError::Malformed(_)));
        assert_eq!(
            WatchEvent::parse(vec![b'{', 0xff, b'}']).expect_err("utf8"),
            EventError::NotUtf8
        );
    }

    #[test]
    fn retypes_in_place_or_by_rebuilding() {
        let line = br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"},"spec":{"x":"\u00e9"}}}"#;
        let event = WatchEvent::parse(line.to_vec()).expect("valid");
        let modified = event.with_type(EventType::Modified).expect("retyped");
        assert_eq!(modified.meta().event_type, EventType::Modified);
        assert_eq!(
            modified.raw(),
            br#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"},"spec":{"x":"\u00e9"}}}"#
        );
        let reordered = br#"{ "object": {"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"}}, "type": "ADDED" }"#;
        let event = WatchEvent::parse(reordered.to_vec()).expect("valid");
        let deleted = event.with_type(EventType::Deleted).expect("rebuilt");
        assert_eq!(
            deleted.raw(),
            br#"{"type":"DELETED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"}}}"#
        );
        assert!(WatchEvent::parse(deleted.raw().to_vec()).is_ok());
    }

    #[test]
    fn finds_the_object_bytes() {
        let object = br#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"}}"#;
        for line in [
            event_bytes(EventType::Added, object),
            Bytes::from(format!(
                "{{ \"object\" : {} , \"type\" : \"ADDED\" }}",
                std::str::from_utf8(object).expect("utf8")
            )),
        ] {
            let event = WatchEvent::parse(line).expect("valid");
            assert_eq!(event.object_bytes().expect("object"), &object[..]);
        }
    }

    #[test]
    fn bookmarks_need_no_name() {
        let line = br#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}}"#;
        let event = WatchEvent::parse(line.to_vec()).expect("valid");
        assert_eq!(event.meta().event_type, EventType::Bookmark);
        assert!(!event.meta().event_type.is_object_change());
    }
}
