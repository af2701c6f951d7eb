#!/usr/bin/env bash
# Builds plugins/{{name}}.wasm from main.zig and the vendored Zig helper (sdk/, module `ec`) as a
# wasm32-freestanding module.
#
#   bash build.sh         build the plugin
#   bash build.sh test    run the unit tests natively (zig test)
#
# The compiler, Zig {{zig_version}} (the helper follows Zig's standard library, which changes between
# minor releases): ZIG when set; else `zig` on PATH when it is that release series; else PyPI's
# ziglang wheel, run as `python3 -m ziglang` (PYTHON; `python3 -m pip install ziglang=={{zig_version}}`).
# ZIG_OPTIMIZE overrides the optimisation mode (default ReleaseSafe). Works from any directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

readonly WANT="{{zig_version}}"
readonly SERIES="${WANT%.*}" # e.g. 0.15: patch releases keep the standard library

die() {
    echo "error: $*" >&2
    exit 1
}

# Sets `zig` to the compiler command: ZIG, else zig on PATH, else python3 -m ziglang.
find_zig() {
    if [[ -n "${ZIG:-}" ]]; then
        zig=("$ZIG")
        return
    fi
    local python="${PYTHON:-python3}"
    if command -v zig >/dev/null 2>&1 && [[ "$(zig version 2>/dev/null)" == "$SERIES".* ]]; then
        zig=(zig)
    elif command -v "$python" >/dev/null 2>&1 &&
        [[ "$("$python" -m ziglang version 2>/dev/null)" == "$SERIES".* ]]; then
        zig=("$python" -m ziglang)
    else
        die "no Zig $SERIES.x found (ZIG, zig on PATH, or PyPI's ziglang); install it, e.g. \`python3 -m pip install ziglang==$WANT\`"
    fi
}

zig=()
find_zig
# --dep ec -Mroot=... -Mec=...: main.zig imports the helper as @import("ec").
modules=(--dep ec -Mroot=main.zig -Mec=sdk/ec.zig)

case "${1:-build}" in
    build) ;;
    test) exec "${zig[@]}" test "${modules[@]}" ;;
    *)
        echo "usage: bash build.sh [build|test]" >&2
        exit 2
        ;;
esac

mkdir -p plugins
# -fno-entry: a module without _start; -rdynamic: export what ec.exportPlugin marks; -fstrip: no
# debug info. ReleaseSafe keeps bounds and overflow checks: a bug traps instead of corrupting memory.
# Built under a hidden name, then renamed: a controller watching plugins/ never loads half a file.
"${zig[@]}" build-exe -target wasm32-freestanding -fno-entry -rdynamic -fstrip \
    -O "${ZIG_OPTIMIZE:-ReleaseSafe}" "${modules[@]}" \
    --name "{{name}}" -femit-bin="plugins/.{{name}}.wasm.tmp"
mv -f "plugins/.{{name}}.wasm.tmp" "plugins/{{name}}.wasm"
echo "built plugins/{{name}}.wasm ($(wc -c <"plugins/{{name}}.wasm") bytes, zig $("${zig[@]}" version))"
