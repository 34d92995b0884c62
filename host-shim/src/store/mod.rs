//! The certificate and session store.
//!
//! [`Store`] is what every backend implements: the embedded SQLite default ([`sqlite`]) and
//! Redis for fleets of shims ([`redis`]); [`open`] picks one from a `--store` value. Every method that writes is one atomic transaction that also bumps the
//! change-feed version and appends to the change log (ARCHITECTURE "Change feed"), so the
//! feed never shows half a write. [`conformance`] is the one test suite every backend passes.
//!
//! Private keys cross this trait in clear (as [`Zeroizing`] DER) and are sealed by the backend
//! with [`sealing::KeySealer`] before they are written: no backend ever stores one in clear.

pub mod changelog;
pub mod conformance;
pub mod open;
pub mod redis;
#[cfg(test)]
pub mod redis_test_server;
pub mod sealing;
pub mod sqlite;

use crate::secret::Secret;
use crate::upload::{CertificateUpload, MaterialKind};
use mtls_gate_core::feed::{CertIndexEntry, ChangeSet, LookupAnswer};
use mtls_gate_core::session::Session;
use sealing::{KeySealer, SealError, SealingParameters};
use zeroize::Zeroizing;

/// How many versions of changes the log keeps; a `since` older than that gets a snapshot.
pub const DEFAULT_RETAINED_VERSIONS: u64 = 1000;

/// A stored certificate (or public key): everything but the private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    pub id: String,
    pub org_id: String,
    pub kind: MaterialKind,
    /// Bare 64 lowercase hex.
    pub fingerprint: String,
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    pub has_private: bool,
    /// The certificate chain (leaf first) or the public key, as PEM.
    pub material_pem: String,
}

impl StoredCertificate {
    /// The feed's view of this certificate.
    pub fn index_entry(&self) -> CertIndexEntry {
        CertIndexEntry {
            id: self.id.clone(),
            fingerprint: self.fingerprint.clone(),
            not_after: self.not_after,
            has_private: self.has_private,
            is_ca: self.is_ca,
        }
    }
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
                fingerprint: upload.fingerprint.to_hex(),
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

/// A certificate and session store. Methods block; async callers use `spawn_blocking`.
pub trait Store: Send + Sync {
    /// A short human name for logs and errors (e.g. the file path).
    fn describe(&self) -> String;

    /// The current change-feed version.
    fn version(&self) -> Result<u64, StoreError>;

    /// Adds a certificate. Fails with [`StoreError::CertificateExists`] if the ID is taken.
    fn add_certificate(&self, certificate: NewCertificate) -> Result<(), StoreError>;

    fn certificate(&self, id: &str) -> Result<Option<StoredCertificate>, StoreError>;

    /// Certificates in upload order; only `org_id`'s when given.
    fn certificates(&self, org_id: Option<&str>) -> Result<Vec<StoredCertificate>, StoreError>;

    /// The decrypted private key of a certificate, if it has one.
    fn private_key(&self, id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError>;

    /// Deletes a certificate, and only it: the sessions bound to it stay, and the feed lists
    /// only the certificate as removed (SPEC §2 "Revocation by deletion": the filter refuses
    /// a session whose certificate is gone, and uploading the certificate again restores it).
    /// Returns false when there was no such certificate (nothing is written).
    fn delete_certificate(&self, id: &str) -> Result<bool, StoreError>;

    /// Creates a session under `key`, bound to `session.certificate`, which must exist.
    fn create_session(&self, key: &str, session: &Session) -> Result<(), StoreError>;

    /// A session, whether or not its certificate still exists.
    fn session(&self, key: &str) -> Result<Option<Session>, StoreError>;

    /// Replaces an existing session; its certificate must exist.
    fn update_session(&self, key: &str, session: &Session) -> Result<(), StoreError>;

    /// Returns false when there was no such session (nothing is written). Works whether or
    /// not the session's certificate still exists.
    fn delete_session(&self, key: &str) -> Result<bool, StoreError>;

    /// The feed: changes after `since`, or a snapshot (see `mtls_gate_core::feed`).
    fn changes_since(&self, since: u64) -> Result<ChangeSet, StoreError>;

    /// The feed's lookup of one session key.
    fn lookup(&self, key: &str) -> Result<LookupAnswer, StoreError>;
}

/// The sealer of an existing store, from its stored parameters; `store` names it in errors.
pub(crate) fn open_sealer(
    secret: &Secret,
    parameters: &SealingParameters,
    store: &str,
) -> Result<KeySealer, StoreError> {
    KeySealer::open(secret, parameters).map_err(|e| match e {
        SealError::Undecryptable => StoreError::WrongEncodingSecret {
            store: store.to_owned(),
        },
        SealError::Malformed => StoreError::Corrupt {
            store: store.to_owned(),
            detail: "the key check record is malformed".into(),
        },
    })
}

impl NewCertificate {
    /// Splits off the private key, sealed for `sealer` and bound to the certificate ID: the
    /// only form in which any backend writes it.
    pub(crate) fn seal(
        self,
        sealer: &KeySealer,
    ) -> Result<(StoredCertificate, Option<Vec<u8>>), StoreError> {
        let sealed = match &self.private_key_der {
            Some(der) => Some(
                sealer
                    .seal(&self.certificate.id, der)
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            ),
            None => None,
        };
        Ok((self.certificate, sealed))
    }
}

/// A stored sealed key (if any) opened for certificate `id` of `store`; a record that does
/// not open is corruption, since the key check already proved the secret right.
pub(crate) fn unseal_private_key(
    sealer: &KeySealer,
    store: &dyn Store,
    id: &str,
    sealed: Option<Vec<u8>>,
) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    let Some(record) = sealed else {
        return Ok(None);
    };
    sealer
        .open_record(id, &record)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            store: store.describe(),
            detail: format!("private key of {id}: {e}"),
        })
}

/// The feed's lookup, the same for every backend: the session under `key`, and the certificate
/// it is bound to (or, without a session, the certificate whose ID is `key`). A session whose
/// certificate was deleted answers with `cert: null`, which the filter refuses with 403
/// (SPEC §4 step 3).
pub(crate) fn lookup_in<S: Store + ?Sized>(
    store: &S,
    key: &str,
) -> Result<LookupAnswer, StoreError> {
    let session = store.session(key)?;
    let cert_id = session
        .as_ref()
        .map(|s| s.certificate.clone())
        .unwrap_or_else(|| key.to_owned());
    let cert = store.certificate(&cert_id)?;
    Ok(LookupAnswer {
        key: key.to_owned(),
        session: session.map(|s| s.grant()),
        cert: cert.map(|c| c.index_entry()),
    })
}

/// How backends spell a [`MaterialKind`] at rest.
pub(crate) fn kind_text(kind: MaterialKind) -> &'static str {
    match kind {
        MaterialKind::Certificate => "certificate",
        MaterialKind::PublicKey => "public_key",
    }
}

pub(crate) fn kind_from_text(text: &str) -> Option<MaterialKind> {
    match text {
        "certificate" => Some(MaterialKind::Certificate),
        "public_key" => Some(MaterialKind::PublicKey),
        _ => None,
    }
}
