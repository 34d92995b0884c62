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
use sha2::{Digest, Sha256};

const PREFIX: &str = "mtls-gate/v1/";

/// Where one gate's entries live. Shared data is per `vm_id`, and two gates in one Envoy
/// with different stores must not share a lease, a version or sessions: every key is scoped
/// to the store (its Envoy cluster and authority). Gates on the same store share one cache
/// and one syncer, which is what they want.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
    /// The [`SyncState`]'s key, built once: every request through a store reads it.
    sync_key: String,
}

impl Namespace {
    pub fn for_store(cluster: &str, authority: &str) -> Namespace {
        let digest = Sha256::new()
            .chain_update(cluster.as_bytes())
            .chain_update([0u8])
            .chain_update(authority.as_bytes())
            .finalize();
        let scope = hex::encode(digest.get(..8).unwrap_or_default());
        let prefix = format!("{PREFIX}{scope}/");
        Namespace {
            sync_key: format!("{prefix}sync"),
            prefix,
        }
    }

    /// The [`SyncState`].
    pub fn sync_state(&self) -> String {
        self.sync_key.clone()
    }

    /// The [`SyncState`]'s key, borrowed (the per-request read allocates nothing for it).
    pub fn sync_state_key(&self) -> &str {
        &self.sync_key
    }

    /// The [`Lease`].
    pub fn lease(&self) -> String {
        format!("{}lease", self.prefix)
    }

    /// Counter used to hand each VM a distinct holder ID (incremented with CAS).
    pub fn worker_counter(&self) -> String {
        format!("{}workers", self.prefix)
    }

    /// A certificate index entry of `generation`.
    pub fn certificate(&self, generation: u64, id: &str) -> String {
        format!("{}{generation}/c/{id}", self.prefix)
    }

    /// A session grant of `generation`, by session key (`org_id` + fingerprint).
    pub fn session(&self, generation: u64, key: &str) -> String {
        format!("{}{generation}/s/{key}", self.prefix)
    }
}

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
    /// A snapshot coming in pages, written aside under its own generation until the last
    /// page (`crate::feed`: "Snapshots in pages"). Kept here, not in the syncing root
    /// context, so that a worker taking the lease over goes on where the last one stopped,
    /// and never reuses a half-written generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// A paged snapshot under way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    /// The generation its pages are written to.
    pub generation: u64,
    /// The version of its first page: the sync state's version once the last page is in.
    pub version: u64,
    /// The cursor to ask the next page with.
    pub next: String,
}

impl SyncState {
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The generation for a new snapshot: past the one served and any paged one begun.
    pub fn next_generation(&self) -> u64 {
        self.paging
            .as_ref()
            .map_or(self.generation, |p| p.generation.max(self.generation))
            .saturating_add(1)
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
        let ns = Namespace::for_store("shim", "shim.local");
        assert_ne!(ns.certificate(1, "x"), ns.certificate(2, "x"));
        assert_ne!(ns.session(1, "x"), ns.certificate(1, "x"));
        assert_eq!(decode_session(TOMBSTONE), None, "tombstone reads as absent");
        assert!(is_tombstone(TOMBSTONE) && is_tombstone(b"") && !is_tombstone(b"{}"));
    }

    #[test]
    fn gates_on_different_stores_never_share_a_key() {
        let a = Namespace::for_store("shim-a", "shim");
        let b = Namespace::for_store("shim-b", "shim");
        let c = Namespace::for_store("shim-a", "other");
        // A separator keeps ("ab", "c") apart from ("a", "bc").
        let d = Namespace::for_store("shim-", "ashim");
        for other in [&b, &c, &d] {
            assert_ne!(a.lease(), other.lease());
            assert_ne!(a.sync_state(), other.sync_state());
            assert_ne!(a.worker_counter(), other.worker_counter());
            assert_ne!(a.session(1, "k"), other.session(1, "k"));
            assert_ne!(a.certificate(1, "k"), other.certificate(1, "k"));
        }
        assert_eq!(a, Namespace::for_store("shim-a", "shim"));
    }
}
