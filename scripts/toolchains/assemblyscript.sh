#!/usr/bin/env bash
# The AssemblyScript toolchain for the plugins (docs/ABI.md §10 (AssemblyScript)).
#
#   bash scripts/toolchains/assemblyscript.sh install   # npm ci in guest-sdk/assemblyscript (pinned)
#   bash scripts/toolchains/assemblyscript.sh check     # exit 0 if usable, else say how to install
#   bash scripts/toolchains/assemblyscript.sh env       # nothing to export: asc is called by path
#
# The compiler is the npm package `assemblyscript`, pinned in guest-sdk/assemblyscript/package.json
# and package-lock.json (which also pins its binaryen), installed into
# guest-sdk/assemblyscript/node_modules (git-ignored). It needs Node.js >= 20 and npm, which the
# project's machine image ships (Debian's own nodejs package is 18: too old).
# Works from any directory; `install` is quick when the pinned version is already there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
sdk="$root/guest-sdk/assemblyscript"
asc="$sdk/node_modules/.bin/asc"
min_node=20

# The version package.json pins, e.g. 0.28.20.
pinned_version() {
    sed -n 's/^ *"assemblyscript": *"\([^"]*\)".*/\1/p' "$sdk/package.json" | head -n 1
}

# Prints why the toolchain is not usable (nothing if it is).
problem() {
    if ! command -v node >/dev/null 2>&1; then
        echo "node is not installed (AssemblyScript needs Node.js >= $min_node and npm)"
        return
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if ((major < min_node)); then
        echo "node $(node --version) is too old (AssemblyScript needs Node.js >= $min_node)"
        return
    fi
    if [[ ! -x "$asc" ]]; then
        echo "the AssemblyScript compiler is not installed ($asc is missing)"
        return
    fi
    local want have
    want="$(pinned_version)"
    have="$(node "$asc" --version 2>/dev/null | sed -n 's/^Version //p')"
    if [[ "$have" != "$want" ]]; then
        echo "AssemblyScript ${have:-(unknown)} is installed but package.json pins $want"
    fi
}

cmd_check() {
    local why
    why="$(problem)"
    if [[ -n "$why" ]]; then
        echo "error: AssemblyScript toolchain not usable: $why." >&2
        echo "Install it with: just toolchains   (or: bash scripts/toolchains/assemblyscript.sh install)" >&2
        return 1
    fi
}

cmd_install() {
    local why
    why="$(problem)"
    if [[ -z "$why" ]]; then
        echo "AssemblyScript $(pinned_version) is installed ($asc)"
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1 || [[ "$why" == node* ]]; then
        echo "error: $why; install Node.js >= $min_node with npm first." >&2
        return 1
    fi
    echo "==> installing AssemblyScript $(pinned_version) into guest-sdk/assemblyscript/node_modules"
    cd "$sdk"
    if [[ -f package-lock.json ]]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
    cmd_check
    echo "AssemblyScript $(pinned_version) is installed ($asc)"
}

cmd_env() {
    # asc is always called by its path; nothing to add to PATH.
    :
}

case "${1:-}" in
    install) cmd_install ;;
    check) cmd_check ;;
    env) cmd_env ;;
    *)
        echo "usage: $0 install|check|env" >&2
        exit 2
        ;;
esac
