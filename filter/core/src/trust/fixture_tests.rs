//! Chain verification over fixed openssl-made chains (`testdata/`, valid 2026-12-02 to 2126),
//! natively and on wasm32: the RustCrypto signature algorithms as the filter runs them.
//! Test-only: `trust/mod.rs` includes it under `#[cfg(test)]`, so unwraps here cannot trap a VM.

use super::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// 2030-01-01T00:00:00Z.
const NOW: i64 = 1_893_456_000;

fn der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

fn tampered(der: &[u8]) -> Vec<u8> {
    // The last byte of a certificate is the last byte of its signature.
    let mut der = der.to_vec();
    *der.last_mut().unwrap() ^= 0x01;
    der
}

fn assert_verifies_and_tampering_fails(root: &str, intermediates: &[&str], leaf: &str) {
    let anchor = TrustAnchor::from_ca_der(&der(root)).unwrap();
    let intermediates: Vec<Vec<u8>> = intermediates.iter().map(|pem| der(pem)).collect();
    let leaf = der(leaf);
    let verified = verify_client_chain(&leaf, &intermediates, &[&anchor], NOW).unwrap();
    assert_eq!(verified.anchor, 0);
    assert!(verified.valid_from <= NOW && NOW <= verified.valid_until);
    assert_eq!(
        verify_client_chain(&tampered(&leaf), &intermediates, &[&anchor], NOW),
        Err(ChainError::Webpki(
            webpki::Error::InvalidSignatureForPublicKey
        ))
    );
    for intermediate in 0..intermediates.len() {
        let mut broken = intermediates.clone();
        broken[intermediate] = tampered(&broken[intermediate]);
        assert!(verify_client_chain(&leaf, &broken, &[&anchor], NOW).is_err());
    }
}

#[test]
fn rsa_pss_sha256_sha384_sha512() {
    // rcgen cannot sign RSA-PSS; openssl did (testdata/README.md).
    for leaf in [
        include_str!("testdata/pss-sha256-leaf.crt"),
        include_str!("testdata/pss-sha384-leaf.crt"),
        include_str!("testdata/pss-sha512-leaf.crt"),
    ] {
        assert_verifies_and_tampering_fails(include_str!("testdata/pss-root.crt"), &[], leaf);
    }
}

#[test]
fn ecdsa_p384_sha384_then_p256_sha256() {
    // P-384 root signs (SHA-384) a P-256 intermediate, which signs (SHA-256) an Ed25519 leaf.
    assert_verifies_and_tampering_fails(
        include_str!("testdata/ec-root.crt"),
        &[include_str!("testdata/ec-intermediate.crt")],
        include_str!("testdata/ec-leaf.crt"),
    );
}

#[test]
fn ed25519() {
    assert_verifies_and_tampering_fails(
        include_str!("testdata/ed25519-root.crt"),
        &[],
        include_str!("testdata/ed25519-leaf.crt"),
    );
}

#[test]
fn fixtures_expire() {
    let anchor = TrustAnchor::from_ca_der(&der(include_str!("testdata/ed25519-root.crt"))).unwrap();
    let leaf = der(include_str!("testdata/ed25519-leaf.crt"));
    // 2200-01-01: the leaf and the anchor are both expired; webpki sees the leaf first.
    let err = verify_client_chain(&leaf, &[], &[&anchor], 7_258_118_400).unwrap_err();
    assert!(err.to_string().starts_with("CertExpired"), "{err}");
}
