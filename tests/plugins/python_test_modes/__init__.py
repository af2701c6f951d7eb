"""One Python test plugin, many behaviours, chosen by its config's `mode` (a Python component is
19 MB and compiles in seconds, so the tests load this one file under several names):

- `services`: logs WARN `services: {kind}/{name}` through watcher.log, prints `stdout: {name}`,
  counts the event in its metric `services_handled{kind}`, and returns (`handled {name}`, DEBUG);
- `escape`: tries the host's files, environment, arguments and network, once, and logs what it
  got (WASI 0.2 with nothing granted must refuse each);
- `loop`: spins forever (the host interrupts it at its deadline);
- `memory_bomb`: keeps 1 MiB objects, each byte written, until the memory cap stops it;
- `raise`: raises RuntimeError("python plugin exploded") (its traceback reaches the log);
- `bad_outcome`: returns (42, "LOUD"), which is no outcome (the SDK raises a TypeError).
"""

import os
import socket
import sys

CHUNK = 1 << 20
_escaped = False


def _denied(attempt):
    try:
        attempt()
        return "ALLOWED"
    except Exception:
        return "denied"


def _read(path):
    with open(path) as f:
        f.read()


def _connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", 443))


def services(watcher, obj):
    name = obj.get("metadata", {}).get("name", "?")
    watcher.log("services: {0}/{1}".format(obj.get("kind", "?"), name), "WARN")
    print("stdout: {0}".format(name))
    watcher.counter("services_handled", help="Events handled in services mode",
                    labels={"kind": obj.get("kind", "?")})
    return "handled {0}".format(name), "DEBUG"


def escape(watcher, obj):
    global _escaped
    if _escaped:
        return None
    _escaped = True
    return (
        "passwd={} token={} env={} args={} root={} cwd={} socket={}".format(
            _denied(lambda: _read("/etc/passwd")),
            _denied(lambda: _read("/var/run/secrets/kubernetes.io/serviceaccount/token")),
            len(os.environ),
            len(sys.argv),
            _denied(lambda: os.listdir("/")),
            _denied(lambda: os.listdir(".")),
            _denied(_connect),
        ),
        "INFO",
    )


def loop(watcher, obj):
    while True:
        pass


def memory_bomb(watcher, obj):
    kept = []
    while True:
        # bytes(range(...)) * n writes every byte (b"\0" * n could be lazily zeroed memory).
        kept.append(bytes(range(256)) * (CHUNK // 256))


def explode(watcher, obj):
    raise RuntimeError("python plugin exploded")


def bad_outcome(watcher, obj):
    return 42, "LOUD"


MODES = {
    "services": services,
    "escape": escape,
    "loop": loop,
    "memory_bomb": memory_bomb,
    "raise": explode,
    "bad_outcome": bad_outcome,
}


def init(config):
    if config.get("mode") not in MODES:
        raise ValueError("mode must be one of {0}, not {1!r}".format(sorted(MODES), config.get("mode")))


def handle_event(watcher, event, config):
    return MODES[config["mode"]](watcher, event["object"])
