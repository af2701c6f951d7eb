// One watch event: the host's UTF-8 JSON bytes, read on demand.

import { JsonReader } from "./json";

// What the head reader still waits for; it stops once all are settled (seen, or known absent).
const TYPE: u32 = 1;
const KIND: u32 = 2;
const API_VERSION: u32 = 4;
const NAME: u32 = 8;
const NAMESPACE: u32 = 16;
const METADATA: u32 = NAME | NAMESPACE;
const OBJECT: u32 = KIND | API_VERSION | METADATA;
const ALL: u32 = TYPE | OBJECT;

/** The identity of a watch event. A field is null when absent or not a string. */
export class Head {
  /** `type`: ADDED, MODIFIED or DELETED. */
  eventType: string | null = null;
  /** `object.kind`. */
  kind: string | null = null;
  /** `object.apiVersion`. */
  apiVersion: string | null = null;
  /** `object.metadata.name`. */
  name: string | null = null;
  /** `object.metadata.namespace` (null for cluster-scoped objects). */
  namespace: string | null = null;
  /** Why the event could not be read, e.g. `expected `,` or `}` at byte 40`; null if it could. */
  error: string | null = null;
}

/** A watch event as the host sent it (docs/ABI.md §3). Valid only during `handle_event`. */
export class Event {
  private cached: Head | null = null;

  constructor(
    /** Address of the event's first byte in linear memory. */
    readonly ptr: usize,
    /** Its length in bytes. */
    readonly len: usize,
  ) {}

  /** The whole event as a string (a copy: costs a decode of every byte). */
  raw(): string {
    return String.UTF8.decodeUnsafe(this.ptr, this.len);
  }

  /** A fresh reader at the start of the event, to read members the head does not cover. */
  reader(): JsonReader {
    return new JsonReader(this.ptr, this.len);
  }

  /** The event's identity, read once. Members may come in any order; members of the same name
   *  deeper down (`ownerReferences[].kind`, `spec.template.metadata.name`) are never taken for
   *  them. With the API server's order (type, kind, apiVersion, metadata, spec...) reading stops
   *  after `metadata`. */
  head(): Head {
    let head = this.cached;
    if (head === null) {
      head = readHead(this.ptr, this.len);
      this.cached = head;
    }
    return head;
  }

  kind(): string | null {
    return this.head().kind;
  }
  name(): string | null {
    return this.head().name;
  }
  namespace(): string | null {
    return this.head().namespace;
  }
  eventType(): string | null {
    return this.head().eventType;
  }
  apiVersion(): string | null {
    return this.head().apiVersion;
  }
}

/** Reads the head of the event at `[ptr, ptr + len)`. */
export function readHead(ptr: usize, len: usize): Head {
  const head = new Head();
  const r = new JsonReader(ptr, len);
  let settled: u32 = 0;
  let stopped = false;
  const first = r.peek();
  if (first >= 0 && first != 0x7b) r.fail("the event is not a JSON object");
  if (r.enterObject()) {
    while (!stopped && r.nextMember()) {
      if (r.keyIs("type")) {
        head.eventType = r.optString();
        settled |= TYPE;
      } else if (r.keyIs("object") && r.peek() == 0x7b) {
        r.enterObject();
        while (!stopped && r.nextMember()) {
          if (r.keyIs("kind")) {
            head.kind = r.optString();
            settled |= KIND;
          } else if (r.keyIs("apiVersion")) {
            head.apiVersion = r.optString();
            settled |= API_VERSION;
          } else if (r.keyIs("metadata") && r.peek() == 0x7b) {
            r.enterObject();
            while (!stopped && r.nextMember()) {
              if (r.keyIs("name")) {
                head.name = r.optString();
                settled |= NAME;
              } else if (r.keyIs("namespace")) {
                head.namespace = r.optString();
                settled |= NAMESPACE;
              } else r.skipValue();
              stopped = settled == ALL;
            }
            settled |= METADATA; // the object ended: what was not seen is absent
          } else r.skipValue();
          stopped = settled == ALL;
        }
        settled |= OBJECT;
      } else r.skipValue();
      stopped = settled == ALL;
    }
  }
  if (stopped) r.ensureClosed();
  else r.ensureEnd();
  head.error = r.error;
  return head;
}
