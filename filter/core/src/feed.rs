//! The change feed from the shim to the filter (ARCHITECTURE "Change feed"): the one
//! definition of its paths and JSON bodies. The shim encodes these, the filter decodes them.
//!
//! Both endpoints take `Authorization: Bearer <feed token>` (SPEC §2: the feed token opens no
//! admin route, and the admin secret does not open the feed).
//!
//! `GET /mtls-gate/v1/changes?since=<version>` answers a [`ChangeSet`]:
//! - `since` = the `version` of the last set the receiver applied, or 0 for none.
//! - An incremental set (`full: false`) holds every change after `since`, folded so that each
//!   certificate ID and each session key appears at most once, in either the upserts or the
//!   removals. Apply removals and upserts, then remember `version`.
//! - A snapshot (`full: true`) is sent when `since` is 0, older than the retained change log,
//!   or from another store (see below). The receiver drops everything it had, then applies it.
//! - Versions only grow. Each store starts at its own random base, so a `since` from another
//!   store, or from a store that was wiped, falls outside the retained window and is answered
//!   with a snapshot.
//!
//! Snapshots in pages: with `&page_size=<n>` a snapshot comes in pages of at most `n`
//! entries (certificates by ID, then sessions by key). A page that is not the last carries
//! `next`, an opaque cursor: ask `?since=0&page_size=<n>&after=<next>` for the one after it.
//! The receiver writes the pages aside (the entries it serves stay as they were) and switches
//! to them after the last page, at the first page's `version`. Later pages may come from a
//! newer state of the store than the first (the shim never answers from an older one): an
//! entry changed meanwhile is in the incremental set after `version` too, so the next
//! incremental set brings the receiver to the truth. The receiver asks for those sets
//! between pages too (once a sync interval has passed), and writes them into both the
//! entries it serves and the pages already in: a revocation does not wait for the last page. Without `page_size` a snapshot is one
//! body, as before pages existed: a 100,000-session store is a 35 MiB answer, more than
//! Envoy hands a filter's call (README "Limits").
//!
//! `GET /mtls-gate/v1/lookup/<session key>` answers a [`LookupAnswer`], status 200 whether or
//! not the session exists: the filter's lookup on a cache miss (SPEC §4 "New keys").

use crate::fingerprint::Fingerprint;
use crate::ids::{CertificateId, SessionKey};
use crate::session::SessionGrant;
use crate::trust::TrustAnchorParts;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// `GET` with `?since=<u64>`.
pub const CHANGES_PATH: &str = "/mtls-gate/v1/changes";
/// `GET` + the percent-encoded session key (`org_id` + fingerprint).
pub const LOOKUP_PATH_PREFIX: &str = "/mtls-gate/v1/lookup/";

/// Everything that changed after `since`, or a snapshot.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSet {
    /// The store version this set brings the receiver to; send it back as `since`.
    pub version: u64,
    /// True for a snapshot: the receiver drops everything it had before applying it.
    pub full: bool,
    /// Certificates added (or, in a snapshot, present).
    pub certs: Vec<CertIndexEntry>,
    /// IDs of certificates deleted.
    pub removed_certs: Vec<CertificateId>,
    /// Sessions created or updated (or, in a snapshot, present).
    pub sessions: Vec<SessionEntry>,
    /// Keys of sessions deleted. Deleting a certificate does not delete its sessions (SPEC §2):
    /// they stay, and open nothing until the certificate is back in `certs`.
    pub removed_sessions: Vec<SessionKey>,
    /// In a snapshot page that is not the last: the cursor to ask the next page with
    /// (`after=`). Absent everywhere else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// What the filter knows about a stored certificate. No key or certificate material.
///
/// No `Default`: there is no sensible default fingerprint.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CertIndexEntry {
    /// Store ID: `org_id` + fingerprint (any string read back: see [`CertificateId`]).
    pub id: CertificateId,
    /// The leaf's SHA-256, or for a public-key entry the SPKI's. On the wire: bare 64
    /// lowercase hex.
    pub fingerprint: Fingerprint,
    /// When the certificate expires (unix seconds); `None` for entries that never do
    /// (public keys). On the wire Tyk-style: `"not_after": 0` for never ([`never_is_zero`]).
    #[serde(with = "never_is_zero")]
    pub not_after: Option<i64>,
    /// True when the store holds the private key (usable as an upstream client certificate).
    pub has_private: bool,
    pub is_ca: bool,
    /// For a CA: what a filter needs to trust it when an allow list names it (SPEC §3),
    /// without the certificate itself. Absent for everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_anchor: Option<TrustAnchorParts>,
}

impl CertIndexEntry {
    /// When the certificate expires; `None` for entries that never do.
    pub fn expiry(&self) -> Option<i64> {
        self.not_after
    }
}

/// An optional expiry as the wire has always carried it: unix seconds, 0 for "never".
///
/// `None` is written as `0` and `0` reads back as `None`; every other value is itself (a
/// negative one is a date before 1970, long expired: it is not "never"). So `Some(0)`, an
/// expiry at the epoch, cannot be sent; it would read back as "never", and nothing makes one
/// (an upload refuses expired certificates).
pub mod never_is_zero {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        expiry: &Option<i64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(expiry.unwrap_or(0))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        let seconds = i64::deserialize(deserializer)?;
        Ok((seconds != 0).then_some(seconds))
    }
}

/// One session, by key.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    /// `org_id` + fingerprint for a certificate session (any string read back: see
    /// [`SessionKey`]).
    pub key: SessionKey,
    pub grant: SessionGrant,
}

/// The answer to one lookup. `session` is `None` when no session has that key; `cert` is the
/// certificate the session is bound to, or else the certificate whose ID equals the key.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LookupAnswer {
    pub key: SessionKey,
    pub session: Option<SessionGrant>,
    pub cert: Option<CertIndexEntry>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FeedError {
    #[error("malformed feed body: {0}")]
    Malformed(String),
}

impl ChangeSet {
    pub fn decode(bytes: &[u8]) -> Result<Self, FeedError> {
        serde_json::from_slice(bytes).map_err(|e| FeedError::Malformed(e.to_string()))
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain structs with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl LookupAnswer {
    pub fn decode(bytes: &[u8]) -> Result<Self, FeedError> {
        serde_json::from_slice(bytes).map_err(|e| FeedError::Malformed(e.to_string()))
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `CHANGES_PATH?since=<since>`.
pub fn changes_path(since: u64) -> String {
    format!("{CHANGES_PATH}?since={since}")
}

/// `CHANGES_PATH?since=<since>&page_size=<page_size>`: a snapshot, if that is the answer,
/// comes in pages.
pub fn changes_path_in_pages(since: u64, page_size: usize) -> String {
    format!("{CHANGES_PATH}?since={since}&page_size={page_size}")
}

/// The snapshot page after `next` (a [`ChangeSet::next`], sent back as it came).
pub fn snapshot_page_path(next: &str, page_size: usize) -> String {
    format!(
        "{CHANGES_PATH}?since=0&page_size={page_size}&after={}",
        percent_encoding::utf8_percent_encode(next, UNRESERVED_KEPT)
    )
}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `LOOKUP_PATH_PREFIX` + the key, percent-encoded as one path segment.
pub fn lookup_path(session_key: &str) -> String {
    format!(
        "{LOOKUP_PATH_PREFIX}{}",
        percent_encoding::utf8_percent_encode(session_key, UNRESERVED_KEPT)
    )
}

/// Where a snapshot page ends: the version of the snapshot's first page, and the last
/// entry sent. On the wire (`next`, `after`): `<version>:c:<certificate ID>` or
/// `<version>:s:<session key>`. Only the shim reads it; the filter sends it back as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    /// The version the receiver switches to after the last page.
    pub version: u64,
    position: Position,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Position {
    AfterCertificate(String),
    AfterSession(String),
}

impl PageCursor {
    pub fn parse(text: &str) -> Result<Self, FeedError> {
        let malformed = || FeedError::Malformed(format!("page cursor {text:?}"));
        let (version, rest) = text.split_once(':').ok_or_else(malformed)?;
        let version = version.parse().map_err(|_| malformed())?;
        let position = if let Some(id) = rest.strip_prefix("c:") {
            Position::AfterCertificate(id.to_owned())
        } else if let Some(key) = rest.strip_prefix("s:") {
            Position::AfterSession(key.to_owned())
        } else {
            return Err(malformed());
        };
        Ok(PageCursor { version, position })
    }

    pub fn encode(&self) -> String {
        match &self.position {
            Position::AfterCertificate(id) => format!("{}:c:{id}", self.version),
            Position::AfterSession(key) => format!("{}:s:{key}", self.version),
        }
    }
}

/// A snapshot ready to be sent in pages: certificates sorted by ID, sessions by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagedSnapshot {
    set: ChangeSet,
}

impl PagedSnapshot {
    pub fn new(mut set: ChangeSet) -> Self {
        set.certs
            .sort_unstable_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        set.sessions
            .sort_unstable_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
        PagedSnapshot { set }
    }

    /// The store version this snapshot shows.
    pub fn version(&self) -> u64 {
        self.set.version
    }

    /// The page of at most `page_size` entries (at least 1) after `after`, or the first.
    /// Every page says the first page's version; `next` is set unless it is the last.
    pub fn page(&self, after: Option<&PageCursor>, page_size: usize) -> ChangeSet {
        let page_size = page_size.max(1);
        let version = after.map_or(self.set.version, |c| c.version);
        let (certs_from, sessions_from) = match after.map(|c| &c.position) {
            None => (0, 0),
            Some(Position::AfterCertificate(id)) => (
                self.set
                    .certs
                    .partition_point(|c| c.id.as_str() <= id.as_str()),
                0,
            ),
            Some(Position::AfterSession(key)) => (
                self.set.certs.len(),
                self.set
                    .sessions
                    .partition_point(|s| s.key.as_str() <= key.as_str()),
            ),
        };
        let certs: Vec<CertIndexEntry> = self
            .set
            .certs
            .iter()
            .skip(certs_from)
            .take(page_size)
            .cloned()
            .collect();
        let sessions: Vec<SessionEntry> = self
            .set
            .sessions
            .iter()
            .skip(sessions_from)
            .take(page_size.saturating_sub(certs.len()))
            .cloned()
            .collect();
        let last = if let Some(session) = sessions.last() {
            Position::AfterSession(session.key.as_str().to_owned())
        } else if let Some(cert) = certs.last() {
            Position::AfterCertificate(cert.id.as_str().to_owned())
        } else {
            // Nothing after the cursor: this (empty) page is the last.
            return ChangeSet {
                version,
                full: true,
                ..ChangeSet::default()
            };
        };
        let sent_sessions_to = sessions_from + sessions.len();
        let more = sent_sessions_to < self.set.sessions.len()
            || (sessions.is_empty() && certs_from + certs.len() < self.set.certs.len());
        ChangeSet {
            version,
            full: true,
            certs,
            sessions,
            next: more.then(|| {
                PageCursor {
                    version,
                    position: last,
                }
                .encode()
            }),
            ..ChangeSet::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn fp() -> Fingerprint {
        Fingerprint::parse_wire_hex(FP).unwrap()
    }

    fn sample() -> ChangeSet {
        ChangeSet {
            version: 4_294_967_301,
            full: false,
            certs: vec![
                CertIndexEntry {
                    id: CertificateId::new("org1", &fp()),
                    fingerprint: fp(),
                    not_after: Some(1_900_000_000),
                    has_private: true,
                    is_ca: false,
                    trust_anchor: None,
                },
                CertIndexEntry {
                    id: CertificateId::new("", &fp()),
                    fingerprint: fp(),
                    not_after: None,
                    has_private: false,
                    is_ca: false,
                    trust_anchor: None,
                },
            ],
            removed_certs: vec![CertificateId::verbatim("gone")],
            sessions: vec![SessionEntry {
                key: SessionKey::new("org1", &fp()),
                grant: SessionGrant {
                    alias: "client".into(),
                    expires: 0,
                    is_inactive: false,
                    api_ids: vec!["api1".into()],
                },
            }],
            removed_sessions: vec![SessionKey::verbatim("org1old")],
            next: None,
        }
    }

    fn entry(i: usize) -> CertIndexEntry {
        CertIndexEntry {
            id: CertificateId::verbatim(format!("cert{i:02}")),
            fingerprint: fp(),
            not_after: None,
            has_private: false,
            is_ca: false,
            trust_anchor: None,
        }
    }

    fn session(i: usize) -> SessionEntry {
        SessionEntry {
            key: SessionKey::verbatim(format!("key{i:02}")),
            grant: SessionGrant::default(),
        }
    }

    /// A snapshot with `certs` certificates and `sessions` sessions, listed out of order.
    fn snapshot(certs: usize, sessions: usize) -> ChangeSet {
        ChangeSet {
            version: 42,
            full: true,
            certs: (0..certs).rev().map(entry).collect(),
            sessions: (0..sessions).rev().map(session).collect(),
            ..ChangeSet::default()
        }
    }

    /// Every page of `paged`, asked as a filter asks: `next` sent back through its text.
    fn all_pages(paged: &PagedSnapshot, page_size: usize) -> Vec<ChangeSet> {
        let mut pages = vec![paged.page(None, page_size)];
        while let Some(next) = pages.last().and_then(|p| p.next.clone()) {
            let cursor = PageCursor::parse(&next).unwrap();
            pages.push(paged.page(Some(&cursor), page_size));
            assert!(pages.len() < 100, "paging does not end");
        }
        pages
    }

    #[test]
    fn a_snapshot_in_pages_is_every_entry_once_in_order_at_the_first_version() {
        for (certs, sessions, page_size) in [
            (5, 7, 3),
            (6, 6, 3),
            (0, 4, 2),
            (4, 0, 2),
            (3, 3, 100),
            (0, 0, 5),
            (2, 2, 1),
        ] {
            let whole = PagedSnapshot::new(snapshot(certs, sessions));
            let pages = all_pages(&whole, page_size);
            let got_certs: Vec<_> = pages.iter().flat_map(|p| p.certs.clone()).collect();
            let got_sessions: Vec<_> = pages.iter().flat_map(|p| p.sessions.clone()).collect();
            assert_eq!(got_certs, (0..certs).map(entry).collect::<Vec<_>>());
            assert_eq!(got_sessions, (0..sessions).map(session).collect::<Vec<_>>());
            let expected_pages = (certs + sessions).div_ceil(page_size).max(1);
            assert_eq!(
                pages.len(),
                expected_pages,
                "{certs}+{sessions} by {page_size}"
            );
            for page in &pages {
                assert!(page.full && page.version == 42);
                assert!(page.certs.len() + page.sessions.len() <= page_size);
            }
            assert!(pages.last().unwrap().next.is_none());
        }
    }

    #[test]
    fn later_pages_from_a_newer_snapshot_go_on_after_the_cursor_and_keep_the_first_version() {
        let first = PagedSnapshot::new(snapshot(4, 4)).page(None, 3);
        let cursor = PageCursor::parse(first.next.as_deref().unwrap()).unwrap();
        assert_eq!(cursor.version, 42);
        // Meanwhile cert02 (the cursor's entry) was deleted and cert01 and key09 added.
        let mut newer = snapshot(4, 4);
        newer.version = 50;
        newer.certs.retain(|c| c.id.as_str() != "cert02");
        newer.sessions.push(session(9));
        let newer = PagedSnapshot::new(newer);
        let second = newer.page(Some(&cursor), 3);
        assert_eq!(second.version, 42);
        assert_eq!(second.certs, vec![entry(3)]);
        assert_eq!(second.sessions, vec![session(0), session(1)]);
        let third = newer.page(
            Some(&PageCursor::parse(second.next.as_deref().unwrap()).unwrap()),
            3,
        );
        assert_eq!(third.sessions, vec![session(2), session(3), session(9)]);
        assert_eq!(third.next, None);
    }

    #[test]
    fn page_cursors_round_trip_and_bad_ones_are_errors() {
        let pages = all_pages(&PagedSnapshot::new(snapshot(2, 2)), 1);
        let cursors: Vec<_> = pages.iter().filter_map(|p| p.next.clone()).collect();
        assert_eq!(cursors, ["42:c:cert00", "42:c:cert01", "42:s:key00"]);
        for text in &cursors {
            assert_eq!(&PageCursor::parse(text).unwrap().encode(), text);
        }
        // Keys are any string, colons included.
        let odd = "7:s:org:1/key with spaces";
        assert_eq!(PageCursor::parse(odd).unwrap().encode(), odd);
        for bad in ["", "42", "42:", "42:x:a", "x:c:a", "-1:c:a", ":c:a"] {
            assert!(PageCursor::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_page_with_next_round_trips_and_a_set_without_it_is_unchanged() {
        let page = PagedSnapshot::new(snapshot(2, 0)).page(None, 1);
        assert_eq!(page.next.as_deref(), Some("42:c:cert00"));
        assert_eq!(ChangeSet::decode(&page.encode()), Ok(page));
        assert!(
            !String::from_utf8(sample().encode())
                .unwrap()
                .contains("next")
        );
    }

    /// [`sample`] as the feed wrote it when IDs, keys and fingerprints were `String`s and
    /// `not_after` an `i64` (produced by that code, before the typed fields): the wire format
    /// is unchanged byte for byte.
    const SAMPLE_JSON: &str = concat!(
        r#"{"version":4294967301,"full":false,"certs":["#,
        r#"{"id":"org1e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
        r#""fingerprint":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
        r#""not_after":1900000000,"has_private":true,"is_ca":false},"#,
        r#"{"id":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
        r#""fingerprint":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
        r#""not_after":0,"has_private":false,"is_ca":false}],"#,
        r#""removed_certs":["gone"],"#,
        r#""sessions":[{"key":"org1e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
        r#""grant":{"alias":"client","expires":0,"is_inactive":false,"api_ids":["api1"]}}],"#,
        r#""removed_sessions":["org1old"]}"#,
    );

    #[test]
    fn the_typed_change_set_is_the_old_wire_format_byte_for_byte() {
        assert_eq!(
            std::str::from_utf8(&sample().encode()).unwrap(),
            SAMPLE_JSON
        );
        assert_eq!(ChangeSet::decode(SAMPLE_JSON.as_bytes()), Ok(sample()));
    }

    #[test]
    fn fingerprints_read_in_either_case_and_are_written_lowercase() {
        let upper = SAMPLE_JSON.replace(FP, &FP.to_uppercase());
        let set = ChangeSet::decode(upper.as_bytes()).unwrap();
        assert_eq!(set.certs.first().map(|c| c.fingerprint), Some(fp()));
        // IDs and keys are not fingerprints: they are kept exactly as sent.
        assert_eq!(
            set.certs.first().map(|c| c.id.as_str().to_owned()),
            Some(format!("org1{}", FP.to_uppercase()))
        );
        let encoded = String::from_utf8(set.encode()).unwrap();
        assert!(
            encoded.contains(&format!(r#""fingerprint":"{FP}""#)),
            "{encoded}"
        );
    }

    #[test]
    fn a_bad_fingerprint_makes_the_body_malformed() {
        for bad in [&FP[..63], "", "not-a-fingerprint"] {
            let body = SAMPLE_JSON.replacen(
                &format!(r#""fingerprint":"{FP}""#),
                &format!(r#""fingerprint":"{bad}""#),
                1,
            );
            let Err(FeedError::Malformed(error)) = ChangeSet::decode(body.as_bytes()) else {
                panic!("{bad:?} accepted");
            };
            assert!(error.contains("64 hex characters"), "{error}");
        }
        let colons = SAMPLE_JSON.replacen(FP, "e3:b0", 2);
        assert!(ChangeSet::decode(colons.as_bytes()).is_err());
    }

    #[test]
    fn not_after_zero_is_never_and_anything_else_is_a_date() {
        let set = ChangeSet::decode(SAMPLE_JSON.as_bytes()).unwrap();
        let expiries: Vec<_> = set.certs.iter().map(CertIndexEntry::expiry).collect();
        assert_eq!(expiries, [Some(1_900_000_000), None]);
        // A date before 1970 is long expired, not "never" (fail closed).
        let negative = SAMPLE_JSON.replace("1900000000", "-5");
        let set = ChangeSet::decode(negative.as_bytes()).unwrap();
        assert_eq!(set.certs.first().and_then(CertIndexEntry::expiry), Some(-5));
        assert!(
            String::from_utf8(set.encode())
                .unwrap()
                .contains(r#""not_after":-5"#)
        );
    }

    #[test]
    fn change_set_round_trips() {
        let set = sample();
        assert_eq!(ChangeSet::decode(&set.encode()), Ok(set));
    }

    #[test]
    fn change_set_wire_names_are_stable() {
        let value: serde_json::Value = serde_json::from_slice(&sample().encode()).unwrap();
        let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        for key in [
            "version",
            "full",
            "certs",
            "removed_certs",
            "sessions",
            "removed_sessions",
        ] {
            assert!(keys.contains(&key.to_string()), "missing {key}");
        }
        assert_eq!(value["certs"][0]["fingerprint"], FP);
        assert_eq!(value["sessions"][0]["grant"]["api_ids"][0], "api1");
    }

    #[test]
    fn lookup_answer_round_trips_found_and_not_found() {
        let found = LookupAnswer {
            key: SessionKey::verbatim("k"),
            session: Some(SessionGrant::default()),
            cert: sample().certs.first().cloned(),
        };
        assert_eq!(LookupAnswer::decode(&found.encode()), Ok(found));
        let missing = LookupAnswer {
            key: SessionKey::verbatim("k"),
            session: None,
            cert: None,
        };
        let bytes = missing.encode();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"key":"k","session":null,"cert":null}"#
        );
        assert_eq!(LookupAnswer::decode(&bytes), Ok(missing));
    }

    #[test]
    fn a_lookup_answer_is_the_old_wire_format_byte_for_byte() {
        // As the `String`-typed code wrote it; the key is one a user chose, not a cert ID.
        let old = concat!(
            r#"{"key":"my-chosen-key","#,
            r#""session":{"alias":"","expires":0,"is_inactive":false,"api_ids":[]},"#,
            r#""cert":{"id":"org1e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
            r#""fingerprint":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
            r#""not_after":1900000000,"has_private":true,"is_ca":false}}"#,
        );
        let answer = LookupAnswer {
            key: SessionKey::verbatim("my-chosen-key"),
            session: Some(SessionGrant::default()),
            cert: sample().certs.first().cloned(),
        };
        assert_eq!(std::str::from_utf8(&answer.encode()).unwrap(), old);
        assert_eq!(LookupAnswer::decode(old.as_bytes()), Ok(answer));
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in [&b""[..], b"{", b"null", b"{\"version\":-1}", b"\xff\xfe"] {
            assert!(ChangeSet::decode(body).is_err(), "{body:?}");
            assert!(LookupAnswer::decode(body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn paths_are_built_from_the_constants() {
        assert_eq!(changes_path(7), "/mtls-gate/v1/changes?since=7");
        assert_eq!(
            changes_path_in_pages(7, 500),
            "/mtls-gate/v1/changes?since=7&page_size=500"
        );
        assert_eq!(
            snapshot_page_path("7:s:org 1/k&x=y", 500),
            "/mtls-gate/v1/changes?since=0&page_size=500&after=7%3As%3Aorg%201%2Fk%26x%3Dy"
        );
        assert_eq!(
            lookup_path(&format!("org 1/{FP}")),
            format!("/mtls-gate/v1/lookup/org%201%2F{FP}")
        );
    }
}
