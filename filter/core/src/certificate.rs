//! What mtls-gate needs to know about an X.509 certificate, and how an uploaded or
//! configured PEM bundle is read (SPEC §1). Parsing is RustCrypto's `x509-cert` (over
//! `der`, which webpki's signature algorithms link anyway); this module picks the facts out
//! and applies Tyk's bundle rules.

use crate::fingerprint::Fingerprint;
use crate::ids::CertificateId;
use crate::pem::{PemBlock, PemError, parse_blocks};
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::der::oid::db::rfc4519::COMMON_NAME;
use x509_cert::der::{self, Decode, Encode, Reader, SliceReader, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::time::Time;

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
    let asn1 = |error: der::Error| CertificateError::Asn1(error.to_string());
    let (cert, rest) = decode_certificate(der).map_err(asn1)?;
    if rest != 0 {
        return Err(CertificateError::TrailingData);
    }
    let (not_before, not_after) = validity(&cert).map_err(asn1)?;
    let tbs = cert.tbs_certificate();
    Ok(CertificateFacts {
        fingerprint: Fingerprint::of_der(der),
        not_before,
        not_after,
        is_ca: is_ca(&cert),
        subject_cn: first_common_name(tbs.subject()),
        issuer_cn: first_common_name(tbs.issuer()),
        dns_names: subject_alt_dns_names(&cert),
        // DER decoding is canonical, so the re-encoding is the certificate's own bytes.
        spki_der: tbs.subject_public_key_info().to_der().map_err(asn1)?,
    })
}

/// The DNS subject alternative names of a DER certificate, in order (any `AsRef<[u8]>` of
/// its DER: bytes, or a parsed certificate of another crate that hands back its DER). Empty
/// if the certificate or its subjectAltName extension cannot be read, or the extension is
/// present more than once.
pub fn dns_names<C: AsRef<[u8]> + ?Sized>(cert: &C) -> Vec<String> {
    decode_certificate(cert.as_ref())
        .map(|(cert, _)| subject_alt_dns_names(&cert))
        .unwrap_or_default()
}

/// A certificate as x509-cert decodes it (RFC 5280 profile, strict DER), from the front of
/// `der`: the certificate and how many bytes follow it.
///
/// Compared with x509-parser (what `trust/` and this module used before, and what the
/// tests compare with), `der` 0.8 is stricter. No field is ever read with a different
/// value; these certificates are refused (fail closed) or read with less:
/// - times: only DER forms (UTCTime `YYMMDDhhmmssZ`, GeneralizedTime `YYYYMMDDhhmmssZ`, no
///   fraction, no offset) and only from 1970 on (`der`'s `DateTime` starts at the epoch:
///   UTCTime years 50-69, GeneralizedTime years before 1970, are unrepresentable);
/// - names: DER only (the attributes of a multi-valued RDN sorted); a common name is read
///   only as a UTF8String, PrintableString, IA5String or NumericString of valid UTF-8 (other
///   string types, e.g. BMPString or TeletexString: an empty common name, as before);
/// - extensions: an unreadable or duplicated basic constraints extension is an error for
///   the anchor (before: unreadable counted as absent); a `pathLenConstraint` above 255 is
///   unreadable (webpki, which verifies the chains, reads it as a `u8` too); a
///   subjectAltName with any GeneralName x509-cert cannot decode yields no DNS names;
/// - x509-parser checked only tag numbers, not classes: a common name or subjectAltName
///   whose tag has the wrong class (e.g. `[12]` for a UTF8String) reads here as empty;
/// - anything else x509-parser tolerated that is not DER (non-minimal lengths, BOOLEANs
///   other than 0x00/0xff, serial numbers over 21 bytes, ...).
///
/// One case the other way: a key or signature BIT STRING declaring unused bits (all zero,
/// as DER requires) is read here, where x509-parser refused the certificate; webpki then
/// refuses such a key or signature, and the SPKI bytes are the certificate's own.
pub(crate) fn decode_certificate(der: &[u8]) -> Result<(Certificate, usize), der::Error> {
    let mut reader = SliceReader::new(der)?;
    let certificate = Certificate::decode(&mut reader)?;
    let rest = usize::try_from(reader.remaining_len())?;
    Ok((certificate, rest))
}

/// A certificate's validity period, unix seconds.
pub(crate) fn validity(certificate: &Certificate) -> Result<(i64, i64), der::Error> {
    let validity = certificate.tbs_certificate().validity();
    let seconds = |time: Time| {
        i64::try_from(time.to_unix_duration().as_secs())
            .map_err(|_| der::Error::from(der::ErrorKind::DateTime))
    };
    Ok((seconds(validity.not_before)?, seconds(validity.not_after)?))
}

/// The basic constraints extension: `Ok(None)` if absent, an error if unreadable or present
/// more than once.
pub(crate) fn basic_constraints(
    certificate: &Certificate,
) -> Result<Option<BasicConstraints>, der::Error> {
    Ok(certificate
        .tbs_certificate()
        .get_extension::<BasicConstraints>()?
        .map(|(_critical, constraints)| constraints))
}

/// Basic constraints say `CA:TRUE` (and are readable and present once).
fn is_ca(certificate: &Certificate) -> bool {
    matches!(basic_constraints(certificate), Ok(Some(constraints)) if constraints.ca)
}

/// The subjectAltName DNS names, in order; none if the extension is absent, unreadable or
/// present more than once.
fn subject_alt_dns_names(certificate: &Certificate) -> Vec<String> {
    match certificate
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
    {
        Ok(Some((_critical, SubjectAltName(names)))) => names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DnsName(dns) => Some(dns.as_str().to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The first common name attribute of a `Name`, as a string; empty if there is none or it
/// is not one of the string types read here.
fn first_common_name(name: &Name) -> String {
    let Some(value) = name
        .as_ref()
        .iter()
        .flat_map(|rdn| rdn.iter())
        .find(|attribute| attribute.oid == COMMON_NAME)
        .map(|attribute| &attribute.value)
    else {
        return String::new();
    };
    let is_string = matches!(
        value.tag(),
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString
    );
    match std::str::from_utf8(value.value()) {
        Ok(text) if is_string => text.to_owned(),
        _ => String::new(),
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
mod tests;
