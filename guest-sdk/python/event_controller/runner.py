"""Runs a plugin module the way the host does, without the generated bindings: parses the config
once, parses each event, calls the plugin's functions, and reads what they return.

event_controller.world wraps this in the component's WitWorld; event_controller.testing uses it
as is, so unit tests exercise the same code as the built plugin.
"""

import collections
import json
import sys
import traceback

from .levels import EXPECTED, INFO, NAMES, parse_level


class Outcome(collections.namedtuple("Outcome", "level message retry retry_after_ms")):
    """What one event asks of the host: wit/plugin.wit's `outcome` record.

    level: an int, TRACE 0 .. ERROR 4 (level_name gives its name); message: str or None (nothing
    logged); retry: bool; retry_after_ms: int or None (the host's back-off)."""

    __slots__ = ()

    @property
    def level_name(self):
        return NAMES[self.level]


class InitRefused(Exception):
    """The plugin refused its config; the message says why (it becomes init's error)."""


EXPECTED_RESULT = (
    "handle_event(watcher, event, config) must return None (nothing to log), "
    "a message str (logged at INFO) or a (message, level) tuple, with level " + EXPECTED
)


def _short(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def to_outcome(result, retry=False, retry_after_ms=None):
    """The Outcome for what handle_event returned (None: no outcome at all), with the retry the
    plugin asked for through watcher.retry(). TypeError for anything that is no outcome."""
    if result is None:
        message, level = None, INFO
    elif isinstance(result, str):
        message, level = result, INFO
    elif isinstance(result, tuple) and len(result) == 2:
        message, level_value = result
        if message is not None and not isinstance(message, str):
            raise TypeError(
                "handle_event returned %s: its message is of type %s, not a str (or None). %s"
                % (_short(result), type(message).__name__, EXPECTED_RESULT)
            )
        try:
            level = parse_level(level_value)
        except (TypeError, ValueError) as error:
            raise TypeError(
                "handle_event returned %s: %s. %s" % (_short(result), error, EXPECTED_RESULT)
            ) from None
    else:
        raise TypeError("handle_event returned %s. %s" % (_short(result), EXPECTED_RESULT))
    if message is None and not retry:
        return None
    return Outcome(level, message, bool(retry), retry_after_ms)


def message_of(error):
    """The text of an exception, for init's refusal: its message, or its type without one;
    other exceptions than ValueError (a config the plugin reads as wrong) are named."""
    text = str(error)
    if isinstance(error, ValueError) and text:
        return text
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__


class Runner:
    """One plugin module in one instance: its config and its watcher."""

    def __init__(self, module, watcher):
        handle_event = getattr(module, "handle_event", None)
        if not callable(handle_event):
            raise TypeError(
                "plugin module %r defines no handle_event(watcher, event, config) function"
                % getattr(module, "__name__", module)
            )
        init = getattr(module, "init", None)
        if init is not None and not callable(init):
            raise TypeError(
                "plugin module %r: `init` is not a function (init(config) is optional)"
                % getattr(module, "__name__", module)
            )
        self.module = module
        self.watcher = watcher
        self.config = {}

    def init(self, config_json):
        """Parses the config (a JSON object) and hands it to the plugin's init(config), if it has
        one. InitRefused says why the config is refused."""
        try:
            config = json.loads(config_json)
        except ValueError as error:
            raise InitRefused("the config is not valid JSON: %s" % error) from None
        if not isinstance(config, dict):
            raise InitRefused("the config must be a JSON object (a table), got %s" % _short(config))
        init = getattr(self.module, "init", None)
        if init is not None:
            try:
                init(config)
            except Exception as error:
                # A ValueError is the plugin saying "this config is wrong": its message says
                # it all. Anything else is likely a bug in init: its traceback goes to stderr
                # (the host logs it), then the refusal names the exception.
                if not isinstance(error, ValueError):
                    traceback.print_exc(file=sys.stderr)
                raise InitRefused(message_of(error)) from error
        self.config = config

    def handle_event(self, event_json):
        """Hands one event (the JSON text) to the plugin; its Outcome, or None. The plugin's
        exceptions, and a TypeError for a result that is no outcome, propagate."""
        event = json.loads(event_json)
        self.watcher._take_retry()  # nothing left over from an event that raised
        result = self.module.handle_event(self.watcher, event, self.config)
        retry, retry_after_ms = self.watcher._take_retry()
        return to_outcome(result, retry, retry_after_ms)
