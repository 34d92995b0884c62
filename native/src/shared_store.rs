//! Process-wide shared data with CAS, as Envoy's proxy-wasm shared data behaves: the store
//! the wasm filter's workers share, here shared by Envoy's worker threads (and the main
//! thread, where the sync writes). Core's sync and lookup rules (`mtls_gate_core::sync`,
//! `shared_data`) run over it unchanged.
//!
//! Envoy's rules, kept: every write takes a new CAS token from one process counter; a write
//! with a token is refused when the key exists with another token; creating a key never
//! checks the token; nothing is ever deleted (core writes tombstones).

use mtls_gate_core::host::HostError;
use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    cas: u32,
}

#[derive(Debug, Default)]
struct Store {
    entries: HashMap<String, Entry>,
    last_cas: u32,
}

impl Store {
    /// The next token; never 0, which means "no CAS" on the way in.
    fn next_cas(&mut self) -> u32 {
        self.last_cas = self.last_cas.wrapping_add(1).max(1);
        self.last_cas
    }
}

static STORE: LazyLock<RwLock<Store>> = LazyLock::new(RwLock::default);

/// A value and its token; an empty value as `(None, Some(cas))`, a missing key as
/// `(None, None)` (the `Host::shared_get` contract).
pub fn get(key: &str) -> (Option<Vec<u8>>, Option<u32>) {
    // A poisoned lock only means a panic elsewhere mid-read; the map itself is whole.
    let store = STORE.read().unwrap_or_else(PoisonError::into_inner);
    match store.entries.get(key) {
        Some(entry) if entry.value.is_empty() => (None, Some(entry.cas)),
        Some(entry) => (Some(entry.value.clone()), Some(entry.cas)),
        None => (None, None),
    }
}

/// Writes `value`; with `cas`, refused when the key exists with another token.
pub fn set(key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
    let mut store = STORE.write().unwrap_or_else(PoisonError::into_inner);
    let token = store.next_cas();
    match store.entries.get_mut(key) {
        Some(entry) => {
            if let Some(cas) = cas.filter(|c| *c != 0)
                && cas != entry.cas
            {
                return Err(HostError::CasMismatch);
            }
            entry.value.clear();
            entry.value.extend_from_slice(value);
            entry.cas = token;
        }
        None => {
            store.entries.insert(
                key.to_owned(),
                Entry {
                    value: value.to_vec(),
                    cas: token,
                },
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    // One process-wide store: each test uses its own keys.

    #[test]
    fn a_missing_key_has_no_value_and_no_token() {
        assert_eq!(get("t-missing"), (None, None));
    }

    #[test]
    fn creating_a_key_never_checks_the_token_and_takes_a_fresh_nonzero_one() {
        set("t-create", b"v1", Some(12_345)).unwrap();
        let (value, cas) = get("t-create");
        assert_eq!(value.as_deref(), Some(&b"v1"[..]));
        let cas = cas.unwrap();
        assert_ne!(cas, 0);
        assert_ne!(cas, 12_345);
    }

    #[test]
    fn a_write_with_a_stale_token_is_refused_and_changes_nothing() {
        set("t-cas", b"first", None).unwrap();
        let (_, first) = get("t-cas");
        set("t-cas", b"second", first).unwrap();
        let (value, second) = get("t-cas");
        assert_eq!(value.as_deref(), Some(&b"second"[..]));
        assert_ne!(first, second, "every write takes a new token");
        // Another worker wrote in between: the first token is stale.
        assert_eq!(set("t-cas", b"lost", first), Err(HostError::CasMismatch));
        assert_eq!(get("t-cas"), (Some(b"second".to_vec()), second));
        // Without a token (or token 0) a write always lands.
        set("t-cas", b"forced", None).unwrap();
        set("t-cas", b"forced-0", Some(0)).unwrap();
        assert_eq!(get("t-cas").0.as_deref(), Some(&b"forced-0"[..]));
    }

    #[test]
    fn an_empty_value_reads_as_none_with_its_token() {
        set("t-empty", b"", None).unwrap();
        let (value, cas) = get("t-empty");
        assert_eq!(value, None);
        assert!(cas.is_some());
    }
}
