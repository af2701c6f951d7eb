// event-controller guest helper for AssemblyScript: the public API (see ../README.md).
//
// A plugin's entry file re-exports the fixed exports and writes `handle_event` (and optionally
// `init`) as one-line wrappers around `runHandleEvent` / `runInit`:
//
//   import { Event, Outcome, runHandleEvent } from "<path>/guest-sdk/assemblyscript/assembly";
//   export { alloc, dealloc, ec_abi_version } from "<path>/guest-sdk/assemblyscript/assembly";
//   export function handle_event(ptr: usize, len: i32): i64 { return runHandleEvent(ptr, len, handle); }
//   function handle(event: Event): Outcome | null { ... }

export { alloc, config, dealloc, ec_abi_version, emit, Level, log, Outcome, runHandleEvent, runInit } from "./abi";
export { Config } from "./config";
export { Event, Head, readHead } from "./event";
export { JsonReader } from "./json";
