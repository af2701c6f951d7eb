#!/usr/bin/env bash
# Builds the C plugins into target/plugins (CARGO_TARGET_DIR/plugins when set):
#   plugins-wasm/c_simple/plugin.c         -> c_simple.wasm
#   plugins-wasm/c_warning_events/plugin.c -> c_warning_events.wasm
# each linked with the C guest helper (guest-sdk/c). Works from any directory.
# See docs/ABI.md §10 (C) for the flags and why.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A relative CARGO_TARGET_DIR is relative to the caller's directory, as for cargo.
target_dir="$(mkdir -p "${CARGO_TARGET_DIR:-$root/target}" && cd "${CARGO_TARGET_DIR:-$root/target}" && pwd)"
out="$target_dir/plugins"

bash "$root/scripts/toolchains/c.sh" check
CLANG="${CLANG:-clang}"

cflags=(
    --target=wasm32-wasi # wasi-libc's sysroot: malloc/free, string.h
    -mexec-model=reactor # crt1-reactor.o: export _initialize, no _start/main
    -std=c11 -O2 -flto   # speed first; LTO inlines the helper into each plugin
    -Wall -Wextra -Werror
    -I "$root/guest-sdk/c"
)
ldflags=(
    "-Wl,--stack-first"       # shadow stack below the data: an overflow traps, not corrupts
    "-Wl,-z,stack-size=65536" # 64 KiB shadow stack (nothing here recurses deeply)
    "-Wl,--strip-all"         # no debug info or names (wasi-libc's libc.a carries DWARF)
)

mkdir -p "$out"
for name in c_simple c_warning_events; do
    "$CLANG" "${cflags[@]}" "${ldflags[@]}" -o "$out/$name.wasm" \
        "$root/plugins-wasm/$name/plugin.c" "$root/guest-sdk/c/ec_guest.c"
    printf '%9d bytes  %s\n' "$(wc -c <"$out/$name.wasm")" "${out#"$root"/}/$name.wasm"
done
