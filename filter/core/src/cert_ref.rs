//! A certificate named in config: allow lists and upstream maps (SPEC §1).

use crate::certificate::parse_bundle;
use crate::fingerprint::{Fingerprint, HEX_LEN};
use crate::pem::looks_like_pem;

/// How a config entry names a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRef {
    /// A store certificate ID (`org_id` + fingerprint). With a store configured it is only
    /// good while the synced index holds that ID; a deleted certificate stops passing.
    StoreId {
        id: String,
        fingerprint: Fingerprint,
    },
    /// Self-contained: an inline PEM, or a bare fingerprint when no store is configured.
    Pinned {
        fingerprint: Fingerprint,
        /// Known for inline PEM; for a bare fingerprint the filter learns it from Envoy's
        /// XFCC certificate, parsed once per fingerprint.
        not_after: Option<i64>,
        /// Only inline PEM that carries a key can say so; bare references cannot.
        has_private_key: bool,
    },
}

impl CertRef {
    /// Parses one config entry. `store_configured` decides what an ID-shaped entry means.
    pub fn parse(entry: &str, store_configured: bool) -> Result<CertRef, String> {
        let entry = entry.trim();
        if looks_like_pem(entry) {
            let bundle = parse_bundle(entry).map_err(|e| format!("inline PEM: {e}"))?;
            let fingerprint = bundle
                .fingerprint()
                .ok_or("inline PEM holds no certificate or public key")?;
            return Ok(CertRef::Pinned {
                fingerprint,
                not_after: bundle.leaf().map(|leaf| leaf.not_after),
                has_private_key: !bundle.private_keys.is_empty(),
            });
        }
        let Some((org, fingerprint)) = Fingerprint::split_certificate_id(entry) else {
            return Err("not a PEM, ID or fingerprint".to_owned());
        };
        // Store IDs are lowercase hex; an upper-case (openssl-style) fingerprint is only
        // accepted as a bare fingerprint.
        let hex_part = entry.get(entry.len() - HEX_LEN..).unwrap_or("");
        if store_configured {
            if hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err("store IDs use lowercase hex".to_owned());
            }
            return Ok(CertRef::StoreId {
                id: entry.to_owned(),
                fingerprint,
            });
        }
        if !org.is_empty() && org.contains(char::is_whitespace) {
            return Err("not a PEM, ID or fingerprint".to_owned());
        }
        Ok(CertRef::Pinned {
            fingerprint,
            not_after: None,
            has_private_key: false,
        })
    }

    pub fn fingerprint(&self) -> Fingerprint {
        match self {
            CertRef::StoreId { fingerprint, .. } | CertRef::Pinned { fingerprint, .. } => {
                *fingerprint
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const FP: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn bare_fingerprint_is_pinned_without_a_store_and_a_store_id_with_one() {
        let fingerprint = Fingerprint::parse_hex(FP).unwrap();
        assert_eq!(
            CertRef::parse(FP, false).unwrap(),
            CertRef::Pinned {
                fingerprint,
                not_after: None,
                has_private_key: false
            }
        );
        assert_eq!(
            CertRef::parse(&format!("org1{FP}"), true).unwrap(),
            CertRef::StoreId {
                id: format!("org1{FP}"),
                fingerprint
            }
        );
    }

    #[test]
    fn junk_entries_are_refused_with_the_reason() {
        for junk in ["", "abc", "/etc/tyk/cert.pem", &FP[..60]] {
            assert_eq!(
                CertRef::parse(junk, false).unwrap_err(),
                "not a PEM, ID or fingerprint",
                "{junk}"
            );
        }
        assert!(
            CertRef::parse(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                false
            )
            .unwrap_err()
            .starts_with("inline PEM:")
        );
    }
}
