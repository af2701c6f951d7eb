"""The repository's Python plugins under plain CPython, with FakeWatcher and Harness: the seed's
plugin_simple, the Alertmanager port (the Rust plugin's recorded streams and exact request
bodies), and the Python test plugin the host's tests use."""

import contextlib
import importlib.util
import io
import json
import os
import sys
import unittest

from event_controller import levels
from event_controller.runner import InitRefused, Outcome, to_outcome
from event_controller.testing import FakeWatcher, Harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def load(path):
    """Imports the plugin package at `path` (NAME/__init__.py) as NAME."""
    name = os.path.basename(path)
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, path, "__init__.py"), submodule_search_locations=[]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def lines(path):
    with open(os.path.join(ROOT, path)) as f:
        return [line.strip() for line in f if line.strip()]


def info(message):
    return Outcome(levels.INFO, message, False, None)


class Simple(unittest.TestCase):
    def test_the_seeds_plugin_simple(self):
        simple = load("plugins-wasm/python_simple")
        event = json.loads(lines("conf/sample-events.jsonl")[0])
        self.assertEqual(
            simple.handle_event(FakeWatcher(), event, {}), ("Kind: Pod; Name: web-7d4b9c6f5-x2k8p", "INFO")
        )
        self.assertEqual(Harness(simple).handle(event), info("Kind: Pod; Name: web-7d4b9c6f5-x2k8p"))


def at(text):
    return ALERTMANAGER.parse_time(text)


ALERTMANAGER = load("plugins-wasm/python_alertmanager")
URL = "http://127.0.0.1:9093/api/v2/alerts"
PODS = "plugins-wasm/plugin_crashloop/testdata/pods.jsonl"
EVENTS = "tests/data/watch/events.jsonl"


class AlertmanagerHarness:
    """The plugin with a FakeWatcher that answers `reply`; run() hands one event at a time."""

    def __init__(self, config=None):
        self.reply = {"status": 200, "body": ""}
        self.watcher = FakeWatcher(http=lambda request: self.reply)
        am = ALERTMANAGER
        self.plugin = am.Plugin(am.Settings(config or {"url": "http://127.0.0.1:9093"}))

    def run(self, line, now):
        """The outcome (as the host gets it) and the alerts POSTed (None: no request)."""
        before = len(self.watcher.http_requests)
        result = self.plugin.handle(self.watcher, json.loads(line), at(now))
        retry, after = self.watcher._take_retry()
        outcome = to_outcome(result, retry, after)
        sent = self.watcher.http_requests[before:]
        assert len(sent) <= 1, "one request per event at most"
        body = None
        if sent:
            request = sent[0]
            assert request["method"] == "POST" and request["url"] == URL, request
            assert request["headers"] == {"Content-Type": "application/json"}, request
            body = json.loads(request["body"])
        return outcome, body

    def last_body(self):
        return self.watcher.http_requests[-1]["body"]


def crash_looping_web(starts_at, ends_at):
    return {
        "labels": {
            "alertname": "PodCrashLooping", "container": "metrics-sidecar", "namespace": "shop",
            "pod": "web-7d4b9c6f5-x2k8p", "reason": "CrashLoopBackOff", "severity": "warning",
        },
        "annotations": {
            "description": "back-off 2m40s restarting failed container=metrics-sidecar pod=web-7d4b9c6f5-x2k8p_shop",
            "summary": "Container metrics-sidecar of Pod shop/web-7d4b9c6f5-x2k8p is in CrashLoopBackOff (restarts: 5)",
        },
        "startsAt": starts_at,
        "endsAt": ends_at,
    }


def ledger_alerts(starts_at, ends_at):
    labels = {"container": "worker", "namespace": "payments", "pod": "ledger-worker-0"}
    return [
        {
            "labels": dict(labels, alertname="PodCrashLooping", reason="CrashLoopBackOff", severity="warning"),
            "annotations": {
                "description": "back-off 40s restarting failed container=worker pod=ledger-worker-0_payments",
                "summary": "Container worker of Pod payments/ledger-worker-0 is in CrashLoopBackOff (restarts: 3)",
            },
            "startsAt": starts_at,
            "endsAt": ends_at,
        },
        {
            "labels": dict(labels, alertname="PodOOMKilled", reason="OOMKilled", severity="critical"),
            "annotations": {
                "summary": "Container worker of Pod payments/ledger-worker-0 was OOMKilled (restarts: 3)"
            },
            "startsAt": starts_at,
            "endsAt": ends_at,
        },
    ]


class Alertmanager(unittest.TestCase):
    """The Rust plugin's tests (plugins-wasm/plugin_alertmanager/src/tests.rs), same answers."""

    def test_times(self):
        am = ALERTMANAGER
        self.assertEqual(am.format_time(0), "1970-01-01T00:00:00.000Z")
        self.assertEqual(at("2026-11-26T20:53:44Z"), 1_795_726_424_000)
        self.assertEqual(am.format_time(1_795_726_424_123), "2026-11-26T20:53:44.123Z")
        self.assertEqual(at("2026-11-26T20:53:44.123456Z"), 1_795_726_424_123)
        self.assertEqual(at("2026-11-26T21:53:44.5+01:00"), 1_795_726_424_500)
        self.assertEqual(at("2026-11-26T19:23:44-01:30"), 1_795_726_424_000)
        self.assertEqual(am.format_time(-1), "1969-12-31T23:59:59.999Z")
        for bad in ["", "2026-11-26", "2026-11-26T20:53:44", "2026-13-26T20:53:44Z", None, 5]:
            self.assertIsNone(at(bad), bad)

    def test_real_pod_watch_stream(self):
        h = AlertmanagerHarness()
        pods = lines(PODS)
        for line in pods[:3]:
            self.assertEqual(h.run(line, "2026-11-26T20:54:00Z"), (None, None))

        outcome, body = h.run(pods[3], "2026-11-26T20:54:00Z")
        self.assertEqual(outcome, info(
            "alertmanager: 1 firing, 0 resolved (PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"))
        self.assertEqual(body, [crash_looping_web("2026-11-26T20:54:00.000Z", "2026-11-26T20:59:00.000Z")])
        # Byte for byte what the Rust plugin sends.
        self.assertEqual(h.last_body(), (
            '[{"labels":{"alertname":"PodCrashLooping","container":"metrics-sidecar","namespace":"shop","pod":"web-7d4b9c6f5-x2k8p","reason":"CrashLoopBackOff","severity":"warning"},'
            '"annotations":{"description":"back-off 2m40s restarting failed container=metrics-sidecar pod=web-7d4b9c6f5-x2k8p_shop","summary":"Container metrics-sidecar of Pod shop/web-7d4b9c6f5-x2k8p is in CrashLoopBackOff (restarts: 5)"},'
            '"startsAt":"2026-11-26T20:54:00.000Z","endsAt":"2026-11-26T20:59:00.000Z"}]'))

        outcome, body = h.run(pods[4], "2026-11-26T20:54:01Z")
        self.assertEqual(outcome, info(
            "alertmanager: 2 firing, 0 resolved (PodCrashLooping payments/ledger-worker-0/worker, "
            "PodOOMKilled payments/ledger-worker-0/worker)"))
        self.assertEqual(body, ledger_alerts("2026-11-26T20:54:01.000Z", "2026-11-26T20:59:01.000Z"))

        # Still firing: sent again, same startsAt, later endsAt.
        _, body = h.run(pods[5], "2026-11-26T20:55:30.250Z")
        self.assertEqual(body, ledger_alerts("2026-11-26T20:54:01.000Z", "2026-11-26T21:00:30.250Z"))

        # DELETED: both resolved, endsAt now.
        outcome, body = h.run(pods[6], "2026-11-26T20:56:00Z")
        self.assertEqual(outcome, info(
            "alertmanager: 0 firing, 2 resolved (resolved: PodCrashLooping payments/ledger-worker-0/worker, "
            "PodOOMKilled payments/ledger-worker-0/worker)"))
        self.assertEqual(body, ledger_alerts("2026-11-26T20:54:01.000Z", "2026-11-26T20:56:00.000Z"))
        self.assertNotIn("59de08af-150b-45e2-8a46-27551607dd30", h.plugin.firing)

        # The web Pod recovers: resolved; then nothing more to say.
        recovered = pods[2].replace('"resourceVersion":"225"', '"resourceVersion":"250"')
        outcome, body = h.run(recovered, "2026-11-26T20:57:00Z")
        self.assertEqual(outcome, info(
            "alertmanager: 0 firing, 1 resolved (resolved: PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"))
        self.assertEqual(body, [crash_looping_web("2026-11-26T20:54:00.000Z", "2026-11-26T20:57:00.000Z")])
        self.assertEqual(h.plugin.firing, {})
        self.assertEqual(h.run(recovered, "2026-11-26T20:58:00Z"), (None, None))

    def test_warning_events(self):
        h = AlertmanagerHarness()
        events = lines(EVENTS)
        self.assertEqual(h.run(events[0], "2026-11-26T20:54:00Z"), (None, None), "KubeAPIReadyz")
        outcome, body = h.run(events[1], "2026-11-26T20:54:00Z")
        self.assertEqual(outcome, info(
            "alertmanager: 1 firing, 0 resolved (KubeWarningEvent BackOff Pod shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"))
        self.assertEqual(body, [{
            "labels": {"alertname": "KubeWarningEvent", "container": "metrics-sidecar", "kind": "Pod",
                       "namespace": "shop", "pod": "web-7d4b9c6f5-x2k8p", "reason": "BackOff", "severity": "warning"},
            "annotations": {"summary": "Back-off restarting failed container metrics-sidecar in pod web-7d4b9c6f5-x2k8p_shop"},
            "startsAt": "2026-11-26T20:53:44.000Z",
            "endsAt": "2026-11-26T20:59:00.000Z",
        }])
        _, body = h.run(events[2], "2026-11-26T20:54:00Z")
        self.assertEqual(body[0]["labels"], {"alertname": "KubeWarningEvent", "kind": "Pod", "namespace": "payments",
                                             "pod": "ledger-worker-0", "reason": "OOMKilling", "severity": "warning"})
        self.assertEqual(h.plugin.firing, {}, "Events are never tracked")
        self.assertEqual(h.run(events[1], "2026-11-26T21:00:00Z"), (None, None), "old news")
        deleted = events[1].replace('"type":"ADDED"', '"type":"DELETED"', 1)
        self.assertEqual(h.run(deleted, "2026-11-26T20:54:00Z"), (None, None))
        normal = events[1].replace('"type":"Warning"', '"type":"Normal"')
        self.assertEqual(h.run(normal, "2026-11-26T20:54:00Z"), (None, None))

    def test_every_reason_and_the_config_labels(self):
        h = AlertmanagerHarness({
            "url": "http://127.0.0.1:9093", "warning_event_reasons": ["*"], "severity_default": "info",
            "resolve_after_seconds": 60, "labels": {"cluster": "prod", "alertname": "ignored"},
            "generator_url": "https://console.example/"})
        outcome, body = h.run(lines(EVENTS)[0], "2026-11-26T20:53:30Z")
        self.assertEqual(outcome, info(
            "alertmanager: 1 firing, 0 resolved (KubeWarningEvent KubeAPIReadyz Namespace default/openshift-kube-apiserver)"))
        self.assertEqual(body, [{
            "labels": {"alertname": "KubeWarningEvent", "cluster": "prod", "kind": "Namespace", "namespace": "default",
                       "object": "openshift-kube-apiserver", "reason": "KubeAPIReadyz", "severity": "info"},
            "annotations": {"summary": "readyz=true"},
            "startsAt": "2026-11-26T20:53:16.000Z",
            "endsAt": "2026-11-26T20:54:30.000Z",
            "generatorURL": "https://console.example/",
        }])

    def test_events_k8s_io_events(self):
        h = AlertmanagerHarness()
        line = ('{"type":"ADDED","object":{"kind":"Event","apiVersion":"events.k8s.io/v1","metadata":{"name":"x",'
                '"namespace":"batch","uid":"e1","creationTimestamp":"2026-11-26T20:00:00Z"},"eventTime":"2026-11-26T20:00:00.123456Z",'
                '"series":{"count":3,"lastObservedTime":"2026-11-26T20:04:00.000000Z"},"reason":"FailedScheduling",'
                '"note":"0/3 nodes are available","type":"Warning","regarding":{"kind":"Pod","namespace":"batch","name":"etl-1"}}}')
        _, body = h.run(line, "2026-11-26T20:08:00Z")
        self.assertEqual(body[0]["labels"]["pod"], "etl-1")
        self.assertEqual(body[0]["annotations"]["summary"], "0/3 nodes are available")
        self.assertEqual(body[0]["startsAt"], "2026-11-26T20:00:00.123Z")
        self.assertIsNone(h.run(line, "2026-11-26T20:09:01Z")[1], "stale")

    def test_failed_jobs_and_nodes(self):
        h = AlertmanagerHarness()
        job = ('{"type":"MODIFIED","object":{"kind":"Job","apiVersion":"batch/v1","metadata":{"name":"nightly-backup",'
               '"namespace":"ops","uid":"job-1"},"status":{"conditions":[{"type":"Failed","status":"True",'
               '"reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit",'
               '"lastTransitionTime":"2026-11-26T19:59:00Z"}]}}}')
        outcome, body = h.run(job, "2026-11-26T20:00:00Z")
        self.assertEqual(outcome, info("alertmanager: 1 firing, 0 resolved (JobFailed ops/nightly-backup)"))
        self.assertEqual(body[0]["annotations"]["summary"],
                         "Job ops/nightly-backup failed: BackoffLimitExceeded: Job has reached the specified backoff limit")
        self.assertEqual(body[0]["startsAt"], "2026-11-26T19:59:00.000Z")
        outcome, body = h.run(job.replace("MODIFIED", "DELETED", 1), "2026-11-26T20:10:00Z")
        self.assertEqual(outcome, info("alertmanager: 0 firing, 1 resolved (resolved: JobFailed ops/nightly-backup)"))
        self.assertEqual(body[0]["endsAt"], "2026-11-26T20:10:00.000Z")
        self.assertEqual(h.run(job.replace("batch/v1", "example.com/v1"), "2026-11-26T20:00:00Z"), (None, None))

        node = ('{"type":"MODIFIED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a","uid":"node-1"},'
                '"status":{"conditions":[{"type":"MemoryPressure","status":"False"},%s]}}}')
        unknown = node % ('{"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown",'
                          '"message":"Kubelet stopped posting node status.","lastTransitionTime":"2026-11-26T20:00:40Z"}')
        outcome, body = h.run(unknown, "2026-11-26T20:01:00Z")
        self.assertEqual(outcome, info("alertmanager: 1 firing, 0 resolved (NodeNotReady node-a)"))
        self.assertEqual(body[0]["annotations"]["summary"],
                         "Node node-a is not Ready (status Unknown): NodeStatusUnknown: Kubelet stopped posting node status.")
        outcome, _ = h.run(node % '{"type":"Ready","status":"True"}', "2026-11-26T20:03:00Z")
        self.assertEqual(outcome, info("alertmanager: 0 firing, 1 resolved (resolved: NodeNotReady node-a)"))

    def test_failed_posts_are_reported_and_resolutions_retried(self):
        h = AlertmanagerHarness()
        pods = lines(PODS)
        summary = "1 firing, 0 resolved (PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)"
        h.reply = {"error": "denied: plugin python_alertmanager has no [plugins.python_alertmanager.capabilities.http] section"}
        outcome, body = h.run(pods[3], "2026-11-26T20:54:00Z")
        self.assertIsNotNone(body, "it tried")
        self.assertEqual(outcome, Outcome(levels.ERROR, (
            "alertmanager: POST %s failed: denied: plugin python_alertmanager has no "
            "[plugins.python_alertmanager.capabilities.http] section; not delivered: %s") % (URL, summary), False, None))

        h.reply = {"error": "io: Connection refused (os error 111)"}
        outcome, _ = h.run(pods[3], "2026-11-26T20:54:10Z")
        self.assertEqual(outcome, Outcome(levels.WARN, (
            "alertmanager: POST %s failed: io: Connection refused (os error 111); not delivered, will retry: %s")
            % (URL, summary), True, None))
        self.assertTrue(all(not f.sent for f in h.plugin.firing["d7372f9c-2ea9-4580-bb24-27067cf91adb"]))

        h.reply = {"status": 400, "body": "at least one label pair required\n"}
        outcome, _ = h.run(pods[3], "2026-11-26T20:54:20Z")
        self.assertEqual(outcome, Outcome(levels.ERROR, (
            "alertmanager: POST %s answered 400: at least one label pair required; not delivered: %s")
            % (URL, summary), False, None))
        for status in [429, 408, 502]:
            h.reply = {"status": status, "body": ""}
            outcome, _ = h.run(pods[3], "2026-11-26T20:54:25Z")
            self.assertEqual((outcome.level, outcome.retry), (levels.WARN, True), status)

        # Back: fires with the startsAt of the first attempt.
        h.reply = {"status": 200, "body": ""}
        outcome, body = h.run(pods[3], "2026-11-26T20:54:30Z")
        self.assertEqual((outcome.level, outcome.retry), (levels.INFO, False))
        self.assertEqual(body[0]["startsAt"], "2026-11-26T20:54:00.000Z")

        # A failed resolution is kept and retried.
        recovered = pods[2].replace('"resourceVersion":"225"', '"resourceVersion":"250"')
        h.reply = {"status": 503, "body": ""}
        outcome, _ = h.run(recovered, "2026-11-26T20:55:00Z")
        self.assertEqual(outcome, Outcome(levels.WARN, (
            "alertmanager: POST %s answered 503; not delivered, will retry: 0 firing, 1 resolved "
            "(resolved: PodCrashLooping shop/web-7d4b9c6f5-x2k8p/metrics-sidecar)") % URL, True, None))
        h.reply = {"status": 200, "body": ""}
        outcome, body = h.run(recovered, "2026-11-26T20:56:00Z")
        self.assertEqual(body[0]["endsAt"], "2026-11-26T20:56:00.000Z")
        self.assertEqual(h.plugin.firing, {})

    def test_an_alert_never_delivered_is_not_resolved(self):
        h = AlertmanagerHarness()
        pods = lines(PODS)
        h.reply = {"error": "io: Connection refused (os error 111)"}
        self.assertTrue(h.run(pods[3], "2026-11-26T20:54:00Z")[0].retry)
        h.reply = {"status": 200, "body": ""}
        recovered = pods[2].replace('"resourceVersion":"225"', '"resourceVersion":"250"')
        self.assertEqual(h.run(recovered, "2026-11-26T20:55:00Z"), (None, None))
        self.assertEqual(h.plugin.firing, {})

    def test_other_objects_and_unreadable_ones(self):
        h = AlertmanagerHarness()
        for line in lines("tests/data/watch/deployments.jsonl"):
            self.assertEqual(h.run(line, "2026-11-26T20:54:00Z"), (None, None))
        outcome, body = h.run('{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},'
                              '"status":{"containerStatuses":[["not", "an object"]]}}}', "2026-11-26T20:54:00Z")
        self.assertIsNone(body)
        self.assertEqual(outcome.level, levels.ERROR)
        self.assertTrue(outcome.message.startswith("alertmanager: cannot read Pod /p: "), outcome)
        crash = ('{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"n"},'
                 '"status":{"containerStatuses":[{"name":"a","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}}')
        _, body = h.run(crash, "2026-11-26T20:54:00Z")
        self.assertEqual(body[0]["annotations"], {"summary": "Container a of Pod n/p is in CrashLoopBackOff (restarts: 0)"})
        self.assertIn("Pod/n/p", h.plugin.firing)

    def test_init_refuses_what_is_wrong(self):
        for config, says in [
            ({}, "needs `url`"),
            ({"url": ""}, "needs `url`"),
            ({"url": "am:9093"}, "must start with http://"),
            ({"url": "http://am", "resolve_after_seconds": 0}, "resolve_after_seconds"),
            ({"url": "http://am", "resolve_after_seconds": -1}, "resolve_after_seconds"),
            ({"url": "http://am", "severity_default": ""}, "severity_default"),
            ({"url": "http://am", "urls": "x"}, "unknown field `urls`"),
            ({"url": "http://am", "labels": {"a-b": "c"}}, "label name 'a-b'"),
            ({"url": "http://am", "labels": {"a": ""}}, "non-empty string value"),
        ]:
            with self.assertRaises(InitRefused, msg=config) as caught:
                Harness(ALERTMANAGER, config=config)
            message = str(caught.exception)
            self.assertTrue(message.startswith("python_alertmanager: [plugins.python_alertmanager.config]"), message)
            self.assertIn(says, message)

    def test_as_the_host_runs_it(self):
        h = Harness(ALERTMANAGER, config={"url": "http://127.0.0.1:9"},
                    watcher=FakeWatcher(http={"error": "io: connection refused"}))
        outcome = h.handle(lines(PODS)[3])
        self.assertEqual((outcome.level_name, outcome.retry), ("WARN", True))

    def test_the_subscription(self):
        with open(os.path.join(ROOT, "plugins-wasm/python_alertmanager/subscribe.json")) as f:
            self.assertEqual(json.load(f), {"resources": ["pods", "events", "jobs.batch", "nodes"]})


TEST_MODES = load("tests/plugins/python_test_modes")


class TestPlugins(unittest.TestCase):
    """tests/plugins/python_test_modes, the Python test plugin: what the host's tests expect of
    its modes (chosen by the config's `mode`)."""

    def test_services(self):
        h = Harness(TEST_MODES, config={"mode": "services"})
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            outcome = h.handle(lines("conf/sample-events.jsonl")[0])
        self.assertEqual(outcome, Outcome(levels.DEBUG, "handled web-7d4b9c6f5-x2k8p", False, None))
        self.assertEqual(h.watcher.logs, [("WARN", "services: Pod/web-7d4b9c6f5-x2k8p")])
        self.assertEqual(out.getvalue(), "stdout: web-7d4b9c6f5-x2k8p\n")

    def test_raise(self):
        h = Harness(TEST_MODES, config={"mode": "raise"})
        with self.assertRaisesRegex(RuntimeError, "python plugin exploded"):
            h.handle(lines("conf/sample-events.jsonl")[0])

    def test_bad_outcome(self):
        h = Harness(TEST_MODES, config={"mode": "bad_outcome"})
        with self.assertRaisesRegex(TypeError, r"handle_event returned \(42, 'LOUD'\)"):
            h.handle(lines("conf/sample-events.jsonl")[0])

    def test_an_unknown_mode_is_refused(self):
        for config in [{}, {"mode": "dance"}]:
            with self.assertRaisesRegex(InitRefused, "mode must be one of", msg=config):
                Harness(TEST_MODES, config=config)


if __name__ == "__main__":
    unittest.main()
