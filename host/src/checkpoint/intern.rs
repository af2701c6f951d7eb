//! Values shared by many entries (scopes, label names), stored once and counted by their users
//! so that one nobody uses any more (a namespace deleted for good) is freed.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// One interned value and the number of its users (0: a free slot).
#[derive(Debug)]
struct Slot<T> {
    value: T,
    hash: u64,
    users: u32,
}

/// Interned values, numbered by slot; a freed slot is reused.
#[derive(Debug)]
pub(super) struct Interner<T> {
    slots: Vec<Slot<T>>,
    /// Slot numbers by hash (almost always one per hash).
    index: HashMap<u64, Vec<u32>>,
    free: Vec<u32>,
    hasher: foldhash::fast::RandomState,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            slots: Vec::new(),
            index: HashMap::new(),
            free: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<T> Interner<T> {
    /// The number of `probe`, a borrowed form of a value that hashes as the value's own
    /// borrowed form (the caller keeps to one form per interner).
    pub(super) fn acquire<P: Hash + ?Sized>(
        &mut self,
        probe: &P,
        is: impl Fn(&T) -> bool,
        make: impl FnOnce() -> T,
    ) -> u32 {
        let hash = self.hasher.hash_one(probe);
        let candidates = self.index.entry(hash).or_default();
        for &n in candidates.iter() {
            let slot = &mut self.slots[n as usize];
            if is(&slot.value) {
                slot.users += 1;
                return n;
            }
        }
        let slot = Slot {
            value: make(),
            hash,
            users: 1,
        };
        let n = match self.free.pop() {
            Some(n) => {
                self.slots[n as usize] = slot;
                n
            }
            None => {
                self.slots.push(slot);
                // Fewer values than entries, and entries are far fewer than 2^32.
                (self.slots.len() - 1) as u32
            }
        };
        candidates.push(n);
        n
    }

    /// One more user of `n`, already acquired.
    pub(super) fn retain(&mut self, n: u32) {
        self.slots[n as usize].users += 1;
    }

    /// One user fewer of `n`; the value is dropped with its last user. `empty` replaces it.
    pub(super) fn release(&mut self, n: u32, empty: impl FnOnce() -> T) {
        let slot = &mut self.slots[n as usize];
        slot.users -= 1;
        if slot.users > 0 {
            return;
        }
        slot.value = empty();
        if let Some(candidates) = self.index.get_mut(&slot.hash) {
            candidates.retain(|&c| c != n);
            if candidates.is_empty() {
                self.index.remove(&slot.hash);
            }
        }
        self.free.push(n);
    }

    /// The value numbered `n`.
    pub(super) fn get(&self, n: u32) -> &T {
        &self.slots[n as usize].value
    }

    /// The number of slots, used or free: numbers are below it.
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The values in use, with their numbers.
    pub(super) fn used(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.users > 0)
            .map(|(n, slot)| (n as u32, &slot.value))
    }

    /// The number of values in use.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots.iter().filter(|slot| slot.users > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shared_counted_and_freed() {
        let mut names: Interner<Box<str>> = Interner::default();
        let acquire = |names: &mut Interner<Box<str>>, text: &str| {
            names.acquire(text, |v| **v == *text, || text.into())
        };
        let app = acquire(&mut names, "app");
        assert_eq!(acquire(&mut names, "app"), app);
        let tier = acquire(&mut names, "tier");
        assert_ne!(app, tier);
        assert_eq!(&**names.get(tier), "tier");
        names.release(app, Box::default);
        assert_eq!(names.len(), 2);
        names.release(app, Box::default);
        assert_eq!(names.len(), 1);
        assert!(names.index.len() == 1);
        let zone = acquire(&mut names, "zone");
        assert_eq!(zone, app, "the freed slot is reused");
        assert_eq!(names.slots(), 2);
        names.retain(zone);
        names.release(zone, Box::default);
        assert_eq!(
            names.used().map(|(n, v)| (n, &**v)).collect::<Vec<_>>(),
            [(0, "zone"), (1, "tier")]
        );
    }
}
