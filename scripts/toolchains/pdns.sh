#!/usr/bin/env bash
# The PowerDNS authoritative server that tests/all/dns.rs runs plugins-wasm/plugin_dns against, with
# its SQLite backend and HTTP API, plus dig (for DNS queries) and the sqlite3 CLI (to create the
# backend's database from Debian's schema). All from Debian's packages.
#
#   bash scripts/toolchains/pdns.sh install   install the distribution's packages (a quick no-op when present)
#   bash scripts/toolchains/pdns.sh check     exit 0 when everything is there and runs, else say how to get it
#
# No version is pinned (the mirror replaces Debian revisions, bind9's security updates often):
# `check` requires PowerDNS 4.5 or newer (the v1 HTTP API with PATCHed rrsets and the gsqlite3
# schema the test loads), dig 9.16 or newer and sqlite3 3.31 or newer.
#
# The package's own service is never used: the test starts its own pdns_server on free loopback
# ports with a temporary database.
set -euo pipefail
# shellcheck source=scripts/toolchains/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

readonly PACKAGES=(pdns-server pdns-backend-sqlite3 bind9-dnsutils sqlite3)
readonly PDNS_SERVER=/usr/sbin/pdns_server
readonly SCHEMA=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
readonly MIN_PDNS=4.5 MIN_DIG=9.16 MIN_SQLITE=3.31
readonly INSTALL_HINT="run \`bash scripts/toolchains/pdns.sh install\`"

cmd_install() {
    debian_install "PowerDNS" "${PACKAGES[@]}"
    cmd_check
}

cmd_check() {
    [[ -x "$PDNS_SERVER" ]] ||
        die "the PowerDNS authoritative server is missing ($PDNS_SERVER not found, package pdns-server); $INSTALL_HINT"
    [[ -f "$SCHEMA" ]] ||
        die "PowerDNS's SQLite backend is missing ($SCHEMA not found, package pdns-backend-sqlite3); $INSTALL_HINT"
    command -v dig >/dev/null 2>&1 ||
        die "dig is missing (package bind9-dnsutils); $INSTALL_HINT"
    command -v sqlite3 >/dev/null 2>&1 ||
        die "the sqlite3 CLI is missing (package sqlite3); $INSTALL_HINT"
    local pdns dig sqlite
    # `--version` prints the banner and exits 99 on 4.7; read the banner, not the status.
    pdns="$("$PDNS_SERVER" --version 2>&1 | grep -m 1 -o 'PowerDNS Authoritative Server [0-9][^ ]*' | awk '{ print $4 }' || true)"
    require_version "PowerDNS" "$pdns" "$MIN_PDNS" pdns-server
    dig="$(dig -v 2>&1 | head -n 1 | grep -o '[0-9][0-9]*\.[0-9][0-9.]*' | head -n 1 || true)"
    require_version "dig" "$dig" "$MIN_DIG" bind9-dnsutils
    sqlite="$(sqlite3 --version | cut -d ' ' -f 1)"
    require_version "sqlite3" "$sqlite" "$MIN_SQLITE" sqlite3
    echo "PowerDNS: Authoritative Server $pdns; dig $dig; sqlite3 $sqlite"
}

case "${1:-}" in
    install) cmd_install ;;
    check) cmd_check ;;
    *)
        echo "usage: $0 install|check" >&2
        exit 2
        ;;
esac
