//! Trust anchors: the CA certificates an allow list names, reduced to what verification needs.
//!
//! The shim builds them from the certificates it stores ([`TrustAnchor::from_ca_der`]) and
//! sends their [`TrustAnchorParts`] on the feed; the filter never sees the CA certificate
//! itself and rebuilds the anchor with [`TrustAnchor::from_parts`].

use rustls_pki_types::{CertificateDer, Der};
use serde::{Deserialize, Serialize};

use crate::certificate::{basic_constraints, decode_certificate, validity};
use crate::fingerprint::Fingerprint;

/// Why a certificate cannot be a trust anchor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("not an X.509 certificate: {0}")]
    Unparsable(String),
    /// Only a CA certificate (basic constraints `CA:TRUE`) may anchor a chain (SPEC §3).
    #[error("not a CA certificate: {0}")]
    NotCa(&'static str),
    /// webpki's own reading of the certificate failed (its `Display`, e.g. `BadDer`).
    #[error("unusable as a trust anchor: {0}")]
    Webpki(webpki::Error),
}

/// An owned trust anchor made from a CA certificate the allow list names.
///
/// Carries what webpki needs to verify a chain up to it (the CA's subject, public key and
/// name constraints) and what webpki leaves to us: the CA's own validity period and its
/// `pathLenConstraint`, which [`super::verify_client_chain`] checks itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    subject: Vec<u8>,
    spki: Vec<u8>,
    name_constraints: Option<Vec<u8>>,
    path_len: Option<u8>,
    not_before: i64,
    not_after: i64,
    fingerprint: Fingerprint,
}

/// A [`TrustAnchor`]'s fields, as the feed carries them (the feed never sends the CA
/// certificate itself).
///
/// Wire form (JSON): byte strings are standard base64 (with padding); `name_constraints` and
/// `path_len` are omitted when absent; `fingerprint` is 64 lowercase hex characters (any case
/// is read). Unknown fields are ignored.
///
/// The byte strings are exactly those of `rustls_pki_types::TrustAnchor`, the form webpki
/// compares an issuer with: the DER *contents* (the value, without the outer SEQUENCE tag and
/// length) of the CA's subject `Name` and `SubjectPublicKeyInfo`, and the DER of its
/// `NameConstraints` extension value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustAnchorParts {
    #[serde(with = "b64")]
    pub subject: Vec<u8>,
    #[serde(with = "b64")]
    pub spki: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_option")]
    pub name_constraints: Option<Vec<u8>>,
    /// The CA's `pathLenConstraint`: how many intermediates may follow it. `None`: no limit.
    /// (A CA whose constraint is above 255 is refused: x509-cert and webpki read it as a `u8`.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_len: Option<u8>,
    /// The CA certificate's validity period, unix seconds (inclusive, as webpki's).
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the CA certificate's DER.
    #[serde(with = "fingerprint_hex")]
    pub fingerprint: Fingerprint,
}

impl TrustAnchor {
    /// Builds an anchor from a CA certificate (DER). Refuses anything that is not a CA
    /// (no basic constraints, or `CA:FALSE`), with the reason.
    pub fn from_ca_der(der: &[u8]) -> Result<TrustAnchor, AnchorError> {
        let unparsable = |err: x509_cert::der::Error| AnchorError::Unparsable(err.to_string());
        let (cert, rest) = decode_certificate(der).map_err(unparsable)?;
        if rest != 0 {
            return Err(AnchorError::Unparsable(
                "trailing bytes after the certificate".to_owned(),
            ));
        }
        // Unreadable or duplicated basic constraints: unparsable (x509-cert refuses to
        // choose between two; a `pathLenConstraint` above 255 does not decode).
        let constraints = match basic_constraints(&cert) {
            Ok(Some(constraints)) => constraints,
            Ok(None) => return Err(AnchorError::NotCa("it has no basic constraints extension")),
            Err(err) => return Err(unparsable(err)),
        };
        if !constraints.ca {
            return Err(AnchorError::NotCa("its basic constraints say CA:FALSE"));
        }
        let path_len = constraints.path_len_constraint;
        let (not_before, not_after) = validity(&cert).map_err(unparsable)?;

        let certificate = CertificateDer::from(der);
        let anchor = webpki::anchor_from_trusted_cert(&certificate).map_err(AnchorError::Webpki)?;
        Ok(TrustAnchor {
            subject: anchor.subject.as_ref().to_vec(),
            spki: anchor.subject_public_key_info.as_ref().to_vec(),
            name_constraints: anchor
                .name_constraints
                .as_ref()
                .map(|constraints| constraints.as_ref().to_vec()),
            path_len,
            not_before,
            not_after,
            fingerprint: Fingerprint::of_der(der),
        })
    }

    /// Rebuilds an anchor from its parts (as carried on the store feed).
    pub fn from_parts(parts: TrustAnchorParts) -> TrustAnchor {
        let TrustAnchorParts {
            subject,
            spki,
            name_constraints,
            path_len,
            not_before,
            not_after,
            fingerprint,
        } = parts;
        TrustAnchor {
            subject,
            spki,
            name_constraints,
            path_len,
            not_before,
            not_after,
            fingerprint,
        }
    }

    pub fn parts(&self) -> TrustAnchorParts {
        TrustAnchorParts {
            subject: self.subject.clone(),
            spki: self.spki.clone(),
            name_constraints: self.name_constraints.clone(),
            path_len: self.path_len,
            not_before: self.not_before,
            not_after: self.not_after,
            fingerprint: self.fingerprint,
        }
    }

    /// SHA-256 of the CA certificate's DER.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// End of the CA certificate's validity, unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Start of the CA certificate's validity, unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// The CA's `pathLenConstraint`, if any.
    pub fn path_len(&self) -> Option<u8> {
        self.path_len
    }

    /// Whether `now` (unix seconds) is within the CA's validity period, bounds included.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// The borrowed form webpki takes.
    pub(super) fn as_webpki(&self) -> rustls_pki_types::TrustAnchor<'_> {
        rustls_pki_types::TrustAnchor {
            subject: Der::from(self.subject.as_slice()),
            subject_public_key_info: Der::from(self.spki.as_slice()),
            name_constraints: self.name_constraints.as_deref().map(Der::from),
        }
    }

    /// Whether webpki's anchor has this anchor's subject and key.
    pub(super) fn matches(&self, anchor: &rustls_pki_types::TrustAnchor<'_>) -> bool {
        self.subject == anchor.subject.as_ref()
            && self.spki == anchor.subject_public_key_info.as_ref()
    }
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(D::Error::custom)
    }
}

mod b64_option {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::b64::serialize(bytes, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::b64")] Vec<u8>);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(bytes)| bytes))
    }
}

mod fingerprint_hex {
    use crate::fingerprint::Fingerprint;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(
        fingerprint: &Fingerprint,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&fingerprint.to_hex())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Fingerprint, D::Error> {
        let text = String::deserialize(deserializer)?;
        Fingerprint::parse_hex(&text)
            .ok_or_else(|| D::Error::custom("fingerprint: expected 64 hex characters"))
    }
}
