// The repository's JavaScript plugins, unit-tested as a plugin author would: plain Node.js, the
// SDK's FakeWatcher and invoke, no component build. npm test --prefix guest-sdk/js
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { FakeWatcher, invoke } from "../index.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const simple = await import(join(root, "plugins-wasm/js_simple/plugin.js"));
// The JavaScript test plugin: one behaviour per config `mode`, as the host's tests load it.
const modes = await import(join(root, "tests/plugins/js_test_modes/plugin.js"));

const EVENT = { type: "ADDED", object: { kind: "Pod", apiVersion: "v1", metadata: { name: "web-1", namespace: "shop" } } };

// The events the conformance suite feeds every port (docs/conformance.md), watch BOOKMARKs aside.
function conformanceEvents() {
  const files = [
    ...readdirSync(join(root, "tests/data/watch")).map((f) => join(root, "tests/data/watch", f)),
    join(root, "tests/data/conformance/edge-cases.jsonl"),
  ];
  const lines = files.flatMap((f) => readFileSync(f, "utf8").split("\n").filter((l) => l.trim()));
  lines.push(readFileSync(join(root, "tests/data/conformance/large-configmap.json"), "utf8"));
  return lines.filter((l) => !["BOOKMARK", "ERROR"].includes(JSON.parse(l).type));
}

test("js_simple meets the conformance contract on the suite's events", async () => {
  const events = conformanceEvents();
  assert.ok(events.length >= 40, `only ${events.length} events`);
  for (const config of [{}, { prefix: "[é] " }, { skip_kind: "Pod" }]) {
    for (const line of events) {
      const { object } = JSON.parse(line);
      const want =
        object.kind === config.skip_kind
          ? undefined
          : { level: "info", message: `${config.prefix ?? ""}Kind: ${object.kind}; Name: ${object.metadata.name}`, retry: false, retryAfterMs: undefined };
      const { outcome } = await invoke(simple, line, { config });
      assert.deepEqual(outcome, want, `${JSON.stringify(config)} ${line.slice(0, 120)}`);
    }
  }
});

test("js_simple refuses a bad config and names a missing field", async () => {
  await assert.rejects(invoke(simple, EVENT, { config: { prefix: 3 } }), /prefix is not a string/);
  await assert.rejects(invoke(simple, EVENT, { config: { skip_kind: ["Pod"] } }), /skip_kind is not a string/);
  const { outcome } = await invoke(simple, { type: "ADDED", object: { kind: "Pod", metadata: {} } });
  assert.deepEqual(outcome, { level: "error", message: "event has no object.metadata.name", retry: false, retryAfterMs: undefined });
});

test("js_test_modes (services) logs through the watcher and on stdout", async (t) => {
  const printed = [];
  t.mock.method(console, "log", (m) => printed.push(m));
  const watcher = new FakeWatcher();
  const { outcome } = await invoke(modes, EVENT, { watcher, config: { mode: "services" } });
  assert.deepEqual(outcome, { level: "debug", message: "handled web-1", retry: false, retryAfterMs: undefined });
  assert.deepEqual(watcher.logs, [{ level: "WARN", message: "services: Pod/web-1" }]);
  assert.deepEqual(printed, ["stdout: web-1"]);
});

test("js_test_modes' hostile modes fail as they should", async () => {
  await assert.rejects(invoke(modes, EVENT, { config: { mode: "throw" } }), { message: "javascript plugin exploded" });
  await assert.rejects(
    invoke(modes, EVENT, { config: { mode: "bad_outcome" } }),
    (e) => e instanceof TypeError && /returned \[42,"LOUD"\]/.test(e.message),
  );
  // Called directly, a plugin is just a function: its result is the SDK's to check.
  assert.deepEqual(modes.handleEvent(EVENT, { mode: "bad_outcome" }, new FakeWatcher()), [42, "LOUD"]);
});

test("js_test_modes refuses an unknown mode", async () => {
  for (const config of [{}, { mode: "dance" }, { mode: "toString" }]) {
    await assert.rejects(invoke(modes, EVENT, { config }), /init refused the config: .*mode must be one of/, JSON.stringify(config));
  }
});
