#!/usr/bin/env bash
# Builds plugins/{{name}}.wasm from assembly/index.ts and the vendored AssemblyScript helper
# (sdk/) with asc, the AssemblyScript compiler.
#
#   bash build.sh         build the plugin
#   bash build.sh test    build it, then run its unit tests (test/plugin.test.mjs) under Node
#
# Needs Node.js 20 or newer. The compiler: ASC when set; else node_modules/.bin/asc; else `asc`
# on PATH when it is the version package.json pins ({{assemblyscript_version}}); else `npm ci`
# installs that version into node_modules first. Works from any directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

readonly PINNED="{{assemblyscript_version}}"

die() {
    echo "error: $*" >&2
    exit 1
}

command -v node >/dev/null 2>&1 || die "node not found: AssemblyScript needs Node.js 20 or newer, and npm"
major="$(node -p 'process.versions.node.split(".")[0]')"
((major >= 20)) || die "node $(node --version) is too old: AssemblyScript needs Node.js 20 or newer"

# Prints the compiler to use, installing the pinned one when there is none.
find_asc() {
    if [[ -n "${ASC:-}" ]]; then
        echo "$ASC"
    elif [[ -x node_modules/.bin/asc ]]; then
        echo node_modules/.bin/asc
    elif command -v asc >/dev/null 2>&1 && [[ "$(asc --version 2>/dev/null)" == "Version $PINNED" ]]; then
        command -v asc
    else
        command -v npm >/dev/null 2>&1 || die "npm not found: it installs AssemblyScript $PINNED (npm ci)"
        echo "==> installing AssemblyScript $PINNED into node_modules (npm ci)" >&2
        npm ci --no-audit --no-fund >&2
        echo node_modules/.bin/asc
    fi
}

case "${1:-build}" in
    build | test) ;;
    *)
        echo "usage: bash build.sh [build|test]" >&2
        exit 2
        ;;
esac

asc="$(find_asc)"
flags=(
    # TLSF allocator + a garbage collector that runs only when called: the helper collects at
    # the end of each call, once the result is copied out.
    --runtime minimal
    # A reactor: top-level code runs in the exported _initialize, which the host calls first.
    --exportStart _initialize
    # The host has no env.abort: use the helper's, which logs through the host, then traps.
    --use abort=__ec_abort
    --optimizeLevel 3 --shrinkLevel 0 --noAssert
)
mkdir -p plugins
# Built under a hidden name, then renamed: a controller watching plugins/ never loads half a file.
"$asc" assembly/index.ts "${flags[@]}" --outFile "plugins/.{{name}}.wasm.tmp"
mv -f "plugins/.{{name}}.wasm.tmp" "plugins/{{name}}.wasm"
echo "built plugins/{{name}}.wasm ($(wc -c <"plugins/{{name}}.wasm") bytes)"

if [[ "${1:-build}" == test ]]; then
    node --test test/plugin.test.mjs
fi
