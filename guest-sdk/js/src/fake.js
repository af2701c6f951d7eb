// A test double of the host for unit-testing plugins under plain Node.js (`node --test`), without
// building a component: FakeWatcher is a real Watcher over a fake host that records every call
// and answers HTTP and Kubernetes requests from canned answers. `invoke` runs a plugin the way
// the component does (config and event as JSON, the same result conversion).
import { Watcher, createWorld } from "./sdk.js";

const NO_ANSWER = (what) => ({ error: `denied: FakeWatcher has no canned ${what} answer` });

// A canned answer: an object (always that), a function of the request (its result), or an
// array of either (one per request, in order; the last one repeats).
function answerFrom(canned, request, calls, what) {
  let a = canned;
  if (Array.isArray(a)) {
    if (a.length === 0) return NO_ANSWER(what);
    a = a[Math.min(calls - 1, a.length - 1)];
  }
  if (typeof a === "function") a = a(request);
  if (a === undefined) return NO_ANSWER(what);
  return a;
}

const UPPER = { trace: "TRACE", debug: "DEBUG", info: "INFO", warn: "WARN", error: "ERROR" };

export class FakeWatcher extends Watcher {
  /**
   * `options.http` and `options.kube`: the canned answers (see answerFrom above). Without one,
   * every request is answered `{error: "denied: ..."}`, as the host does without a grant.
   */
  constructor({ http, kube } = {}) {
    const calls = { logs: [], httpRequests: [], kubeRequests: [], metrics: [] };
    super({
      log(level, message) {
        calls.logs.push({ level: UPPER[level] ?? level, message });
      },
      httpRequest(text) {
        const request = JSON.parse(text);
        calls.httpRequests.push(request);
        return JSON.stringify(answerFrom(http, request, calls.httpRequests.length, "http"));
      },
      kubeRequest(text) {
        const request = JSON.parse(text);
        calls.kubeRequests.push(request);
        return JSON.stringify(answerFrom(kube, request, calls.kubeRequests.length, "kube"));
      },
      metric(text) {
        calls.metrics.push(JSON.parse(text));
      },
    });
    this.calls = calls;
  }

  /** Every watcher.log call: `{level, message}`, level canonical (TRACE..ERROR). */
  get logs() {
    return this.calls.logs;
  }

  /** Every request object sent with httpRequest/http, in order. */
  get httpRequests() {
    return this.calls.httpRequests;
  }

  /** Every request object sent with kubeRequest/patch, in order. */
  get kubeRequests() {
    return this.calls.kubeRequests;
  }

  /** Every metric update (counter/gauge/observe/metric), in order, as the host got it. */
  get metrics() {
    return this.calls.metrics;
  }

  /** The retry asked for the last event: null, or `{afterSeconds}` (undefined: host's back-off). */
  get retried() {
    const r = this.retryRequest;
    if (r === null) return null;
    return { afterSeconds: r.afterMs === undefined ? undefined : Number(r.afterMs) / 1000 };
  }
}

/**
 * Runs `plugin` (its module namespace, e.g. `await import("./plugin.js")`) on one event as the
 * component would: `init` with `config` (JSON round trip), then `handleEvent` with `event` (an
 * object, or a JSON string). Resolves to `{outcome, watcher}`: `outcome` is what the host would
 * receive, `undefined` or `{level, message, retry, retryAfterMs}` (level lower case, as in the
 * WIT; retryAfterMs a bigint). A refused config rejects with an Error carrying the reason.
 * Pass your own `watcher` (a FakeWatcher) for canned answers; one is made otherwise.
 */
export async function invoke(plugin, event, { config = {}, watcher = new FakeWatcher() } = {}) {
  const world = createWorld(plugin, undefined, watcher);
  const init = await world.init(JSON.stringify(config));
  if (init.tag === "err") throw new Error(`init refused the config: ${init.val}`);
  const outcome = await world.handleEvent(typeof event === "string" ? event : JSON.stringify(event));
  return { outcome, watcher };
}
