//! Between the source and the dispatcher: whether this replica delivers (leadership), how the
//! plugins resume from their checkpoints, and the warm cache (a [`Reflector`] keeping every
//! kind) that lets a standby take over without listing again.
//!
//! The states, read top to bottom:
//!
//! 1. **Standby** (only with leader election): the watches run and every object's latest event
//!    is kept in the warm cache; nothing reaches the plugins.
//! 2. **Resuming**: this replica leads (at once without election). Every plugin reloads its
//!    checkpoint; the warm cache is replayed as `ADDED`, then the source's events follow. A
//!    plugin's checkpoint drops what it has already handled and turns what changed into
//!    `MODIFIED` (see [`crate::checkpoint`]). When every configured resource is resolved and
//!    each of its watches has sent its list-complete marker, the plugins are told the lists are
//!    complete, and each reports the objects it knew that are gone as `DELETED`.
//! 3. **Live**: events flow to the plugins as they come.
//!
//! A leader that loses its lease stops at once: [`Relay::run`] returns
//! [`Ended::LostLease`] and the process exits, to come back as a standby (as client-go's
//! controllers do).
//!
//! The relay is a task on the async runtime, beside the watches: an event goes from the watch
//! that read it to the plugins' queues on the same thread, with no hand-over in between. That
//! holds because delivery never waits (the dispatcher paces [`Pace::Independent`]); stopping the
//! workers and saving their checkpoints, which do wait, happen in [`Relay::finish`], off the
//! runtime.

use crate::dispatch::{DispatchStats, Dispatcher, Pace};
use crate::event::{EventType, WatchEvent};
use crate::reflector::Reflector;
use crate::residency;
use crate::source::{ListedTarget, SourceEvent};
use std::collections::HashSet;
use tokio::sync::{mpsc, watch};

/// Whether this replica delivers.
pub enum Leadership {
    /// Always: no election.
    Always,
    /// While the receiver says `true` (the lease is held).
    Elected(watch::Receiver<bool>),
}

/// Why [`Relay::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The source closed its queue.
    SourceClosed,
    /// Shutdown was asked for.
    Stopping,
    /// This replica led and lost its lease.
    LostLease,
}

/// Where the relay stands (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Standby,
    Resuming,
    Live,
}

/// Hands the source's events to the dispatcher, as leadership and resumption allow.
pub struct Relay {
    dispatcher: Dispatcher,
    state: State,
    /// The objects of the kinds kept: every kind with leader election (the warm cache), the
    /// kinds plugins read otherwise.
    reflector: Reflector,
    /// Configured resources not resolved yet.
    unresolved: usize,
    /// Watches announced and not listed yet.
    unlisted: HashSet<ListedTarget>,
    /// Every watch announced.
    watched: Vec<ListedTarget>,
    /// Whether the lists deliver the objects present at start-up (so a checkpoint's missing
    /// objects are really gone).
    lists_deliver_objects: bool,
}

/// What the relay waits for next.
enum Input {
    Source(SourceEvent),
    Leading(bool),
    Stop,
    Closed,
}

impl Relay {
    /// A relay into `dispatcher` for `resources` configured resources, keeping `reflector` up
    /// to date (a standby's warm cache when it keeps every kind). `lists_deliver_objects`:
    /// false when the initial objects are skipped, in which case checkpoints report no
    /// deletions. The dispatcher is set to [`Pace::Independent`]: the relay runs on the async
    /// runtime, where delivery must never wait for a plugin.
    pub fn new(
        dispatcher: Dispatcher,
        resources: usize,
        reflector: Reflector,
        lists_deliver_objects: bool,
    ) -> Relay {
        Relay {
            dispatcher: dispatcher.with_pace(Pace::Independent),
            state: State::Standby,
            reflector,
            unresolved: resources,
            unlisted: HashSet::new(),
            watched: Vec::new(),
            lists_deliver_objects,
        }
    }

    /// Relays until the source closes its queue, `stop` turns `true` (or its sender is
    /// dropped), or the lease is lost. Returns at once on any of them, leaving the workers
    /// running: [`Relay::finish`] stops them.
    pub async fn run(
        &mut self,
        queue: &mut mpsc::Receiver<SourceEvent>,
        leadership: &mut Leadership,
        stop: &mut watch::Receiver<bool>,
    ) -> Ended {
        if self.state == State::Standby && leads(leadership) {
            self.lead();
        }
        loop {
            match next_input(queue, leadership, stop).await {
                Input::Source(SourceEvent::Event(event)) => self.event(event),
                Input::Source(SourceEvent::Watching(targets)) => self.watching(targets),
                Input::Source(SourceEvent::Listed(target)) => self.listed(&target),
                Input::Leading(true) if self.state == State::Standby => self.lead(),
                Input::Leading(true) => {}
                Input::Leading(false) if self.state == State::Standby => {}
                Input::Leading(false) => return Ended::LostLease,
                Input::Stop => return Ended::Stopping,
                Input::Closed => return Ended::SourceClosed,
            }
        }
    }

    /// Stops the workers, after their event in flight when stopping or losing the lease, after
    /// their queue when the source closed, and saves the checkpoints. Blocks: call it off the
    /// async runtime.
    pub fn finish(self, ended: Ended) -> DispatchStats {
        if ended != Ended::SourceClosed {
            self.dispatcher.stop();
        }
        self.dispatcher.finish()
    }

    fn event(&mut self, event: WatchEvent) {
        self.reflector.observe(&event);
        if self.state != State::Standby {
            self.dispatcher.deliver(&event);
        }
    }

    fn watching(&mut self, targets: Vec<ListedTarget>) {
        self.unresolved = self.unresolved.saturating_sub(1);
        for target in targets {
            if !self.watched.contains(&target) {
                self.watched.push(target.clone());
            }
            self.unlisted.insert(target);
        }
        self.complete_resume_if_listed();
    }

    fn listed(&mut self, target: &ListedTarget) {
        self.reflector.listed(target);
        self.unlisted.remove(target);
        self.complete_resume_if_listed();
    }

    /// This replica starts delivering: the plugins resume from their checkpoints, and the warm
    /// cache (what a standby saw) is replayed as the list it is. Without leader election this
    /// happens before any event, when nothing is kept yet.
    fn lead(&mut self) {
        tracing::info!("delivering events: the plugins resume from their checkpoints");
        self.state = State::Resuming;
        self.dispatcher.resume();
        for event in self.reflector.events() {
            let added = match event.meta().event_type {
                EventType::Added => Ok(WatchEvent::clone(&event)),
                _ => event.with_type(EventType::Added),
            };
            match added {
                Ok(added) => self.dispatcher.deliver(&added),
                Err(error) => tracing::error!("cannot replay a cached event: {error}"),
            }
        }
        self.complete_resume_if_listed();
    }

    fn complete_resume_if_listed(&mut self) {
        if self.state == State::Resuming && self.unresolved == 0 && self.unlisted.is_empty() {
            self.state = State::Live;
            self.dispatcher
                .lists_complete(&self.watched, self.lists_deliver_objects);
            // Discovery's and the first lists' code is not needed again (off this task: the
            // advice takes milliseconds).
            residency::release_code_pages_soon("the first lists");
        }
    }
}

/// Whether this replica leads now.
fn leads(leadership: &mut Leadership) -> bool {
    match leadership {
        Leadership::Always => true,
        Leadership::Elected(leading) => *leading.borrow_and_update(),
    }
}

/// The next event from the source or change of leadership, whichever comes first; a stop
/// before either.
async fn next_input(
    queue: &mut mpsc::Receiver<SourceEvent>,
    leadership: &mut Leadership,
    stop: &mut watch::Receiver<bool>,
) -> Input {
    let leading_changed = async {
        match leadership {
            Leadership::Always => std::future::pending().await,
            Leadership::Elected(leading) => match leading.changed().await {
                Ok(()) => Input::Leading(*leading.borrow_and_update()),
                // The elector ended: this replica no longer knows it leads.
                Err(_) => Input::Leading(false),
            },
        }
    };
    tokio::select! {
        biased;
        // A stop, or its sender gone.
        _ = stop.wait_for(|stop| *stop) => Input::Stop,
        input = leading_changed => input,
        event = queue.recv() => event.map_or(Input::Closed, Input::Source),
    }
}
