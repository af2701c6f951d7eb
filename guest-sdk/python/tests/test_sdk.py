"""Unit tests of the guest SDK (event_controller) under plain CPython:

    python3 -m unittest discover guest-sdk/python

They never import event_controller.world (it needs componentize-py's generated bindings)."""

import contextlib
import io
import json
import os
import sys
import tempfile
import types
import unittest

import event_controller
from event_controller import levels
from event_controller.answers import describe, is_success, is_transient
from event_controller.runner import InitRefused, Outcome, Runner, to_outcome
from event_controller.testing import FakeWatcher, Harness

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
sys.path.insert(0, TOOLS)
import custom_section  # noqa: E402  (guest-sdk/python/tools/custom_section.py)

POD = {
    "type": "ADDED",
    "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web-1", "namespace": "shop"}},
}


def plugin(handle_event, init=None, name="a_plugin"):
    """A plugin module made of functions."""
    module = types.ModuleType(name)
    module.handle_event = handle_event
    if init is not None:
        module.init = init
    return module


class Levels(unittest.TestCase):
    def test_names_in_any_case(self):
        for name, level in [
            ("TRACE", levels.TRACE),
            ("debug", levels.DEBUG),
            ("Info", levels.INFO),
            ("WARN", levels.WARN),
            ("warning", levels.WARN),
            ("ERROR", levels.ERROR),
            ("critical", levels.ERROR),
            ("FATAL", levels.ERROR),
        ]:
            self.assertEqual(levels.parse_level(name), level, name)

    def test_logging_numbers(self):
        import logging

        self.assertEqual(levels.parse_level(logging.DEBUG), levels.DEBUG)
        self.assertEqual(levels.parse_level(logging.INFO), levels.INFO)
        self.assertEqual(levels.parse_level(logging.WARNING), levels.WARN)
        self.assertEqual(levels.parse_level(logging.ERROR), levels.ERROR)
        self.assertEqual(levels.parse_level(logging.CRITICAL), levels.ERROR)

    def test_what_is_no_level(self):
        for bad in ["LOUD", "", "WARN ING", 0, 15, 2, -1]:
            with self.assertRaises(ValueError, msg=repr(bad)) as caught:
                levels.parse_level(bad)
            self.assertIn("expected one of TRACE", str(caught.exception))
        for bad in [True, None, 20.0, b"INFO"]:
            with self.assertRaises(TypeError, msg=repr(bad)):
                levels.parse_level(bad)

    def test_names(self):
        self.assertEqual(levels.level_name(levels.WARN), "WARN")
        self.assertEqual(Outcome(levels.ERROR, "x", False, None).level_name, "ERROR")


class Results(unittest.TestCase):
    def test_the_seeds_tuple(self):
        self.assertEqual(to_outcome(("m", "INFO")), Outcome(levels.INFO, "m", False, None))
        self.assertEqual(to_outcome(("m", "warning")), Outcome(levels.WARN, "m", False, None))
        self.assertEqual(to_outcome(("m", 40)), Outcome(levels.ERROR, "m", False, None))

    def test_a_bare_string_is_info(self):
        self.assertEqual(to_outcome("hello"), Outcome(levels.INFO, "hello", False, None))

    def test_nothing(self):
        self.assertIsNone(to_outcome(None))
        self.assertIsNone(to_outcome((None, "WARN")))

    def test_retries_without_a_message(self):
        self.assertEqual(to_outcome(None, True, None), Outcome(levels.INFO, None, True, None))
        self.assertEqual(to_outcome(None, True, 1500), Outcome(levels.INFO, None, True, 1500))
        self.assertEqual(
            to_outcome(("busy", "WARN"), True, None), Outcome(levels.WARN, "busy", True, None)
        )

    def test_what_is_no_outcome(self):
        for bad, says in [
            ((42, "LOUD"), "its message is of type int"),
            (("m", "LOUD"), "unknown log level 'LOUD'"),
            (("m", None), "must be a str or an int"),
            (("m", "INFO", "extra"), "returned ('m', 'INFO', 'extra')"),
            (["m", "INFO"], "returned ['m', 'INFO']"),
            (42, "returned 42"),
            ({"message": "m"}, "returned {'message': 'm'}"),
            (b"bytes", "returned b'bytes'"),
        ]:
            with self.assertRaises(TypeError, msg=repr(bad)) as caught:
                to_outcome(bad)
            message = str(caught.exception)
            self.assertIn(says, message)
            self.assertIn("must return None (nothing to log), a message str", message)

    def test_a_long_result_is_cut_in_the_message(self):
        with self.assertRaises(TypeError) as caught:
            to_outcome(["x" * 10000])
        self.assertLess(len(str(caught.exception)), 1000)


class Running(unittest.TestCase):
    def test_config_and_event_as_dicts(self):
        seen = []

        def handle_event(watcher, event, config):
            seen.append((event, config))
            return "Kind: {0}".format(event["object"]["kind"]), "INFO"

        runner = Runner(plugin(handle_event), FakeWatcher())
        runner.init('{"greeting": "hi", "n": [1, 2]}')
        self.assertEqual(runner.handle_event(json.dumps(POD)), Outcome(levels.INFO, "Kind: Pod", False, None))
        self.assertEqual(seen, [(POD, {"greeting": "hi", "n": [1, 2]})])

    def test_the_plugins_init(self):
        calls = []
        runner = Runner(plugin(lambda w, e, c: None, init=calls.append), FakeWatcher())
        runner.init('{"a": 1}')
        self.assertEqual(calls, [{"a": 1}])

    def test_refusals_say_why(self):
        def init(config):
            if "url" not in config:
                raise ValueError("needs `url`")

        runner = Runner(plugin(lambda w, e, c: None, init=init), FakeWatcher())
        with self.assertRaises(InitRefused) as caught:
            runner.init("{}")
        self.assertEqual(str(caught.exception), "needs `url`")
        for config, says in [
            ("not json", "the config is not valid JSON"),
            ("[1]", "the config must be a JSON object (a table), got [1]"),
        ]:
            with self.assertRaises(InitRefused) as caught:
                runner.init(config)
            self.assertIn(says, str(caught.exception))

    def test_a_bug_in_init_names_the_exception_and_prints_the_traceback(self):
        runner = Runner(plugin(lambda w, e, c: None, init=lambda config: config["url"]), FakeWatcher())
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(InitRefused) as caught:
            runner.init("{}")
        self.assertEqual(str(caught.exception), "KeyError: 'url'")
        self.assertIn("Traceback (most recent call last)", stderr.getvalue())

    def test_exceptions_of_handle_event_propagate(self):
        def handle_event(watcher, event, config):
            raise RuntimeError("python plugin exploded")

        runner = Runner(plugin(handle_event), FakeWatcher())
        runner.init("{}")
        with self.assertRaisesRegex(RuntimeError, "python plugin exploded"):
            runner.handle_event(json.dumps(POD))

    def test_retries_are_per_event(self):
        def handle_event(watcher, event, config):
            name = event["object"]["metadata"]["name"]
            if name == "later":
                watcher.retry(after_seconds=1.5)
            elif name == "again":
                watcher.retry()
            elif name == "boom":
                watcher.retry()
                raise RuntimeError("after asking for a retry")
            return None

        def event(name):
            return json.dumps({"type": "ADDED", "object": {"metadata": {"name": name}}})

        runner = Runner(plugin(handle_event), FakeWatcher())
        self.assertEqual(runner.handle_event(event("later")), Outcome(levels.INFO, None, True, 1500))
        self.assertIsNone(runner.handle_event(event("quiet")))
        self.assertEqual(runner.handle_event(event("again")), Outcome(levels.INFO, None, True, None))
        with self.assertRaises(RuntimeError):
            runner.handle_event(event("boom"))
        self.assertIsNone(runner.handle_event(event("quiet")), "the failed event's retry is gone")

    def test_a_module_without_handle_event(self):
        with self.assertRaisesRegex(TypeError, "defines no handle_event"):
            Runner(types.ModuleType("empty"), FakeWatcher())
        module = plugin(lambda w, e, c: None)
        module.init = "not a function"
        with self.assertRaisesRegex(TypeError, "`init` is not a function"):
            Runner(module, FakeWatcher())


class Watching(unittest.TestCase):
    def test_logs(self):
        watcher = FakeWatcher()
        watcher.log("plain")
        watcher.log("loud", "warning")
        watcher.log(42, 40)
        self.assertEqual(watcher.logs, [("INFO", "plain"), ("WARN", "loud"), ("ERROR", "42")])
        with self.assertRaises(ValueError):
            watcher.log("x", "LOUD")

    def test_http_requests_as_the_host_gets_them(self):
        watcher = FakeWatcher(http=[{"status": 200, "body": "ok"}])
        answer = watcher.http("post", "http://am:9093/api/v2/alerts", body=[{"labels": {"a": "b"}}])
        self.assertEqual(answer, {"status": 200, "body": "ok"})
        self.assertEqual(
            watcher.http_requests,
            [
                {
                    "method": "POST",
                    "url": "http://am:9093/api/v2/alerts",
                    "headers": {"Content-Type": "application/json"},
                    "body": '[{"labels":{"a":"b"}}]',
                }
            ],
        )
        # Used up: the host's answer to a plugin without the capability.
        self.assertTrue(watcher.http("GET", "http://x/")["error"].startswith("denied"))
        self.assertEqual(watcher.http_requests[-1], {"method": "GET", "url": "http://x/"})

    def test_http_bodies(self):
        watcher = FakeWatcher(http={"status": 204})
        watcher.http("PUT", "http://x/", headers={"content-type": "text/json"}, body={"a": 1})
        self.assertEqual(watcher.http_requests[-1]["headers"], {"content-type": "text/json"})
        watcher.http("PUT", "http://x/", body="caf\u00e9")
        self.assertEqual(watcher.http_requests[-1]["body"], "caf\u00e9")
        watcher.http("PUT", "http://x/", body="caf\u00e9".encode("utf-8"))
        self.assertEqual(watcher.http_requests[-1]["body"], "caf\u00e9")
        with self.assertRaisesRegex(ValueError, "UTF-8"):
            watcher.http("PUT", "http://x/", body=b"\xff")
        with self.assertRaisesRegex(TypeError, "a str, bytes, dict or list"):
            watcher.http("PUT", "http://x/", body=42)

    def test_http_request_documents(self):
        watcher = FakeWatcher(http=lambda request: {"status": 200, "body": request["url"]})
        self.assertEqual(watcher.http_request({"url": "http://x/"})["body"], "http://x/")
        with self.assertRaises(TypeError):
            watcher.http_request("http://x/")

    def test_patches(self):
        watcher = FakeWatcher(kube=[{"status": 200, "object": {}}, {"status": 403, "message": "no"}])
        self.assertEqual(
            watcher.patch("routes.route.openshift.io", "shop", "web", {"spec": {"tls": None}}),
            {"status": 200, "object": {}},
        )
        watcher.patch("nodes", None, "node-a", {"metadata": {"labels": {"a": "b"}}})
        self.assertEqual(
            watcher.kube_requests,
            [
                {"verb": "patch", "resource": "routes.route.openshift.io", "namespace": "shop",
                 "name": "web", "patch": {"spec": {"tls": None}}},
                {"verb": "patch", "resource": "nodes", "name": "node-a",
                 "patch": {"metadata": {"labels": {"a": "b"}}}},
            ],
        )
        self.assertTrue(watcher.kube_request({"verb": "patch"})["error"].startswith("denied"))

    def test_requests_must_be_json(self):
        with self.assertRaises(TypeError):
            FakeWatcher().http("POST", "http://x/", body={"when": object()})

    def test_answers_that_are_not_json(self):
        watcher = event_controller.Watcher(
            types.SimpleNamespace(http_request=lambda request: "garbage")
        )
        with self.assertRaisesRegex(ValueError, "not JSON"):
            watcher.http("GET", "http://x/")

    def test_metrics_as_the_host_gets_them(self):
        watcher = FakeWatcher()
        self.assertTrue(watcher.counter("warnings", help="Warnings", labels={"reason": "BackOff"}))
        watcher.gauge("zones", 3)
        watcher.observe("sync_seconds", 0.2, buckets=[0.1, 1])
        self.assertEqual(
            watcher.metrics,
            [
                {"name": "warnings", "kind": "counter", "value": 1, "help": "Warnings",
                 "labels": {"reason": "BackOff"}},
                {"name": "zones", "kind": "gauge", "value": 3},
                {"name": "sync_seconds", "kind": "histogram", "value": 0.2, "buckets": [0.1, 1]},
            ],
        )
        with self.assertRaises(TypeError):
            watcher.gauge("zones", "three")

    def test_retry_arguments(self):
        watcher = FakeWatcher()
        watcher.retry(0)
        self.assertEqual((watcher.retry_requested, watcher.retry_after_ms), (True, 0))
        watcher.retry(after_seconds=0.0014)
        self.assertEqual(watcher.retry_after_ms, 1)
        watcher.retry()
        self.assertEqual(watcher.retry_after_ms, None)
        for bad in [-1, float("inf"), float("nan")]:
            with self.assertRaises(ValueError):
                watcher.retry(bad)
        for bad in ["1", True]:
            with self.assertRaises(TypeError):
                watcher.retry(bad)


class Answers(unittest.TestCase):
    def test_success(self):
        self.assertTrue(is_success({"status": 200}))
        self.assertTrue(is_success({"status": 204, "body": ""}))
        self.assertFalse(is_success({"status": 301}))
        self.assertFalse(is_success({"error": "denied"}))

    def test_what_may_pass(self):
        for reason in [
            "io: Connection refused (os error 111)",
            "timeout: global",
            "the call's deadline passed",
        ]:
            self.assertTrue(is_transient({"error": reason}), reason)
        for reason in [
            "denied: http://x/ is not under an allowed prefix",
            "unknown verb delete",
            "malformed request: missing field `url`",
            "invalid request: bad method",
            "env var TOKEN is not set",
            "cannot read /var/run/token",
            "no Kubernetes connection (replay)",
        ]:
            self.assertFalse(is_transient({"error": reason}), reason)
        for status, transient in [(500, True), (503, True), (408, True), (429, True),
                                  (400, False), (403, False), (404, False), (200, False)]:
            self.assertEqual(is_transient({"status": status}), transient, status)

    def test_descriptions(self):
        self.assertEqual(describe({"error": "denied: x"}), "denied: x")
        self.assertEqual(describe({"status": 503, "body": ""}), "status 503")
        self.assertEqual(describe({"status": 400, "body": " bad\nmore "}), "status 400: bad")
        self.assertEqual(describe({"status": 403, "message": "forbidden"}), "status 403: forbidden")
        self.assertEqual(describe({"status": 500, "body": "x" * 400}), "status 500: " + "x" * 300 + "\u2026")


class Testing(unittest.TestCase):
    def test_the_harness_runs_init_then_events(self):
        def init(config):
            if not config.get("url"):
                raise ValueError("needs `url`")

        def handle_event(watcher, event, config):
            answer = watcher.http("POST", config["url"], body={"name": event["object"]["metadata"]["name"]})
            if not is_success(answer):
                watcher.retry()
                return "failed: " + describe(answer), "WARN"
            return "sent"

        module = plugin(handle_event, init=init)
        with self.assertRaisesRegex(InitRefused, "needs `url`"):
            Harness(module)
        h = Harness(module, config={"url": "http://x/"},
                    watcher=FakeWatcher(http=[{"error": "io: refused"}, {"status": 200}]))
        self.assertEqual(h.config, {"url": "http://x/"})
        self.assertEqual(h.handle(POD), Outcome(levels.WARN, "failed: io: refused", True, None))
        self.assertEqual(h.handle(json.dumps(POD)), Outcome(levels.INFO, "sent", False, None))
        self.assertEqual(len(h.watcher.http_requests), 2)
        h.watcher.answer_http({"status": 201})
        self.assertEqual(h.handle(POD).message, "sent")


class CustomSection(unittest.TestCase):
    def test_appends_once(self):
        # A component's preamble, then one (empty) custom section named "x".
        component = b"\0asm\x0d\x00\x01\x00" + custom_section.section("x", b"")
        with tempfile.TemporaryDirectory() as tmp:
            wasm = os.path.join(tmp, "p.wasm")
            payload = os.path.join(tmp, "subscribe.json")
            with open(wasm, "wb") as f:
                f.write(component)
            with open(payload, "w") as f:
                f.write('{"resources":["pods"]}')
            argv = ["custom_section.py", wasm, "event-controller.subscribe", payload]
            self.assertEqual(custom_section.main(argv), 0)
            with open(wasm, "rb") as f:
                data = f.read()
            self.assertEqual(custom_section.custom_section_names(data), ["x", "event-controller.subscribe"])
            self.assertTrue(data.endswith(b'event-controller.subscribe{"resources":["pods"]}'))
            with contextlib.redirect_stderr(io.StringIO()) as err:
                self.assertEqual(custom_section.main(argv), 1)
            self.assertIn("already has a custom section", err.getvalue())
            with open(payload, "w") as f:
                f.write("{nope")
            with contextlib.redirect_stderr(io.StringIO()) as err:
                self.assertEqual(custom_section.main(argv), 1)
            self.assertIn("is not UTF-8 JSON", err.getvalue())

    def test_leb128(self):
        self.assertEqual(custom_section.leb128(0), b"\x00")
        self.assertEqual(custom_section.leb128(127), b"\x7f")
        self.assertEqual(custom_section.leb128(128), b"\x80\x01")
        self.assertEqual(custom_section.leb128(624485), b"\xe5\x8e\x26")
        self.assertEqual(custom_section.read_leb128(b"\xe5\x8e\x26", 0), (624485, 3))
        big = custom_section.section("n", b"x" * 300)
        self.assertEqual(custom_section.custom_section_names(b"\0asm\x01\x00\x00\x00" + big), ["n"])


if __name__ == "__main__":
    unittest.main()
