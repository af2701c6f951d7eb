//! One live instance of a plugin: its `Store`, the ABI's exports, and the calls into them.
//!
//! An instance is created once and reused for every event. Any trap poisons it: the caller
//! ([`super::Plugin`]) drops it and starts a fresh one for the next event.

use super::outcome::Outcome;
use super::output::CapturedOutput;
use event_controller_guest::abi::{self, Level};
use std::sync::Arc;
use wasmtime::{Func, InstancePre, Memory, Store, StoreLimits, StoreLimitsBuilder, TypedFunc};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;

/// Linear memory one instance may grow to.
pub const MEMORY_LIMIT: usize = 256 << 20;

/// The host side of one instance's `Store`.
pub struct HostState {
    /// The plugin's name, for the log lines the instance causes.
    pub(crate) plugin: Arc<str>,
    pub(crate) wasi: WasiP1Ctx,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
    limits: StoreLimits,
}

impl HostState {
    fn new(plugin: Arc<str>) -> HostState {
        let stdout = CapturedOutput::default();
        let stderr = CapturedOutput::default();
        // Nothing granted: no preopens, no env, no args, no network. Clocks and random work.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build_p1();
        HostState {
            plugin,
            wasi,
            stdout,
            stderr,
            limits: StoreLimitsBuilder::new().memory_size(MEMORY_LIMIT).build(),
        }
    }

    /// Logs what the plugin wrote to stdout (INFO) and stderr (WARN) since the last call.
    fn flush_output(&self) {
        for (stream, output, level) in [
            ("stdout", &self.stdout, Level::Info),
            ("stderr", &self.stderr, Level::Warn),
        ] {
            let drained = output.drain();
            for line in &drained.lines {
                crate::logging::plugin_line(&self.plugin, stream, level, line);
            }
            if drained.dropped > 0 {
                tracing::warn!(plugin = %self.plugin, stream, dropped_bytes = drained.dropped,
                    "plugin output exceeded the buffer; the rest was dropped");
            }
        }
    }
}

/// Why an instance could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Instantiation, `_initialize`, `ec_abi_version` or `init` trapped or failed.
    #[error("{stage} failed: {message}")]
    Failed {
        /// What was being done: `instantiation`, `_initialize`, `init`...
        stage: &'static str,
        /// The trap or error.
        message: String,
    },
    /// The module declares an ABI version this host does not speak.
    #[error("plugin requires ABI version {0}; this host supports {supported}", supported = abi::ABI_VERSION)]
    AbiVersion(i32),
    /// `init` returned non-zero: the plugin refuses its config.
    #[error("init refused the plugin's config (returned {0})")]
    Refused(i32),
}

/// Why one `handle_event` call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest trapped; the instance is discarded.
    #[error("trapped: {0}")]
    Trap(String),
    /// `alloc` returned a range outside memory; the instance is discarded.
    #[error("alloc({len}) returned {ptr:#x}, outside the {memory_size}-byte memory")]
    BadAlloc {
        /// Requested length.
        len: usize,
        /// The pointer `alloc` returned.
        ptr: u32,
        /// The memory's size at the time.
        memory_size: usize,
    },
    /// The result could not be read or parsed; the instance is kept.
    #[error("bad result: {0}")]
    BadResult(String),
    /// No instance could be started for this event.
    #[error("could not start a fresh instance: {0}")]
    Restart(StartError),
}

impl CallError {
    /// True when the instance must not be used again.
    pub fn poisons_instance(&self) -> bool {
        matches!(self, CallError::Trap(_) | CallError::BadAlloc { .. })
    }
}

/// A live, initialised plugin instance.
pub struct Instance {
    store: Store<HostState>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    dealloc: TypedFunc<(i32, i32), ()>,
    handle_event: TypedFunc<(i32, i32), i64>,
}

fn trap_message(err: wasmtime::Error) -> String {
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{err:#}"),
    }
}

fn failed(stage: &'static str) -> impl FnOnce(wasmtime::Error) -> StartError {
    move |err| StartError::Failed {
        stage,
        message: trap_message(err),
    }
}

impl Instance {
    /// Instantiates the module, runs `_initialize`, checks `ec_abi_version` and runs `init`
    /// with the plugin's config JSON.
    pub fn start(
        pre: &InstancePre<HostState>,
        plugin: Arc<str>,
        config_json: &str,
    ) -> Result<Instance, StartError> {
        let mut store = Store::new(pre.module().engine(), HostState::new(plugin));
        store.limiter(|state| &mut state.limits);
        let instance = pre
            .instantiate(&mut store)
            .map_err(failed("instantiation"))?;
        let mut started = Instance::bind(store, &instance).map_err(failed("instantiation"))?;
        if let Some(initialize) = instance.get_func(&mut started.store, abi::INITIALIZE) {
            started.run_initialize(initialize)?;
        }
        if let Some(version) = instance.get_func(&mut started.store, abi::ABI_VERSION_EXPORT) {
            started.check_abi_version(version)?;
        }
        if let Some(init) = instance.get_func(&mut started.store, abi::INIT) {
            started.run_init(init, config_json)?;
        }
        Ok(started)
    }

    /// Looks up the required exports; `abi::check` has verified their presence and types.
    fn bind(
        mut store: Store<HostState>,
        instance: &wasmtime::Instance,
    ) -> wasmtime::Result<Instance> {
        let memory = instance
            .get_memory(&mut store, abi::MEMORY)
            .ok_or_else(|| wasmtime::format_err!("no memory export"))?;
        Ok(Instance {
            alloc: instance.get_typed_func(&mut store, abi::ALLOC)?,
            dealloc: instance.get_typed_func(&mut store, abi::DEALLOC)?,
            handle_event: instance.get_typed_func(&mut store, abi::HANDLE_EVENT)?,
            memory,
            store,
        })
    }

    fn run_initialize(&mut self, initialize: Func) -> Result<(), StartError> {
        let result = initialize
            .typed::<(), ()>(&self.store)
            .and_then(|f| f.call(&mut self.store, ()));
        self.store.data().flush_output();
        result.map_err(failed(abi::INITIALIZE))
    }

    fn check_abi_version(&mut self, version: Func) -> Result<(), StartError> {
        let version = version
            .typed::<(), i32>(&self.store)
            .and_then(|f| f.call(&mut self.store, ()))
            .map_err(failed(abi::ABI_VERSION_EXPORT))?;
        match version {
            abi::ABI_VERSION => Ok(()),
            other => Err(StartError::AbiVersion(other)),
        }
    }

    fn run_init(&mut self, init: Func, config_json: &str) -> Result<(), StartError> {
        let init = init
            .typed::<(i32, i32), i32>(&self.store)
            .map_err(failed(abi::INIT))?;
        let code = self
            .with_input(config_json.as_bytes(), |store, ptr, len| {
                init.call(store, (ptr, len))
            })
            .map_err(|error| StartError::Failed {
                stage: abi::INIT,
                message: match error {
                    CallError::Trap(message) => message,
                    other => other.to_string(),
                },
            })?;
        match code {
            0 => Ok(()),
            refused => Err(StartError::Refused(refused)),
        }
    }

    /// Calls `handle_event` with one event's JSON and reads the outcome.
    pub fn handle_event(&mut self, event: &[u8]) -> Result<Option<Outcome>, CallError> {
        let handle_event = self.handle_event.clone();
        let packed = self.with_input(event, |store, ptr, len| {
            handle_event.call(store, (ptr, len))
        })?;
        self.take_result(packed)
    }

    /// Copies `input` into guest memory from `alloc`, runs `call`, frees the input, and flushes
    /// the plugin's output to the log.
    fn with_input<R>(
        &mut self,
        input: &[u8],
        call: impl FnOnce(&mut Store<HostState>, i32, i32) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let result = self.call_with_input(input, call);
        self.store.data().flush_output();
        result
    }

    fn call_with_input<R>(
        &mut self,
        input: &[u8],
        call: impl FnOnce(&mut Store<HostState>, i32, i32) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let len = i32::try_from(input.len()).map_err(|_| {
            CallError::BadResult(format!("input of {} bytes is too large", input.len()))
        })?;
        let ptr = self
            .alloc
            .call(&mut self.store, len)
            .map_err(|e| CallError::Trap(format!("in alloc: {}", trap_message(e))))?;
        let offset = ptr as u32 as usize;
        if let Err(_out_of_bounds) = self.memory.write(&mut self.store, offset, input) {
            return Err(CallError::BadAlloc {
                len: input.len(),
                ptr: ptr as u32,
                memory_size: self.memory.data_size(&self.store),
            });
        }
        let result =
            call(&mut self.store, ptr, len).map_err(|e| CallError::Trap(trap_message(e)))?;
        self.dealloc
            .call(&mut self.store, (ptr, len))
            .map_err(|e| CallError::Trap(format!("in dealloc: {}", trap_message(e))))?;
        Ok(result)
    }

    /// Reads and frees the result buffer packed in `handle_event`'s return value.
    fn take_result(&mut self, packed: i64) -> Result<Option<Outcome>, CallError> {
        if packed == 0 {
            return Ok(None);
        }
        let (ptr, len) = abi::unpack(packed);
        let (offset, size) = (ptr as usize, len as usize);
        if size > abi::MAX_RESULT_LEN {
            return Err(CallError::BadResult(format!(
                "result of {size} bytes is larger than the {} byte limit",
                abi::MAX_RESULT_LEN
            )));
        }
        let data = self.memory.data(&self.store);
        let bytes = offset
            .checked_add(size)
            .and_then(|end| data.get(offset..end))
            .ok_or_else(|| {
                CallError::BadResult(format!(
                    "result range {offset:#x}+{size} lies outside the {}-byte memory",
                    data.len()
                ))
            })?;
        let parsed = Outcome::parse(bytes).map_err(CallError::BadResult);
        self.dealloc
            .call(&mut self.store, (ptr as i32, len as i32))
            .map_err(|e| CallError::Trap(format!("in dealloc: {}", trap_message(e))))?;
        parsed
    }
}
