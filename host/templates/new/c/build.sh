#!/usr/bin/env bash
# Builds plugins/{{name}}.wasm from plugin.c and the vendored C helper (sdk/) as a WASI reactor,
# with clang, wasm-ld and wasi-libc.
#
#   bash build.sh         build the plugin
#   bash build.sh test    run the unit tests (test/test_plugin.c) natively, with CC (default cc)
#
# The compiler: CLANG when set; else wasi-sdk's clang and sysroot when WASI_SDK_PATH is set; else
# clang on PATH with the distribution's wasi-libc (Debian and Ubuntu:
# `sudo apt-get install clang lld wasi-libc libclang-rt-dev-wasm32`). Works from any directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

readonly HINT="install clang, lld (wasm-ld) and wasi-libc (Debian and Ubuntu: \`sudo apt-get install clang lld wasi-libc libclang-rt-dev-wasm32\`), or set WASI_SDK_PATH to a wasi-sdk"

die() {
    echo "error: $*" >&2
    exit 1
}

# Native unit tests, with AddressSanitizer and UBSan where the compiler has them.
run_tests() {
    local cc="${CC:-cc}"
    command -v "$cc" >/dev/null 2>&1 || die "$cc not found: set CC to a C11 compiler"
    tests="$(mktemp -d)"
    trap 'rm -rf "$tests"' EXIT
    local flags=(-std=c11 -g -O1 -Wall -Wextra -I sdk -o "$tests/test_plugin"
        test/test_plugin.c plugin.c sdk/ec_guest.c)
    "$cc" -fsanitize=address,undefined "${flags[@]}" 2>/dev/null || "$cc" "${flags[@]}"
    "$tests/test_plugin"
}

# The compiler command: CLANG, wasi-sdk, or clang on PATH.
compiler() {
    if [[ -n "${CLANG:-}" ]]; then
        clang=("$CLANG")
    elif [[ -n "${WASI_SDK_PATH:-}" ]]; then
        clang=("$WASI_SDK_PATH/bin/clang" "--sysroot=$WASI_SDK_PATH/share/wasi-sysroot")
    elif command -v clang >/dev/null 2>&1; then
        clang=(clang)
    else
        die "clang not found; $HINT"
    fi
}

build() {
    local -a clang=()
    compiler
    local flags=(
        --target=wasm32-wasi # wasi-libc: malloc/free, string.h
        -mexec-model=reactor # exports _initialize (static constructors, once), needs no main
        -std=c11 -O2 -flto   # LTO inlines the helper into the plugin
        -Wall -Wextra
        -I sdk
        -Wl,--stack-first       # the shadow stack below the data: an overflow traps
        -Wl,-z,stack-size=65536 # a 64 KiB shadow stack
        -Wl,--strip-all         # no debug info or names
    )
    mkdir -p plugins
    # Built under a hidden name, then renamed: a controller watching plugins/ never loads half a file.
    "${clang[@]}" "${flags[@]}" -o "plugins/.{{name}}.wasm.tmp" plugin.c sdk/ec_guest.c ||
        die "the build failed; if the errors above name wasm-ld, wasi-libc or the wasm32 builtins: $HINT"
    mv -f "plugins/.{{name}}.wasm.tmp" "plugins/{{name}}.wasm"
    echo "built plugins/{{name}}.wasm ($(wc -c <"plugins/{{name}}.wasm") bytes)"
}

case "${1:-build}" in
    build) build ;;
    test) run_tests ;;
    *)
        echo "usage: bash build.sh [build|test]" >&2
        exit 2
        ;;
esac
