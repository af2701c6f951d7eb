//! Hostile test plugin: the SDK's `alloc`/`dealloc`, but `handle_event` returns a freshly allocated 100 MiB result, the valid JSON `{"level":"info","message":"xxx…x"}`.

use event_controller_guest::{__rt, abi};

/// The size of the result in bytes: 100 MiB, 100 times the ABI's 1 MiB limit.
const SIZE: usize = 100 * 1024 * 1024;
const HEAD: &[u8] = br#"{"level":"info","message":""#;
const TAIL: &[u8] = br#""}"#;

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
    // Every byte is written, so the 100 MiB really are in guest memory.
    let mut result = vec![b'x'; SIZE];
    result[..HEAD.len()].copy_from_slice(HEAD);
    result[SIZE - TAIL.len()..].copy_from_slice(TAIL);
    // Exactly `SIZE` bytes with align 1: the layout the host's `dealloc(ptr, SIZE)` frees.
    let result = result.into_boxed_slice();
    let len = result.len();
    let ptr = Box::into_raw(result).cast::<u8>();
    abi::pack(ptr as usize as u32, len as u32)
}
