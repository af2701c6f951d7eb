// {{name}}: an event-controller plugin. It logs every watch event at INFO as
// `Kind: {kind}; Name: {name}`.
//
// `event.kind()` and `event.name()` read only the event's identity, never the whole object;
// `event.reader()` walks any other member (see sdk/README.md).

import { Event, Outcome, runHandleEvent } from "../sdk/assembly";
export { alloc, dealloc, ec_abi_version } from "../sdk/assembly";

export function handle_event(ptr: usize, len: i32): i64 {
  return runHandleEvent(ptr, len, handle);
}

function handle(event: Event): Outcome | null {
  const kind = event.kind();
  const name = event.name();
  if (kind === null || name === null) return null; // nothing to log
  return Outcome.info("Kind: " + kind + "; Name: " + name);
}
