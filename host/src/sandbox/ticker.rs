//! The epoch ticker: the thread that advances the engine's epoch every [`EPOCH_TICK`] while some
//! guest call may be running, which is what makes the calls' epoch deadlines come.
//!
//! An idle controller runs no guest code, so the ticker parks once no call has been in flight
//! for [`LINGER_TICKS`] (no wake-ups at all), and the next call to arm wakes it. Every guest
//! call holds an [`InFlight`] guard from just before it enters the guest until it returns (with
//! a result, a trap or an error).
//!
//! Arming costs three atomic increments (the guard's reference, the count of calls and the
//! count in flight) and, when it is the only call in flight, an unpark: one atomic swap while
//! the ticker is awake, one futex wake when it sleeps. Waking cannot be lost: `unpark` before
//! `park` makes `park` return at once, and the ticker checks the counts again after every
//! wake-up.

use super::EPOCH_TICK;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use wasmtime::EngineWeak;

/// A handle on a runtime's epoch ticker, shared by every instance of its plugins; none for a
/// runtime without deadlines (the default), whose guards do nothing.
///
/// The thread ends once every handle is gone (the last one wakes it to see that), or at its
/// next tick once the engine is gone.
#[derive(Clone, Default)]
pub struct EpochTicker(Option<Arc<Handle>>);

impl std::fmt::Debug for EpochTicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochTicker")
            .field("running", &self.0.is_some())
            .field("in_flight", &self.in_flight())
            .field("ticks", &self.ticks())
            .finish()
    }
}

/// What the handles share; dropping the last one stops the thread.
struct Handle {
    state: Arc<State>,
    /// The ticker's thread, to unpark.
    thread: Thread,
}

/// What the handles and the thread share.
#[derive(Default)]
struct State {
    /// Guest calls armed and not finished yet.
    in_flight: AtomicUsize,
    /// Guest calls armed so far: the ticker lingers after the last one.
    calls: AtomicU64,
    /// Every handle is gone: the thread ends.
    stopped: AtomicBool,
    /// Epoch increments so far.
    ticks: AtomicU64,
}

impl EpochTicker {
    /// Starts the thread advancing the epoch of `engine` while calls are in flight. It starts
    /// parked.
    pub fn start(engine: EngineWeak) -> std::io::Result<EpochTicker> {
        let state = Arc::new(State::default());
        let ticking = state.clone();
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || tick_while_needed(&ticking, &engine))?
            .thread()
            .clone();
        Ok(EpochTicker(Some(Arc::new(Handle { state, thread }))))
    }

    /// Marks one guest call in flight until the guard drops: the ticker ticks (and is woken if
    /// it was parked) meanwhile. Only atomics, but for the one unpark that wakes the ticker.
    pub fn call(&self) -> InFlight {
        if let Some(handle) = &self.0 {
            handle.state.calls.fetch_add(1, Ordering::AcqRel);
            if handle.state.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
                handle.thread.unpark();
            }
        }
        InFlight(self.0.clone())
    }

    /// Whether a thread ticks (false for a runtime without deadlines).
    pub fn is_running(&self) -> bool {
        self.0.is_some()
    }

    /// Guest calls in flight now (0 without a ticker).
    pub fn in_flight(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |handle| handle.state.in_flight.load(Ordering::Acquire))
    }

    /// How many times the ticker has advanced the epoch (0 without a ticker).
    pub fn ticks(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |handle| handle.state.ticks.load(Ordering::Relaxed))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// One guest call in flight, from [`EpochTicker::call`]: the ticker ticks until every such
/// guard is dropped. Hold it across the guest call; dropping it ends the call.
#[must_use = "the ticker stops ticking, and the deadline never comes, once the guard is dropped: hold it across the guest call"]
pub struct InFlight(Option<Arc<Handle>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.state.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Ticks the ticker keeps ticking once no call has been in flight for that long, before it
/// parks: a steady trickle of events (one every few milliseconds) keeps it ticking instead of
/// waking it for every call, and an idle controller parks it after 100 ms.
const LINGER_TICKS: u32 = 10;

/// The ticker's loop: while calls are in flight or have been in the last [`LINGER_TICKS`],
/// advances the epoch every [`EPOCH_TICK`]; otherwise parks until a call wakes it. Ends when
/// every handle or the engine is gone.
///
/// The first tick after a wake-up comes at once, as it may while ticking: a deadline counts
/// the tick running when it is set as already over (see
/// [`Limits::deadline_ticks`](crate::sandbox::Limits::deadline_ticks)), so a call still gets
/// at least its whole timeout.
fn tick_while_needed(state: &State, engine: &EngineWeak) {
    // It starts parked, as after a long quiet.
    let mut seen_calls = state.calls.load(Ordering::Acquire);
    let mut quiet_ticks = LINGER_TICKS;
    while !state.stopped.load(Ordering::Acquire) {
        let calls = state.calls.load(Ordering::Acquire);
        if calls != seen_calls || state.in_flight.load(Ordering::Acquire) > 0 {
            (seen_calls, quiet_ticks) = (calls, 0);
        } else if quiet_ticks >= LINGER_TICKS {
            // A call since the loads unparks first, which makes this return at once; so may a
            // spurious wake-up, after which the loop parks again.
            std::thread::park();
            continue;
        } else {
            quiet_ticks += 1;
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        engine.increment_epoch();
        drop(engine);
        state.ticks.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(EPOCH_TICK);
    }
}

#[cfg(test)]
impl EpochTicker {
    /// Asserts that the ticker is parked: no tick across 100 ms, after 250 ms to settle (it
    /// lingers for [`LINGER_TICKS`] after the last call).
    pub(crate) fn assert_parked(&self) {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let ticks = self.ticks();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(
            self.ticks(),
            ticks,
            "the ticker ticked with no call in flight"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    use wasmtime::{Config, Engine};

    /// Long enough for anything that should happen, on a loaded machine.
    const PATIENCE: Duration = Duration::from_secs(30);

    fn engine() -> Engine {
        let mut config = Config::new();
        config.epoch_interruption(true);
        Engine::new(&config).expect("engine")
    }

    /// Waits (up to [`PATIENCE`]) until `done`.
    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < PATIENCE, "still waiting: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until `ticker` ticks `n` more times.
    fn wait_for_ticks(ticker: &EpochTicker, n: u64) {
        let from = ticker.ticks();
        wait_until("ticks", || ticker.ticks() >= from + n);
    }

    #[test]
    fn ticks_only_while_a_call_is_in_flight() {
        let engine = engine();
        let ticker = EpochTicker::start(engine.weak()).expect("ticker");
        ticker.assert_parked();
        assert_eq!(ticker.ticks(), 0);

        let call = ticker.call();
        assert_eq!(ticker.in_flight(), 1);
        wait_for_ticks(&ticker, 3);
        drop(call);
        assert_eq!(ticker.in_flight(), 0);
        // It lingers (a trickle of calls does not wake it each time), then parks.
        wait_for_ticks(&ticker, 2);
        ticker.assert_parked();

        // Woken again by the next call.
        let call = ticker.call();
        wait_for_ticks(&ticker, 3);
        drop(call);
        ticker.assert_parked();
    }

    #[test]
    fn overlapping_calls_on_two_threads_keep_it_ticking_until_both_end() {
        let engine = engine();
        let ticker = EpochTicker::start(engine.weak()).expect("ticker");
        let (end_first, first_ends) = mpsc::channel::<()>();
        let (started, first_started) = mpsc::channel();
        let first = {
            let ticker = ticker.clone();
            std::thread::spawn(move || {
                let _call = ticker.call();
                started.send(()).expect("test alive");
                first_ends.recv().expect("test alive");
            })
        };
        first_started.recv().expect("first call started");
        let second = {
            let ticker = ticker.clone();
            std::thread::spawn(move || ticker.call())
        }
        .join()
        .expect("second call started");
        assert_eq!(ticker.in_flight(), 2);

        end_first.send(()).expect("first call alive");
        first.join().expect("first call ended");
        assert_eq!(ticker.in_flight(), 1);
        wait_for_ticks(&ticker, 3);

        drop(second);
        assert_eq!(ticker.in_flight(), 0);
        ticker.assert_parked();
    }

    #[test]
    fn the_ticks_advance_the_engines_epoch() {
        let engine = engine();
        let ticker = EpochTicker::start(engine.weak()).expect("ticker");
        let module =
            wasmtime::Module::new(&engine, r#"(module (func (export "f")))"#).expect("module");
        let mut store = wasmtime::Store::new(&engine, ());
        store.epoch_deadline_trap();
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).expect("instance");
        let f = instance
            .get_typed_func::<(), ()>(&mut store, "f")
            .expect("f");
        // Due two ticks from now: a function entry checks it.
        store.set_epoch_deadline(2);
        f.call(&mut store, ()).expect("not due yet");

        let call = ticker.call();
        wait_for_ticks(&ticker, 2);
        drop(call);
        let trap = f.call(&mut store, ()).expect_err("due");
        assert_eq!(
            trap.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::Interrupt)
        );
    }

    #[test]
    fn a_parked_ticker_ends_when_the_last_handle_is_dropped() {
        let engine = engine();
        let ticker = EpochTicker::start(engine.weak()).expect("ticker");
        let state = Arc::downgrade(&ticker.0.as_ref().expect("running").state);
        let other = ticker.clone();
        drop(ticker);
        other.assert_parked();
        assert!(state.upgrade().is_some(), "ended while a handle was left");
        drop(other);
        // The thread holds the state until it ends; the engine is still alive.
        wait_until("the ticker thread to end", || state.upgrade().is_none());
    }

    #[test]
    fn no_ticker_no_ticks() {
        let ticker = EpochTicker::default();
        let call = ticker.call();
        assert_eq!((ticker.in_flight(), ticker.ticks()), (0, 0));
        drop(call);
    }
}
