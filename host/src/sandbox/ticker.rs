//! The epoch ticker: the thread that advances the engine's epoch when a guest call's deadline
//! has passed, which is what interrupts the call.
//!
//! Every guest call holds an [`InFlight`] guard, registered with its deadline, from just before
//! it enters the guest until it returns (with a result, a trap or an error). The ticker sleeps
//! until the earliest deadline registered and only then increments the epoch. Each store running
//! guest code then asks its epoch callback ([`on_epoch`]) whether its own deadline has come: the
//! call past it traps, the others go on until the next increment.
//!
//! So calls that end in time cost no tick at all. The ticker is woken only when a call's
//! deadline is earlier than the moment it sleeps until: the first call after an idle spell, or
//! one with a shorter timeout. A stream of fast calls with the same timeout wakes it about once
//! per timeout (it wakes at the first call's deadline, finds later ones, and sleeps on), where
//! ticking every [`EPOCH_TICK`] while calls ran woke it a hundred times a second. An idle
//! controller's ticker is parked. Arming costs a lock, a push and, rarely, an unpark; the guard's
//! drop a lock and a removal. Waking cannot be lost: calls register, and the ticker reads them
//! and says when it wakes next, under one lock, and an `unpark` before `park` makes `park`
//! return at once.

use super::EPOCH_TICK;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::Instant;
use wasmtime::{EngineWeak, UpdateDeadline};

/// A handle on a runtime's epoch ticker, shared by every instance of its plugins; none for a
/// runtime without deadlines (the default), whose guards do nothing.
///
/// The thread ends once every handle is gone (the last one wakes it to see that), or when it
/// finds the engine gone.
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
    calls: Mutex<Calls>,
    /// Every handle is gone: the thread ends.
    stopped: AtomicBool,
    /// Epoch increments so far.
    ticks: AtomicU64,
}

/// The calls in flight, and when the ticker looks at them next.
#[derive(Default)]
struct Calls {
    /// Each call's number and deadline.
    deadlines: Vec<(u64, Instant)>,
    /// The number the next call gets.
    next: u64,
    /// When the ticker wakes on its own; `None` while it is parked until woken.
    wakes_at: Option<Instant>,
}

impl State {
    fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EpochTicker {
    /// Starts the thread advancing the epoch of `engine` when a call's deadline passes. It
    /// starts parked.
    pub fn start(engine: EngineWeak) -> std::io::Result<EpochTicker> {
        let state = Arc::new(State::default());
        let ticking = state.clone();
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || tick_at_deadlines(&ticking, &engine))?
            .thread()
            .clone();
        Ok(EpochTicker(Some(Arc::new(Handle { state, thread }))))
    }

    /// Marks a guest call due by `deadline` in flight until the guard drops, waking the ticker
    /// if it would otherwise sleep past the deadline.
    pub fn call(&self, deadline: Instant) -> InFlight {
        let Some(handle) = &self.0 else {
            return InFlight(None);
        };
        let (number, wake) = {
            let mut calls = handle.state.calls();
            let number = calls.next;
            calls.next += 1;
            calls.deadlines.push((number, deadline));
            let wake = calls.wakes_at.is_none_or(|at| deadline < at);
            if wake {
                calls.wakes_at = Some(deadline);
            }
            (number, wake)
        };
        if wake {
            handle.thread.unpark();
        }
        InFlight(Some((handle.clone(), number)))
    }

    /// Whether a thread ticks (the runtime has deadlines).
    pub fn is_running(&self) -> bool {
        self.0.is_some()
    }

    /// Guest calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |handle| handle.state.calls().deadlines.len())
    }

    /// Epoch increments so far.
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

/// A guest call in flight (see [`EpochTicker::call`]); dropping it ends the call for the ticker.
#[must_use = "the call's deadline comes only while the guard is held: hold it across the guest call"]
pub struct InFlight(Option<(Arc<Handle>, u64)>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some((handle, number)) = &self.0 {
            let mut calls = handle.state.calls();
            if let Some(at) = calls.deadlines.iter().position(|(n, _)| n == number) {
                calls.deadlines.swap_remove(at);
            }
        }
    }
}

/// What a store does when the epoch reaches its epoch deadline (set one increment ahead when a
/// call is armed): interrupt the call if its `deadline` has come, else wait for the next
/// increment.
pub fn on_epoch(deadline: Instant) -> UpdateDeadline {
    if Instant::now() >= deadline {
        UpdateDeadline::Interrupt
    } else {
        UpdateDeadline::Continue(1)
    }
}

/// The ticker's loop: sleeps until the earliest deadline in flight (parked while there is none),
/// then increments the epoch, and again every [`EPOCH_TICK`] while that call has not returned
/// (it traps at its next check, which guest code running in a host function reaches only once
/// the function returns).
fn tick_at_deadlines(state: &State, engine: &EngineWeak) {
    while !state.stopped.load(Ordering::Acquire) {
        let now = Instant::now();
        let earliest = {
            let mut calls = state.calls();
            let earliest = calls.deadlines.iter().map(|(_, at)| *at).min();
            // Past it, the ticker looks again a tick after its increment.
            calls.wakes_at = earliest.map(|at| if at > now { at } else { now + EPOCH_TICK });
            earliest
        };
        match earliest {
            None => std::thread::park(),
            Some(at) if at > now => std::thread::park_timeout(at - now),
            Some(_) => {
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                engine.increment_epoch();
                drop(engine);
                state.ticks.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(EPOCH_TICK);
            }
        }
    }
}

#[cfg(test)]
impl EpochTicker {
    /// Asserts that the ticker does not tick: none across 100 ms, after 50 ms for a last tick
    /// for a call that just ended to come.
    pub(crate) fn assert_idle(&self) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let ticks = self.ticks();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(
            self.ticks(),
            ticks,
            "the ticker ticked with no call past its deadline"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;
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

    fn in_ms(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn calls_that_end_before_their_deadline_cost_no_tick() {
        let engine = engine();
        let ticker = EpochTicker::start(engine.weak()).expect("ticker");
        ticker.assert_idle();
        for _ in 0..50 {
            let call = ticker.call(in_ms(200));
            assert_eq!(ticker.in_flight(), 1);
            std::thread::sleep(Duration::from_millis(2));
            drop(call);
        }
        assert_eq!(ticker.in_flight(), 0);
        // Past every deadline those calls had: still no tick.
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(ticker.ticks(), 0);
    }

    #[test]
    fn a_call_past_its_deadline_gets_a_tick_then_one_per_tick_until_it_returns() {
        let engine = engine();
        let ticker = EpochTicker::start(engine.weak()).expect("ticker");
        let started = Instant::now();
        let call = ticker.call(in_ms(100));
        wait_until("the first tick", || ticker.ticks() >= 1);
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "ticked before the deadline"
        );
        // The call has not returned (stuck in a host function, say): the ticker keeps ticking.
        wait_until("more ticks", || ticker.ticks() >= 3);
        drop(call);
        std::thread::sleep(EPOCH_TICK * 2);
        ticker.assert_idle();
    }

    #[test]
    fn a_shorter_deadline_wakes_a_ticker_sleeping_until_a_later_one() {
        let engine = engine();
        let ticker = EpochTicker::start(engine.weak()).expect("ticker");
        let (end_long, long_ends) = mpsc::channel::<()>();
        let (started, long_started) = mpsc::channel();
        let long = {
            let ticker = ticker.clone();
            std::thread::spawn(move || {
                let _call = ticker.call(in_ms(60_000));
                started.send(()).expect("test alive");
                long_ends.recv().expect("test alive");
            })
        };
        long_started.recv().expect("the long call started");
        let short_started = Instant::now();
        let short = ticker.call(in_ms(100));
        assert_eq!(ticker.in_flight(), 2);
        wait_until("the short call's tick", || ticker.ticks() >= 1);
        let waited = short_started.elapsed();
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        drop(short);
        std::thread::sleep(EPOCH_TICK * 2);
        // The long call is in time: no more ticks for it.
        ticker.assert_idle();
        end_long.send(()).expect("the long call alive");
        long.join().expect("the long call ended");
        assert_eq!(ticker.in_flight(), 0);
    }

    #[test]
    fn a_store_traps_at_its_own_deadline_and_one_in_time_goes_on() {
        let engine = engine();
        let module =
            wasmtime::Module::new(&engine, r#"(module (func (export "f")))"#).expect("module");
        let store_due_by = |deadline: Instant| {
            let mut store = wasmtime::Store::new(&engine, ());
            store.epoch_deadline_callback(move |_| Ok(on_epoch(deadline)));
            store.set_epoch_deadline(1);
            let instance = wasmtime::Instance::new(&mut store, &module, &[]).expect("instance");
            let f = instance
                .get_typed_func::<(), ()>(&mut store, "f")
                .expect("f");
            (store, f)
        };
        let (mut late, late_f) = store_due_by(Instant::now());
        let (mut in_time, in_time_f) = store_due_by(in_ms(60_000));
        // Before any increment, a function entry finds no deadline reached.
        late_f.call(&mut late, ()).expect("no increment yet");
        engine.increment_epoch();
        let trap = late_f.call(&mut late, ()).expect_err("due");
        assert_eq!(
            trap.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::Interrupt)
        );
        in_time_f
            .call(&mut in_time, ())
            .expect("in time: it waits for the next increment");
    }

    #[test]
    fn a_parked_ticker_ends_when_the_last_handle_is_dropped() {
        let engine = engine();
        let ticker = EpochTicker::start(engine.weak()).expect("ticker");
        let state = Arc::downgrade(&ticker.0.as_ref().expect("running").state);
        let other = ticker.clone();
        drop(ticker);
        other.assert_idle();
        assert!(state.upgrade().is_some(), "ended while a handle was left");
        drop(other);
        // The thread holds the state until it ends; the engine is still alive.
        wait_until("the ticker thread to end", || state.upgrade().is_none());
    }

    #[test]
    fn no_ticker_no_ticks() {
        let ticker = EpochTicker::default();
        let call = ticker.call(Instant::now());
        assert_eq!((ticker.in_flight(), ticker.ticks()), (0, 0));
        drop(call);
    }
}
