// A stand-in for event-controller's host, to unit-test plugins (AssemblyScript or any other core
// wasm module of guest ABI v1, docs/ABI.md) under Node: a fake cluster behind `kube_request`, a
// metric recorder behind `metric`, the `log` lines, and a loader that calls the plugin the way
// the host does.
//
//   import { FakeCluster, loadPlugin } from "<path>/guest-sdk/assemblyscript/tools/fake-host.mjs";
//
//   const cluster = new FakeCluster();
//   cluster.put("namespaces", { metadata: { name: "shop" } });
//   const plugin = loadPlugin("plugins/my_plugin.wasm", { cluster, config: { owner: "me" } });
//   assert.equal(plugin.initCode, 0);
//   const outcome = plugin.handle({ type: "ADDED", object: { kind: "Namespace", metadata: { name: "shop" } } });
//   assert.deepEqual(cluster.writes().map((r) => r.verb), ["create"]);
//   assert.equal(plugin.metrics.value("defaults_written", { namespace: "shop" }), 1);
//
// The fake cluster serves every verb of docs/ABI.md §6 with the statuses an API server answers
// (200, 201 created, 404 not found, 409 already exists, 400 for a selector it cannot read) and
// the host's own refusals for malformed requests; it does not check grants (use `intercept`).
// The recorder checks updates as the host does (names, labels, kinds, buckets, 1000 series) and
// keeps the values.

import { readFileSync } from "node:fs";

/** The label that marks a plugin's own objects; its value is the owner. */
export const OWNER_LABEL = "app.kubernetes.io/managed-by";

/** `app.kubernetes.io/managed-by=OWNER`. */
export const ownerSelector = (owner) => `${OWNER_LABEL}=${owner}`;

/** The host's answer when the API server answered `status` with `object`. */
export const respond = (status, object) => ({ status, object });
/** The host's answer to a list. */
export const respondList = (items) => ({ status: 200, items });
/** The host's answer when the API server refused with `status` and a Status `message`. */
export const refuse = (status, message) => ({ status, message });
/** The host's answer when it did not ask the API server: start `reason` with the prefixes of
 *  docs/ABI.md §6 (`denied: ...`, `throttled: ...`, `malformed request: ...`). */
export const fail = (reason) => ({ error: reason });

const REQUEST_FIELDS = ["verb", "resource", "namespace", "name", "patch", "object", "label_selector", "field_selector", "force", "consistent"];
const VERBS = ["get", "list", "create", "apply", "patch", "delete"];
const clone = (v) => (v === undefined ? undefined : structuredClone(v));
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** RFC 7386: objects member by member, `null` removes a member, anything else replaces. */
export function mergePatch(target, patch) {
  if (!isObject(patch)) return clone(patch);
  const out = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** A label selector as the API server reads it: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
 *  `k in (a,b)`, `k notin (a,b)`, joined by commas. Returns a predicate on a labels object, or
 *  throws on a selector it cannot read. */
export function parseLabelSelector(selector) {
  const tests = [];
  // Split on commas outside parentheses.
  const terms = [];
  let depth = 0, start = 0;
  for (let i = 0; i <= selector.length; i++) {
    const c = selector[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if ((c === "," && depth === 0) || i === selector.length) {
      terms.push(selector.slice(start, i).trim());
      start = i + 1;
    }
  }
  const has = (labels, k) => Object.hasOwn(labels, k);
  for (const term of terms) {
    let m;
    if (term === "") continue;
    if ((m = term.match(/^([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)$/))) {
      const [, key, op, list] = m;
      const values = list.split(",").map((v) => v.trim());
      tests.push(op === "in" ? (l) => has(l, key) && values.includes(l[key]) : (l) => !has(l, key) || !values.includes(l[key]));
    } else if ((m = term.match(/^([^\s!=(),]+)\s*!=\s*([^\s!=(),]*)$/))) {
      const [, key, value] = m;
      tests.push((l) => !has(l, key) || l[key] !== value);
    } else if ((m = term.match(/^([^\s!=(),]+)\s*==?\s*([^\s!=(),]*)$/))) {
      const [, key, value] = m;
      tests.push((l) => has(l, key) && l[key] === value);
    } else if ((m = term.match(/^!\s*([^\s!=(),]+)$/))) {
      const [, key] = m;
      tests.push((l) => !has(l, key));
    } else if ((m = term.match(/^([^\s!=(),]+)$/))) {
      const [, key] = m;
      tests.push((l) => has(l, key));
    } else {
      throw new Error(`unable to parse requirement: ${JSON.stringify(term)}`);
    }
  }
  return (labels) => tests.every((t) => t(labels ?? {}));
}

/** A field selector on `metadata.name` and `metadata.namespace` (`=`, `==`, `!=`), the fields
 *  every resource supports; others throw, as the API server refuses them (400). */
export function parseFieldSelector(selector) {
  const tests = [];
  for (const raw of selector.split(",")) {
    const term = raw.trim();
    if (term === "") continue;
    const m = term.match(/^([^!=]+?)\s*(!=|==|=)\s*(.*)$/);
    if (!m) throw new Error(`invalid field selector: ${JSON.stringify(term)}`);
    const [, field, op, value] = m;
    const path = { "metadata.name": "name", "metadata.namespace": "namespace" }[field];
    if (!path) throw new Error(`field label not supported: ${field}`);
    tests.push((o) => ((o.metadata?.[path] ?? "") === value) === (op !== "!="));
  }
  return (object) => tests.every((t) => t(object));
}

/**
 * An in-memory API server behind `kube_request`: objects by resource, namespace and name.
 *
 * - `get`: 200 with the object, 404 when absent.
 * - `list`: 200 with `items` (sorted by namespace and name), all namespaces without `namespace`,
 *   filtered by `label_selector` and `field_selector` (400 for one it cannot read).
 * - `create`: 201 with the stored object (namespace, `uid`, `resourceVersion`, `generateName`
 *   resolved), 409 when it exists.
 * - `apply`: 201 when it creates, else 200 with the object merged in (members of the applied
 *   object replace the stored ones; a conflict with another field manager is not modelled, so
 *   `force` changes nothing here).
 * - `patch`: an RFC 7386 merge patch, 200; 404 when absent.
 * - `delete`: 200 with the deleted object; 404 when absent.
 *
 * Like the host, it refuses before "sending" a request it cannot read: an unknown field,
 * missing fields a verb needs, a namespace or name given twice that differ
 * (`{"error":"malformed request: ..."}`), an unknown verb (`{"error":"unknown verb ..."}`). It
 * does not check grants: set `intercept` to deny, throttle or fail chosen requests. Every
 * request is recorded (`requests`, `writes()`), as parsed and as sent (`raw`).
 */
export class FakeCluster {
  constructor() {
    /** key `resource\0namespace\0name` -> object */
    this.objects = new Map();
    /** Every request, parsed, in order. */
    this.requests = [];
    /** Every request's JSON text as the plugin sent it, in order. */
    this.raw = [];
    /** `(request) => answer | undefined`: sees every request first; an answer it returns (an
     *  object such as `fail("denied: ...")`, or a string sent as is) replaces the cluster's. */
    this.intercept = null;
    this.version = 0;
    this.generated = 0;
  }

  static key(resource, namespace, name) {
    return `${resource}\0${namespace ?? ""}\0${name}`;
  }

  /** Stores `object` (an object or its JSON) of `resource`, as someone else's change (no request
   *  recorded): its `metadata.namespace` and `name` say where. Gets a new `resourceVersion`
   *  (and a `uid` when it has none). Returns it as stored. */
  put(resource, object) {
    const o = typeof object === "string" ? JSON.parse(object) : clone(object);
    const { namespace, name } = o.metadata ?? {};
    if (!name) throw new Error("FakeCluster.put: the object has no metadata.name");
    return clone(this.#store(resource, namespace, name, o));
  }

  /** The stored object (a copy), or undefined. `namespace`: null or "" for a cluster-scoped one. */
  object(resource, namespace, name) {
    return clone(this.objects.get(FakeCluster.key(resource, namespace, name)));
  }

  /** The stored objects of `resource` (copies), sorted by namespace and name. */
  list(resource, namespace = null) {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(`${resource}\0`))
      .filter(([, o]) => !namespace || (o.metadata?.namespace ?? "") === namespace)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => clone(o));
  }

  /** Removes an object, as someone else's delete; returns it. */
  remove(resource, namespace, name) {
    const key = FakeCluster.key(resource, namespace, name);
    const o = this.objects.get(key);
    this.objects.delete(key);
    return o;
  }

  /** The write requests so far (create, apply, patch, delete), parsed. */
  writes() {
    return this.requests.filter((r) => ["create", "apply", "patch", "delete"].includes(r.verb));
  }

  /** Forgets the requests recorded so far. */
  clearRequests() {
    this.requests = [];
    this.raw = [];
  }

  /** The answer's JSON text to the request JSON `text` (what `kube_request` returns). */
  handle(text) {
    this.raw.push(text);
    let request;
    try {
      request = JSON.parse(text);
    } catch (e) {
      this.requests.push({ unreadable: text });
      return JSON.stringify(fail(`malformed request: ${e.message}`));
    }
    this.requests.push(request);
    if (this.intercept) {
      const answer = this.intercept(clone(request));
      if (answer !== undefined && answer !== null) return typeof answer === "string" ? answer : JSON.stringify(answer);
    }
    return JSON.stringify(this.answer(request));
  }

  /** The answer (an object) to a parsed request, without recording it. */
  answer(request) {
    if (!isObject(request)) return fail("malformed request: not a JSON object");
    const unknown = Object.keys(request).find((k) => !REQUEST_FIELDS.includes(k));
    if (unknown) return fail(`malformed request: unknown field \`${unknown}\`, expected one of ${REQUEST_FIELDS.map((f) => `\`${f}\``).join(", ")}`);
    for (const field of ["verb", "resource"]) {
      if (typeof request[field] !== "string") return fail(`malformed request: missing field \`${field}\``);
    }
    for (const field of ["namespace", "name", "label_selector", "field_selector"]) {
      if (request[field] !== undefined && request[field] !== null && typeof request[field] !== "string") {
        return fail(`malformed request: ${field} must be a string`);
      }
    }
    const { verb, resource } = request;
    if (!VERBS.includes(verb)) return fail(`unknown verb ${JSON.stringify(verb)}: one of ${VERBS.join(", ")}`);
    const needs = (what) => fail(`malformed request: a ${verb} request needs ${what}`);
    const notFound = (name) => refuse(404, `${resource} "${name}" not found`);
    if (verb === "list") {
      let labels, fields;
      try {
        labels = parseLabelSelector(request.label_selector ?? "");
        fields = parseFieldSelector(request.field_selector ?? "");
      } catch (e) {
        return refuse(400, e.message);
      }
      const items = this.list(resource, request.namespace ?? null).filter((o) => labels(o.metadata?.labels) && fields(o));
      return respondList(items);
    }
    if (verb === "create" || verb === "apply") {
      const object = request.object;
      if (!isObject(object)) return needs("an object");
      const meta = isObject(object.metadata) ? object.metadata : {};
      for (const what of ["namespace", "name"]) {
        if (request[what] != null && meta[what] != null && request[what] !== meta[what]) {
          return fail(`malformed request: the request's ${what} ${JSON.stringify(request[what])} and the object's ${JSON.stringify(meta[what])} differ`);
        }
      }
      const namespace = request.namespace ?? meta.namespace ?? null;
      let name = request.name ?? meta.name ?? null;
      if (verb === "apply" && !name) return needs("a name (metadata.name)");
      if (!name && !meta.generateName) return refuse(422, `${resource} "" is invalid: metadata.name: Required value: name or generateName is required`);
      if (!name) name = `${meta.generateName}${(++this.generated).toString(36).padStart(5, "x")}`;
      const key = FakeCluster.key(resource, namespace, name);
      const current = this.objects.get(key);
      const sent = clone(object);
      sent.metadata = { ...(isObject(sent.metadata) ? sent.metadata : {}), name };
      if (verb === "create") {
        if (current) return refuse(409, `${resource} "${name}" already exists`);
        return respond(201, clone(this.#store(resource, namespace, name, sent)));
      }
      if (!current) return respond(201, clone(this.#store(resource, namespace, name, sent)));
      return respond(200, clone(this.#store(resource, namespace, name, applyMerge(current, sent))));
    }
    // get, patch, delete: by name.
    if (verb === "patch" && (request.patch === undefined || request.patch === null)) return needs("a patch");
    if (typeof request.name !== "string") return needs("a name");
    const { namespace = null, name } = request;
    const key = FakeCluster.key(resource, namespace, name);
    const current = this.objects.get(key);
    if (!current) return notFound(name);
    if (verb === "get") return respond(200, clone(current));
    if (verb === "delete") {
      this.objects.delete(key);
      return respond(200, clone(current));
    }
    const patched = mergePatch(current, request.patch);
    if (!isObject(patched)) return refuse(422, `${resource} "${name}" is invalid: the patch must be an object`);
    // A patch cannot move or rename the object.
    patched.metadata = { ...(isObject(patched.metadata) ? patched.metadata : {}), name, ...(namespace ? { namespace } : {}) };
    return respond(200, clone(this.#store(resource, namespace, name, patched)));
  }

  #store(resource, namespace, name, object) {
    const meta = isObject(object.metadata) ? object.metadata : (object.metadata = {});
    meta.name = name;
    if (namespace) meta.namespace = namespace;
    else delete meta.namespace;
    this.version++;
    meta.resourceVersion = String(this.version);
    meta.uid ??= `uid-${this.version}`;
    this.objects.set(FakeCluster.key(resource, namespace, name), object);
    return object;
  }
}

/** Server-side apply, as the fake models it: the applied object's members replace the stored
 *  ones, objects member by member (no field ownership; `null` is a value, not a removal). */
function applyMerge(current, applied) {
  if (!isObject(applied) || !isObject(current)) return clone(applied);
  const out = { ...current };
  for (const [key, value] of Object.entries(applied)) out[key] = applyMerge(current[key], value);
  return out;
}

const METRIC_KINDS = ["counter", "gauge", "histogram"];
const RESERVED_SUFFIXES = ["_total", "_bucket", "_count", "_sum", "_created", "_info"];
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NAME = /^[a-z][a-z0-9_]*$/;
/** Series one plugin may hold. */
export const MAX_SERIES = 1000;

/**
 * Behind `metric`: checks each update as the host does and keeps the values.
 *
 * - `updates`: the recorded updates (parsed), in order; `refusals`: `{ update, reason }` for each
 *   refused one; `raw`: every update's JSON text as sent.
 * - `value(name, labels)`: a counter's total or a gauge's value, or for a histogram
 *   `{ buckets, counts, sum, count }` (counts per upper bound, cumulative as on /metrics);
 *   undefined for a series never recorded.
 * - `help(name)`, `kind(name)`, `buckets(name)`: as declared by the first update.
 */
export class MetricRecorder {
  constructor() {
    this.updates = [];
    this.refusals = [];
    this.raw = [];
    this.families = new Map();
    this.seriesCount = 0;
  }

  static seriesKey(labels) {
    return JSON.stringify(Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** Records the update JSON `text`: 0 when recorded, 1 when refused (as `metric` returns). */
  record(text) {
    this.raw.push(text);
    let update;
    try {
      update = JSON.parse(text);
    } catch (e) {
      this.refusals.push({ update: text, reason: `malformed metric update: ${e.message}` });
      return 1;
    }
    const reason = this.#check(update) ?? this.#apply(update);
    if (reason) {
      this.refusals.push({ update, reason });
      return 1;
    }
    this.updates.push(update);
    return 0;
  }

  value(name, labels = {}) {
    const family = this.families.get(name);
    const series = family?.series.get(MetricRecorder.seriesKey(labels));
    if (series === undefined) return undefined;
    return family.kind === "histogram" ? { buckets: family.buckets, counts: [...series.counts], sum: series.sum, count: series.count } : series;
  }

  /** Every series of `name`: `[{ labels, value }]`. */
  series(name) {
    const family = this.families.get(name);
    if (!family) return [];
    return [...family.series.entries()].map(([key, _]) => {
      const labels = Object.fromEntries(JSON.parse(key));
      return { labels, value: this.value(name, labels) };
    });
  }

  kind(name) { return this.families.get(name)?.kind; }
  help(name) { return this.families.get(name)?.help; }
  buckets(name) { return this.families.get(name)?.buckets; }

  #check(u) {
    if (!isObject(u)) return "malformed metric update: not a JSON object";
    const unknown = Object.keys(u).find((k) => !["name", "kind", "help", "labels", "value", "buckets"].includes(k));
    if (unknown) return `malformed metric update: unknown field \`${unknown}\``;
    if (typeof u.name !== "string") return "malformed metric update: missing field `name`";
    if (!METRIC_KINDS.includes(u.kind)) return `malformed metric update: unknown kind ${JSON.stringify(u.kind)}`;
    if (typeof u.value !== "number") return "malformed metric update: value must be a number";
    if (u.help !== undefined && u.help !== null && typeof u.help !== "string") return "malformed metric update: help must be a string";
    const invalid = (why) => `invalid metric ${JSON.stringify(u.name)}: ${why}`;
    if (!NAME.test(u.name) || u.name.length > 64) return invalid("a name is [a-z][a-z0-9_]*, at most 64 characters");
    const suffix = RESERVED_SUFFIXES.find((s) => u.name.endsWith(s));
    if (suffix) return invalid(`a name may not end with ${suffix} (the host adds suffixes)`);
    const labels = u.labels ?? {};
    if (!isObject(labels)) return "malformed metric update: labels must be an object";
    if (Object.keys(labels).length > 10) return invalid("more than 10 labels");
    for (const [k, v] of Object.entries(labels)) {
      if (typeof v !== "string") return "malformed metric update: label values are strings";
      if (!NAME.test(k) || k.length > 64 || k === "plugin" || k === "le") return invalid(`label ${JSON.stringify(k)}: a label is [a-z][a-z0-9_]*, not \`plugin\` or \`le\``);
      if (Buffer.byteLength(v, "utf8") > 256) return invalid(`label ${JSON.stringify(k)}: a value has at most 256 bytes`);
    }
    if (!Number.isFinite(u.value)) return invalid("the value is not a finite number");
    if (u.kind === "counter" && u.value < 0) return invalid("a counter only goes up: the value must be 0 or more");
    if (u.buckets !== undefined && u.buckets !== null) {
      const b = u.buckets;
      const ok = Array.isArray(b) && b.every((x) => typeof x === "number") && b.length >= 1 && b.length <= 32 && b.every((x, i) => i === 0 || b[i - 1] < x);
      if (u.kind !== "histogram" || !ok) return invalid("buckets are 1 to 32 ascending bounds, for a histogram");
    }
    return null;
  }

  #apply(u) {
    let family = this.families.get(u.name);
    if (!family) {
      family = { kind: u.kind, help: u.help ?? "", buckets: u.buckets ?? DEFAULT_BUCKETS, series: new Map() };
      this.families.set(u.name, family);
    }
    if (family.kind !== u.kind) return `metric ${JSON.stringify(u.name)} is a ${family.kind}, not a ${u.kind}`;
    const key = MetricRecorder.seriesKey(u.labels);
    if (!family.series.has(key)) {
      if (this.seriesCount >= MAX_SERIES) {
        return `plugin holds ${MAX_SERIES} metric series, its limit: metric ${JSON.stringify(u.name)} with labels ${JSON.stringify(u.labels ?? {})} is not recorded (fewer label values, please)`;
      }
      this.seriesCount++;
      family.series.set(key, family.kind === "histogram" ? { counts: family.buckets.map(() => 0), sum: 0, count: 0 } : 0);
    }
    if (family.kind === "counter") family.series.set(key, family.series.get(key) + u.value);
    else if (family.kind === "gauge") family.series.set(key, u.value);
    else {
      const h = family.series.get(key);
      family.buckets.forEach((bound, i) => { if (u.value <= bound) h.counts[i]++; });
      h.sum += u.value;
      h.count++;
    }
    return null;
  }
}

/** The imports a plugin may have (`event_controller.*`); the host refuses any other. */
export const HOST_FUNCTIONS = ["log", "metric", "http_request", "kube_request"];

/**
 * The host's imports for one instance. Call `bind(instance)` once the module is instantiated:
 * `kube_request` and `http_request` allocate their answers with the plugin's `alloc`.
 *
 * Options: `cluster` (a FakeCluster; null answers `no Kubernetes connection`, as under
 * `replay`), `metrics` (a MetricRecorder), `http` (`(request) => answer`, the answer an object
 * such as `{ status: 200, body: "..." }`; without it every request is denied), `echo` (print
 * log lines to stderr).
 */
export function fakeHost({ cluster = new FakeCluster(), metrics = new MetricRecorder(), http = null, echo = false } = {}) {
  let exports = null;
  const logs = [];
  const memory = () => {
    if (!exports) throw new Error("fakeHost: call bind(instance) before the plugin runs");
    return exports.memory.buffer;
  };
  const read = (ptr, len) => Buffer.from(memory(), ptr, len).toString("utf8");
  /** Writes `text` into a block from the plugin's alloc; returns (ptr << 32) | len. */
  const answer = (text) => {
    const bytes = Buffer.from(text, "utf8");
    const ptr = exports.alloc(bytes.length);
    // alloc may grow the memory: take the buffer after it.
    new Uint8Array(memory(), ptr, bytes.length).set(bytes);
    return (BigInt(ptr >>> 0) << 32n) | BigInt(bytes.length);
  };
  const levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
  const host = {
    cluster,
    metrics,
    logs,
    imports: {
      event_controller: {
        log(level, ptr, len) {
          const line = [Math.min(Math.max(level, 0), 4), read(ptr, len)];
          logs.push(line);
          if (echo) console.error(`[${levels[line[0]]}] ${line[1]}`);
        },
        metric(ptr, len) {
          return metrics.record(read(ptr, len));
        },
        kube_request(ptr, len) {
          const request = read(ptr, len);
          if (!cluster) return answer(JSON.stringify(fail("no Kubernetes connection: the fake host has no FakeCluster")));
          return answer(cluster.handle(request));
        },
        http_request(ptr, len) {
          const text = read(ptr, len);
          host.httpRequests.push(text);
          if (!http) return answer(JSON.stringify(fail("denied: the fake host grants no http capability")));
          let request;
          try {
            request = JSON.parse(text);
          } catch (e) {
            return answer(JSON.stringify(fail(`malformed request: ${e.message}`)));
          }
          const reply = http(request);
          return answer(typeof reply === "string" ? reply : JSON.stringify(reply));
        },
      },
    },
    httpRequests: [],
    bind(instance) {
      exports = instance.exports;
      return host;
    },
  };
  return host;
}

/**
 * Loads a plugin as the host does and returns a handle to drive it:
 * checks its imports (only `event_controller` functions the host has), instantiates it with
 * `fakeHost(options)`, calls `_initialize` when exported, then `init` with `config` (a JSON
 * string or any value, default `{}`).
 *
 * Returns `{ exports, initCode, handle(event), logs, cluster, metrics, host, lastResult }`:
 * `handle` takes an event (a JSON string or an object), calls `handle_event` as the host does
 * (alloc, write, call, read the packed result, dealloc both) and returns the outcome parsed
 * (`{ level, message }`) or null; `lastResult` is the result's text.
 */
export function loadPlugin(wasm, options = {}) {
  const bytes = typeof wasm === "string" || wasm instanceof URL ? readFileSync(wasm) : wasm;
  const module = bytes instanceof WebAssembly.Module ? bytes : new WebAssembly.Module(bytes);
  for (const i of WebAssembly.Module.imports(module)) {
    if (i.module !== "event_controller" || !HOST_FUNCTIONS.includes(i.name)) {
      throw new Error(`the plugin imports ${i.module}::${i.name}, which the host does not provide`);
    }
  }
  const host = fakeHost(options);
  const instance = new WebAssembly.Instance(module, host.imports);
  host.bind(instance);
  const x = instance.exports;
  const text = (ptr, len) => Buffer.from(x.memory.buffer, ptr, len).toString("utf8");
  const put = (s) => {
    const data = Buffer.from(s, "utf8");
    const ptr = x.alloc(data.length);
    new Uint8Array(x.memory.buffer, ptr, data.length).set(data);
    return [ptr, data.length];
  };
  if (x._initialize) x._initialize();
  if (x.ec_abi_version && x.ec_abi_version() !== 1) throw new Error(`ABI version ${x.ec_abi_version()}, not 1`);
  let initCode = 0;
  if (x.init) {
    const config = options.config === undefined ? "{}" : typeof options.config === "string" ? options.config : JSON.stringify(options.config);
    const [ptr, len] = put(config);
    initCode = x.init(ptr, len);
    x.dealloc(ptr, len);
  }
  const plugin = {
    exports: x,
    instance,
    host,
    initCode,
    logs: host.logs,
    cluster: host.cluster,
    metrics: host.metrics,
    lastResult: null,
    handle(event) {
      const [ptr, len] = put(typeof event === "string" ? event : JSON.stringify(event));
      const packed = BigInt.asUintN(64, x.handle_event(ptr, len));
      let result = null;
      plugin.lastResult = null;
      if (packed !== 0n) {
        const rptr = Number(packed >> 32n), rlen = Number(packed & 0xffffffffn);
        plugin.lastResult = text(rptr, rlen);
        result = JSON.parse(plugin.lastResult);
        x.dealloc(rptr, rlen);
      }
      x.dealloc(ptr, len);
      return result;
    },
  };
  return plugin;
}
