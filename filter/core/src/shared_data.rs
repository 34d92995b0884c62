//! Keys and values of mtls-gate's entries in proxy-wasm shared data: the cache that the
//! syncing worker writes and every HTTP context reads. Versioned (`v1`) so that a new
//! filter never misreads an old layout.
//!
//! Shared data has no delete and no listing (ABI 0.2.1): removals are tombstones, and a
//! full snapshot moves to a new `generation`, so stale entries of the old generation are
//! simply never read again. A tombstone is an explicit one-byte marker, not an empty value:
//! the Rust SDK reads an empty value back as "no value", which would turn a removal into
//! "never seen" (and a lookup) instead of "known absent".

use crate::feed::CertIndexEntry;
use crate::session::SessionGrant;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "mtls-gate/v1/";

/// Where the sync stands; written by the lease holder after each applied change set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// Last change-feed version applied.
    pub version: u64,
    /// Generation the current entries live under.
    pub generation: u64,
    /// Unix ms of the last successful sync; 0 before the first one.
    pub last_success_ms: i64,
    /// Unix ms when the first worker started, so staleness is measured before any sync.
    pub started_ms: i64,
}

impl SyncState {
    pub const KEY: &'static str = "mtls-gate/v1/sync";

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// No successful sync for longer than `max_stale_ms` (counted from start before the first).
    pub fn is_stale(&self, now_ms: i64, max_stale_ms: i64) -> bool {
        let since = if self.last_success_ms > 0 {
            self.last_success_ms
        } else {
            self.started_ms
        };
        since > 0 && now_ms - since > max_stale_ms
    }
}

/// The right to call the feed, held by one root context at a time (SPEC: one syncer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub holder: u64,
    pub expires_ms: i64,
}

impl Lease {
    pub const KEY: &'static str = "mtls-gate/v1/lease";

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (holder, expires) = text.split_once(':')?;
        Some(Lease {
            holder: holder.parse().ok()?,
            expires_ms: expires.parse().ok()?,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        format!("{}:{}", self.holder, self.expires_ms).into_bytes()
    }

    /// May `me` take (or keep) this lease at `now_ms`?
    pub fn available_to(&self, me: u64, now_ms: i64) -> bool {
        self.holder == me || now_ms >= self.expires_ms
    }
}

/// The value that marks a removed entry.
pub const TOMBSTONE: &[u8] = b"-";

pub fn is_tombstone(value: &[u8]) -> bool {
    value == TOMBSTONE || value.is_empty()
}

/// Counter used to hand each VM a distinct holder ID (incremented with CAS).
pub const WORKER_COUNTER_KEY: &str = "mtls-gate/v1/workers";

/// A certificate index entry of `generation`.
pub fn certificate_key(generation: u64, id: &str) -> String {
    format!("{PREFIX}{generation}/c/{id}")
}

/// A session grant of `generation`, by session key (`org_id` + fingerprint).
pub fn session_key(generation: u64, key: &str) -> String {
    format!("{PREFIX}{generation}/s/{key}")
}

/// Negative lookup cache: value is the unix ms until which "no session" holds.
pub fn miss_key(key: &str) -> String {
    format!("{PREFIX}miss/{key}")
}

pub fn encode_certificate(entry: &CertIndexEntry) -> Vec<u8> {
    serde_json::to_vec(entry).unwrap_or_default()
}

/// `None` for a tombstone or an unreadable value (treated as absent: fail closed).
pub fn decode_certificate(bytes: &[u8]) -> Option<CertIndexEntry> {
    serde_json::from_slice(bytes).ok()
}

pub fn encode_session(grant: &SessionGrant) -> Vec<u8> {
    serde_json::to_vec(grant).unwrap_or_default()
}

pub fn decode_session(bytes: &[u8]) -> Option<SessionGrant> {
    serde_json::from_slice(bytes).ok()
}

pub fn encode_miss(until_ms: i64) -> Vec<u8> {
    until_ms.to_string().into_bytes()
}

pub fn decode_miss(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn lease_round_trips_and_expires() {
        let lease = Lease {
            holder: 7,
            expires_ms: 1_000,
        };
        assert_eq!(Lease::decode(&lease.encode()), Some(lease));
        assert!(lease.available_to(7, 0), "holder keeps its lease");
        assert!(!lease.available_to(8, 999));
        assert!(
            lease.available_to(8, 1_000),
            "an expired lease is up for grabs"
        );
        assert_eq!(Lease::decode(b"garbage"), None);
        assert_eq!(Lease::decode(b""), None);
    }

    #[test]
    fn staleness_counts_from_start_until_the_first_sync() {
        let mut state = SyncState {
            started_ms: 1_000,
            ..SyncState::default()
        };
        assert!(!state.is_stale(1_500, 1_000));
        assert!(state.is_stale(2_001, 1_000));
        state.last_success_ms = 2_000;
        assert!(!state.is_stale(2_500, 1_000));
        assert!(state.is_stale(3_001, 1_000));
        assert_eq!(SyncState::decode(&state.encode()), Some(state));
    }

    #[test]
    fn generations_never_share_keys() {
        assert_ne!(certificate_key(1, "x"), certificate_key(2, "x"));
        assert_ne!(session_key(1, "x"), certificate_key(1, "x"));
        assert_eq!(decode_session(TOMBSTONE), None, "tombstone reads as absent");
        assert!(is_tombstone(TOMBSTONE) && is_tombstone(b"") && !is_tombstone(b"{}"));
        assert_eq!(decode_miss(&encode_miss(42)), Some(42));
    }
}
