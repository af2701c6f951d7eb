// The wasm reader and writer of tools/wasm-sections.mjs, on hand-made binaries.
import assert from "node:assert/strict";
import { test } from "node:test";
import { appendCustomSection, componentImports, customSectionNames, readSections } from "../tools/wasm-sections.mjs";

const COMPONENT = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
const MODULE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const name = (s) => [s.length, ...new TextEncoder().encode(s)];

// A component importing an instance, a func and a versioned (0x01) instance name, with a type
// section before the imports (the reader skips what it does not need).
function component() {
  const imports = [
    3,
    0x00, ...name("event-controller:plugin/host@2.0.0"), 0x05, 0x00,
    0x00, ...name("wasi:io/poll@0.2.12"), 0x05, 0x01,
    0x01, ...name("f"), ...name("1.0.0"), 0x01, 0x02,
  ];
  const types = [0x01, 0x40, 0x00, 0x01, 0x00]; // an arbitrary body: only skipped
  return Uint8Array.from([...COMPONENT, 7, types.length, ...types, 10, imports.length, ...imports]);
}

test("reads a component's imports", () => {
  assert.deepEqual(componentImports(component()), [
    { name: "event-controller:plugin/host@2.0.0", sort: "instance" },
    { name: "wasi:io/poll@0.2.12", sort: "instance" },
    { name: "f", sort: "func" },
  ]);
  assert.throws(() => componentImports(Uint8Array.from(MODULE)), /not a component/);
  assert.throws(() => readSections(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])), /not a WebAssembly binary/);
});

test("appends a custom section, once", () => {
  const payload = new TextEncoder().encode('{"resources":["pods"]}');
  const out = appendCustomSection(component(), "event-controller.subscribe", payload);
  assert.deepEqual(customSectionNames(out), ["event-controller.subscribe"]);
  const section = readSections(out).sections.at(-1);
  const nameLen = out[section.start];
  assert.equal(new TextDecoder().decode(out.subarray(section.start + 1 + nameLen, section.end)), '{"resources":["pods"]}');
  assert.equal(componentImports(out).length, 3); // still readable
  assert.throws(() => appendCustomSection(out, "event-controller.subscribe", payload), /already has/);
});

test("a section size above 127 takes a multi-byte LEB128, and a core module accepts it", () => {
  const payload = new TextEncoder().encode(JSON.stringify({ namespaces: Array.from({ length: 40 }, (_, i) => `ns-${i}`) }));
  const out = appendCustomSection(Uint8Array.from(MODULE), "event-controller.subscribe", payload);
  const mod = new WebAssembly.Module(out);
  const [got] = WebAssembly.Module.customSections(mod, "event-controller.subscribe");
  assert.deepEqual(new Uint8Array(got), payload);
});
