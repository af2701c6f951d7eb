#!/usr/bin/env bash
# CloudFlare's PKI toolkit, CFSSL, that tests/certs.rs runs plugins-wasm/plugin_certs against:
# `cfssl gencert -initca` makes a throwaway test CA, `cfssl serve` signs certificates for the
# plugin over its HTTP API, and `cfssljson` splits cfssl's JSON output into PEM files. From
# Debian's package golang-cfssl (Debian 12 "bookworm", what the project's machines run). The
# test checks the certificates with the openssl CLI, which it installs too.
#
#   bash scripts/toolchains/cfssl.sh install   install the pinned packages (quick no-op when present)
#   bash scripts/toolchains/cfssl.sh check     exit 0 when everything is there and runs, else say how to get it
#
# golang-cfssl has no service of its own: the test starts `cfssl serve` on a free loopback port
# with the CA it made in a temporary directory.
#
# EC_CFSSL_UNPINNED=1 installs the distribution's current versions instead of the pins (for
# another Debian release). A pin that the archive no longer carries is reported, and the
# archive's current version is installed.
set -euo pipefail

# Pinned versions (Debian 12). openssl is not pinned: it gets security updates, which replace
# the previous version in the archive, and any version does for the test.
readonly PINS=(
    "golang-cfssl=1.2.0+git20160825.89.7fb22c8-3.1+b11"
    "openssl"
)
readonly INSTALL_HINT="run \`bash scripts/toolchains/cfssl.sh install\`"

die() {
    echo "error: $*" >&2
    exit 1
}

# The installed version of a Debian package, or nothing (never fails).
installed_version() {
    { dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null || true; } |
        awk '$1 ~ /^ii/ { print $2 }'
}

cmd_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "no apt-get: install CFSSL (cfssl, cfssljson) and the openssl CLI yourself"
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install packages"
        sudo=(sudo)
    fi
    local wanted=() pin name version current
    for pin in "${PINS[@]}"; do
        name="${pin%%=*}" version="${pin#*=}"
        current="$(installed_version "$name")"
        if [[ "${EC_CFSSL_UNPINNED:-}" == 1 || "$pin" != *=* ]]; then
            [[ -n "$current" ]] || wanted+=("$name")
        elif [[ "$current" != "$version" ]]; then
            wanted+=("$pin")
        fi
    done
    if ((${#wanted[@]} == 0)); then
        echo "CFSSL: already installed"
        cmd_check
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
    # A pin the archive no longer has: the current version if nothing is installed, else keep
    # what is installed.
    local resolved=()
    for pin in "${wanted[@]}"; do
        if [[ "$pin" == *=* ]] && ! apt-cache show "$pin" >/dev/null 2>&1; then
            name="${pin%%=*}"
            if [[ -n "$(installed_version "$name")" ]]; then
                echo "CFSSL: warning: the archive no longer has $pin; keeping $name $(installed_version "$name")" >&2
                continue
            fi
            echo "CFSSL: warning: the archive no longer has $pin; installing its current $name" >&2
            pin="$name"
        fi
        resolved+=("$pin")
    done
    if ((${#resolved[@]} == 0)); then
        cmd_check
        return 0
    fi
    echo "CFSSL: installing ${resolved[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${resolved[@]}" >/dev/null ||
        die "apt-get install ${resolved[*]} failed (on a Debian release other than 12, try EC_CFSSL_UNPINNED=1)"
    cmd_check
}

cmd_check() {
    command -v cfssl >/dev/null 2>&1 ||
        die "cfssl is missing (package golang-cfssl); $INSTALL_HINT"
    command -v cfssljson >/dev/null 2>&1 ||
        die "cfssljson is missing (package golang-cfssl); $INSTALL_HINT"
    command -v openssl >/dev/null 2>&1 ||
        die "the openssl CLI is missing (package openssl); $INSTALL_HINT"
    local version
    version="$(cfssl version 2>&1 | grep -m 1 -i '^version' || true)"
    [[ -n "$version" ]] ||
        die "\`cfssl version\` does not print its version: $(cfssl version 2>&1 | head -n 3); $INSTALL_HINT"
    echo "CFSSL: cfssl ${version#*: }; $(openssl version)"
}

case "${1:-}" in
    install) cmd_install ;;
    check) cmd_check ;;
    *)
        echo "usage: $0 install|check" >&2
        exit 2
        ;;
esac
