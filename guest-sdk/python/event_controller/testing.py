"""Unit-testing plugins with plain CPython, without building a component.

    import unittest
    import my_plugin                      # NAME/__init__.py, on sys.path
    from event_controller.testing import FakeWatcher, Harness

    class MyPluginTest(unittest.TestCase):
        def test_logs_the_pod(self):
            watcher = FakeWatcher()
            event = {"type": "ADDED", "object": {"kind": "Pod", "metadata": {"name": "web"}}}
            self.assertEqual(my_plugin.handle_event(watcher, event, {}),
                             ("Kind: Pod; Name: web", "INFO"))

        def test_as_the_host_runs_it(self):
            plugin = Harness(my_plugin, config={"url": "http://am:9093"},
                             watcher=FakeWatcher(http=[{"status": 200, "body": ""}]))
            outcome = plugin.handle(event)      # init ran first, as in the host
            self.assertEqual(outcome.level_name, "INFO")
            self.assertEqual(plugin.watcher.http_requests[0]["method"], "POST")

FakeWatcher is the real Watcher over a fake host: requests and answers go through JSON as in
the component, so a request that cannot be sent (not JSON-serialisable) fails here too.
"""

import json

from .levels import NAMES
from .runner import InitRefused, Runner
from .watcher import Watcher

__all__ = ["FakeWatcher", "Harness", "InitRefused"]


class _Answers:
    """Canned answers: a dict (always that one), a list (in order; an error once used up), or
    a function of the request (a dict) returning one."""

    def __init__(self, what, answers):
        self.what = what
        if answers is None:
            answers = []
        self.answers = list(answers) if isinstance(answers, (list, tuple)) else answers

    def answer(self, request):
        if callable(self.answers):
            return self.answers(request)
        if isinstance(self.answers, dict):
            return self.answers
        if not self.answers:
            return {
                "error": "denied: FakeWatcher has no %s answer left for %s"
                % (self.what, json.dumps(request)[:200])
            }
        return self.answers.pop(0)


class _FakeHost:
    def __init__(self, watcher, http, kube):
        self.watcher = watcher
        self.http = _Answers("HTTP", http)
        self.kube = _Answers("Kubernetes", kube)

    def log(self, level, message):
        self.watcher.logs.append((NAMES[level], message))

    def http_request(self, request):
        request = json.loads(request)
        self.watcher.http_requests.append(request)
        return json.dumps(self.http.answer(request))

    def kube_request(self, request):
        request = json.loads(request)
        self.watcher.kube_requests.append(request)
        return json.dumps(self.kube.answer(request))

    def metric(self, request):
        self.watcher.metrics.append(json.loads(request))
        return True


class FakeWatcher(Watcher):
    """A Watcher that records what the plugin asks and answers from canned answers.

    http, kube: the answers to HTTP and Kubernetes requests, each a dict (the same answer every
    time), a list (one per request, in order), or a function of the request dict. Without one,
    a request is answered {"error": "denied: ..."}, as the host answers a plugin without the
    capability.

    Recorded: logs, a list of (level name, message), e.g. ("WARN", "..."); http_requests and
    kube_requests, the request dicts as the host received them; metrics, the metric updates
    (dicts, ABI.md §6). retry_requested and
    retry_after_ms (Watcher's) show what the last event asked."""

    def __init__(self, http=None, kube=None):
        self.logs = []
        self.http_requests = []
        self.kube_requests = []
        self.metrics = []
        super().__init__(_FakeHost(self, http, kube))

    def answer_http(self, answers):
        """Replaces the HTTP answers (a dict, a list or a function, as in the constructor)."""
        self._host.http = _Answers("HTTP", answers)

    def answer_kube(self, answers):
        """Replaces the Kubernetes answers."""
        self._host.kube = _Answers("Kubernetes", answers)


class Harness:
    """A plugin module run as the host runs it: init(config) once (InitRefused if the plugin
    refuses), then handle(event) per event, returning the Outcome the host would log (None:
    nothing) and raising what the plugin raises (a trap in the component)."""

    def __init__(self, module, config=None, watcher=None):
        self.watcher = watcher if watcher is not None else FakeWatcher()
        self._runner = Runner(module, self.watcher)
        self._runner.init(json.dumps({} if config is None else config))

    @property
    def config(self):
        return self._runner.config

    def handle(self, event):
        """Hands over one event, a dict or the JSON text; the Outcome, or None."""
        if not isinstance(event, str):
            event = json.dumps(event)
        return self._runner.handle_event(event)
