// Unit tests of the plugin, run by `bash build.sh test` (Node's test runner): they load
// plugins/{{name}}.wasm and call it as event-controller does (_initialize, init, alloc,
// handle_event, dealloc), with event_controller.log as its only import.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const wasm = readFileSync(new URL("../plugins/{{name}}.wasm", import.meta.url));

/** Instantiates the plugin and returns a function that hands it one event. */
function load() {
  let memory;
  const text = (ptr, len) => Buffer.from(memory.buffer, ptr, len).toString("utf8");
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(wasm), {
    event_controller: { log: (level, ptr, len) => console.error(`[${level}] ${text(ptr, len)}`) },
  });
  memory = exports.memory;
  const put = (string) => {
    const bytes = Buffer.from(string, "utf8");
    const ptr = exports.alloc(bytes.length);
    new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
    return [ptr, bytes.length];
  };
  exports._initialize();
  if (exports.init) {
    const [ptr, len] = put("{}");
    assert.equal(exports.init(ptr, len), 0, "init accepts an empty config");
    exports.dealloc(ptr, len);
  }
  return (event) => {
    const [ptr, len] = put(event);
    const packed = BigInt.asUintN(64, exports.handle_event(ptr, len));
    let result = null;
    if (packed !== 0n) {
      const resultPtr = Number(packed >> 32n);
      const resultLen = Number(packed & 0xffffffffn);
      result = JSON.parse(text(resultPtr, resultLen));
      exports.dealloc(resultPtr, resultLen);
    }
    exports.dealloc(ptr, len);
    return result;
  };
}

test("logs kind and name", () => {
  const handle = load();
  const event = '{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"shop"},"spec":{}}}';
  assert.deepEqual(handle(event), { level: "INFO", message: "Kind: Pod; Name: web-1" });
});

test("reads the object, not its nested members", () => {
  const handle = load();
  const event = '{"object":{"metadata":{"ownerReferences":[{"kind":"ReplicaSet","name":"rs"}],"name":"web-2"},"kind":"Pod"},"type":"MODIFIED"}';
  assert.deepEqual(handle(event), { level: "INFO", message: "Kind: Pod; Name: web-2" });
});

test("says nothing without a name", () => {
  const handle = load();
  assert.equal(handle('{"type":"ADDED","object":{"kind":"Pod","metadata":{}}}'), null);
});

test("every event of events.jsonl", () => {
  const handle = load();
  const lines = readFileSync(new URL("../events.jsonl", import.meta.url), "utf8").split("\n").filter((l) => l.trim());
  for (const line of lines) {
    const { object } = JSON.parse(line);
    const message = `Kind: ${object.kind}; Name: ${object.metadata.name}`;
    assert.deepEqual(handle(line), { level: "INFO", message });
  }
});
