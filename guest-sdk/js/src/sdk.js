// The JavaScript SDK for event-controller plugins (guest ABI v2, wit/plugin.wit): the Watcher a
// plugin is handed, level parsing, and the conversion of a plugin's result into the world's
// `outcome`. Pure JavaScript with no import: it runs inside the component (bundled by
// tools/build.mjs) and under plain Node.js (the unit tests, FakeWatcher).
//
// The host's functions arrive as an object `{log, httpRequest, kubeRequest, metric}` with the
// signatures componentize-js gives the WIT interface `event-controller:plugin/host@2.0.0`:
//   log(level: 'trace'|'debug'|'info'|'warn'|'error', message: string)
//   httpRequest(request: string) -> string      (JSON documents of docs/ABI.md §6)
//   kubeRequest(request: string) -> string
//   metric(request: string)                     (throws the reason when refused)

/** The level names a plugin may use, case-insensitive, and the WIT `level` each maps to. */
const LEVEL_NAMES = {
  TRACE: "trace",
  DEBUG: "debug",
  INFO: "info",
  WARN: "warn",
  WARNING: "warn",
  ERROR: "error",
  CRITICAL: "error",
  FATAL: "error",
};

export const LEVELS = Object.freeze(Object.keys(LEVEL_NAMES));

/** The WIT level for `level` ('INFO', 'warning', ...), or undefined if it is not a level. */
export function levelOf(level) {
  if (typeof level !== "string") return undefined;
  return Object.prototype.hasOwnProperty.call(LEVEL_NAMES, level.toUpperCase())
    ? LEVEL_NAMES[level.toUpperCase()]
    : undefined;
}

/**
 * Parses a level name, case-insensitive: TRACE, DEBUG, INFO, WARN, WARNING, ERROR, CRITICAL,
 * FATAL. Returns the canonical name (TRACE, DEBUG, INFO, WARN or ERROR); throws a TypeError
 * naming the accepted names otherwise.
 */
export function parseLevel(level) {
  const wit = levelOf(level);
  if (wit === undefined) {
    throw new TypeError(`${describe(level)} is not a log level (expected one of ${LEVELS.join(", ")}, any case)`);
  }
  return wit.toUpperCase();
}

/** A short, safe rendering of any value for an error message (JSON where possible). */
export function describe(value, limit = 200) {
  let text;
  if (value === undefined) text = "undefined";
  else if (typeof value === "function") text = `function ${value.name || "(anonymous)"}`;
  else if (typeof value === "bigint") text = `${value}n`;
  else if (typeof value === "symbol") text = value.toString();
  else if (value instanceof Error) text = `${value.name}: ${value.message}`;
  else {
    try {
      text = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v === undefined ? null : v));
    } catch {
      text = undefined;
    }
    if (text === undefined) text = Object.prototype.toString.call(value);
  }
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

// How the start of an `error` answer says whether a retry may help (docs/ABI.md §6, "Why no
// response came"): these prefixes mean no.
const PERMANENT_ERRORS = [
  "denied",
  "unknown verb",
  "malformed request",
  "invalid request",
  "env var ",
  "cannot read ",
  "no Kubernetes connection",
];

/**
 * Whether asking for the event again may help after this httpRequest/kubeRequest answer: an
 * `error` whose reason is not a permanent one (a refused connection, a timeout), or a status of
 * 408, 429 or 5xx. A 2xx answer, any other status and the host's refusals say no.
 */
export function isRetryable(answer) {
  if (answer === null || typeof answer !== "object") return false;
  if (typeof answer.error === "string") {
    return !PERMANENT_ERRORS.some((prefix) => answer.error.startsWith(prefix));
  }
  const status = answer.status;
  if (typeof status !== "number") return false;
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * The host's services, as a plugin sees them: the third argument of `handleEvent(event, config,
 * watcher)` (and the second of `init(config, watcher)`).
 */
export class Watcher {
  #host;
  #retry = null; // null: no retry asked; {afterMs: bigint | undefined}

  /** `host`: `{log, httpRequest, kubeRequest, metric}`, the WIT interface's functions. */
  constructor(host) {
    if (host === null || typeof host !== "object") throw new TypeError("Watcher needs the host's functions");
    this.#host = host;
  }

  /** Logs `message` under the plugin's name at `level` (default INFO; see parseLevel). */
  log(message, level = "INFO") {
    const wit = levelOf(level ?? "INFO");
    if (wit === undefined) parseLevel(level); // throws the TypeError
    this.#host.log(wit, typeof message === "string" ? message : String(message));
  }

  /**
   * Sends one HTTP request through the host (the `http` capability): `request` is
   * `{method, url, headers, body}` (docs/ABI.md §6). Returns the answer, `{status, headers, body,
   * truncated}`, or `{error}` when no response came (not granted, a timeout, ...).
   */
  httpRequest(request) {
    return this.#call("httpRequest", request);
  }

  /**
   * `httpRequest({method, url, headers, body})`. A `body` that is not a string is sent as JSON,
   * with `Content-Type: application/json` unless `headers` set a content type.
   */
  http(method, url, { headers, body } = {}) {
    if (typeof method !== "string" || method === "") throw new TypeError(`http: method must be a string, not ${describe(method)}`);
    if (typeof url !== "string") throw new TypeError(`http: url must be a string, not ${describe(url)}`);
    const request = { method: method.toUpperCase(), url };
    const outHeaders = headers == null ? {} : { ...headers };
    if (body !== undefined && body !== null) {
      if (typeof body === "string") {
        request.body = body;
      } else {
        request.body = JSON.stringify(body);
        if (!Object.keys(outHeaders).some((name) => name.toLowerCase() === "content-type")) {
          outHeaders["Content-Type"] = "application/json";
        }
      }
    }
    if (Object.keys(outHeaders).length > 0) request.headers = outHeaders;
    return this.httpRequest(request);
  }

  /**
   * Sends one Kubernetes write through the host (the `kubernetes` capability): `request` is
   * `{verb, resource, namespace, name, patch}` (docs/ABI.md §6). Returns `{status, object}`,
   * `{status, message}` when the API server refused, or `{error}` when the host did.
   */
  kubeRequest(request) {
    return this.#call("kubeRequest", request);
  }

  /**
   * Merge-patches one object: `kubeRequest({verb: "patch", resource, namespace, name, patch})`.
   * `namespace` null, undefined or "" for a cluster-scoped resource.
   */
  patch(resource, namespace, name, patch) {
    if (typeof resource !== "string") throw new TypeError(`patch: resource must be a string, not ${describe(resource)}`);
    if (typeof name !== "string") throw new TypeError(`patch: name must be a string, not ${describe(name)}`);
    if (patch === null || typeof patch !== "object") throw new TypeError(`patch: patch must be an object, not ${describe(patch)}`);
    const request = { verb: "patch", resource };
    if (namespace !== undefined && namespace !== null && namespace !== "") {
      if (typeof namespace !== "string") throw new TypeError(`patch: namespace must be a string, not ${describe(namespace)}`);
      request.namespace = namespace;
    }
    request.name = name;
    request.patch = patch;
    return this.kubeRequest(request);
  }

  /** Adds `by` (default 1, not negative) to the counter `name` with `labels`; whether recorded. */
  counter(name, by = 1, { help, labels } = {}) {
    return this.metric(name, "counter", by, { help, labels });
  }

  /** Sets the gauge `name` with `labels` to `value`; whether recorded. */
  gauge(name, value, { help, labels } = {}) {
    return this.metric(name, "gauge", value, { help, labels });
  }

  /** Observes `value` in the histogram `name` (`buckets`: its bounds, on first use). */
  observe(name, value, { help, labels, buckets } = {}) {
    return this.metric(name, "histogram", value, { help, labels, buckets });
  }

  /**
   * Sends one update of the plugin's own metric `name`, exported as
   * `event_controller_plugin_NAME` (docs/ABI.md §6). Returns whether the host recorded it; a
   * refusal is logged by the host, once per reason.
   */
  metric(name, kind, value, { help, labels, buckets } = {}) {
    if (typeof value !== "number" || !Number.isFinite(value)) throw new TypeError(`metric: value must be a finite number, not ${describe(value)}`);
    const update = { name, kind, value };
    if (help) update.help = help;
    if (labels && Object.keys(labels).length > 0) update.labels = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)]));
    if (buckets !== undefined) update.buckets = [...buckets];
    if (typeof this.#host.metric !== "function") return false;
    try {
      this.#host.metric(JSON.stringify(update));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Asks to be handed this event again: after `afterSeconds` (a non-negative number, fractions
   * allowed), or after the host's per-object back-off when omitted. Applies to the event being
   * handled, whatever handleEvent then returns; the last call wins.
   */
  retry(afterSeconds) {
    if (afterSeconds === undefined || afterSeconds === null) {
      this.#retry = { afterMs: undefined };
      return;
    }
    if (typeof afterSeconds !== "number" || !Number.isFinite(afterSeconds) || afterSeconds < 0) {
      throw new RangeError(`retry: afterSeconds must be a finite number >= 0, not ${describe(afterSeconds)}`);
    }
    const afterMs = BigInt(Math.round(afterSeconds * 1000));
    if (afterMs > 0xffff_ffff_ffff_ffffn) throw new RangeError(`retry: ${afterSeconds} s does not fit the outcome's u64 milliseconds`);
    this.#retry = { afterMs };
  }

  /** The retry asked for the current event: null, or `{afterMs}` (a bigint, or undefined). */
  get retryRequest() {
    return this.#retry;
  }

  /** Forgets the retry request: the SDK calls it before each event. */
  resetEvent() {
    this.#retry = null;
  }

  #call(fn, request) {
    let text;
    if (typeof request === "string") text = request;
    else if (request !== null && typeof request === "object") text = JSON.stringify(request);
    else throw new TypeError(`${fn}: the request must be an object (or its JSON), not ${describe(request)}`);
    const answer = this.#host[fn](text);
    try {
      return JSON.parse(answer);
    } catch (e) {
      return { error: `the host's answer is not JSON (${e.message}): ${describe(answer)}` };
    }
  }
}

const EXPECTED =
  "expected [message, level] (message a string or null, level one of TRACE, DEBUG, INFO, WARN, " +
  "WARNING, ERROR, CRITICAL, FATAL), a message string (logged at INFO), or null/undefined (nothing)";

/**
 * Converts what a plugin's handleEvent returned into the world's `option<outcome>`:
 * `undefined` (none) or `{level, message, retry, retryAfterMs}` (level a WIT level, retryAfterMs
 * a bigint or undefined). Throws a TypeError for anything else, naming what was returned.
 */
export function toOutcome(result, retryRequest = null) {
  let message;
  let level = "info";
  if (result === undefined || result === null) {
    message = undefined;
  } else if (typeof result === "string") {
    message = result;
  } else if (Array.isArray(result) && (result.length === 1 || result.length === 2)) {
    const [m, l] = result;
    if (m !== undefined && m !== null && typeof m !== "string") {
      throw new TypeError(`handleEvent returned ${describe(result)}: the message ${describe(m)} is not a string or null; ${EXPECTED}`);
    }
    message = m ?? undefined;
    if (l !== undefined && l !== null) {
      const wit = levelOf(l);
      if (wit === undefined) {
        throw new TypeError(`handleEvent returned ${describe(result)}: ${describe(l)} is not a level; ${EXPECTED}`);
      }
      level = wit;
    }
  } else {
    throw new TypeError(`handleEvent returned ${describe(result)}; ${EXPECTED}`);
  }
  if (retryRequest) {
    return { level, message, retry: true, retryAfterMs: retryRequest.afterMs };
  }
  if (message === undefined) return undefined;
  return { level, message, retry: false, retryAfterMs: undefined };
}

/**
 * Writes one self-contained stderr line about an exception leaving `where` (the component's
 * export), e.g. `handleEvent failed: TypeError: can't access property "x" of null`, and returns
 * the exception to rethrow. componentize-js then prints the exception's message and stack, and
 * the call traps; but it prints neither the error's class nor a line that stands alone in the
 * host's log, one record per line.
 */
export function reportUncaught(e, where = "handleEvent") {
  const what = e instanceof Error ? `${e.name}: ${e.message}` : `it threw ${describe(e)}, not an Error`;
  console.error(`${where} failed: ${what}`);
  return e;
}

/** `Error` for a deliberate refusal keeps its message; others (TypeError...) say what they are. */
function errorText(e) {
  if (e instanceof Error) {
    return e.name && e.name !== "Error" ? `${e.name}: ${e.message}` : e.message;
  }
  return typeof e === "string" ? e : describe(e);
}

/**
 * The world's exports for `plugin` (an ES module namespace: `handleEvent`, optional `init`), over
 * `host` (or over `watcher`, a Watcher such as a FakeWatcher, when given):
 * `{init(configJson), handleEvent(eventJson)}` as componentize-js calls them.
 *
 * - init parses the config once (`{}` without one) and calls the plugin's `init(config, watcher)`
 *   if it has one. A throw refuses the config: it returns `{tag: "err", val: message}` (a thrown
 *   Error would trap in componentize-js's bindings, not become the result's error).
 * - handleEvent parses the event, calls the plugin's `handleEvent(event, config, watcher)`, and
 *   converts its result (awaiting a promise). What the plugin throws propagates (the build's
 *   entry reports it with reportUncaught): componentize-js prints its message and stack to
 *   stderr, and the call traps.
 */
export function createWorld(plugin, host, watcher = new Watcher(host)) {
  if (plugin === null || (typeof plugin !== "object" && typeof plugin !== "function")) {
    throw new TypeError("createWorld: plugin must be the plugin's module");
  }
  let config = {};

  function callInit(configJson) {
    try {
      config = configJson === undefined || configJson === "" ? {} : JSON.parse(configJson);
    } catch (e) {
      return { tag: "err", val: `the plugin's config is not valid JSON: ${e.message}` };
    }
    if (typeof plugin.handleEvent !== "function") {
      return { tag: "err", val: "the plugin does not export a function handleEvent(event, config, watcher)" };
    }
    if (plugin.init === undefined) return { tag: "ok", val: undefined };
    if (typeof plugin.init !== "function") return { tag: "err", val: "the plugin's export init is not a function" };
    try {
      const r = plugin.init(config, watcher);
      if (r && typeof r.then === "function") {
        return r.then(
          () => ({ tag: "ok", val: undefined }),
          (e) => refuse(e),
        );
      }
    } catch (e) {
      return refuse(e);
    }
    return { tag: "ok", val: undefined };
  }

  function refuse(e) {
    // A TypeError or ReferenceError is more likely a bug than a deliberate refusal: show where.
    if (e instanceof Error && e.name !== "Error" && e.stack) {
      console.error(`init failed: ${e.name}: ${e.message}\n${e.stack}`);
    }
    return { tag: "err", val: errorText(e) || "init refused the config" };
  }

  function callHandleEvent(eventJson) {
    const event = JSON.parse(eventJson);
    watcher.resetEvent();
    const result = plugin.handleEvent(event, config, watcher);
    if (result && typeof result.then === "function") {
      return result.then((r) => toOutcome(r, watcher.retryRequest));
    }
    return toOutcome(result, watcher.retryRequest);
  }

  return { init: callInit, handleEvent: callHandleEvent, watcher };
}
