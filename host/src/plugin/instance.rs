//! One live instance of a plugin: its `Store`, the ABI's exports, and the calls into them.
//!
//! An instance is created once and reused for every event. Any trap poisons it: the caller
//! ([`super::Plugin`]) drops it and starts a fresh one for the next event.

use super::outcome::Outcome;
use super::PluginSettings;
use crate::runtime::MAX_WASM_STACK;
use crate::sandbox::{on_epoch, HostServices, HostState, InFlight, LimitExceeded, Limits};
use event_controller_guest::abi;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Engine, Func, InstancePre, Memory, Store, Trap, TypedFunc};

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
    /// A component's `init` returned an error: the plugin refuses its config, saying why.
    #[error("init refused the plugin's config: {0}")]
    RefusedWith(String),
}

/// Why one `handle_event` call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest trapped; the instance is discarded.
    #[error("trapped: {0}")]
    Trap(String),
    /// The call ran past its deadline and was interrupted; the instance is discarded.
    #[error("timed out: interrupted after its {0:?} deadline")]
    Timeout(Duration),
    /// The call used up its fuel; the instance is discarded.
    #[error("ran out of fuel: {0} units per call")]
    OutOfFuel(u64),
    /// Memory or a table grew past the plugin's limit; the instance is discarded.
    #[error("trapped: {0}")]
    Limit(LimitExceeded),
    /// The wasm stack overflowed (deep recursion); the instance is discarded.
    #[error("trapped: call stack exhausted (the wasm stack limit is {} KiB)", MAX_WASM_STACK >> 10)]
    StackOverflow,
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
        !matches!(self, CallError::BadResult(_) | CallError::Restart(_))
    }

    /// Names a failed call: a limit it ran into, or the trap.
    pub(super) fn from_wasm(
        error: wasmtime::Error,
        timeout: Duration,
        fuel: Option<u64>,
    ) -> CallError {
        if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
            return CallError::Limit(limit.clone());
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallError::Timeout(timeout),
            Some(Trap::OutOfFuel) => CallError::OutOfFuel(fuel.unwrap_or(0)),
            Some(Trap::StackOverflow) => CallError::StackOverflow,
            _ => CallError::Trap(trap_message(error)),
        }
    }
}

/// A live, initialised plugin instance.
pub struct Instance {
    store: Store<HostState>,
    limits: Limits,
    /// The engine meters fuel: every call must be given some.
    metered: bool,
    /// The deadline of the guest code running now (`init_timeout` while starting).
    armed: Duration,
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

pub(super) fn failed(stage: &'static str) -> impl FnOnce(wasmtime::Error) -> StartError {
    move |err| StartError::Failed {
        stage,
        message: trap_message(err),
    }
}

/// Like [`failed`] for the guest code of `_initialize` and `init`, which run under a deadline.
pub(super) fn start_failed(
    stage: &'static str,
    limits: &Limits,
) -> impl FnOnce(wasmtime::Error) -> StartError {
    let (timeout, fuel) = (limits.init_timeout, limits.fuel);
    move |err| StartError::Failed {
        stage,
        message: CallError::from_wasm(err, timeout, fuel).to_string(),
    }
}

impl Instance {
    /// Instantiates the module, runs `_initialize`, checks `ec_abi_version` and runs `init`
    /// with the plugin's config JSON, all within `limits` (`init_timeout` for the guest code).
    pub fn start(
        pre: &InstancePre<HostState>,
        plugin: Arc<str>,
        settings: &PluginSettings,
        services: HostServices,
    ) -> Result<Instance, StartError> {
        let (config_json, limits) = (settings.config_json.as_str(), &settings.limits);
        let state = HostState::new(plugin, limits, &settings.capabilities, services);
        let (mut store, metered) = start_store(pre.module().engine(), state, limits);
        // Instantiation, `_initialize`, `ec_abi_version` and `init` run under one deadline.
        let _starting = arm(&mut store, limits.init_timeout, limits.fuel, metered);
        let instance = pre
            .instantiate(&mut store)
            .map_err(start_failed("instantiation", limits))?;
        let mut started =
            Instance::bind(store, &instance, *limits, metered).map_err(failed("instantiation"))?;
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
        limits: Limits,
        metered: bool,
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
            armed: limits.init_timeout,
            limits,
            metered,
        })
    }

    fn run_initialize(&mut self, initialize: Func) -> Result<(), StartError> {
        let result = initialize
            .typed::<(), ()>(&self.store)
            .and_then(|f| f.call(&mut self.store, ()));
        self.store.data().flush_output();
        result.map_err(start_failed(abi::INITIALIZE, &self.limits))
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
                message: error.to_string(),
            })?;
        match code {
            0 => Ok(()),
            refused => Err(StartError::Refused(refused)),
        }
    }

    /// Bytes of linear memory the instance holds.
    pub fn memory_bytes(&mut self) -> usize {
        self.memory.data_size(&self.store)
    }

    /// Calls `handle_event` with one event's JSON and reads the outcome, within the plugin's
    /// `call_timeout` (and fuel).
    pub fn handle_event(&mut self, event: &[u8]) -> Result<Outcome, CallError> {
        self.armed = self.limits.call_timeout;
        // Held until the result is read: `alloc`, the call and `dealloc` all run guest code.
        let _in_flight = arm(&mut self.store, self.armed, self.limits.fuel, self.metered);
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
            .map_err(|e| self.failure(e, "in alloc: "))?;
        let offset = ptr as u32 as usize;
        if let Err(_out_of_bounds) = self.memory.write(&mut self.store, offset, input) {
            return Err(CallError::BadAlloc {
                len: input.len(),
                ptr: ptr as u32,
                memory_size: self.memory.data_size(&self.store),
            });
        }
        let result = call(&mut self.store, ptr, len).map_err(|e| self.failure(e, ""))?;
        self.dealloc
            .call(&mut self.store, (ptr, len))
            .map_err(|e| self.failure(e, "in dealloc: "))?;
        Ok(result)
    }

    /// Names a failed guest call; `during` prefixes a plain trap's message.
    fn failure(&self, error: wasmtime::Error, during: &str) -> CallError {
        match CallError::from_wasm(error, self.armed, self.limits.fuel) {
            CallError::Trap(message) => CallError::Trap(format!("{during}{message}")),
            other => other,
        }
    }

    /// Reads and frees the result buffer packed in `handle_event`'s return value (`0`: nothing
    /// to log, no retry).
    fn take_result(&mut self, packed: i64) -> Result<Outcome, CallError> {
        if packed == 0 {
            return Ok(Outcome::none());
        }
        let (ptr, len) = abi::unpack(packed);
        let (offset, size) = (ptr as usize, len as usize);
        let data = self.memory.data(&self.store);
        // Out of bounds: nothing the host could free.
        let bytes = offset
            .checked_add(size)
            .and_then(|end| data.get(offset..end))
            .ok_or_else(|| {
                CallError::BadResult(format!(
                    "result range {offset:#x}+{size} lies outside the {}-byte memory",
                    data.len()
                ))
            })?;
        // In bounds, even when rejected, the buffer is freed so that the instance can go on.
        let parsed = if size > abi::MAX_RESULT_LEN {
            Err(CallError::BadResult(format!(
                "result of {size} bytes is larger than the {} byte limit",
                abi::MAX_RESULT_LEN
            )))
        } else {
            Outcome::parse(bytes).map_err(CallError::BadResult)
        };
        self.dealloc
            .call(&mut self.store, (ptr as i32, len as i32))
            .map_err(|e| self.failure(e, "in dealloc: "))?;
        parsed
    }
}

/// The store of a new instance holding `state`: the limiter installed when there is a cap and a
/// deadline trap; [`arm`] it with `init_timeout` for instantiation and `init`. Also says
/// whether the engine meters fuel.
pub(super) fn start_store(
    engine: &Engine,
    state: HostState,
    limits: &Limits,
) -> (Store<HostState>, bool) {
    let mut store = Store::new(engine, state);
    if limits.memory != usize::MAX || limits.table_elements != usize::MAX {
        store.limiter(|state| state.limiter());
    }
    store.epoch_deadline_callback(|store| Ok(on_epoch(store.data().deadline())));
    let metered = store.get_fuel().is_ok();
    (store, metered)
}

/// Gives the guest code about to run its deadline and, when the engine meters fuel, its fuel
/// (all it wants when the plugin has no fuel limit). The deadline comes only while the guard
/// returned is held (the epoch ticker wakes only for the deadlines of calls in flight): hold it
/// until the guest code has returned, with a result, a trap or an error.
pub(super) fn arm(
    store: &mut Store<HostState>,
    timeout: Duration,
    fuel: Option<u64>,
    metered: bool,
) -> InFlight {
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
    store.data_mut().set_deadline(deadline);
    // The next increment: the ticker makes it once some call's deadline has passed, and
    // `on_epoch` then interrupts this call only if its own has.
    store.set_epoch_deadline(1);
    if metered {
        // Cannot fail: the engine meters fuel.
        let _ = store.set_fuel(fuel.unwrap_or(u64::MAX));
    }
    store.data().call_in_flight()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::plugin::{LoadError, Plugin, PluginSettings};
    use crate::runtime::Runtime;
    use std::path::Path;
    use std::sync::mpsc::{self, RecvTimeoutError};

    /// Long enough for anything that should happen, on a loaded machine.
    const PATIENCE: Duration = Duration::from_secs(30);

    /// Runs `call`, which should end at a deadline of `engine`'s. If it has not returned
    /// within [`PATIENCE`], a watchdog advances the epoch itself, so that a ticker that does
    /// not tick fails the test instead of hanging it.
    pub(in crate::plugin) fn within_patience<R>(engine: &Engine, call: impl FnOnce() -> R) -> R {
        let (done, finished) = mpsc::channel::<()>();
        let engine = engine.clone();
        let watchdog = std::thread::spawn(move || {
            let mut patience = PATIENCE;
            let mut rescued = false;
            while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(patience) {
                (patience, rescued) = (Duration::from_millis(10), true);
                engine.increment_epoch();
            }
            rescued
        });
        let result = call();
        drop(done);
        let rescued = watchdog.join().expect("the watchdog ends");
        assert!(
            !rescued,
            "the call ended only once the watchdog ticked: the ticker did not"
        );
        result
    }

    /// A plugin whose `handle_event` spins forever on any event but `{}`, and whose `init`
    /// spins forever on any config but `{}`.
    const SPINNER: &str = r#"(module
        (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) (i32.const 1024))
        (func (export "dealloc") (param i32 i32))
        (func $spin_unless_empty (param $len i32)
            (if (i32.gt_u (local.get $len) (i32.const 2))
                (then (loop $forever (br $forever)))))
        (func (export "init") (param i32) (param $len i32) (result i32)
            (call $spin_unless_empty (local.get $len))
            (i32.const 0))
        (func (export "handle_event") (param i32) (param $len i32) (result i64)
            (call $spin_unless_empty (local.get $len))
            (i64.const 0)))"#;

    fn settings(call_timeout: Duration, config_json: &str) -> PluginSettings {
        let mut settings = PluginSettings {
            config_json: config_json.to_owned(),
            ..PluginSettings::default()
        };
        settings.limits.call_timeout = call_timeout;
        settings.limits.init_timeout = Duration::from_millis(100);
        settings
    }

    fn spinner(runtime: &Runtime, call_timeout: Duration) -> Plugin {
        let bytes = wat::parse_str(SPINNER).expect("valid WAT");
        let settings = settings(call_timeout, "{}");
        Plugin::from_bytes(runtime, Path::new("spinner.wasm"), &bytes, settings).expect("loads")
    }

    /// Calls `plugin` (of `engine`) with an event it spins on; asserts that it timed out, no
    /// sooner than `timeout`.
    fn assert_times_out(engine: &Engine, plugin: &mut Plugin, timeout: Duration) {
        let started = Instant::now();
        let result = within_patience(engine, || plugin.handle_event(br#"{"spin":true}"#));
        assert!(
            matches!(result, Err(CallError::Timeout(t)) if t == timeout),
            "{result:?}"
        );
        assert!(
            started.elapsed() >= timeout,
            "interrupted before its deadline"
        );
    }

    #[test]
    fn a_stuck_call_traps_at_its_deadline_after_the_ticker_parked() {
        let runtime = Runtime::new().expect("runtime");
        let ticker = runtime.epoch_ticker();
        let mut plugin = spinner(&runtime, Duration::from_millis(200));
        assert!(plugin.handle_event(b"{}").expect("handled").is_none());
        assert_eq!(ticker.in_flight(), 0);
        ticker.assert_idle();

        assert_times_out(runtime.engine(), &mut plugin, Duration::from_millis(200));
        assert_eq!(ticker.in_flight(), 0, "the trapped call is still in flight");
        ticker.assert_idle();
    }

    #[test]
    fn a_stuck_init_traps_at_its_deadline_on_a_parked_ticker() {
        let runtime = Runtime::new().expect("runtime");
        runtime.epoch_ticker().assert_idle();
        let bytes = wat::parse_str(SPINNER).expect("valid WAT");
        let settings = settings(Duration::from_secs(1), r#"{"spin":true}"#);
        let error = within_patience(runtime.engine(), || {
            Plugin::from_bytes(&runtime, Path::new("spinner.wasm"), &bytes, settings)
        })
        .err()
        .expect("init interrupted");
        assert!(
            matches!(&error, LoadError::Start { cause: StartError::Failed { stage: "init", message }, .. }
                if message.contains("timed out")),
            "{error}"
        );
        assert_eq!(runtime.epoch_ticker().in_flight(), 0);
        runtime.epoch_ticker().assert_idle();
    }

    #[test]
    fn overlapping_stuck_calls_on_two_threads_both_reach_their_deadlines() {
        let runtime = Runtime::new().expect("runtime");
        let ticker = runtime.epoch_ticker().clone();
        let (long, short) = (Duration::from_millis(1000), Duration::from_millis(200));
        let mut slow = spinner(&runtime, long);
        let mut quick = spinner(&runtime, short);
        let (done, slow_done) = mpsc::channel();
        let engine = runtime.engine().clone();
        std::thread::spawn(move || {
            assert_times_out(&engine, &mut slow, long);
            let _ = done.send(());
        });
        let started = Instant::now();
        while ticker.in_flight() == 0 {
            assert!(started.elapsed() < PATIENCE, "the slow call never started");
            std::thread::sleep(Duration::from_millis(1));
        }

        // The quick call ends first; the slow one must still be interrupted after it.
        assert_times_out(runtime.engine(), &mut quick, short);
        slow_done
            .recv_timeout(PATIENCE)
            .expect("the slow call reached its deadline");
        assert_eq!(ticker.in_flight(), 0);
        ticker.assert_idle();
    }
}
