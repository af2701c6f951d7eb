# event-controller container image.
#
#   docker build -t event-controller .
#   docker run --rm \
#     -v "$PWD/conf/config.toml:/etc/event-controller/config.toml:ro" \
#     -v "$PWD/target/plugins:/etc/event-controller/plugins:ro" \
#     event-controller replay /etc/event-controller/sample-events.jsonl
#
# Mount points: /etc/event-controller/config.toml (CONFIG_FILE) and
# /etc/event-controller/plugins/ (PLUGINS_DIR). The image also carries the example plugins in
# /usr/share/event-controller/plugins for a first try.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
RUN rustup target add wasm32-unknown-unknown wasm32-wasip1
COPY . .
RUN cargo build --locked --release -p event-controller \
 && bash scripts/build-plugins.sh --locked \
 && install -D target/release/event-controller /out/event-controller \
 && mkdir -p /out/plugins && cp target/plugins/*.wasm /out/plugins/

FROM debian:bookworm-slim AS runtime
# ca-certificates is left unpinned on purpose: it must follow Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin event-controller \
 && mkdir -p /etc/event-controller/plugins \
 && install -d -m 0700 -o 10001 -g 10001 /var/cache/event-controller
COPY --from=builder /out/event-controller /usr/local/bin/event-controller
COPY --from=builder /out/plugins/ /usr/share/event-controller/plugins/
COPY conf/config.toml /etc/event-controller/config.toml
COPY conf/sample-events.jsonl /etc/event-controller/sample-events.jsonl
ENV CONFIG_FILE=/etc/event-controller/config.toml \
    PLUGINS_DIR=/etc/event-controller/plugins \
    MODULE_CACHE_DIR=/var/cache/event-controller
# With a read-only root filesystem, mount an emptyDir on /var/cache/event-controller to keep the
# compiled-module cache (without it, plugins are compiled at every start, with one warning), and
# one on /tmp (TMPDIR) for the spill files of plugins with delivery = "every_event" (without
# it, such a plugin that falls behind has its events dropped, counted and logged). Nothing else
# is written at run time.
USER 10001:10001
# /metrics, /healthz and /readyz (METRICS_ADDRESS).
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/event-controller"]
CMD ["run"]
