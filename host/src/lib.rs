//! event-controller: watches Kubernetes resources and hands every watch event, as the JSON the
//! API server sent, to sandboxed WebAssembly plugins.
//!
//! The path of an event: a [`source`] yields [`event::WatchEvent`]s (the server's bytes plus the
//! identity read from their head), the [`dispatch::Dispatcher`] hands each to every
//! [`plugin::Plugin`], whose instance runs on the shared [`runtime::Runtime`] and returns an
//! [`plugin::Outcome`] that [`logging`] writes out.

pub mod config;
pub mod dispatch;
pub mod event;
pub mod loader;
pub mod logging;
pub mod plugin;
pub mod runtime;
pub mod source;
