// The built components, run under Node.js through jco's transpiler with a fake host
// (tools/run-component.mjs): the SDK's glue as componentize-js really binds it. Needs the
// components (bash scripts/build-js.sh); each test is skipped when its component is not built.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadComponent } from "../tools/run-component.mjs";
import { componentImports } from "../tools/wasm-sections.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const target = resolve(root, process.env.CARGO_TARGET_DIR ?? "target");
const wasm = (dir, name) => join(target, dir, `${name}.wasm`);
const EVENT = JSON.stringify({ type: "ADDED", object: { kind: "Pod", apiVersion: "v1", metadata: { name: "web-1", namespace: "shop" } } });

const loaded = [];
after(() => loaded.forEach((l) => l.dispose()));

function host() {
  const calls = [];
  return {
    calls,
    log: (level, message) => calls.push(["log", level, message]),
    httpRequest: (r) => (calls.push(["http", r]), '{"error":"denied: test"}'),
    kubeRequest: (r) => (calls.push(["kube", r]), '{"error":"no Kubernetes connection"}'),
    metric: (r) => void calls.push(["metric", r]),
  };
}

function componentTest(name, dir, fn) {
  const file = wasm(dir, name);
  test(name, { skip: existsSync(file) ? false : `${file} is not built (bash scripts/build-js.sh)` }, async () => {
    const component = await loadComponent(file);
    loaded.push(component);
    await fn(component, file);
  });
}

componentTest("js_simple", "plugins", async (component, file) => {
  const names = componentImports(readFileSync(file)).filter((i) => i.sort === "instance").map((i) => i.name);
  assert.ok(names.includes("event-controller:plugin/host@2.0.0"));
  assert.deepEqual(names.filter((n) => !/^(event-controller:plugin\/[a-z]+@2\.0\.0|wasi:(io|cli|clocks|filesystem|random)\/[a-z-]+@0\.2\.\d+)$/.test(n)), []);

  const h = host();
  const instance = await component.instantiate(h);
  assert.equal(instance.init('{"prefix":"[é] "}'), undefined);
  assert.deepEqual(instance.handleEvent(EVENT), { level: "info", message: "[é] Kind: Pod; Name: web-1", retry: false, retryAfterMs: undefined });

  const refusing = await component.instantiate(h);
  assert.throws(() => refusing.init('{"prefix":3}'), (e) => /prefix is not a string/.test(e.payload ?? e.message));

  const skipping = await component.instantiate(h);
  skipping.init('{"skip_kind":"Pod"}');
  assert.equal(skipping.handleEvent(EVENT), undefined);
});

// js_test_modes, the JavaScript test plugin, in each mode the unit tests (plugins.test.mjs) run
// too: the config's `mode` picks the behaviour. (The loop and the memory bomb need the host's
// deadline and memory cap: tests/all/components.rs.)
componentTest("js_test_modes", "test-plugins", async (component) => {
  const h = host();
  const instance = await component.instantiate(h);
  instance.init('{"mode":"services"}');
  assert.deepEqual(instance.handleEvent(EVENT), { level: "debug", message: "handled web-1", retry: false, retryAfterMs: undefined });
  assert.deepEqual(h.calls, [
    ["log", "warn", "services: Pod/web-1"],
    ["metric", '{"name":"services_handled","kind":"counter","value":1,"help":"Events handled in services mode","labels":{"kind":"Pod"}}'],
  ]);

  const refusing = await component.instantiate(host());
  assert.throws(() => refusing.init('{"mode":"dance"}'), (e) => /mode must be one of/.test(e.payload ?? e.message));

  for (const mode of ["throw", "bad_outcome"]) {
    const failing = await component.instantiate(host());
    failing.init(JSON.stringify({ mode }));
    // The message and the stack go to stderr (shown by the test runner); the call traps.
    assert.throws(() => failing.handleEvent(EVENT), /unreachable/, mode);
    assert.throws(() => failing.handleEvent(EVENT), /cannot enter component instance/, mode);
  }
});
