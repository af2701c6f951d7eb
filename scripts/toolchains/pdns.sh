#!/usr/bin/env bash
# The PowerDNS authoritative server that tests/dns.rs runs plugins-wasm/plugin_dns against, with
# its SQLite backend and HTTP API, plus dig (for DNS queries) and the sqlite3 CLI (to create the
# backend's database from Debian's schema). All from Debian's packages (Debian 12 "bookworm",
# what the project's machines run).
#
#   bash scripts/toolchains/pdns.sh install   install the pinned packages (quick no-op when present)
#   bash scripts/toolchains/pdns.sh check     exit 0 when everything is there and runs, else say how to get it
#
# The package's own service is never used: the test starts its own pdns_server on free loopback
# ports with a temporary database. While apt-get installs, a temporary /usr/sbin/policy-rc.d
# (only when there is none) keeps the maintainer scripts from starting it where there is an init
# system to do so.
#
# EC_PDNS_UNPINNED=1 installs the distribution's current versions instead of the pins (for
# another Debian release). A pin that the archive no longer carries (bind9's security updates
# replace the previous version) is reported, and the archive's current version is installed.
set -euo pipefail

# Pinned versions (Debian 12). dnsutils is a transitional package: dig is in bind9-dnsutils.
readonly PINS=(
    "pdns-server=4.7.3-2"
    "pdns-backend-sqlite3=4.7.3-2"
    "bind9-dnsutils=1:9.18.49-1~deb12u3"
    "dnsutils=1:9.18.49-1~deb12u3"
    "sqlite3=3.40.1-2+deb12u2"
)
readonly PDNS_SERVER=/usr/sbin/pdns_server
readonly SCHEMA=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
readonly INSTALL_HINT="run \`bash scripts/toolchains/pdns.sh install\`"

die() {
    echo "error: $*" >&2
    exit 1
}

# The installed version of a Debian package, or nothing.
installed_version() {
    dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null |
        awk '$1 ~ /^ii/ { print $2 }'
}

cmd_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "no apt-get: install the PowerDNS authoritative server with its gsqlite3 backend, dig and sqlite3 yourself"
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install packages"
        sudo=(sudo)
    fi
    local wanted=() pin name version
    for pin in "${PINS[@]}"; do
        name="${pin%%=*}" version="${pin#*=}"
        if [[ "${EC_PDNS_UNPINNED:-}" == 1 ]]; then
            [[ -n "$(installed_version "$name")" ]] || wanted+=("$name")
        elif [[ "$(installed_version "$name")" != "$version" ]]; then
            wanted+=("$pin")
        fi
    done
    if ((${#wanted[@]} == 0)); then
        echo "PowerDNS: already installed"
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
                echo "PowerDNS: warning: the archive no longer has $pin; keeping $name $(installed_version "$name")" >&2
                continue
            fi
            echo "PowerDNS: warning: the archive no longer has $pin; installing its current $name" >&2
            pin="$name"
        fi
        resolved+=("$pin")
    done
    if ((${#resolved[@]} == 0)); then
        cmd_check
        return 0
    fi
    # Keep the maintainer scripts from starting the package's own daemon (exit 101: "action
    # forbidden by policy"), unless the machine already has a policy of its own.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e "$policy" ]]; then
        own_policy=1
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        trap '"${sudo[@]}" rm -f "$policy"' EXIT
    fi
    echo "PowerDNS: installing ${resolved[*]}"
    local status=0
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${resolved[@]}" >/dev/null || status=$?
    if ((own_policy)); then
        "${sudo[@]}" rm -f "$policy"
        trap - EXIT
    fi
    ((status == 0)) ||
        die "apt-get install ${resolved[*]} failed (on a Debian release other than 12, try EC_PDNS_UNPINNED=1)"
    cmd_check
}

cmd_check() {
    [[ -x "$PDNS_SERVER" ]] ||
        die "the PowerDNS authoritative server is missing ($PDNS_SERVER not found); $INSTALL_HINT"
    [[ -f "$SCHEMA" ]] ||
        die "PowerDNS's SQLite backend is missing ($SCHEMA not found, package pdns-backend-sqlite3); $INSTALL_HINT"
    command -v dig >/dev/null 2>&1 ||
        die "dig is missing (package bind9-dnsutils); $INSTALL_HINT"
    command -v sqlite3 >/dev/null 2>&1 ||
        die "the sqlite3 CLI is missing (package sqlite3); $INSTALL_HINT"
    local version
    # `--version` prints the banner and exits 99 on 4.7; read the banner, not the status.
    version="$("$PDNS_SERVER" --version 2>&1 | grep -m 1 -o 'PowerDNS Authoritative Server [^ ]*' || true)"
    [[ -n "$version" ]] ||
        die "$PDNS_SERVER --version does not print its version: $("$PDNS_SERVER" --version 2>&1 | head -n 3); $INSTALL_HINT"
    echo "PowerDNS: $version; $(dig -v 2>&1 | head -n 1); sqlite3 $(sqlite3 --version | cut -d ' ' -f 1)"
}

case "${1:-}" in
    install) cmd_install ;;
    check) cmd_check ;;
    *)
        echo "usage: $0 install|check" >&2
        exit 2
        ;;
esac
