#!/usr/bin/env bash
# promtool, which checks the Prometheus alert rules of deploy/monitoring (`just lint`), from
# Debian's `prometheus` package.
#
#   bash scripts/toolchains/monitoring.sh install   install the distribution's package (a quick no-op when present)
#   bash scripts/toolchains/monitoring.sh check     exit 0 when promtool runs, else say how to get it
#
# No version is pinned (the mirror replaces Debian revisions): `check` requires promtool 2.30 or
# newer. The package's own Prometheus service is never started.
set -euo pipefail
# shellcheck source=scripts/toolchains/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

readonly PACKAGES=(prometheus)
readonly PROMTOOL=/usr/bin/promtool
readonly MIN_PROMTOOL=2.30
readonly INSTALL_HINT="run \`bash scripts/toolchains/monitoring.sh install\`"

cmd_install() {
    debian_install "monitoring checks" "${PACKAGES[@]}"
    cmd_check
}

cmd_check() {
    [[ -x "$PROMTOOL" ]] ||
        die "promtool is missing ($PROMTOOL not found, package prometheus); $INSTALL_HINT"
    local banner version
    banner="$("$PROMTOOL" --version 2>&1 | head -n 1 || true)"
    version="$(grep -o 'version [0-9][0-9.]*' <<<"$banner" | head -n 1 | cut -d ' ' -f 2 || true)"
    require_version "promtool" "$version" "$MIN_PROMTOOL" prometheus
    echo "monitoring checks: $banner"
}

case "${1:-}" in
    install) cmd_install ;;
    check) cmd_check ;;
    *)
        echo "usage: $0 install|check" >&2
        exit 2
        ;;
esac
