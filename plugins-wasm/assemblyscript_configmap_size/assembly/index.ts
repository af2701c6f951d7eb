// Warns about ConfigMaps and Secrets that hold a lot of data.
//
// For an ADDED or MODIFIED ConfigMap or Secret whose data exceeds the limit, logs at WARN
//   {kind} {namespace}/{name} holds {bytes} bytes of data (limit {limit})
// and nothing otherwise. {bytes} is the total size of the values under `data` and `binaryData`, as
// the object holds them: a ConfigMap's `data` values are text (counted as UTF-8 bytes, escapes
// decoded); `binaryData` values, and a Secret's `data` values, are base64 (counted as the decoded
// bytes). Keys are not counted. Large objects slow every watcher and etcd; the API server refuses
// them past 1 MiB.
//
// Config: `{"limit_bytes": N}` (a non-negative integer, default 32768).
//
// The host blanks a Secret's data values (docs/ABI.md §3, "Secrets") unless the operator sets
// `allow_secrets = true` for this plugin; without it every Secret counts as 0 bytes.
//
// Metric: every ConfigMap or Secret measured is observed in the histogram
//   event_controller_plugin_object_data_bytes{plugin="...",kind="ConfigMap"|"Secret"}
// (buckets 1 KiB to 1 MiB, the API server's limit, with 32 KiB, the default limit, among them),
// one observation per ADDED or MODIFIED event, within the limit or not.
//
// The build appends the custom section `event-controller.subscribe` with
// {"resources":["configmaps","secrets"],"event_types":["ADDED","MODIFIED"]}, so the host calls the
// plugin only for those; the checks below keep it correct without that filter too.

import { Config, Event, JsonReader, Outcome, runHandleEvent, runInit } from "../../../guest-sdk/assemblyscript/assembly";
import { observe } from "../../../guest-sdk/assemblyscript/assembly/metric";
export { alloc, dealloc, ec_abi_version } from "../../../guest-sdk/assemblyscript/assembly";

/** The histogram of data sizes, in bytes: 1 KiB ... 1 MiB, the default limit among them. */
const METRIC = "object_data_bytes";
const METRIC_HELP = "Bytes of data (data and binaryData values) of the ConfigMaps and Secrets seen in ADDED and MODIFIED events";
const BUCKETS: f64[] = [1024, 4096, 16384, 32768, 65536, 262144, 524288, 1048576];

const DEFAULT_LIMIT: i64 = 32768;
let limit: i64 = DEFAULT_LIMIT;

export function init(ptr: usize, len: i32): i32 {
  return runInit(ptr, len, configure);
}

export function handle_event(ptr: usize, len: i32): i64 {
  return runHandleEvent(ptr, len, handle);
}

function configure(config: Config): string | null {
  const value = config.getUnsigned("limit_bytes", DEFAULT_LIMIT);
  if (config.error !== null) return "config must be {\"limit_bytes\": N}: " + config.error!;
  limit = value;
  return null;
}

function handle(event: Event): Outcome | null {
  const head = event.head();
  const kind = head.kind;
  if (kind === null || (kind != "ConfigMap" && kind != "Secret")) return null;
  const type = head.eventType;
  if (type !== null && type == "DELETED") return null; // gone: nothing left to shrink
  const bytes = dataBytes(event.reader(), kind == "Secret");
  if (bytes < 0) return Outcome.error("cannot read the data of " + describe(head.namespace, head.name) + ": " + lastError);
  observe(METRIC, <f64>bytes, ["kind", kind], METRIC_HELP, BUCKETS);
  if (bytes <= limit) return null;
  return Outcome.warn(
    kind + " " + describe(head.namespace, head.name) + " holds " + bytes.toString() +
    " bytes of data (limit " + limit.toString() + ")",
  );
}

function describe(namespace: string | null, name: string | null): string {
  const n = name !== null ? name : "?";
  return namespace !== null ? namespace + "/" + n : n;
}

let lastError = "";

/** Sums the sizes of the values of `object.data` and `object.binaryData`; -1 on malformed JSON. */
function dataBytes(r: JsonReader, secret: bool): i64 {
  let total: i64 = 0;
  if (r.enterObject()) {
    while (r.nextMember()) {
      if (!r.keyIs("object") || r.peek() != 0x7b) {
        r.skipValue();
        continue;
      }
      r.enterObject();
      while (r.nextMember()) {
        const isData = r.keyIs("data");
        if ((isData || r.keyIs("binaryData")) && r.peek() == 0x7b) {
          total += mapBytes(r, !isData || secret);
        } else r.skipValue();
      }
    }
  }
  r.ensureEnd();
  if (r.failed) {
    lastError = r.error!;
    return -1;
  }
  return total;
}

/** Sums the sizes of the string values of the object at the cursor, base64-decoded if `base64`. */
function mapBytes(r: JsonReader, base64: bool): i64 {
  let total: i64 = 0;
  r.enterObject();
  while (r.nextMember()) {
    const n = r.stringByteLength(); // -1 for a value that is not a string (skipped)
    if (n <= 0) continue;
    // Base64 carries 3 bytes in every 4 characters, less the `=` padding.
    total += base64 ? (n / 4) * 3 + max<i64>((n % 4) - 1, 0) - r.trailingBytes(0x3d, 2) : n;
  }
  return total;
}
