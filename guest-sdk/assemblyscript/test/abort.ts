// A plugin that throws on the event named "boom", to test the abort handler.
import { Event, Outcome, runHandleEvent } from "../assembly";
export { alloc, dealloc, ec_abi_version } from "../assembly";

export function handle_event(ptr: usize, len: i32): i64 {
  return runHandleEvent(ptr, len, handle);
}

function handle(event: Event): Outcome | null {
  const name = event.name();
  if (name !== null && name == "boom") throw new Error("boom: " + name);
  return Outcome.info("ok");
}
