#!/usr/bin/env bash
# Builds the AssemblyScript plugins from source:
#   plugins-wasm/assemblyscript_NAME/assembly/index.ts -> target/plugins/assemblyscript_NAME.wasm
# and, when the plugin has a subscribe.json, appends it as the module's `event-controller.subscribe`
# custom section (docs/ABI.md §6). Flags and why: docs/ABI.md §10 (AssemblyScript).
# Needs the toolchain (bash scripts/toolchains/assemblyscript.sh install). Works from any
# directory; honours CARGO_TARGET_DIR as the target directory, like scripts/build-plugins.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A relative CARGO_TARGET_DIR is relative to the caller's directory, as for cargo.
target_dir="$(mkdir -p "${CARGO_TARGET_DIR:-$root/target}" && cd "${CARGO_TARGET_DIR:-$root/target}" && pwd)"
out="$target_dir/plugins"

bash "$root/scripts/toolchains/assemblyscript.sh" check

sdk="$root/guest-sdk/assemblyscript"
asc="$sdk/node_modules/.bin/asc"
flags=(
    # TLSF allocator + a mark & sweep GC that runs only when called: the SDK calls __collect()
    # at the end of every handle_event/init, when no managed reference is live on the stack.
    --runtime minimal
    # A reactor: top-level code runs in the exported _initialize, which the host calls first.
    --exportStart _initialize
    # The host has no env.abort: use the SDK's, which logs through event_controller.log, then traps.
    --use abort=__ec_abort
    # Optimise for speed (-Ospeed): ~15% faster per event than --shrinkLevel 1 for ~5 KB more
    # (16 KB modules instead of 11 KB). --noAssert drops assert() checks (none in the SDK's paths).
    --optimizeLevel 3
    --shrinkLevel 0
    --noAssert
)

mkdir -p "$out"
cd "$root"
built=()
for dir in plugins-wasm/assemblyscript_*/; do
    dir="${dir%/}"
    [[ -f "$dir/assembly/index.ts" ]] || continue
    name="$(basename "$dir")"
    echo "==> building $name"
    # Build next to the result under a hidden name (the host ignores hidden files), then rename:
    # a running host with hot reload never sees a half-written module.
    tmp="$out/.$name.wasm.tmp"
    "$asc" "$dir/assembly/index.ts" "${flags[@]}" --outFile "$tmp"
    if [[ -f "$dir/subscribe.json" ]]; then
        node "$sdk/tools/custom-section.mjs" "$tmp" event-controller.subscribe "$dir/subscribe.json"
    fi
    mv -f "$tmp" "$out/$name.wasm"
    built+=("$name")
done
if ((${#built[@]} == 0)); then
    echo "error: no plugins-wasm/assemblyscript_*/assembly/index.ts found" >&2
    exit 1
fi

echo "==> plugins"
for name in "${built[@]}"; do
    printf '%9d bytes  %s\n' "$(wc -c <"$out/$name.wasm")" "${out#"$root"/}/$name.wasm"
done
