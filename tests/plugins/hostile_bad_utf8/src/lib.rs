//! Hostile test plugin: the SDK's `alloc`/`dealloc`, but `handle_event` returns the 3 bytes `ff fe fd`, not valid UTF-8.

use event_controller_guest::{__rt, abi};

#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    __rt::alloc(len)
}

/// # Safety
/// `ptr` must come from `alloc(len)` or be a result of `handle_event`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    unsafe { __rt::dealloc(ptr, len) }
}

#[unsafe(no_mangle)]
pub extern "C" fn handle_event(_ptr: *const u8, _len: usize) -> i64 {
    // Heap-allocated like any result, so the host's `dealloc` of it is valid.
    let result: Box<[u8]> = Box::from(&[0xff_u8, 0xfe, 0xfd][..]);
    let len = result.len();
    let ptr = Box::into_raw(result).cast::<u8>();
    abi::pack(ptr as usize as u32, len as u32)
}
