//! SHA-256 fingerprints: the identity of a certificate everywhere in mtls-gate.
//!
//! One value, three spellings that must agree (SPEC §1):
//! `openssl x509 -noout -fingerprint -sha256` (lowercased, colons removed),
//! Envoy's `connection.sha256_peer_certificate_digest`, and the store's certificate ID
//! without its org prefix.

use sha2::{Digest, Sha256};
use std::fmt;

/// Length of a fingerprint written as lowercase hex.
pub const HEX_LEN: usize = 64;

/// The SHA-256 digest of a DER-encoded certificate (or, for public-key entries, of the SPKI).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Fingerprint of DER bytes.
    pub fn of_der(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Parses exactly 64 hex characters (either case; openssl prints upper case).
    /// Colons, as in openssl's `AB:CD:…` form, are accepted and ignored.
    pub fn parse_hex(text: &str) -> Option<Self> {
        let compact: String = text.chars().filter(|c| *c != ':').collect();
        if compact.len() != HEX_LEN {
            return None;
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(compact, &mut bytes).ok()?;
        Some(Fingerprint(bytes))
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

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as Envoy and the store spell it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
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
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn fingerprint_of_der_is_lowercase_sha256_hex() {
        assert_eq!(Fingerprint::of_der(b"").to_hex(), EMPTY_SHA256);
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
