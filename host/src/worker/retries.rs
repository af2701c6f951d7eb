//! One plugin's pending retries: at most one per object, by object and by due time, bounded.

use super::{FIRST_RETRY_DELAY, MAX_RETRY_DELAY};
use crate::backoff::Backoff;
use crate::event::{EventMeta, WatchEvent};
use crate::plugin::Retry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long to wait before retry number `attempt` (1 for the first in a row) of an object.
pub(super) fn retry_delay(retry: Retry, attempt: u32) -> Duration {
    match retry {
        Retry::After(delay) => delay,
        Retry::Backoff => Backoff::new(FIRST_RETRY_DELAY, MAX_RETRY_DELAY).after(attempt),
    }
}

/// `now + delay`, or as late as the clock allows.
pub(super) fn due_after(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now + MAX_RETRY_DELAY)
}

/// Which object an event is about, for its retries and merges: its uid, or (for objects
/// without one, as in hand-written replays) its kind, namespace and name. It shares the event's
/// identity, so making and cloning one allocates nothing.
#[derive(Debug, Clone)]
pub(super) struct ObjectKey(Arc<EventMeta>);

impl ObjectKey {
    pub(super) fn of(event: &WatchEvent) -> ObjectKey {
        ObjectKey(event.shared_meta().clone())
    }

    /// The fields that identify the object.
    fn identity(&self) -> Identity<'_> {
        let meta = &*self.0;
        match meta.uid() {
            Some(uid) => Identity::Uid(uid),
            None => Identity::Name {
                kind: meta.kind(),
                namespace: meta.namespace(),
                name: meta.name(),
            },
        }
    }
}

/// What [`ObjectKey`]s compare and hash.
#[derive(PartialEq, Eq, Hash)]
enum Identity<'a> {
    Uid(&'a str),
    Name {
        kind: &'a str,
        namespace: Option<&'a str>,
        name: &'a str,
    },
}

impl PartialEq for ObjectKey {
    fn eq(&self, other: &ObjectKey) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for ObjectKey {}

impl std::hash::Hash for ObjectKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

/// A retry waiting for its time.
#[derive(Debug)]
pub(super) struct PendingRetry {
    pub(super) event: WatchEvent,
    pub(super) due: Instant,
    /// Orders retries due at the same instant.
    seq: u64,
    /// How many retries of the object the plugin asked for in a row, this one included.
    pub(super) attempt: u32,
}

/// A retry dropped because too many were pending.
#[derive(Debug)]
pub(super) struct Dropped {
    /// It was the one just scheduled.
    pub(super) was_new: bool,
    /// It started an overflow episode.
    pub(super) first_of_episode: bool,
}

/// One plugin's pending retries, at most one per object, by object and by due time.
#[derive(Debug)]
pub(super) struct Retries {
    pub(super) limit: usize,
    by_key: HashMap<ObjectKey, PendingRetry>,
    by_due: BTreeMap<(Instant, u64), ObjectKey>,
    next_seq: u64,
    /// Retries dropped since the pending ones went over the limit, until they fall back.
    overflow: Option<u64>,
}

impl Retries {
    pub(super) fn new(limit: usize) -> Retries {
        Retries {
            limit: limit.max(1),
            by_key: HashMap::new(),
            by_due: BTreeMap::new(),
            next_seq: 0,
            overflow: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Removes and returns the retry pending for `key`.
    pub(super) fn take(&mut self, key: &ObjectKey) -> Option<PendingRetry> {
        let retry = self.by_key.remove(key)?;
        self.by_due.remove(&(retry.due, retry.seq));
        Some(retry)
    }

    /// Schedules `event` for `key` at `due` (in place of any retry pending for `key`). Over
    /// the limit, drops the retry due last (the new one included) and says so.
    pub(super) fn schedule(
        &mut self,
        key: ObjectKey,
        event: WatchEvent,
        attempt: u32,
        due: Instant,
    ) -> Option<Dropped> {
        self.take(&key);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_due.insert((due, seq), key.clone());
        let retry = PendingRetry {
            event,
            due,
            seq,
            attempt,
        };
        self.by_key.insert(key, retry);
        if self.by_key.len() <= self.limit {
            return None;
        }
        let ((_, last_seq), last_key) = self.by_due.pop_last()?;
        self.by_key.remove(&last_key);
        let first_of_episode = self.overflow.is_none();
        *self.overflow.get_or_insert(0) += 1;
        Some(Dropped {
            was_new: last_seq == seq,
            first_of_episode,
        })
    }

    /// When the earliest retry is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.by_due.first_key_value().map(|((due, _), _)| *due)
    }

    /// Removes and returns the earliest retry if it is due by `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(ObjectKey, PendingRetry)> {
        let entry = self.by_due.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let key = entry.remove();
        let retry = self.by_key.remove(&key)?;
        Some((key, retry))
    }

    /// Once, when an overflow episode ends (the pending retries are back at 90 % of the limit
    /// or below): how many were dropped during it.
    pub(super) fn caught_up(&mut self) -> Option<u64> {
        if self.overflow.is_some() && self.len() <= self.limit - self.limit / 10 {
            return self.overflow.take();
        }
        None
    }

    /// Drops every pending retry; how many there were.
    pub(super) fn clear(&mut self) -> usize {
        let n = self.by_key.len();
        self.by_key.clear();
        self.by_due.clear();
        self.overflow = None;
        n
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A `MODIFIED` Pod in namespace `ns`.
    pub(in crate::worker) fn pod(name: &str, uid: Option<&str>, rv: u32) -> WatchEvent {
        let uid = uid.map_or(String::new(), |uid| format!(r#","uid":"{uid}""#));
        WatchEvent::parse(format!(
            r#"{{"type":"MODIFIED","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"ns"{uid},"resourceVersion":"{rv}"}}}}}}"#
        ))
        .expect("a valid event")
    }

    /// The key of [`pod`]`(name, Some("uid-{name}"), _)`.
    pub(in crate::worker) fn key(name: &str) -> ObjectKey {
        ObjectKey::of(&pod(name, Some(&format!("uid-{name}")), 1))
    }

    #[test]
    fn retry_delays_double_per_object_up_to_the_cap() {
        let backoff = |attempt| retry_delay(Retry::Backoff, attempt);
        assert_eq!(backoff(1), FIRST_RETRY_DELAY);
        assert_eq!(backoff(2), FIRST_RETRY_DELAY * 2);
        assert_eq!(backoff(3), FIRST_RETRY_DELAY * 4);
        assert_eq!(backoff(9), Duration::from_secs(256));
        assert_eq!(backoff(10), MAX_RETRY_DELAY);
        assert_eq!(backoff(40), MAX_RETRY_DELAY);
        assert_eq!(backoff(u32::MAX), MAX_RETRY_DELAY);
        // A delay the plugin names is taken as it is, whatever the attempt.
        let after = Duration::from_millis(1500);
        assert_eq!(retry_delay(Retry::After(after), 1), after);
        assert_eq!(retry_delay(Retry::After(after), 30), after);
        let now = Instant::now();
        assert!(due_after(now, Duration::from_millis(u64::MAX)) > now + MAX_RETRY_DELAY);
    }

    #[test]
    fn retries_come_due_in_due_order() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let mut retries = Retries::new(10);
        assert_eq!(retries.next_due(), None);
        for (name, due) in [("late", 2), ("early", 1), ("early-too", 1)] {
            let event = pod(name, Some(&format!("uid-{name}")), 1);
            assert!(retries
                .schedule(key(name), event, 1, now + second * due)
                .is_none());
        }
        assert_eq!(retries.len(), 3);
        assert_eq!(retries.next_due(), Some(now + second));
        assert!(retries.pop_due(now).is_none(), "nothing is due yet");
        let names: Vec<String> = std::iter::from_fn(|| retries.pop_due(now + second))
            .map(|(_, retry)| retry.event.meta().name().to_owned())
            .collect();
        assert_eq!(
            names,
            ["early", "early-too"],
            "same instant: scheduling order"
        );
        assert_eq!(retries.next_due(), Some(now + second * 2));
        let (popped, retry) = retries.pop_due(now + second * 5).expect("due");
        assert_eq!((popped, retry.attempt), (key("late"), 1));
        assert!(retries.is_empty());
    }

    #[test]
    fn one_retry_per_object_and_a_newer_event_takes_it() {
        let now = Instant::now();
        let mut retries = Retries::new(10);
        retries.schedule(key("a"), pod("a", Some("uid-a"), 1), 1, now);
        retries.schedule(
            key("a"),
            pod("a", Some("uid-a"), 2),
            2,
            now + FIRST_RETRY_DELAY,
        );
        assert_eq!(retries.len(), 1, "one pending retry per object");
        assert_eq!(retries.next_due(), Some(now + FIRST_RETRY_DELAY));
        let taken = retries.take(&key("a")).expect("pending");
        assert_eq!(taken.attempt, 2);
        assert_eq!(taken.event.meta().resource_version(), Some("2"));
        assert!(retries.is_empty());
        assert_eq!(retries.next_due(), None);
        assert!(retries.take(&key("a")).is_none());
        // Without a uid, kind, namespace and name tell objects apart.
        let named = ObjectKey::of(&pod("web", None, 1));
        assert_eq!(named, ObjectKey::of(&pod("web", None, 7)));
        assert_ne!(named, ObjectKey::of(&pod("api", None, 1)));
        assert_ne!(named, key("web"));
    }

    #[test]
    fn over_the_limit_the_retry_due_last_is_dropped_once_per_episode() {
        let now = Instant::now();
        let at = |ms| now + Duration::from_millis(ms);
        let mut retries = Retries::new(10);
        for i in 0..10 {
            let name = format!("p{i}");
            let event = pod(&name, Some(&format!("uid-{name}")), 1);
            assert!(retries
                .schedule(key(&name), event, 1, at(100 + i))
                .is_none());
        }
        // One more, due early: the one due last (p9) goes.
        let dropped = retries
            .schedule(key("early"), pod("early", Some("uid-early"), 1), 1, at(1))
            .expect("over the limit");
        assert!(!dropped.was_new && dropped.first_of_episode);
        assert!(retries.take(&key("p9")).is_none());
        assert_eq!(retries.len(), 10);
        // One more, due last: it is the one dropped; the episode goes on.
        let dropped = retries
            .schedule(key("late"), pod("late", Some("uid-late"), 1), 1, at(10_000))
            .expect("over the limit");
        assert!(dropped.was_new && !dropped.first_of_episode);
        assert!(retries.take(&key("late")).is_none());
        assert_eq!(retries.len(), 10);
        assert_eq!(retries.caught_up(), None, "still at the limit");
        retries.pop_due(at(1)).expect("early is due");
        assert_eq!(
            retries.caught_up(),
            Some(2),
            "back at 90 %: two were dropped"
        );
        assert_eq!(retries.caught_up(), None, "said once");
        assert_eq!(retries.clear(), 9);
        assert!(retries.is_empty());
    }
}
