// Types of the event-controller JavaScript SDK (guest ABI v2), for plugin authors writing
// TypeScript or checking JavaScript with JSDoc. A plugin module exports:
//
//   export function handleEvent(event: WatchEvent, config: Config, watcher: Watcher): HandleEventResult;
//   export function init(config: Config, watcher: Watcher): void;   // optional; throw to refuse
//
// e.g. `import type { WatchEvent, Watcher, HandleEventResult } from "../../guest-sdk/js";`
// (index.js and index.d.ts are the SDK's entry; README.md says how to write, build and test).

/** Level names a plugin may use, any case. CRITICAL and FATAL log at ERROR, WARNING at WARN. */
export type LevelName =
  | "TRACE" | "DEBUG" | "INFO" | "WARN" | "WARNING" | "ERROR" | "CRITICAL" | "FATAL"
  | "trace" | "debug" | "info" | "warn" | "warning" | "error" | "critical" | "fatal"
  | (string & {});

/** The levels of the WIT interface (`event-controller:plugin/host@2.0.0`'s `level`). */
export type WitLevel = "trace" | "debug" | "info" | "warn" | "error";

/** A Kubernetes object as the API server sends it; only `kind` and `metadata` are typed. */
export interface KubeObject {
  kind: string;
  apiVersion: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** One watch event, parsed from the JSON the API server sent (BOOKMARK and ERROR never arrive). */
export interface WatchEvent<O extends KubeObject = KubeObject> {
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: O;
}

/** The plugin's config table from the operator's config file, as an object (`{}` without one). */
export type Config = Record<string, unknown>;

/**
 * What handleEvent may return: `[message, level]` (message null: log nothing), a message logged
 * at INFO, or null/undefined (nothing). A promise of one of them is awaited within the call.
 * Anything else makes the SDK throw a TypeError (the call traps).
 */
export type HandleEventResult =
  | [message: string | null | undefined, level?: LevelName | null]
  | string
  | null
  | undefined
  | void;

export type HandleEvent = (
  event: WatchEvent,
  config: Config,
  watcher: Watcher,
) => HandleEventResult | Promise<HandleEventResult>;

export type Init = (config: Config, watcher: Watcher) => void | Promise<void>;

/** An `http_request` document (docs/ABI.md §6). */
export interface HttpRequest {
  /** Default GET. */
  method?: string;
  url: string;
  headers?: Record<string, string>;
  /** UTF-8 text. */
  body?: string;
}

/** The host's answer to an HTTP request: a response (any status), or why none came. */
export type HttpAnswer =
  | { status: number; headers: Record<string, string>; body: string; truncated?: boolean; error?: undefined }
  | { error: string; status?: undefined };

/** A `kube_request` document (docs/ABI.md §6). `patch` is the only verb so far. */
export interface KubeRequest {
  verb: "patch";
  /** e.g. "routes.route.openshift.io", as granted in the plugin's `capabilities.kubernetes.patch`. */
  resource: string;
  /** Omitted for cluster-scoped resources. */
  namespace?: string;
  name: string;
  /** A JSON merge patch (RFC 7386). */
  patch: object;
}

/** The answer to a Kubernetes write: the patched object, the API server's refusal, or the host's. */
export type KubeAnswer =
  | { status: number; object: KubeObject; message?: undefined; error?: undefined }
  | { status: number; message: string; object?: undefined; error?: undefined }
  | { error: string; status?: undefined };

/** The host's services: the third argument of handleEvent (the second of init). */
export class Watcher {
  constructor(host: {
    log(level: WitLevel, message: string): void;
    httpRequest(request: string): string;
    kubeRequest(request: string): string;
    metric?(request: string): void;
  });
  /** Logs under the plugin's name; level default INFO. A message over 64 KiB is truncated by the host. */
  log(message: unknown, level?: LevelName): void;
  /** One outbound HTTP request (the `http` capability). Blocks; counts against the call's deadline. */
  httpRequest(request: HttpRequest | string): HttpAnswer;
  /** `httpRequest`; a non-string body is sent as JSON with `Content-Type: application/json`. */
  http(method: string, url: string, options?: { headers?: Record<string, string>; body?: string | object | null }): HttpAnswer;
  /** One Kubernetes write (the `kubernetes` capability). */
  kubeRequest(request: KubeRequest | string): KubeAnswer;
  /** A merge patch: `kubeRequest({verb: "patch", resource, namespace, name, patch})`. */
  patch(resource: string, namespace: string | null | undefined, name: string, patch: object): KubeAnswer;
  /** Adds `by` (default 1) to the plugin's counter `name` (exported as event_controller_plugin_NAME_total); whether recorded. */
  counter(name: string, by?: number, options?: { help?: string; labels?: Record<string, string | number> }): boolean;
  /** Sets the plugin's gauge `name`; whether recorded. */
  gauge(name: string, value: number, options?: { help?: string; labels?: Record<string, string | number> }): boolean;
  /** Observes `value` in the plugin's histogram `name`; whether recorded. */
  observe(name: string, value: number, options?: { help?: string; labels?: Record<string, string | number>; buckets?: number[] }): boolean;
  /** One update of a plugin metric (docs/ABI.md §6); whether recorded. */
  metric(name: string, kind: "counter" | "gauge" | "histogram", value: number, options?: { help?: string; labels?: Record<string, string | number>; buckets?: number[] }): boolean;
  /**
   * Asks for this event again: after `afterSeconds` (fractions allowed), or after the host's
   * per-object back-off when omitted. Whatever handleEvent then returns is still logged.
   */
  retry(afterSeconds?: number): void;
  /** The retry asked for the current event: null, or `{afterMs}` (undefined: the host's back-off). */
  readonly retryRequest: { afterMs: bigint | undefined } | null;
  /** Forgets the retry request (the SDK calls it before each event). */
  resetEvent(): void;
}

/** A Watcher for unit tests under Node.js: records calls, answers from canned answers. */
export class FakeWatcher extends Watcher {
  /**
   * A canned answer is an answer object, a function of the request returning one, or an array of
   * either (one per request, the last repeating). Without one, requests get `{error: "denied: ..."}`.
   */
  constructor(options?: {
    http?: CannedAnswer<HttpRequest, HttpAnswer>;
    kube?: CannedAnswer<KubeRequest, KubeAnswer>;
  });
  /** Every log call, level canonical (TRACE, DEBUG, INFO, WARN, ERROR). */
  readonly logs: Array<{ level: "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR"; message: string }>;
  readonly httpRequests: HttpRequest[];
  readonly kubeRequests: KubeRequest[];
  /** Every metric update, in order, as the host got it. */
  readonly metrics: Array<{ name: string; kind: string; value: number; help?: string; labels?: Record<string, string>; buckets?: number[] }>;
  /** The retry asked for the last event: null, or `{afterSeconds}` (undefined: the host's back-off). */
  readonly retried: { afterSeconds: number | undefined } | null;
}

export type CannedAnswer<Req, Ans> = Ans | ((request: Req) => Ans) | Array<Ans | ((request: Req) => Ans)>;

/** The WIT `outcome` the host receives (lower-case level; retryAfterMs in milliseconds). */
export interface Outcome {
  level: WitLevel;
  message: string | undefined;
  retry: boolean;
  retryAfterMs: bigint | undefined;
}

/**
 * Runs a plugin module on one event as its component would (config and event through JSON, the
 * same conversion of the result). Rejects when init refuses the config or handleEvent throws.
 */
export function invoke(
  plugin: { handleEvent: HandleEvent; init?: Init },
  event: WatchEvent | string,
  options?: { config?: Config; watcher?: FakeWatcher },
): Promise<{ outcome: Outcome | undefined; watcher: FakeWatcher }>;

/** The accepted level names, upper case. */
export const LEVELS: readonly string[];
/** The canonical name (TRACE, DEBUG, INFO, WARN, ERROR) of a level name; throws a TypeError for others. */
export function parseLevel(level: string): "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR";
/** The WIT level of a level name, or undefined. */
export function levelOf(level: unknown): WitLevel | undefined;
/** Whether asking for the event again may help after this answer (a timeout, a 5xx, 408, 429). */
export function isRetryable(answer: HttpAnswer | KubeAnswer): boolean;
/** Converts a handleEvent result to the WIT outcome; throws a TypeError for an invalid one. */
export function toOutcome(result: unknown, retryRequest?: { afterMs: bigint | undefined } | null): Outcome | undefined;
/** Writes `handleEvent failed: TypeError: ...` to stderr; returns `e` (the build's entry rethrows it). */
export function reportUncaught<E>(e: E, where?: string): E;
/** A short rendering of any value for messages. */
export function describe(value: unknown, limit?: number): string;
/** The world's exports over a plugin module (what the build wires into the component). */
export function createWorld(
  plugin: { handleEvent: HandleEvent; init?: Init },
  host?: ConstructorParameters<typeof Watcher>[0],
  watcher?: Watcher,
): {
  init(config: string): { tag: "ok"; val: undefined } | { tag: "err"; val: string } | Promise<{ tag: "ok"; val: undefined } | { tag: "err"; val: string }>;
  handleEvent(event: string): Outcome | undefined | Promise<Outcome | undefined>;
  watcher: Watcher;
};
