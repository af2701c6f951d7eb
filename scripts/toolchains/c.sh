#!/usr/bin/env bash
# The C toolchain for wasm plugins: clang + wasm-ld + wasi-libc + compiler-rt's wasm32 builtins,
# all from Debian's packages (Debian 12 "bookworm", what the project's machines run).
#
#   bash scripts/toolchains/c.sh install   install the pinned packages (quick no-op when present)
#   bash scripts/toolchains/c.sh check     exit 0 when the toolchain works, else say how to get it
#   bash scripts/toolchains/c.sh env       shell exports the toolchain needs (none on Debian)
#
# Overrides: CLANG (default clang) names the compiler; EC_C_UNPINNED=1 installs the
# distribution's current versions instead of the pins (for another Debian release).
set -euo pipefail

# Pinned versions (Debian 12). clang/lld/libclang-rt-dev-wasm32 are the LLVM 14 metapackages.
readonly PINS=(
    "clang=1:14.0-55.7~deb12u1"
    "lld=1:14.0-55.7~deb12u1"
    "wasi-libc=0.0~git20220510.9886d3d-2"
    "libclang-rt-dev-wasm32=1:14.0-55.7~deb12u1"
)
readonly INSTALL_HINT="run \`just toolchains\` or \`bash scripts/toolchains/c.sh install\`"
CLANG="${CLANG:-clang}"

die() {
    echo "error: $*" >&2
    exit 1
}

# The installed version of a Debian package, or nothing.
installed_version() {
    dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null |
        awk '$1 ~ /^ii/ { print $2 }'
}

cmd_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "no apt-get: install clang, wasm-ld (lld), wasi-libc and compiler-rt's wasm32 builtins yourself, then set CLANG"
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install packages"
        sudo=(sudo)
    fi
    local wanted=() pin name version
    for pin in "${PINS[@]}"; do
        name="${pin%%=*}" version="${pin#*=}"
        if [[ "${EC_C_UNPINNED:-}" == 1 ]]; then
            [[ -n "$(installed_version "$name")" ]] || wanted+=("$name")
        elif [[ "$(installed_version "$name")" != "$version" ]]; then
            wanted+=("$pin")
        fi
    done
    if ((${#wanted[@]} == 0)); then
        echo "C toolchain: already installed"
        return 0
    fi
    # Refresh the package lists only when apt does not know a wanted version yet.
    local known=1
    for pin in "${wanted[@]}"; do
        apt-cache show "$pin" >/dev/null 2>&1 || known=0
    done
    if ((known == 0)); then
        "${sudo[@]}" apt-get update -qq
    fi
    echo "C toolchain: installing ${wanted[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null ||
        die "apt-get install ${wanted[*]} failed (on a Debian release other than 12, try EC_C_UNPINNED=1)"
    cmd_check
}

cmd_check() {
    command -v "$CLANG" >/dev/null 2>&1 ||
        die "the C toolchain is missing ($CLANG not found); $INSTALL_HINT"
    command -v wasm-ld >/dev/null 2>&1 ||
        die "the C toolchain is incomplete (wasm-ld not found, package lld); $INSTALL_HINT"
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
        die "the C toolchain cannot build a wasm32-wasi reactor (is wasi-libc installed?); $INSTALL_HINT"
    fi
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
