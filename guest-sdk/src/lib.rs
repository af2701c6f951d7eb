//! Guest SDK for `event-controller` WebAssembly plugins, implementing guest ABI v1 (`docs/ABI.md`).
//!
//! A plugin is a `cdylib` crate with one handler, `fn(&Event) -> Outcome`, registered with
//! [`export_plugin!`], which generates the exports the host calls (`alloc`, `dealloc`,
//! `handle_event`, `init`, `ec_abi_version`).
//!
//! ```
//! // Cargo.toml: [lib] crate-type = ["cdylib"]
//! //             [dependencies] event-controller-guest = { path = "..." }
//! use event_controller_guest::{export_plugin, Event, Outcome};
//!
//! fn handle_event(event: &Event) -> Outcome {
//!     // `kind()`/`name()` read only the head of the event, not the whole object.
//!     match (event.kind(), event.name()) {
//!         (Some(kind), Some(name)) => Outcome::info(format!("Kind: {kind}; Name: {name}")),
//!         _ => Outcome::none(),
//!     }
//! }
//!
//! export_plugin!(handle_event);
//! ```
//!
//! Build it with `cargo build --profile plugin --target wasm32-unknown-unknown` and copy
//! `target/wasm32-unknown-unknown/plugin/NAME.wasm` into the host's plugins directory.
//!
//! - [`Event`] gives the raw JSON, the lazily read [`head`](Event::head) (type, kind, apiVersion,
//!   metadata identity) and typed deserialization ([`Event::parse`], [`Event::object`]) into
//!   structs of only the fields the plugin needs.
//! - [`Outcome`] is the one message logged for the event, or [`Outcome::none`]. A handler may also
//!   return `Option<Outcome>`, `()` or `Result<_, E: Display>` (see [`IntoOutcome`]).
//! - [`log`] logs any number of lines through the host.
//! - [`http`] sends HTTP requests through the host, to the URLs the operator granted the plugin
//!   (the `http_request` capability); natively, to a [mock](http::mock) transport.
//! - [`kube`] reads and writes Kubernetes objects through the host, for the verbs and resources
//!   the operator granted the plugin (the `kube_request` capability); natively, to a
//!   [mock](kube::mock) such as [`kube::mock::FakeCluster`]. [`kube::ensure`] and
//!   [`kube::remove_owned`] keep objects the plugin owns without write loops.
//! - [`Failure`] classifies a failed request ([`Error::failure`], [`http::Response::failure`]),
//!   and [`Error::is_transient`], [`http::Response::is_transient`] and
//!   [`kube::Response::is_transient`] say whether retrying it may help.
//! - A config, given with `export_plugin!(handler, init = my_init)`, arrives as a [`Config`] and
//!   stays available through [`config()`].
//!
//! Built for a non-wasm target (for unit tests), everything works the same, [`log`] writes to
//! stderr, and [`http`] and [`kube`] use the transport a test installs with [`http::mock::set`]
//! or [`kube::mock::set`].

pub mod abi;
mod config;
mod error;
mod event;
pub mod head;
pub mod http;
pub mod kube;
pub mod log;
pub mod metric;
#[cfg(not(target_arch = "wasm32"))]
mod mock;
mod outcome;

#[doc(hidden)]
#[path = "rt.rs"]
pub mod __rt;

pub use crate::abi::Level;
pub use crate::config::{config, Config};
pub use crate::error::{is_transient_status, Error, Failure};
pub use crate::event::Event;
pub use crate::head::{EventHead, Fields, HeadError};
pub use crate::outcome::{IntoOutcome, Outcome, Retry};

/// Generates the plugin's exports around a handler and an optional init function.
///
/// - `export_plugin!(handler)`: `handler: fn(&Event) -> impl IntoOutcome`; any config is accepted.
/// - `export_plugin!(handler, init = my_init)`: `my_init: fn(Config) -> Result<(), E: Display>`.
///   On `Err(e)` the `init` export logs `e` at `ERROR` through the host and returns 1 (refusal).
///
/// The exports are `alloc`, `dealloc`, `handle_event`, `init` and `ec_abi_version` (returning
/// [`abi::ABI_VERSION`]). Use it once per crate, at any module level.
///
/// ```
/// use event_controller_guest::{export_plugin, Config, Event, Outcome};
///
/// fn my_init(config: Config) -> Result<(), String> {
///     match config.raw() {
///         "{}" => Ok(()),
///         other => Err(format!("this plugin takes no config, got {other}")),
///     }
/// }
///
/// fn handle_event(event: &Event) -> Option<Outcome> {
///     Some(Outcome::debug(format!("{:?} event", event.event_type()?)))
/// }
///
/// export_plugin!(handle_event, init = my_init);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($handler:expr, init = $init:expr $(,)?) => {
        const _: () = {
            #[unsafe(export_name = "alloc")]
            extern "C" fn __ec_alloc(len: usize) -> *mut u8 {
                $crate::__rt::alloc(len)
            }

            #[unsafe(export_name = "dealloc")]
            unsafe extern "C" fn __ec_dealloc(ptr: *mut u8, len: usize) {
                unsafe { $crate::__rt::dealloc(ptr, len) }
            }

            #[unsafe(export_name = "handle_event")]
            unsafe extern "C" fn __ec_handle_event(ptr: *const u8, len: usize) -> i64 {
                unsafe { $crate::__rt::handle_event(ptr, len, $handler) }
            }

            #[unsafe(export_name = "init")]
            unsafe extern "C" fn __ec_init(ptr: *const u8, len: usize) -> i32 {
                unsafe { $crate::__rt::init(ptr, len, $init) }
            }

            #[unsafe(export_name = "ec_abi_version")]
            extern "C" fn __ec_abi_version() -> i32 {
                $crate::abi::ABI_VERSION
            }
        };
    };
    ($handler:expr $(,)?) => {
        $crate::export_plugin!($handler, init = $crate::__rt::accept_any);
    };
}
