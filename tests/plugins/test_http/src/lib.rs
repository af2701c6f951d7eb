//! Test plugin: on every event, sends the request in its config (`{"request": {...}}`, the JSON of docs/ABI.md §6, with `{name}` replaced by the object's name) through the raw `http_request` import (or `kube_request` with `"function": "kube_request"`), and logs INFO with the answer JSON exactly as the host returned it.
//! With `"then": {...}` as well, it sends that request right after the first and logs both
//! answers as a JSON array, `[first,then]`.

//!
//! The imports are declared by hand on purpose, not used through the SDK's `http` and `kube`
//! modules: those parse the answer, and the tests check the host's JSON byte for byte.

use event_controller_guest::{__rt, abi, export_plugin, Config, Event, Outcome};
use std::sync::OnceLock;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "event_controller")]
extern "C" {
    fn http_request(ptr: *const u8, len: usize) -> i64;
    fn kube_request(ptr: *const u8, len: usize) -> i64;
}

/// Native builds (clippy, unit tests) have no host: answer as a denied request would.
#[cfg(not(target_arch = "wasm32"))]
unsafe fn http_request(_ptr: *const u8, _len: usize) -> i64 {
    0
}

#[cfg(not(target_arch = "wasm32"))]
unsafe fn kube_request(_ptr: *const u8, _len: usize) -> i64 {
    0
}

static REQUEST: OnceLock<serde_json::Value> = OnceLock::new();
static THEN: OnceLock<serde_json::Value> = OnceLock::new();
static KUBE: OnceLock<bool> = OnceLock::new();

fn init(config: Config) -> Result<(), String> {
    let config: serde_json::Value = config.parse().map_err(|e| e.to_string())?;
    let request = config
        .get("request")
        .cloned()
        .ok_or("config needs a `request` object")?;
    let _ = REQUEST.set(request);
    if let Some(then) = config.get("then") {
        let _ = THEN.set(then.clone());
    }
    let _ = KUBE.set(config.get("function").and_then(|f| f.as_str()) == Some("kube_request"));
    Ok(())
}

fn handle_event(event: &Event) -> Outcome {
    let Some(template) = REQUEST.get() else {
        return Outcome::error("no request configured");
    };
    let name = event.name().unwrap_or_default();
    let Some(answer) = send(template, name) else {
        return Outcome::error("no answer");
    };
    let Some(then) = THEN.get() else {
        return Outcome::info(answer);
    };
    match send(then, name) {
        Some(then) => Outcome::info(format!("[{answer},{then}]")),
        None => Outcome::error("no answer"),
    }
}

/// Sends `template` with `{name}` replaced; the host's answer as it came.
fn send(template: &serde_json::Value, name: &str) -> Option<String> {
    let request = template.to_string().replace("{name}", name);
    // SAFETY: the host reads `request` during the call and returns a buffer it allocated with
    // our `alloc`, which we free below.
    let packed = if KUBE.get() == Some(&true) {
        unsafe { kube_request(request.as_ptr(), request.len()) }
    } else {
        unsafe { http_request(request.as_ptr(), request.len()) }
    };
    if packed == 0 {
        return None;
    }
    let (ptr, len) = abi::unpack(packed);
    // SAFETY: the host wrote `len` bytes at `ptr`, from our own `alloc`.
    let answer = unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len as usize) };
    let text = String::from_utf8_lossy(answer).into_owned();
    // SAFETY: the buffer came from `alloc(len)` and is not used after this.
    unsafe { __rt::dealloc(ptr as usize as *mut u8, len as usize) };
    Some(text)
}

export_plugin!(handle_event, init = init);
