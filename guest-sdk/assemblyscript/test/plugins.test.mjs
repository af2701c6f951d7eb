// Tests of the helper through real modules, run by `npm test` (node's test runner).
//
// Builds the plugins with scripts/build-assemblyscript.sh into a temporary target directory, and
// test/example.ts and test/abort.ts with the same flags, then drives them as the host does
// (alloc, write, call, read the packed result, dealloc) with tools/fake-host.mjs. Expected
// outputs are computed from the events with JSON.parse, never taken from a plugin. The real host
// runs the same plugins in the conformance suite (tests/conformance.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadPlugin } from "../tools/fake-host.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const target = mkdtempSync(join(tmpdir(), "ec-as-test-"));
process.on("exit", () => rmSync(target, { recursive: true, force: true }));

execFileSync("bash", [join(root, "scripts/build-assemblyscript.sh")], {
  env: { ...process.env, CARGO_TARGET_DIR: target },
  stdio: ["ignore", "ignore", "inherit"],
});
const asc = join(here, "..", "node_modules", ".bin", "asc");
const flags = ["--runtime", "minimal", "--exportStart", "_initialize", "--use", "abort=__ec_abort",
  "--optimizeLevel", "3", "--shrinkLevel", "0", "--noAssert"];
for (const name of ["example", "abort"]) {
  execFileSync(asc, [join(here, `${name}.ts`), ...flags, "--outFile", join(target, `${name}.wasm`)], { stdio: "inherit" });
}

/** Instantiates a module like the host (tools/fake-host.mjs: only the host's imports;
 *  _initialize, then init). `handle` also checks that a result is valid UTF-8 (no U+FFFD). */
function load(file, config = "{}") {
  const plugin = loadPlugin(file, { config });
  const handle = (event) => {
    const result = plugin.handle(event);
    if (plugin.lastResult !== null) assert.ok(!plugin.lastResult.includes("\ufffd"), plugin.lastResult);
    return result;
  };
  return { x: plugin.exports, logs: plugin.logs, metrics: plugin.metrics, initCode: plugin.initCode, handle };
}

const importsOf = (file) => WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(file))).map((i) => `${i.module}.${i.name}`).sort();

test("each module imports only the host functions it uses", () => {
  assert.deepEqual(importsOf(join(target, "plugins", "assemblyscript_simple.wasm")), ["event_controller.log"]);
  assert.deepEqual(importsOf(join(target, "plugins", "assemblyscript_configmap_size.wasm")), ["event_controller.log", "event_controller.metric"]);
  assert.deepEqual(importsOf(join(target, "example.wasm")), ["event_controller.log"]);
  assert.deepEqual(importsOf(join(target, "abort.wasm")), ["event_controller.log"]);
});

const data = join(root, "tests", "data");
const eventsOf = (file) => readFileSync(file, "utf8").split("\n").filter((l) => l.trim());
const fixtures = [
  ...readdirSync(join(data, "watch")).filter((f) => f.endsWith(".jsonl")).map((f) => join(data, "watch", f)),
  join(data, "conformance", "edge-cases.jsonl"),
  join(data, "conformance", "large-configmap.json"),
].flatMap(eventsOf).filter((e) => !["BOOKMARK", "ERROR"].includes(JSON.parse(e).type));

test("assemblyscript_simple meets the conformance contract on every fixture", () => {
  for (const config of [{}, { prefix: "[é] " }, { skip_kind: "Pod" }, { prefix: "\"\\\n😀", skip_kind: "Con\u0066igMap", other: [1, { a: null }] }]) {
    const plugin = load(join(target, "plugins", "assemblyscript_simple.wasm"), JSON.stringify(config));
    assert.equal(plugin.initCode, 0);
    for (const event of fixtures) {
      const { kind, metadata } = JSON.parse(event).object;
      const expected = kind === config.skip_kind ? null
        : { level: "INFO", message: `${config.prefix ?? ""}Kind: ${kind}; Name: ${metadata.name}` };
      assert.deepEqual(plugin.handle(event), expected, event.slice(0, 120));
    }
  }
});

test("the head reader: any member order, nested look-alikes, escapes in keys and values", () => {
  const plugin = load(join(target, "plugins", "assemblyscript_simple.wasm"));
  const cases = [
    ['{"object":{"metadata":{"labels":{"name":"l"},"name":"n"},"spec":{"kind":"X"},"kind":"K"},"type":"ADDED"}', "Kind: K; Name: n"],
    ['{"type":"ADDED","object":{"ki\\u006ed":"K","metadata":{"n\\u0061me":"\\ud83d\\ude80\\u00e9\\/\\t\\"\\\\"}}}', 'Kind: K; Name: 🚀é/\t"\\'],
    ['{"type":"ADDED","object":{"kind":"A","kind":"B","metadata":{"name":"dup"}}}', "Kind: B; Name: dup"],
    [`{"type":"ADDED","object":{"kind":"Deep","spec":${"[".repeat(100000)}${"]".repeat(100000)},"metadata":{"name":"d"}}}`, "Kind: Deep; Name: d"],
    ['{"type":"ADDED","object":{"kind":"K","metadata":{"name":"a\\u0000\\u001f"}}}', "Kind: K; Name: a\u0000\u001f"],
  ];
  for (const [event, message] of cases) assert.deepEqual(plugin.handle(event), { level: "INFO", message });
});

test("unreadable events give the Rust reference's ERROR outcomes", () => {
  const plugin = load(join(target, "plugins", "assemblyscript_simple.wasm"));
  const head = (m) => ({ level: "ERROR", message: `cannot read the event's head: ${m}` });
  const cases = [
    ["{", head("the JSON is truncated at byte 1")],
    ["[1]", head("the event is not a JSON object at byte 0")],
    ['{"object":{"kind":"P\\x","metadata":{"name":"a"}}}', head("invalid escape at byte 22")],
    ['{"object":{"kind":"P\\ud800","metadata":{"name":"a"}}}', head("unpaired surrogate at byte 26")],
    ['{"object":{"kind":"Pod","metadata":{"name":"a"}}} x', head("unexpected data after the JSON object at byte 50")],
    ['{"object":{"kind":"Pod","metadata":{"name":"a"}},}', head("expected a string key at byte 49")],
    ['{"type":"ADDED","object":{}}', { level: "ERROR", message: "event has no object.kind and no object.metadata.name" }],
    ['{"object":{"kind":"Pod","metadata":{}}}', { level: "ERROR", message: "event has no object.metadata.name" }],
  ];
  for (const [event, outcome] of cases) assert.deepEqual(plugin.handle(event), outcome, event);
});

test("config type errors refuse with an ERROR log", () => {
  for (const config of ['{"prefix":5}', '{"prefix":null}', '{"skip_kind":[]}', "[]"]) {
    const plugin = load(join(target, "plugins", "assemblyscript_simple.wasm"), config);
    assert.equal(plugin.initCode, 1, config);
    assert.equal(plugin.logs.length, 1);
    assert.equal(plugin.logs[0][0], 4);
  }
  assert.equal(load(join(target, "plugins", "assemblyscript_simple.wasm"), '{"skip_kind":null}').initCode, 0);
});

test("memory stays flat: garbage is collected after every call", () => {
  const plugin = load(join(target, "plugins", "assemblyscript_simple.wasm"), '{"prefix":"p "}');
  const large = eventsOf(join(data, "conformance", "large-configmap.json"))[0];
  for (let i = 0; i < 50; i++) plugin.handle(large);
  const size = plugin.x.memory.buffer.byteLength;
  for (let i = 0; i < 2000; i++) plugin.handle(fixtures[i % fixtures.length]);
  assert.equal(plugin.x.memory.buffer.byteLength, size);
  assert.equal(plugin.handle(fixtures[0]).message.slice(0, 8), "p Kind: "); // the global survived
});

/** Data bytes as the configmap_size plugin counts them, from JSON.parse. */
function dataBytes(object) {
  const b64 = (v) => Buffer.from(v, "base64").length;
  let total = 0;
  for (const v of Object.values(object.data ?? {})) {
    if (typeof v === "string") total += object.kind === "Secret" ? b64(v) : Buffer.byteLength(v, "utf8");
  }
  for (const v of Object.values(object.binaryData ?? {})) if (typeof v === "string") total += b64(v);
  return total;
}

test("assemblyscript_configmap_size warns above the limit", () => {
  const extra = [
    '{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"bin","namespace":"n"},"binaryData":{"a":"AAEC","b":"AAE=","c":"AA==","d":"AAE\\u003d"},"data":{"t":"h\\u00e9llo \\ud83d\\ude80","n":null}}}',
    '{"type":"ADDED","object":{"kind":"Secret","metadata":{"name":"s","namespace":"n"},"data":{"p":"cGFzc3dvcmQ=","q":"cGFzcw\\u003d\\u003d"}}}',
    '{"type":"MODIFIED","object":{"data":{"x":"12345"},"metadata":{"namespace":"n","name":"late"},"kind":"ConfigMap"}}',
    '{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"nested","namespace":"n","annotations":{"data":"x"}},"spec":{"data":{"x":"zzzz"}}}}',
  ];
  for (const limit of [0, 20, 32768]) {
    const plugin = load(join(target, "plugins", "assemblyscript_configmap_size.wasm"), JSON.stringify({ limit_bytes: limit }));
    assert.equal(plugin.initCode, 0);
    const observed = { ConfigMap: [], Secret: [] };
    for (const event of [...fixtures, ...extra]) {
      const { type, object } = JSON.parse(event);
      const bytes = dataBytes(object);
      const measured = ["ConfigMap", "Secret"].includes(object.kind) && type !== "DELETED";
      if (measured) observed[object.kind].push(bytes);
      const expected = measured && bytes > limit
        ? { level: "WARN", message: `${object.kind} ${object.metadata.namespace}/${object.metadata.name} holds ${bytes} bytes of data (limit ${limit})` }
        : null;
      assert.deepEqual(plugin.handle(event), expected, event.slice(0, 120));
    }
    // Every measured object is observed in the histogram object_data_bytes{kind}, whatever the limit.
    const buckets = [1024, 4096, 16384, 32768, 65536, 262144, 524288, 1048576];
    for (const [kind, sizes] of Object.entries(observed)) {
      assert.ok(sizes.length > 0, kind);
      assert.deepEqual(plugin.metrics.value("object_data_bytes", { kind }), {
        buckets,
        counts: buckets.map((bound) => sizes.filter((n) => n <= bound).length),
        sum: sizes.reduce((a, b) => a + b, 0),
        count: sizes.length,
      }, kind);
    }
    assert.deepEqual(plugin.metrics.refusals, []);
    assert.equal(plugin.metrics.kind("object_data_bytes"), "histogram");
    assert.match(plugin.metrics.help("object_data_bytes"), /^Bytes of data/);
  }
  const sized = load(join(target, "plugins", "assemblyscript_configmap_size.wasm"));
  sized.handle(extra[2]);
  assert.deepEqual(JSON.parse(sized.metrics.raw[0]), {
    name: "object_data_bytes", kind: "histogram",
    help: "Bytes of data (data and binaryData values) of the ConfigMaps and Secrets seen in ADDED and MODIFIED events",
    labels: { kind: "ConfigMap" }, value: 5, buckets: [1024, 4096, 16384, 32768, 65536, 262144, 524288, 1048576],
  });
  sized.handle(extra[1]);
  assert.equal(sized.metrics.raw[1], '{"name":"object_data_bytes","kind":"histogram","labels":{"kind":"Secret"},"value":12}');
  const large = eventsOf(join(data, "conformance", "large-configmap.json"))[0];
  assert.deepEqual(load(join(target, "plugins", "assemblyscript_configmap_size.wasm")).handle(large),
    { level: "WARN", message: "ConfigMap shop/large-config holds 56100 bytes of data (limit 32768)" });
  for (const bad of ['{"limit_bytes":-1}', '{"limit_bytes":"1"}', '{"limit_bytes":1.5}']) {
    assert.equal(load(join(target, "plugins", "assemblyscript_configmap_size.wasm"), bad).initCode, 1, bad);
  }
});

test("the subscription custom section is appended", () => {
  const module = new WebAssembly.Module(readFileSync(join(target, "plugins", "assemblyscript_configmap_size.wasm")));
  const sections = WebAssembly.Module.customSections(module, "event-controller.subscribe");
  assert.equal(sections.length, 1);
  assert.deepEqual(JSON.parse(Buffer.from(sections[0]).toString()).resources, ["configmaps", "secrets"]);
});

test("the README example works", () => {
  const plugin = load(join(target, "example.wasm"), '{"prefix":"> "}');
  assert.deepEqual(plugin.handle(fixtures[0]), {
    level: "INFO",
    message: `> Kind: ${JSON.parse(fixtures[0]).object.kind}; Name: ${JSON.parse(fixtures[0]).object.metadata.name}`,
  });
});

test("abort logs the message through the host, then traps", () => {
  const plugin = load(join(target, "abort.wasm"));
  assert.deepEqual(plugin.handle('{"type":"ADDED","object":{"kind":"K","metadata":{"name":"fine"}}}'), { level: "INFO", message: "ok" });
  assert.throws(() => plugin.handle('{"type":"ADDED","object":{"kind":"K","metadata":{"name":"boom"}}}'), /unreachable/);
  assert.equal(plugin.logs.length, 1);
  assert.equal(plugin.logs[0][0], 4);
  assert.match(plugin.logs[0][1], /^abort: boom: boom at .*abort\.ts:\d+:\d+$/);
});
