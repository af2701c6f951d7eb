//! event-controller: watches Kubernetes resources and hands every watch event, as the JSON the
//! API server sent, to sandboxed WebAssembly plugins.
//!
//! The modules, in the order an event travels:
//!
//! - [`source`]: turns a cluster's watches ([`source::kube`], with [`source::reconcile`]'s
//!   semantics) or a file ([`source::replay`]) into events;
//! - [`event`]: one watch event, the server's bytes plus the identity read from their head;
//! - [`election`]: which replica delivers (a Lease);
//! - [`fanout`]: between the source and the dispatcher: leadership, resuming from checkpoints,
//!   the standby's warm cache;
//! - [`dispatch`]: every event to every plugin that subscribed ([`subscription`]), Secrets
//!   [`redact`]ed;
//! - [`worker`]: each plugin's lanes, backlog (coalescing or spilling past its queue size),
//!   calls, retries, back-off, priority and [`checkpoint`];
//! - [`plugin`]: one plugin's module and live instance, its limits and result;
//! - [`runtime`]: the one wasmtime engine and linker, with the host functions and the
//!   [`capabilities`] granted per plugin;
//! - [`logging`]: the log lines plugins cause; [`metrics`]: what is counted, and the health
//!   endpoints.
//!
//! Around them: [`config`] (the TOML file), [`loader`] (a directory of plugins), [`reload`]
//! (hot reload), and [`controller`] (the live controller wired together).

pub mod backoff;
pub mod capabilities;
pub mod checkpoint;
pub mod cluster;
pub mod config;
pub mod controller;
pub mod dispatch;
pub mod election;
pub mod event;

pub mod loader;
pub mod logging;
pub mod metrics;
pub mod plugin;
pub mod redact;
pub mod relay;
pub mod reload;
pub mod runtime;
pub mod sandbox;
pub mod source;
pub mod subscription;
pub mod worker;
