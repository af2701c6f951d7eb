// The README's example plugin, compiled by the tests so the README stays true.
import { Config, Event, Outcome, runHandleEvent, runInit } from "../assembly";
export { alloc, dealloc, ec_abi_version } from "../assembly";

let prefix = "";

export function init(ptr: usize, len: i32): i32 {        // optional export
  return runInit(ptr, len, (config: Config): string | null => {
    prefix = config.getString("prefix", "")!;
    return config.error;                                 // null accepts; a string refuses (logged)
  });
}

export function handle_event(ptr: usize, len: i32): i64 {
  return runHandleEvent(ptr, len, handle);
}

function handle(event: Event): Outcome | null {          // null: nothing to log
  const kind = event.kind(), name = event.name();
  if (kind === null || name === null) return null;
  return Outcome.info(prefix + "Kind: " + kind + "; Name: " + name);
}
