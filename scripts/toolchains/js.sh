#!/usr/bin/env bash
# The JavaScript toolchain for the plugins (guest ABI v2 components; guest-sdk/js/README.md).
#
#   bash scripts/toolchains/js.sh install   # npm ci in guest-sdk/js (pinned)
#   bash scripts/toolchains/js.sh check     # exit 0 if usable, else say how to install
#   bash scripts/toolchains/js.sh env       # nothing to export: the tools are called by path
#
# The tools are npm packages pinned in guest-sdk/js/package.json and package-lock.json, installed
# into guest-sdk/js/node_modules (git-ignored): @bytecodealliance/componentize-js (SpiderMonkey
# and the bindings, with its Wizer; its @bytecodealliance/jco makes the component and supplies
# the WASI 0.2 adapter), esbuild (bundles a plugin with the SDK into one ES module), and
# @bytecodealliance/preview2-shim, which componentize-js 0.23.0 imports without declaring it.
# Everything, the SpiderMonkey engine and Wizer binaries included, comes from the npm registry.
# It needs Node.js >= 20 and npm, which the project's machine image ships (Debian's own nodejs
# package is 18: too old). Works from any directory; `install` is quick when the pinned versions
# are already there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
sdk="$root/guest-sdk/js"
min_node=20

# Prints the pinned packages that are missing or at another version (nothing if all are right).
mismatches() {
    node --input-type=module -e '
        import { readFileSync } from "node:fs";
        const sdk = process.argv[1];
        const pins = JSON.parse(readFileSync(`${sdk}/package.json`, "utf8")).devDependencies ?? {};
        for (const [name, want] of Object.entries(pins)) {
            let have = "";
            try {
                have = JSON.parse(readFileSync(`${sdk}/node_modules/${name}/package.json`, "utf8")).version;
            } catch {}
            if (have !== want) console.log(`${name} ${have || "(missing)"} (package.json pins ${want})`);
        }
    ' "$sdk"
}

# Prints why the toolchain is not usable (nothing if it is).
problem() {
    if ! command -v node >/dev/null 2>&1; then
        echo "node is not installed (the JavaScript toolchain needs Node.js >= $min_node and npm)"
        return
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if ((major < min_node)); then
        echo "node $(node --version) is too old (the JavaScript toolchain needs Node.js >= $min_node)"
        return
    fi
    local wrong
    wrong="$(mismatches)"
    if [[ -n "$wrong" ]]; then
        echo "packages not installed as pinned: $(echo "$wrong" | paste -sd ';' - | sed 's/;/; /g')"
    fi
}

cmd_check() {
    local why
    why="$(problem)"
    if [[ -n "$why" ]]; then
        echo "error: JavaScript toolchain not usable: $why." >&2
        echo "Install it with: bash scripts/toolchains/js.sh install" >&2
        return 1
    fi
}

pinned_version() {
    sed -n 's/^ *"@bytecodealliance\/componentize-js": *"\([^"]*\)".*/\1/p' "$sdk/package.json" | head -n 1
}

cmd_install() {
    local why
    why="$(problem)"
    if [[ -z "$why" ]]; then
        echo "componentize-js $(pinned_version) is installed ($sdk/node_modules)"
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1 || [[ "$why" == node* ]]; then
        echo "error: $why; install Node.js >= $min_node with npm first." >&2
        return 1
    fi
    echo "==> installing componentize-js $(pinned_version) and esbuild into guest-sdk/js/node_modules"
    cd "$sdk"
    # esbuild's install script only checks its binary, which comes in the package
    # @esbuild/linux-x64 (an optional dependency): nothing is downloaded outside npm.
    npm ci --no-audit --no-fund
    cmd_check
    echo "componentize-js $(pinned_version) is installed ($sdk/node_modules)"
}

cmd_env() {
    # The tools are always called by path (guest-sdk/js/tools/build.mjs); nothing to add to PATH.
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
