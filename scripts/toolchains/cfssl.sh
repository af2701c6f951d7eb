#!/usr/bin/env bash
# CloudFlare's PKI toolkit, CFSSL, that tests/all/certs.rs runs plugins-wasm/plugin_certs against:
# `cfssl gencert -initca` makes a throwaway test CA, `cfssl serve` signs certificates for the
# plugin over its HTTP API, and `cfssljson` splits cfssl's JSON output into PEM files. From
# Debian's package golang-cfssl. The test checks the certificates with the openssl CLI, which it
# installs too.
#
#   bash scripts/toolchains/cfssl.sh install   install the distribution's packages (a quick no-op when present)
#   bash scripts/toolchains/cfssl.sh check     exit 0 when everything is there and runs, else say how to get it
#
# No version is pinned (the mirror replaces Debian revisions): `check` requires cfssl 1.2 or
# newer (its `serve` API and `gencert -initca`) and OpenSSL 1.1 or newer.
#
# golang-cfssl has no service of its own: the test starts `cfssl serve` on a free loopback port
# with the CA it made in a temporary directory.
set -euo pipefail
# shellcheck source=scripts/toolchains/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

readonly PACKAGES=(golang-cfssl openssl)
readonly MIN_CFSSL=1.2
readonly MIN_OPENSSL=1.1
readonly INSTALL_HINT="run \`bash scripts/toolchains/cfssl.sh install\`"

cmd_install() {
    debian_install "CFSSL" "${PACKAGES[@]}"
    cmd_check
}

cmd_check() {
    command -v cfssl >/dev/null 2>&1 ||
        die "cfssl is missing (package golang-cfssl); $INSTALL_HINT"
    command -v cfssljson >/dev/null 2>&1 ||
        die "cfssljson is missing (package golang-cfssl); $INSTALL_HINT"
    command -v openssl >/dev/null 2>&1 ||
        die "the openssl CLI is missing (package openssl); $INSTALL_HINT"
    local cfssl_version openssl_version
    cfssl_version="$(cfssl version 2>&1 | sed -n 's/^[Vv]ersion: *//p' | head -n 1)"
    require_version "cfssl" "$cfssl_version" "$MIN_CFSSL" golang-cfssl
    openssl_version="$(openssl version | awk '{ print $2 }')"
    require_version "openssl" "$openssl_version" "$MIN_OPENSSL" openssl
    echo "CFSSL: cfssl $cfssl_version; OpenSSL $openssl_version"
}

case "${1:-}" in
    install) cmd_install ;;
    check) cmd_check ;;
    *)
        echo "usage: $0 install|check" >&2
        exit 2
        ;;
esac
