// The README's Kubernetes example, compiled and run by test/kube.test.mjs so the README stays
// true: every namespace gets a ConfigMap `team-defaults`, written only when it is absent or
// differs, and never when someone else owns it.
import { Event, JsonValue, Outcome, runHandleEvent } from "../assembly";
import { ensure, EnsureResult } from "../assembly/kube";
import { counter } from "../assembly/metric";
export { alloc, dealloc, ec_abi_version } from "../assembly";

const OWNER = "team-defaults";   // the value of the owner label app.kubernetes.io/managed-by

export function handle_event(ptr: usize, len: i32): i64 {
  return runHandleEvent(ptr, len, handle);
}

function handle(event: Event): Outcome | null {
  const kind = event.kind(), namespace = event.name(), type = event.eventType();
  if (kind === null || kind != "Namespace" || namespace === null) return null;
  if (type !== null && type == "DELETED") return null;
  const desired = JsonValue.object()
    .setString("apiVersion", "v1")
    .setString("kind", "ConfigMap")
    .set("metadata", JsonValue.object().setString("namespace", namespace).setString("name", "team-defaults"))
    .set("data", JsonValue.object().setString("log_level", "info"));
  const done = ensure("configmaps", desired, OWNER);     // get, then create/apply only if needed
  counter("defaults_ensured", 1, ["result", done.resultName()], "Namespace events by what ensure did");
  if (done.result == EnsureResult.UNCHANGED) return null; // our own write coming back: nothing to do
  if (done.result == EnsureResult.REFUSED || done.result == EnsureResult.FAILED) {
    return Outcome.warn("team-defaults in " + namespace + ": " + done.toString()); // retry: done.isTransient()
  }
  return Outcome.info("team-defaults in " + namespace + ": " + done.toString()); // created, updated, not owned
}
