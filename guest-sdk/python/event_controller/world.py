"""The component's exports (wit/plugin.wit's world `plugin`): the only module of the SDK that
imports the bindings componentize-py generates (`wit_world`, `componentize_py_types`), so the
rest runs under plain CPython.

scripts/build-python.sh generates the app module:

    import NAME as _plugin
    from event_controller import world as _world
    WitWorld = _world.bind(_plugin)

componentize-py imports it at build time and snapshots the interpreter: everything imported
then (the plugin, this SDK, the standard library modules they import at top level) is in the
component; nothing else can be imported at run time (there are no files).
"""

import sys

# Imported here so that they are in the snapshot: CPython formats an uncaught exception's
# traceback with the `traceback` module, and a plugin's `import logging` etc. inside a function
# would fail at run time anyway.
import traceback  # noqa: F401

from componentize_py_types import Err
from wit_world.imports import host as _host
from wit_world.imports import types as _types

from .runner import InitRefused, Runner
from .watcher import Watcher

# The WIT enum, by the SDK's level ints (TRACE 0 .. ERROR 4).
_LEVELS = tuple(_host.Level(i) for i in range(5))


class _Host:
    """The component's imports, behind the interface Watcher expects."""

    @staticmethod
    def log(level, message):
        _host.log(_LEVELS[level], message)

    @staticmethod
    def http_request(request):
        return _host.http_request(request)

    @staticmethod
    def kube_request(request):
        return _host.kube_request(request)

    @staticmethod
    def metric(request):
        try:
            _host.metric(request)
        except Err:  # refused; the host logs why, once
            return False
        return True


def _flush():
    # stdout is block-buffered (it is not a terminal): without this, print() output would wait
    # for 8 KiB to gather, and be lost when the instance traps. The host logs each line.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or replaced stream: nothing to flush
            pass


_runner = None


class WitWorld:
    """The exports. componentize-py makes one instance at build time; the state (the plugin's
    config, its module's globals) lives in the module, and starts afresh with each instance."""

    def init(self, config):
        try:
            _runner.init(config)
        except InitRefused as refusal:
            raise Err(str(refusal)) from None
        finally:
            _flush()

    def handle_event(self, event):
        # An exception raised here (by the plugin, or the TypeError of a result that is no
        # outcome) is left to componentize-py: it prints the traceback to stderr, which the host
        # logs, and traps; the host then starts a fresh instance for the next event.
        try:
            outcome = _runner.handle_event(event)
        finally:
            _flush()
        if outcome is None:
            return None
        return _types.Outcome(
            level=_LEVELS[outcome.level],
            message=outcome.message,
            retry=outcome.retry,
            retry_after_ms=outcome.retry_after_ms,
        )


def bind(module):
    """Makes `module` (the plugin: handle_event(watcher, event, config), optionally
    init(config)) the one this component runs; returns the WitWorld class for the app module."""
    global _runner
    _runner = Runner(module, Watcher(_Host()))
    # Line-buffered stdout: print() output reaches the host line by line even when an event
    # takes long (the host still gets a partial last line at the end of the call).
    try:
        sys.stdout.reconfigure(line_buffering=True)
    except Exception:
        pass
    return WitWorld
