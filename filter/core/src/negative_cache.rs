//! "This certificate has no session", remembered briefly per worker (SPEC §4: negative
//! answers live at most 1 s), so a client cycling unknown certificates cannot turn every
//! request into a lookup callout.
//!
//! Bounded by construction: two generations of at most `capacity / 2` entries each. New
//! answers go into the young one; when it is full or older than the TTL it becomes the old
//! one and the previous old one is dropped. A flood of unique certificates therefore costs
//! at most `capacity` entries per worker, forever. (These used to live in shared data, which
//! ABI 0.2.1 cannot delete from: every unknown certificate grew every Envoy until restart.)
//! An entry dropped early only means one more lookup, which the lookup budget bounds.

use std::collections::HashMap;

#[derive(Debug)]
pub struct NegativeCache {
    ttl_ms: i64,
    generation_capacity: usize,
    young: HashMap<String, i64>,
    young_since_ms: i64,
    old: HashMap<String, i64>,
}

impl NegativeCache {
    /// SPEC §4: at most 1 s.
    pub const TTL_MS: i64 = 1000;
    /// Per worker: about 100 bytes an entry, so well under 1 MiB.
    pub const CAPACITY: usize = 4096;

    pub fn new(ttl_ms: i64, capacity: usize) -> Self {
        NegativeCache {
            ttl_ms,
            generation_capacity: (capacity / 2).max(1),
            young: HashMap::new(),
            young_since_ms: 0,
            old: HashMap::new(),
        }
    }

    /// Remembers that `key` has no session, from `now_ms` for the TTL.
    pub fn insert(&mut self, key: &str, now_ms: i64) {
        if self.young.len() >= self.generation_capacity
            || now_ms.saturating_sub(self.young_since_ms) >= self.ttl_ms
        {
            self.old = std::mem::take(&mut self.young);
            self.young_since_ms = now_ms;
        }
        self.young
            .insert(key.to_owned(), now_ms.saturating_add(self.ttl_ms));
    }

    /// Is `key` known to have no session at `now_ms`?
    pub fn contains(&self, key: &str, now_ms: i64) -> bool {
        [&self.young, &self.old]
            .iter()
            .any(|generation| generation.get(key).is_some_and(|&until| until > now_ms))
    }

    /// Forgets `key`, say because a session for it just arrived.
    pub fn remove(&mut self, key: &str) {
        self.young.remove(key);
        self.old.remove(key);
    }

    /// Entries held, expired or not: never above the capacity.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for NegativeCache {
    fn default() -> Self {
        NegativeCache::new(Self::TTL_MS, Self::CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_believed_for_the_ttl_and_no_longer() {
        let mut cache = NegativeCache::new(1000, 100);
        cache.insert("k", 10_000);
        assert!(cache.contains("k", 10_000));
        assert!(cache.contains("k", 10_999));
        assert!(!cache.contains("k", 11_000));
        assert!(!cache.contains("other", 10_000));
        cache.remove("k");
        assert!(!cache.contains("k", 10_001));
    }

    #[test]
    fn a_flood_of_unique_keys_stays_within_capacity() {
        let mut cache = NegativeCache::new(1000, 1000);
        for i in 0..100_000 {
            cache.insert(&format!("key-{i}"), 5_000 + i / 100);
            assert!(cache.len() <= 1000);
        }
        // The newest answers are still believed.
        assert!(cache.contains("key-99999", 5_000 + 999));
    }

    #[test]
    fn a_rotation_keeps_the_previous_generation_readable() {
        let mut cache = NegativeCache::new(1000, 4);
        cache.insert("a", 0);
        cache.insert("b", 1);
        // Young is full: `c` starts a new generation, `a` and `b` stay readable.
        cache.insert("c", 2);
        assert!(cache.contains("a", 3) && cache.contains("b", 3) && cache.contains("c", 3));
        cache.insert("d", 3);
        cache.insert("e", 4);
        assert!(!cache.contains("a", 5), "two rotations later `a` is gone");
    }
}
