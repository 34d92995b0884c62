//! The identifiers built from an org and a fingerprint, in one place (SPEC §1, §2):
//! a store certificate ID is `org_id` + the 64 lowercase hex of the fingerprint, a plain
//! prefix with no separator, and the key of the session bound to that certificate is that
//! same ID. The shim writes sessions under [`SessionKey`]s and the filter looks them up by
//! [`SessionKey`]s; if the two ever disagreed, certificate auth would answer 401 to everyone,
//! so both build them with [`CertificateId::new`] and nothing else formats one.
//!
//! Both are strings on the wire (`#[serde(transparent)]`), and both deserialise from any
//! string: what a type guarantees is what it *is*, not a shape. [`CertificateId::verbatim`]
//! and [`SessionKey::verbatim`] wrap a value read from the feed, a store record, an admin
//! path or a config reference as it is; code that makes a new ID or key calls `new`.

use crate::fingerprint::Fingerprint;
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;

/// The ID of a stored certificate (or public key), as the store and the feed spell it.
///
/// Every ID the shim creates is `org_id` + the 64 lowercase hex of the fingerprint
/// ([`CertificateId::new`], SPEC §1). The type does not promise that shape for IDs read back
/// ([`CertificateId::verbatim`]): a feed or store written by something else, and the tests,
/// carry other strings, and the filter only ever compares an ID with the IDs its config
/// names, so an ID is an opaque, exactly-compared key once made. Use
/// [`CertificateId::parse`] to get the org and fingerprint back out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CertificateId(String);

impl CertificateId {
    /// The one builder of `org_id` + fingerprint (SPEC §1).
    pub fn new(org_id: &str, fingerprint: &Fingerprint) -> Self {
        // Not `format!`: certificate auth builds one per request, and the formatting
        // machinery costs several times the copy.
        let hex = fingerprint.hex();
        let mut id = String::with_capacity(org_id.len() + hex.as_str().len());
        id.push_str(org_id);
        id.push_str(hex.as_str());
        CertificateId(id)
    }

    /// An ID exactly as read (feed, store row, admin path, config entry), unchecked. Not for
    /// making a new ID from an org and a fingerprint: that is [`CertificateId::new`].
    pub fn verbatim(id: impl Into<String>) -> Self {
        CertificateId(id.into())
    }

    /// Splits an ID into its org prefix and fingerprint; `None` unless it ends in 64 hex.
    pub fn parse(id: &str) -> Option<(&str, Fingerprint)> {
        Fingerprint::split_certificate_id(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for CertificateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of a session (SPEC §2 "Sessions").
///
/// The key of a *certificate* session is its certificate's ID: [`SessionKey::new`] and
/// [`SessionKey::of`] build it, and they are the only way the shim makes a key and the filter
/// makes the key it looks one up by. A session key is not always a certificate ID, though:
/// Tyk lets the caller choose a key (`POST /tyk/keys/<key>`, SPEC §2), and the feed and the
/// store hand back whatever key they hold. So a key read back ([`SessionKey::verbatim`]) may
/// be any string, and nothing may assume it parses as `org_id` + fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionKey(String);

impl SessionKey {
    /// The session key of the certificate `fingerprint` under `org_id`.
    pub fn new(org_id: &str, fingerprint: &Fingerprint) -> Self {
        Self::of(CertificateId::new(org_id, fingerprint))
    }

    /// A certificate session is keyed by its certificate's ID.
    pub fn of(certificate: CertificateId) -> Self {
        SessionKey(certificate.0)
    }

    /// A key exactly as read (feed, store, admin path), unchecked: possibly chosen by a
    /// user rather than a certificate ID. Not for making the key of a certificate's session:
    /// that is [`SessionKey::new`].
    pub fn verbatim(key: impl Into<String>) -> Self {
        SessionKey(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Borrowing and comparing as `str`, so maps keyed by either type answer `&str` lookups and
/// code that takes `&str` (shared-data keys, store calls) reads them without a copy. The
/// derived `Hash`/`Eq`/`Ord` are those of the inner `String`, hence of the `str`.
macro_rules! str_like {
    ($ty:ty) => {
        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $ty {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$ty> for String {
            fn eq(&self, other: &$ty) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$ty> for str {
            fn eq(&self, other: &$ty) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$ty> for &str {
            fn eq(&self, other: &$ty) -> bool {
                *self == other.0
            }
        }
    };
}

str_like!(CertificateId);
str_like!(SessionKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_the_org_then_the_fingerprint_and_a_session_key_is_that_id() {
        let fp = Fingerprint::of_der(b"leaf");
        let id = CertificateId::new("acme", &fp);
        assert_eq!(id.as_str(), format!("acme{}", fp.to_hex()));
        assert_eq!(CertificateId::parse(id.as_str()), Some(("acme", fp)));
        assert_eq!(SessionKey::new("acme", &fp).as_str(), id.as_str());
        assert_eq!(CertificateId::new("", &fp).as_str(), fp.to_hex());
        assert_eq!(
            serde_json::to_string(&SessionKey::of(id.clone())).unwrap(),
            format!("\"{id}\"")
        );
    }

    #[test]
    fn any_string_reads_back_as_an_id_or_a_key_unchanged() {
        // A key chosen with `POST /tyk/keys/<key>`, a test's fake ID: not org + 64 hex.
        for text in ["my-chosen-key", "", "org1short", "é/ ?"] {
            let json = serde_json::to_string(text).unwrap();
            let key: SessionKey = serde_json::from_str(&json).unwrap();
            assert_eq!(key, SessionKey::verbatim(text));
            assert_eq!(serde_json::to_string(&key).unwrap(), json);
            let id: CertificateId = serde_json::from_str(&json).unwrap();
            assert_eq!(id, text);
            assert_eq!(CertificateId::parse(id.as_str()), None);
        }
    }
}
