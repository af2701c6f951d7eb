//! What a plugin *component* (guest ABI v2, `wit/plugin.wit`) can import, linked by
//! [`add_to_linker`]: WASI 0.2 (nothing granted, see [`HostState::new`]) and the
//! `event-controller:plugin/host` interface, whose `log`, `http-request` and `kube-request` are
//! the same functions v1 modules import, with the same grants, limits and logging.

use super::HostState;
use crate::logging;
use event_controller_guest::abi::{self, Level};
use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::{WasiCtxView, WasiView};

/// The Rust side of `wit/plugin.wit`: the host interface's trait and the types both sides
/// share ([`Outcome`], [`WitLevel`]).
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
    });
}

use self::bindings::event_controller::plugin::host;
pub use self::bindings::event_controller::plugin::host::Level as WitLevel;
pub use self::bindings::event_controller::plugin::types::Outcome;

/// The WIT package version a component's imports must name.
pub const PACKAGE: &str = "event-controller:plugin@2.0.0";
/// The interface the host implements, as a component imports it.
pub const HOST_INTERFACE: &str = "event-controller:plugin/host@2.0.0";
/// The interface of the types both sides share (no functions), which components import too.
pub const TYPES_INTERFACE: &str = "event-controller:plugin/types@2.0.0";
/// The export called for every event.
pub const HANDLE_EVENT: &str = "handle-event";
/// The optional export called once per instance with the plugin's config.
pub const INIT: &str = "init";

/// Adds every function a component may import to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    host::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    // Types only: nothing to provide, but the import must resolve.
    linker.instance(TYPES_INTERFACE)?;
    Ok(())
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.ctx()
    }
}

impl From<WitLevel> for Level {
    fn from(level: WitLevel) -> Level {
        match level {
            WitLevel::Trace => Level::Trace,
            WitLevel::Debug => Level::Debug,
            WitLevel::Info => Level::Info,
            WitLevel::Warn => Level::Warn,
            WitLevel::Error => Level::Error,
        }
    }
}

impl host::Host for HostState {
    fn log(&mut self, level: WitLevel, message: String) {
        let mut end = message.len().min(abi::MAX_LOG_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        logging::plugin_line(&self.plugin, "log", level.into(), &message[..end]);
    }

    fn http_request(&mut self, request: String) -> String {
        json_answer(&HostState::http_request(self, request.as_bytes()))
    }

    fn kube_request(&mut self, request: String) -> String {
        json_answer(&HostState::kube_request(self, request.as_bytes()))
    }

    fn metric(&mut self, request: String) -> Result<(), String> {
        HostState::metric(self, request.as_bytes())
    }
}

/// An answer as the JSON document the guest reads.
fn json_answer(answer: &impl serde::Serialize) -> String {
    serde_json::to_string(answer).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot encode the answer: {e}") }).to_string()
    })
}
