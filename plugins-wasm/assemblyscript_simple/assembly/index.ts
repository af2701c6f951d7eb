// The AssemblyScript port of plugin_simple (docs/conformance.md): logs every event at INFO as
// `{prefix}Kind: {kind}; Name: {name}`, and nothing for events of kind `skip_kind`.
//
// Config: `{"prefix": string, "skip_kind": string}`, both optional (`skip_kind` may be null).
// Reads only the event's identity (`object.kind`, `object.metadata.name`), never the whole object.

import { Config, Event, Outcome, runHandleEvent, runInit } from "../../../guest-sdk/assemblyscript/assembly";
export { alloc, dealloc, ec_abi_version } from "../../../guest-sdk/assemblyscript/assembly";

let prefix = "";
let skipKind: string | null = null;

export function init(ptr: usize, len: i32): i32 {
  return runInit(ptr, len, configure);
}

export function handle_event(ptr: usize, len: i32): i64 {
  return runHandleEvent(ptr, len, handle);
}

function configure(config: Config): string | null {
  // As the Rust reference's serde struct: prefix is a string (not null), skip_kind a string or null.
  const p = config.getString("prefix", "", false);
  skipKind = config.getString("skip_kind");
  if (config.error !== null) {
    return "config must be an object with optional strings prefix and skip_kind: " + config.error!;
  }
  prefix = p!;
  return null;
}

function handle(event: Event): Outcome | null {
  const head = event.head();
  // The host never delivers an unreadable event, or one without kind or name; say what is wrong,
  // as the Rust reference does.
  if (head.error !== null) return Outcome.error("cannot read the event's head: " + head.error!);
  const kind = head.kind;
  const name = head.name;
  if (kind !== null && skipKind !== null && kind == skipKind!) return null;
  if (kind !== null && name !== null) return Outcome.info(prefix + "Kind: " + kind + "; Name: " + name);
  if (kind === null && name === null) return Outcome.error("event has no object.kind and no object.metadata.name");
  return Outcome.error(kind === null ? "event has no object.kind" : "event has no object.metadata.name");
}
