//! SHA-256 fingerprints: the identity of a certificate everywhere in mtls-gate.
//!
//! One value, three spellings that must agree (SPEC §1):
//! `openssl x509 -noout -fingerprint -sha256` (lowercased, colons removed),
//! Envoy's `connection.sha256_peer_certificate_digest`, and the store's certificate ID
//! without its org prefix.
//!
//! On the wire (the change feed, shared data, store records) a fingerprint is its 64
//! lowercase hex; see the serde impls below.

use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

/// Length of a fingerprint written as lowercase hex.
pub const HEX_LEN: usize = 64;

/// The SHA-256 digest of a DER-encoded certificate (or, for public-key entries, of the SPKI).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

/// Hashes the digest's first 8 bytes: a SHA-256 is uniform already, so they spread as well
/// as all 32, at a quarter of the hashing (a static-allow request looks one up in two allow
/// lists and in the worker's SipHash-keyed expiry cache: about 370 wasm instructions saved).
/// Flooding that cache stays out of reach: colliding there takes equal 8-byte prefixes,
/// about 2^32 certificates for one pair. Equality still compares all 32 bytes.
impl std::hash::Hash for Fingerprint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        state.write_u64(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
    }
}

impl Fingerprint {
    /// Fingerprint of DER bytes.
    pub fn of_der(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Parses exactly 64 hex characters (either case; openssl prints upper case).
    /// Colons, as in openssl's `AB:CD:…` form, are accepted and ignored.
    pub fn parse_hex(text: &str) -> Option<Self> {
        // Envoy's digest property, read on every request, is already bare hex: no copy.
        if text.len() == HEX_LEN {
            return Self::parse_wire_hex(text).ok();
        }
        let compact: String = text.chars().filter(|c| *c != ':').collect();
        if compact.len() != HEX_LEN {
            return None;
        }
        let mut bytes = [0u8; 32];
        const_hex::decode_to_slice(compact, &mut bytes).ok()?;
        Some(Fingerprint(bytes))
    }

    /// Parses a fingerprint as the wire carries it: exactly 64 hex characters, either case,
    /// nothing else (no colons, no prefix, no whitespace). Stricter than [`Self::parse_hex`],
    /// which reads what people type.
    pub fn parse_wire_hex(text: &str) -> Result<Self, FingerprintHexError> {
        if text.len() != HEX_LEN {
            return Err(FingerprintHexError::Length(text.len()));
        }
        let mut bytes = [0u8; 32];
        const_hex::decode_to_slice(text, &mut bytes).map_err(|_| FingerprintHexError::NotHex)?;
        Ok(Fingerprint(bytes))
    }

    /// Splits a store certificate ID (`org_id` + 64 hex) into its org prefix and fingerprint.
    /// The org is a plain prefix with no separator (SPEC §1), so the fingerprint is the last 64 characters.
    pub fn split_certificate_id(id: &str) -> Option<(&str, Self)> {
        let split_at = id.len().checked_sub(HEX_LEN)?;
        if !id.is_char_boundary(split_at) {
            return None;
        }
        let (org, tail) = id.split_at(split_at);
        Some((org, Self::parse_hex(tail)?))
    }

    /// The digest itself (as [`Self::as_bytes`] gives it).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as Envoy and the store spell it.
    pub fn to_hex(&self) -> String {
        self.hex().as_str().to_owned()
    }

    /// Lowercase hex on the stack: a per-request header write allocates nothing for it.
    pub fn hex(&self) -> FingerprintHex {
        let mut text = [0u8; HEX_LEN];
        // 32 bytes always fit 64 characters.
        let _ = const_hex::encode_to_slice(self.0, &mut text);
        FingerprintHex(text)
    }
}

/// A fingerprint's 64 lowercase hex characters ([`Fingerprint::hex`]).
#[derive(Clone, Copy)]
pub struct FingerprintHex([u8; HEX_LEN]);

impl FingerprintHex {
    pub fn as_str(&self) -> &str {
        // Only ever filled by `const_hex::encode_to_slice`: ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Why [`Fingerprint::parse_wire_hex`] refused a text.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintHexError {
    #[error("a fingerprint is 64 hex characters, not {0} bytes")]
    Length(usize),
    #[error("a fingerprint is 64 hex characters, and this one has a character that is not hex")]
    NotHex,
}

/// Serialised as the 64 lowercase hex of [`Fingerprint::to_hex`], so the JSON is what it was
/// when fingerprints travelled as strings.
impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.hex().as_str())
    }
}

/// Deserialised from a string of exactly 64 hex characters in either case
/// ([`Fingerprint::parse_wire_hex`]); anything else is a serde error that says why.
impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl serde::de::Visitor<'_> for HexVisitor {
            type Value = Fingerprint;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SHA-256 fingerprint as a string of 64 hex characters")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Fingerprint, E> {
                Fingerprint::parse_wire_hex(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn fingerprint_of_der_is_lowercase_sha256_hex() {
        assert_eq!(Fingerprint::of_der(b"").to_hex(), EMPTY_SHA256);
    }

    #[test]
    fn every_byte_spells_as_two_lowercase_digits_and_reads_back_in_either_case() {
        let mut bytes = [0u8; 32];
        for chunk in 0..8u8 {
            for (i, byte) in bytes.iter_mut().enumerate() {
                *byte = chunk * 32 + i as u8;
            }
            let fp = Fingerprint::from_bytes(bytes);
            let want: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(fp.hex().as_str(), want);
            assert_eq!(Fingerprint::parse_wire_hex(&want), Ok(fp));
            assert_eq!(Fingerprint::parse_wire_hex(&want.to_uppercase()), Ok(fp));
        }
        for bad in [b'g', b'G', b'/', b':', b'@', b'`', b' ', 0, 0xff] {
            let mut text = EMPTY_SHA256.as_bytes().to_vec();
            text[17] = bad;
            let text = String::from_utf8_lossy(&text).into_owned();
            let want = match text.len() {
                HEX_LEN => FingerprintHexError::NotHex,
                len => FingerprintHexError::Length(len),
            };
            assert_eq!(Fingerprint::parse_wire_hex(&text), Err(want), "{bad}");
        }
    }

    #[test]
    fn openssl_colon_upper_case_form_parses_to_the_same_fingerprint() {
        let openssl_form = EMPTY_SHA256
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(
            Fingerprint::parse_hex(&openssl_form),
            Fingerprint::parse_hex(EMPTY_SHA256)
        );
    }

    #[test]
    fn parse_hex_rejects_wrong_length_and_non_hex() {
        assert!(Fingerprint::parse_hex(&EMPTY_SHA256[..63]).is_none());
        assert!(Fingerprint::parse_hex(&format!("{EMPTY_SHA256}0")).is_none());
        assert!(Fingerprint::parse_hex(&EMPTY_SHA256.replace('e', "g")).is_none());
        assert!(Fingerprint::parse_hex("").is_none());
    }

    #[test]
    fn serde_writes_lowercase_hex_and_reads_either_case() {
        let fp = Fingerprint::parse_hex(EMPTY_SHA256).unwrap();
        let json = serde_json::to_string(&fp).unwrap();
        assert_eq!(json, format!("\"{EMPTY_SHA256}\""));
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), fp);
        let upper = format!("\"{}\"", EMPTY_SHA256.to_uppercase());
        assert_eq!(serde_json::from_str::<Fingerprint>(&upper).unwrap(), fp);
    }

    #[test]
    fn serde_refuses_anything_but_64_hex_with_a_clear_error() {
        let colons = EMPTY_SHA256
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":");
        for (json, says) in [
            (format!("\"{}\"", &EMPTY_SHA256[..63]), "not 63 bytes"),
            (format!("\"{EMPTY_SHA256}0\""), "not 65 bytes"),
            (format!("\"{colons}\""), "not 95 bytes"),
            (format!("\" {}\"", &EMPTY_SHA256[1..]), "not hex"),
            (format!("\"{}\"", EMPTY_SHA256.replace('e', "g")), "not hex"),
            ("\"\"".to_owned(), "not 0 bytes"),
            ("null".to_owned(), "64 hex characters"),
            ("42".to_owned(), "64 hex characters"),
            (format!("[\"{EMPTY_SHA256}\"]"), "64 hex characters"),
        ] {
            let error = serde_json::from_str::<Fingerprint>(&json)
                .expect_err(&json)
                .to_string();
            assert!(error.contains(says), "{json}: {error}");
        }
    }

    #[test]
    fn certificate_id_splits_into_org_prefix_and_fingerprint() {
        let id = format!("org1{EMPTY_SHA256}");
        let (org, fp) = Fingerprint::split_certificate_id(&id).expect("valid id");
        assert_eq!(org, "org1");
        assert_eq!(fp.to_hex(), EMPTY_SHA256);
        let (org, _) = Fingerprint::split_certificate_id(EMPTY_SHA256).expect("valid id");
        assert_eq!(org, "");
        assert!(Fingerprint::split_certificate_id("short").is_none());
        // A multi-byte character straddling the split point must not panic.
        assert!(Fingerprint::split_certificate_id(&format!("é{}", &EMPTY_SHA256[1..])).is_none());
    }
}
