//! Writes over HTTP, for the resources that allow them ([`ResourceDef::http_writes`]): create
//! (POST to a collection), update (PUT of an object) and delete (DELETE of an object), with the
//! real server's optimistic concurrency, status codes and Status bodies. Each change is committed
//! like the test's own changes: at the next global resourceVersion, with its watch event.

use super::body::Body;
use super::handler::{
    authenticated, authorize, injected, json_response, route, status_response, take_failure, Resp,
    Target,
};
use super::json::{self, Members};
use super::resources::ResourceDef;
use super::status::Status;
use super::store::{self, EventType};
use super::{Shared, State};
use hyper::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;

/// Where `metadata` members go when the server adds them, after the last of these present: the
/// field order of the real server's `ObjectMeta`.
const BEFORE_NAMESPACE: &[&str] = &["name", "generateName"];
const BEFORE_UID: &[&str] = &["name", "generateName", "namespace", "selfLink"];
const BEFORE_RESOURCE_VERSION: &[&str] = &["name", "generateName", "namespace", "selfLink", "uid"];
const BEFORE_CREATION: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
];

/// POST, PUT or DELETE: authentication, injected faults, routing, then the verb.
pub fn respond(
    shared: &Arc<Shared>,
    state: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
    auth: Option<&str>,
) -> Resp {
    if !authenticated(state, auth) {
        return status_response(shared, &Status::unauthorized());
    }
    if let Some(code) = take_failure(state) {
        return injected(shared, code);
    }
    let target = match route(state, path) {
        Ok(target) => target,
        Err(status) => return status_response(shared, &status),
    };
    let owned = owned_object(&target);
    let done = match (method, target) {
        (&Method::POST, Target::Collection { def, namespace })
            if def.http_writes && namespace.is_some() == def.namespaced =>
        {
            create(state, def, namespace.as_deref(), body)
        }
        (
            &Method::PUT,
            Target::Object {
                def,
                namespace,
                name,
            },
        ) if def.http_writes => update(state, def, namespace.as_deref(), &name, body),
        (
            &Method::DELETE,
            Target::Object {
                def,
                namespace,
                name,
            },
        ) if def.http_writes => delete(state, def, namespace.as_deref(), &name, body),
        _ => Err(Status::method_not_allowed()),
    };
    if let (Ok((_, written)), Some(owned)) = (&done, owned) {
        record_owners(state, method, owned, query, written);
    }
    match done {
        Ok((code, mut body)) => {
            body.push(b'\n');
            json_response(shared, code, Body::full(body))
        }
        Err(status) => status_response(shared, &status),
    }
}

/// The object a write is about: its key for an object's path, or its resource for a
/// collection's (the created object's name is in the answer).
enum Owned {
    Object(String),
    Created(String),
}

fn owned_object(target: &Target) -> Option<Owned> {
    match target {
        Target::Collection { def, .. } => Some(Owned::Created(def.qualified())),
        Target::Object {
            def,
            namespace,
            name,
        } => Some(Owned::Object(super::ownership::key(
            &def.qualified(),
            namespace.as_deref(),
            name,
        ))),
        Target::Document(_) => None,
    }
}

/// The request's field manager now owns what it created or updated; a deleted object's owners
/// are forgotten.
fn record_owners(state: &mut State, method: &Method, owned: Owned, query: &str, written: &[u8]) {
    let Ok(object) = serde_json::from_slice::<serde_json::Value>(written) else {
        return;
    };
    let key = match owned {
        Owned::Object(key) => key,
        Owned::Created(resource) => {
            let metadata = &object["metadata"];
            let name = metadata["name"].as_str().unwrap_or_default();
            super::ownership::key(&resource, metadata["namespace"].as_str(), name)
        }
    };
    if method == Method::DELETE {
        state.owners.forget(&key);
    } else {
        state
            .owners
            .updated(&key, &super::ownership::manager(query), &object);
    }
}

/// What a write reads from a request body's `metadata`.
#[derive(Default)]
struct Meta {
    name: String,
    generate_name: String,
    namespace: Option<String>,
    uid: String,
    resource_version: String,
}

/// The request body: a JSON object of `def`'s kind, compacted to one line (watch streams are
/// line-framed), and its metadata.
fn parse_body(def: &ResourceDef, body: &[u8]) -> Result<(String, Meta), Status> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Status::bad_request("the request body is not UTF-8"))?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Status::bad_request(format!(
            "the request body is not a {} object: {e}",
            def.kind
        ))
    })?;
    if !value.is_object() {
        return Err(Status::bad_request(format!(
            "the request body is not a {} object",
            def.kind
        )));
    }
    let field = |key: &str| value.get(key).and_then(Value::as_str);
    if let Some(api_version) = field("apiVersion").filter(|v| *v != def.api_version()) {
        return Err(Status::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    if let Some(kind) = field("kind").filter(|k| *k != def.kind) {
        return Err(Status::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            def.kind
        )));
    }
    let metadata = &value["metadata"];
    let meta_field = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let meta = Meta {
        name: meta_field("name"),
        generate_name: meta_field("generateName"),
        namespace: metadata
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .map(str::to_owned),
        uid: meta_field("uid"),
        resource_version: meta_field("resourceVersion"),
    };
    Ok((json::compact(text), meta))
}

/// The namespace of the body must be the one of the path, or absent.
fn check_namespace(meta: &Meta, namespace: Option<&str>) -> Result<(), Status> {
    match (&meta.namespace, namespace) {
        (Some(given), Some(path)) if given != path => Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (Some(_), None) => Err(Status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// The object to store: `text` with the server's fields set (`namespace`, `uid` and
/// `creationTimestamp` when known, `resourceVersion`, and `kind`/`apiVersion` when missing),
/// everything else as the client sent it.
fn stamp(
    def: &ResourceDef,
    text: &str,
    name: &str,
    namespace: Option<&str>,
    uid: &str,
    rv: u64,
    created: Option<&str>,
) -> Result<Vec<u8>, Status> {
    let invalid = |e: String| Status::bad_request(e);
    let mut members = Members::parse(text).map_err(invalid)?;
    let meta_raw = members.get("metadata").unwrap_or("{}").to_owned();
    let mut meta = Members::parse(&meta_raw).map_err(invalid)?;
    meta.set("name", json::string(name), &[]);
    if let Some(namespace) = namespace {
        meta.set("namespace", json::string(namespace), BEFORE_NAMESPACE);
    }
    if !uid.is_empty() {
        meta.set("uid", json::string(uid), BEFORE_UID);
    }
    meta.set(
        "resourceVersion",
        json::string(&rv.to_string()),
        BEFORE_RESOURCE_VERSION,
    );
    if let Some(created) = created {
        meta.set("creationTimestamp", json::string(created), BEFORE_CREATION);
    }
    if def.crd {
        members.set_default("apiVersion", json::string(&def.api_version()), &[]);
        members.set_default("kind", json::string(def.kind), &["apiVersion"]);
    } else {
        members.set_default("kind", json::string(def.kind), &[]);
        members.set_default("apiVersion", json::string(&def.api_version()), &["kind"]);
    }
    members.set("metadata", meta.render(), &["kind", "apiVersion"]);
    Ok(members.render().into_bytes())
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Commits `raw` as `kind` of `def` and returns the stored bytes.
fn commit(state: &mut State, def: &'static ResourceDef, kind: EventType, raw: Vec<u8>) -> Vec<u8> {
    let obj = super::parse_object(def, raw);
    let stored = obj.raw.to_vec();
    super::commit(&mut state.world, def, kind, obj);
    stored
}

/// POST: 201 and the stored object, or 409 AlreadyExists.
pub(super) fn create(
    state: &mut State,
    def: &'static ResourceDef,
    namespace: Option<&str>,
    body: &[u8],
) -> Result<(StatusCode, Vec<u8>), Status> {
    if let Some(denied) = authorize(state, def, "create", namespace) {
        return Err(denied);
    }
    let (text, meta) = parse_body(def, body)?;
    check_namespace(&meta, namespace)?;
    let rv = state.world.resource_version() + 1;
    let name = if !meta.name.is_empty() {
        meta.name.clone()
    } else if !meta.generate_name.is_empty() {
        format!("{}{}", meta.generate_name, suffix(rv))
    } else {
        return Err(Status::name_required(def));
    };
    if meta.resource_version.parse::<u64>().is_ok_and(|rv| rv != 0) {
        return Err(Status::resource_version_on_create());
    }
    let key = store::key(namespace.unwrap_or_default(), &name);
    if state.world.current(def, &key).is_some() {
        return Err(Status::already_exists(def, &name));
    }
    let uid = format!("00000000-0000-4000-8000-{rv:012x}");
    let raw = stamp(def, &text, &name, namespace, &uid, rv, Some(&now_rfc3339()))?;
    Ok((
        StatusCode::CREATED,
        commit(state, def, EventType::Added, raw),
    ))
}

/// The five characters `generateName` gets, from the revision (the real ones are random).
fn suffix(rv: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = rv.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize];
            n /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}

/// PUT: 200 and the stored object; 409 Conflict when `metadata.resourceVersion` (if given) or
/// `metadata.uid` (if given) is not the stored one; 404 when there is no such object.
fn update(
    state: &mut State,
    def: &'static ResourceDef,
    namespace: Option<&str>,
    name: &str,
    body: &[u8],
) -> Result<(StatusCode, Vec<u8>), Status> {
    if let Some(denied) = authorize(state, def, "update", namespace) {
        return Err(denied);
    }
    let (text, meta) = parse_body(def, body)?;
    if meta.name != name {
        return Err(Status::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta.name
        )));
    }
    check_namespace(&meta, namespace)?;
    let key = store::key(namespace.unwrap_or_default(), name);
    let Some(current) = state.world.current(def, &key).cloned() else {
        return Err(Status::object_not_found(def, name));
    };
    if !meta.uid.is_empty() && meta.uid != current.uid {
        return Err(Status::conflict(
            def,
            name,
            &format!(
                "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                meta.uid, current.uid
            ),
        ));
    }
    if !meta.resource_version.is_empty() && meta.resource_version != current.resource_version {
        return Err(Status::conflict(
            def,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    let stored: Value = serde_json::from_slice(&current.raw).unwrap_or_default();
    let created = stored["metadata"]["creationTimestamp"].as_str();
    // An update that changes nothing is no change: same revision, no event.
    let current_rv = current.resource_version.parse::<u64>().unwrap_or(0);
    let unchanged = stamp(
        def,
        &text,
        name,
        namespace,
        &current.uid,
        current_rv,
        created,
    )?;
    if serde_json::from_slice::<Value>(&unchanged).ok().as_ref() == Some(&stored) {
        return Ok((StatusCode::OK, current.raw.to_vec()));
    }
    let rv = state.world.resource_version() + 1;
    let raw = stamp(def, &text, name, namespace, &current.uid, rv, created)?;
    Ok((StatusCode::OK, commit(state, def, EventType::Modified, raw)))
}

/// DELETE: 200 and a Success Status (the real server's answer for resources that do not return
/// the deleted object, such as ConfigMaps and Leases); watches get DELETED with the last state
/// at the new revision. The body may carry DeleteOptions with `preconditions`.
fn delete(
    state: &mut State,
    def: &'static ResourceDef,
    namespace: Option<&str>,
    name: &str,
    body: &[u8],
) -> Result<(StatusCode, Vec<u8>), Status> {
    if let Some(denied) = authorize(state, def, "delete", namespace) {
        return Err(denied);
    }
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Status::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let key = store::key(namespace.unwrap_or_default(), name);
    let Some(current) = state.world.current(def, &key).cloned() else {
        return Err(Status::object_not_found(def, name));
    };
    let precondition = |key: &str| options["preconditions"][key].as_str();
    if let Some(uid) = precondition("uid").filter(|uid| *uid != current.uid) {
        return Err(Status::conflict(
            def,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                current.uid
            ),
        ));
    }
    if let Some(rv) = precondition("resourceVersion").filter(|rv| *rv != current.resource_version) {
        return Err(Status::conflict(
            def,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                current.resource_version
            ),
        ));
    }
    let rv = state.world.resource_version() + 1;
    let raw = std::str::from_utf8(&current.raw)
        .map_err(|e| e.to_string())
        .and_then(|raw| json::with_resource_version(raw, rv))
        .map_err(|e| Status::internal_error(&e))?;
    commit(state, def, EventType::Deleted, raw.into_bytes());
    Ok((
        StatusCode::OK,
        Status::deleted(def, name, &current.uid).to_json(),
    ))
}
