//! The per-thread transport behind [`crate::http::mock`] and [`crate::kube::mock`]: a test
//! installs a function that answers the host function's requests, and gets a guard that puts the
//! previous one back.

use std::cell::RefCell;
use std::thread::LocalKey;

/// A test's stand-in for a host function: the request in, the host's answer (JSON) out.
pub(crate) type Transport<R> = Box<dyn FnMut(&R) -> String>;

/// Where a thread keeps its transport for requests of type `R`.
pub(crate) type Slot<R> = RefCell<Option<Transport<R>>>;

/// A transport installed in a slot; the previous one comes back when this is dropped.
pub(crate) struct Installed<R: 'static> {
    slot: &'static LocalKey<Slot<R>>,
    previous: Option<Transport<R>>,
}

impl<R: 'static> Installed<R> {
    /// Installs `transport` in `slot` for this thread.
    pub(crate) fn new(slot: &'static LocalKey<Slot<R>>, transport: Transport<R>) -> Installed<R> {
        let previous = slot.with(|cell| cell.borrow_mut().replace(transport));
        Installed { slot, previous }
    }
}

impl<R: 'static> Drop for Installed<R> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        self.slot.with(|cell| *cell.borrow_mut() = previous);
    }
}

/// The installed transport's answer to `request`, or `None` when none is installed. The
/// transport is taken out while it runs, so that it may itself send or install another.
pub(crate) fn answer<R: 'static>(slot: &'static LocalKey<Slot<R>>, request: &R) -> Option<String> {
    let mut transport = slot.with(|cell| cell.borrow_mut().take())?;
    let answer = transport(request);
    slot.with(|cell| {
        let mut installed = cell.borrow_mut();
        if installed.is_none() {
            *installed = Some(transport);
        }
    });
    Some(answer)
}
