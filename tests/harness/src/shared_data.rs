//! Shared data: one key-value store for every worker of a host, with Envoy's CAS rules
//! (proxy-wasm-cpp-host `SharedData`).
//!
//! - `get` returns the value and its CAS token.
//! - `set` with CAS 0 is unconditional. A non-zero CAS that differs from the key's
//!   current one is refused with `CasMismatch`, but only when the key already exists:
//!   creating a key never checks the CAS.
//! - Every successful `set` gives the key a fresh token from one host-wide counter.
//! - There is no delete and no eviction; an empty value is just a value.

use super::status::Status;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A handle to the host-wide shared data; clones see the same store.
#[derive(Clone, Debug, Default)]
pub struct SharedData {
    inner: Arc<Mutex<Store>>,
}

#[derive(Debug)]
struct Store {
    entries: BTreeMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
}

impl Default for Store {
    fn default() -> Self {
        // Envoy's counter starts at 1 and skips 0 when it wraps: 0 means "no CAS".
        Store {
            entries: BTreeMap::new(),
            next_cas: 1,
        }
    }
}

impl Store {
    fn next_cas(&mut self) -> u32 {
        let cas = self.next_cas;
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        cas
    }
}

impl SharedData {
    fn lock(&self) -> MutexGuard<'_, Store> {
        // A test that panicked while holding the lock cannot corrupt a BTreeMap insert.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value and CAS token of `key`, as `proxy_get_shared_data` sees them.
    pub fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.lock().entries.get(key).cloned()
    }

    /// Unconditional write (CAS 0), as a test seeding the store would do.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) {
        // CAS 0 never mismatches.
        let _ = self.compare_and_set(key, value.as_ref(), 0);
    }

    /// `proxy_set_shared_data` semantics: `Ok` or `CasMismatch`.
    pub fn compare_and_set(&self, key: &str, value: &[u8], cas: u32) -> Status {
        let mut store = self.lock();
        let current = store.entries.get(key).map(|(_, c)| *c);
        if let Some(current) = current
            && cas != 0
            && cas != current
        {
            return Status::CasMismatch;
        }
        let fresh = store.next_cas();
        store
            .entries
            .insert(key.to_string(), (value.to_vec(), fresh));
        Status::Ok
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock().entries.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_ignores_cas_and_updates_check_it() {
        let data = SharedData::default();
        assert_eq!(data.compare_and_set("k", b"a", 999), Status::Ok);
        let (_, cas) = data.get("k").expect("created");
        assert_eq!(
            data.compare_and_set("k", b"b", cas + 1),
            Status::CasMismatch
        );
        assert_eq!(data.compare_and_set("k", b"b", cas), Status::Ok);
        let (value, new_cas) = data.get("k").expect("updated");
        assert_eq!(value, b"b");
        assert_ne!(new_cas, cas);
        assert_eq!(data.compare_and_set("k", b"c", cas), Status::CasMismatch);
        assert_eq!(data.compare_and_set("k", b"", 0), Status::Ok);
        assert_eq!(data.get("k").map(|(v, _)| v), Some(vec![]));
    }
}
