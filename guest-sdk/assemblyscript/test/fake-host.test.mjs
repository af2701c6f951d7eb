// Tests of tools/fake-host.mjs on its own (no wasm): the fake cluster's selectors and statuses,
// the metric recorder's checks, the host functions' memory handling.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FakeCluster, MAX_SERIES, MetricRecorder, fakeHost, mergePatch, parseFieldSelector, parseLabelSelector,
} from "../tools/fake-host.mjs";

test("label selectors: equality, inequality, existence, sets", () => {
  const labels = { app: "web", tier: "front", "app.kubernetes.io/managed-by": "me", empty: "" };
  const cases = [
    ["", true], ["app=web", true], ["app==web", true], ["app = web", true], ["app=db", false],
    ["app!=db", true], ["missing!=x", true], ["app", true], ["missing", false], ["!missing", true], ["!app", false],
    ["app.kubernetes.io/managed-by=me,tier=front", true], ["app=web,tier=back", false],
    ["tier in (front, back)", true], ["tier notin (front)", false], ["missing notin (a)", true], ["missing in (a)", false],
    ["empty=", true], ["app in (web),tier", true],
  ];
  for (const [selector, want] of cases) assert.equal(parseLabelSelector(selector)(labels), want, selector);
  assert.equal(parseLabelSelector("app")(undefined), false);
  assert.throws(() => parseLabelSelector("a b"), /unable to parse/);
});

test("field selectors: metadata.name and metadata.namespace only", () => {
  const o = { metadata: { name: "a", namespace: "shop" } };
  assert.equal(parseFieldSelector("metadata.name=a,metadata.namespace==shop")(o), true);
  assert.equal(parseFieldSelector("metadata.name!=a")(o), false);
  assert.equal(parseFieldSelector("metadata.namespace=")({ metadata: { name: "n" } }), true);
  assert.throws(() => parseFieldSelector("status.phase=Running"), /field label not supported: status.phase/);
  assert.throws(() => parseFieldSelector("nonsense"), /invalid field selector/);
});

test("merge patches follow RFC 7386", () => {
  assert.deepEqual(mergePatch({ a: "b", c: { d: "e", f: "g" } }, { a: "z", c: { f: null } }), { a: "z", c: { d: "e" } });
  assert.deepEqual(mergePatch({ a: [1, 2] }, { a: [3] }), { a: [3] });
  assert.deepEqual(mergePatch({ a: 1 }, { b: { c: null } }), { a: 1, b: {} });
  assert.deepEqual(mergePatch("x", { a: 1 }), { a: 1 });
});

test("the cluster stamps objects and refuses what the host refuses", () => {
  const c = new FakeCluster();
  const stored = c.put("configmaps", '{"metadata":{"namespace":"a","name":"x"}}');
  assert.deepEqual(stored.metadata, { namespace: "a", name: "x", resourceVersion: "1", uid: "uid-1" });
  c.put("configmaps", stored);
  assert.equal(c.object("configmaps", "a", "x").metadata.resourceVersion, "2");
  assert.equal(c.object("configmaps", "a", "x").metadata.uid, "uid-1", "the uid stays");
  assert.throws(() => c.put("configmaps", { metadata: {} }), /no metadata.name/);
  const ask = (request) => JSON.parse(c.handle(typeof request === "string" ? request : JSON.stringify(request)));
  assert.match(ask("{").error, /^malformed request: /);
  assert.match(ask({ verb: "get", resource: "configmaps", name: "x", extra: 1 }).error, /^malformed request: unknown field `extra`/);
  assert.equal(ask({ verb: "get", resource: "configmaps" }).error, "malformed request: a get request needs a name");
  assert.equal(ask({ verb: "patch", resource: "configmaps", name: "x" }).error, "malformed request: a patch request needs a patch");
  assert.equal(ask({ verb: "create", resource: "configmaps" }).error, "malformed request: a create request needs an object");
  assert.equal(ask({ resource: "configmaps" }).error, "malformed request: missing field `verb`");
  assert.match(ask({ verb: "watch", resource: "configmaps" }).error, /^unknown verb "watch"/);
  assert.equal(ask({ verb: "get", resource: "configmaps", namespace: "a", name: "x" }).status, 200);
  assert.equal(ask({ verb: "get", resource: "configmaps", name: "x" }).status, 404, "cluster-scoped is another key");
  assert.equal(c.requests.length, 9);
  assert.equal(c.raw.length, 9);
  assert.deepEqual(c.writes().map((r) => r.verb), ["patch", "create"], "refused writes are requests too");
  assert.deepEqual(c.list("configmaps").map((o) => o.metadata.name), ["x"]);
  assert.equal(c.remove("configmaps", "a", "x").metadata.name, "x");
  assert.deepEqual(c.list("configmaps"), []);
});

test("the recorder checks updates as the host does and caps series at 1000", () => {
  const m = new MetricRecorder();
  const update = (u) => m.record(JSON.stringify(u));
  assert.equal(update({ name: "a", kind: "counter", value: 1 }), 0);
  assert.equal(update({ name: "a", kind: "counter", value: 1.5 }), 0);
  assert.equal(m.value("a"), 2.5);
  assert.equal(update({ name: "a", kind: "counter", value: 1, extra: 1 }), 1);
  assert.equal(update({ name: "b", kind: "summary", value: 1 }), 1);
  assert.equal(update({ name: "b", kind: "gauge" }), 1);
  assert.equal(update({ name: "x".repeat(65), kind: "gauge", value: 1 }), 1);
  assert.equal(update({ name: "b_info", kind: "gauge", value: 1 }), 1);
  assert.equal(update({ name: "b", kind: "gauge", value: 1, labels: { l: "v".repeat(257) } }), 1);
  assert.equal(update({ name: "b", kind: "gauge", value: 1, labels: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`l${i}`, ""])) }), 1);
  assert.equal(update({ name: "b", kind: "gauge", value: 1, buckets: [1] }), 1, "buckets only for histograms");
  assert.equal(update({ name: "h", kind: "histogram", value: 1, buckets: Array.from({ length: 33 }, (_, i) => i) }), 1);
  assert.equal(m.record("{"), 1);
  assert.equal(m.refusals.length, 10);
  assert.equal(update({ name: "h", kind: "histogram", value: 7 }), 0);
  assert.deepEqual(m.value("h").buckets, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], "the host's default buckets");
  for (let i = 2; i < MAX_SERIES; i++) assert.equal(update({ name: "s", kind: "gauge", value: i, labels: { i: String(i) } }), 0);
  assert.equal(update({ name: "s", kind: "gauge", value: 0, labels: { i: "new" } }), 1);
  assert.match(m.refusals.at(-1).reason, /holds 1000 metric series/);
  assert.equal(update({ name: "s", kind: "gauge", value: 5, labels: { i: "2" } }), 0, "existing series go on");
  assert.equal(m.series("s").length, MAX_SERIES - 2);
});

test("the host functions write answers after alloc, which may grow memory", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  let next = 60000;
  const host = fakeHost({ cluster: null });
  host.bind({ exports: { memory, alloc: (len) => { memory.grow(1); const p = next; next += len; return p; } } });
  const request = Buffer.from('{"verb":"get","resource":"pods","name":"p"}');
  new Uint8Array(memory.buffer, 0, request.length).set(request);
  const packed = host.imports.event_controller.kube_request(0, request.length);
  const ptr = Number(packed >> 32n), len = Number(packed & 0xffffffffn);
  assert.equal(ptr, 60000);
  assert.match(Buffer.from(memory.buffer, ptr, len).toString(), /^\{"error":"no Kubernetes connection/);
  const http = host.imports.event_controller.http_request(0, request.length);
  assert.match(Buffer.from(memory.buffer, Number(http >> 32n), Number(http & 0xffffffffn)).toString(), /"error":"denied: /);
});
