// Tests of the Kubernetes (assembly/kube.ts), metric (assembly/metric.ts) and JSON tree
// (JsonValue, JsonWriter) helpers, through real modules run under Node with the fake host
// (tools/fake-host.mjs): test/kube_plugin.ts runs one case per event and answers with the JSON
// of what the helper returned; test/kube_example.ts is the README's example.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FakeCluster, OWNER_LABEL, fail, loadPlugin, ownerSelector } from "../tools/fake-host.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const target = mkdtempSync(join(tmpdir(), "ec-as-kube-test-"));
process.on("exit", () => rmSync(target, { recursive: true, force: true }));

const asc = join(here, "..", "node_modules", ".bin", "asc");
const flags = ["--runtime", "minimal", "--exportStart", "_initialize", "--use", "abort=__ec_abort",
  "--optimizeLevel", "3", "--shrinkLevel", "0", "--noAssert"];
for (const name of ["kube_plugin", "kube_example"]) {
  execFileSync(asc, [join(here, `${name}.ts`), ...flags, "--outFile", join(target, `${name}.wasm`)], { stdio: "inherit" });
}
const wasm = readFileSync(join(target, "kube_plugin.wasm"));

/** The test plugin with a fresh fake cluster; `run(case, spec)` is the helper's answer, parsed. */
function plugin(options = {}) {
  const p = loadPlugin(wasm, options);
  p.run = (name, spec = {}) => {
    const outcome = p.handle({ type: "ADDED", object: { kind: "Case", metadata: { name }, spec } });
    assert.equal(outcome?.level, "INFO", JSON.stringify(outcome));
    return JSON.parse(outcome.message);
  };
  return p;
}

test("the modules import only the host functions they use", () => {
  const imports = (file) => WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(file))).map((i) => `${i.module}.${i.name}`).sort();
  assert.deepEqual(imports(join(target, "kube_plugin.wasm")), ["event_controller.kube_request", "event_controller.log", "event_controller.metric"]);
  assert.deepEqual(imports(join(target, "kube_example.wasm")), ["event_controller.kube_request", "event_controller.log", "event_controller.metric"]);
});

test("every verb writes the request JSON the host reads", () => {
  const p = plugin();
  const object = { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "shop", name: "we\"b\\\n\u0001é😀" }, data: { n: 1.5, big: 12345678901234567890, list: [true, null, {}], e: "" } };
  const cases = [
    [{ verb: "get", resource: "configmaps", namespace: "shop", name: "a" },
      { verb: "get", resource: "configmaps", namespace: "shop", name: "a" }],
    [{ verb: "get", resource: "namespaces", namespace: "", name: "shop" },
      { verb: "get", resource: "namespaces", name: "shop" }],
    [{ verb: "list", resource: "configmaps" }, { verb: "list", resource: "configmaps" }],
    [{ verb: "list", resource: "configmaps", namespace: "shop", label_selector: `${OWNER_LABEL}=me,tier!=db`, field_selector: "metadata.name=a" },
      { verb: "list", resource: "configmaps", namespace: "shop", label_selector: `${OWNER_LABEL}=me,tier!=db`, field_selector: "metadata.name=a" }],
    [{ verb: "create", resource: "configmaps", object }, { verb: "create", resource: "configmaps", object }],
    [{ verb: "create", resource: "configmaps", namespace: "shop", object: { metadata: { generateName: "x-" } } },
      { verb: "create", resource: "configmaps", namespace: "shop", object: { metadata: { generateName: "x-" } } }],
    [{ verb: "apply", resource: "configmaps", object, force: true }, { verb: "apply", resource: "configmaps", object, force: true }],
    [{ verb: "apply", resource: "configmaps", object, force: false }, { verb: "apply", resource: "configmaps", object }],
    [{ verb: "patch", resource: "routes.route.openshift.io", namespace: "shop", name: "web", patch: { spec: { tls: null } } },
      { verb: "patch", resource: "routes.route.openshift.io", namespace: "shop", name: "web", patch: { spec: { tls: null } } }],
    [{ verb: "delete", resource: "networkpolicies.networking.k8s.io", namespace: "shop", name: "deny" },
      { verb: "delete", resource: "networkpolicies.networking.k8s.io", namespace: "shop", name: "deny" }],
  ];
  for (const [spec, want] of cases) {
    // JSON.stringify writes the same escapes as the helper; the big integer keeps its digits.
    const expected = JSON.stringify(want).replace("12345678901234567000", "12345678901234567890");
    const event = JSON.stringify({ type: "ADDED", object: { kind: "Case", metadata: { name: "request-json" }, spec } })
      .replace("12345678901234567000", "12345678901234567890");
    assert.equal(p.handle(event).message, expected, "toJson()");
    p.handle(event.replace('"request-json"', '"request"'));
    assert.equal(p.cluster.raw.at(-1), expected, JSON.stringify(spec));
  }
  // The Rust SDK's documented example, byte for byte.
  assert.equal(p.cluster.raw.at(-2),
    '{"verb":"patch","resource":"routes.route.openshift.io","namespace":"shop","name":"web","patch":{"spec":{"tls":null}}}');
});

test("answers are read into a KubeResponse: objects, items, refusals, host errors", () => {
  const p = plugin();
  const base = { status: 0, object: null, items: [], message: "", error: null, success: false, transient: false, resource_version: null };
  const cases = [
    ['{"status":200,"object":{"metadata":{"name":"a","resourceVersion":"7"}}}',
      { status: 200, object: { metadata: { name: "a", resourceVersion: "7" } }, success: true, failure: "none", resource_version: "7", describe: "200" }],
    ['{"status":201,"object":{"kind":"Pod"}}', { status: 201, object: { kind: "Pod" }, success: true, failure: "none", describe: "201" }],
    [' {"items":[{"a":1},{"b":[true,{"c":"}"}]}],"status":200} ',
      { status: 200, items: [{ a: 1 }, { b: [true, { c: "}" }] }], success: true, failure: "none", describe: "200" }],
    ['{"status":200,"items":[]}', { status: 200, success: true, failure: "none", describe: "200" }],
    ['{"status":409,"message":"configmaps \\"a\\" already exists"}',
      { status: 409, message: 'configmaps "a" already exists', failure: "status", describe: '409: configmaps "a" already exists' }],
    ['{"status":403,"message":"forbidden"}', { status: 403, message: "forbidden", failure: "status", describe: "403: forbidden" }],
    ['{"status":503,"message":"unavailable"}', { status: 503, message: "unavailable", failure: "status", transient: true, describe: "503: unavailable" }],
    ['{"status":429,"message":"slow down"}', { status: 429, message: "slow down", failure: "status", transient: true, describe: "429: slow down" }],
    ['{"status":404,"message":"\\u00e9\\ud83d\\ude80\\n","object":null,"extra":[1,{"x":"]"}]}',
      { status: 404, message: "é🚀\n", failure: "status", describe: "404: é🚀\n" }],
    ['{"error":"denied: plugin p may not get configmaps (see [plugins.p.capabilities.kubernetes], key read)"}',
      { error: "denied: plugin p may not get configmaps (see [plugins.p.capabilities.kubernetes], key read)", failure: "denied" }],
    ['{"error":"unknown verb \\"x\\": one of get, list"}', { error: 'unknown verb "x": one of get, list', failure: "denied" }],
    ['{"error":"throttled: 10 writes per second"}', { error: "throttled: 10 writes per second", failure: "throttled", transient: true }],
    ['{"error":"malformed request: a get request needs a name"}', { error: "malformed request: a get request needs a name", failure: "invalid" }],
    ['{"error":"no Kubernetes connection (replay)"}', { error: "no Kubernetes connection (replay)", failure: "unavailable" }],
    ['{"error":"connection refused"}', { error: "connection refused", failure: "unreachable", transient: true }],
    ["not json", { error: "the host's kube_request answer cannot be read: expected an object at byte 0", failure: "invalid" }],
    ['{"status":200,"object":{"a":}}', { error: "the host's kube_request answer cannot be read: expected a value at byte 28", failure: "invalid" }],
    ['{"object":{}}', { error: "the host's kube_request answer has no status", failure: "invalid" }],
    ['{"status":200,"items":{}}', { error: "the host's kube_request answer cannot be read: items must be an array at byte 24", failure: "invalid" }],
    ['{"status":200} x', { error: "the host's kube_request answer cannot be read: unexpected data after the JSON object at byte 15", failure: "invalid" }],
  ];
  for (const [answer, fields] of cases) {
    p.cluster.intercept = () => answer;
    const got = p.run("request", { verb: "get", resource: "configmaps", namespace: "shop", name: "a" });
    const want = { ...base, ...fields };
    if (want.describe === undefined) want.describe = `error: ${want.error}`;
    assert.deepEqual(got, want, answer);
  }
  // Without a cluster, as under `replay`.
  const offline = plugin({ cluster: null });
  const got = offline.run("request", { verb: "list", resource: "pods" });
  assert.equal(got.failure, "unavailable");
  assert.match(got.error, /^no Kubernetes connection/);
});

test("the fake cluster answers every verb like an API server", () => {
  const p = plugin();
  const send = (spec) => p.run("request", { resource: "configmaps", namespace: "shop", ...spec });
  const cm = (name, labels = {}, data = {}) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, labels }, data });

  let r = send({ verb: "create", object: cm("a", { team: "x", [OWNER_LABEL]: "me" }, { k: "v" }) });
  assert.equal(r.status, 201);
  assert.equal(r.object.metadata.namespace, "shop");
  assert.equal(r.resource_version, "1");
  assert.equal(send({ verb: "create", object: cm("a") }).status, 409);
  assert.equal(send({ verb: "create", object: cm("b", { team: "y" }) }).status, 201);
  p.cluster.put("configmaps", { metadata: { namespace: "other", name: "c", labels: { team: "x" } } });

  r = send({ verb: "get", name: "a" });
  assert.deepEqual([r.status, r.object.data], [200, { k: "v" }]);
  r = send({ verb: "get", name: "zz" });
  assert.deepEqual([r.status, r.message], [404, 'configmaps "zz" not found']);

  const names = (r) => r.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
  assert.deepEqual(names(send({ verb: "list" })), ["shop/a", "shop/b"]);
  assert.deepEqual(names(p.run("request", { verb: "list", resource: "configmaps" })), ["other/c", "shop/a", "shop/b"]);
  assert.deepEqual(names(p.run("request", { verb: "list", resource: "configmaps", label_selector: "team=x" })), ["other/c", "shop/a"]);
  assert.deepEqual(names(send({ verb: "list", label_selector: ownerSelector("me") })), ["shop/a"]);
  assert.deepEqual(names(send({ verb: "list", label_selector: `${OWNER_LABEL}!=me` })), ["shop/b"]);
  assert.deepEqual(names(send({ verb: "list", label_selector: "team in (y, z)" })), ["shop/b"]);
  assert.deepEqual(names(send({ verb: "list", label_selector: "!team" })), []);
  assert.deepEqual(names(send({ verb: "list", field_selector: "metadata.name!=a" })), ["shop/b"]);
  r = send({ verb: "list", field_selector: "spec.x=1" });
  assert.deepEqual([r.status, r.message], [400, "field label not supported: spec.x"]);

  r = send({ verb: "patch", name: "a", patch: { data: { k: null, n: "1" }, metadata: { annotations: { seen: "yes" } } } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.object.data, { n: "1" });
  assert.equal(r.object.metadata.annotations.seen, "yes");
  assert.equal(r.object.metadata.labels.team, "x", "a merge patch keeps what it does not name");
  assert.equal(send({ verb: "patch", name: "zz", patch: {} }).status, 404);

  r = send({ verb: "apply", object: cm("d", {}, { x: "1" }), force: true });
  assert.equal(r.status, 201);
  r = send({ verb: "apply", object: { metadata: { name: "d" }, data: { y: "2" } } });
  assert.deepEqual([r.status, r.object.data, r.object.kind], [200, { x: "1", y: "2" }, "ConfigMap"]);

  r = send({ verb: "delete", name: "b" });
  assert.deepEqual([r.status, r.object.metadata.name], [200, "b"]);
  assert.equal(send({ verb: "delete", name: "b" }).status, 404);
  assert.equal(p.cluster.object("configmaps", "shop", "b"), undefined);

  r = send({ verb: "create", object: { metadata: { generateName: "gen-" } } });
  assert.equal(r.status, 201);
  assert.match(r.object.metadata.name, /^gen-.{5}$/);
  assert.equal(send({ verb: "create", object: { metadata: {} } }).status, 422);

  // The host's own refusals, before anything is "sent".
  assert.equal(send({ verb: "apply", object: { metadata: {} } }).error, "malformed request: a apply request needs a name (metadata.name)");
  assert.equal(send({ verb: "create", object: { metadata: { namespace: "other", name: "q" } } }).error,
    'malformed request: the request\'s namespace "shop" and the object\'s "other" differ');
  assert.equal(send({ verb: "watch" }).failure, "denied");
  assert.deepEqual(p.cluster.writes().map((w) => w.verb), ["create", "create", "create", "patch", "patch", "apply", "apply", "delete", "delete", "create", "create", "apply", "create"]);
});

const quota = (pods) => ({ apiVersion: "v1", kind: "ResourceQuota", metadata: { namespace: "shop", name: "defaults", annotations: { a: "1" } }, spec: { hard: { pods } } });
const verbs = (cluster) => cluster.requests.map((r) => r.verb);

test("ensure creates what is absent, with the owner label", () => {
  const p = plugin();
  const e = p.run("ensure", { resource: "resourcequotas", desired: quota("10"), owner: "me" });
  assert.deepEqual([e.result, e.name, e.wrote, e.desired_unchanged], ["created", "created", true, true]);
  assert.equal(e.object.metadata.labels[OWNER_LABEL], "me");
  assert.deepEqual(verbs(p.cluster), ["get", "create"]);
  const stored = p.cluster.object("resourcequotas", "shop", "defaults");
  assert.equal(stored.metadata.labels[OWNER_LABEL], "me");
  assert.equal(stored.metadata.annotations.a, "1");
  assert.equal(stored.spec.hard.pods, "10");
});

test("ensure writes nothing when equal, and applies (forced) only a difference", () => {
  const p = plugin();
  p.run("ensure", { resource: "resourcequotas", desired: quota("10"), owner: "me" });
  // What the API server and others add (status, defaults, other labels) is no difference.
  const stored = p.cluster.object("resourcequotas", "shop", "defaults");
  stored.status = { used: { pods: "0" } };
  stored.spec.scopes = ["NotTerminating"];
  stored.metadata.labels.team = "payments";
  p.cluster.put("resourcequotas", stored);
  p.cluster.clearRequests();
  const again = p.run("ensure", { resource: "resourcequotas", desired: quota("10"), owner: "me" });
  assert.deepEqual([again.result, again.wrote], ["unchanged", false]);
  assert.deepEqual(verbs(p.cluster), ["get"], "no write when equal");

  const changed = p.run("ensure", { resource: "resourcequotas", desired: quota("20"), owner: "me" });
  assert.deepEqual([changed.result, changed.object.spec.hard.pods], ["updated", "20"]);
  assert.deepEqual(verbs(p.cluster), ["get", "get", "apply"]);
  const apply = p.cluster.writes()[0];
  assert.equal(apply.force, true, "the owner takes its fields back");
  assert.equal(apply.object.metadata.labels[OWNER_LABEL], "me");
  assert.equal(apply.namespace, undefined, "the object names its namespace");

  const annotated = quota("20");
  annotated.metadata.annotations.a = "2";
  assert.equal(p.run("ensure", { resource: "resourcequotas", desired: annotated, owner: "me" }).result, "updated");
  // The desired object's own labels are kept, and the owner label is added to them.
  const labelled = quota("20");
  labelled.metadata.labels = { tier: "gold" };
  const e = p.run("ensure", { resource: "resourcequotas", desired: labelled, owner: "me" });
  assert.deepEqual([e.result, e.object.metadata.labels.tier, e.object.metadata.labels[OWNER_LABEL]], ["updated", "gold", "me"]);
});

test("ensure and removeOwned leave objects they do not own alone", () => {
  const p = plugin();
  p.cluster.put("resourcequotas", quota("99"));
  let e = p.run("ensure", { resource: "resourcequotas", desired: quota("10"), owner: "me" });
  assert.deepEqual([e.result, e.name, e.wrote, e.object.spec.hard.pods], ["not owned", "not_owned", false, "99"]);
  const theirs = quota("99");
  theirs.metadata.labels = { [OWNER_LABEL]: "someone-else" };
  p.cluster.put("resourcequotas", theirs);
  e = p.run("ensure", { resource: "resourcequotas", desired: quota("10"), owner: "me" });
  assert.equal(e.result, "not owned");
  const r = p.run("remove", { resource: "resourcequotas", namespace: "shop", name: "defaults", owner: "me" });
  assert.deepEqual([r.result, r.name, r.wrote, r.object.metadata.labels[OWNER_LABEL]], ["not owned", "not_owned", false, "someone-else"]);
  assert.deepEqual(p.cluster.writes(), []);
  assert.ok(p.cluster.object("resourcequotas", "shop", "defaults"));
});

test("removeOwned deletes only the owner's object", () => {
  const p = plugin();
  let r = p.run("remove", { resource: "resourcequotas", namespace: "shop", name: "defaults", owner: "me" });
  assert.deepEqual([r.result, r.wrote], ["absent", false]);
  p.run("ensure", { resource: "resourcequotas", desired: quota("10"), owner: "me" });
  r = p.run("remove", { resource: "resourcequotas", namespace: "shop", name: "defaults", owner: "me" });
  assert.deepEqual([r.result, r.wrote], ["deleted", true]);
  assert.equal(p.cluster.object("resourcequotas", "shop", "defaults"), undefined);
  const deletes = p.cluster.writes().filter((w) => w.verb === "delete");
  assert.deepEqual(deletes.map((d) => d.namespace), ["shop"]);
  // Cluster-scoped: no namespace in the requests.
  p.cluster.put("namespaces", { metadata: { name: "shop", labels: { [OWNER_LABEL]: "me" } } });
  r = p.run("remove", { resource: "namespaces", name: "shop", owner: "me" });
  assert.equal(r.result, "deleted");
  assert.equal(p.cluster.raw.at(-1), '{"verb":"delete","resource":"namespaces","name":"shop"}');
  // Gone between the get and the delete.
  p.cluster.put("namespaces", { metadata: { name: "gone", labels: { [OWNER_LABEL]: "me" } } });
  p.cluster.intercept = (req) => (req.verb === "delete" ? { status: 404, message: "gone" } : undefined);
  assert.equal(p.run("remove", { resource: "namespaces", name: "gone", owner: "me" }).result, "absent");
});

test("refusals and host errors are told apart", () => {
  const p = plugin();
  p.cluster.intercept = (req) => (req.verb === "get" ? { status: 404, message: "not found" } : { status: 403, message: "forbidden" });
  let e = p.run("ensure", { resource: "resourcequotas", desired: quota("1"), owner: "me" });
  assert.deepEqual([e.result, e.name, e.verb, e.status, e.failure, e.transient], ["refused: create 403: forbidden", "refused", "create", 403, "status", false]);
  p.cluster.intercept = (req) => (req.verb === "get" ? undefined : { status: 500, message: "etcd" });
  p.cluster.put("resourcequotas", { ...quota("2"), metadata: { ...quota("2").metadata, labels: { [OWNER_LABEL]: "me" } } });
  e = p.run("ensure", { resource: "resourcequotas", desired: quota("1"), owner: "me" });
  assert.deepEqual([e.result, e.verb, e.status, e.transient], ["refused: apply 500: etcd", "apply", 500, true]);
  p.cluster.intercept = () => fail("denied: plugin p may not get resourcequotas");
  e = p.run("ensure", { resource: "resourcequotas", desired: quota("1"), owner: "me" });
  assert.deepEqual([e.result, e.name, e.verb, e.failure, e.transient], ["failed: denied: plugin p may not get resourcequotas", "failed", "get", "denied", false]);
  const r = p.run("remove", { resource: "resourcequotas", namespace: "shop", name: "x", owner: "me" });
  assert.deepEqual([r.name, r.failure], ["failed", "denied"]);
  p.cluster.intercept = () => fail("throttled: 10 writes per second");
  assert.equal(p.run("ensure", { resource: "resourcequotas", desired: quota("1"), owner: "me" }).transient, true);
  p.cluster.intercept = null;
  e = p.run("ensure", { resource: "resourcequotas", desired: { metadata: {} }, owner: "me" });
  assert.deepEqual([e.result, e.failure, e.verb], ["failed: malformed request: ensure needs an object with metadata.name", "invalid", null]);
  p.cluster.intercept = (req) => (req.verb === "get" ? { status: 403, message: "rbac" } : undefined);
  e = p.run("ensure", { resource: "resourcequotas", desired: quota("1"), owner: "me" });
  assert.deepEqual([e.result, e.verb], ["refused: get 403: rbac", "get"]);
});

test("contains and matchesDesired compare only the desired fields (the Rust SDK's cases)", () => {
  const p = plugin();
  const current = { a: { b: 1, c: [{ port: 80, protocol: "TCP" }] }, d: 2, e: {} };
  const check = (desired, want, cur = current) => assert.equal(p.run("contains", { current: cur, desired }).contains, want, JSON.stringify(desired));
  check({ a: { c: [{ port: 80 }] } }, true);
  check({ e: {} }, true);
  check({ a: {} }, false); // {} means empty
  check({ f: null }, true);
  check({ d: null }, false);
  check({ a: { c: [] } }, false);
  check({ a: { b: 2 } }, false);
  check({ g: {} }, false);
  check({ d: 2.0 }, true);
  check({ d: "2" }, false);

  const object = { metadata: { labels: { a: "1", b: "2" }, annotations: { x: "y" } }, spec: { p: 1 }, status: { q: 2 } };
  const wanted = { apiVersion: "v1", kind: "K", metadata: { name: "n", labels: { a: "1" }, annotations: {} }, spec: { p: 1 } };
  const matches = (desired) => p.run("contains", { current: object, desired }).matches;
  assert.equal(matches(wanted), true, "others' labels and annotations count not");
  assert.equal(matches({ ...wanted, spec: { p: 2 } }), false);
  assert.equal(matches({ ...wanted, metadata: { ...wanted.metadata, labels: { b: "3" } } }), false);
  assert.equal(matches({ ...wanted, status: { q: 3 } }), true, "status is the API server's");
});

test("metrics: counter, gauge and observe send the host's update documents", () => {
  const p = plugin();
  const m = (spec) => p.run("metric", spec);
  let r = m({ kind: "counter", name: "warnings" });
  assert.deepEqual(r, { recorded: true, json: '{"name":"warnings","kind":"counter","value":1}' });
  assert.equal(p.metrics.raw.at(-1), r.json);
  r = m({ kind: "counter", name: "warnings", value: 2, labels: { reason: "Back\"Off\n" }, help: "Warning events by reason" });
  assert.equal(r.json, '{"name":"warnings","kind":"counter","help":"Warning events by reason","labels":{"reason":"Back\\"Off\\n"},"value":2}');
  // The host keeps a metric's first help and buckets: once it recorded one update, they are left out.
  assert.equal(p.metrics.raw.at(-1), '{"name":"warnings","kind":"counter","labels":{"reason":"Back\\"Off\\n"},"value":2}');
  assert.equal(p.metrics.value("warnings"), 1);
  assert.equal(p.metrics.value("warnings", { reason: "Back\"Off\n" }), 2);
  assert.equal(p.metrics.help("warnings"), "", "help comes from the first update");

  r = m({ kind: "gauge", name: "zones", value: -2.5, labels: ["b", "2", "a", "1"] });
  assert.deepEqual(r, { recorded: true, json: '{"name":"zones","kind":"gauge","labels":{"b":"2","a":"1"},"value":-2.5}' });
  m({ kind: "gauge", name: "zones", value: 3, labels: ["a", "1", "b", "2"] });
  assert.equal(p.metrics.value("zones", { a: "1", b: "2" }), 3);

  const buckets = [1024, 65536, 1048576];
  r = m({ kind: "histogram", name: "object_bytes", value: 2000, labels: { kind: "ConfigMap" }, help: "Sizes", buckets });
  assert.equal(r.json, '{"name":"object_bytes","kind":"histogram","help":"Sizes","labels":{"kind":"ConfigMap"},"value":2000,"buckets":[1024,65536,1048576]}');
  m({ kind: "histogram", name: "object_bytes", value: 0.25, labels: { kind: "ConfigMap" }, buckets });
  assert.equal(p.metrics.raw.at(-1), '{"name":"object_bytes","kind":"histogram","labels":{"kind":"ConfigMap"},"value":0.25}');
  assert.deepEqual(p.metrics.value("object_bytes", { kind: "ConfigMap" }), { buckets, counts: [1, 2, 2], sum: 2000.25, count: 2 });
  r = m({ kind: "histogram", name: "latency", value: 1e21 });
  assert.deepEqual(r, { recorded: true, json: '{"name":"latency","kind":"histogram","value":1e+21}' });

  // Refusals: the host's checks, and an odd label list, which never reaches the host.
  const refusals = [
    [{ kind: "counter", name: "Bad-Name" }, /a name is \[a-z\]\[a-z0-9_\]\*/],
    [{ kind: "counter", name: "events_total" }, /may not end with _total/],
    [{ kind: "gauge", name: "warnings", value: 1 }, /is a counter, not a gauge/],
    [{ kind: "counter", name: "down", value: -1 }, /only goes up/],
    [{ kind: "gauge", name: "g", value: 1, labels: { plugin: "x" } }, /not `plugin` or `le`/],
    [{ kind: "histogram", name: "h", value: 1, buckets: [2, 1] }, /ascending/],
  ];
  for (const [spec, reason] of refusals) {
    assert.equal(m(spec).recorded, false, JSON.stringify(spec));
    assert.match(p.metrics.refusals.at(-1).reason, reason);
  }
  // A refused first update does not declare the metric: help and buckets go with the next one.
  const first = { kind: "histogram", name: "h2", value: 1, help: "H", buckets: [1] };
  assert.equal(m({ ...first, labels: { le: "1" } }).recorded, false);
  assert.equal(m(first).recorded, true);
  assert.equal(p.metrics.raw.at(-1), '{"name":"h2","kind":"histogram","help":"H","value":1,"buckets":[1]}');
  assert.deepEqual(p.metrics.buckets("h2"), [1]);
  const sent = p.metrics.raw.length;
  assert.deepEqual(m({ kind: "gauge", name: "odd", value: 1, labels: ["a"] }), { recorded: false, json: null });
  m({ kind: "gauge", name: "odd", value: 1, labels: ["a", "b", "c"] });
  assert.equal(p.metrics.raw.length, sent, "not sent");
  assert.deepEqual(p.logs.filter(([level]) => level === 3).map(([, text]) => text),
    ["metric odd is not recorded: its labels must be name/value pairs (an even number of strings)"], "warned once");
});

test("metric values: integers without a fraction, NaN as null (which the host refuses)", () => {
  const p = plugin();
  assert.equal(p.run("metric", { kind: "gauge", name: "g", value: 3e15 }).json, '{"name":"g","kind":"gauge","value":3000000000000000}');
  assert.equal(p.run("metric", { kind: "gauge", name: "g", value: 0.1 }).json, '{"name":"g","kind":"gauge","value":0.1}');
  // JSON has no NaN: the case's `nan` makes the plugin send one.
  const r = p.run("metric", { kind: "gauge", name: "g", value: 0, nan: true });
  assert.deepEqual(r, { recorded: false, json: '{"name":"g","kind":"gauge","value":null}' });
  assert.equal(p.metrics.refusals.at(-1).reason, "malformed metric update: value must be a number");
  assert.equal(p.metrics.value("g"), 0.1);
});

test("JsonValue parses and writes JSON: escapes, numbers, errors, depth", () => {
  const p = plugin();
  const roundTrip = (text) => p.run("json", { text });
  assert.deepEqual(roundTrip(' {"a" : [1, -0.5e-3, 1E2, 12345678901234567890, true, false, null], "b": {}, "c": []} '),
    { json: '{"a":[1,-0.5e-3,1E2,12345678901234567890,true,false,null],"b":{},"c":[]}', type: "object" });
  assert.deepEqual(roundTrip('"\\u00e9\\ud83d\\ude80\\/\\t\\"\\\\\\u0000\\u001f"'), { json: '"é🚀/\\t\\"\\\\\\u0000\\u001f"', type: "string" });
  assert.deepEqual(roundTrip('{"k":1,"k":2,"j":3}'), { json: '{"k":2,"j":3}', type: "object" }, "the last duplicate counts");
  assert.deepEqual(roundTrip("3"), { json: "3", type: "number" });
  const big = `{${Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(",")},"k7":"last"}`;
  assert.equal(JSON.parse(roundTrip(big).json).k7, "last", "large objects use an index");
  const errors = [
    ["", "the JSON is truncated at byte 0"],
    ["[1,]", "expected a value at byte 3"],
    ["01", "invalid number at byte 2"],
    ["1.", "invalid number at byte 2"],
    ["-", "invalid number at byte 1"],
    ["tru", "expected a value at byte 0"],
    ['{"a":1', "the JSON is truncated at byte 6"],
    ['{"a":1} {}', "unexpected data after the JSON object at byte 8"],
    ['"\\ud800"', "unpaired surrogate at byte 7"],
    ['"a\u0001"', "control character in string at byte 2"],
    ["[".repeat(300) + "]".repeat(300), "the JSON nests deeper than 256 levels at byte 256"],
  ];
  for (const [text, error] of errors) assert.deepEqual(roundTrip(text), { error }, text);
  assert.deepEqual(roundTrip("[".repeat(256) + "]".repeat(256)).type, "array");
});

test("JsonValue builds objects: setters, escapes, numbers, clone, equals", () => {
  const p = plugin();
  const outcome = p.handle({ type: "ADDED", object: { kind: "Case", metadata: { name: "build" } } });
  // Compare the text: JSON.parse would round the 64-bit integers.
  assert.equal(JSON.parse(p.lastResult).message,
    '{"text":"q\\"b\\\\n\\n\\tc\\u0001é😀","labels":{"app":"shop"},"list":[-9007199254740993,0.5,3,null,false,null],"big":1e+21,' +
    '"clone_independent":true,"equals_self":true,"equals_reordered":true,"not_equal":false,"big_equal":true,"big_integer":12345678901234567,"length":10}');
  assert.equal(outcome.level, "INFO");
});

test("the README's Kubernetes example: create once, then nothing; others' objects left alone", () => {
  const cluster = new FakeCluster();
  const plugin = loadPlugin(join(target, "kube_example.wasm"), { cluster });
  const namespace = (name, type = "ADDED") => ({ type, object: { apiVersion: "v1", kind: "Namespace", metadata: { name } } });
  assert.deepEqual(plugin.handle(namespace("shop")), { level: "INFO", message: "team-defaults in shop: created" });
  assert.deepEqual(cluster.object("configmaps", "shop", "team-defaults").data, { log_level: "info" });
  assert.equal(cluster.object("configmaps", "shop", "team-defaults").metadata.labels[OWNER_LABEL], "team-defaults");
  // The event of its own write, or a resync: no write.
  cluster.clearRequests();
  assert.equal(plugin.handle(namespace("shop", "MODIFIED")), null);
  assert.deepEqual(cluster.writes(), []);
  // Someone changed the data: put back.
  const edited = cluster.object("configmaps", "shop", "team-defaults");
  edited.data.log_level = "debug";
  cluster.put("configmaps", edited);
  assert.deepEqual(plugin.handle(namespace("shop", "MODIFIED")), { level: "INFO", message: "team-defaults in shop: updated" });
  assert.equal(cluster.object("configmaps", "shop", "team-defaults").data.log_level, "info");
  // Someone else's ConfigMap of that name: left alone.
  cluster.put("configmaps", { metadata: { namespace: "payments", name: "team-defaults" }, data: { mine: "yes" } });
  assert.deepEqual(plugin.handle(namespace("payments")), { level: "INFO", message: "team-defaults in payments: not owned" });
  assert.deepEqual(cluster.object("configmaps", "payments", "team-defaults").data, { mine: "yes" });
  cluster.intercept = () => fail("denied: plugin may not get configmaps");
  assert.deepEqual(plugin.handle(namespace("kube-system")), { level: "WARN", message: "team-defaults in kube-system: failed: denied: plugin may not get configmaps" });
  assert.equal(plugin.handle(namespace("shop", "DELETED")), null);
  for (const [result, count] of [["created", 1], ["unchanged", 1], ["updated", 1], ["not_owned", 1], ["failed", 1]]) {
    assert.equal(plugin.metrics.value("defaults_ensured", { result }), count, result);
  }
  assert.equal(plugin.metrics.help("defaults_ensured"), "Namespace events by what ensure did");
});

test("memory stays flat: answers and requests are freed", () => {
  const p = plugin();
  const big = { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "shop", name: "big" }, data: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, "v".repeat(200)])) };
  for (let i = 0; i < 20; i++) p.run("ensure", { resource: "configmaps", desired: big, owner: "me" });
  const size = p.exports.memory.buffer.byteLength;
  for (let i = 0; i < 300; i++) {
    p.run("ensure", { resource: "configmaps", desired: big, owner: "me" });
    p.run("request", { verb: "list", resource: "configmaps" });
    p.run("metric", { kind: "counter", name: "loops", labels: { i: String(i % 5) } });
  }
  assert.equal(p.exports.memory.buffer.byteLength, size);
});
