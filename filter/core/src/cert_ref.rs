//! A certificate named in config: allow lists and upstream maps (SPEC §1).

use crate::certificate::parse_bundle;
use crate::fingerprint::Fingerprint;
use crate::pem::looks_like_pem;

/// What a refused entry is told to write instead.
pub const NOT_A_REFERENCE: &str = "not a PEM, ID or fingerprint: write inline PEM, a store ID \
    (org_id + 64 hex) or a SHA-256 fingerprint (64 hex, any case, colons allowed); a file path \
    works through `mtls-gate-shim render`, which inlines the file";

/// The PEM label that stands, in the filter's configuration, for the private key of an
/// inline upstream certificate that `render` wrote to Envoy's secret files instead (SPEC
/// §6b): the filter only needs to know that a key exists, to route to the cluster that
/// presents it, and its configuration is visible in Envoy's `/config_dump`. The block's body
/// is empty; its type ends in `PRIVATE KEY`, so it reads as the key it stands for (SPEC §1).
pub const HELD_KEY_LABEL: &str = "ENVOY HELD PRIVATE KEY";

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
        // A bare fingerprint in any case, with or without openssl's colons. With a store it
        // is the ID of a certificate uploaded without an org (SPEC §1: Tyk's rule), so
        // deleting that certificate revokes it.
        let (org, fingerprint) = match Fingerprint::parse_hex(entry) {
            Some(fingerprint) => ("", fingerprint),
            None => Fingerprint::split_certificate_id(entry).ok_or(NOT_A_REFERENCE)?,
        };
        if !org.is_empty() && (org.contains(char::is_whitespace) || org.contains(':')) {
            return Err(NOT_A_REFERENCE.to_owned());
        }
        if store_configured {
            // Store IDs are spelled with lowercase hex; any case is read as that ID.
            return Ok(CertRef::StoreId {
                id: format!("{org}{}", fingerprint.to_hex()),
                fingerprint,
            });
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

    /// Issue 11: every spelling openssl and the README give reads as the same certificate.
    #[test]
    fn any_case_and_colons_name_the_same_certificate_with_or_without_a_store() {
        let fingerprint = Fingerprint::parse_hex(FP).unwrap();
        let upper = FP.to_uppercase();
        let colons = upper
            .as_bytes()
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        for spelling in [FP, upper.as_str(), colons.as_str()] {
            assert_eq!(
                CertRef::parse(spelling, true).unwrap(),
                CertRef::StoreId {
                    id: FP.to_owned(),
                    fingerprint
                },
                "{spelling}"
            );
            assert_eq!(
                CertRef::parse(spelling, false).unwrap().fingerprint(),
                fingerprint
            );
        }
        assert_eq!(
            CertRef::parse(&format!("acme{upper}"), true).unwrap(),
            CertRef::StoreId {
                id: format!("acme{FP}"),
                fingerprint
            }
        );
    }

    /// What render leaves in the filter's config for an inline upstream certificate with its
    /// key: the certificate and an empty marker block, which routes like the key itself.
    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn a_held_key_marker_reads_as_a_key_without_key_material() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["up.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let marker = format!("-----BEGIN {HELD_KEY_LABEL}-----\n-----END {HELD_KEY_LABEL}-----\n");
        let bare = CertRef::parse(&cert.pem(), false).unwrap();
        let held = CertRef::parse(&format!("{}{marker}", cert.pem()), false).unwrap();
        assert!(matches!(
            bare,
            CertRef::Pinned {
                has_private_key: false,
                ..
            }
        ));
        assert!(matches!(
            held,
            CertRef::Pinned {
                has_private_key: true,
                ..
            }
        ));
        assert_eq!(held.fingerprint(), bare.fingerprint());
    }

    #[test]
    fn junk_entries_are_refused_with_the_reason() {
        for junk in ["", "abc", "/etc/tyk/cert.pem", &FP[..60]] {
            assert_eq!(
                CertRef::parse(junk, false).unwrap_err(),
                NOT_A_REFERENCE,
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
