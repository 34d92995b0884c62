//! What mtls-gate needs to know about an X.509 certificate, and how an uploaded or
//! configured PEM bundle is read (SPEC §1). Parsing is `x509-parser`; this module only
//! picks the facts out and applies Tyk's bundle rules.

use crate::fingerprint::Fingerprint;
use crate::ids::CertificateId;
use crate::pem::{PemBlock, PemError, parse_blocks};
use thiserror::Error;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The facts about one certificate that decisions and metadata use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    pub fingerprint: Fingerprint,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    pub is_ca: bool,
    pub subject_cn: String,
    pub issuer_cn: String,
    pub dns_names: Vec<String>,
    /// DER of the SubjectPublicKeyInfo, for key matching and public-key pinning.
    pub spki_der: Vec<u8>,
}

impl CertificateFacts {
    pub fn is_expired_at(&self, unix_seconds: i64) -> bool {
        unix_seconds > self.not_after
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CertificateError {
    #[error("certificate is not valid DER/X.509: {0}")]
    Asn1(String),
    #[error("certificate has trailing bytes after its DER")]
    TrailingData,
}

/// Parses one DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertificateFacts, CertificateError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| CertificateError::Asn1(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertificateError::TrailingData);
    }
    let dns_names = dns_names(&cert);
    let first_cn = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    Ok(CertificateFacts {
        fingerprint: Fingerprint::of_der(der),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
        subject_cn: first_cn(cert.subject()),
        issuer_cn: first_cn(cert.issuer()),
        dns_names,
        spki_der: cert.public_key().raw.to_vec(),
    })
}

/// The certificate's DNS subject alternative names, in order.
pub fn dns_names(cert: &X509Certificate<'_>) -> Vec<String> {
    match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The blocks of one PEM upload or config entry, sorted by kind, each kind in input order.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// `[0]` is the leaf (SPEC §1: the fingerprint is the FIRST certificate's; deviation from Tyk).
    pub certificates: Vec<(PemBlock, CertificateFacts)>,
    pub private_keys: Vec<PemBlock>,
    pub public_keys: Vec<PemBlock>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BundleError {
    #[error("not PEM: {0}")]
    Pem(#[from] PemError),
    #[error("certificate #{index}: {source}")]
    Certificate {
        index: usize,
        source: CertificateError,
    },
    #[error("PEM block type `{0}` is not a certificate, public key or private key")]
    UnsupportedBlock(String),
}

/// Reads a PEM bundle and parses every certificate in it.
pub fn parse_bundle(pem: &str) -> Result<Bundle, BundleError> {
    let mut bundle = Bundle {
        certificates: Vec::new(),
        private_keys: Vec::new(),
        public_keys: Vec::new(),
    };
    for block in parse_blocks(pem)? {
        if block.is_certificate() {
            let facts =
                parse_certificate(&block.der).map_err(|source| BundleError::Certificate {
                    index: bundle.certificates.len(),
                    source,
                })?;
            bundle.certificates.push((block, facts));
        } else if block.is_private_key() {
            bundle.private_keys.push(block);
        } else if block.is_public_key() {
            bundle.public_keys.push(block);
        } else {
            return Err(BundleError::UnsupportedBlock(block.label));
        }
    }
    Ok(bundle)
}

impl Bundle {
    pub fn leaf(&self) -> Option<&CertificateFacts> {
        self.certificates.first().map(|(_, facts)| facts)
    }

    /// The fingerprint this bundle is known by: the leaf certificate's, or for a
    /// public-key-only bundle the SHA-256 of the SPKI DER (SPEC §1, public-key pinning).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        match (self.leaf(), self.public_keys.first()) {
            (Some(leaf), _) => Some(leaf.fingerprint),
            (None, Some(public_key)) => Some(Fingerprint::of_der(&public_key.der)),
            (None, None) => None,
        }
    }

    /// Store certificate ID: `org_id` + fingerprint hex, with no separator (SPEC §1).
    pub fn certificate_id(&self, org_id: &str) -> Option<String> {
        self.fingerprint().map(|fp| certificate_id(org_id, &fp))
    }
}

/// Store certificate ID for a fingerprint under an org ([`CertificateId::new`]).
pub fn certificate_id(org_id: &str, fingerprint: &Fingerprint) -> String {
    CertificateId::new(org_id, fingerprint).into_string()
}

#[cfg(test)]
#[cfg(not(target_arch = "wasm32"))]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    fn self_signed(cn: &str, ca: bool) -> (String, String) {
        let mut params = CertificateParams::new(vec![format!("{cn}.example.test")]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn leaf_facts_match_the_der() {
        let (pem, _) = self_signed("client-a", false);
        let bundle = parse_bundle(&pem).unwrap();
        let (block, leaf) = &bundle.certificates[0];
        assert_eq!(leaf.fingerprint, Fingerprint::of_der(&block.der));
        assert_eq!(leaf.subject_cn, "client-a");
        assert_eq!(leaf.issuer_cn, "client-a");
        assert_eq!(leaf.dns_names, ["client-a.example.test"]);
        assert!(!leaf.is_ca);
        assert!(leaf.not_after > leaf.not_before);
    }

    #[test]
    fn ca_flag_is_read_from_basic_constraints() {
        let (pem, _) = self_signed("root", true);
        assert!(parse_bundle(&pem).unwrap().leaf().unwrap().is_ca);
    }

    #[test]
    fn the_first_certificate_of_a_chain_is_the_identity() {
        let (leaf, _) = self_signed("leaf", false);
        let (ca, _) = self_signed("ca", true);
        let chain = parse_bundle(&format!("{leaf}{ca}")).unwrap();
        let leaf_only = parse_bundle(&leaf).unwrap();
        assert_eq!(chain.certificates.len(), 2);
        assert_eq!(chain.fingerprint(), leaf_only.fingerprint());
        assert_eq!(
            chain.certificate_id("org7"),
            Some(format!("org7{}", leaf_only.fingerprint().unwrap()))
        );
    }

    #[test]
    fn cert_and_key_bundle_separates_the_key() {
        let (cert, key) = self_signed("with-key", false);
        let bundle = parse_bundle(&format!("{cert}{key}")).unwrap();
        assert_eq!(bundle.certificates.len(), 1);
        assert_eq!(bundle.private_keys.len(), 1);
        assert!(bundle.public_keys.is_empty());
    }

    #[test]
    fn public_key_bundle_is_identified_by_spki_digest() {
        let key = KeyPair::generate().unwrap();
        let public_pem = key.public_key_pem();
        let spki_der = crate::pem::parse_blocks(&public_pem).unwrap()[0]
            .der
            .clone();
        let bundle = parse_bundle(&public_pem).unwrap();
        assert!(bundle.certificates.is_empty());
        assert_eq!(bundle.fingerprint(), Some(Fingerprint::of_der(&spki_der)));
        // The SPKI in a certificate for the same key is the same bytes.
        let cert = CertificateParams::new(vec!["pk.example.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(
            parse_bundle(&cert.pem()).unwrap().leaf().unwrap().spki_der,
            spki_der
        );
    }

    #[test]
    fn garbage_inside_a_certificate_block_is_an_asn1_error() {
        let pem = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse_bundle(pem),
            Err(BundleError::Certificate { index: 0, .. })
        ));
    }

    #[test]
    fn unknown_block_types_are_refused() {
        let pem = "-----BEGIN X509 CRL-----\naGVsbG8=\n-----END X509 CRL-----\n";
        assert_eq!(
            parse_bundle(pem).unwrap_err(),
            BundleError::UnsupportedBlock("X509 CRL".into())
        );
    }
}
