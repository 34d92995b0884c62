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
//! Where Tyk's refusal does not say what is wrong (issue 11, point 5), the error is a variant
//! of its own that carries a [`UploadError::hint`]; the HTTP edge puts Tyk's message first and
//! the hint after it: an empty body, a DER or other binary file, a private key without its
//! certificate, a certificate signing request, an encrypted private key.
//!
//! Admission is pure: nothing is written until the whole upload passed. The duplicate-ID
//! check is the store's, inside its write transaction.

use super::pem_text::{self, BodyShape};
use super::private_key::{self, KeyError};
use mtls_gate_core::certificate::{self, CertificateFacts};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::ids::CertificateId;
use mtls_gate_core::pem::{PemError, parse_blocks};
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
    /// `org_id` + fingerprint ([`CertificateId::new`]).
    pub id: CertificateId,
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
    /// Tyk: not PEM. Hinted.
    #[error("the body is empty")]
    EmptyBody,
    /// Tyk: not PEM. Hinted.
    #[error("the body is DER, not PEM")]
    Der,
    /// Tyk: not PEM. Hinted.
    #[error("the body is binary, not PEM text")]
    Binary,
    /// A private key and no certificate or public key. Tyk: not PEM. Hinted.
    #[error("a private key without its certificate")]
    PrivateKeyOnly,
    /// A `CERTIFICATE REQUEST` and no certificate. Tyk: not PEM. Hinted.
    #[error("a certificate signing request, not a certificate")]
    CertificateRequest,
    /// An encrypted private key (PKCS#8 `ENCRYPTED PRIVATE KEY`, or `Proc-Type: 4,ENCRYPTED`)
    /// with a certificate. Tyk: the key does not parse. Hinted.
    #[error("the private key is encrypted, which is not supported")]
    EncryptedPrivateKey,
}

impl UploadError {
    /// What is wrong and how to fix it, for the refusals whose Tyk message does not say.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            UploadError::EmptyBody => {
                "the body is empty: send the PEM file itself, e.g. curl --data-binary @cert.pem"
            }
            UploadError::Der => {
                "the body is DER: convert it with openssl x509 -inform der -in cert.der -out cert.pem"
            }
            UploadError::Binary => {
                "the body is binary, not PEM text: upload the certificate as PEM, the file that starts with -----BEGIN CERTIFICATE-----"
            }
            UploadError::PrivateKeyOnly => {
                "the body holds a private key but no certificate: upload the certificate, or the certificate and its key in one file: cat cert.pem key.pem > bundle.pem"
            }
            UploadError::CertificateRequest => {
                "a certificate signing request is not a certificate; upload the certificate the CA issued"
            }
            UploadError::EncryptedPrivateKey => {
                "encrypted private keys are not supported: decrypt it with openssl pkey -in key.pem -out key-plain.pem and upload the certificate with key-plain.pem"
            }
            _ => return None,
        })
    }
}

/// Applies Tyk's upload rules to a request body: [`admit`] once it is known to be text.
pub fn admit_body(body: &[u8], org_id: &str, now: i64) -> Result<CertificateUpload, UploadError> {
    match pem_text::shape(body) {
        BodyShape::Empty => Err(UploadError::EmptyBody),
        BodyShape::Der => Err(UploadError::Der),
        BodyShape::Binary => Err(UploadError::Binary),
        BodyShape::Text => {
            // A body with a PEM boundary may still hold invalid UTF-8 around it.
            let text = std::str::from_utf8(body).map_err(|_| UploadError::NotPem)?;
            admit(text, org_id, now)
        }
    }
}

/// Applies Tyk's upload rules to `pem` for `org_id` at unix time `now`.
pub fn admit(pem: &str, org_id: &str, now: i64) -> Result<CertificateUpload, UploadError> {
    if pem.trim().is_empty() {
        return Err(UploadError::EmptyBody);
    }
    let blocks = parse_blocks(pem).map_err(|error| not_pem(pem, &error))?;
    let mut private_key: Option<Zeroizing<Vec<u8>>> = None;
    let mut encrypted_key = false;
    let mut certificate_request = false;
    let mut certificates: Vec<(Vec<u8>, CertificateFacts)> = Vec::new();
    let mut public_key: Option<Vec<u8>> = None;
    for block in blocks {
        if block.is_private_key() {
            if private_key.is_some() {
                return Err(UploadError::MultiplePrivateKeys);
            }
            encrypted_key = pem_text::is_encrypted_private_key(&block.label);
            private_key = Some(Zeroizing::new(block.der));
        } else if pem_text::is_certificate_request(&block.label) {
            certificate_request = true;
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
        (None, None) if certificate_request => Err(UploadError::CertificateRequest),
        (None, None) if private_key.is_some() => Err(UploadError::PrivateKeyOnly),
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
                id: CertificateId::new(org_id, &fingerprint),
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
            if encrypted_key {
                return Err(UploadError::EncryptedPrivateKey);
            }
            if let Some(key) = &private_key {
                private_key::check_key_pair(key, &leaf.spki_der)?;
            }
            let leaf = leaf.clone();
            let material_pem = certificates
                .iter()
                .map(|(der, _)| pem_text::encode("CERTIFICATE", der))
                .collect::<String>();
            Ok(CertificateUpload {
                id: CertificateId::new(org_id, &leaf.fingerprint),
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

/// Why text that does not parse as PEM is refused. The core's PEM reader refuses headers, so a
/// legacy-encrypted key (`Proc-Type: 4,ENCRYPTED`) lands here: with a certificate it is the
/// encrypted key (Tyk fails on the key), alone it is a key without its certificate.
fn not_pem(text: &str, error: &PemError) -> UploadError {
    match error {
        PemError::Headers(label)
            if label.ends_with("PRIVATE KEY") && pem_text::has_legacy_encrypted_key(text) =>
        {
            if text.contains("-----BEGIN CERTIFICATE-----") {
                UploadError::EncryptedPrivateKey
            } else {
                UploadError::PrivateKeyOnly
            }
        }
        _ => UploadError::NotPem,
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
            ("empty cert", String::new(), Err(UploadError::EmptyBody)),
            (
                "invalid cert: pem (a lone private key)",
                "-----BEGIN PRIVATE KEY-----\nYQ==\n-----END PRIVATE KEY-----".into(),
                Err(UploadError::PrivateKeyOnly),
            ),
            ("not PEM at all", "hello".into(), Err(UploadError::NotPem)),
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

    const ENCRYPTED_PKCS8: &str =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nYWJj\n-----END ENCRYPTED PRIVATE KEY-----\n";
    const ENCRYPTED_LEGACY: &str = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,0011223344556677\n\nYWJj\n-----END RSA PRIVATE KEY-----\n";
    const CSR: &str =
        "-----BEGIN CERTIFICATE REQUEST-----\nYWJj\n-----END CERTIFICATE REQUEST-----\n";

    /// Issue 11 point 5: each refusal Tyk words vaguely is its own variant, with a hint.
    #[test]
    fn refusals_that_say_what_is_wrong() {
        let leaf = TestCa::new().leaf("client");
        let der = parse_blocks(&leaf.cert_pem).unwrap().remove(0).der;
        let cases: Vec<(&str, Vec<u8>, UploadError, &str)> = vec![
            (
                "empty body",
                Vec::new(),
                UploadError::EmptyBody,
                "the body is empty",
            ),
            (
                "whitespace",
                b" \n\n".to_vec(),
                UploadError::EmptyBody,
                "the body is empty",
            ),
            (
                "DER certificate",
                der,
                UploadError::Der,
                "the body is DER: convert it with openssl x509 -inform der -in cert.der -out cert.pem",
            ),
            (
                "other binary",
                b"\x89PNG\r\n\x1a\n\x00".to_vec(),
                UploadError::Binary,
                "not PEM text",
            ),
            (
                "private key alone",
                leaf.key_pem.clone().into_bytes(),
                UploadError::PrivateKeyOnly,
                "a private key but no certificate",
            ),
            (
                "encrypted private key alone",
                ENCRYPTED_PKCS8.into(),
                UploadError::PrivateKeyOnly,
                "a private key but no certificate",
            ),
            (
                "CSR",
                CSR.into(),
                UploadError::CertificateRequest,
                "a certificate signing request is not a certificate; upload the certificate the CA issued",
            ),
            (
                "CSR with its key",
                format!("{CSR}{}", leaf.key_pem).into_bytes(),
                UploadError::CertificateRequest,
                "certificate signing request",
            ),
            (
                "certificate + ENCRYPTED PRIVATE KEY",
                format!("{}{ENCRYPTED_PKCS8}", leaf.cert_pem).into_bytes(),
                UploadError::EncryptedPrivateKey,
                "encrypted private keys are not supported: decrypt it with openssl pkey -in key.pem -out key-plain.pem",
            ),
            (
                "certificate + Proc-Type: 4,ENCRYPTED key",
                format!("{}{ENCRYPTED_LEGACY}", leaf.cert_pem).into_bytes(),
                UploadError::EncryptedPrivateKey,
                "encrypted private keys are not supported",
            ),
            (
                "Proc-Type: 4,ENCRYPTED key alone",
                ENCRYPTED_LEGACY.into(),
                UploadError::PrivateKeyOnly,
                "a private key but no certificate",
            ),
        ];
        for (title, body, want, hint) in cases {
            let got = admit_body(&body, "", now()).map(|_| ()).unwrap_err();
            assert_eq!(got, want, "{title}");
            let text = got.hint().unwrap_or_default();
            assert!(text.contains(hint), "{title}: {text}");
        }
        // Tyk's own refusals keep their messages alone.
        for plain in [
            UploadError::NotPem,
            UploadError::MultiplePrivateKeys,
            UploadError::Key(KeyError::Mismatch),
        ] {
            assert_eq!(plain.hint(), None, "{plain:?}");
        }
        // A CSR next to the certificate it produced is ignored, like any other block.
        let with_csr = format!("{}{CSR}", leaf.cert_pem);
        assert!(admit_body(with_csr.as_bytes(), "", now()).is_ok());
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
