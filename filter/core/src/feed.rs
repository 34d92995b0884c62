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

/// `LOOKUP_PATH_PREFIX` + the key, percent-encoded as one path segment.
pub fn lookup_path(session_key: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // RFC 3986 unreserved characters stay as they are.
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    format!(
        "{LOOKUP_PATH_PREFIX}{}",
        utf8_percent_encode(session_key, SEGMENT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

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
        }
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
            lookup_path(&format!("org 1/{FP}")),
            format!("/mtls-gate/v1/lookup/org%201%2F{FP}")
        );
    }
}
