// Unit tests of the SDK under plain Node.js: npm test --prefix guest-sdk/js
import assert from "node:assert/strict";
import { describe as group, test } from "node:test";
import {
  FakeWatcher,
  LEVELS,
  Watcher,
  createWorld,
  describe,
  invoke,
  isRetryable,
  levelOf,
  parseLevel,
  reportUncaught,
  toOutcome,
} from "../index.js";

const EVENT = { type: "ADDED", object: { kind: "Pod", apiVersion: "v1", metadata: { name: "web-1", namespace: "shop" } } };

group("levels", () => {
  test("every name, any case", () => {
    const want = { TRACE: "TRACE", DEBUG: "DEBUG", INFO: "INFO", WARN: "WARN", WARNING: "WARN", ERROR: "ERROR", CRITICAL: "ERROR", FATAL: "ERROR" };
    assert.deepEqual([...LEVELS].sort(), Object.keys(want).sort());
    for (const [name, canonical] of Object.entries(want)) {
      assert.equal(parseLevel(name), canonical);
      assert.equal(parseLevel(name.toLowerCase()), canonical);
      assert.equal(parseLevel(name[0] + name.slice(1).toLowerCase()), canonical);
      assert.equal(levelOf(name), canonical.toLowerCase());
    }
  });

  test("anything else is a TypeError naming the accepted names", () => {
    for (const bad of ["LOUD", "", " INFO", "information", 2, null, undefined, {}, "constructor", "__proto__"]) {
      assert.equal(levelOf(bad), undefined);
      assert.throws(() => parseLevel(bad), (e) => e instanceof TypeError && /not a log level/.test(e.message) && /CRITICAL/.test(e.message));
    }
  });
});

group("toOutcome", () => {
  test("[message, level], a string, or nothing", () => {
    assert.deepEqual(toOutcome(["hello", "WARNING"]), { level: "warn", message: "hello", retry: false, retryAfterMs: undefined });
    assert.deepEqual(toOutcome(["hello", "critical"]), { level: "error", message: "hello", retry: false, retryAfterMs: undefined });
    assert.deepEqual(toOutcome(["hello"]), { level: "info", message: "hello", retry: false, retryAfterMs: undefined });
    assert.deepEqual(toOutcome(["hello", null]), { level: "info", message: "hello", retry: false, retryAfterMs: undefined });
    assert.deepEqual(toOutcome("just text"), { level: "info", message: "just text", retry: false, retryAfterMs: undefined });
    assert.deepEqual(toOutcome(""), { level: "info", message: "", retry: false, retryAfterMs: undefined });
    assert.equal(toOutcome(undefined), undefined);
    assert.equal(toOutcome(null), undefined);
    assert.equal(toOutcome([null, "ERROR"]), undefined);
  });

  test("a retry request makes an outcome even without a message", () => {
    assert.deepEqual(toOutcome(null, { afterMs: undefined }), { level: "info", message: undefined, retry: true, retryAfterMs: undefined });
    assert.deepEqual(toOutcome(["later", "warn"], { afterMs: 1500n }), { level: "warn", message: "later", retry: true, retryAfterMs: 1500n });
  });

  test("an invalid result is a TypeError saying what was returned and what is expected", () => {
    const cases = [
      [[42, "LOUD"], /returned \[42,"LOUD"\]: the message 42 is not a string/],
      [["x", "LOUD"], /returned \["x","LOUD"\]: "LOUD" is not a level/],
      [["x", 3], /"x",3\]: 3 is not a level/],
      [{ message: "x" }, /returned \{"message":"x"\}; expected \[message, level\]/],
      [42, /returned 42; expected/],
      [true, /returned true; expected/],
      [["a", "INFO", "extra"], /returned \["a","INFO","extra"\]; expected/],
      [[], /returned \[\]; expected/],
      [10n, /returned 10n; expected/],
      [() => 1, /returned function/],
    ];
    for (const [result, pattern] of cases) {
      assert.throws(() => toOutcome(result), (e) => e instanceof TypeError && pattern.test(e.message) && /a message string/.test(e.message), `for ${describe(result)}`);
    }
  });
});

group("describe", () => {
  test("renders anything, briefly", () => {
    const cyclic = {};
    cyclic.self = cyclic;
    assert.equal(describe(cyclic), "[object Object]");
    assert.equal(describe({ a: 1n }), '{"a":"1n"}');
    assert.equal(describe(new RangeError("r")), "RangeError: r");
    assert.equal(describe(Symbol("s")), "Symbol(s)");
    assert.equal(describe("x".repeat(500)).length, 201);
  });
});

group("Watcher", () => {
  function recordingHost(answers = {}) {
    const calls = [];
    return {
      calls,
      log: (level, message) => calls.push(["log", level, message]),
      httpRequest: (text) => (calls.push(["http", text]), answers.http ?? '{"status":200,"headers":{},"body":"ok"}'),
      kubeRequest: (text) => (calls.push(["kube", text]), answers.kube ?? '{"status":200,"object":{}}'),
    };
  }

  test("log: level default INFO, parsed, message made a string", () => {
    const host = recordingHost();
    const w = new Watcher(host);
    w.log("a");
    w.log("b", "warning");
    w.log(42, "Fatal");
    w.log("d", null);
    assert.deepEqual(host.calls, [["log", "info", "a"], ["log", "warn", "b"], ["log", "error", "42"], ["log", "info", "d"]]);
    assert.throws(() => w.log("c", "LOUD"), TypeError);
  });

  test("httpRequest sends the document as JSON and parses the answer", () => {
    const host = recordingHost();
    const w = new Watcher(host);
    assert.deepEqual(w.httpRequest({ url: "http://a/" }), { status: 200, headers: {}, body: "ok" });
    assert.deepEqual(JSON.parse(host.calls[0][1]), { url: "http://a/" });
    w.httpRequest('{"url":"http://b/"}');
    assert.equal(host.calls[1][1], '{"url":"http://b/"}');
    assert.throws(() => w.httpRequest(42), TypeError);
  });

  test("an answer that is not JSON becomes an error answer", () => {
    const w = new Watcher(recordingHost({ http: "<html>" }));
    const answer = w.httpRequest({ url: "http://a/" });
    assert.match(answer.error, /not JSON/);
  });

  test("http: a string body as is, an object as JSON with a content type", () => {
    const host = recordingHost();
    const w = new Watcher(host);
    w.http("post", "http://a/", { body: "raw" });
    w.http("POST", "http://a/", { body: { x: 1 } });
    w.http("PUT", "http://a/", { body: [1], headers: { "content-type": "application/x" } });
    w.http("GET", "http://a/");
    const sent = host.calls.map((c) => JSON.parse(c[1]));
    assert.deepEqual(sent[0], { method: "POST", url: "http://a/", body: "raw" });
    assert.deepEqual(sent[1], { method: "POST", url: "http://a/", body: '{"x":1}', headers: { "Content-Type": "application/json" } });
    assert.deepEqual(sent[2], { method: "PUT", url: "http://a/", body: "[1]", headers: { "content-type": "application/x" } });
    assert.deepEqual(sent[3], { method: "GET", url: "http://a/" });
  });

  test("patch: v1's kube_request document, namespace omitted when cluster-scoped", () => {
    const host = recordingHost();
    const w = new Watcher(host);
    w.patch("routes.route.openshift.io", "shop", "web", { metadata: { labels: { a: "b" } } });
    w.patch("namespaces", null, "shop", { metadata: {} });
    w.patch("nodes", "", "n1", {});
    const sent = host.calls.map((c) => c[1]);
    assert.equal(sent[0], '{"verb":"patch","resource":"routes.route.openshift.io","namespace":"shop","name":"web","patch":{"metadata":{"labels":{"a":"b"}}}}');
    assert.equal(sent[1], '{"verb":"patch","resource":"namespaces","name":"shop","patch":{"metadata":{}}}');
    assert.equal(sent[2], '{"verb":"patch","resource":"nodes","name":"n1","patch":{}}');
    assert.throws(() => w.patch("x", "ns", "n", "not an object"), TypeError);
  });

  test("retry: seconds to milliseconds as a bigint, validated at the call", () => {
    const w = new Watcher(recordingHost());
    assert.equal(w.retryRequest, null);
    w.retry();
    assert.deepEqual(w.retryRequest, { afterMs: undefined });
    w.retry(1.5);
    assert.deepEqual(w.retryRequest, { afterMs: 1500n });
    w.retry(0);
    assert.deepEqual(w.retryRequest, { afterMs: 0n });
    for (const bad of [-1, NaN, Infinity, "5", 5n, 1e300]) assert.throws(() => w.retry(bad), RangeError);
    w.retry(1e15); // ~31 million years: still a u64 of milliseconds
    assert.deepEqual(w.retryRequest, { afterMs: 10n ** 18n });
    w.resetEvent();
    assert.equal(w.retryRequest, null);
  });
});

group("isRetryable", () => {
  test("reasons and statuses, as docs/ABI.md §6 says", () => {
    for (const error of ["denied: no http capability", "unknown verb get", "malformed request: x", "invalid request: bad url",
      "env var TOKEN is not set", "cannot read /x", "no Kubernetes connection"]) {
      assert.equal(isRetryable({ error }), false, error);
    }
    for (const error of ["connection refused", "timed out after 5000 ms", "deadline"]) assert.equal(isRetryable({ error }), true, error);
    for (const status of [500, 502, 503, 599, 408, 429]) assert.equal(isRetryable({ status }), true, String(status));
    for (const status of [200, 201, 204, 400, 401, 403, 404, 409, 422]) assert.equal(isRetryable({ status }), false, String(status));
    assert.equal(isRetryable(null), false);
  });
});

group("createWorld", () => {
  const host = { log() {}, httpRequest: () => "{}", kubeRequest: () => "{}" };

  test("init parses the config once and hands it to init and every handleEvent", () => {
    const seen = [];
    const plugin = {
      init(config, watcher) {
        seen.push(["init", config, watcher instanceof Watcher]);
      },
      handleEvent(event, config, watcher) {
        seen.push(["event", event.object.metadata.name, config, watcher instanceof Watcher]);
        return "ok";
      },
    };
    const world = createWorld(plugin, host);
    assert.deepEqual(world.init('{"greeting":"hi"}'), { tag: "ok", val: undefined });
    world.handleEvent(JSON.stringify(EVENT));
    world.handleEvent(JSON.stringify(EVENT));
    assert.deepEqual(seen, [
      ["init", { greeting: "hi" }, true],
      ["event", "web-1", { greeting: "hi" }, true],
      ["event", "web-1", { greeting: "hi" }, true],
    ]);
  });

  test("init is optional; an empty config is {}", () => {
    let got;
    const world = createWorld({ handleEvent: (e, c) => void (got = c) }, host);
    assert.deepEqual(world.init(""), { tag: "ok", val: undefined });
    world.handleEvent(JSON.stringify(EVENT));
    assert.deepEqual(got, {});
  });

  test("a throwing init refuses with the message (not a trap)", () => {
    const refuse = (thrown) => createWorld({ init() { throw thrown; }, handleEvent() {} }, host).init("{}");
    assert.deepEqual(refuse(new Error("greeting is required")), { tag: "err", val: "greeting is required" });
    assert.deepEqual(refuse("as a string"), { tag: "err", val: "as a string" });
    assert.deepEqual(refuse({ code: 7 }), { tag: "err", val: '{"code":7}' });
    const errors = [];
    const saved = console.error;
    console.error = (m) => errors.push(m);
    try {
      assert.deepEqual(refuse(new TypeError("x is undefined")), { tag: "err", val: "TypeError: x is undefined" });
    } finally {
      console.error = saved;
    }
    assert.equal(errors.length, 1);
    assert.match(errors[0], /^init failed: TypeError: x is undefined\n/);
  });

  test("a config that is not JSON, or a plugin without handleEvent, is refused", () => {
    assert.match(createWorld({ handleEvent() {} }, host).init("{").val, /config is not valid JSON/);
    assert.match(createWorld({}, host).init("{}").val, /does not export a function handleEvent/);
    assert.match(createWorld({ handleEvent() {}, init: 3 }, host).init("{}").val, /init is not a function/);
  });

  test("an async init and handleEvent are awaited", async () => {
    const world = createWorld({
      async init() { throw new Error("later refusal"); },
      async handleEvent() { return ["async", "DEBUG"]; },
    }, host);
    assert.deepEqual(await world.init("{}"), { tag: "err", val: "later refusal" });
    assert.deepEqual(await world.handleEvent(JSON.stringify(EVENT)), { level: "debug", message: "async", retry: false, retryAfterMs: undefined });
  });

  test("handleEvent's exceptions propagate; a retry lasts one event", () => {
    let n = 0;
    const world = createWorld({
      handleEvent(event, config, watcher) {
        n++;
        if (n === 1) watcher.retry(2);
        if (n === 3) throw new Error("javascript plugin exploded");
        return null;
      },
    }, host);
    world.init("{}");
    assert.deepEqual(world.handleEvent(JSON.stringify(EVENT)), { level: "info", message: undefined, retry: true, retryAfterMs: 2000n });
    assert.equal(world.handleEvent(JSON.stringify(EVENT)), undefined);
    assert.throws(() => world.handleEvent(JSON.stringify(EVENT)), /javascript plugin exploded/);
  });
});

group("FakeWatcher and invoke", () => {
  test("records logs and requests; answers from canned answers", () => {
    const w = new FakeWatcher({
      http: [{ status: 503, headers: {}, body: "" }, (req) => ({ status: 200, headers: {}, body: req.url })],
      kube: { status: 200, object: { kind: "Route", apiVersion: "v1", metadata: { name: "web" } } },
    });
    w.log("hello", "warning");
    assert.equal(w.http("GET", "http://a/").status, 503);
    assert.equal(w.http("GET", "http://b/").body, "http://b/");
    assert.equal(w.http("GET", "http://c/").body, "http://c/"); // the last one repeats
    assert.equal(w.patch("routes.route.openshift.io", "shop", "web", {}).object.metadata.name, "web");
    assert.deepEqual(w.logs, [{ level: "WARN", message: "hello" }]);
    assert.deepEqual(w.httpRequests.map((r) => r.url), ["http://a/", "http://b/", "http://c/"]);
    assert.deepEqual(w.kubeRequests, [{ verb: "patch", resource: "routes.route.openshift.io", namespace: "shop", name: "web", patch: {} }]);
    w.retry(0.25);
    assert.deepEqual(w.retried, { afterSeconds: 0.25 });
  });

  test("without a canned answer, requests are denied as by a host without the grant", () => {
    const w = new FakeWatcher();
    assert.match(w.httpRequest({ url: "http://a/" }).error, /^denied/);
    assert.match(w.kubeRequest({ verb: "patch", resource: "x", name: "y", patch: {} }).error, /^denied/);
    assert.equal(isRetryable(w.httpRequest({ url: "http://a/" })), false);
  });

  test("invoke runs init and handleEvent as the component does", async () => {
    const plugin = {
      init(config) {
        if (typeof config.greeting !== "string") throw new Error("greeting must be a string");
      },
      handleEvent(event, config, watcher) {
        watcher.log(`${config.greeting} ${event.object.kind}`);
        return [`${config.greeting} ${event.object.metadata.name}`, "warn"];
      },
    };
    const { outcome, watcher } = await invoke(plugin, EVENT, { config: { greeting: "hi" } });
    assert.deepEqual(outcome, { level: "warn", message: "hi web-1", retry: false, retryAfterMs: undefined });
    assert.deepEqual(watcher.logs, [{ level: "INFO", message: "hi Pod" }]);
    await assert.rejects(invoke(plugin, EVENT), /init refused the config: greeting must be a string/);
    await assert.rejects(invoke({ handleEvent: () => [1] }, EVENT), TypeError);
  });
});

group("reportUncaught", () => {
  test("one stderr line with the class and the message; the exception comes back", (t) => {
    const lines = [];
    t.mock.method(console, "error", (m) => lines.push(m));
    const e = new TypeError("can't access property \"x\" of null");
    assert.equal(reportUncaught(e), e);
    reportUncaught(new Error("javascript plugin exploded"));
    reportUncaught("a string");
    reportUncaught(new RangeError("r"), "init");
    assert.deepEqual(lines, [
      'handleEvent failed: TypeError: can\'t access property "x" of null',
      "handleEvent failed: Error: javascript plugin exploded",
      'handleEvent failed: it threw "a string", not an Error',
      "init failed: RangeError: r",
    ]);
  });
});

group("metrics", () => {
  test("counter, gauge and observe send the host's update documents", () => {
    const w = new FakeWatcher();
    assert.equal(w.counter("warnings", 1, { help: "Warnings", labels: { reason: "BackOff" } }), true);
    w.gauge("zones", 3);
    w.observe("sync_seconds", 0.2, { buckets: [0.1, 1] });
    assert.deepEqual(w.metrics, [
      { name: "warnings", kind: "counter", value: 1, help: "Warnings", labels: { reason: "BackOff" } },
      { name: "zones", kind: "gauge", value: 3 },
      { name: "sync_seconds", kind: "histogram", value: 0.2, buckets: [0.1, 1] },
    ]);
    assert.throws(() => w.gauge("zones", "three"), TypeError);
  });

  test("a refusal (the host throws its reason) is false", () => {
    const host = { log() {}, httpRequest() {}, kubeRequest() {}, metric() { throw "invalid metric"; } };
    const w = new Watcher(host);
    assert.equal(w.counter("x"), false);
  });
});
