"""event_controller: the guest SDK for event-controller plugins written in Python (ABI v2,
WebAssembly components built with componentize-py; guest-sdk/python/README.md).

A plugin is a package NAME/__init__.py with the seed's function

    def handle_event(watcher, event, config):
        return message, log_level

where `watcher` is an event_controller.Watcher, `event` the watch event as a dict
({"type": "ADDED", "object": {...}}) and `config` the plugin's config table as a dict. It may
return None (nothing to log), a message str (INFO) or (message, level). An optional
`init(config)` runs once per instance before any event; raising refuses the config.

This package imports nothing generated: event_controller.world, which binds it to the
component's exports, is imported only by the app module scripts/build-python.sh generates.
"""

from .answers import describe, is_success, is_transient
from .levels import DEBUG, ERROR, INFO, TRACE, WARN, level_name, parse_level
from .runner import Outcome
from .watcher import Watcher

__all__ = [
    "Watcher",
    "Outcome",
    "parse_level",
    "level_name",
    "TRACE",
    "DEBUG",
    "INFO",
    "WARN",
    "ERROR",
    "is_success",
    "is_transient",
    "describe",
]
