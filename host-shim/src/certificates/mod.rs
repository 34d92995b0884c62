//! Certificates: what `POST /tyk/certs` admits, how a stored one is shown, and the operations
//! behind `/tyk/certs` (SPEC §2), between the HTTP handlers and the [`Store`]. Typed errors
//! here; Tyk's messages are chosen at the HTTP edge.
//!
//! - [`upload`]: admission of a PEM upload, with Tyk's rules in Tyk's order.
//! - [`private_key`]: whether an uploaded private key matches its certificate.
//! - [`meta`]: Tyk's JSON views of a stored certificate.
//! - [`pem_text`]: writing PEM.
//!
//! Every `?org_id=` is checked against `mtls_gate_core::org_id` first: an org prefixes the IDs
//! this module makes, and those IDs travel in URL paths, comma lists and log lines.

pub mod meta;
pub mod pem_text;
pub mod private_key;
pub mod upload;

use crate::store::{NewCertificate, Store, StoreError};
use meta::{CertificateBasics, CertificateMeta, UnreadableCertificate};
use mtls_gate_core::org_id::{self, OrgIdError};
use upload::UploadError;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error(transparent)]
    OrgId(OrgIdError),
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error("certificate {0:?} already exists")]
    Exists(String),
    #[error(transparent)]
    Unreadable(#[from] UnreadableCertificate),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CertificateError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::CertificateExists(id) => CertificateError::Exists(id),
            other => CertificateError::Store(other),
        }
    }
}

/// `POST /tyk/certs`: admits the PEM under `org_id` and stores it. Returns the new ID.
pub fn add(store: &Store, body: &[u8], org_id: &str, now: i64) -> Result<String, CertificateError> {
    checked_org(org_id)?;
    let upload = upload::admit_body(body, org_id, now)?;
    let id = upload.id.clone();
    store.add_certificate(NewCertificate::from(upload))?;
    tracing::info!(%id, ?org_id, "certificate added");
    Ok(id.into_string())
}

/// `GET /tyk/certs[?org_id=O]`. An empty org lists every certificate.
pub fn list_ids(store: &Store, org_id: &str) -> Result<Vec<String>, CertificateError> {
    Ok(store
        .certificates(org_filter(org_id)?)?
        .into_iter()
        .map(|c| c.id.into_string())
        .collect())
}

/// `GET /tyk/certs?mode=detailed`.
pub fn list_detailed(
    store: &Store,
    org_id: &str,
) -> Result<Vec<CertificateBasics>, CertificateError> {
    store
        .certificates(org_filter(org_id)?)?
        .iter()
        .map(|c| meta::basics(c).map_err(CertificateError::from))
        .collect()
}

/// `GET /tyk/certs/<id1>,<id2>`: one entry per ID, in order, `None` where missing.
pub fn show(store: &Store, ids: &[&str]) -> Result<Vec<Option<CertificateMeta>>, CertificateError> {
    ids.iter()
        .map(|id| match store.certificate(id)? {
            Some(stored) => Ok(Some(meta::meta(&stored)?)),
            None => Ok(None),
        })
        .collect()
}

/// `DELETE /tyk/certs/<id>[?org_id=O]`: the certificate only. SPEC §2 "Revocation by
/// deletion": the keys bound to it stay (and answer `GET /tyk/keys/<key>`), but the filter
/// refuses them while the certificate is gone; uploading it again restores them. Deleting a
/// missing ID is not an error, as in Tyk. Tyk uses `org_id` only to flush its caches; here it
/// is checked and otherwise unused.
pub fn delete(store: &Store, id: &str, org_id: &str) -> Result<(), CertificateError> {
    checked_org(org_id)?;
    if store.delete_certificate(id)? {
        tracing::info!(
            ?id,
            "certificate deleted; its keys stay, refused until it returns"
        );
    }
    Ok(())
}

fn checked_org(org_id: &str) -> Result<(), CertificateError> {
    org_id::check(org_id).map_err(CertificateError::OrgId)
}

/// An empty org lists every certificate (SPEC §2 "Listing deviations").
fn org_filter(org_id: &str) -> Result<Option<&str>, CertificateError> {
    checked_org(org_id)?;
    Ok((!org_id.is_empty()).then_some(org_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::sqlite::SqliteBackend;
    use mtls_gate_core::pem::parse_blocks;
    use mtls_gate_testkit::ca::TestCa;

    /// Issue 11 point 5: every hinted refusal leaves the store as it was.
    #[test]
    fn refused_uploads_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new("upload-test-secret", "secret").unwrap();
        let store = Store::open(
            SqliteBackend::open(&dir.path().join("store.db")).unwrap(),
            &secret,
        )
        .unwrap();
        let leaf = TestCa::new().leaf("client");
        let der = parse_blocks(&leaf.cert_pem).unwrap().remove(0).der;
        let encrypted = format!(
            "{}-----BEGIN ENCRYPTED PRIVATE KEY-----\nYWJj\n-----END ENCRYPTED PRIVATE KEY-----\n",
            leaf.cert_pem
        );
        let csr = "-----BEGIN CERTIFICATE REQUEST-----\nYWJj\n-----END CERTIFICATE REQUEST-----\n";
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let before = store.version().unwrap();
        let bodies: Vec<(&str, Vec<u8>, UploadError)> = vec![
            ("empty", Vec::new(), UploadError::EmptyBody),
            ("der", der, UploadError::Der),
            ("binary", b"\xff\xfe\x00\x01".to_vec(), UploadError::Binary),
            (
                "key only",
                leaf.key_pem.clone().into_bytes(),
                UploadError::PrivateKeyOnly,
            ),
            (
                "csr",
                csr.as_bytes().to_vec(),
                UploadError::CertificateRequest,
            ),
            (
                "encrypted key",
                encrypted.into_bytes(),
                UploadError::EncryptedPrivateKey,
            ),
        ];
        for (title, body, want) in bodies {
            match add(&store, &body, "acme", now) {
                Err(CertificateError::Upload(got)) => assert_eq!(got, want, "{title}"),
                other => panic!("{title}: {other:?}"),
            }
        }
        assert_eq!(store.version().unwrap(), before);
        assert!(list_ids(&store, "").unwrap().is_empty());
    }
}
