//! Test certificates, made fresh for each test with rcgen and written as PEM files.
//!
//! - `ca` signs the listener's server certificate and the "known" client certificates.
//! - `client`, `client2`: valid client certificates; `expired`: valid CA, notAfter in the past;
//!   `rogue`: self-signed, unknown to everyone.
//! - `upstream_server`: the echo upstream's server certificate (also signed by `ca`).
//! - `upstream_client_a`, `upstream_client_b`: client certificates Envoy presents upstream.
//!
//! [`ClientMint`] makes many distinct client certificates cheaply; [`TestCert`] is one
//! self-signed certificate kept in memory only, for the wasmtime harness, where no handshake
//! happens (Envoy would hand the filter its digest and PEM).
//!
//! Fingerprints are the lowercase hex SHA-256 of the DER: the certificate ID of SPEC §1 and
//! Envoy's `connection.sha256_peer_certificate_digest`.

use anyhow::{Context, Result};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, date_time_ymd,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

/// One certificate and its key, on disk and in memory.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// A short name: the file stem and the certificate's CN.
    pub name: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
    /// Lowercase hex SHA-256 of the DER (64 characters).
    pub fingerprint: String,
    pub not_after: OffsetDateTime,
}

impl CertFiles {
    /// Certificate followed by its private key: the body of a Tyk `POST /tyk/certs` with a key.
    pub fn cert_and_key_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

/// The lowercase hex SHA-256 of `der`.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A full set of test certificates in a temporary directory (deleted on drop).
pub struct TestPki {
    dir: TempDir,
    pub ca: CertFiles,
    /// The listener's certificate: `localhost`, `*.example.test`, `127.0.0.1`.
    pub server: CertFiles,
    pub client: CertFiles,
    pub client2: CertFiles,
    pub expired: CertFiles,
    pub rogue: CertFiles,
    /// The echo upstream's certificate: `localhost`, `*.example.test`, `127.0.0.1`.
    pub upstream_server: CertFiles,
    pub upstream_client_a: CertFiles,
    pub upstream_client_b: CertFiles,
}

/// Hostnames every server certificate here is valid for. `secure.test`, `other.test`,
/// `open.test` and `*.secure.test` serve the domain tests (exact, disabled and template
/// domains), so curl verifies the listener for those names too.
pub const SERVER_NAMES: [&str; 7] = [
    "localhost",
    "*.example.test",
    "127.0.0.1",
    "secure.test",
    "other.test",
    "open.test",
    "*.secure.test",
];

impl TestPki {
    pub fn generate() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mtls-gate-pki-")
            .tempdir()?;
        let now = OffsetDateTime::now_utc();
        let year = Duration::days(365);

        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name = dn("mtls-gate test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = now - Duration::days(1);
        ca_params.not_after = now + year;
        let ca_key = KeyPair::generate()?;
        let ca_key_pem = ca_key.serialize_pem();
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;
        let ca_files = write(
            dir.path(),
            "ca",
            ca.pem(),
            ca_key_pem,
            ca.der().to_vec(),
            now + year,
        )?;

        let issue = |name: &str, role: Role, validity: (OffsetDateTime, OffsetDateTime)| {
            let mut params = match role {
                Role::Server => CertificateParams::new(
                    SERVER_NAMES
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>(),
                )?,
                Role::Client => CertificateParams::new(Vec::<String>::new())?,
            };
            params.distinguished_name = dn(name);
            params.extended_key_usages = vec![match role {
                Role::Server => ExtendedKeyUsagePurpose::ServerAuth,
                Role::Client => ExtendedKeyUsagePurpose::ClientAuth,
            }];
            if role == Role::Client {
                params.subject_alt_names = vec![SanType::DnsName(
                    format!("{name}.clients.example.test").try_into()?,
                )];
            }
            params.not_before = validity.0;
            params.not_after = validity.1;
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &ca)?;
            write(
                dir.path(),
                name,
                cert.pem(),
                key.serialize_pem(),
                cert.der().to_vec(),
                validity.1,
            )
        };
        let valid = (now - Duration::days(1), now + year);

        let server = issue("server", Role::Server, valid)?;
        let client = issue("client", Role::Client, valid)?;
        let client2 = issue("client2", Role::Client, valid)?;
        let expired = issue(
            "expired",
            Role::Client,
            (now - Duration::days(30), now - Duration::days(1)),
        )?;
        let upstream_server = issue("upstream-server", Role::Server, valid)?;
        let upstream_client_a = issue("upstream-client-a", Role::Client, valid)?;
        let upstream_client_b = issue("upstream-client-b", Role::Client, valid)?;

        let mut rogue_params = CertificateParams::new(vec!["rogue.example.test".to_string()])?;
        rogue_params.distinguished_name = dn("rogue");
        rogue_params.not_before = valid.0;
        rogue_params.not_after = valid.1;
        let rogue_key = KeyPair::generate()?;
        let rogue_cert = rogue_params.self_signed(&rogue_key)?;
        let rogue = write(
            dir.path(),
            "rogue",
            rogue_cert.pem(),
            rogue_key.serialize_pem(),
            rogue_cert.der().to_vec(),
            valid.1,
        )?;

        Ok(Self {
            dir,
            ca: ca_files,
            server,
            client,
            client2,
            expired,
            rogue,
            upstream_server,
            upstream_client_a,
            upstream_client_b,
        })
    }

    /// The directory holding every PEM file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Mints fresh self-signed client certificates, all with one key pair (cheap: one signature
/// each), for tests that need many distinct fingerprints.
pub struct ClientMint {
    dir: TempDir,
    key: KeyPair,
    key_pem: String,
    minted: usize,
}

impl ClientMint {
    pub fn new() -> Result<Self> {
        let key = KeyPair::generate()?;
        let key_pem = key.serialize_pem();
        Ok(Self {
            dir: tempfile::Builder::new()
                .prefix("mtls-gate-mint-")
                .tempdir()?,
            key,
            key_pem,
            minted: 0,
        })
    }

    /// A new self-signed client certificate (CN `<prefix>-<n>`, valid for a day around now)
    /// with a fingerprint no other call returned.
    pub fn mint(&mut self, prefix: &str) -> Result<CertFiles> {
        self.minted += 1;
        let name = format!("{prefix}-{}", self.minted);
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = dn(&name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = now - Duration::hours(1);
        let not_after = now + Duration::days(1);
        params.not_after = not_after;
        // A distinct serial per certificate (rcgen would pick a random one anyway).
        params.serial_number = Some(rcgen::SerialNumber::from(self.minted as u64));
        let cert = params.self_signed(&self.key)?;
        write(
            self.dir.path(),
            &name,
            cert.pem(),
            self.key_pem.clone(),
            cert.der().to_vec(),
            not_after,
        )
    }
}

/// A self-signed client certificate generated for one test, in memory only. The harness
/// never does a handshake, so only the certificate is kept: Envoy would hand the filter its
/// digest and PEM.
pub struct TestCert {
    pub pem: String,
    /// Lowercase hex SHA-256 of the DER (64 characters).
    pub fingerprint: String,
}

impl TestCert {
    /// Valid from 2020 to 2040: valid at the harness clock's default time (2023).
    pub fn new(cn: &str) -> Self {
        Self::with_validity(cn, (2020, 1, 1), (2040, 1, 1))
    }

    /// Expired in 2021, before the harness clock's default time.
    pub fn expired(cn: &str) -> Self {
        Self::with_validity(cn, (2019, 1, 1), (2021, 1, 1))
    }

    /// CN `cn`, DNS name `<cn>.example.test`, valid over these (year, month, day) dates.
    pub fn with_validity(cn: &str, from: (i32, u8, u8), until: (i32, u8, u8)) -> Self {
        let mut params = CertificateParams::new(vec![format!("{cn}.example.test")]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = date_time_ymd(from.0, from.1, from.2);
        params.not_after = date_time_ymd(until.0, until.1, until.2);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCert {
            fingerprint: fingerprint(cert.der()),
            pem: cert.pem(),
        }
    }

    /// The `x-forwarded-client-cert` value Envoy sets under SANITIZE_SET for this cert.
    pub fn xfcc(&self) -> String {
        let cert = utf8_percent_encode(&self.pem, NON_ALPHANUMERIC);
        format!(
            r#"Hash={};Cert="{cert}";Subject="CN=client";URI=;DNS=client.example.test"#,
            self.fingerprint
        )
    }

    /// The PEM as a JSON string value.
    pub fn pem_json(&self) -> String {
        serde_json::to_string(&self.pem).unwrap()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "mtls-gate tests");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn write(
    dir: &Path,
    name: &str,
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
    not_after: OffsetDateTime,
) -> Result<CertFiles> {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, &cert_pem).with_context(|| cert_path.display().to_string())?;
    std::fs::write(&key_path, &key_pem).with_context(|| key_path.display().to_string())?;
    Ok(CertFiles {
        name: name.to_string(),
        fingerprint: fingerprint(&der),
        cert_path,
        key_path,
        cert_pem,
        key_pem,
        der,
        not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    #[test]
    fn generated_certificates_have_the_promised_properties() {
        let pki = TestPki::generate().unwrap();
        let now = OffsetDateTime::now_utc();
        let all = [
            &pki.ca,
            &pki.server,
            &pki.client,
            &pki.client2,
            &pki.expired,
            &pki.rogue,
            &pki.upstream_server,
            &pki.upstream_client_a,
            &pki.upstream_client_b,
        ];
        let mut fingerprints: Vec<&str> = all.iter().map(|c| c.fingerprint.as_str()).collect();
        fingerprints.sort();
        fingerprints.dedup();
        assert_eq!(fingerprints.len(), all.len(), "fingerprints must differ");
        for c in all {
            assert_eq!(c.fingerprint.len(), 64);
            assert!(
                c.fingerprint
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
            assert_eq!(std::fs::read_to_string(&c.cert_path).unwrap(), c.cert_pem);
            let (_, x509) = X509Certificate::from_der(&c.der).unwrap();
            assert_eq!(
                x509.validity().not_after.timestamp(),
                c.not_after.unix_timestamp()
            );
        }
        let parse = |c: &CertFiles| {
            X509Certificate::from_der(&c.der)
                .unwrap()
                .1
                .validity()
                .clone()
        };
        assert!(parse(&pki.expired).not_after.timestamp() < now.unix_timestamp());
        assert!(parse(&pki.client).not_after.timestamp() > now.unix_timestamp());
        let (_, rogue) = X509Certificate::from_der(&pki.rogue.der).unwrap();
        assert_eq!(rogue.issuer(), rogue.subject(), "rogue is self-signed");
        let (_, client) = X509Certificate::from_der(&pki.client.der).unwrap();
        let (_, ca) = X509Certificate::from_der(&pki.ca.der).unwrap();
        assert_eq!(client.issuer(), ca.subject());
    }

    #[test]
    fn minted_certificates_are_distinct_and_share_one_key() {
        let mut mint = ClientMint::new().unwrap();
        let a = mint.mint("m").unwrap();
        let b = mint.mint("m").unwrap();
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_ne!(a.cert_path, b.cert_path);
        assert_eq!(a.key_pem, b.key_pem);
        let (_, x509) = X509Certificate::from_der(&a.der).unwrap();
        assert_eq!(x509.issuer(), x509.subject(), "self-signed");
    }
}
