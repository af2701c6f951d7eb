#!/usr/bin/env python3
"""The seed's event loop in CPython, the baseline of `host/benches/replay_process.rs`.

For every line of a watch-event file: `json.loads` it, hand the dict to the seed's own
`plugin_simple.handle_event(watcher, event, config)` (plugins-wasm/python_simple, the seed's
file byte for byte) and log the message it returns at the level it asks for, as the seed's
`log(result, level)` did, through `logging` into a file. Prints the number of events handled.

Usage: seed_replay.py EVENTS.jsonl LOG_FILE
"""

import importlib.util
import json
import logging
import pathlib
import sys

PLUGIN = pathlib.Path(__file__).resolve().parents[2] / "plugins-wasm" / "python_simple" / "__init__.py"


def load_plugin():
    spec = importlib.util.spec_from_file_location("plugin_simple", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(events_path, log_path):
    logging.basicConfig(
        filename=log_path,
        format="%(asctime)s %(levelname)s %(message)s",
        level=logging.INFO,
    )
    log = logging.getLogger("watcher")
    plugin = load_plugin()
    handled = 0
    with open(events_path, "rb") as events:
        for line in events:
            if not line.strip():
                continue
            event = json.loads(line)
            if event.get("type") not in ("ADDED", "MODIFIED", "DELETED"):
                continue
            message, level = plugin.handle_event(None, event, {})
            log.log(logging.getLevelName(level), message)
            handled += 1
    print(handled)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
