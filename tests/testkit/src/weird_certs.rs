//! Client certificates no sane CA issues, for hostile-input tests through real Envoy
//! (issue 13, point 4): huge, malformed and duplicated extensions, negative, zero and
//! oversized serial numbers, control bytes and UTF-8 in names, XFCC separators in SANs,
//! version 1 certificates, and chains longer than a verifier allows.
//!
//! Every certificate is signed by one [`WeirdCa`] (a P-256 root made at test time), so the
//! same certificate can be judged by a fingerprint entry and by a CA entry. rcgen makes what
//! it can (it writes any extension bytes it is given, and any UTF-8 in a name); the `openssl`
//! CLI makes what rcgen refuses (a negative or zero serial, a version 1 certificate), from
//! the CA's key written next to the certificates. All files live in the CA's temporary
//! directory and go when it drops; no key is ever committed.

use crate::pki::{CertFiles, fingerprint};
use anyhow::{Context, Result, bail};
pub use rcgen::DnType;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use std::path::Path;
use std::process::Command;
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};

/// A private-enterprise OID arc for test extensions nobody defines.
pub const PRIVATE_OID: [u64; 8] = [1, 3, 6, 1, 4, 1, 55555, 1];
/// id-ce-basicConstraints.
pub const BASIC_CONSTRAINTS_OID: [u64; 4] = [2, 5, 29, 19];
/// id-ce-subjectAltName.
pub const SUBJECT_ALT_NAME_OID: [u64; 4] = [2, 5, 29, 17];

/// A root CA that signs weird leaves and intermediates; its files are in [`WeirdCa::dir`].
pub struct WeirdCa {
    issuer: Issuer<'static, KeyPair>,
    dir: TempDir,
    /// The root, as written to `ca.pem`.
    pub pem: String,
    pub der: Vec<u8>,
}

/// How a leaf is made with rcgen: common name, DNS SANs, extensions, serial.
#[derive(Debug, Clone, Default)]
pub struct LeafParams {
    /// `None`: an empty subject (no RDN at all).
    pub subject: Option<Vec<(DnType, String)>>,
    pub dns_names: Vec<String>,
    pub uris: Vec<String>,
    /// Extensions appended as given (OID, critical, the bytes inside the OCTET STRING).
    pub extensions: Vec<(Vec<u64>, bool, Vec<u8>)>,
    /// Big-endian serial bytes (rcgen makes it a positive INTEGER).
    pub serial: Option<Vec<u8>>,
    /// Ended yesterday.
    pub expired: bool,
}

impl LeafParams {
    /// CN `cn`, DNS `<cn>.example.test`, EKU clientAuth (through rcgen).
    pub fn named(cn: &str) -> Self {
        LeafParams {
            subject: Some(vec![(DnType::CommonName, cn.to_owned())]),
            dns_names: vec![format!("{cn}.example.test")],
            ..LeafParams::default()
        }
    }

    pub fn extension(mut self, oid: &[u64], critical: bool, content: Vec<u8>) -> Self {
        self.extensions.push((oid.to_vec(), critical, content));
        self
    }
}

/// What `openssl x509 -req` is asked for.
#[derive(Debug, Clone)]
pub struct OpensslLeaf<'a> {
    /// `-subj`, e.g. `/CN=negative`.
    pub subject: &'a str,
    /// `-set_serial`: decimal or `0x` hex, `-` allowed.
    pub serial: &'a str,
    /// The `[leaf]` extension section of the `-extfile`; `None`: no extensions at all, which
    /// makes openssl write a version 1 certificate.
    pub extensions: Option<&'a str>,
}

impl WeirdCa {
    pub fn new(cn: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mtls-gate-weird-")
            .tempdir()?;
        let key = KeyPair::generate()?;
        let params = ca_params(cn)?;
        let cert = params.self_signed(&key)?;
        std::fs::write(dir.path().join("ca.pem"), cert.pem())?;
        std::fs::write(dir.path().join("ca.key"), key.serialize_pem())?;
        Ok(WeirdCa {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
            dir,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A leaf made by rcgen from `params`, written as `<name>.pem` / `<name>.key`.
    pub fn leaf(&self, name: &str, params: &LeafParams) -> Result<CertFiles> {
        let now = OffsetDateTime::now_utc();
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name = DistinguishedName::new();
        for (kind, value) in params.subject.iter().flatten() {
            p.distinguished_name
                .push(kind.clone(), DnValue::Utf8String(value.clone()));
        }
        for dns in &params.dns_names {
            p.subject_alt_names
                .push(rcgen::SanType::DnsName(dns.clone().try_into()?));
        }
        for uri in &params.uris {
            p.subject_alt_names
                .push(rcgen::SanType::URI(uri.clone().try_into()?));
        }
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.custom_extensions = params
            .extensions
            .iter()
            .map(|(oid, critical, content)| {
                let mut ext = CustomExtension::from_oid_content(oid, content.clone());
                ext.set_criticality(*critical);
                ext
            })
            .collect();
        if let Some(serial) = &params.serial {
            p.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
        }
        (p.not_before, p.not_after) = match params.expired {
            false => (now - Duration::hours(1), now + Duration::days(30)),
            true => (now - Duration::days(10), now - Duration::days(1)),
        };
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.issuer)?;
        self.write(
            name,
            &cert.pem(),
            &key.serialize_pem(),
            cert.der().to_vec(),
            p.not_after,
        )
    }

    /// A leaf signed by `openssl x509 -req` with this CA's key.
    pub fn openssl_leaf(&self, name: &str, spec: &OpensslLeaf) -> Result<CertFiles> {
        let dir = self.dir.path().to_path_buf();
        let key_path = dir.join(format!("{name}.key"));
        let csr_path = dir.join(format!("{name}.csr"));
        let cert_path = dir.join(format!("{name}.pem"));
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &path_str(&key_path)?,
            "-out",
            &path_str(&csr_path)?,
            "-subj",
            spec.subject,
        ])?;
        let mut args: Vec<String> = [
            "x509",
            "-req",
            "-days",
            "30",
            "-in",
            &path_str(&csr_path)?,
            "-CA",
            &path_str(&dir.join("ca.pem"))?,
            "-CAkey",
            &path_str(&dir.join("ca.key"))?,
            "-set_serial",
            spec.serial,
            "-out",
            &path_str(&cert_path)?,
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(extensions) = spec.extensions {
            let ext_path = dir.join(format!("{name}.cnf"));
            std::fs::write(&ext_path, format!("[leaf]\n{extensions}\n"))?;
            args.extend([
                "-extfile".into(),
                path_str(&ext_path)?,
                "-extensions".into(),
                "leaf".into(),
            ]);
        }
        openssl(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        let der_path = dir.join(format!("{name}.der"));
        openssl(&[
            "x509",
            "-in",
            &path_str(&cert_path)?,
            "-outform",
            "DER",
            "-out",
            &path_str(&der_path)?,
        ])?;
        let pem = std::fs::read_to_string(&cert_path)?;
        let der = std::fs::read(&der_path)?;
        let key_pem = std::fs::read_to_string(&key_path)?;
        let not_after = OffsetDateTime::now_utc() + Duration::days(30);
        Ok(CertFiles {
            name: name.to_owned(),
            fingerprint: fingerprint(&der),
            cert_path,
            key_path,
            cert_pem: pem,
            key_pem,
            der,
            not_after,
        })
    }

    /// A leaf signed through `depth` intermediates under this root (each a CA with no path
    /// length limit), presented as the leaf then every intermediate, nearest first (what curl
    /// sends from one `--cert` file). The intermediates alone are also in
    /// [`WeirdCa::chain_path`].
    pub fn chain(&self, name: &str, depth: usize) -> Result<CertFiles> {
        let mut issuers: Vec<(Issuer<'static, KeyPair>, String)> = Vec::new();
        for level in 0..depth {
            let key = KeyPair::generate()?;
            let params = ca_params(&format!("{name} intermediate {level}"))?;
            let cert = match issuers.last() {
                Some((parent, _)) => params.signed_by(&key, parent)?,
                None => params.signed_by(&key, &self.issuer)?,
            };
            issuers.push((Issuer::new(params, key), cert.pem()));
        }
        let now = OffsetDateTime::now_utc();
        let mut p = CertificateParams::new(vec![format!("{name}.example.test")])?;
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.not_before = now - Duration::hours(1);
        p.not_after = now + Duration::days(30);
        let key = KeyPair::generate()?;
        let leaf = match issuers.last() {
            Some((parent, _)) => p.signed_by(&key, parent)?,
            None => p.signed_by(&key, &self.issuer)?,
        };
        let intermediates: String = issuers.iter().rev().map(|(_, pem)| pem.as_str()).collect();
        // `openssl s_client -cert` sends only the first certificate of its file; the others
        // go in `-cert_chain`, this file.
        std::fs::write(self.chain_path(name), &intermediates)?;
        let presented = format!("{}{intermediates}", leaf.pem());
        let mut files = self.write(
            name,
            &presented,
            &key.serialize_pem(),
            leaf.der().to_vec(),
            p.not_after,
        )?;
        // The fingerprint is the leaf's; the file holds the whole chain.
        files.fingerprint = fingerprint(leaf.der());
        Ok(files)
    }

    /// The intermediates of [`WeirdCa::chain`]`(name, ..)`, nearest first.
    pub fn chain_path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(format!("{name}.chain.pem"))
    }

    fn write(
        &self,
        name: &str,
        cert_pem: &str,
        key_pem: &str,
        der: Vec<u8>,
        not_after: OffsetDateTime,
    ) -> Result<CertFiles> {
        let cert_path = self.dir.path().join(format!("{name}.pem"));
        let key_path = self.dir.path().join(format!("{name}.key"));
        std::fs::write(&cert_path, cert_pem)?;
        std::fs::write(&key_path, key_pem)?;
        Ok(CertFiles {
            name: name.to_owned(),
            fingerprint: fingerprint(&der),
            cert_path,
            key_path,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            der,
            not_after,
        })
    }
}

fn ca_params(cn: &str) -> Result<CertificateParams> {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(60);
    Ok(params)
}

/// DER of a definite-length OCTET STRING holding `len` bytes of `fill`: a valid but huge
/// extension value.
pub fn octet_string(len: usize, fill: u8) -> Vec<u8> {
    let mut der = vec![0x04];
    der.extend(der_length(len));
    der.extend(std::iter::repeat_n(fill, len));
    der
}

fn der_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    std::iter::once(0x80 | bytes.len() as u8)
        .chain(bytes)
        .collect()
}

fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .context("running openssl (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn path_str(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("non-UTF-8 path {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weird_leaves_are_what_they_claim() {
        let ca = WeirdCa::new("weird test CA").unwrap();
        let huge = ca
            .leaf(
                "huge",
                &LeafParams::named("huge").extension(&PRIVATE_OID, false, octet_string(60_000, 7)),
            )
            .unwrap();
        assert!(huge.der.len() > 60_000, "{}", huge.der.len());
        let negative = ca
            .openssl_leaf(
                "negative",
                &OpensslLeaf {
                    subject: "/CN=negative",
                    serial: "-0x2a",
                    extensions: Some("extendedKeyUsage=clientAuth"),
                },
            )
            .unwrap();
        // TBSCertificate: [0] version (a0 03 02 01 02), then the serial INTEGER 02 01 d6.
        let tbs_start = 4 + 4;
        assert_eq!(
            negative.der.get(tbs_start + 5..tbs_start + 8),
            Some(&[0x02, 0x01, 0xd6][..]),
            "negative serial"
        );
        let chain = ca.chain("deep", 3).unwrap();
        assert_eq!(chain.cert_pem.matches("BEGIN CERTIFICATE").count(), 4);
        assert_eq!(chain.fingerprint, fingerprint(&chain.der));
    }

    #[test]
    fn octet_strings_use_definite_der_lengths() {
        assert_eq!(octet_string(3, 1), vec![4, 3, 1, 1, 1]);
        assert_eq!(&octet_string(300, 0)[..4], &[4, 0x82, 1, 44]);
    }
}
