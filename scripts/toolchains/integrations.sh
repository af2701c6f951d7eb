#!/usr/bin/env bash
# The real services the integration tests (tests/all/integrations.rs) talk to, from Debian's
# packages: Prometheus Alertmanager, for plugins-wasm/plugin_alertmanager, and the CNCF
# Distribution registry (`docker-registry`), for plugins pulled from OCI registries (tests/all/oci.rs).
#
#   bash scripts/toolchains/integrations.sh install   install the distribution's package (a quick no-op when present)
#   bash scripts/toolchains/integrations.sh check     exit 0 when every service binary runs, else say how to get it
#
# No version is pinned (the mirror replaces Debian revisions): `check` requires Alertmanager 0.25
# or newer (the v2 API the plugin posts to, and `--cluster.listen-address=` to run alone).
#
# The package's own service is never started: the tests start their own Alertmanager on a free
# loopback port with a temporary storage path.
set -euo pipefail
# shellcheck source=scripts/toolchains/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

readonly PACKAGES=(prometheus-alertmanager docker-registry)
readonly REGISTRY=/usr/bin/docker-registry
readonly ALERTMANAGER=/usr/bin/prometheus-alertmanager
readonly MIN_ALERTMANAGER=0.25
readonly INSTALL_HINT="run \`bash scripts/toolchains/integrations.sh install\`"

cmd_install() {
    debian_install "integration services" "${PACKAGES[@]}"
    cmd_check
}

cmd_check() {
    [[ -x "$ALERTMANAGER" ]] ||
        die "Prometheus Alertmanager is missing ($ALERTMANAGER not found, package prometheus-alertmanager); $INSTALL_HINT"
    local banner version
    banner="$("$ALERTMANAGER" --version 2>&1 | head -n 1 || true)"
    version="$(grep -o 'version [0-9][0-9.]*' <<<"$banner" | head -n 1 | cut -d ' ' -f 2 || true)"
    require_version "Alertmanager" "$version" "$MIN_ALERTMANAGER" prometheus-alertmanager
    echo "integration services: $banner"
    [[ -x "$REGISTRY" ]] ||
        die "the OCI registry is missing ($REGISTRY not found, package docker-registry); $INSTALL_HINT"
    echo "integration services: $("$REGISTRY" --version 2>&1 | head -n 1)"
}

case "${1:-}" in
    install) cmd_install ;;
    check) cmd_check ;;
    *)
        echo "usage: $0 install|check" >&2
        exit 2
        ;;
esac
