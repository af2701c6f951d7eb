#!/usr/bin/env bash
# Builds every wasm plugin of the workspace with the `plugin` profile:
#   plugins-wasm/*  -> target/plugins/NAME.wasm       (example plugins)
#   tests/plugins/* -> target/test-plugins/NAME.wasm  (plugins used by the host's tests)
# A crate is built for wasm32-unknown-unknown unless its Cargo.toml says otherwise with
#   [package.metadata.event-controller]
#   target = "wasm32-wasip1"
# One cargo invocation per target. Extra arguments are passed to cargo (e.g. --locked).
# Works from any directory; honours CARGO_TARGET_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A relative CARGO_TARGET_DIR is relative to the caller's directory, as for cargo.
target_dir="$(mkdir -p "${CARGO_TARGET_DIR:-$root/target}" && cd "${CARGO_TARGET_DIR:-$root/target}" && pwd)"
export CARGO_TARGET_DIR="$target_dir"
cd "$root"

default_target=wasm32-unknown-unknown
targets=(wasm32-unknown-unknown wasm32-wasip1)

if command -v rustup >/dev/null 2>&1; then
    installed="$(rustup target list --installed)"
    missing=()
    for t in "${targets[@]}"; do
        grep -qx "$t" <<<"$installed" || missing+=("$t")
    done
    if ((${#missing[@]})); then
        rustup target add "${missing[@]}"
    fi
fi

# Per target: the `-p` flags and the "libname outdir" pairs to copy afterwards.
declare -A packages=() copies=()
for manifest in plugins-wasm/*/Cargo.toml tests/plugins/*/Cargo.toml; do
    [[ -f "$manifest" ]] || continue
    case "$manifest" in
        plugins-wasm/*) out="$target_dir/plugins" ;;
        *) out="$target_dir/test-plugins" ;;
    esac
    name="$(sed -n 's/^name *= *"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)"
    target="$(sed -n 's/^target *= *"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)"
    target="${target:-$default_target}"
    [[ -n "$name" ]] || { echo "error: no package name in $manifest" >&2; exit 1; }
    packages[$target]+=" -p $name"
    copies[$target]+=" ${name//-/_}:$out"
done

for target in "${targets[@]}"; do
    [[ -n "${packages[$target]:-}" ]] || continue
    echo "==> building for $target:${packages[$target]//-p /}"
    # shellcheck disable=SC2086 # word splitting of the -p list is intended
    cargo build --profile plugin --target "$target" ${packages[$target]} "$@"
done

mkdir -p "$target_dir/plugins" "$target_dir/test-plugins"
echo "==> plugins"
for target in "${targets[@]}"; do
    for pair in ${copies[$target]:-}; do
        lib="${pair%%:*}" out="${pair#*:}"
        cp "$target_dir/$target/plugin/$lib.wasm" "$out/$lib.wasm"
        printf '%9d bytes  %s\n' "$(wc -c <"$out/$lib.wasm")" "${out#"$root"/}/$lib.wasm"
    done
done
