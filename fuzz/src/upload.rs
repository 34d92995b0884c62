//! The admin API's upload path (`POST /tyk/certs`, `POST /api/certs`): the shim's
//! `certificates::upload::admit_body`, which reads PEM with the core, parses each certificate
//! and matches a private key against the leaf (`private_key` fuzzes that matching on DER). Like `core_targets`, the libFuzzer binary calls
//! it and `host-shim/tests/fuzz_regressions.rs` includes this file to replay seeds and kept
//! crashes in `make test`.

use std::sync::OnceLock;

use mtls_gate_core::certificate::parse_certificate;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::ids::CertificateId;
use mtls_gate_core::pem::parse_blocks;
use mtls_gate_shim::certificates::private_key::{
    check_key_pair, public_key_of_private, public_key_of_spki,
};
use mtls_gate_shim::certificates::upload::{MaterialKind, admit_body};

/// 2030-01-01T00:00:00Z, as in `core_targets`: the chain fixtures are valid then.
pub const NOW: i64 = 1_893_456_000;
const ORG: &str = "fuzz-org";

/// A target: the raw input in, whether the parser accepted it out.
pub type Target = fn(&[u8]) -> bool;

pub const TARGETS: &[(&str, Target)] = &[("upload", upload), ("private_key", private_key)];

/// An upload body under org `fuzz-org` at [`NOW`]. Accepted: it was admitted; then what the
/// store would write must be what was admitted (ID, fingerprint, material without a key).
pub fn upload(data: &[u8]) -> bool {
    let upload = match admit_body(data, ORG, NOW) {
        Ok(upload) => upload,
        Err(error) => {
            let _ = (error.to_string(), error.hint());
            return false;
        }
    };
    assert_eq!(
        upload.id.as_str(),
        CertificateId::new(ORG, &upload.fingerprint).as_str()
    );
    // The material is PEM this code wrote: a private key in it would be a block. (Not a search
    // for "PRIVATE": base64 can spell it; fuzz/regressions/upload/ok-crash-4fdfc9e3-*.)
    let blocks = parse_blocks(&upload.material_pem).unwrap_or_default();
    assert!(
        blocks.iter().all(|block| !block.is_private_key()),
        "no private key in the stored material"
    );
    let first = blocks.first();
    assert!(first.is_some(), "the stored material reads back as PEM");
    if let Some(first) = first {
        assert_eq!(Fingerprint::of_der(&first.der), upload.fingerprint);
        let label = match upload.kind {
            MaterialKind::Certificate => "CERTIFICATE",
            MaterialKind::PublicKey => "PUBLIC KEY",
        };
        assert_eq!(first.label, label);
    }
    if upload.kind == MaterialKind::Certificate {
        assert!(
            upload.not_after >= NOW,
            "an expired certificate was admitted"
        );
    }
    true
}

/// The key reading behind an upload's "does the key match the certificate" rule, on raw DER:
/// a private key (PKCS#1, PKCS#8 or SEC1) and a SubjectPublicKeyInfo. Through `upload` the
/// fuzzer would first have to build valid base64 around valid DER; here it mutates the DER
/// itself. Accepted: either reading succeeded.
pub fn private_key(data: &[u8]) -> bool {
    let private = public_key_of_private(data);
    if check_key_pair(data, fixture_spki()).is_ok() {
        assert!(private.is_ok(), "a key matched that cannot be read");
    }
    let public = public_key_of_spki(data);
    private.is_ok() || public.is_ok()
}

/// The SubjectPublicKeyInfo of a chain fixture's leaf (filter/core/src/trust/testdata).
fn fixture_spki() -> &'static [u8] {
    static SPKI: OnceLock<Vec<u8>> = OnceLock::new();
    SPKI.get_or_init(|| {
        let pem = include_str!("../../filter/core/src/trust/testdata/ed25519-leaf.crt");
        parse_blocks(pem)
            .ok()
            .and_then(|blocks| blocks.into_iter().next())
            .and_then(|block| parse_certificate(&block.der).ok())
            .map(|facts| facts.spki_der)
            .unwrap_or_default()
    })
}
