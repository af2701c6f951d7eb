//! Runtime support for [`export_plugin!`](crate::export_plugin): the bodies of the generated exports.
//!
//! Not a public API; it may change in any release.

use std::alloc::Layout;
use std::fmt::Display;
use std::ptr::NonNull;

use crate::abi::pack;
use crate::{config, log, Config, Event, IntoOutcome, Outcome};

/// `alloc`: `len` bytes aligned to 1. `alloc(0)` returns a dangling, non-null pointer.
///
/// Traps when the allocator is out of memory, so the host never writes through a null pointer.
pub fn alloc(len: usize) -> *mut u8 {
    if len == 0 {
        return NonNull::<u8>::dangling().as_ptr();
    }
    let Ok(layout) = Layout::from_size_align(len, 1) else {
        std::process::abort();
    };
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { std::alloc::alloc(layout) };
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    ptr
}

/// `dealloc`: frees `len` bytes at `ptr` from [`alloc`] or a result of [`handle_event`].
///
/// # Safety
/// `ptr` and `len` must come from one of those and not have been freed.
pub unsafe fn dealloc(ptr: *mut u8, len: usize) {
    if len == 0 || ptr.is_null() {
        return;
    }
    // SAFETY: the caller passes a live allocation made with exactly this layout (size `len`,
    // align 1): `alloc` and the boxed result slices both use it.
    unsafe { std::alloc::dealloc(ptr, Layout::from_size_align_unchecked(len, 1)) }
}

/// `handle_event`: runs `handler` on the event at `[ptr, ptr + len)` and returns the packed result.
///
/// The event is not checked for UTF-8 again: the host checks every event before it hands it
/// over (docs/ABI.md §3), and checking 5 KB again cost a sixth of a simple plugin's time.
///
/// # Safety
/// `[ptr, ptr + len)` must be readable for the duration of the call and hold UTF-8, as the ABI
/// guarantees.
pub unsafe fn handle_event<F, O>(ptr: *const u8, len: usize, handler: F) -> i64
where
    F: FnOnce(&Event<'_>) -> O,
    O: IntoOutcome,
{
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { input(ptr, len) };
    // SAFETY: the caller (the host, by the ABI) guarantees UTF-8.
    let event = Event::new(unsafe { std::str::from_utf8_unchecked(bytes) });
    emit(&handler(&event).into_outcome())
}

/// Leaks the outcome's JSON for the host, which frees it with `dealloc(ptr, len)`; `0` for none.
pub fn emit(outcome: &Outcome) -> i64 {
    let Some(json) = result_buffer(outcome) else {
        return 0;
    };
    let len = json.len();
    let ptr = Box::into_raw(json).cast::<u8>();
    // On wasm32 pointers and lengths fit in 32 bits.
    pack(ptr as usize as u32, len as u32)
}

/// The outcome's JSON as exactly `len` bytes with align 1, the layout `dealloc` frees.
fn result_buffer(outcome: &Outcome) -> Option<Box<[u8]>> {
    outcome.to_json_bytes().map(Vec::into_boxed_slice)
}

/// `init`: keeps the config at `[ptr, ptr + len)` and hands it to `init`.
///
/// Returns 0 to accept; on a refusal logs the reason at `ERROR` and returns 1.
///
/// # Safety
/// `[ptr, ptr + len)` must be readable for the duration of the call.
pub unsafe fn init<F, E>(ptr: *const u8, len: usize, init: F) -> i32
where
    F: FnOnce(Config) -> Result<(), E>,
    E: Display,
{
    report_panics_to_the_host();
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { input(ptr, len) };
    let raw = match std::str::from_utf8(bytes) {
        Ok(raw) => raw,
        Err(error) => {
            log::error(&format!("the config is not valid UTF-8: {error}"));
            return 1;
        }
    };
    let config = Config::new(raw);
    config::store(config.clone());
    match init(config) {
        Ok(()) => 0,
        Err(message) => {
            log::error(&message.to_string());
            1
        }
    }
}

/// Sends a panic's message and location to the host's log at `ERROR` before the panic traps
/// (plugins are built with `panic = "abort"`, and wasm32-unknown-unknown has no stderr).
/// Installed by `init`, which the host calls once per instance before any event.
fn report_panics_to_the_host() {
    std::panic::set_hook(Box::new(|info| {
        log::error(&format!("plugin {info}").replace('\n', " "))
    }));
}

/// The init function used when the plugin gives none: accepts any config.
pub fn accept_any(_config: Config) -> Result<(), std::convert::Infallible> {
    Ok(())
}

/// Takes over the answer of a host function (`http_request`, `kube_request`), returned as
/// `(ptr << 32) | len` of a buffer the host allocated with [`alloc`]: copies it out and frees it.
/// `None` when the host returned no buffer.
///
/// # Safety
/// `packed` must be what such a host function returned, and used once.
#[cfg(target_arch = "wasm32")]
pub(crate) unsafe fn take_answer(packed: i64) -> Option<Vec<u8>> {
    let (ptr, len) = crate::abi::unpack(packed);
    if ptr == 0 || len == 0 {
        return None;
    }
    let ptr = ptr as usize as *mut u8;
    let len = len as usize;
    // SAFETY: the host wrote its answer into `len` bytes it got from our `alloc(len)`, and
    // hands them over; they are read once, then freed once with the same length.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec();
    // SAFETY: as above.
    unsafe { dealloc(ptr, len) };
    Some(bytes)
}

/// # Safety
/// `[ptr, ptr + len)` must be readable for the lifetime `'a`.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || ptr.is_null() {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a handler like `handle_event`, then reads and frees the result like the host.
    /// (Natively, pointers do not fit the 32-bit packing.)
    fn call(event: &[u8], handler: fn(&Event<'_>) -> Outcome) -> Option<String> {
        let outcome = match Event::from_bytes(event) {
            Ok(event) => handler(&event).into_outcome(),
            Err(error) => Outcome::error(error.to_string()),
        };
        let buffer = result_buffer(&outcome)?;
        let len = buffer.len();
        let ptr = Box::into_raw(buffer).cast::<u8>();
        // SAFETY: `ptr` is a live slice of `len` bytes.
        let text = String::from_utf8(unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec());
        // SAFETY: freed once, with the layout it was allocated with.
        unsafe { dealloc(ptr, len) };
        text.ok()
    }

    #[test]
    fn none_is_zero() {
        assert_eq!(emit(&Outcome::none()), 0);
    }

    #[test]
    fn invalid_utf8_is_an_error_outcome() {
        let json = call(b"{\"type\":\"\xc3\x28\"}", |_| Outcome::info("unreachable"));
        let json = json.expect("an outcome");
        assert!(json.starts_with(r#"{"level":"ERROR","message":"the event is not valid UTF-8"#));
    }

    #[test]
    fn handler_output() {
        let json = call(
            br#"{"object":{"kind":"Pod","metadata":{"name":"a"}}}"#,
            |e| {
                Outcome::info(format!(
                    "{} {}",
                    e.kind().unwrap_or("?"),
                    e.name().unwrap_or("?")
                ))
            },
        );
        assert_eq!(
            json.as_deref(),
            Some(r#"{"level":"INFO","message":"Pod a"}"#)
        );
    }

    #[test]
    fn alloc_dealloc() {
        let ptr = alloc(0);
        assert!(!ptr.is_null());
        // SAFETY: a zero-length "allocation" is never touched.
        unsafe { dealloc(ptr, 0) };
        let ptr = alloc(100);
        assert!(!ptr.is_null());
        // SAFETY: `ptr` has 100 writable bytes; freed once with the same length.
        unsafe {
            ptr.write_bytes(7, 100);
            dealloc(ptr, 100);
        }
    }

    #[test]
    fn init_stores_the_config_and_reports_refusals() {
        let raw = br#"{"greeting":"hi"}"#;
        // SAFETY: `raw` is readable.
        let code = unsafe { init(raw.as_ptr(), raw.len(), accept_any) };
        assert_eq!(code, 0);
        assert_eq!(
            crate::config().map(Config::raw),
            Some(r#"{"greeting":"hi"}"#)
        );

        // SAFETY: `raw` is readable.
        let code = unsafe {
            init(raw.as_ptr(), raw.len(), |config: Config| {
                assert_eq!(config.raw(), r#"{"greeting":"hi"}"#);
                Err("no thanks")
            })
        };
        assert_eq!(code, 1);

        let bad = b"\xff";
        // SAFETY: `bad` is readable.
        let code = unsafe { init(bad.as_ptr(), bad.len(), accept_any) };
        assert_eq!(code, 1);
    }
}
