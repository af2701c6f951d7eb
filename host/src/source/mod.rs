//! Sources of watch events. Each turns something (a file, later a cluster) into [`WatchEvent`]s
//! and knows nothing of wasm.
//!
//! [`WatchEvent`]: crate::event::WatchEvent

pub mod kube;
pub mod reconcile;
pub mod replay;
