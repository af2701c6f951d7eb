//! Hostile test plugin: the SDK's `alloc`/`dealloc`, but `handle_event` returns a real heap pointer with a length that ends exactly 1 byte past the end of memory (and stays under the 1 MiB result limit).

use std::sync::atomic::{AtomicUsize, Ordering};

use event_controller_guest::{__rt, abi};

/// The JSON at the start of the result (valid, so only the length is wrong).
const HEAD: &[u8] = br#"{"level":"INFO","message":"hostile_result_past_memory"}"#;

/// The result buffer, allocated once per instance and never freed.
static RESULT: AtomicUsize = AtomicUsize::new(0);

fn result_ptr() -> usize {
    match RESULT.load(Ordering::Relaxed) {
        0 => {
            let ptr = Box::leak(Box::<[u8]>::from(HEAD)).as_mut_ptr() as usize;
            RESULT.store(ptr, Ordering::Relaxed);
            ptr
        }
        ptr => ptr,
    }
}

/// The size of linear memory in bytes.
fn memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) * 65536;
    // Natively (for `cargo clippy --workspace`) there is no linear memory.
    #[cfg(not(target_arch = "wasm32"))]
    return u32::MAX as usize;
}

#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    __rt::alloc(len)
}

/// # Safety
/// `ptr` must come from `alloc(len)` (the bogus result range is ignored).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    if ptr as usize == RESULT.load(Ordering::Relaxed) {
        return;
    }
    unsafe { __rt::dealloc(ptr, len) }
}

#[unsafe(no_mangle)]
pub extern "C" fn handle_event(_ptr: *const u8, _len: usize) -> i64 {
    // `ptr` is inside memory; `ptr + len` is 1 byte past its end. The heap starts after the
    // 1 MiB stack and memory grows only for large events, so `len` is some 10-100 KiB: under
    // the 1 MiB result limit, so it is the range check, not the size check, that must catch it.
    let ptr = result_ptr();
    let len = memory_bytes().wrapping_sub(ptr).wrapping_add(1);
    abi::pack(ptr as u32, len as u32)
}
