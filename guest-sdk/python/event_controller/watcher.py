"""The `watcher` a plugin's handle_event(watcher, event, config) receives.

It stands where the seed's Python watcher stood, and offers what the host grants: logging, HTTP
and Kubernetes requests (when the operator's config grants those capabilities), and asking to
see the event again. The transport to the host is a small object with three methods (see
`Watcher.__init__`): the component's imports in a built plugin, a fake in unit tests
(event_controller.testing.FakeWatcher), so this module never imports the generated bindings.
"""

import json
import math

from .levels import parse_level


class Watcher:
    """What a plugin can ask of the host while it handles an event."""

    def __init__(self, host):
        # `host` has log(level: int, message: str), http_request(str) -> str,
        # kube_request(str) -> str and metric(str) -> bool, the imports of wit/plugin.wit.
        self._host = host
        self._retry = False
        self._retry_after_ms = None

    # --- logging ------------------------------------------------------------------------------

    def log(self, message, level="INFO"):
        """Logs `message` under the plugin's name at `level` ("INFO", "warning", logging.ERROR...).

        The host keeps at most 64 KiB of it. Use this rather than print() for anything but
        debugging: print() lands on stdout, which the host logs at INFO when the call ends."""
        self._host.log(parse_level(level), str(message))

    # --- HTTP ---------------------------------------------------------------------------------

    def http_request(self, request):
        """Sends one HTTP request, ABI v1's document as a dict:
        {"method": "POST", "url": "http://...", "headers": {...}, "body": "..."}.

        Returns the host's answer as a dict: {"status": 200, "headers": {...}, "body": "...",
        "truncated": False}, or {"error": "..."} when no response came (not granted, refused,
        timed out; see event_controller.is_transient). Needs the `http` capability for the URL."""
        return self._call(self._host.http_request, request)

    def http(self, method, url, headers=None, body=None):
        """Sends `method` `url` and returns the answer (see http_request).

        `body` is a str, UTF-8 bytes, or a dict or list sent as JSON (with
        Content-Type: application/json unless `headers` sets a Content-Type)."""
        request = {"method": str(method).upper(), "url": url}
        headers = dict(headers or {})
        if body is not None:
            if isinstance(body, (dict, list)):
                if not any(name.lower() == "content-type" for name in headers):
                    headers["Content-Type"] = "application/json"
                body = json.dumps(body, separators=(",", ":"))
            elif isinstance(body, (bytes, bytearray)):
                try:
                    body = bytes(body).decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ValueError(
                        "an HTTP body must be UTF-8 text (the host's request is JSON): %s" % error
                    ) from None
            elif not isinstance(body, str):
                raise TypeError(
                    "an HTTP body must be a str, bytes, dict or list, got %s" % type(body).__name__
                )
            request["body"] = body
        if headers:
            request["headers"] = headers
        return self.http_request(request)

    # --- Kubernetes ---------------------------------------------------------------------------

    def kube_request(self, request):
        """Sends one Kubernetes write, ABI v1's document as a dict:
        {"verb": "patch", "resource": "routes.route.openshift.io", "namespace": "shop",
        "name": "web", "patch": {...}}.

        Returns the answer as a dict: {"status": 200, "object": {...}},
        {"status": 403, "message": "..."} when the API server refused, or {"error": "..."} when
        the host did. Needs the `kubernetes` capability for the resource."""
        return self._call(self._host.kube_request, request)

    def patch(self, resource, namespace, name, patch):
        """Merge-patches (RFC 7386) the object `name` of `resource` ("pods",
        "routes.route.openshift.io"...) in `namespace` (None or "" for a cluster-scoped one).
        Returns the answer (see kube_request)."""
        request = {"verb": "patch", "resource": resource, "name": name, "patch": patch}
        if namespace:
            request["namespace"] = namespace
        return self.kube_request(request)

    # --- the plugin's own metrics (exported as event_controller_plugin_NAME) -------------------

    def counter(self, name, by=1, help="", labels=None):
        """Adds `by` (0 or more) to the counter `name` with `labels` (a dict). Returns whether
        the host recorded it (a refusal is logged by the host, once per reason)."""
        return self.metric(name, "counter", by, help, labels)

    def gauge(self, name, value, help="", labels=None):
        """Sets the gauge `name` with `labels` to `value`."""
        return self.metric(name, "gauge", value, help, labels)

    def observe(self, name, value, help="", labels=None, buckets=None):
        """Observes `value` in the histogram `name` (buckets: its bounds, on first use)."""
        return self.metric(name, "histogram", value, help, labels, buckets)

    def metric(self, name, kind, value, help="", labels=None, buckets=None):
        """Sends one update of ABI v1's `metric` document (docs/ABI.md §6)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("a metric value is a number, got %s" % type(value).__name__)
        update = {"name": name, "kind": kind, "value": value}
        if help:
            update["help"] = help
        if labels:
            update["labels"] = {str(k): str(v) for k, v in labels.items()}
        if buckets is not None:
            update["buckets"] = list(buckets)
        return bool(self._host.metric(json.dumps(update, separators=(",", ":"))))

    # --- retries ------------------------------------------------------------------------------

    def retry(self, after_seconds=None):
        """Asks the host to hand this event over again: after the host's per-object back-off
        (1 s, 2 s, 4 s... at most 5 minutes), or no sooner than `after_seconds`. A newer event of
        the object replaces the retry. The last call during an event wins; the request is
        forgotten once the event's outcome is handed back."""
        if after_seconds is None:
            after_ms = None
        else:
            if isinstance(after_seconds, bool) or not isinstance(after_seconds, (int, float)):
                raise TypeError(
                    "retry(after_seconds=...) takes a number of seconds, got %s"
                    % type(after_seconds).__name__
                )
            if not math.isfinite(after_seconds) or after_seconds < 0:
                raise ValueError(
                    "retry(after_seconds=...) must be finite and >= 0, got %r" % (after_seconds,)
                )
            after_ms = int(round(after_seconds * 1000))
        self._retry = True
        self._retry_after_ms = after_ms

    @property
    def retry_requested(self):
        """Whether retry() was called during the current event."""
        return self._retry

    @property
    def retry_after_ms(self):
        """The delay retry() asked for, in milliseconds (None: the host's back-off)."""
        return self._retry_after_ms

    def _take_retry(self):
        """(retry, retry_after_ms) asked during this event, and forgets them."""
        taken = (self._retry, self._retry_after_ms)
        self._retry, self._retry_after_ms = False, None
        return taken

    # --- plumbing -----------------------------------------------------------------------------

    @staticmethod
    def _call(send, request):
        if not isinstance(request, dict):
            raise TypeError("a request is a dict, got %s" % type(request).__name__)
        answer = send(json.dumps(request, separators=(",", ":")))
        try:
            parsed = json.loads(answer)
        except ValueError as error:
            raise ValueError("the host's answer is not JSON (%s): %.200r" % (error, answer)) from None
        if not isinstance(parsed, dict):
            raise ValueError("the host's answer is not a JSON object: %.200r" % (answer,))
        return parsed
