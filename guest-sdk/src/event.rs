//! One watch event as the handler sees it: the raw JSON plus lazy, typed views of it.

use std::cell::OnceCell;

use serde::Deserialize;

use crate::head::{EventHead, Fields};
use crate::Error;

/// A watch event, `{"type":"ADDED","object":{...}}`, exactly as the API server sent it.
///
/// Nothing is parsed until asked for. The accessors [`Event::kind`], [`Event::name`]... read only
/// the identity at the start of the event, once; [`Event::head`] and [`Event::label`] read the
/// whole of `object.metadata`, once; [`Event::parse`] and [`Event::object`] deserialize into the
/// author's own types.
pub struct Event<'a> {
    raw: &'a str,
    identity: OnceCell<Result<EventHead<'a>, String>>,
    head: OnceCell<Result<EventHead<'a>, String>>,
}

impl<'a> Event<'a> {
    /// Wraps the event JSON `raw`.
    pub fn new(raw: &'a str) -> Event<'a> {
        Event {
            raw,
            identity: OnceCell::new(),
            head: OnceCell::new(),
        }
    }

    /// Wraps the event JSON `bytes`, which must be UTF-8.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Event<'a>, Error> {
        std::str::from_utf8(bytes)
            .map(Event::new)
            .map_err(|e| Error::utf8("the event", e))
    }

    /// The event's JSON, byte for byte.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The event's head (type, kind, apiVersion, metadata identity and labels), read on first use.
    pub fn head(&self) -> Result<&EventHead<'a>, Error> {
        self.cached_head()
            .as_ref()
            .map_err(|message| Error::head(message.clone()))
    }

    fn cached_head(&self) -> &Result<EventHead<'a>, String> {
        self.head.get_or_init(|| read(self.raw, Fields::ALL))
    }

    /// The full head, or `None` if it is unreadable (without building an [`Error`]).
    fn head_ok(&self) -> Option<&EventHead<'a>> {
        self.cached_head().as_ref().ok()
    }

    /// The identity part of the head (no labels): the full head if already read, else the
    /// cheaper identity read.
    fn identity_ok(&self) -> Option<&EventHead<'a>> {
        let cached = match self.head.get() {
            Some(full) => full,
            None => self
                .identity
                .get_or_init(|| read(self.raw, Fields::IDENTITY)),
        };
        cached.as_ref().ok()
    }

    /// `type`: `ADDED`, `MODIFIED` or `DELETED`; `None` if absent or the head is unreadable.
    pub fn event_type(&self) -> Option<&str> {
        self.identity_ok()?.event_type.as_deref()
    }

    /// `object.kind`, e.g. `Pod`.
    pub fn kind(&self) -> Option<&str> {
        self.identity_ok()?.kind.as_deref()
    }

    /// `object.apiVersion`, e.g. `v1` or `apps/v1`.
    pub fn api_version(&self) -> Option<&str> {
        self.identity_ok()?.api_version.as_deref()
    }

    /// `object.metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.identity_ok()?.name.as_deref()
    }

    /// `object.metadata.namespace`; `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        self.identity_ok()?.namespace.as_deref()
    }

    /// The value of the label `key` in `object.metadata.labels`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.head_ok()?
            .labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Deserializes the whole event into `T`; declare only the fields you need, borrow strings.
    pub fn parse<T: Deserialize<'a>>(&self) -> Result<T, Error> {
        serde_json::from_str(self.raw).map_err(|e| Error::json("the event", e))
    }

    /// Deserializes only the event's `object` into `T`.
    pub fn object<T: Deserialize<'a>>(&self) -> Result<T, Error> {
        #[derive(Deserialize)]
        struct Wrapper<T> {
            object: T,
        }
        serde_json::from_str::<Wrapper<T>>(self.raw)
            .map(|wrapper| wrapper.object)
            .map_err(|e| Error::json("the event's object", e))
    }

    /// Parses the whole event into a [`serde_json::Value`]: convenient, but the slowest way.
    pub fn value(&self) -> Result<serde_json::Value, Error> {
        self.parse()
    }
}

fn read(raw: &str, fields: Fields) -> Result<EventHead<'_>, String> {
    EventHead::read_fields(raw.as_bytes(), fields).map_err(|error| error.to_string())
}

impl std::fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("type", &self.event_type())
            .field("kind", &self.kind())
            .field("namespace", &self.namespace())
            .field("name", &self.name())
            .field("len", &self.raw.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    const POD: &str = r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"shop","uid":"u-1","resourceVersion":"42","labels":{"app":"web","tier":"frontend"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]},"status":{"phase":"Running"}}}"#;

    #[test]
    fn head_accessors() {
        let event = Event::new(POD);
        assert_eq!(event.raw(), POD);
        assert_eq!(event.event_type(), Some("MODIFIED"));
        assert_eq!(event.kind(), Some("Pod"));
        assert_eq!(event.api_version(), Some("v1"));
        assert_eq!(event.name(), Some("web-1"));
        assert_eq!(event.namespace(), Some("shop"));
        assert_eq!(event.label("tier"), Some("frontend"));
        assert_eq!(event.label("missing"), None);
        let head = event.head().expect("a head");
        assert_eq!(head.uid.as_deref(), Some("u-1"));
        assert_eq!(head.resource_version.as_deref(), Some("42"));
        // Read once, then cached.
        assert!(std::ptr::eq(head, event.head().expect("a head")));
    }

    #[test]
    fn missing_fields_are_none() {
        let event = Event::new(r#"{"type":"ADDED","object":{"metadata":{}}}"#);
        assert_eq!(event.event_type(), Some("ADDED"));
        assert_eq!(event.kind(), None);
        assert_eq!(event.name(), None);
        assert_eq!(event.namespace(), None);
    }

    #[test]
    fn unreadable_head_is_an_error_and_accessors_are_none() {
        let event = Event::new("not json");
        let error = event.head().expect_err("not JSON");
        assert!(error
            .to_string()
            .starts_with("cannot read the event's head"));
        assert_eq!(event.kind(), None);
        assert_eq!(event.name(), None);
        assert!(event.value().is_err());
    }

    #[test]
    fn from_bytes_checks_utf8() {
        assert_eq!(
            Event::from_bytes(POD.as_bytes()).map(|e| e.raw()).ok(),
            Some(POD)
        );
        let error = Event::from_bytes(b"{\"type\":\"\xff\"}").expect_err("not UTF-8");
        assert!(error
            .to_string()
            .starts_with("the event is not valid UTF-8"));
    }

    #[test]
    fn parse_into_own_types_borrowing() {
        #[derive(Deserialize)]
        struct Watch<'a> {
            #[serde(rename = "type")]
            event_type: &'a str,
            #[serde(borrow)]
            object: Obj<'a>,
        }
        #[derive(Deserialize)]
        struct Obj<'a> {
            #[serde(borrow)]
            status: Status<'a>,
        }
        #[derive(Deserialize)]
        struct Status<'a> {
            #[serde(borrow)]
            phase: Cow<'a, str>,
        }
        let event = Event::new(POD);
        let watch: Watch<'_> = event.parse().expect("parses");
        assert_eq!(watch.event_type, "MODIFIED");
        assert!(matches!(
            watch.object.status.phase,
            Cow::Borrowed("Running")
        ));
    }

    #[test]
    fn object_only() {
        #[derive(Deserialize)]
        struct Pod {
            spec: Spec,
        }
        #[derive(Deserialize)]
        struct Spec {
            containers: Vec<Container>,
        }
        #[derive(Deserialize)]
        struct Container {
            image: String,
        }
        let pod: Pod = Event::new(POD).object().expect("parses");
        assert_eq!(pod.spec.containers[0].image, "nginx:1.27");

        let error = Event::new(r#"{"type":"ADDED"}"#)
            .object::<Pod>()
            .err()
            .expect("no object");
        assert!(
            error.to_string().contains("missing field `object`"),
            "{error}"
        );
    }

    #[test]
    fn value() {
        let value = Event::new(POD).value().expect("parses");
        assert_eq!(value["object"]["metadata"]["labels"]["app"], "web");
    }
}
