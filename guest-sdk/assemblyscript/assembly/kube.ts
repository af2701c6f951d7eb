// Kubernetes reads and writes through the host's `event_controller.kube_request` import, a
// capability the operator grants per verb and resource (docs/ABI.md §6, "kube_request").
//
//   import { KubeRequest, ensure, EnsureResult } from "<path>/guest-sdk/assemblyscript/assembly/kube";
//
//   const r = KubeRequest.get("configmaps", "settings").inNamespace("shop").send();
//   if (r.error !== null) { /* the host did not ask the API server: r.failure(), r.isTransient() */ }
//   else if (r.status == 404) { /* absent */ }
//   else if (r.isSuccess()) { /* r.object is the ConfigMap (a JsonValue) */ }
//   else { /* the API server refused: r.status, r.message */ }
//
// A module imports `kube_request` only when it calls `send` (directly or through `ensure` and
// `removeOwned`); this file is not re-exported by index.ts, so a plugin that does not import it
// does not import the function either.
//
// `send` writes the request JSON into unmanaged memory and calls `kube_request(ptr, len)`. The
// host allocates its answer with the plugin's `alloc` and returns `(ptr << 32) | len`; the answer
// is read into a `KubeResponse` and freed with `dealloc`. The call blocks the plugin and counts
// against its `call_timeout_ms`.

import { dealloc } from "./abi";
import { JsonReader, JsonType, JsonValue, JsonWriter } from "./json";

export { JsonType, JsonValue } from "./json";

/** The host's `kube_request`: the request's UTF-8 JSON in, the packed answer out. */
@external("event_controller", "kube_request")
declare function hostKubeRequest(ptr: usize, len: usize): i64;

/** Why a request got no (successful) answer; see `KubeResponse.failure()`. */
export enum Failure {
  /** A 2xx answer: no failure. */
  NONE = 0,
  /** The host refused: not granted, outside the grant's namespaces or label selector, the
   *  controller's own objects, an unknown verb (`denied ...`, `unknown verb ...`). Permanent. */
  DENIED = 1,
  /** Over the grant's `max_writes_per_second` (`throttled ...`); nothing was sent. Later. */
  THROTTLED = 2,
  /** The request could not be read or lacks what its verb needs (`malformed request ...`,
   *  `invalid request ...`), or the host's answer could not be read. A bug: permanent. */
  INVALID = 3,
  /** The host cannot ask (`no Kubernetes connection`, under `replay`). Permanent. */
  UNAVAILABLE = 4,
  /** No answer for another reason: a refused connection, a timeout. Transient. */
  UNREACHABLE = 5,
  /** The API server answered with a status that is not 2xx (`status`, `message`). */
  STATUS = 6,
}

/** Classifies a host reason (`{"error": reason}`) by its first words (docs/ABI.md §6, "Why no
 *  response came"). */
export function failureOf(reason: string): Failure {
  if (reason.startsWith("denied") || reason.startsWith("unknown verb")) return Failure.DENIED;
  if (reason.startsWith("throttled")) return Failure.THROTTLED;
  if (reason.startsWith("malformed request") || reason.startsWith("invalid request")) return Failure.INVALID;
  if (reason.startsWith("env var ") || reason.startsWith("cannot read ") || reason.startsWith("no Kubernetes connection")) {
    return Failure.UNAVAILABLE;
  }
  return Failure.UNREACHABLE;
}

/** The name of a failure: `none`, `denied`, `throttled`, `invalid`, `unavailable`,
 *  `unreachable`, `status`. */
export function failureName(failure: Failure): string {
  switch (failure) {
    case Failure.NONE: return "none";
    case Failure.DENIED: return "denied";
    case Failure.THROTTLED: return "throttled";
    case Failure.INVALID: return "invalid";
    case Failure.UNAVAILABLE: return "unavailable";
    case Failure.UNREACHABLE: return "unreachable";
    default: return "status";
  }
}

/** True for a status that may be different later: 5xx, 408 and 429. */
export function isTransientStatus(status: i32): bool {
  return status >= 500 || status == 408 || status == 429;
}

/** One request. Build it with a verb (`KubeRequest.get(...)`...), narrow it with `inNamespace`,
 *  `withLabelSelector`, `withFieldSelector` or `withForce`, then `send()` it. Fields a verb does
 *  not use stay null and are left out of the JSON. */
export class KubeRequest {
  /** The object's namespace; null for a cluster-scoped resource (for `list`: all namespaces). */
  namespace: string | null = null;
  /** The object's name (`get`, `patch`, `delete`). */
  name: string | null = null;
  /** The merge patch (`patch`). */
  patch: JsonValue | null = null;
  /** The object (`create`, `apply`). */
  object: JsonValue | null = null;
  /** `list`: a label selector, e.g. `app.kubernetes.io/managed-by=me,tier!=db`. */
  labelSelector: string | null = null;
  /** `list`: a field selector, e.g. `metadata.name=web`. */
  fieldSelector: string | null = null;
  /** `apply`: take over fields another field manager owns. */
  force: bool = false;

  constructor(
    /** `get`, `list`, `create`, `apply`, `patch` or `delete`. */
    public verb: string,
    /** The resource as granted: `configmaps`, `routes.route.openshift.io`. */
    public resource: string,
  ) {}

  /** Reads the object `name` of `resource` (granted under `read`). */
  static get(resource: string, name: string): KubeRequest {
    const r = new KubeRequest("get", resource);
    r.name = name;
    return r;
  }

  /** Lists `resource` (granted under `read`), every page (the host follows `continue`). */
  static list(resource: string): KubeRequest {
    return new KubeRequest("list", resource);
  }

  /** Creates `object`; its `metadata` names it (`name` or `generateName`) and its namespace
   *  (or use `inNamespace`). 201, or 409 when it exists. */
  static create(resource: string, object: JsonValue): KubeRequest {
    const r = new KubeRequest("create", resource);
    r.object = object;
    return r;
  }

  /** Server-side applies `object` (with `metadata.name`) under the plugin's field manager. */
  static apply(resource: string, object: JsonValue): KubeRequest {
    const r = new KubeRequest("apply", resource);
    r.object = object;
    return r;
  }

  /** Merge-patches (RFC 7386: a `null` member removes the field) the object `name`. */
  static patch(resource: string, name: string, patch: JsonValue): KubeRequest {
    const r = new KubeRequest("patch", resource);
    r.name = name;
    r.patch = patch;
    return r;
  }

  /** Deletes the object `name` of `resource`. */
  static delete(resource: string, name: string): KubeRequest {
    const r = new KubeRequest("delete", resource);
    r.name = name;
    return r;
  }

  /** Sets the namespace (null or `""`: none, i.e. cluster-scoped, or all namespaces for a list). */
  inNamespace(namespace: string | null): KubeRequest {
    this.namespace = namespace !== null && namespace.length > 0 ? namespace : null;
    return this;
  }

  /** Sets a list's label selector. */
  withLabelSelector(selector: string): KubeRequest {
    this.labelSelector = selector;
    return this;
  }

  /** Sets a list's field selector. */
  withFieldSelector(selector: string): KubeRequest {
    this.fieldSelector = selector;
    return this;
  }

  /** Lets an apply take over fields another field manager owns (`"force":true`). */
  withForce(force: bool = true): KubeRequest {
    this.force = force;
    return this;
  }

  /** Writes the request JSON, in the Rust SDK's member order:
   *  `{"verb":...,"resource":...,"namespace":...,"name":...,"patch":...,"object":...,
   *  "label_selector":...,"field_selector":...,"force":true}`. */
  writeTo(w: JsonWriter): void {
    w.byte(0x7b);
    w.key("verb", true).string(this.verb);
    w.key("resource").string(this.resource);
    const namespace = this.namespace;
    if (namespace !== null) w.key("namespace").string(namespace);
    const name = this.name;
    if (name !== null) w.key("name").string(name);
    const patch = this.patch;
    if (patch !== null) w.key("patch").value(patch);
    const object = this.object;
    if (object !== null) w.key("object").value(object);
    const labels = this.labelSelector;
    if (labels !== null) w.key("label_selector").string(labels);
    const fields = this.fieldSelector;
    if (fields !== null) w.key("field_selector").string(fields);
    if (this.force) w.key("force").raw("true");
    w.byte(0x7d);
  }

  /** The JSON handed to the host. */
  toJson(): string {
    const w = new JsonWriter();
    this.writeTo(w);
    const text = w.toString();
    w.free();
    return text;
  }

  /** Hands the request to the host and reads its answer. Never traps on a refusal: check
   *  `error` (the host did not ask), then `status`. */
  send(): KubeResponse {
    const w = new JsonWriter();
    this.writeTo(w);
    const packed = hostKubeRequest(w.ptr, w.len);
    w.free();
    if (packed == 0) return KubeResponse.failed("the host's kube_request returned no answer", Failure.UNREACHABLE);
    const ptr = <usize>(<u64>packed >>> 32);
    const len = <usize>(<u64>packed & 0xffffffff);
    const response = readAnswer(ptr, len);
    dealloc(ptr, <i32>len);
    return response;
  }
}

/** The host's answer. Exactly one of these holds:
 *  - `error !== null`: the host did not put the request to the API server (not granted,
 *    throttled, no cluster connection, a timeout, a malformed request) or its answer could not
 *    be read; `status` is 0. `failure()` classifies it.
 *  - `status` is 2xx: `object` is the object read, created, applied, patched or deleted, or
 *    `items` the objects of a list (every page).
 *  - any other status: the API server refused (RBAC's 403, 404, 409 conflicts, 422); `message`
 *    is its Status message. */
export class KubeResponse {
  /** The API server's HTTP status; 0 when `error` is set. */
  status: i32 = 0;
  /** The answered object (null for a list or a refusal). */
  object: JsonValue | null = null;
  /** A list's objects. */
  items: JsonValue[] = [];
  /** A refusal's Status message; empty otherwise. */
  message: string = "";
  /** The host's reason for giving no response (`denied: ...`, `throttled: ...`), or why its
   *  answer could not be read; null when the API server answered. */
  error: string | null = null;
  private unreadable: bool = false;

  /** An answer without a response. */
  static failed(reason: string, failure: Failure): KubeResponse {
    const r = new KubeResponse();
    r.error = reason;
    r.unreadable = failure == Failure.INVALID;
    return r;
  }

  /** True for a 2xx status. */
  isSuccess(): bool {
    return this.error === null && this.status >= 200 && this.status < 300;
  }

  /** What went wrong: `Failure.NONE` for a 2xx status, `Failure.STATUS` for another status, the
   *  host reason's class otherwise. */
  failure(): Failure {
    const error = this.error;
    if (error !== null) return this.unreadable ? Failure.INVALID : failureOf(error);
    return this.status >= 200 && this.status < 300 ? Failure.NONE : Failure.STATUS;
  }

  /** True when retrying may help: a 5xx, 408 or 429 status, a throttled write, or no answer for
   *  a reason other than the permanent ones. */
  isTransient(): bool {
    const f = this.failure();
    if (f == Failure.STATUS) return isTransientStatus(this.status);
    return f == Failure.UNREACHABLE || f == Failure.THROTTLED;
  }

  /** The answered object's `metadata.resourceVersion`. */
  resourceVersion(): string | null {
    const object = this.object;
    if (object === null) return null;
    const v = object.dig(["metadata", "resourceVersion"]);
    return v !== null ? v.asString() : null;
  }

  /** One line for a log: `200`, `404: configmaps "x" not found`, `error: denied: ...`. */
  describe(): string {
    const error = this.error;
    if (error !== null) return "error: " + error;
    const status = this.status.toString();
    return this.message.length > 0 ? status + ": " + this.message : status;
  }
}

/** Reads the host's answer at `[ptr, ptr + len)`: `{"status":N,"object":{...}}`,
 *  `{"status":200,"items":[...]}`, `{"status":N,"message":"..."}` or `{"error":"..."}`. */
export function readAnswer(ptr: usize, len: usize): KubeResponse {
  const response = new KubeResponse();
  const r = new JsonReader(ptr, len);
  let status: i64 = -1;
  let error: string | null = null;
  if (r.enterObject()) {
    while (r.nextMember()) {
      if (r.keyIs("status")) status = r.readUnsigned();
      else if (r.keyIs("error")) error = r.readString();
      else if (r.keyIs("message")) {
        const message = r.optString();
        if (message !== null) response.message = message;
      } else if (r.keyIs("object") && !r.atNull()) response.object = r.readValue();
      else if (r.keyIs("items") && !r.atNull()) {
        const items = r.readValue();
        if (items !== null) {
          if (items.type == JsonType.ARRAY) response.items = items.values();
          else r.fail("items must be an array");
        }
      } else r.skipValue();
    }
  }
  r.ensureEnd();
  if (r.failed) return KubeResponse.failed("the host's kube_request answer cannot be read: " + r.error!, Failure.INVALID);
  if (error !== null) return KubeResponse.failed(error, failureOf(error));
  if (status < 0 || status > 999) return KubeResponse.failed("the host's kube_request answer has no status", Failure.INVALID);
  response.status = <i32>status;
  return response;
}

// --- loop safety: owned objects, compare before writing ---

/** The label that marks an object as a plugin's own (the Kubernetes recommended label for the
 *  tool managing an object); its value is the owner, usually the plugin's name. */
export const OWNER_LABEL = "app.kubernetes.io/managed-by";

/** The label selector of `owner`'s objects, `app.kubernetes.io/managed-by=OWNER`: for a list,
 *  and for the grant's `label_selector`, which then makes the host refuse any write to an
 *  object without it. */
export function ownerSelector(owner: string): string {
  return OWNER_LABEL + "=" + owner;
}

/** True when `object` carries the owner label with the value `owner`. */
export function isOwned(object: JsonValue | null, owner: string): bool {
  if (object === null) return false;
  const label = object.dig(["metadata", "labels", OWNER_LABEL]);
  if (label === null) return false;
  const value = label.asString();
  return value !== null && value == owner;
}

/** True when every field `desired` sets is in `current` with the same value: objects member by
 *  member (members `desired` lacks are ignored, such as the fields the API server defaults; a
 *  `null` member must be absent or null; an empty object matches only an empty object, as in a
 *  NetworkPolicy's `podSelector: {}`), arrays element by element (the same length), anything
 *  else equal. The Rust SDK's `kube::contains`. */
export function contains(current: JsonValue | null, desired: JsonValue): bool {
  if (current === null) return desired.isNull();
  if (current.isObject() && desired.isObject()) {
    if (desired.length == 0) return current.length == 0;
    const keys = desired.keys();
    for (let i = 0; i < keys.length; i++) {
      const want = desired.get(keys[i])!;
      const have = current.get(keys[i]);
      if (have === null) {
        if (!want.isNull()) return false;
      } else if (!contains(have, want)) return false;
    }
    return true;
  }
  if (current.isArray() && desired.isArray()) {
    if (current.length != desired.length) return false;
    for (let i = 0; i < desired.length; i++) {
      if (!contains(current.at(i), desired.at(i)!)) return false;
    }
    return true;
  }
  return current.equals(desired);
}

/** True when `current` has every field of `desired` that `ensure` compares: its top-level fields
 *  other than `apiVersion`, `kind`, `metadata` and `status` (`spec`, `data`...), and its
 *  `metadata.labels` and `metadata.annotations` (only the desired ones: others may add their
 *  own). The Rust SDK's `kube::matches_desired`. */
export function matchesDesired(current: JsonValue, desired: JsonValue): bool {
  if (!desired.isObject()) return false;
  const keys = desired.keys();
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key == "apiVersion" || key == "kind" || key == "metadata" || key == "status") continue;
    if (!contains(current.get(key), desired.get(key)!)) return false;
  }
  const parts = ["labels", "annotations"];
  for (let i = 0; i < parts.length; i++) {
    const wanted = desired.dig(["metadata", parts[i]]);
    if (wanted === null || wanted.isNull() || (wanted.isObject() && wanted.length == 0)) continue;
    if (!contains(current.dig(["metadata", parts[i]]), wanted)) return false;
  }
  return true;
}

/** What `ensure` did. */
export enum EnsureResult {
  /** The object did not exist: created (`object` is the answered object). */
  CREATED = 0,
  /** It was the owner's and differed: its desired fields were applied (`object` as answered). */
  UPDATED = 1,
  /** It was the owner's and had every desired field: nothing written (`object` as read). */
  UNCHANGED = 2,
  /** It exists without the owner's label (or with another owner's): left alone (`object` as
   *  read). */
  NOT_OWNED = 3,
  /** The API server refused `verb` (`get`, `create` or `apply`): `response` says how. A
   *  `create` refused with 409 means someone created the object in between. */
  REFUSED = 4,
  /** The host did not ask the API server (`error`, `response.failure()`), or `desired` has no
   *  `metadata.name`. */
  FAILED = 5,
}

/** What `removeOwned` did. */
export enum RemoveResult {
  /** The owner's object was deleted. */
  DELETED = 0,
  /** There was no such object: nothing to do. */
  ABSENT = 1,
  /** It exists without the owner's label: left alone (`object` as read). */
  NOT_OWNED = 2,
  /** The API server refused `verb` (`get` or `delete`): `response`. */
  REFUSED = 3,
  /** The host did not ask the API server: `error`. */
  FAILED = 4,
}

/** The outcome of `ensure` or `removeOwned`. */
export class Owned<R> {
  /** The object answered or read, when there is one. */
  object: JsonValue | null = null;
  /** The verb refused or failed (`get`, `create`, `apply`, `delete`), when one was. */
  verb: string | null = null;
  /** The answer of that verb. */
  response: KubeResponse | null = null;
  /** Why it failed (FAILED): the host's reason. */
  error: string | null = null;

  constructor(public result: R) {}

  /** What the failure was (see `KubeResponse.failure`); `Failure.NONE` unless refused or failed. */
  failure(): Failure {
    const response = this.response;
    if (response !== null && this.verb !== null && !response.isSuccess()) return response.failure();
    const error = this.error;
    return error !== null ? failureOf(error) : Failure.NONE;
  }

  /** True when retrying may help (see `KubeResponse.isTransient`). */
  isTransient(): bool {
    const response = this.response;
    if (response !== null && this.verb !== null && !response.isSuccess()) return response.isTransient();
    const f = this.failure();
    return f == Failure.UNREACHABLE || f == Failure.THROTTLED;
  }
}

/** What `ensure` did: `result`, and the object, or what refused. */
export class Ensured extends Owned<EnsureResult> {
  /** True when it wrote (CREATED or UPDATED). */
  wrote(): bool {
    return this.result == EnsureResult.CREATED || this.result == EnsureResult.UPDATED;
  }

  /** The result's name, e.g. for a metric label: `created`, `updated`, `unchanged`,
   *  `not_owned`, `refused`, `failed`. */
  resultName(): string {
    switch (this.result) {
      case EnsureResult.CREATED: return "created";
      case EnsureResult.UPDATED: return "updated";
      case EnsureResult.UNCHANGED: return "unchanged";
      case EnsureResult.NOT_OWNED: return "not_owned";
      case EnsureResult.REFUSED: return "refused";
      default: return "failed";
    }
  }

  /** For a log line: `created`, `updated`, `unchanged`, `not owned`, `refused: create 403: ...`,
   *  `failed: denied: ...`. */
  toString(): string {
    switch (this.result) {
      case EnsureResult.NOT_OWNED: return "not owned";
      case EnsureResult.REFUSED: return "refused: " + this.verb! + " " + this.response!.describe();
      case EnsureResult.FAILED: return "failed: " + this.error!;
      default: return this.resultName();
    }
  }
}

/** What `removeOwned` did. */
export class Removed extends Owned<RemoveResult> {
  /** True when it deleted the object. */
  wrote(): bool {
    return this.result == RemoveResult.DELETED;
  }

  /** The result's name: `deleted`, `absent`, `not_owned`, `refused`, `failed`. */
  resultName(): string {
    switch (this.result) {
      case RemoveResult.DELETED: return "deleted";
      case RemoveResult.ABSENT: return "absent";
      case RemoveResult.NOT_OWNED: return "not_owned";
      case RemoveResult.REFUSED: return "refused";
      default: return "failed";
    }
  }

  /** For a log line: `deleted`, `absent`, `not owned`, `refused: delete 409: ...`,
   *  `failed: denied: ...`. */
  toString(): string {
    switch (this.result) {
      case RemoveResult.NOT_OWNED: return "not owned";
      case RemoveResult.REFUSED: return "refused: " + this.verb! + " " + this.response!.describe();
      case RemoveResult.FAILED: return "failed: " + this.error!;
      default: return this.resultName();
    }
  }
}

function ensured(result: EnsureResult, object: JsonValue | null): Ensured {
  const e = new Ensured(result);
  e.object = object;
  return e;
}

function ensureRefused(verb: string, response: KubeResponse): Ensured {
  const e = new Ensured(response.error !== null ? EnsureResult.FAILED : EnsureResult.REFUSED);
  e.verb = verb;
  e.response = response;
  e.error = response.error;
  return e;
}

function removed(result: RemoveResult, object: JsonValue | null): Removed {
  const r = new Removed(result);
  r.object = object;
  return r;
}

function removeRefused(verb: string, response: KubeResponse): Removed {
  const r = new Removed(response.error !== null ? RemoveResult.FAILED : RemoveResult.REFUSED);
  r.verb = verb;
  r.response = response;
  r.error = response.error;
  return r;
}

/** Makes the object `desired` describes exist with the fields it sets, owned by `owner`, writing
 *  only when something differs: safe to call on every event, its own writes' events included.
 *
 *  `desired` is the whole object as it should be created: `apiVersion`, `kind`, `metadata` with
 *  `name` (and `namespace` for a namespaced resource), and the fields to keep in line (`spec`,
 *  `data`...). A copy of it gets the owner label (`OWNER_LABEL` = `owner`); `desired` itself is
 *  not changed.
 *
 *  1. `get` of the object. Absent (404): `create` of the copy, CREATED.
 *  2. Present without the owner label, or with another owner's: NOT_OWNED, nothing written.
 *  3. Present, owned, with every desired field (`matchesDesired`): UNCHANGED, nothing written.
 *  4. Present, owned, different: `apply` of the copy with `force` (the owner takes back fields
 *     someone else changed, and create's own field manager entry), UPDATED.
 *
 *  The API server's refusals are REFUSED (with `verb` and `response`); a request the host did
 *  not send is FAILED (with `error`). As in the Rust and Go SDKs, a member removed from `desired`
 *  is not removed from the object: delete the object to start again. */
export function ensure(resource: string, desired: JsonValue, owner: string): Ensured {
  const metadata = desired.get("metadata");
  const name = metadata !== null ? metadata.getString("name") : null;
  if (metadata === null || name === null) {
    const e = new Ensured(EnsureResult.FAILED);
    e.error = "malformed request: ensure needs an object with metadata.name";
    return e;
  }
  const namespace = metadata.getString("namespace");
  const object = desired.clone();
  const meta = object.get("metadata")!;
  let labels = meta.get("labels");
  if (labels === null || !labels.isObject()) {
    labels = JsonValue.object();
    meta.set("labels", labels);
  }
  labels.setString(OWNER_LABEL, owner);

  const current = KubeRequest.get(resource, name).inNamespace(namespace).send();
  if (current.error !== null) return ensureRefused("get", current);
  if (current.status == 404) {
    const created = KubeRequest.create(resource, object).send();
    if (!created.isSuccess()) return ensureRefused("create", created);
    return ensured(EnsureResult.CREATED, created.object);
  }
  if (!current.isSuccess()) return ensureRefused("get", current);
  const found = current.object;
  if (found === null || !isOwned(found, owner)) return ensured(EnsureResult.NOT_OWNED, found);
  if (matchesDesired(found, object)) return ensured(EnsureResult.UNCHANGED, found);
  const applied = KubeRequest.apply(resource, object).withForce().send();
  if (!applied.isSuccess()) return ensureRefused("apply", applied);
  return ensured(EnsureResult.UPDATED, applied.object);
}

/** Deletes the object `name` of `resource` (in `namespace`; null or `""` for a cluster-scoped
 *  one) only when it carries the owner label with the value `owner`: `get`, then `delete`.
 *  ABSENT when there is none (also when it went between the two requests), NOT_OWNED when it is
 *  someone else's (nothing written), REFUSED or FAILED like `ensure`. */
export function removeOwned(resource: string, namespace: string | null, name: string, owner: string): Removed {
  const current = KubeRequest.get(resource, name).inNamespace(namespace).send();
  if (current.error !== null) return removeRefused("get", current);
  if (current.status == 404) return removed(RemoveResult.ABSENT, null);
  if (!current.isSuccess()) return removeRefused("get", current);
  const found = current.object;
  if (!isOwned(found, owner)) return removed(RemoveResult.NOT_OWNED, found);
  const deleted = KubeRequest.delete(resource, name).inNamespace(namespace).send();
  if (deleted.error === null && deleted.status == 404) return removed(RemoveResult.ABSENT, null);
  if (!deleted.isSuccess()) return removeRefused("delete", deleted);
  return removed(RemoveResult.DELETED, deleted.object);
}
