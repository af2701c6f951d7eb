"""Reading the host's answers to http_request and kube_request (docs/ABI.md §6).

An answer is either a response, `{"status": 200, ...}`, or the host's reason for giving none,
`{"error": "..."}`. How that reason starts is part of the ABI: it tells whether retrying may
help. A response is never an error: its status decides.
"""

# Reasons that retrying cannot mend (docs/ABI.md §6, "Why no response came"): a grant, the
# request or the host's config must change first.
PERMANENT_REASONS = (
    "denied",
    "unknown verb",
    "malformed request",
    "invalid request",
    "env var ",
    "cannot read ",
    "no Kubernetes connection",
)


def is_success(answer):
    """True for a response with a 2xx status."""
    status = answer.get("status")
    return "error" not in answer and isinstance(status, int) and 200 <= status < 300


def is_transient(answer):
    """True when a failed request may pass if tried again later: no response for a reason other
    than the permanent ones (a refused connection, a timeout...), or a 5xx, 408 or 429 status.
    False for a success and for failures that need a fix first (denied, a 4xx...)."""
    if "error" in answer:
        reason = str(answer["error"])
        return not reason.startswith(PERMANENT_REASONS)
    status = answer.get("status")
    if not isinstance(status, int):
        return False
    return status >= 500 or status in (408, 429)


def describe(answer, limit=300):
    """A short text for logs: `status 503: <first line of the body>` or the host's reason."""
    if "error" in answer:
        return str(answer["error"])
    text = answer.get("body") or answer.get("message") or ""
    line = str(text).strip().split("\n", 1)[0]
    if len(line) > limit:
        line = line[:limit] + "\u2026"
    status = answer.get("status")
    return "status %s: %s" % (status, line) if line else "status %s" % status
