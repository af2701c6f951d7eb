"""Log levels: the host's five (wit/plugin.wit's `level`) and the names and numbers plugins use.

A level is held as an int, the index of the WIT enum: TRACE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4.
Plugins name levels as the seed's plugins did, by string, case-insensitively (CRITICAL and FATAL
log at ERROR, WARNING at WARN), or by the `logging` module's numbers (logging.INFO is 20).
"""

TRACE, DEBUG, INFO, WARN, ERROR = range(5)

#: The host's level names, by level.
NAMES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")

_BY_NAME = {
    "TRACE": TRACE,
    "DEBUG": DEBUG,
    "INFO": INFO,
    "WARN": WARN,
    "WARNING": WARN,
    "ERROR": ERROR,
    "CRITICAL": ERROR,
    "FATAL": ERROR,
}

# logging.DEBUG, INFO, WARNING, ERROR, CRITICAL.
_BY_LOGGING_NUMBER = {10: DEBUG, 20: INFO, 30: WARN, 40: ERROR, 50: ERROR}

#: What parse_level accepts, for error messages.
EXPECTED = (
    "one of TRACE, DEBUG, INFO, WARN, WARNING, ERROR, CRITICAL, FATAL (any case) "
    "or a logging level number 10, 20, 30, 40, 50"
)


def parse_level(value):
    """The level (an int, TRACE..ERROR) that `value` names; TypeError or ValueError if none."""
    if isinstance(value, str):
        level = _BY_NAME.get(value.strip().upper())
        if level is None:
            raise ValueError("unknown log level %r: expected %s" % (value, EXPECTED))
        return level
    # bool is an int; True is no level.
    if isinstance(value, int) and not isinstance(value, bool):
        level = _BY_LOGGING_NUMBER.get(value)
        if level is None:
            raise ValueError("unknown log level %r: expected %s" % (value, EXPECTED))
        return level
    raise TypeError(
        "a log level must be a str or an int, got %s %r: expected %s"
        % (type(value).__name__, value, EXPECTED)
    )


def level_name(level):
    """The host's name of a level int: level_name(WARN) == "WARN"."""
    return NAMES[level]
