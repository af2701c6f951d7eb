// The event-controller JavaScript SDK (guest ABI v2): what a plugin or its tests may import.
// Types for TypeScript: index.d.ts. How to write, build and test a plugin: README.md.
export { LEVELS, Watcher, createWorld, describe, isRetryable, levelOf, parseLevel, reportUncaught, toOutcome } from "./src/sdk.js";
export { FakeWatcher, invoke } from "./src/fake.js";
