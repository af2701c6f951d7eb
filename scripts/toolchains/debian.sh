#!/usr/bin/env bash
# Shared by the toolchain scripts that install Debian packages (c.sh, cfssl.sh, integrations.sh,
# pdns.sh): source it, then call `debian_install LABEL PACKAGE...` and `require_version`.
#
# No Debian revision is pinned: the mirror replaces revisions (security updates), so a pin that
# works today fails on the next snapshot. Each script installs the distribution's current
# package and then probes what the tests need (a minimum upstream version, a feature), failing
# with the package's name and the version found when it falls short.

# Prints `error: MESSAGE` on stderr and exits 1.
die() {
    echo "error: $*" >&2
    exit 1
}

# The installed version of a Debian package, or nothing (never fails).
installed_version() {
    { dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null || true; } |
        awk '$1 ~ /^ii/ { print $2 }'
}

# Fails unless the upstream version FOUND is at least MINIMUM (dotted numbers; a Debian epoch or
# revision in FOUND is ignored): `require_version WHAT FOUND MINIMUM PACKAGE`.
require_version() {
    local what="$1" found="$2" minimum="$3" package="$4" upstream
    upstream="${found#*:}"
    upstream="${upstream%%[-+~]*}"
    [[ -n "$upstream" ]] || die "$what: cannot read a version (package $package); found: ${found:-nothing}"
    if ! dpkg --compare-versions "$upstream" ge "$minimum" 2>/dev/null; then
        die "$what $upstream is too old: the tests need $minimum or newer (package $package, found $found)"
    fi
}

# Installs each PACKAGE that is not installed yet, at the distribution's current version:
# `debian_install LABEL PACKAGE...`. The package lists are refreshed when apt has no candidate
# for a wanted package. While apt-get runs, a temporary /usr/sbin/policy-rc.d (only when there
# is none) keeps maintainer scripts from starting services where an init system would.
debian_install() {
    local label="$1" wanted=() package
    shift
    for package in "$@"; do
        [[ -n "$(installed_version "$package")" ]] || wanted+=("$package")
    done
    if ((${#wanted[@]} == 0)); then
        echo "$label: already installed ($*)"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "$label: no apt-get: install ${wanted[*]} (or their equivalents) yourself"
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "$label: not root and no sudo: cannot install ${wanted[*]}"
        sudo=(sudo)
    fi
    local refresh=0
    for package in "${wanted[@]}"; do
        apt_candidate "$package" >/dev/null || refresh=1
    done
    if ((refresh)); then
        echo "$label: apt-get update"
        "${sudo[@]}" apt-get update -qq
    fi
    for package in "${wanted[@]}"; do
        apt_candidate "$package" >/dev/null ||
            die "$label: the package $package is not in this machine's Debian archive (apt-cache policy $package)"
    done
    local policy=/usr/sbin/policy-rc.d own_policy=0 status=0
    if [[ ! -e "$policy" ]]; then
        own_policy=1
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
    fi
    echo "$label: installing ${wanted[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null || status=$?
    if ((own_policy)); then
        "${sudo[@]}" rm -f "$policy"
    fi
    ((status == 0)) || die "$label: apt-get install ${wanted[*]} failed (exit $status)"
}

# The version apt would install for PACKAGE; fails when it has none.
apt_candidate() {
    local candidate
    candidate="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
    [[ -n "$candidate" && "$candidate" != "(none)" ]] || return 1
    echo "$candidate"
}
