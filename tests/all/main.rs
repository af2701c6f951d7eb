//! Every test of the whole binary, in one test binary with a module per area (wasmtime's
//! `tests/all` is the model): one compilation and one link for all of them. What they share
//! (the real binary, real plugins, the test API server, real clusters and services) is the
//! `event-controller-test-support` crate in `tests/support`.
//!
//! `cargo test -p event-controller --test all MODULE::` runs one area; the real-cluster suite
//! is `#[ignore]`d (`just e2e`).

extern crate event_controller_test_support as support;

mod apiserver;
mod capabilities;
mod certs;
mod checkpoint_configmaps;
mod components;
mod conformance;
mod dns;
mod election;
mod go_replicator;
mod integrations;
mod isolation;
mod live;
mod ns_defaults;
mod oci;
mod plugin_metrics;
mod real_cluster;
mod reload;
mod replay;
mod residency;
mod resume;
mod retry;
mod scaffold;
mod status;
