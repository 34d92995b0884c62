//! An in-memory test CA that issues leaves on demand (no files, no private key ever
//! committed): ECDSA P-256 leaves, expired leaves, RSA leaves with PKCS#1 keys (as Tyk's own
//! tests upload), plus a bare root CA certificate and a bare public key. The shim's unit and
//! HTTP tests upload these; [`crate::pki::TestPki`] is the on-disk set the e2e tests hand to
//! Envoy and curl.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256, PublicKeyData, SignatureAlgorithm,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// A test CA that issues leaves.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
}

/// A certificate with its key.
pub struct Leaf {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
    pub key_der: Vec<u8>,
}

impl Leaf {
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.cert_der))
    }

    /// Certificate followed by its key, as Tyk users upload them.
    pub fn bundle(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

fn leaf_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec![format!("{cn}.example.test")])
        .unwrap_or_else(|e| panic!("params: {e}"));
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "mtls-gate tests");
    params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(30);
    params
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::new()).unwrap_or_else(|e| panic!("params: {e}"));
    params.distinguished_name.push(DnType::CommonName, cn);
    params.distinguished_name.push(DnType::CountryName, "GB");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("ca key: {e}"));
        let params = ca_params("mtls-gate test CA");
        let cert = params
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("ca: {e}"));
        TestCa {
            ca_pem: cert.pem(),
            ca_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    /// An ECDSA P-256 leaf (PKCS#8 key), valid now, with DNS SAN `<cn>.example.test`.
    pub fn leaf(&self, cn: &str) -> Leaf {
        self.issue(leaf_params(cn))
    }

    /// A leaf whose validity ended yesterday.
    pub fn expired(&self, cn: &str) -> Leaf {
        let mut params = leaf_params(cn);
        params.not_before = OffsetDateTime::now_utc() - Duration::days(10);
        params.not_after = OffsetDateTime::now_utc() - Duration::days(1);
        self.issue(params)
    }

    /// A leaf valid until `not_after` (in the past for an expired one), from a day before
    /// that or an hour ago, whichever is earlier: expiry monitoring's 90/15/5-day cases.
    pub fn leaf_until(&self, cn: &str, not_after: OffsetDateTime) -> Leaf {
        let mut params = leaf_params(cn);
        params.not_before = params.not_before.min(not_after - Duration::days(1));
        params.not_after = not_after;
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("key: {e}"));
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("sign: {e}"));
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }

    /// An RSA leaf whose key is PKCS#1 (`RSA PRIVATE KEY`), as Tyk's own tests upload.
    pub fn rsa_pkcs1_leaf(&self, cn: &str) -> Leaf {
        use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap_or_else(|e| panic!("rsa: {e}"));
        let public = RsaSubjectKey(
            key.to_public_key()
                .to_pkcs1_der()
                .unwrap_or_else(|e| panic!("rsa public: {e}"))
                .into_vec(),
        );
        let cert = leaf_params(cn)
            .signed_by(&public, &self.issuer)
            .unwrap_or_else(|e| panic!("sign: {e}"));
        let key_der = key.to_pkcs1_der().unwrap_or_else(|e| panic!("pkcs1: {e}"));
        let key_pem = key
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .unwrap_or_else(|e| panic!("pkcs1 pem: {e}"));
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key_pem.to_string(),
            key_der: key_der.as_bytes().to_vec(),
        }
    }
}

/// An RSA public key as the subject of a certificate signed by the (ECDSA) test CA.
struct RsaSubjectKey(Vec<u8>);

impl PublicKeyData for RsaSubjectKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_RSA_SHA256
    }
}

/// A self-signed root CA certificate (no key returned).
pub fn root_ca_pem(cn: &str) -> String {
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("key: {e}"));
    ca_params(cn)
        .self_signed(&key)
        .unwrap_or_else(|e| panic!("ca: {e}"))
        .pem()
}

/// A fresh P-256 `PUBLIC KEY` PEM.
pub fn public_key_pem() -> String {
    KeyPair::generate()
        .unwrap_or_else(|e| panic!("key: {e}"))
        .public_key_pem()
}
