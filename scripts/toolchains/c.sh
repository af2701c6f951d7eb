#!/usr/bin/env bash
# The C toolchain for wasm plugins: clang + wasm-ld + wasi-libc + compiler-rt's wasm32 builtins,
# all from Debian's packages.
#
#   bash scripts/toolchains/c.sh install   install the distribution's packages (a quick no-op when present)
#   bash scripts/toolchains/c.sh check     exit 0 when the toolchain works, else say how to get it
#   bash scripts/toolchains/c.sh env       shell exports the toolchain needs (none on Debian)
#
# No version is pinned (the mirror replaces Debian revisions): `check` requires clang 14 or newer
# and proves the rest by building a wasm32-wasi reactor that calls wasi-libc's malloc, the way
# scripts/build-c.sh builds plugins. CLANG (default clang) names the compiler.
set -euo pipefail
# shellcheck source=scripts/toolchains/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

readonly PACKAGES=(clang lld wasi-libc libclang-rt-dev-wasm32)
readonly MIN_CLANG=14
readonly INSTALL_HINT="run \`just toolchains\` or \`bash scripts/toolchains/c.sh install\`"
CLANG="${CLANG:-clang}"

cmd_install() {
    debian_install "C toolchain" "${PACKAGES[@]}"
    cmd_check
}

cmd_check() {
    command -v "$CLANG" >/dev/null 2>&1 ||
        die "the C toolchain is missing ($CLANG not found, package clang); $INSTALL_HINT"
    command -v wasm-ld >/dev/null 2>&1 ||
        die "the C toolchain is incomplete (wasm-ld not found, package lld); $INSTALL_HINT"
    local version
    version="$("$CLANG" -dumpversion 2>/dev/null || true)"
    require_version "clang" "$version" "$MIN_CLANG" clang
    local builtins tmp errors status=0
    builtins="$("$CLANG" --target=wasm32-wasi -print-libgcc-file-name 2>/dev/null || true)"
    [[ -n "$builtins" && -f "$builtins" ]] ||
        die "the C toolchain is incomplete (no wasm32 compiler-rt builtins${builtins:+ at $builtins}, package libclang-rt-dev-wasm32); $INSTALL_HINT"
    # Compile and link a reactor that uses wasi-libc, the way scripts/build-c.sh does.
    tmp="$(mktemp -d)"
    printf '#include <stdlib.h>\n__attribute__((export_name("f"))) void *f(int n) { return malloc(n); }\n' >"$tmp/t.c"
    errors="$("$CLANG" --target=wasm32-wasi -mexec-model=reactor -O2 -o "$tmp/t.wasm" "$tmp/t.c" 2>&1)" ||
        status=$?
    rm -rf "$tmp"
    if ((status != 0)); then
        printf '%s\n' "$errors" >&2
        die "the C toolchain cannot build a wasm32-wasi reactor (package wasi-libc); $INSTALL_HINT"
    fi
    echo "C toolchain: clang $version, $(wasm-ld --version | head -n 1), wasi-libc $(installed_version wasi-libc)"
}

cmd_env() {
    # Debian's clang finds the wasi-libc sysroot and builtins itself: nothing to export.
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
