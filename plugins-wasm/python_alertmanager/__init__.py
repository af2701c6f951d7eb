"""Turns cluster trouble into Prometheus Alertmanager alerts, sent with
`POST {url}/api/v2/alerts` through the host's HTTP capability (watcher.http).

A Python port of the Rust plugin plugins-wasm/plugin_alertmanager, with the same config, the
same alerts, the same request bodies and the same log lines. README.md beside this file
documents the config; in short:

    alert             when                                              severity
    PodCrashLooping   a container's state.waiting.reason is CrashLoopBackOff     warning
    PodOOMKilled      a container's state.terminated.reason is OOMKilled, or its
                      lastState's while it is not running again or was killed
                      less than resolve_after_seconds ago                   critical
    JobFailed         a batch/v1 Job has the condition Failed = True        critical
    NodeNotReady      a Node's Ready condition is not True                  critical
    KubeWarningEvent  a Warning Event with one of warning_event_reasons     severity_default

Every firing alert is sent with endsAt = now + resolve_after_seconds, again on every event of its
object while the trouble lasts. Pods, Jobs and Nodes are tracked per object (uid): when the
trouble clears or the object is deleted, its alerts are sent again with endsAt = now (resolved).
Events' alerts simply expire. A POST that fails for a reason that may pass (no answer, 5xx, 408,
429) logs a WARN and asks the host to deliver the event again (watcher.retry()); what the retry
needs is kept. Other failures (denied, another 4xx) are an ERROR, without retry. The state is
per instance: a fresh instance re-derives it from the objects the controller lists at start-up.
"""

import time
from datetime import datetime, timedelta, timezone

from event_controller import describe, is_success, is_transient

PLUGIN = "python_alertmanager"
WHERE = "%s: [plugins.%s.config]" % (PLUGIN, PLUGIN)

# The Warning Event reasons that become alerts unless warning_event_reasons says otherwise: the
# kubelet's, the scheduler's and the controllers' reasons for trouble with workloads and nodes.
DEFAULT_WARNING_REASONS = [
    "BackOff",
    "BackoffLimitExceeded",
    "Evicted",
    "EvictionThresholdMet",
    "Failed",
    "FailedAttachVolume",
    "FailedCreate",
    "FailedCreatePodSandBox",
    "FailedKillPod",
    "FailedMount",
    "FailedScheduling",
    "OOMKilling",
    "SystemOOM",
]

CONFIG_KEYS = (
    "url",
    "severity_default",
    "resolve_after_seconds",
    "warning_event_reasons",
    "labels",
    "generator_url",
)


# --- config -------------------------------------------------------------------------------------


class Settings:
    """The checked config. Raises ValueError saying what is wrong and how to fix it."""

    def __init__(self, config):
        unknown = sorted(set(config) - set(CONFIG_KEYS))
        if unknown:
            raise ValueError(
                "%s: unknown field `%s`, expected one of %s"
                % (WHERE, unknown[0], ", ".join("`%s`" % k for k in CONFIG_KEYS))
            )
        url = config.get("url") or ""
        if not isinstance(url, str):
            raise ValueError("%s: `url` must be a string" % WHERE)
        url = url.strip().rstrip("/")
        if not url:
            raise ValueError(
                '%s needs `url`, Alertmanager\'s base URL, e.g. url = "http://alertmanager.monitoring:9093" '
                "(and the capability [plugins.%s.capabilities.http] "
                'allow = ["http://alertmanager.monitoring:9093/api/v2/"])' % (WHERE, PLUGIN)
            )
        if not url.startswith(("http://", "https://")):
            raise ValueError("%s: `url` must start with http:// or https://, got %r" % (WHERE, url))
        self.url = url

        severity = config.get("severity_default", "warning")
        if not isinstance(severity, str) or not severity:
            raise ValueError("%s: `severity_default` must be a non-empty string" % WHERE)
        self.severity_default = severity

        seconds = config.get("resolve_after_seconds", 300)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 366 * 86400:
            raise ValueError(
                "%s: `resolve_after_seconds` must be an integer between 1 and 31622400, got %r"
                % (WHERE, seconds)
            )
        self.resolve_after_ms = seconds * 1000

        reasons = config.get("warning_event_reasons", DEFAULT_WARNING_REASONS)
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise ValueError("%s: `warning_event_reasons` must be a list of strings" % WHERE)
        # None: every reason (["*"]).
        self.warning_event_reasons = None if "*" in reasons else set(reasons)

        labels = config.get("labels", {})
        if not isinstance(labels, dict):
            raise ValueError("%s: `labels` must be a table of strings" % WHERE)
        for name, value in labels.items():
            if not is_label_name(name):
                raise ValueError(
                    "%s: label name %r is not valid (letters, digits and _, not starting with a digit)"
                    % (WHERE, name)
                )
            if not isinstance(value, str) or not value:
                raise ValueError("%s: label %r must have a non-empty string value" % (WHERE, name))
        self.labels = dict(labels)

        generator_url = config.get("generator_url") or None
        if generator_url is not None and not isinstance(generator_url, str):
            raise ValueError("%s: `generator_url` must be a string" % WHERE)
        self.generator_url = generator_url

    @property
    def alerts_endpoint(self):
        return self.url + "/api/v2/alerts"

    def alerts_on_reason(self, reason):
        return self.warning_event_reasons is None or reason in self.warning_event_reasons


def is_label_name(name):
    """A Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*."""
    return (
        isinstance(name, str)
        and name != ""
        and (name[0].isascii() and (name[0].isalpha() or name[0] == "_"))
        and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    )


# --- times: milliseconds since the epoch, read and written as RFC 3339 ---------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def now_ms():
    return int(time.time() * 1000)


def format_time(ms):
    """2026-11-26T20:53:44.000Z: UTC with milliseconds, as Alertmanager takes and echoes."""
    at = EPOCH + timedelta(milliseconds=ms)
    return at.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (at.microsecond // 1000)


def parse_time(text):
    """Milliseconds for an RFC 3339 timestamp with a zone (Z or +01:00); None for anything else.
    Fractions beyond milliseconds are dropped."""
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt ":
        return None
    try:
        at = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    delta = at - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


# --- alerts -------------------------------------------------------------------------------------


class Alert:
    """One alert as the rules see it, before times are set."""

    def __init__(self, alertname, severity, short):
        self.labels = {}
        self.annotations = {}
        self.starts_at = None  # when the object says the trouble started, if it does
        self.short = short  # for the log line, e.g. "PodCrashLooping shop/web-1/sidecar"
        self.label("alertname", alertname).label("severity", severity)

    def label(self, name, value):
        # Empty values are left out (Prometheus treats them as absent).
        if value:
            self.labels[name] = str(value)
        return self

    def annotation(self, name, value):
        if value:
            self.annotations[name] = str(value)
        return self

    def identity(self):
        return tuple(sorted(self.labels.items()))


def text(value):
    return value if isinstance(value, str) else ""


def capital(s):
    return s[:1].upper() + s[1:]


def pod_alerts(pod, namespace, name, settings, now):
    """PodCrashLooping (warning) and PodOOMKilled (critical) for each container of the Pod."""
    status = pod.get("status") or {}
    groups = [
        ("init container", status.get("initContainerStatuses")),
        ("container", status.get("containerStatuses")),
        ("ephemeral container", status.get("ephemeralContainerStatuses")),
    ]
    alerts = []
    for what, statuses in groups:
        for container in statuses or []:
            c = text(container.get("name"))
            restarts = container.get("restartCount", 0)
            state = container.get("state") or {}
            last_state = container.get("lastState") or {}

            def pod_alert(alertname, severity, reason, summary):
                alert = Alert(alertname, severity, "%s %s/%s/%s" % (alertname, namespace, name, c))
                alert.label("namespace", namespace).label("pod", name).label("container", c)
                alert.label("reason", reason).annotation("summary", summary)
                return alert

            waiting = state.get("waiting") or {}
            if waiting.get("reason") == "CrashLoopBackOff":
                summary = "%s %s of Pod %s/%s is in CrashLoopBackOff (restarts: %s)" % (
                    what, c, namespace, name, restarts)
                alert = pod_alert("PodCrashLooping", "warning", "CrashLoopBackOff", capital(summary))
                alert.annotation("description", text(waiting.get("message")))
                alerts.append(alert)

            if oom_killed(state, last_state, now, settings.resolve_after_ms):
                summary = "%s %s of Pod %s/%s was OOMKilled (restarts: %s)" % (
                    what, c, namespace, name, restarts)
                alerts.append(pod_alert("PodOOMKilled", "critical", "OOMKilled", capital(summary)))
    return alerts


def oom_killed(state, last_state, now, recent_ms):
    """OOMKilled now (state.terminated), or last time (lastState.terminated) while the container
    is not running again, or was killed less than `recent_ms` ago."""
    if (state.get("terminated") or {}).get("reason") == "OOMKilled":
        return True
    last = last_state.get("terminated") or {}
    if last.get("reason") != "OOMKilled":
        return False
    running = state.get("running") is not None
    finished = parse_time(last.get("finishedAt"))
    recent = finished is not None and finished + recent_ms > now
    return not running or recent


def condition(obj, kind):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c
    return None


def with_details(summary, *details):
    for detail in details:
        if detail:
            summary += ": " + detail
    return summary


def job_alerts(job, namespace, name):
    """JobFailed (critical) when the Job has the condition Failed with status True."""
    failed = condition(job, "Failed")
    if not failed or failed.get("status") != "True":
        return []
    reason = text(failed.get("reason"))
    alert = Alert("JobFailed", "critical", "JobFailed %s/%s" % (namespace, name))
    alert.label("namespace", namespace).label("job_name", name).label("reason", reason)
    alert.annotation(
        "summary",
        with_details("Job %s/%s failed" % (namespace, name), reason, text(failed.get("message"))),
    )
    alert.starts_at = parse_time(failed.get("lastTransitionTime"))
    return [alert]


def node_alerts(node, name):
    """NodeNotReady (critical) when the Node's Ready condition is not True."""
    ready = condition(node, "Ready")
    if not ready or ready.get("status") == "True":
        return []
    reason = text(ready.get("reason"))
    alert = Alert("NodeNotReady", "critical", "NodeNotReady %s" % name)
    alert.label("node", name).label("reason", reason)
    alert.annotation(
        "summary",
        with_details(
            "Node %s is not Ready (status %s)" % (name, text(ready.get("status"))),
            reason,
            text(ready.get("message")),
        ),
    )
    alert.starts_at = parse_time(ready.get("lastTransitionTime"))
    return [alert]


def container_of(field_path):
    """NAME from a field path spec.containers{NAME} (also init and ephemeral containers)."""
    for prefix in ("spec.containers{", "spec.initContainers{", "spec.ephemeralContainers{"):
        if field_path.startswith(prefix) and field_path.endswith("}"):
            return field_path[len(prefix):-1]
    return ""


def first_time(*texts):
    for t in texts:
        ms = parse_time(t)
        if ms is not None:
            return ms
    return None


def event_alert(ev, settings, now):
    """KubeWarningEvent for a Warning Event whose reason is configured, unless it last happened
    more than resolve_after_seconds ago (the initial list delivers old Events at start-up).
    Reads v1 Events and events.k8s.io/v1 ones (note, regarding, deprecated*Timestamp)."""
    if ev.get("type") != "Warning":
        return None
    reason = text(ev.get("reason"))
    if not reason or not settings.alerts_on_reason(reason):
        return None
    first_ts = ev.get("firstTimestamp") or ev.get("deprecatedFirstTimestamp")
    last_ts = ev.get("lastTimestamp") or ev.get("deprecatedLastTimestamp")
    series = ev.get("series") or {}
    created = (ev.get("metadata") or {}).get("creationTimestamp")
    last_seen = first_time(last_ts, series.get("lastObservedTime"), ev.get("eventTime"), created)
    if last_seen is not None and last_seen + settings.resolve_after_ms < now:
        return None
    obj = ev.get("involvedObject") or ev.get("regarding") or {}
    kind, namespace, name = text(obj.get("kind")), text(obj.get("namespace")), text(obj.get("name"))
    container = container_of(text(obj.get("fieldPath")))
    target = "/".join(part for part in (namespace, name, container) if part)
    alert = Alert(
        "KubeWarningEvent",
        settings.severity_default,
        "KubeWarningEvent %s %s %s" % (reason, kind, target),
    )
    name_label = {"Pod": "pod", "Node": "node", "Job": "job_name"}.get(kind, "object")
    alert.label("namespace", namespace).label("kind", kind).label(name_label, name)
    alert.label("container", container).label("reason", reason)
    alert.annotation("summary", text(ev.get("message") or ev.get("note")))
    alert.starts_at = first_time(first_ts, ev.get("eventTime"))
    if alert.starts_at is None:
        alert.starts_at = last_seen
    return alert


# --- the plugin ---------------------------------------------------------------------------------


class Firing:
    """A firing alert as remembered between events."""

    def __init__(self, alert, starts_at, sent):
        self.alert = alert
        self.starts_at = starts_at
        self.sent = sent  # whether Alertmanager accepted it as firing (so it has something to resolve)


class Plugin:
    """The settings, and the alerts firing per object (its uid, or kind/namespace/name)."""

    def __init__(self, settings):
        self.settings = settings
        self.firing = {}

    def handle(self, watcher, event, now):
        """Works out the alerts of one event, sends them, and says what it sent."""
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        deleted = event.get("type") == "DELETED"
        namespace, name = text(meta.get("namespace")), text(meta.get("name"))
        key = meta.get("uid") or "%s/%s/%s" % (text(kind), namespace, name)
        core = api_version in (None, "v1")

        expiring = None
        try:
            if kind == "Pod" and core:
                alerts = [] if deleted else pod_alerts(obj, namespace, name, self.settings, now)
            elif kind == "Job" and api_version in (None, "batch/v1"):
                alerts = [] if deleted else job_alerts(obj, namespace, name)
            elif kind == "Node" and core:
                alerts = [] if deleted else node_alerts(obj, name)
            elif kind == "Event" and (core or api_version == "events.k8s.io/v1"):
                # An Event's alert is not tracked: it expires at its endsAt.
                expiring = None if deleted else event_alert(obj, self.settings, now)
                if expiring is None:
                    return None
            else:
                return None
        except (AttributeError, TypeError, ValueError) as error:
            # A field of an unexpected type (a list where an object belongs...).
            return "alertmanager: cannot read %s %s/%s: %s" % (kind, namespace, name, error), "ERROR"
        if expiring is not None:
            starts_at = now if expiring.starts_at is None else min(expiring.starts_at, now)
            return self.post(watcher, [Firing(expiring, starts_at, False)], [], now)[0]
        return self.track(watcher, key, alerts, now)

    def track(self, watcher, key, alerts, now):
        """Sends the object's alerts as firing and the ones that stopped as resolved, and
        remembers what fires. When the POST fails, remembers what the retry needs instead."""
        previous = self.firing.pop(key, [])
        before = {p.alert.identity(): p for p in previous}
        firing = []
        for alert in alerts:
            p = before.get(alert.identity())
            if p is not None:
                starts_at = p.starts_at
            elif alert.starts_at is not None:
                starts_at = alert.starts_at
            else:
                starts_at = now
            firing.append(Firing(alert, min(starts_at, now), p is not None and p.sent))
        # Only what Alertmanager holds needs resolving; an alert it never got is forgotten.
        now_firing = {f.alert.identity() for f in firing}
        resolved = [p for p in previous if p.sent and p.alert.identity() not in now_firing]
        if not firing and not resolved:
            return None
        outcome, sent = self.post(watcher, firing, resolved, now)
        if sent:
            for f in firing:
                f.sent = True
        else:
            # The retry (or the next event of the object) resolves them, even once deleted.
            firing.extend(resolved)
        if firing:
            self.firing[key] = firing
        return outcome

    def post(self, watcher, firing, resolved, now):
        """POSTs the alerts: the outcome, and whether Alertmanager took them. A failure that may
        pass asks for a retry of the event."""
        summary = "%d firing, %d resolved (%s" % (
            len(firing), len(resolved), ", ".join(f.alert.short for f in firing))
        if resolved:
            if firing:
                summary += "; "
            summary += "resolved: " + ", ".join(f.alert.short for f in resolved)
        summary += ")"

        endpoint = self.settings.alerts_endpoint
        answer = watcher.http("POST", endpoint, body=self.body(firing, resolved, now))
        if is_success(answer):
            return ("alertmanager: " + summary, "INFO"), True
        if "error" in answer:
            failure = "failed: " + describe(answer)
        else:
            failure = "answered " + describe(answer)[len("status "):]
        if is_transient(answer):
            watcher.retry()
            message = "alertmanager: POST %s %s; not delivered, will retry: %s" % (
                endpoint, failure, summary)
            return (message, "WARN"), False
        message = "alertmanager: POST %s %s; not delivered: %s" % (endpoint, failure, summary)
        return (message, "ERROR"), False

    def body(self, firing, resolved, now):
        """The JSON array Alertmanager takes: firing alerts end at now + resolve_after, resolved
        ones at now. Label and annotation keys sorted, fields in the API's order."""
        until = now + self.settings.resolve_after_ms
        alerts = []
        for f, ends_at in [(f, until) for f in firing] + [(f, now) for f in resolved]:
            labels = dict(self.settings.labels)  # the config's labels, under the alert's own
            labels.update(f.alert.labels)
            postable = {
                "labels": dict(sorted(labels.items())),
                "annotations": dict(sorted(f.alert.annotations.items())),
                "startsAt": format_time(min(f.starts_at, ends_at)),
                "endsAt": format_time(ends_at),
            }
            if self.settings.generator_url:
                postable["generatorURL"] = self.settings.generator_url
            alerts.append(postable)
        return alerts


_plugin = None


def init(config):
    global _plugin
    _plugin = Plugin(Settings(config))


def handle_event(watcher, event, config):
    return _plugin.handle(watcher, event, now_ms())
