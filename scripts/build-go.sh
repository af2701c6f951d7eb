#!/usr/bin/env bash
# Builds the Go plugins (docs/ABI.md §10 (Go)) from source:
#   plugins-wasm/go_simple        -> target/plugins/go_simple.wasm
#   plugins-wasm/go_image_policy  -> target/plugins/go_image_policy.wasm
#   plugins-wasm/go_replicator    -> target/plugins/go_replicator.wasm
# as WASI reactors: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
# Needs the pinned Go toolchain (bash scripts/toolchains/go.sh install). Works from any directory;
# honours CARGO_TARGET_DIR as the target directory, like scripts/build-plugins.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A relative CARGO_TARGET_DIR is relative to the caller's directory, as for cargo.
target_dir="$(mkdir -p "${CARGO_TARGET_DIR:-$root/target}" && cd "${CARGO_TARGET_DIR:-$root/target}" && pwd)"
out="$target_dir/plugins"

bash "$root/scripts/toolchains/go.sh" check
eval "$(bash "$root/scripts/toolchains/go.sh" env)"
# Without HOME (some CI sandboxes) Go has no default cache or GOPATH: keep them in the target dir.
if [[ -z "${HOME:-}" ]]; then
    export GOCACHE="${GOCACHE:-$target_dir/go/cache}" GOPATH="${GOPATH:-$target_dir/go/path}"
fi

# Default subscriptions, appended as the `event-controller.subscribe` custom section (docs/ABI.md
# §6): Go cannot emit custom sections itself.
declare -A subscribe=(
    [go_image_policy]='{"resources":["pods","deployments.apps"],"event_types":["ADDED","MODIFIED"]}'
    [go_replicator]='{"resources":["namespaces","configmaps"]}'
)

# Writes the unsigned LEB128 encoding of $1 (bytes) to stdout.
leb128() {
    local n=$1 byte
    while :; do
        byte=$((n & 0x7f))
        n=$((n >> 7))
        ((n)) && byte=$((byte | 0x80))
        # shellcheck disable=SC2059 # the format is one octal escape
        printf "\\$(printf '%03o' "$byte")"
        ((n)) || break
    done
}

# Appends a custom section (id 0, size, name length, name, payload) named $2 with the ASCII
# payload $3 to the module $1.
append_section() {
    local module=$1 name=$2 payload=$3
    local size=$(($(leb128 ${#name} | wc -c) + ${#name} + ${#payload}))
    {
        printf '\000'
        leb128 "$size"
        leb128 ${#name}
        printf '%s%s' "$name" "$payload"
    } >>"$module"
}

mkdir -p "$out"
# -trimpath: no build paths in the module (reproducible); -ldflags=-s -w: no symbol table or
# DWARF (Go's wasm output keeps a name section otherwise), ~5% smaller. The Go runtime and GC
# account for most of the size; encoding/json adds ~0.6 MB.
for plugin in go_simple go_image_policy go_replicator; do
    echo "==> building $plugin"
    (
        cd "$root/plugins-wasm/$plugin"
        GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags='-s -w' \
            -o "$out/$plugin.wasm.tmp" .
    )
    if [[ -n "${subscribe[$plugin]:-}" ]]; then
        append_section "$out/$plugin.wasm.tmp" event-controller.subscribe "${subscribe[$plugin]}"
    fi
    # Renamed into place so a running host with hot reload never sees a half-written module.
    mv -f "$out/$plugin.wasm.tmp" "$out/$plugin.wasm"
done

echo "==> Go plugins ($(go env GOVERSION))"
for plugin in go_simple go_image_policy go_replicator; do
    printf '%9d bytes  %s\n' "$(wc -c <"$out/$plugin.wasm")" "${out#"$root"/}/$plugin.wasm"
done
