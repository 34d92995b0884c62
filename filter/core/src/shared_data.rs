//! Keys and values of mtls-gate's entries in proxy-wasm shared data: the cache that the
//! syncing worker writes and every HTTP context reads. Versioned so that a new filter never
//! misreads an old layout (Envoy keeps shared data across a plugin reload): `v3` since a
//! paging carries the version its incremental sets reached ([`Paging::caught_up_to`]); `v2`
//! since a session's value carries its certificate's index entry ([`CachedSession`]).
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

const PREFIX: &str = "mtls-gate/v3/";

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
        let scope = const_hex::encode(digest.get(..8).unwrap_or_default());
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
        self.entry(generation, "/c/", id)
    }

    /// A session grant of `generation`, by session key (`org_id` + fingerprint).
    pub fn session(&self, generation: u64, key: &str) -> String {
        self.entry(generation, "/s/", key)
    }

    /// `<prefix><generation><kind><name>`, built without `format!`: a certificate-auth
    /// request builds one or two, and the formatting machinery costs several times the copy.
    fn entry(&self, generation: u64, kind: &str, name: &str) -> String {
        let mut digits = itoa::Buffer::new();
        let generation = digits.format(generation);
        let mut key =
            String::with_capacity(self.prefix.len() + generation.len() + kind.len() + name.len());
        for part in [self.prefix.as_str(), generation, kind, name] {
            key.push_str(part);
        }
        key
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
    pub paging: Option<Paging>,
}

/// A paged snapshot under way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    /// The generation its pages are written to.
    pub generation: u64,
    /// The version of its first page.
    pub version: u64,
    /// The cursor to ask the next page with; `None` once the last page is in, until the
    /// catch-up (the changes after `version`) is applied and the generation served.
    pub next: Option<String>,
    /// The store version that the incremental sets asked between pages have brought the
    /// served generation to (`version` until the first): a revocation made while a snapshot
    /// pages in takes effect within a sync interval, not after the last page.
    pub caught_up_to: u64,
}

impl SyncState {
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        decode_whole(bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
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
    postcard::to_allocvec(&stored::Certificate::from(entry)).unwrap_or_default()
}

/// `None` for a tombstone or an unreadable value (treated as absent: fail closed).
pub fn decode_certificate(bytes: &[u8]) -> Option<CertIndexEntry> {
    decode_whole::<stored::Certificate>(bytes).map(CertIndexEntry::from)
}

/// A session as cached, with what was known of the certificate of the same ID when it was
/// written. A certificate session's key is its certificate's store ID (SPEC §2), and a
/// request needs both: kept in one value, they cost one read.
///
/// The syncer keeps the two in step: a session it writes carries the certificate's entry,
/// and a certificate it writes or removes is written into the session of its ID too
/// ([`crate::sync`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSession {
    pub grant: SessionGrant,
    pub certificate: CachedCertificate,
}

/// What a [`CachedSession`] says of its certificate.
// Unboxed: decoded once per request and moved out at once; a box is an allocation more.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CachedCertificate {
    /// Not recorded with the session (written from a lookup's answer, which another worker
    /// may race with the feed): the certificate's own entry says.
    #[default]
    Unrecorded,
    /// Not in the store.
    Absent,
    Present(CertIndexEntry),
}

impl CachedCertificate {
    /// A certificate's entry as read from shared data (`None`: absent or removed).
    pub fn recorded(entry: Option<CertIndexEntry>) -> Self {
        entry.map_or(CachedCertificate::Absent, CachedCertificate::Present)
    }
}

pub fn encode_session(session: &CachedSession) -> Vec<u8> {
    postcard::to_allocvec(&stored::Session::from(session)).unwrap_or_default()
}

/// `None` for a tombstone or an unreadable value (treated as absent: fail closed).
pub fn decode_session(bytes: &[u8]) -> Option<CachedSession> {
    decode_whole::<stored::Session>(bytes).map(CachedSession::from)
}

/// A value that is exactly one `T`: trailing bytes mean it is something else.
fn decode_whole<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

/// The values' layouts in shared data: postcard, which decodes in a small fraction of the
/// wasm instructions JSON takes (a certificate-auth request decodes a session and its
/// certificate). Postcard is not self-describing: every field is written, in this order,
/// whatever the feed's JSON skips; a change of layout is a change of [`PREFIX`].
mod stored {
    use crate::feed::CertIndexEntry;
    use crate::fingerprint::Fingerprint;
    use crate::ids::CertificateId;
    use crate::session::SessionGrant;
    use crate::trust::TrustAnchorParts;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub(super) struct Certificate {
        id: String,
        fingerprint: [u8; 32],
        not_after: Option<i64>,
        has_private: bool,
        is_ca: bool,
        trust_anchor: Option<Anchor>,
    }

    #[derive(Serialize, Deserialize)]
    struct Anchor {
        subject: Vec<u8>,
        spki: Vec<u8>,
        name_constraints: Option<Vec<u8>>,
        path_len: Option<u8>,
        not_before: i64,
        not_after: i64,
        fingerprint: [u8; 32],
    }

    #[derive(Serialize, Deserialize)]
    struct Grant {
        alias: String,
        expires: i64,
        is_inactive: bool,
        api_ids: Vec<String>,
    }

    #[allow(clippy::large_enum_variant)] // as CachedCertificate
    #[derive(Serialize, Deserialize)]
    enum CertificateState {
        Unrecorded,
        Absent,
        Present(Certificate),
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct Session {
        grant: Grant,
        certificate: CertificateState,
    }

    impl From<&CertIndexEntry> for Certificate {
        fn from(entry: &CertIndexEntry) -> Self {
            Certificate {
                id: entry.id.as_str().to_owned(),
                fingerprint: *entry.fingerprint.as_bytes(),
                not_after: entry.not_after,
                has_private: entry.has_private,
                is_ca: entry.is_ca,
                trust_anchor: entry.trust_anchor.as_ref().map(|parts| Anchor {
                    subject: parts.subject.clone(),
                    spki: parts.spki.clone(),
                    name_constraints: parts.name_constraints.clone(),
                    path_len: parts.path_len,
                    not_before: parts.not_before,
                    not_after: parts.not_after,
                    fingerprint: *parts.fingerprint.as_bytes(),
                }),
            }
        }
    }

    impl From<Certificate> for CertIndexEntry {
        fn from(stored: Certificate) -> Self {
            CertIndexEntry {
                id: CertificateId::verbatim(stored.id),
                fingerprint: Fingerprint::from_bytes(stored.fingerprint),
                not_after: stored.not_after,
                has_private: stored.has_private,
                is_ca: stored.is_ca,
                trust_anchor: stored.trust_anchor.map(|anchor| TrustAnchorParts {
                    subject: anchor.subject,
                    spki: anchor.spki,
                    name_constraints: anchor.name_constraints,
                    path_len: anchor.path_len,
                    not_before: anchor.not_before,
                    not_after: anchor.not_after,
                    fingerprint: Fingerprint::from_bytes(anchor.fingerprint),
                }),
            }
        }
    }

    impl From<&super::CachedSession> for Session {
        fn from(session: &super::CachedSession) -> Self {
            let grant = &session.grant;
            Session {
                grant: Grant {
                    alias: grant.alias.clone(),
                    expires: grant.expires,
                    is_inactive: grant.is_inactive,
                    api_ids: grant.api_ids.clone(),
                },
                certificate: match &session.certificate {
                    super::CachedCertificate::Unrecorded => CertificateState::Unrecorded,
                    super::CachedCertificate::Absent => CertificateState::Absent,
                    super::CachedCertificate::Present(entry) => {
                        CertificateState::Present(entry.into())
                    }
                },
            }
        }
    }

    impl From<Session> for super::CachedSession {
        fn from(stored: Session) -> Self {
            let grant = stored.grant;
            super::CachedSession {
                grant: SessionGrant {
                    alias: grant.alias,
                    expires: grant.expires,
                    is_inactive: grant.is_inactive,
                    api_ids: grant.api_ids,
                },
                certificate: match stored.certificate {
                    CertificateState::Unrecorded => super::CachedCertificate::Unrecorded,
                    CertificateState::Absent => super::CachedCertificate::Absent,
                    CertificateState::Present(entry) => {
                        super::CachedCertificate::Present(entry.into())
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Writes the postcard seeds of the `shared_data` fuzz target (`fuzz/seeds/generate.py`
    /// writes the text ones and runs this): `cargo test -p mtls-gate-core --lib
    /// write_shared_data_fuzz_seeds -- --ignored`.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    #[ignore = "writes fuzz/seeds/shared_data/*.bin"]
    fn write_shared_data_fuzz_seeds() {
        use crate::test_support::{cert_entry, grant};
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/shared_data");
        let leaf = cert_entry("org1", "leaf", true);
        let seeds = [
            ("ok-certificate.bin", encode_certificate(&leaf)),
            (
                "ok-session.bin",
                encode_session(&CachedSession {
                    grant: grant(),
                    certificate: CachedCertificate::Present(leaf.clone()),
                }),
            ),
            (
                "ok-session-from-lookup.bin",
                encode_session(&CachedSession {
                    grant: grant(),
                    certificate: CachedCertificate::Unrecorded,
                }),
            ),
            (
                "ok-sync-state.bin",
                SyncState {
                    version: 42,
                    generation: 3,
                    last_success_ms: 1_893_456_000_000,
                    started_ms: 1_893_455_000_000,
                    paging: Some(Paging {
                        generation: 4,
                        version: 44,
                        next: Some("44:s:org1abc".into()),
                        caught_up_to: 46,
                    }),
                }
                .encode(),
            ),
        ];
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn values_read_back_as_written_and_nothing_else_reads_as_one() {
        use crate::test_support::{cert_entry, grant};
        let mut ca = cert_entry("org", "root", true);
        ca.is_ca = true;
        ca.not_after = None;
        ca.trust_anchor = Some(crate::trust::TrustAnchorParts {
            subject: vec![1, 2],
            spki: vec![3],
            name_constraints: Some(vec![4]),
            path_len: Some(0),
            not_before: -5,
            not_after: 9,
            fingerprint: ca.fingerprint,
        });
        assert_eq!(
            decode_certificate(&encode_certificate(&ca)),
            Some(ca.clone())
        );
        for certificate in [
            CachedCertificate::Unrecorded,
            CachedCertificate::Absent,
            CachedCertificate::Present(ca.clone()),
        ] {
            let session = CachedSession {
                grant: grant(),
                certificate,
            };
            assert_eq!(decode_session(&encode_session(&session)), Some(session));
        }
        let state = SyncState {
            paging: Some(Paging {
                generation: 2,
                version: 7,
                next: Some("7:s:k".into()),
                caught_up_to: 9,
            }),
            ..SyncState::default()
        };
        assert_eq!(SyncState::decode(&state.encode()), Some(state.clone()));
        // A value with bytes to spare is some other value, and an old JSON one is unread.
        let mut longer = encode_certificate(&ca);
        longer.push(0);
        assert_eq!(decode_certificate(&longer), None);
        let json = serde_json::to_vec(&ca).unwrap();
        assert_eq!(decode_certificate(&json), None);
        assert_eq!(decode_session(&json), None);
    }

    #[test]
    fn generations_never_share_keys() {
        let ns = Namespace::for_store("shim", "shim.local");
        let scope = ns.sync_state().trim_end_matches("sync").to_owned();
        assert_eq!(ns.session(12, "org1ab"), format!("{scope}12/s/org1ab"));
        assert_eq!(
            ns.certificate(u64::MAX, "id"),
            format!("{scope}{}/c/id", u64::MAX)
        );
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
