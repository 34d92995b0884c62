//! Admission of a PEM upload to the certificate store (`POST /tyk/certs`), with Tyk's rules
//! applied in Tyk's order (SPEC §1, §2), so the first error a Tyk user would see is the one
//! they see here:
//!
//! 1. Blocks are read in order. A second private key is refused; each `CERTIFICATE` must parse
//!    and must not be expired; a `PUBLIC KEY` is remembered; other block types are ignored.
//! 2. No certificate and no public key: not PEM. Certificates and a public key: refused.
//! 3. A private key must match the first certificate.
//! 4. The ID is `org_id` + the first certificate's SHA-256, or for a public key the SPKI's.
//!
//! The duplicate-ID check is the store's, inside its write transaction.

use super::pem_text;
use super::private_key::{self, KeyError};
use mtls_gate_core::certificate::{self, CertificateFacts};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::parse_blocks;
use x509_parser::prelude::FromDer;
use zeroize::Zeroizing;

/// What kind of material a store entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaterialKind {
    /// A certificate chain, leaf first.
    Certificate,
    /// A bare `PUBLIC KEY`, for public-key pinning.
    PublicKey,
}

/// An upload that passed every rule, ready for the store.
pub struct CertificateUpload {
    pub id: String,
    pub org_id: String,
    pub kind: MaterialKind,
    pub fingerprint: Fingerprint,
    /// The leaf's validity, unix seconds; 0 for a public key.
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    /// The certificates (or the public key) re-encoded as PEM. Never a private key.
    pub material_pem: String,
    /// DER of the private key, if one was uploaded. Sealed by the store before it is written.
    pub private_key_der: Option<Zeroizing<Vec<u8>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("the body holds no certificate or public key PEM block")]
    NotPem,
    #[error("more than one private key")]
    MultiplePrivateKeys,
    #[error("certificate #{index} is not valid X.509: {detail}")]
    MalformedCertificate { index: usize, detail: String },
    #[error("certificate #{index} is expired")]
    Expired { index: usize },
    #[error("a public key was combined with certificates")]
    PublicKeyWithCertificates,
    #[error("the public key is not a valid SubjectPublicKeyInfo")]
    MalformedPublicKey,
    #[error("a private key was uploaded with a public key but no certificate")]
    PrivateKeyWithoutCertificate,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Applies Tyk's upload rules to `pem` for `org_id` at unix time `now`.
pub fn admit(pem: &str, org_id: &str, now: i64) -> Result<CertificateUpload, UploadError> {
    let blocks = parse_blocks(pem).map_err(|_| UploadError::NotPem)?;
    let mut private_key: Option<Zeroizing<Vec<u8>>> = None;
    let mut certificates: Vec<(Vec<u8>, CertificateFacts)> = Vec::new();
    let mut public_key: Option<Vec<u8>> = None;
    for block in blocks {
        if block.is_private_key() {
            if private_key.is_some() {
                return Err(UploadError::MultiplePrivateKeys);
            }
            private_key = Some(Zeroizing::new(block.der));
        } else if block.is_certificate() {
            let index = certificates.len();
            let facts = certificate::parse_certificate(&block.der).map_err(|e| {
                UploadError::MalformedCertificate {
                    index,
                    detail: e.to_string(),
                }
            })?;
            // Tyk: `cert.NotAfter.Before(time.Now())`.
            if facts.not_after < now {
                return Err(UploadError::Expired { index });
            }
            certificates.push((block.der, facts));
        } else if block.is_public_key() {
            // Tyk keeps the last PUBLIC KEY block.
            public_key = Some(block.der);
        } else {
            tracing::info!(label = ?block.label, "ignoring PEM block");
        }
    }

    match (certificates.first(), public_key) {
        (None, None) => Err(UploadError::NotPem),
        (Some(_), Some(_)) => Err(UploadError::PublicKeyWithCertificates),
        (None, Some(spki)) => {
            if private_key.is_some() {
                return Err(UploadError::PrivateKeyWithoutCertificate);
            }
            let (rest, _) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki)
                .map_err(|_| UploadError::MalformedPublicKey)?;
            if !rest.is_empty() {
                return Err(UploadError::MalformedPublicKey);
            }
            let fingerprint = Fingerprint::of_der(&spki);
            Ok(CertificateUpload {
                id: certificate::certificate_id(org_id, &fingerprint),
                org_id: org_id.to_owned(),
                kind: MaterialKind::PublicKey,
                fingerprint,
                not_before: 0,
                not_after: 0,
                is_ca: false,
                material_pem: pem_text::encode("PUBLIC KEY", &spki),
                private_key_der: None,
            })
        }
        (Some((_, leaf)), None) => {
            if let Some(key) = &private_key {
                private_key::check_key_pair(key, &leaf.spki_der)?;
            }
            let leaf = leaf.clone();
            let material_pem = certificates
                .iter()
                .map(|(der, _)| pem_text::encode("CERTIFICATE", der))
                .collect::<String>();
            Ok(CertificateUpload {
                id: certificate::certificate_id(org_id, &leaf.fingerprint),
                org_id: org_id.to_owned(),
                kind: MaterialKind::Certificate,
                fingerprint: leaf.fingerprint,
                not_before: leaf.not_before,
                not_after: leaf.not_after,
                is_ca: leaf.is_ca,
                material_pem,
                private_key_der: private_key,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mtls_gate_testkit::ca::{TestCa, public_key_pem};

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    #[test]
    fn tyk_add_certificate_table() {
        let pki = TestCa::new();
        let valid = pki.leaf("test");
        let other = pki.leaf("test2");
        let expired = pki.expired("expired");
        let public = public_key_pem();
        let cases: Vec<(&str, String, Result<(), UploadError>)> = vec![
            ("empty cert", String::new(), Err(UploadError::NotPem)),
            (
                "invalid cert: pem (a lone private key)",
                "-----BEGIN PRIVATE KEY-----\nYQ==\n-----END PRIVATE KEY-----".into(),
                Err(UploadError::NotPem),
            ),
            ("valid cert", valid.cert_pem.clone(), Ok(())),
            (
                "tls: wrong private",
                format!("{}{}", other.cert_pem, valid.key_pem),
                Err(UploadError::Key(KeyError::Mismatch)),
            ),
            (
                "cert + key",
                format!("{}{}", other.cert_pem, other.key_pem),
                Ok(()),
            ),
            ("public key", public, Ok(())),
            (
                "expired cert",
                expired.cert_pem.clone(),
                Err(UploadError::Expired { index: 0 }),
            ),
            (
                "two private keys",
                format!("{}{}{}", valid.cert_pem, valid.key_pem, other.key_pem),
                Err(UploadError::MultiplePrivateKeys),
            ),
            (
                "public key with a certificate",
                format!("{}{}", valid.cert_pem, public_key_pem()),
                Err(UploadError::PublicKeyWithCertificates),
            ),
        ];
        for (title, pem, want) in cases {
            let got = admit(&pem, "", now()).map(|_| ());
            assert_eq!(got, want, "{title}");
        }
        assert!(matches!(
            admit(
                "-----BEGIN CERTIFICATE-----\nYQ==\n-----END CERTIFICATE-----",
                "",
                now()
            ),
            Err(UploadError::MalformedCertificate { index: 0, .. })
        ));
    }

    #[test]
    fn id_is_org_plus_leaf_fingerprint_and_chain_is_kept_in_order() {
        let pki = TestCa::new();
        let leaf = pki.leaf("client");
        let bundle = format!("{}{}{}", leaf.cert_pem, pki.ca_pem, leaf.key_pem);
        let upload = admit(&bundle, "org1", now()).unwrap();
        assert_eq!(upload.id, format!("org1{}", leaf.fingerprint()));
        assert_eq!(upload.fingerprint.to_hex(), leaf.fingerprint());
        assert_eq!(upload.kind, MaterialKind::Certificate);
        assert!(upload.private_key_der.is_some());
        assert!(!upload.material_pem.contains("PRIVATE"));
        let blocks = parse_blocks(&upload.material_pem).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            Fingerprint::of_der(&blocks[0].der).to_hex(),
            leaf.fingerprint()
        );
    }

    #[test]
    fn public_key_id_is_the_spki_digest() {
        let pem = public_key_pem();
        let spki = parse_blocks(&pem).unwrap().remove(0).der;
        let upload = admit(&pem, "o", now()).unwrap();
        assert_eq!(upload.id, format!("o{}", Fingerprint::of_der(&spki)));
        assert_eq!(upload.kind, MaterialKind::PublicKey);
    }

    #[test]
    fn unknown_block_types_are_ignored_like_tyk() {
        let pki = TestCa::new();
        let leaf = pki.leaf("client");
        let pem = format!(
            "-----BEGIN X509 CRL-----\nYQ==\n-----END X509 CRL-----\n{}",
            leaf.cert_pem
        );
        assert!(admit(&pem, "", now()).is_ok());
    }
}
