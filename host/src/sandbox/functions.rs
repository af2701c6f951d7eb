//! The functions a plugin can import, linked into the runtime's one `Linker` by
//! [`add_to_linker`]: WASI preview 1 (nothing granted, see [`HostState::new`]) and the
//! `event_controller` module's `log`, `http_request`, `kube_request` and `metric` (docs/ABI.md
//! §5–6).

use super::HostState;
use crate::logging;
use event_controller_guest::abi::{self, Level};
use wasmtime::{Caller, Extern, Linker};

/// Adds every function a plugin may import to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |state: &mut HostState| &mut state.wasi)?;
    linker.func_wrap(abi::HOST_MODULE, abi::LOG_IMPORT, host_log)?;
    linker.func_wrap(
        abi::HOST_MODULE,
        abi::HTTP_REQUEST_IMPORT,
        host_http_request,
    )?;
    linker.func_wrap(
        abi::HOST_MODULE,
        abi::KUBE_REQUEST_IMPORT,
        host_kube_request,
    )?;
    linker.func_wrap(abi::HOST_MODULE, abi::METRIC_IMPORT, host_metric)?;
    Ok(())
}

/// `event_controller::log(level, ptr, len)`: logs guest text under the plugin's name.
fn host_log(
    mut caller: Caller<'_, HostState>,
    level: i32,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<()> {
    let Some(Extern::Memory(memory)) = caller.get_export(abi::MEMORY) else {
        wasmtime::bail!("log: the plugin has no memory export");
    };
    let (offset, size) = (ptr as u32 as usize, len as u32 as usize);
    let data = memory.data(&caller);
    let Some(bytes) = offset
        .checked_add(size)
        .and_then(|end| data.get(offset..end))
    else {
        wasmtime::bail!("log: range {offset:#x}+{size} lies outside the plugin's memory");
    };
    let text = String::from_utf8_lossy(&bytes[..size.min(abi::MAX_LOG_LEN)]);
    logging::plugin_line(&caller.data().plugin, "log", Level::from_i32(level), &text);
    Ok(())
}

/// `event_controller::http_request(ptr, len) -> (ptr << 32) | len`: the request JSON in, the
/// answer JSON out (docs/ABI.md §6).
fn host_http_request(caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<i64> {
    request_answer(caller, "http_request", ptr, len, |state, request| {
        serde_json::to_vec(&state.http_request(request))
    })
}

/// `event_controller::kube_request(ptr, len) -> (ptr << 32) | len`: a Kubernetes write
/// (docs/ABI.md §6).
fn host_kube_request(caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<i64> {
    request_answer(caller, "kube_request", ptr, len, |state, request| {
        serde_json::to_vec(&state.kube_request(request))
    })
}

/// `event_controller::metric(ptr, len) -> 0 | 1`: updates one of the plugin's own metrics
/// (docs/ABI.md §6); 1 when refused, the reason logged once.
fn host_metric(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<i32> {
    let (_, request) = read_request(&mut caller, "metric", ptr, len)?;
    Ok(match caller.data().metric(&request) {
        Ok(()) => 0,
        Err(_) => 1,
    })
}

/// The plugin's memory and a copy of the request at `[ptr, ptr+len)` in it.
fn read_request(
    caller: &mut Caller<'_, HostState>,
    function: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<(wasmtime::Memory, Vec<u8>)> {
    let Some(Extern::Memory(memory)) = caller.get_export(abi::MEMORY) else {
        wasmtime::bail!("{function}: the plugin has no memory export");
    };
    let (offset, size) = (ptr as u32 as usize, len as u32 as usize);
    let Some(request) = offset
        .checked_add(size)
        .and_then(|end| memory.data(&*caller).get(offset..end))
        .map(<[u8]>::to_vec)
    else {
        wasmtime::bail!("{function}: range {offset:#x}+{size} lies outside the plugin's memory");
    };
    Ok((memory, request))
}

/// The shape of the request/answer host functions: read the request at `[ptr, ptr+len)`,
/// answer it, and hand the answer back in a buffer from the plugin's own `alloc`, which the
/// plugin frees.
fn request_answer(
    mut caller: Caller<'_, HostState>,
    function: &str,
    ptr: i32,
    len: i32,
    answer: impl FnOnce(&HostState, &[u8]) -> serde_json::Result<Vec<u8>>,
) -> wasmtime::Result<i64> {
    let (memory, request) = read_request(&mut caller, function, ptr, len)?;
    let answer = answer(caller.data(), &request)?;
    let Some(Extern::Func(alloc)) = caller.get_export(abi::ALLOC) else {
        wasmtime::bail!("{function}: the plugin has no alloc export");
    };
    let answer_len = i32::try_from(answer.len())?;
    let out = alloc
        .typed::<i32, i32>(&caller)?
        .call(&mut caller, answer_len)?;
    if memory
        .write(&mut caller, out as u32 as usize, &answer)
        .is_err()
    {
        wasmtime::bail!("{function}: alloc({answer_len}) returned {out:#x}, outside memory");
    }
    Ok(abi::pack(out as u32, answer_len as u32))
}
