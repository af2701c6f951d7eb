//! Hostile test plugin: `alloc` returns `0xFFFF_FFF0`, outside memory, for every length; `dealloc` is normal and `handle_event` would log INFO `hostile_bad_alloc handled`.

use event_controller_guest::{__rt, abi};

const BAD_PTR: usize = 0xFFFF_FFF0;

#[unsafe(no_mangle)]
pub extern "C" fn alloc(_len: usize) -> *mut u8 {
    std::ptr::without_provenance_mut(BAD_PTR)
}

/// # Safety
/// `ptr` must be `BAD_PTR` (ignored) or a result of `handle_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    if ptr as usize == BAD_PTR {
        return;
    }
    unsafe { __rt::dealloc(ptr, len) }
}

#[unsafe(no_mangle)]
pub extern "C" fn handle_event(_ptr: *const u8, _len: usize) -> i64 {
    // Never reads the input (it would be at `BAD_PTR`); returns a valid, heap-allocated result.
    let result: Box<[u8]> =
        Box::from(&br#"{"level":"INFO","message":"hostile_bad_alloc handled"}"#[..]);
    let len = result.len();
    let ptr = Box::into_raw(result).cast::<u8>();
    abi::pack(ptr as usize as u32, len as u32)
}
