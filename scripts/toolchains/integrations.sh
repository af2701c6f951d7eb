#!/usr/bin/env bash
# The real services the integration tests (tests/integrations.rs) talk to, from Debian's packages
# (Debian 12 "bookworm", what the project's machines run). Now: Prometheus Alertmanager, for
# plugins-wasm/plugin_alertmanager.
#
#   bash scripts/toolchains/integrations.sh install   install the pinned packages (quick no-op when present)
#   bash scripts/toolchains/integrations.sh check     exit 0 when every service binary runs, else say how to get it
#
# The package's own service is never started: the tests start their own Alertmanager on a free
# loopback port with a temporary storage path. While apt-get installs, a temporary
# /usr/sbin/policy-rc.d (only when there is none) keeps the maintainer scripts from starting it
# where there is an init system to do so.
#
# EC_INTEGRATIONS_UNPINNED=1 installs the distribution's current versions instead of the pins
# (for another Debian release).
set -euo pipefail

# Pinned versions (Debian 12).
readonly PINS=(
    "prometheus-alertmanager=0.25.0-1+b4"
)
readonly ALERTMANAGER=/usr/bin/prometheus-alertmanager
readonly INSTALL_HINT="run \`bash scripts/toolchains/integrations.sh install\`"

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
        die "no apt-get: install Prometheus Alertmanager yourself so that $ALERTMANAGER runs"
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install packages"
        sudo=(sudo)
    fi
    local wanted=() pin name version
    for pin in "${PINS[@]}"; do
        name="${pin%%=*}" version="${pin#*=}"
        if [[ "${EC_INTEGRATIONS_UNPINNED:-}" == 1 ]]; then
            [[ -n "$(installed_version "$name")" ]] || wanted+=("$name")
        elif [[ "$(installed_version "$name")" != "$version" ]]; then
            wanted+=("$pin")
        fi
    done
    if ((${#wanted[@]} == 0)); then
        echo "integration services: already installed"
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
    # Keep the maintainer scripts from starting the package's own daemon (exit 101: "action
    # forbidden by policy"), unless the machine already has a policy of its own.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e "$policy" ]]; then
        own_policy=1
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        trap '"${sudo[@]}" rm -f "$policy"' EXIT
    fi
    echo "integration services: installing ${wanted[*]}"
    local status=0
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null || status=$?
    if ((own_policy)); then
        "${sudo[@]}" rm -f "$policy"
        trap - EXIT
    fi
    ((status == 0)) ||
        die "apt-get install ${wanted[*]} failed (on a Debian release other than 12, try EC_INTEGRATIONS_UNPINNED=1)"
    cmd_check
}

cmd_check() {
    [[ -x "$ALERTMANAGER" ]] ||
        die "Prometheus Alertmanager is missing ($ALERTMANAGER not found); $INSTALL_HINT"
    local version
    version="$("$ALERTMANAGER" --version 2>&1 | head -n 1)" ||
        die "$ALERTMANAGER --version fails: $version; $INSTALL_HINT"
    echo "integration services: $version"
}

case "${1:-}" in
    install) cmd_install ;;
    check) cmd_check ;;
    *)
        echo "usage: $0 install|check" >&2
        exit 2
        ;;
esac
