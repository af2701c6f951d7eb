//! The query of a list or watch request (`ListOptions`), with label and field selectors.
//! Every error is a message for a 400 Status; nothing here panics on client input.

use super::json::with_resource_version;
use super::resources::ResourceDef;
use super::store::{event_line, Event, EventType, Obj};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Decodes `%XX` escapes and `+` (a space in a query).
pub fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("invalid escape in {text:?}"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("invalid UTF-8 in {text:?}"))
}

/// The decoded `name=value` pairs of a query string, in order.
pub fn pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

/// Go's `strconv.ParseBool`, which the real server uses for boolean parameters.
fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{name}: invalid boolean {value:?}")),
    }
}

fn parse_number(name: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{name}: invalid value {value:?}: must be a non-negative integer"))
}

/// The options of a list or watch.
#[derive(Debug, Default)]
pub struct ListOptions {
    pub watch: bool,
    /// `resourceVersion`, when given and not empty.
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub allow_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub timeout: Option<Duration>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl ListOptions {
    pub fn parse(query: &str) -> Result<ListOptions, String> {
        let mut opts = ListOptions::default();
        for (name, value) in pairs(query)? {
            match name.as_str() {
                "watch" => opts.watch = parse_bool(&name, &value)?,
                "resourceVersion" => opts.resource_version = Some(value).filter(|v| !v.is_empty()),
                "resourceVersionMatch" => {
                    opts.resource_version_match = Some(value).filter(|v| !v.is_empty())
                }
                "allowWatchBookmarks" => opts.allow_bookmarks = parse_bool(&name, &value)?,
                "sendInitialEvents" => opts.send_initial_events = Some(parse_bool(&name, &value)?),
                "timeoutSeconds" => {
                    opts.timeout = Some(Duration::from_secs(parse_number(&name, &value)?))
                }
                "limit" => {
                    let limit = parse_number(&name, &value)?;
                    // limit=0 means no limit, as on the real server.
                    opts.limit = usize::try_from(limit).ok().filter(|l| *l > 0);
                }
                "continue" => opts.continue_token = Some(value).filter(|v| !v.is_empty()),
                "labelSelector" => opts.labels = LabelSelector::parse(&value)?,
                "fieldSelector" => opts.fields = FieldSelector::parse(&value)?,
                // pretty, timeout, fieldValidation and the like change nothing here.
                _ => {}
            }
        }
        Ok(opts)
    }

    /// `resourceVersion` as a number; `None` when absent.
    pub fn resource_version_number(&self) -> Result<Option<u64>, String> {
        self.resource_version
            .as_deref()
            .map(|rv| {
                rv.parse::<u64>()
                    .map_err(|_| format!("invalid resource version: {rv:?}"))
            })
            .transpose()
    }
}

/// Does the query ask for a watch? Read before the full parse, to authorize the right verb.
pub fn is_watch(query: &str) -> bool {
    pairs(query).is_ok_and(|pairs| {
        pairs
            .iter()
            .any(|(name, value)| name == "watch" && parse_bool(name, value) == Ok(true))
    })
}

type Compare = fn(String, String) -> Requirement;
type SetCompare = fn(String, Vec<String>) -> Requirement;

#[derive(Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A label selector: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, joined
/// by commas (all must hold).
#[derive(Debug, Default)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        split_top_level(text)
            .into_iter()
            .map(str::trim)
            .filter(|term| !term.is_empty())
            .map(|term| {
                parse_requirement(term)
                    .map_err(|why| format!("unable to parse requirement: {term:?}: {why}"))
            })
            .collect::<Result<_, _>>()
            .map(LabelSelector)
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|req| match req {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        })
    }
}

/// Splits at commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(term: &str) -> Result<Requirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::NotExists(label_key(key.trim())?));
    }
    for (op, build) in [
        ("!=", Requirement::NotEquals as Compare),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((key, value)) = term.split_once(op) {
            return Ok(build(label_key(key.trim())?, label_value(value.trim())?));
        }
    }
    if let Some((key, rest)) = term.split_once(char::is_whitespace) {
        let rest = rest.trim_start();
        let (set, build): (&str, SetCompare) = if let Some(set) = rest.strip_prefix("notin") {
            (set, Requirement::NotIn)
        } else if let Some(set) = rest.strip_prefix("in") {
            (set, Requirement::In)
        } else {
            return Err(format!("unknown operator in {rest:?}"));
        };
        let inner = set
            .trim()
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or("expected a parenthesized set of values")?;
        let values = inner
            .split(',')
            .map(|v| label_value(v.trim()))
            .collect::<Result<_, _>>()?;
        return Ok(build(label_key(key)?, values));
    }
    Ok(Requirement::Exists(label_key(term)?))
}

fn label_key(key: &str) -> Result<String, String> {
    let valid = !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if valid {
        Ok(key.to_owned())
    } else {
        Err(format!("invalid label key {key:?}"))
    }
}

fn label_value(value: &str) -> Result<String, String> {
    let valid = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!("invalid label value {value:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Name,
    Namespace,
}

/// A field selector on `metadata.name` and `metadata.namespace` (`=`, `==`, `!=`).
#[derive(Debug, Default)]
pub struct FieldSelector(Vec<(Field, bool, String)>);

impl FieldSelector {
    pub fn parse(text: &str) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (key, equal, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid selector: {text:?}; can't understand {term:?}"
                ));
            };
            let field = match key.trim() {
                "metadata.name" => Field::Name,
                "metadata.namespace" => Field::Namespace,
                other => return Err(format!("field label not supported: {other}")),
            };
            terms.push((field, equal, value.trim().to_owned()));
        }
        Ok(FieldSelector(terms))
    }

    pub fn matches(&self, obj: &Obj) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let actual = match field {
                Field::Name => &obj.name,
                Field::Namespace => &obj.namespace,
            };
            (actual == value) == *equal
        })
    }
}

/// What one list or watch selects: a resource, maybe one namespace, label and field selectors.
pub struct Filter {
    pub def: &'static ResourceDef,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn has_selectors(&self) -> bool {
        !self.labels.0.is_empty() || !self.fields.0.is_empty()
    }

    pub fn matches(&self, obj: &Obj) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|ns| *ns == obj.namespace)
            && self.labels.matches(&obj.labels)
            && self.fields.matches(obj)
    }

    /// The line a watch with this filter gets for `event`, if any. Like the real watch cache: an
    /// object entering the selection arrives as ADDED, one leaving it as DELETED with its previous
    /// state at the event's resourceVersion. Otherwise the event's own bytes.
    pub fn render(&self, event: &Event) -> Option<Bytes> {
        if event.def.plural != self.def.plural {
            return None;
        }
        let now = self.matches(&event.obj);
        let before = event.prev.as_deref().filter(|prev| self.matches(prev));
        match (event.kind, before, now) {
            (EventType::Deleted, _, true) => Some(event.line.clone()),
            (EventType::Deleted, _, false) => None,
            (EventType::Modified, None, true) if event.prev.is_some() => {
                Some(event_line("ADDED", &event.obj.raw))
            }
            (_, _, true) => Some(event.line.clone()),
            (_, Some(prev), false) => {
                let rv = event.obj.resource_version.parse().unwrap_or(event.seq);
                let raw = std::str::from_utf8(&prev.raw)
                    .map_err(|e| e.to_string())
                    .and_then(|raw| with_resource_version(raw, rv))
                    .ok()?;
                Some(event_line("DELETED", raw.as_bytes()))
            }
            (_, None, false) => None,
        }
    }
}
