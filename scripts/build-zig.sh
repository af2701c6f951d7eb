#!/usr/bin/env bash
# Builds the Zig plugins (docs/ABI.md §10 (Zig)) from source:
#   plugins-wasm/zig_simple            -> target/plugins/zig_simple.wasm
#   plugins-wasm/zig_service_exposure  -> target/plugins/zig_service_exposure.wasm
# each as a wasm32-freestanding module with the guest helper guest-sdk/zig (module `ec`).
# Needs the pinned Zig toolchain (bash scripts/toolchains/zig.sh install). Works from any
# directory; honours CARGO_TARGET_DIR as the target directory, like scripts/build-plugins.sh.
# ZIG_OPTIMIZE overrides the optimisation mode (default ReleaseSafe; see below).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A relative CARGO_TARGET_DIR is relative to the caller's directory, as for cargo.
target_dir="$(mkdir -p "${CARGO_TARGET_DIR:-$root/target}" && cd "${CARGO_TARGET_DIR:-$root/target}" && pwd)"
out="$target_dir/plugins"

bash "$root/scripts/toolchains/zig.sh" check
zig() { "${PYTHON:-python3}" -m ziglang "$@"; }

plugins=(zig_simple zig_service_exposure)

# Default subscriptions, appended as the `event-controller.subscribe` custom section (docs/ABI.md
# §6): Zig's wasm linker has no way to emit a custom section from source.
declare -A subscribe=(
    [zig_service_exposure]='{"resources":["services"]}'
)

# ReleaseSafe: optimised, but bounds, overflow and null checks stay, like Rust's release builds,
# so a bug traps (with its message logged through ec.panic) instead of corrupting memory.
# ReleaseSmall is ~half the size and a little faster, with those checks off.
optimize="${ZIG_OPTIMIZE:-ReleaseSafe}"

# Prints the unsigned LEB128 encoding of $1 as printf escapes.
leb128() {
    local n=$1 byte encoded=""
    while :; do
        byte=$((n & 0x7f))
        n=$((n >> 7))
        ((n)) && byte=$((byte | 0x80))
        encoded+="$(printf '\\%03o' "$byte")"
        ((n)) || break
    done
    printf '%s' "$encoded"
}

# Appends a custom section (id 0) named $2 with the ASCII payload $3 to the module $1.
append_section() {
    local module=$1 name=$2 payload=$3 name_len
    name_len="$(leb128 ${#name})"
    # Each byte of name_len is one 4-character escape \ooo.
    local size=$((${#name_len} / 4 + ${#name} + ${#payload}))
    # shellcheck disable=SC2059 # the format is the escapes leb128 printed
    printf "\\000$(leb128 "$size")$(leb128 ${#name})" >>"$module"
    printf '%s%s' "$name" "$payload" >>"$module"
}

mkdir -p "$out"
for plugin in "${plugins[@]}"; do
    echo "==> building $plugin ($optimize)"
    # -target wasm32-freestanding: a bare core module, no WASI imports (the plugins need none).
    # build-exe -fno-entry: a module without `_start` (a library; the host never runs `_start`).
    # -rdynamic: export the functions ec.exportPlugin marks for export (alloc, dealloc,
    #   handle_event, init, ec_abi_version); the linker exports `memory` itself.
    # -fstrip: no DWARF or name section (ReleaseSafe would keep ~600 KB of debug info).
    # --dep ec -Mroot=... -Mec=...: the plugin's main.zig imports the helper as `@import("ec")`.
    zig build-exe -target wasm32-freestanding -fno-entry -rdynamic -fstrip -O "$optimize" \
        --dep ec -Mroot="$root/plugins-wasm/$plugin/main.zig" -Mec="$root/guest-sdk/zig/ec.zig" \
        --name "$plugin" -femit-bin="$out/$plugin.wasm.tmp"
    if [[ -n "${subscribe[$plugin]:-}" ]]; then
        append_section "$out/$plugin.wasm.tmp" event-controller.subscribe "${subscribe[$plugin]}"
    fi
    # Renamed into place so a running host with hot reload never sees a half-written module.
    mv -f "$out/$plugin.wasm.tmp" "$out/$plugin.wasm"
done

echo "==> Zig plugins (zig $(zig version), $optimize)"
for plugin in "${plugins[@]}"; do
    printf '%9d bytes  %s\n' "$(wc -c <"$out/$plugin.wasm")" "${out#"$root"/}/$plugin.wasm"
done
