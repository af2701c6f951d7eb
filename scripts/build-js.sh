#!/usr/bin/env bash
# Builds JavaScript plugins into WebAssembly components (guest ABI v2, wit/plugin.wit):
#
#   bash scripts/build-js.sh PLUGIN.js OUT.wasm   # one plugin; its name is OUT's, without .wasm
#   bash scripts/build-js.sh                      # all of them:
#       plugins-wasm/js_NAME/plugin.js -> target/plugins/js_NAME.wasm
#       tests/plugins/js_NAME/plugin.js -> target/test-plugins/js_NAME.wasm
#
# A plugin is an ES module exporting handleEvent(event, config, watcher) (guest-sdk/js/README.md);
# PLUGIN may also be TypeScript (.ts: esbuild strips the types without checking them). When a
# subscribe.json sits beside PLUGIN, it becomes the component's `event-controller.subscribe`
# custom section (docs/ABI.md §6). How: guest-sdk/js/tools/build.mjs (esbuild, then
# componentize-js). Needs the toolchain (bash scripts/toolchains/js.sh install). Works from any
# directory; honours CARGO_TARGET_DIR as the target directory, like scripts/build-plugins.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bash "$root/scripts/toolchains/js.sh" check

build="$root/guest-sdk/js/tools/build.mjs"

# build_one PLUGIN OUT: builds next to the result under a hidden name (the host ignores hidden
# files), then renames: a running host with hot reload never sees a half-written component.
build_one() {
    local plugin="$1" out="$2"
    local dir name tmp subscribe=()
    dir="$(dirname "$out")"
    name="$(basename "$out" .wasm)"
    tmp="$dir/.$name.wasm.tmp"
    mkdir -p "$dir"
    if [[ -f "$(dirname "$plugin")/subscribe.json" ]]; then
        subscribe=("$(dirname "$plugin")/subscribe.json")
    fi
    local start=$SECONDS
    if ! node "$build" "$plugin" "$tmp" "${subscribe[@]}"; then
        rm -f "$tmp"
        return 1
    fi
    mv -f "$tmp" "$out"
    times+=("$((SECONDS - start))")
}

times=()
if (($# > 0)); then
    if (($# != 2)) || [[ "$2" != *.wasm ]]; then
        echo "usage: $0 [PLUGIN.js OUT.wasm]" >&2
        exit 2
    fi
    [[ -f "$1" ]] || { echo "error: $1: no such file" >&2; exit 1; }
    echo "==> building $(basename "$2" .wasm)"
    build_one "$1" "$2"
    printf '%9d bytes  %s\n' "$(wc -c <"$2")" "$2"
    exit 0
fi

# A relative CARGO_TARGET_DIR is relative to the caller's directory, as for cargo.
target_dir="$(mkdir -p "${CARGO_TARGET_DIR:-$root/target}" && cd "${CARGO_TARGET_DIR:-$root/target}" && pwd)"
cd "$root"
outs=()
for pair in "plugins-wasm:plugins" "tests/plugins:test-plugins"; do
    src="${pair%%:*}"
    dest="$target_dir/${pair#*:}"
    for dir in "$src"/js_*/; do
        dir="${dir%/}"
        [[ -f "$dir/plugin.js" ]] || continue
        name="$(basename "$dir")"
        echo "==> building $name"
        build_one "$dir/plugin.js" "$dest/$name.wasm"
        outs+=("$dest/$name.wasm")
    done
done
if ((${#outs[@]} == 0)); then
    echo "error: no plugins-wasm/js_*/plugin.js or tests/plugins/js_*/plugin.js found" >&2
    exit 1
fi

echo "==> plugins"
for i in "${!outs[@]}"; do
    printf '%9d bytes %4ds  %s\n' "$(wc -c <"${outs[$i]}")" "${times[$i]}" "${outs[$i]#"$root"/}"
done
