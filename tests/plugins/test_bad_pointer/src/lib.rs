//! Test plugin: the SDK's `alloc`/`dealloc`, but `handle_event` returns `pack(0xFFFF_FF00, 4096)`, a range outside memory.

use event_controller_guest::{__rt, abi};

const BAD_PTR: u32 = 0xFFFF_FF00;
const BAD_LEN: u32 = 4096;

#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    __rt::alloc(len)
}

/// # Safety
/// `ptr` must come from `alloc(len)` (the bogus result range is ignored).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    if ptr as usize == BAD_PTR as usize {
        return;
    }
    unsafe { __rt::dealloc(ptr, len) }
}

#[unsafe(no_mangle)]
pub extern "C" fn handle_event(_ptr: *const u8, _len: usize) -> i64 {
    abi::pack(BAD_PTR, BAD_LEN)
}
