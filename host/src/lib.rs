//! event-controller: watches Kubernetes resources and hands every watch event, as the JSON the
//! API server sent, to sandboxed WebAssembly plugins.
//!
//! The path of an event: a [`source`] yields [`event::WatchEvent`]s (the server's bytes plus the
//! identity read from their head), the [`dispatch::Dispatcher`] queues each for every plugin's
//! [`worker::Worker`] (Secrets [`redact`]ed), which calls its [`plugin::Plugin`] within its
//! [`plugin::Limits`] on the shared [`runtime::Runtime`] and logs the [`plugin::Outcome`]
//! ([`logging`]); [`metrics`] counts it all.

pub mod capabilities;
pub mod checkpoint;
pub mod config;
pub mod controller;
pub mod dispatch;
pub mod election;
pub mod event;
pub mod fanout;
pub mod loader;
pub mod logging;
pub mod metrics;
pub mod plugin;
pub mod redact;
pub mod reload;
pub mod runtime;
pub mod source;
pub mod subscription;
pub mod worker;
