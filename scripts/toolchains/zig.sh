#!/usr/bin/env bash
# The Zig toolchain for the Zig plugins (scripts/build-zig.sh), installed from PyPI's `ziglang`
# wheel, which ships an official Zig release (the compiler and its standard library) and runs as
# `python3 -m ziglang`. Nothing else is needed: Zig links wasm itself, no libc or SDK.
#
#   bash scripts/toolchains/zig.sh install   install it (pinned; a quick no-op when present)
#   bash scripts/toolchains/zig.sh check     exit 0 when usable, else say how to install; exit 1
#   bash scripts/toolchains/zig.sh env       shell exports it needs (none: it is run via python)
#   bash scripts/toolchains/zig.sh zig ARGS  run it, e.g. `zig test guest-sdk/zig/ec.zig`
#
# PYTHON selects the interpreter whose site-packages hold it (default: python3).
set -euo pipefail

# The plugins and guest-sdk/zig are written for this release: Zig's standard library changes
# between minor versions (0.15 reworked std.Io and ArrayList; 0.16 reworks std.Io again).
ZIGLANG_VERSION=0.15.2      # the PyPI package ziglang
ZIG_VERSION=0.15.2          # the Zig release it ships (`zig version`)
PYTHON="${PYTHON:-python3}"

# Prints why the toolchain is unusable, or nothing (exit 0) when it is usable.
problem() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "$PYTHON not found (the Zig toolchain comes from PyPI's ziglang)"
        return 1
    fi
    local installed version
    installed="$("$PYTHON" -c 'from importlib.metadata import version; print(version("ziglang"))' 2>/dev/null)" || {
        echo "ziglang $ZIGLANG_VERSION is not installed for $PYTHON"
        return 1
    }
    if [[ "$installed" != "$ZIGLANG_VERSION" ]]; then
        echo "ziglang $installed is installed for $PYTHON, expected $ZIGLANG_VERSION"
        return 1
    fi
    if ! version="$("$PYTHON" -m ziglang version 2>/dev/null)"; then
        echo "\`$PYTHON -m ziglang version\` does not run"
        return 1
    fi
    if [[ "$version" != "$ZIG_VERSION" ]]; then
        echo "\`$PYTHON -m ziglang\` is Zig $version, expected $ZIG_VERSION"
        return 1
    fi
}

# Fails with the install command on stderr when the toolchain is unusable.
check() {
    local why
    if ! why="$(problem)"; then
        {
            echo "error: the Zig toolchain is missing or unusable: $why"
            echo "  install it with: just toolchains"
            echo "  or: bash scripts/toolchains/zig.sh install"
        } >&2
        exit 1
    fi
}

case "${1:-}" in
    install)
        if problem >/dev/null; then
            echo "zig toolchain: $ZIG_VERSION already installed ($PYTHON -m ziglang)"
            exit 0
        fi
        # --force-reinstall is not needed: pip replaces another installed version with the pin.
        PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install --quiet --disable-pip-version-check \
            "ziglang==$ZIGLANG_VERSION"
        if ! why="$(problem)"; then
            echo "error: installed ziglang $ZIGLANG_VERSION but it is unusable: $why" >&2
            exit 1
        fi
        echo "zig toolchain: installed $ZIG_VERSION ($PYTHON -m ziglang)"
        ;;
    check)
        check
        ;;
    env)
        # Run as `$PYTHON -m ziglang`: no PATH change needed.
        check
        ;;
    zig)
        check
        shift
        exec "$PYTHON" -m ziglang "$@"
        ;;
    *)
        echo "usage: $0 install|check|env|zig ARGS..." >&2
        exit 2
        ;;
esac
