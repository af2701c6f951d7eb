//! One HTTP request: authentication, injected faults, routing, discovery, list and get. Watches
//! are handed to [`super::watch`], creates, updates and deletes to [`super::write`].

use super::body::Body;
use super::json;
use super::query::{self, Filter, ListOptions};
use super::resources::{self, ResourceDef, Visible};
use super::status::{Status, STORAGE_INITIALIZING_429};
use super::store::{self, Obj, World};
use super::{ownership, watch, write, Request, Shared, State};
use bytes::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub type Resp = Response<Body>;

/// The hyper service: records the request, then answers it.
pub async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let auth = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method = req.method().clone();
    let apply = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/apply-patch"));
    let writes = [Method::POST, Method::PUT, Method::DELETE].contains(&method);
    // Only writes have a body worth reading.
    let body = if method == Method::PATCH || writes {
        use http_body_util::BodyExt;
        req.into_body()
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default()
    } else {
        Bytes::new()
    };
    // A stalled server answers nothing until it is resumed.
    let _ = shared
        .stalled
        .subscribe()
        .wait_for(|stalled| !stalled)
        .await;
    let mut state = shared.lock();
    state.requests.push(Request {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
    });
    if writes {
        return Ok(write::respond(
            &shared,
            &mut state,
            &method,
            &path,
            &query,
            &body,
            auth.as_deref(),
        ));
    }
    if method == Method::PATCH {
        return Ok(patch_request(
            &shared,
            &mut state,
            &path,
            &query,
            &body,
            auth.as_deref(),
            apply,
        ));
    }
    Ok(respond(
        &shared,
        &mut state,
        &method,
        &path,
        &query,
        auth.as_deref(),
    ))
}

/// PATCH of one object with a JSON merge patch (RFC 7386): the object changes at a new
/// resourceVersion, open watches get a MODIFIED event, and the answer is the new object. The
/// object is re-serialized (keys sorted), unlike objects given by the tests.
///
/// A server-side apply (`application/apply-patch+yaml`, here with a JSON body) of an object
/// that does not exist creates it (201, when the resource takes HTTP writes); of one that does,
/// merges the applied fields in like a merge patch, unless it would change a field another
/// field manager owns and is not forced: then 409, naming them ([`super::ownership`]).
fn patch_request(
    shared: &Arc<Shared>,
    state: &mut State,
    path: &str,
    query: &str,
    patch: &[u8],
    auth: Option<&str>,
    apply: bool,
) -> Resp {
    if !authenticated(state, auth) {
        return status_response(shared, &Status::unauthorized());
    }
    let Ok(Target::Object {
        def,
        namespace,
        name,
    }) = route(state, path)
    else {
        return status_response(shared, &Status::method_not_allowed());
    };
    if let Some(denied) = authorize(state, def, "patch", namespace.as_deref()) {
        return status_response(shared, &denied);
    }
    let key = store::key(namespace.as_deref().unwrap_or_default(), &name);
    let owned = ownership::key(&def.qualified(), namespace.as_deref(), &name);
    let manager = ownership::manager(query);
    let Some(current) = state.world.current(def, &key).cloned() else {
        if apply && def.http_writes {
            return match super::write::create(state, def, namespace.as_deref(), patch) {
                Ok((code, mut body)) => {
                    if let Ok(applied) = serde_json::from_slice(patch) {
                        state.owners.applied(&owned, &manager, &applied);
                    }
                    body.push(b'\n');
                    json_response(shared, code, Body::full(body))
                }
                Err(status) => status_response(shared, &status),
            };
        }
        return status_response(shared, &Status::object_not_found(def, &name));
    };
    let (Ok(mut object), Ok(patch)) = (
        serde_json::from_slice::<serde_json::Value>(&current.raw),
        serde_json::from_slice::<serde_json::Value>(patch),
    ) else {
        return status_response(shared, &Status::bad_request("the patch is not JSON"));
    };
    if apply && !ownership::forced(query) {
        if let Some(conflict) = state
            .owners
            .apply_conflict(&owned, &manager, &object, &patch)
        {
            return status_response(shared, &Status::apply_conflict(def, &name, conflict));
        }
    }
    if apply {
        state.owners.applied(&owned, &manager, &patch);
    } else {
        state.owners.updated(&owned, &manager, &patch);
    }
    merge_patch(&mut object, &patch);
    let rv = state.world.resource_version() + 1;
    let prepared = super::prepare_object(def, &object.to_string(), rv, Some(&current.uid));
    let obj = super::parse_object(def, prepared);
    let raw = obj.raw.clone();
    super::commit(&mut state.world, def, store::EventType::Modified, obj);
    let mut body = raw.to_vec();
    body.push(b'\n');
    json_response(shared, StatusCode::OK, Body::full(body))
}

/// RFC 7386: objects merge member by member, `null` removes, anything else replaces.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(object) = target {
        for (key, value) in members {
            if value.is_null() {
                object.remove(key);
            } else {
                merge_patch(
                    object.entry(key.clone()).or_insert(serde_json::Value::Null),
                    value,
                );
            }
        }
    }
}

fn respond(
    shared: &Arc<Shared>,
    state: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    auth: Option<&str>,
) -> Resp {
    if !authenticated(state, auth) {
        return status_response(shared, &Status::unauthorized());
    }
    if let Some(code) = take_failure(state) {
        return injected(shared, code);
    }
    if method != Method::GET {
        return status_response(shared, &Status::method_not_allowed());
    }
    match route(state, path) {
        Err(status) => status_response(shared, &status),
        Ok(Target::Document(body)) => json_response(shared, StatusCode::OK, Body::full(body)),
        Ok(Target::Object {
            def,
            namespace,
            name,
        }) => get(shared, state, def, namespace, &name),
        Ok(Target::Collection { def, namespace }) => {
            collection(shared, state, def, namespace, query)
        }
    }
}

pub(super) fn authenticated(state: &State, auth: Option<&str>) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    auth.and_then(|header| header.split_once(' '))
        .is_some_and(|(scheme, given)| {
            scheme.eq_ignore_ascii_case("bearer") && given.trim() == token
        })
}

/// The 403 for `verb` on `def`, if the resource is denied.
pub(super) fn authorize(
    state: &State,
    def: &ResourceDef,
    verb: &str,
    namespace: Option<&str>,
) -> Option<Status> {
    state
        .denied
        .contains(def.plural)
        .then(|| Status::forbidden(&state.user, verb, def, namespace))
}

/// The code of the injected failure this request gets, if any: the next of
/// [`fail_next_requests`](super::ApiServer::fail_next_requests), else the one of
/// [`fail_all_requests`](super::ApiServer::fail_all_requests).
pub(super) fn take_failure(state: &mut State) -> Option<u16> {
    state.failures.pop_front().or(state.failing)
}

pub(super) fn injected(shared: &Shared, code: u16) -> Resp {
    if code == 429 {
        too_many_requests(shared)
    } else {
        status_response(shared, &Status::for_code(code))
    }
}

// --- routing ---

pub(super) enum Target {
    Document(Vec<u8>),
    Collection {
        def: &'static ResourceDef,
        namespace: Option<String>,
    },
    Object {
        def: &'static ResourceDef,
        namespace: Option<String>,
        name: String,
    },
}

pub(super) fn route(state: &State, path: &str) -> Result<Target, Status> {
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(query::percent_decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(Status::bad_request)?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let visible = Visible {
        routes: state.routes_installed,
        leases: state.leases,
        policies: state.policies,
    };
    let document =
        |doc: Option<Vec<u8>>| doc.map(Target::Document).ok_or_else(Status::path_not_found);
    match segments.as_slice() {
        ["version"] => Ok(Target::Document(resources::version())),
        ["api"] => Ok(Target::Document(resources::api_versions(
            &state.server_address,
        ))),
        ["api", "v1"] => document(resources::resource_list(visible, "", "v1")),
        ["api", "v1", rest @ ..] => resource_path(visible, "", "v1", rest),
        ["apis"] => Ok(Target::Document(resources::group_list(visible))),
        ["apis", group] => document(resources::group(visible, group)),
        ["apis", group, version] => document(resources::resource_list(visible, group, version)),
        ["apis", group, version, rest @ ..] => resource_path(visible, group, version, rest),
        _ => Err(Status::path_not_found()),
    }
}

/// `{plural}`, `{plural}/{name}`, `namespaces/{ns}/{plural}`, `namespaces/{ns}/{plural}/{name}`.
fn resource_path(
    visible: Visible,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Target, Status> {
    let find = |plural: &str, namespaced: bool| {
        visible
            .find(group, version, plural)
            .filter(|def| def.namespaced == namespaced)
            .ok_or_else(Status::path_not_found)
    };
    match rest {
        [plural] => {
            let def = visible
                .find(group, version, plural)
                .ok_or_else(Status::path_not_found)?;
            Ok(Target::Collection {
                def,
                namespace: None,
            })
        }
        [plural, name] => Ok(Target::Object {
            def: find(plural, false)?,
            namespace: None,
            name: (*name).to_owned(),
        }),
        ["namespaces", namespace, plural] => Ok(Target::Collection {
            def: find(plural, true)?,
            namespace: Some((*namespace).to_owned()),
        }),
        ["namespaces", namespace, plural, name] => Ok(Target::Object {
            def: find(plural, true)?,
            namespace: Some((*namespace).to_owned()),
            name: (*name).to_owned(),
        }),
        _ => Err(Status::path_not_found()),
    }
}

// --- get, list ---

fn get(
    shared: &Shared,
    state: &State,
    def: &ResourceDef,
    namespace: Option<String>,
    name: &str,
) -> Resp {
    if let Some(denied) = authorize(state, def, "get", namespace.as_deref()) {
        return status_response(shared, &denied);
    }
    let key = store::key(namespace.as_deref().unwrap_or_default(), name);
    match state.world.current(def, &key) {
        Some(obj) => {
            let mut body = obj.raw.to_vec();
            body.push(b'\n');
            json_response(shared, StatusCode::OK, Body::full(body))
        }
        None => status_response(shared, &Status::object_not_found(def, name)),
    }
}

fn collection(
    shared: &Arc<Shared>,
    state: &mut State,
    def: &'static ResourceDef,
    namespace: Option<String>,
    query: &str,
) -> Resp {
    let verb = if query::is_watch(query) {
        "watch"
    } else {
        "list"
    };
    if let Some(denied) = authorize(state, def, verb, namespace.as_deref()) {
        return status_response(shared, &denied);
    }
    if def.crd && state.routes_initializing > 0 {
        state.routes_initializing -= 1;
        return too_many_requests(shared);
    }
    let mut opts = match ListOptions::parse(query) {
        Ok(opts) => opts,
        Err(message) => return status_response(shared, &Status::bad_request(message)),
    };
    let filter = Filter {
        def,
        namespace,
        labels: std::mem::take(&mut opts.labels),
        fields: std::mem::take(&mut opts.fields),
    };
    if opts.watch {
        watch::start(shared, state, filter, &opts)
    } else {
        match list(&state.world, &filter, &opts) {
            Ok(body) => json_response(shared, StatusCode::OK, Body::full(body)),
            Err(status) => status_response(shared, &status),
        }
    }
}

/// The real server's continue token: base64url of this JSON.
#[derive(Serialize, Deserialize)]
struct ContinueToken {
    v: String,
    rv: u64,
    start: String,
}

const TOKEN_VERSION: &str = "meta.k8s.io/v1";

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a \
    consistent list result. You can start a new list without the continue parameter, or use the \
    continue token in this response to retrieve the remainder of the results. Continuing with the \
    provided token results in an inconsistent list - objects that were created, modified, or \
    deleted between the time the first chunk was returned and now may show up in the list.";

fn decode_token(token: &str) -> Result<ContinueToken, Status> {
    let invalid = |why: &str| Status::bad_request(format!("invalid continue token: {why}"));
    let bytes = json::base64url_decode(token).ok_or_else(|| invalid("not base64"))?;
    let token: ContinueToken = serde_json::from_slice(&bytes)
        .map_err(|_| invalid("continue key is not valid: not a token"))?;
    if token.v != TOKEN_VERSION {
        return Err(invalid(&format!(
            "continue key is not valid: server does not recognize this encoded key (version {})",
            token.v
        )));
    }
    Ok(token)
}

fn encode_token(rv: u64, start: String) -> String {
    let token = ContinueToken {
        v: TOKEN_VERSION.to_owned(),
        rv,
        start,
    };
    json::base64url_encode(&serde_json::to_vec(&token).unwrap_or_default())
}

/// The revision a list without a continue token reads at.
fn list_revision(world: &World, opts: &ListOptions) -> Result<u64, Status> {
    let current = world.resource_version();
    let Some(rv) = opts
        .resource_version_number()
        .map_err(Status::bad_request)?
        .filter(|rv| *rv > 0)
    else {
        return Ok(current);
    };
    if rv > current {
        return Err(Status::too_large_resource_version(rv, current));
    }
    if opts.resource_version_match.as_deref() != Some("Exact") {
        return Ok(current);
    }
    if rv < world.floor() {
        return Err(Status::expired(
            "The resourceVersion for the provided list is too old.",
        ));
    }
    Ok(rv)
}

/// One page of a list, rendered.
fn list(world: &World, filter: &Filter, opts: &ListOptions) -> Result<Vec<u8>, Status> {
    let (at, start) = match &opts.continue_token {
        Some(token) => {
            if opts.resource_version.as_deref().is_some_and(|rv| rv != "0") {
                return Err(Status::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            let token = decode_token(token)?;
            if token.rv < world.floor() {
                return Err(Status::expired(CONTINUE_EXPIRED));
            }
            (token.rv, token.start)
        }
        None => (list_revision(world, opts)?, String::new()),
    };
    let mut matching = world
        .objects_at(filter.def, at, &start)
        .filter(|(_, obj)| filter.matches(obj));
    let limit = opts.limit.unwrap_or(usize::MAX);
    let page: Vec<(&String, &Arc<Obj>)> = matching.by_ref().take(limit).collect();
    let rest = matching.count();
    let next = match page.last() {
        Some((last_key, _)) if rest > 0 => Some(encode_token(at, format!("{last_key}\0"))),
        _ => None,
    };
    let remaining = next
        .as_ref()
        .filter(|_| !filter.has_selectors())
        .map(|_| rest);
    let items: Vec<&[u8]> = page
        .iter()
        .map(|(_, obj)| &obj.list_item(filter.def)[..])
        .collect();
    Ok(render_list(
        filter.def,
        at,
        next.as_deref(),
        remaining,
        &items,
    ))
}

/// A list document. Built-in lists put `kind`, `apiVersion`, `metadata`, `items` in that order
/// and omit an empty `continue`; CRD lists are unstructured: keys sorted, `continue` always there.
fn render_list(
    def: &ResourceDef,
    rv: u64,
    next: Option<&str>,
    remaining: Option<usize>,
    items: &[&[u8]],
) -> Vec<u8> {
    let rv = json::string(&rv.to_string());
    let cont = next.map(json::string);
    let remaining = remaining.map(|n| format!(r#","remainingItemCount":{n}"#));
    let metadata = if def.crd {
        format!(
            r#"{{"continue":{}{},"resourceVersion":{rv}}}"#,
            cont.as_deref().unwrap_or(r#""""#),
            remaining.as_deref().unwrap_or_default()
        )
    } else {
        let cont = cont.map(|c| format!(r#","continue":{c}"#));
        format!(
            r#"{{"resourceVersion":{rv}{}{}}}"#,
            cont.as_deref().unwrap_or_default(),
            remaining.as_deref().unwrap_or_default()
        )
    };
    let mut joined = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
    joined.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(item);
    }
    joined.push(b']');
    let api_version = json::string(&def.api_version());
    let kind = json::string(&def.list_kind());
    let mut out = Vec::with_capacity(joined.len() + 256);
    if def.crd {
        out.extend_from_slice(format!(r#"{{"apiVersion":{api_version},"items":"#).as_bytes());
        out.extend_from_slice(&joined);
        out.extend_from_slice(format!(r#","kind":{kind},"metadata":{metadata}}}"#).as_bytes());
    } else {
        out.extend_from_slice(
            format!(r#"{{"kind":{kind},"apiVersion":{api_version},"metadata":{metadata},"items":"#)
                .as_bytes(),
        );
        out.extend_from_slice(&joined);
        out.push(b'}');
    }
    out.push(b'\n');
    out
}

// --- responses ---

/// A JSON response with the real server's headers.
pub fn json_response(shared: &Shared, code: StatusCode, body: Body) -> Resp {
    let mut response = Response::new(body);
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    let id = shared.audit_ids.fetch_add(1, Ordering::Relaxed) + 1;
    if let Ok(value) = HeaderValue::try_from(format!("00000000-0000-4000-a000-{id:012x}")) {
        headers.insert("audit-id", value);
    }
    response
}

pub fn status_response(shared: &Shared, status: &Status) -> Resp {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = status.to_json();
    body.push(b'\n');
    json_response(shared, code, Body::full(body))
}

/// 429 with `Retry-After: 1` and the body the real server sent while a CRD's storage was
/// initializing.
fn too_many_requests(shared: &Shared) -> Resp {
    let mut response = json_response(
        shared,
        StatusCode::TOO_MANY_REQUESTS,
        Body::full(STORAGE_INITIALIZING_429),
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
