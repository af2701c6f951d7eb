#!/usr/bin/env bash
# The Python toolchain for the Python plugins (scripts/build-python.sh, guest-sdk/python):
# componentize-py from PyPI, which turns a Python module into a WebAssembly component of the
# world wit/plugin.wit (ABI v2). Its wheel ships everything: a CPython build for WASI 0.2, its
# standard library, the component linker and the snapshotting pre-initialiser. Nothing else is
# needed (no wasi-sdk, no Rust).
#
#   bash scripts/toolchains/python.sh install   install it (pinned; a quick no-op when present)
#   bash scripts/toolchains/python.sh check     exit 0 when usable, else say how to install; exit 1
#   bash scripts/toolchains/python.sh env       shell exports it needs (none: it is run via python)
#   bash scripts/toolchains/python.sh componentize-py ARGS   run it
#
# It is run as `$PYTHON -c 'import componentize_py; ...script()'` (what its console script does;
# the package has no __main__), so the `componentize-py` on PATH, which may belong to another
# interpreter, does not matter.
# PYTHON selects the interpreter whose site-packages hold it (default: python3). The plugins'
# code runs on the CPython inside the component (3.14 for componentize-py 0.25), not on $PYTHON;
# $PYTHON (>= 3.9) only runs the build and the SDK's unit tests.
set -euo pipefail

# guest-sdk/python is written against the bindings this release generates from wit/plugin.wit
# (class WitWorld, wit_world.imports.host, componentize_py_types.Err); bindings change between
# minor releases.
COMPONENTIZE_PY_VERSION=0.25.1
PYTHON="${PYTHON:-python3}"
# Runs componentize-py from $PYTHON's site-packages, as its console script does.
RUN_COMPONENTIZE_PY='import sys, componentize_py; sys.argv[0] = "componentize-py"; sys.exit(componentize_py.script())'

# Prints why the toolchain is unusable, or nothing (exit 0) when it is usable.
problem() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "$PYTHON not found (componentize-py comes from PyPI)"
        return 1
    fi
    local installed version
    installed="$("$PYTHON" -c 'from importlib.metadata import version; print(version("componentize-py"))' 2>/dev/null)" || {
        echo "componentize-py $COMPONENTIZE_PY_VERSION is not installed for $PYTHON"
        return 1
    }
    if [[ "$installed" != "$COMPONENTIZE_PY_VERSION" ]]; then
        echo "componentize-py $installed is installed for $PYTHON, expected $COMPONENTIZE_PY_VERSION"
        return 1
    fi
    if ! version="$("$PYTHON" -c "$RUN_COMPONENTIZE_PY" --version 2>/dev/null)"; then
        echo "componentize-py (for $PYTHON) does not run: \`componentize-py --version\` failed"
        return 1
    fi
    if [[ "$version" != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
        echo "componentize-py (for $PYTHON) says \"$version\", expected componentize-py $COMPONENTIZE_PY_VERSION"
        return 1
    fi
}

# Fails with the install command on stderr when the toolchain is unusable.
check() {
    local why
    if ! why="$(problem)"; then
        {
            echo "error: the Python toolchain is missing or unusable: $why"
            echo "  install it with: bash scripts/toolchains/python.sh install"
            echo "  (that is: $PYTHON -m pip install componentize-py==$COMPONENTIZE_PY_VERSION)"
        } >&2
        exit 1
    fi
}

case "${1:-}" in
    install)
        if problem >/dev/null; then
            echo "python toolchain: componentize-py $COMPONENTIZE_PY_VERSION already installed (for $PYTHON)"
            exit 0
        fi
        # --force-reinstall is not needed: pip replaces another installed version with the pin.
        PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install --quiet --disable-pip-version-check \
            "componentize-py==$COMPONENTIZE_PY_VERSION"
        if ! why="$(problem)"; then
            echo "error: installed componentize-py $COMPONENTIZE_PY_VERSION but it is unusable: $why" >&2
            exit 1
        fi
        echo "python toolchain: installed componentize-py $COMPONENTIZE_PY_VERSION (for $PYTHON)"
        ;;
    check)
        check
        ;;
    env)
        # Run through $PYTHON (see componentize-py below): no PATH change needed.
        check
        ;;
    componentize-py)
        check
        shift
        exec "$PYTHON" -c "$RUN_COMPONENTIZE_PY" "$@"
        ;;
    *)
        echo "usage: $0 install|check|env|componentize-py ARGS..." >&2
        exit 2
        ;;
esac
