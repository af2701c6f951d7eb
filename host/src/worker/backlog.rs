//! A plugin's backlog: what waits for its worker, in order. Adding to it never waits, so the
//! source and the dispatcher go at their own pace whatever a plugin does.
//!
//! While a plugin keeps up (fewer waiting events than its `queue_size`), every event waits in
//! arrival order and the plugin sees each one. When it falls further behind, it is **lagging**,
//! and what happens depends on its [`Delivery`]:
//!
//! - [`Delivery::LatestState`] (the default): the backlog coalesces per object. An event for an
//!   object that already has a change waiting merges into that change, the newest state winning
//!   with the reconciler's type rules (ADDED then MODIFIED is ADDED with the newest state; ADDED
//!   then DELETED is nothing; MODIFIED then DELETED is DELETED). The backlog is then bounded by
//!   the number of objects, not events; it holds the events' shared bytes, not copies; each
//!   object's changes stay in order, and a lagging plugin ends with the newest state of every
//!   object, as informers and work queues give their handlers.
//! - [`Delivery::EveryEvent`]: nothing is coalesced. The events past the queue size wait in a
//!   spill file on disk (their bytes; a few dozen bytes each stay in memory to keep the order),
//!   up to a size limit; past it, events are dropped, counted and logged as errors, never
//!   silently. The spill file is emptied whenever the plugin catches up with it.
//!
//! Controls (a new plugin version, resuming from a checkpoint, the end of the first lists) wait
//! in the same order; no event merges across one, so each version sees the events sent after it.
//! A lag episode is logged once when it starts and once when the backlog is empty again.

use super::retries::ObjectKey;
use crate::event::{EventType, WatchEvent};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How a plugin takes the events it cannot keep up with (`delivery` in its config section).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Past its queue size, the backlog coalesces per object: the newest state wins.
    #[default]
    LatestState,
    /// Every event, in order: past its queue size, events wait in a spill file on disk.
    EveryEvent,
}

/// The spill file's size limit unless the plugin's config says otherwise.
pub const DEFAULT_SPILL_LIMIT_BYTES: u64 = 1 << 30;

/// What [`Backlog::push`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// It waits as a change of its own.
    Queued,
    /// It merged into its object's waiting change (the plugin is lagging).
    Coalesced,
    /// It cancelled its object's waiting change (ADDED then DELETED): one change fewer waits.
    Cancelled,
    /// It was dropped: the spill file is full (`every_event`).
    Dropped,
    /// The backlog is closed: the worker has ended.
    Closed,
}

/// What [`Backlog::pop`] hands the worker.
// Only ever returned and matched at once, never stored: boxing the event would cost an
// allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Popped<T> {
    /// The next event or control, in order, and the end of the lag episode it closed, if any.
    Job(Entry<T>, Option<Lag>),
    /// Nothing came before the deadline.
    Timeout,
    /// The backlog is closed and empty.
    Closed,
}

/// One thing waiting: an event, or a control of type `T` (the worker's).
pub enum Entry<T> {
    Event(WatchEvent),
    Control(T),
    /// A spilled event that could not be read back (logged as an error).
    Lost,
}

/// The start or the end of a lag episode, for the worker to log: returned by the push that
/// started it and by the pop that ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    /// The plugin just fell more than its queue size behind.
    Started,
    /// Its backlog is empty again after `duration`; `coalesced` events were merged meanwhile.
    Ended { duration: Duration, coalesced: u64 },
}

/// The jobs waiting for one worker.
pub struct Backlog<T> {
    state: Mutex<State<T>>,
    /// Signalled when something is added.
    ready: Condvar,
    /// Signalled when an event is taken.
    room: Condvar,
}

struct State<T> {
    slots: VecDeque<Slot<T>>,
    /// The sequence number of `slots[0]`.
    head: u64,
    /// Each object's waiting change that later events of it may merge into: its sequence number.
    latest: HashMap<ObjectKey, u64>,
    /// Events waiting (in memory or spilled).
    events: usize,
    capacity: usize,
    delivery: Delivery,
    spill: Spill,
    closed: bool,
    /// Since when the plugin lags, and how many events merged since.
    lagging: Option<(Instant, u64)>,
    /// Workers waiting in [`Backlog::pop`] and sources waiting for room: a condition variable
    /// is signalled only when someone waits on it (a signal is a system call, per event).
    waiting_for_work: usize,
    waiting_for_room: usize,
}

/// One place in the order; boxed payloads keep each slot a few words long, so that a spilled
/// event costs little memory.
enum Slot<T> {
    /// An event in memory.
    Event(Box<Waiting>),
    /// An event whose bytes wait in the spill file.
    Spilled { offset: u64, len: usize },
    /// A control, in order with the events.
    Control(Box<T>),
    /// A change cancelled by a later one (ADDED then DELETED).
    Cancelled,
}

/// An event waiting in memory.
struct Waiting {
    /// The newest state, sharing the source's bytes.
    event: WatchEvent,
    /// The type it is delivered with: an ADDED that later changes merged into stays ADDED
    /// (the bytes are retyped only when it is taken).
    event_type: EventType,
    key: ObjectKey,
    /// When its object's oldest undelivered change (merged into it) arrived.
    since: Instant,
}

/// The spill file of an `every_event` plugin: created on first use, emptied when no spilled
/// event waits.
struct Spill {
    file: Option<File>,
    /// Where the next spilled event goes (the file's length).
    end: u64,
    limit: u64,
    /// Spilled events waiting.
    waiting: usize,
    /// Events dropped since the file filled up, until it drains.
    overflow: Option<u64>,
}

impl<T> Backlog<T> {
    /// An empty backlog for a plugin with `capacity` (its queue size), `delivery`, and at most
    /// `spill_limit` bytes of spill file.
    pub fn new(capacity: usize, delivery: Delivery, spill_limit: u64) -> Backlog<T> {
        Backlog {
            state: Mutex::new(State {
                slots: VecDeque::new(),
                head: 0,
                latest: HashMap::new(),
                events: 0,
                capacity: capacity.max(1),
                delivery,
                spill: Spill {
                    file: None,
                    end: 0,
                    limit: spill_limit,
                    waiting: 0,
                    overflow: None,
                },
                closed: false,
                lagging: None,
                waiting_for_work: 0,
                waiting_for_room: 0,
            }),
            ready: Condvar::new(),
            room: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `event` behind everything waiting, or merges it into its object's waiting change
    /// when the plugin lags (never waits). Also returns [`Lag::Started`] when this push made
    /// the plugin lag.
    pub fn push(&self, event: WatchEvent) -> (Pushed, Option<Lag>) {
        let mut state = self.lock();
        let (pushed, lag) = state.push(event);
        let wake = pushed == Pushed::Queued && state.waiting_for_work > 0;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        (pushed, lag)
    }

    /// Adds `event` behind everything waiting, first waiting while the plugin's queue size is
    /// reached: backpressure, for a source that can wait (`replay` reading a file) and wants
    /// every plugin to see every event.
    pub fn push_when_room(&self, event: WatchEvent) -> Pushed {
        let mut state = self.lock();
        while state.events >= state.capacity && !state.closed {
            state.waiting_for_room += 1;
            state = self
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting_for_room -= 1;
        }
        if state.closed {
            return Pushed::Closed;
        }
        let pushed = state.queue(event);
        let wake = state.waiting_for_work > 0;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        pushed
    }

    /// Adds `control` behind everything waiting; no later event merges into an earlier one.
    /// False when the backlog is closed.
    pub fn push_control(&self, control: T) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.latest.clear();
        state.slots.push_back(Slot::Control(Box::new(control)));
        let wake = state.waiting_for_work > 0;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        true
    }

    /// The next entry, waiting for one until `deadline` (forever without one).
    pub fn pop(&self, deadline: Option<Instant>) -> Popped<T> {
        let mut state = self.lock();
        loop {
            if let Some((entry, lag)) = state.pop() {
                // A source waiting for room wakes when half the queue is free, not at each
                // event taken: it then queues a batch instead of one event per wake-up.
                if state.waiting_for_room > 0 && state.events <= state.capacity / 2 {
                    self.room.notify_all();
                }
                return Popped::Job(entry, lag);
            }
            if state.closed {
                return Popped::Closed;
            }
            state.waiting_for_work += 1;
            state = match deadline {
                None => self
                    .ready
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.waiting_for_work -= 1;
                        return Popped::Timeout;
                    }
                    let (state, _) = self
                        .ready
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner);
                    state
                }
            };
            state.waiting_for_work -= 1;
        }
    }

    /// No more pushes: [`Backlog::pop`] hands out what waits, then says closed.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
        self.room.notify_all();
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.lock().events
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects with a change waiting in memory (that a later event of theirs may merge
    /// into).
    pub fn objects(&self) -> usize {
        self.lock().latest.len()
    }

    /// How long the oldest undelivered change has waited; zero when none waits.
    pub fn lag(&self) -> Duration {
        let state = self.lock();
        let oldest = state.slots.iter().find_map(|slot| match slot {
            Slot::Event(waiting) => Some(waiting.since),
            _ => None,
        });
        oldest.map(|since| since.elapsed()).unwrap_or_default()
    }
}

impl<T> State<T> {
    fn push(&mut self, event: WatchEvent) -> (Pushed, Option<Lag>) {
        if self.closed {
            return (Pushed::Closed, None);
        }
        let behind = self.events >= self.capacity;
        let started = (behind && self.lagging.is_none()).then(|| {
            self.lagging = Some((Instant::now(), 0));
            Lag::Started
        });
        let pushed = match (behind, self.delivery) {
            (false, _) => self.queue(event),
            (true, Delivery::LatestState) => self.coalesce(event),
            (true, Delivery::EveryEvent) => self.spill(&event),
        };
        (pushed, started)
    }

    /// Waits `event` as a change of its own, in memory.
    fn queue(&mut self, event: WatchEvent) -> Pushed {
        let key = ObjectKey::of(&event);
        let seq = self.head + self.slots.len() as u64;
        self.latest.insert(key.clone(), seq);
        self.slots.push_back(Slot::Event(Box::new(Waiting {
            event_type: event.meta().event_type,
            event,
            key,
            since: Instant::now(),
        })));
        self.events += 1;
        Pushed::Queued
    }

    /// Merges `event` into its object's waiting change, or waits it as a change of its own.
    fn coalesce(&mut self, event: WatchEvent) -> Pushed {
        let key = ObjectKey::of(&event);
        let Some(&seq) = self.latest.get(&key) else {
            return self.queue(event);
        };
        let index = usize::try_from(seq - self.head).unwrap_or(usize::MAX);
        let Some(Slot::Event(waiting)) = self.slots.get_mut(index) else {
            return self.queue(event);
        };
        let merged = match merge(waiting.event_type, event) {
            Merge::Into(merged, event_type) => {
                waiting.event = merged;
                waiting.event_type = event_type;
                Pushed::Coalesced
            }
            Merge::Cancel => {
                self.slots[index] = Slot::Cancelled;
                self.latest.remove(&key);
                self.events -= 1;
                Pushed::Cancelled
            }
            Merge::Apart(event) => return self.queue(event),
        };
        if let Some((_, coalesced)) = &mut self.lagging {
            *coalesced += 1;
        }
        merged
    }

    /// Waits `event`'s bytes in the spill file (an `every_event` plugin that lags).
    fn spill(&mut self, event: &WatchEvent) -> Pushed {
        let raw = event.raw();
        let spill = &mut self.spill;
        let written = (spill.end + raw.len() as u64 <= spill.limit)
            .then(|| spill.append(raw))
            .transpose();
        match written {
            Ok(Some(offset)) => {
                spill.waiting += 1;
                self.slots.push_back(Slot::Spilled {
                    offset,
                    len: raw.len(),
                });
                self.events += 1;
                Pushed::Queued
            }
            Ok(None) => {
                spill.overflowed();
                Pushed::Dropped
            }
            Err(error) => {
                tracing::error!(%error, "cannot write to the spill file; the event is dropped");
                spill.overflowed();
                Pushed::Dropped
            }
        }
    }

    /// The next entry, if any, and the end of the lag episode it closed.
    fn pop(&mut self) -> Option<(Entry<T>, Option<Lag>)> {
        while let Some(slot) = self.slots.pop_front() {
            let seq = self.head;
            self.head += 1;
            let entry = match slot {
                Slot::Cancelled => continue,
                Slot::Control(control) => Entry::Control(*control),
                Slot::Event(waiting) => {
                    if self.latest.get(&waiting.key) == Some(&seq) {
                        self.latest.remove(&waiting.key);
                    }
                    self.events -= 1;
                    Entry::Event(waiting.delivered())
                }
                Slot::Spilled { offset, len } => {
                    self.events -= 1;
                    match self.spill.take(offset, len) {
                        Some(event) => Entry::Event(event),
                        None => Entry::Lost,
                    }
                }
            };
            return Some((entry, self.end_lag_if_caught_up()));
        }
        None
    }

    /// Ends the lag episode once nothing waits.
    fn end_lag_if_caught_up(&mut self) -> Option<Lag> {
        if self.events > 0 {
            return None;
        }
        let (since, coalesced) = self.lagging.take()?;
        Some(Lag::Ended {
            duration: since.elapsed(),
            coalesced,
        })
    }
}

impl Waiting {
    /// The event as the plugin gets it: retyped when changes merged into an ADDED.
    fn delivered(self) -> WatchEvent {
        if self.event.meta().event_type == self.event_type {
            return self.event;
        }
        match self.event.with_type(self.event_type) {
            Ok(retyped) => retyped,
            Err(error) => {
                tracing::warn!(%error, "cannot retype a merged event; it is delivered as it came");
                self.event
            }
        }
    }
}

/// What merging a later event into a waiting one gives.
enum Merge {
    /// One change: the later event's state, delivered with this type.
    Into(WatchEvent, EventType),
    /// Nothing: the object came and went (ADDED then DELETED).
    Cancel,
    /// The later event stays apart (after a DELETED).
    Apart(WatchEvent),
}

/// Merges `later` into the same object's earlier change, waiting as `waiting`: ADDED then
/// MODIFIED is ADDED with the newest state, ADDED then DELETED is nothing, anything else then
/// X is X; nothing merges into a DELETED.
fn merge(waiting: EventType, later: WatchEvent) -> Merge {
    use EventType::{Added, Deleted};
    match (waiting, later.meta().event_type) {
        (Deleted, _) => Merge::Apart(later),
        (Added, Deleted) => Merge::Cancel,
        (Added, _) => Merge::Into(later, Added),
        (_, later_type) => Merge::Into(later, later_type),
    }
}

impl Spill {
    /// Appends `raw`; its offset.
    fn append(&mut self, raw: &[u8]) -> std::io::Result<u64> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(tempfile::tempfile()?),
        };
        let offset = self.end;
        file.write_all_at(raw, offset)?;
        self.end += raw.len() as u64;
        Ok(offset)
    }

    /// Reads back the event at `offset`; the file is emptied when it was the last one.
    fn take(&mut self, offset: u64, len: usize) -> Option<WatchEvent> {
        self.waiting = self.waiting.saturating_sub(1);
        let event = self.read(offset, len);
        if self.waiting == 0 {
            self.drained();
        }
        event
    }

    fn read(&self, offset: u64, len: usize) -> Option<WatchEvent> {
        let file = self.file.as_ref()?;
        let mut raw = vec![0; len];
        let read = file
            .read_exact_at(&mut raw, offset)
            .map_err(|error| error.to_string())
            .and_then(|()| WatchEvent::parse(raw).map_err(|error| error.to_string()));
        read.map_err(|error| tracing::error!(%error, "cannot read an event back from the spill file; it is lost"))
            .ok()
    }

    fn overflowed(&mut self) {
        let dropped = self.overflow.get_or_insert(0);
        *dropped += 1;
        if *dropped == 1 {
            tracing::error!(
                limit_bytes = self.limit,
                "the spill file is full: events are dropped (counted as spill_full) until the plugin catches up"
            );
        }
    }

    fn drained(&mut self) {
        self.end = 0;
        if let Some(file) = &self.file {
            if let Err(error) = file.set_len(0) {
                tracing::warn!(%error, "cannot empty the spill file");
            }
        }
        if let Some(dropped) = self.overflow.take() {
            tracing::warn!(
                dropped,
                "the spill file is empty again; {dropped} events were dropped while it was full"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, name: &str, rv: u32) -> WatchEvent {
        let line = format!(
            r#"{{"type":"{event_type}","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"ns","uid":"uid-{name}","resourceVersion":"{rv}"}}}}}}"#
        );
        WatchEvent::parse(line).expect("an event")
    }

    /// What was taken, and the lag episodes the taking ended.
    fn drain_with_lag(backlog: &Backlog<&'static str>) -> (Vec<String>, Vec<Lag>) {
        let mut seen = Vec::new();
        let mut ended = Vec::new();
        while let Popped::Job(entry, lag) = backlog.pop(Some(Instant::now())) {
            ended.extend(lag);
            seen.push(match entry {
                Entry::Event(event) => {
                    let meta = event.meta();
                    let rv = meta.resource_version().unwrap_or("");
                    format!("{} {} {rv}", meta.event_type.as_str(), meta.name())
                }
                Entry::Control(control) => control.to_owned(),
                Entry::Lost => "lost".to_owned(),
            });
        }
        (seen, ended)
    }

    fn drain(backlog: &Backlog<&'static str>) -> Vec<String> {
        drain_with_lag(backlog).0
    }

    /// Pushes `event`, saying only what became of it.
    fn push(backlog: &Backlog<&'static str>, event: WatchEvent) -> Pushed {
        backlog.push(event).0
    }

    #[test]
    fn within_the_queue_size_every_event_waits_in_order() {
        let backlog = Backlog::new(4, Delivery::LatestState, 0);
        for (t, rv) in [("ADDED", 1), ("MODIFIED", 2), ("MODIFIED", 3)] {
            assert_eq!(push(&backlog, event(t, "a", rv)), Pushed::Queued);
        }
        assert_eq!(
            drain(&backlog),
            ["ADDED a 1", "MODIFIED a 2", "MODIFIED a 3"]
        );
    }

    #[test]
    fn past_the_queue_size_changes_merge_per_object_with_the_type_rules() {
        let backlog = Backlog::new(2, Delivery::LatestState, 0);
        assert_eq!(
            backlog.push(event("MODIFIED", "x", 1)),
            (Pushed::Queued, None)
        );
        assert_eq!(
            backlog.push(event("MODIFIED", "y", 2)),
            (Pushed::Queued, None)
        );
        // Lagging from here on.
        assert_eq!(
            backlog.push(event("ADDED", "a", 3)),
            (Pushed::Queued, Some(Lag::Started))
        );
        assert_eq!(push(&backlog, event("MODIFIED", "a", 4)), Pushed::Coalesced);
        assert_eq!(push(&backlog, event("MODIFIED", "x", 5)), Pushed::Coalesced);
        assert_eq!(push(&backlog, event("DELETED", "y", 6)), Pushed::Coalesced);
        assert_eq!(push(&backlog, event("ADDED", "b", 7)), Pushed::Queued);
        assert_eq!(push(&backlog, event("DELETED", "b", 8)), Pushed::Cancelled);
        assert_eq!(backlog.len(), 3);
        let (seen, ended) = drain_with_lag(&backlog);
        assert_eq!(
            seen,
            ["MODIFIED x 5", "DELETED y 6", "ADDED a 4"],
            "newest states, each object in its place, b never seen"
        );
        assert!(
            matches!(ended[..], [Lag::Ended { coalesced: 4, .. }]),
            "{ended:?}"
        );
    }

    #[test]
    fn a_deleted_object_keeps_its_deletion_and_nothing_merges_across_a_control() {
        let backlog = Backlog::new(1, Delivery::LatestState, 0);
        backlog.push(event("DELETED", "a", 1));
        assert_eq!(push(&backlog, event("ADDED", "a", 2)), Pushed::Queued);
        assert!(backlog.push_control("reload"));
        assert_eq!(push(&backlog, event("MODIFIED", "a", 3)), Pushed::Queued);
        assert_eq!(
            drain(&backlog),
            ["DELETED a 1", "ADDED a 2", "reload", "MODIFIED a 3"]
        );
    }

    #[test]
    fn every_event_spills_past_the_queue_size_and_keeps_them_all_in_order() {
        let backlog = Backlog::new(2, Delivery::EveryEvent, 1 << 20);
        for rv in 1..=50 {
            assert_eq!(push(&backlog, event("MODIFIED", "a", rv)), Pushed::Queued);
        }
        let seen = drain(&backlog);
        let expected: Vec<String> = (1..=50).map(|rv| format!("MODIFIED a {rv}")).collect();
        assert_eq!(seen, expected);
        // Emptied once drained, and usable again.
        backlog.push(event("MODIFIED", "a", 51));
        backlog.push(event("MODIFIED", "a", 52));
        backlog.push(event("MODIFIED", "a", 53));
        assert_eq!(drain(&backlog).len(), 3);
    }

    #[test]
    fn a_full_spill_file_drops_and_says_so() {
        let one = event("MODIFIED", "a", 1).raw().len() as u64;
        let backlog = Backlog::new(1, Delivery::EveryEvent, one * 2);
        let pushed: Vec<Pushed> = (1..=5)
            .map(|rv| push(&backlog, event("MODIFIED", "a", rv)))
            .collect();
        assert_eq!(
            pushed,
            [
                Pushed::Queued,
                Pushed::Queued,
                Pushed::Queued,
                Pushed::Dropped,
                Pushed::Dropped
            ]
        );
        assert_eq!(
            drain(&backlog),
            ["MODIFIED a 1", "MODIFIED a 2", "MODIFIED a 3"]
        );
    }

    #[test]
    fn pop_waits_until_the_deadline_then_reports_a_timeout_and_close_ends_it() {
        let backlog: Backlog<&str> = Backlog::new(1, Delivery::LatestState, 0);
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(matches!(backlog.pop(Some(deadline)), Popped::Timeout));
        backlog.close();
        assert!(matches!(backlog.pop(None), Popped::Closed));
        assert_eq!(push(&backlog, event("ADDED", "a", 1)), Pushed::Closed);
    }

    #[test]
    fn push_when_room_waits_for_the_plugin_instead_of_coalescing() {
        let backlog = std::sync::Arc::new(Backlog::<&str>::new(1, Delivery::LatestState, 0));
        backlog.push_when_room(event("ADDED", "a", 1));
        let pusher = std::thread::spawn({
            let backlog = backlog.clone();
            move || backlog.push_when_room(event("MODIFIED", "a", 2))
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(backlog.len(), 1, "the second push waits for room");
        assert!(matches!(backlog.pop(None), Popped::Job(Entry::Event(_), _)));
        assert_eq!(pusher.join().expect("pusher"), Pushed::Queued);
        assert_eq!(drain(&backlog), ["MODIFIED a 2"]);
    }

    #[test]
    fn the_lag_is_the_age_of_the_oldest_waiting_change() {
        let backlog: Backlog<&str> = Backlog::new(1, Delivery::LatestState, 0);
        assert_eq!(backlog.lag(), Duration::ZERO);
        backlog.push(event("ADDED", "a", 1));
        std::thread::sleep(Duration::from_millis(20));
        backlog.push(event("ADDED", "b", 2));
        assert!(backlog.lag() >= Duration::from_millis(20));
    }
}
