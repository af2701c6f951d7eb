// event-controller guest helper for AssemblyScript: the public API (see ../README.md).
//
// A plugin's entry file re-exports the fixed exports and writes `handle_event` (and optionally
// `init`) as one-line wrappers around `runHandleEvent` / `runInit`:
//
//   import { Event, Outcome, runHandleEvent } from "<path>/guest-sdk/assemblyscript/assembly";
//   export { alloc, dealloc, ec_abi_version } from "<path>/guest-sdk/assemblyscript/assembly";
//   export function handle_event(ptr: usize, len: i32): i64 { return runHandleEvent(ptr, len, handle); }
//   function handle(event: Event): Outcome | null { ... }
//
// Kubernetes requests and metrics are in ./kube and ./metric: import them from there. They are
// not re-exported here because `event-controller new` vendors this file and the files it names
// (host/src/commands/new.rs), not kube.ts and metric.ts.

export { alloc, config, dealloc, ec_abi_version, emit, Level, log, Outcome, runHandleEvent, runInit } from "./abi";
export { Config } from "./config";
export { Event, Head, readHead } from "./event";
export { JsonReader, JsonType, JsonValue, JsonWriter, MAX_DEPTH } from "./json";
