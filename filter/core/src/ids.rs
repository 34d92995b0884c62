//! The identifiers built from an org and a fingerprint, in one place (SPEC §1, §2):
//! a store certificate ID is `org_id` + the 64 lowercase hex of the fingerprint, a plain
//! prefix with no separator, and the key of the session bound to that certificate is that
//! same ID. The shim writes sessions under [`SessionKey`]s and the filter looks them up by
//! [`SessionKey`]s; if the two ever disagreed, certificate auth would answer 401 to everyone,
//! so both build them with [`CertificateId::new`] and nothing else formats one.

use crate::fingerprint::Fingerprint;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `org_id` + fingerprint hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CertificateId(String);

impl CertificateId {
    /// The one builder of `org_id` + fingerprint (SPEC §1).
    pub fn new(org_id: &str, fingerprint: &Fingerprint) -> Self {
        CertificateId(format!("{org_id}{fingerprint}"))
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

/// The key of a certificate session: its certificate's ID (SPEC §2 "Sessions").
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

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

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
}
