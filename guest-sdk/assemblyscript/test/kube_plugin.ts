// A test plugin for the Kubernetes and metric helpers (test/kube.test.mjs): each event names a
// case (`object.metadata.name`) and carries its arguments (`object.spec`); the outcome's message
// is the JSON of what the helper answered, which the test compares with what it expects.
import { Event, JsonType, JsonValue, Outcome, runHandleEvent } from "../assembly";
import {
  contains, ensure, Ensured, failureName, KubeRequest, KubeResponse, matchesDesired, Removed, removeOwned,
} from "../assembly/kube";
import { counter, gauge, metricJson, observe } from "../assembly/metric";
export { alloc, dealloc, ec_abi_version } from "../assembly";

export function handle_event(ptr: usize, len: i32): i64 {
  return runHandleEvent(ptr, len, handle);
}

function str(spec: JsonValue, key: string): string | null {
  return spec.getString(key);
}

function handle(event: Event): Outcome | null {
  const root = JsonValue.parseAt(event.ptr, event.len);
  if (root === null) return Outcome.error("cannot parse the event: " + JsonValue.lastError!);
  const object = root.get("object")!;
  const name = object.dig(["metadata", "name"])!.asString()!;
  let spec = object.get("spec");
  if (spec === null) spec = JsonValue.object();
  if (name == "request") return Outcome.info(describeResponse(request(spec).send()).toJson());
  if (name == "request-json") return Outcome.info(request(spec).toJson());
  if (name == "ensure") {
    const e = ensure(str(spec, "resource")!, spec.get("desired")!, str(spec, "owner")!);
    // The desired object is not changed by ensure (it works on a copy).
    const owned = spec.dig(["desired", "metadata", "labels"]);
    return Outcome.info(describeEnsured(e).setBool("desired_unchanged", owned === null).toJson());
  }
  if (name == "remove") {
    const r = removeOwned(str(spec, "resource")!, str(spec, "namespace"), str(spec, "name")!, str(spec, "owner")!);
    return Outcome.info(describeRemoved(r).toJson());
  }
  if (name == "contains") {
    const result = JsonValue.object()
      .setBool("contains", contains(spec.get("current"), spec.get("desired")!))
      .setBool("matches", matchesDesired(spec.get("current")!, spec.get("desired")!));
    return Outcome.info(result.toJson());
  }
  if (name == "metric") return Outcome.info(metric(spec).toJson());
  if (name == "json") {
    const parsed = JsonValue.parse(str(spec, "text")!);
    if (parsed === null) return Outcome.info(JsonValue.object().setString("error", JsonValue.lastError!).toJson());
    return Outcome.info(JsonValue.object().setString("json", parsed.toJson()).setString("type", typeName(parsed.type)).toJson());
  }
  if (name == "build") return Outcome.info(build().toJson());
  return Outcome.error("unknown case " + name);
}

/** A request from the spec's fields, through the builder. */
function request(spec: JsonValue): KubeRequest {
  const verb = str(spec, "verb")!;
  const resource = str(spec, "resource")!;
  const name = str(spec, "name");
  let r: KubeRequest;
  if (verb == "get") r = KubeRequest.get(resource, name!);
  else if (verb == "list") r = KubeRequest.list(resource);
  else if (verb == "create") r = KubeRequest.create(resource, spec.get("object")!);
  else if (verb == "apply") r = KubeRequest.apply(resource, spec.get("object")!);
  else if (verb == "patch") r = KubeRequest.patch(resource, name!, spec.get("patch")!);
  else if (verb == "delete") r = KubeRequest.delete(resource, name!);
  else r = new KubeRequest(verb, resource);
  r.inNamespace(str(spec, "namespace"));
  const labels = str(spec, "label_selector");
  if (labels !== null) r.withLabelSelector(labels);
  const fields = str(spec, "field_selector");
  if (fields !== null) r.withFieldSelector(fields);
  const force = spec.get("force");
  if (force !== null) r.withForce(force.asBool());
  return r;
}

function orNull(v: JsonValue | null): JsonValue {
  return v !== null ? v : JsonValue.null();
}

function optString(s: string | null): JsonValue {
  return s !== null ? JsonValue.string(s) : JsonValue.null();
}

function describeResponse(r: KubeResponse): JsonValue {
  const items = JsonValue.array();
  for (let i = 0; i < r.items.length; i++) items.push(r.items[i]);
  return JsonValue.object()
    .setInteger("status", r.status)
    .set("object", orNull(r.object))
    .set("items", items)
    .setString("message", r.message)
    .set("error", optString(r.error))
    .setBool("success", r.isSuccess())
    .setBool("transient", r.isTransient())
    .setString("failure", failureName(r.failure()))
    .set("resource_version", optString(r.resourceVersion()))
    .setString("describe", r.describe());
}

function describeEnsured(e: Ensured): JsonValue {
  const response = e.response;
  return JsonValue.object()
    .setString("result", e.toString())
    .setString("name", e.resultName())
    .setBool("wrote", e.wrote())
    .set("object", orNull(e.object))
    .set("verb", optString(e.verb))
    .setInteger("status", response !== null ? response.status : 0)
    .set("error", optString(e.error))
    .setString("failure", failureName(e.failure()))
    .setBool("transient", e.isTransient());
}

function describeRemoved(r: Removed): JsonValue {
  const response = r.response;
  return JsonValue.object()
    .setString("result", r.toString())
    .setString("name", r.resultName())
    .setBool("wrote", r.wrote())
    .set("object", orNull(r.object))
    .set("verb", optString(r.verb))
    .setInteger("status", response !== null ? response.status : 0)
    .set("error", optString(r.error))
    .setString("failure", failureName(r.failure()));
}

/** `{"recorded":bool,"json":"..."}` for the update the spec describes. */
function metric(spec: JsonValue): JsonValue {
  const kind = str(spec, "kind")!;
  const name = str(spec, "name")!;
  const given_value = spec.get("value");
  const nan = spec.get("nan");
  const value = nan !== null && nan.asBool() ? NaN : given_value !== null ? given_value.asNumber() : 1;
  const help = str(spec, "help");
  let labels: string[] | null = null;
  const given = spec.get("labels");
  if (given !== null) {
    labels = [];
    // An array: pairs as given (possibly odd); an object: its members.
    if (given.isArray()) for (let i = 0; i < given.length; i++) labels.push(given.at(i)!.asString()!);
    else for (let i = 0; i < given.keys().length; i++) {
      labels.push(given.keys()[i]);
      labels.push(given.values()[i].asString()!);
    }
  }
  let buckets: f64[] | null = null;
  const b = spec.get("buckets");
  if (b !== null) {
    buckets = [];
    for (let i = 0; i < b.length; i++) buckets.push(b.at(i)!.asNumber());
  }
  const h = help !== null ? help : "";
  let recorded = false;
  if (kind == "counter") recorded = spec.has("value") ? counter(name, value, labels, h) : counter(name);
  else if (kind == "gauge") recorded = gauge(name, value, labels, h);
  else recorded = observe(name, value, labels, h, buckets);
  const json = metricJson(kind, name, value, labels, h, buckets);
  return JsonValue.object().setBool("recorded", recorded).set("json", optString(json));
}

/** An object built with the setters, every type and escape in it. */
function build(): JsonValue {
  const labels = JsonValue.object().setString("app", "web").setString("app", "shop");
  const list = JsonValue.array().push(JsonValue.integer(-9007199254740993)).push(JsonValue.number(0.5))
    .push(JsonValue.number(3)).push(JsonValue.number(NaN)).push(JsonValue.bool(false)).push(JsonValue.null());
  const o = JsonValue.object()
    .setString("text", "q\"b\\n\n\tc\u0001é😀")
    .set("labels", labels)
    .set("list", list)
    .setNumber("big", 1e21)
    .setString("gone", "x");
  o.remove("gone");
  const copy = o.clone();
  copy.setString("text", "changed");
  o.setBool("clone_independent", o.getString("text")! != copy.getString("text")!);
  o.setBool("equals_self", o.equals(o.clone()));
  o.setBool("equals_reordered", JsonValue.parse('{"a":1,"b":[1.0,{"c":null}]}')!.equals(JsonValue.parse('{"b":[1,{"c":null}],"a":1e0}')!));
  o.setBool("not_equal", JsonValue.parse('{"a":1}')!.equals(JsonValue.parse('{"a":1,"b":2}')!));
  o.setBool("big_equal", JsonValue.parse("123456789012345678901")!.equals(JsonValue.parse("123456789012345678901")!)
    && !JsonValue.parse("123456789012345678901")!.equals(JsonValue.parse("123456789012345678902")!)
    && JsonValue.parse("-0")!.equals(JsonValue.integer(0)) && JsonValue.integer(3).equals(JsonValue.number(3.0)));
  o.setInteger("big_integer", JsonValue.parse("12345678901234567")!.asInteger());
  o.setInteger("length", o.length);
  return o;
}

function typeName(t: JsonType): string {
  switch (t) {
    case JsonType.NULL: return "null";
    case JsonType.BOOL: return "bool";
    case JsonType.NUMBER: return "number";
    case JsonType.STRING: return "string";
    case JsonType.ARRAY: return "array";
    default: return "object";
  }
}
