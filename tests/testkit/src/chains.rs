//! Certificate hierarchies for CA entries (SPEC §3): roots, intermediates and leaves with
//! the key types, validity, path lengths and key usages a chain verifier must tell apart,
//! and the XFCC header Envoy would write for a client presenting them. Made at test time;
//! no key is ever committed.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
    SignatureAlgorithm,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// The key (and so the signature algorithm) of a certificate in a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    /// RSA 2048 with PKCS#1 v1.5 SHA-256 signatures.
    Rsa,
}

impl KeyKind {
    fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyKind::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
            KeyKind::EcdsaP384 => &PKCS_ECDSA_P384_SHA384,
            KeyKind::Ed25519 => &PKCS_ED25519,
            KeyKind::Rsa => &PKCS_RSA_SHA256,
        }
    }

    fn generate(self) -> KeyPair {
        match self {
            // rcgen cannot generate RSA keys; the `rsa` crate can.
            KeyKind::Rsa => {
                use rsa::pkcs8::EncodePrivateKey;
                let mut rng = rsa::rand_core::OsRng;
                let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
                    .unwrap_or_else(|e| panic!("rsa key: {e}"));
                let pem = key
                    .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                    .unwrap_or_else(|e| panic!("rsa pkcs8: {e}"));
                KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &PKCS_RSA_SHA256)
                    .unwrap_or_else(|e| panic!("rsa keypair: {e}"))
            }
            other => KeyPair::generate_for(other.algorithm())
                .unwrap_or_else(|e| panic!("key {other:?}: {e}")),
        }
    }
}

/// Validity relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Current,
    /// Ended yesterday.
    Expired,
    /// Starts tomorrow.
    NotYet,
}

impl Validity {
    fn apply(self, params: &mut CertificateParams) {
        let now = OffsetDateTime::now_utc();
        (params.not_before, params.not_after) = match self {
            Validity::Current => (now - Duration::hours(1), now + Duration::days(30)),
            Validity::Expired => (now - Duration::days(10), now - Duration::days(1)),
            Validity::NotYet => (now + Duration::days(1), now + Duration::days(30)),
        };
    }
}

/// A certificate that can issue others (a CA, or for negative tests a leaf posing as one).
pub struct ChainIssuer {
    issuer: Issuer<'static, KeyPair>,
    pub der: Vec<u8>,
    pub pem: String,
}

/// A certificate a client presents, with its key.
pub struct ChainLeaf {
    pub der: Vec<u8>,
    pub pem: String,
    pub key_pem: String,
}

impl ChainLeaf {
    /// Lowercase hex SHA-256 of the DER: Envoy's `sha256_peer_certificate_digest`.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.der))
    }

    /// Certificate then key, for curl's `--cert` or an upload.
    pub fn bundle(&self) -> String {
        format!("{}{}", self.pem, self.key_pem)
    }
}

/// What a leaf looks like.
#[derive(Debug, Clone, Copy)]
pub struct LeafSpec {
    pub key: KeyKind,
    pub validity: Validity,
    /// `None`: no extendedKeyUsage extension.
    pub eku: Option<&'static [ExtendedKeyUsagePurpose]>,
}

impl Default for LeafSpec {
    fn default() -> Self {
        LeafSpec {
            key: KeyKind::EcdsaP256,
            validity: Validity::Current,
            eku: Some(&[ExtendedKeyUsagePurpose::ClientAuth]),
        }
    }
}

fn ca_params(cn: &str, path_len: Option<u8>, validity: Validity) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::new()).unwrap_or_else(|e| panic!("params: {e}"));
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "mtls-gate chain tests");
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity.apply(&mut params);
    params
}

impl ChainIssuer {
    /// A self-signed root CA.
    pub fn root(cn: &str, key: KeyKind) -> ChainIssuer {
        Self::root_with(cn, key, None, Validity::Current)
    }

    /// A root with a `pathLenConstraint` and validity of choice.
    pub fn root_with(
        cn: &str,
        key: KeyKind,
        path_len: Option<u8>,
        validity: Validity,
    ) -> ChainIssuer {
        let key = key.generate();
        let params = ca_params(cn, path_len, validity);
        let cert = params
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("root: {e}"));
        ChainIssuer {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, cn: &str, key: KeyKind) -> ChainIssuer {
        self.intermediate_with(cn, key, None, Validity::Current)
    }

    pub fn intermediate_with(
        &self,
        cn: &str,
        key: KeyKind,
        path_len: Option<u8>,
        validity: Validity,
    ) -> ChainIssuer {
        let key = key.generate();
        let params = ca_params(cn, path_len, validity);
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("intermediate: {e}"));
        ChainIssuer {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A non-CA certificate signed by this one that will (wrongly) sign others: a leaf
    /// posing as an issuer.
    pub fn impostor(&self, cn: &str) -> ChainIssuer {
        let key = KeyKind::EcdsaP256.generate();
        let mut params = CertificateParams::new(vec![format!("{cn}.example.test")])
            .unwrap_or_else(|e| panic!("params: {e}"));
        params.distinguished_name.push(DnType::CommonName, cn);
        Validity::Current.apply(&mut params);
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("impostor: {e}"));
        ChainIssuer {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A current client leaf (P-256, EKU clientAuth).
    pub fn leaf(&self, cn: &str) -> ChainLeaf {
        self.leaf_with(cn, LeafSpec::default())
    }

    pub fn leaf_with(&self, cn: &str, spec: LeafSpec) -> ChainLeaf {
        let key = spec.key.generate();
        let mut params = CertificateParams::new(vec![format!("{cn}.example.test")])
            .unwrap_or_else(|e| panic!("params: {e}"));
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(eku) = spec.eku {
            params.extended_key_usages = eku.to_vec();
        }
        spec.validity.apply(&mut params);
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("leaf: {e}"));
        ChainLeaf {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// The `x-forwarded-client-cert` Envoy's SANITIZE_SET writes for a client that presented
/// `leaf` then `intermediates` (`Hash`, `Cert` and `Chain`, URL-encoded PEM).
pub fn xfcc_for(leaf: &ChainLeaf, intermediates: &[&ChainIssuer]) -> String {
    let chain: String = std::iter::once(leaf.pem.as_str())
        .chain(intermediates.iter().map(|i| i.pem.as_str()))
        .collect();
    format!(
        r#"Hash={};Cert="{}";Chain="{}";Subject="CN=client""#,
        leaf.fingerprint(),
        utf8_percent_encode(&leaf.pem, NON_ALPHANUMERIC),
        utf8_percent_encode(&chain, NON_ALPHANUMERIC),
    )
}
