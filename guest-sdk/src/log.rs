//! Logging through the host's `event_controller.log` import, at any time during `init` or an event.
//!
//! Unlike an [`Outcome`](crate::Outcome), which is one message per event, these may be called any
//! number of times. The host logs the text under the plugin's name and truncates it at
//! [`MAX_LOG_LEN`](crate::abi::MAX_LOG_LEN) bytes. Built for a non-wasm target (unit tests), the text
//! goes to stderr instead.

use crate::abi::Level;

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "event_controller")]
    unsafe extern "C" {
        pub fn log(level: i32, ptr: *const u8, len: usize);
    }
}

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the host only reads `[ptr, ptr + len)`, which is `message`.
    unsafe {
        host::log(level.as_i32(), message.as_ptr(), message.len());
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level}] {message}");
}

/// Logs `message` at `TRACE`.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs `message` at `DEBUG`.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at `INFO`.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at `WARN`.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at `ERROR`.
pub fn error(message: &str) {
    log(Level::Error, message);
}
