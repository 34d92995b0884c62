//! The certificate and session store.
//!
//! [`Store`] ([`rules`]) holds every rule, once: private keys sealed before they are written
//! ([`sealing`]), the version bump and change-log rows in the same transaction as the write
//! they record ([`changelog`], ARCHITECTURE "Change feed"), pruning, snapshots, lookup, and
//! what a session must be bound to. Under it, a [`backend::Backend`] supplies records and
//! transactions only: the embedded SQLite default ([`sqlite`]) and Redis for fleets of shims
//! ([`redis`]). [`open`] picks one from a `--store` value. The conformance suite (in the
//! tests) runs the rules over each backend.

pub mod backend;
pub mod changelog;
#[cfg(test)]
pub mod conformance;
pub mod open;
pub mod redis;
pub mod rules;
pub mod sealing;
pub mod sqlite;

pub use rules::Store;

use crate::certificates::upload::{CertificateUpload, MaterialKind};
use mtls_gate_core::feed::CertIndexEntry;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::ids::CertificateId;
use mtls_gate_core::pem::parse_blocks;
use mtls_gate_core::trust::{TrustAnchor, TrustAnchorParts};
use zeroize::Zeroizing;

/// How many versions of changes the log keeps; a `since` older than that gets a snapshot.
pub const DEFAULT_RETAINED_VERSIONS: u64 = 1000;

/// A stored certificate (or public key): everything but the private key.
///
/// The backends keep `id` and `fingerprint` as text (the fingerprint as 64 lowercase hex);
/// a row whose fingerprint does not read back is a [`StoreError::Corrupt`] store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    /// `org_id` + fingerprint, as [`CertificateId::new`] made it at upload.
    pub id: CertificateId,
    pub org_id: String,
    pub kind: MaterialKind,
    /// The leaf's SHA-256 (or, for a public key, the SPKI's).
    pub fingerprint: Fingerprint,
    /// The leaf's validity, unix seconds; both 0 for a public key, which never expires.
    /// Read the expiry with [`StoredCertificate::expiry`].
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    pub has_private: bool,
    /// The certificate chain (leaf first) or the public key, as PEM.
    pub material_pem: String,
}

impl StoredCertificate {
    /// When the certificate expires; `None` for a public key, which never does. Stored as
    /// `not_after` 0, the feed's spelling of "never" ([`mtls_gate_core::feed::never_is_zero`]).
    pub fn expiry(&self) -> Option<i64> {
        (self.not_after != 0).then_some(self.not_after)
    }

    /// The feed's view of this certificate.
    pub fn index_entry(&self) -> CertIndexEntry {
        CertIndexEntry {
            id: self.id.clone(),
            fingerprint: self.fingerprint,
            not_after: self.expiry(),
            has_private: self.has_private,
            is_ca: self.is_ca,
            trust_anchor: self.trust_anchor(),
        }
    }

    /// For a CA, what a filter needs to trust it (SPEC §3): its subject and public key,
    /// never the certificate itself.
    fn trust_anchor(&self) -> Option<TrustAnchorParts> {
        if !self.is_ca {
            return None;
        }
        let der = parse_blocks(&self.material_pem)
            .ok()?
            .into_iter()
            .find(|block| block.is_certificate())?
            .der;
        TrustAnchor::from_ca_der(&der).ok().map(|a| a.parts())
    }
}

/// A certificate record's fingerprint column (64 lowercase hex, as the store writes it) read
/// back. An `Err` is the detail of a [`StoreError::Corrupt`]: a damaged row fails closed.
pub(crate) fn fingerprint_from_record(id: &str, text: &str) -> Result<Fingerprint, String> {
    Fingerprint::parse_wire_hex(text)
        .map_err(|error| format!("certificate {id:?} has an unreadable fingerprint ({error})"))
}

/// A certificate about to be stored. The private key is in clear here, only in memory.
pub struct NewCertificate {
    pub certificate: StoredCertificate,
    pub private_key_der: Option<Zeroizing<Vec<u8>>>,
}

impl From<CertificateUpload> for NewCertificate {
    fn from(upload: CertificateUpload) -> Self {
        NewCertificate {
            certificate: StoredCertificate {
                id: upload.id,
                org_id: upload.org_id,
                kind: upload.kind,
                fingerprint: upload.fingerprint,
                not_before: upload.not_before,
                not_after: upload.not_after,
                is_ca: upload.is_ca,
                has_private: upload.private_key_der.is_some(),
                material_pem: upload.material_pem,
            },
            private_key_der: upload.private_key_der,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("certificate {0:?} already exists")]
    CertificateExists(String),
    #[error("certificate {0:?} does not exist")]
    CertificateNotFound(String),
    #[error("a session with key {0:?} already exists")]
    SessionExists(String),
    #[error("no session with key {0:?}")]
    SessionNotFound(String),
    /// The store was written with another encoding secret (or its key check is damaged).
    #[error(
        "wrong MTLS_GATE_ENCODING_SECRET for store {store}: its key check does not decrypt (start with the secret the store was created with)"
    )]
    WrongEncodingSecret { store: String },
    /// As above, with no encoding secret set: the admin secret was tried in its place.
    #[error(
        "wrong encoding secret for store {store}: MTLS_GATE_ENCODING_SECRET is not set, so the admin secret was used, and the store was created with another (set MTLS_GATE_ENCODING_SECRET to the secret the store was created with)"
    )]
    WrongFallbackEncodingSecret { store: String },
    #[error("store {store} is corrupt: {detail}")]
    Corrupt { store: String, detail: String },
    #[error("store backend error: {0}")]
    Backend(String),
    #[error("invalid --store {0}")]
    InvalidSpec(String),
}
