// The plugin's own metrics through the host's `event_controller.metric` import (docs/ABI.md §6,
// "metric"): counters, gauges and histograms, exported on the controller's `/metrics` as
// `event_controller_plugin_NAME{plugin="...",...}` (counters with `_total`).
//
//   import { counter, gauge, observe } from "<path>/guest-sdk/assemblyscript/assembly/metric";
//
//   counter("warning_events", 1, ["reason", reason], "Warning events by reason");
//   gauge("watched_namespaces", 12);
//   observe("object_bytes", size, ["kind", kind], "Object sizes", [1024, 65536, 1048576]);
//
// Labels are name/value pairs in one array: `["reason", "BackOff", "kind", "Pod"]`. A metric is
// declared by its first update: its kind, help and (histograms) buckets; later updates of the
// same name must be of the same kind. Since the host keeps only the first help and buckets, they
// are sent until the host has recorded an update of the metric from this instance, and left out
// after that, which makes the later updates cheaper to write and to read. Each call returns whether the host recorded the update; a
// refusal (a bad name, another kind, past the plugin's 1000 series) is logged by the host at
// WARN, once per reason. Names are `[a-z][a-z0-9_]*`, at most 64 characters, not ending in
// `_total`, `_bucket`, `_count`, `_sum`, `_created` or `_info`; at most 10 labels, named
// `[a-z][a-z0-9_]*` other than `plugin` and `le`.
//
// A module imports `metric` only when it calls one of these; this file is not re-exported by
// index.ts.

import { Level, log } from "./abi";
import { JsonWriter } from "./json";

/** The host's `metric`: the update's UTF-8 JSON in; 0 recorded, 1 refused. */
@external("event_controller", "metric")
declare function hostMetric(ptr: usize, len: usize): i32;

/** Adds `by` (0 or more, default 1) to the counter `name` with `labels`; whether recorded. */
export function counter(name: string, by: f64 = 1, labels: string[] | null = null, help: string = ""): bool {
  return send("counter", name, by, labels, help, null);
}

/** Sets the gauge `name` with `labels` to `value`; whether recorded. */
export function gauge(name: string, value: f64, labels: string[] | null = null, help: string = ""): bool {
  return send("gauge", name, value, labels, help, null);
}

/** Observes `value` in the histogram `name` with `labels`; whether recorded. `buckets` (1 to 32
 *  ascending upper bounds) count only on the metric's first update: pass the same ones every
 *  time (they are sent until one update is recorded). Without them the host's default is 0.005
 *  to 10 (seconds). */
export function observe(
  name: string,
  value: f64,
  labels: string[] | null = null,
  help: string = "",
  buckets: f64[] | null = null,
): bool {
  return send("histogram", name, value, labels, help, buckets);
}

/** The update's JSON, as the host reads it and in the Rust SDK's member order (what the first
 *  update of a metric sends; later ones leave out `help` and `buckets`):
 *  `{"name":"...","kind":"counter","help":"...","labels":{"k":"v"},"value":1,"buckets":[...]}`
 *  (`help` when not empty, `labels` when there are some, `buckets` when given). Integral values
 *  are written without a fraction; NaN and infinities as `null`, which the host refuses.
 *  Null when `labels` is not name/value pairs (an odd length). */
export function metricJson(
  kind: string,
  name: string,
  value: f64,
  labels: string[] | null,
  help: string,
  buckets: f64[] | null,
): string | null {
  const w = write(kind, name, value, labels, help, buckets);
  if (w === null) return null;
  const text = w.toString();
  w.free();
  return text;
}

function write(
  kind: string,
  name: string,
  value: f64,
  labels: string[] | null,
  help: string,
  buckets: f64[] | null,
): JsonWriter | null {
  if (labels !== null && (labels.length & 1) != 0) return null;
  const w = new JsonWriter();
  w.byte(0x7b);
  w.key("name", true).string(name);
  w.key("kind").string(kind);
  if (help.length > 0) w.key("help").string(help);
  if (labels !== null && labels.length > 0) {
    w.key("labels").byte(0x7b);
    for (let i = 0; i < labels.length; i += 2) w.key(labels[i], i == 0).string(labels[i + 1]);
    w.byte(0x7d);
  }
  w.key("value").number(value);
  if (buckets !== null) {
    w.key("buckets").byte(0x5b);
    for (let i = 0; i < buckets.length; i++) {
      if (i > 0) w.byte(0x2c);
      w.number(buckets[i]);
    }
    w.byte(0x5d);
  }
  w.byte(0x7d);
  return w;
}

let warnedPairs = false;

/** The metrics this instance has had an update of recorded: the host has their help and buckets. */
const declared = new Set<string>();

function send(
  kind: string,
  name: string,
  value: f64,
  labels: string[] | null,
  help: string,
  buckets: f64[] | null,
): bool {
  const known = declared.has(name);
  const w = write(kind, name, value, labels, known ? "" : help, known ? null : buckets);
  if (w === null) {
    // A bug in the plugin: said once per instance, as the host says its refusals once.
    if (!warnedPairs) log(Level.WARN, "metric " + name + " is not recorded: its labels must be name/value pairs (an even number of strings)");
    warnedPairs = true;
    return false;
  }
  const recorded = hostMetric(w.ptr, w.len) == 0;
  w.free();
  if (recorded && !known) declared.add(name);
  return recorded;
}
