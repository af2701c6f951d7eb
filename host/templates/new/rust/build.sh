#!/usr/bin/env bash
# Builds plugins/{{name}}.wasm from src/lib.rs for wasm32-unknown-unknown, with the release
# profile of Cargo.toml (small modules; a panic traps).
#
#   bash build.sh         build the plugin
#   bash build.sh test    run the unit tests natively (cargo test)
#
# Needs Rust (https://rustup.rs); with rustup, the wasm32-unknown-unknown target is added when
# missing. Works from any directory; honours CARGO_TARGET_DIR.
set -euo pipefail

die() {
    echo "error: $*" >&2
    exit 1
}

# A relative CARGO_TARGET_DIR is relative to the caller's directory, as for cargo.
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    CARGO_TARGET_DIR="$(mkdir -p "$CARGO_TARGET_DIR" && cd "$CARGO_TARGET_DIR" && pwd)"
    export CARGO_TARGET_DIR
fi
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"

case "${1:-build}" in
    build) ;;
    test) exec cargo test ;;
    *)
        echo "usage: bash build.sh [build|test]" >&2
        exit 2
        ;;
esac

target=wasm32-unknown-unknown
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi
cargo build --release --target "$target"

# Copied under a hidden name, then renamed: a controller watching plugins/ never loads half a file.
mkdir -p plugins
cp "${CARGO_TARGET_DIR:-target}/$target/release/{{crate_name}}.wasm" "plugins/.{{name}}.wasm.tmp"
mv -f "plugins/.{{name}}.wasm.tmp" "plugins/{{name}}.wasm"
echo "built plugins/{{name}}.wasm ($(wc -c <"plugins/{{name}}.wasm") bytes)"
