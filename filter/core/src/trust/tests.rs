//! Chain verification against rcgen-made PKIs (the openssl-made fixtures are in `fixture_tests.rs`).
//! Test-only: `trust/mod.rs` includes it under `#[cfg(test)]` (native only: rcgen is a native
//! dev-dependency), so unwraps here cannot trap a VM.

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, NameConstraints, SignatureAlgorithm, date_time_ymd,
};

use crate::fingerprint::Fingerprint;

/// 2030-01-01T00:00:00Z: inside every default validity below (2020 to 2040) and inside the
/// openssl fixtures' (made 2026-12-02, valid 100 years).
const NOW: i64 = 1_893_456_000;
const Y2020: i64 = 1_577_836_800;
const Y2021: i64 = 1_609_459_200;
const Y2039: i64 = 2_177_452_800;
const Y2040: i64 = 2_208_988_800;

/// Two RSA 2048 keys (PKCS#8 PEM), made once per test run: rcgen's *ring* backend signs
/// RSA but cannot generate RSA keys, and no key is ever committed.
fn rsa_keys() -> &'static (String, String) {
    static KEYS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa09::pkcs8::EncodePrivateKey;
        let make = || {
            let key = rsa09::RsaPrivateKey::new(&mut rsa09::rand_core::OsRng, 2048).unwrap();
            key.to_pkcs8_pem(rsa09::pkcs8::LineEnding::LF)
                .unwrap()
                .to_string()
        };
        (make(), make())
    })
}

/// A certificate with what it takes to sign others.
struct Node {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
}

impl Node {
    fn anchor(&self) -> TrustAnchor {
        TrustAnchor::from_ca_der(&self.der).unwrap()
    }
}

fn params(cn: &str, is_ca: IsCa) -> CertificateParams {
    let names = if matches!(is_ca, IsCa::Ca(_)) {
        vec![]
    } else {
        vec!["client.test".to_owned()]
    };
    let mut params = CertificateParams::new(names).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = is_ca;
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2040, 1, 1);
    params
}

fn ca_params(cn: &str) -> CertificateParams {
    params(cn, IsCa::Ca(BasicConstraints::Unconstrained))
}

fn leaf_params() -> CertificateParams {
    params("client", IsCa::NoCa)
}

fn key(alg: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg).unwrap()
}

fn p256() -> KeyPair {
    key(&rcgen::PKCS_ECDSA_P256_SHA256)
}

fn root(params: CertificateParams, key: KeyPair) -> Node {
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Node { params, key, der }
}

fn signed(params: CertificateParams, key: KeyPair, issuer: &Node) -> Node {
    let issuer_ref = Issuer::from_params(&issuer.params, &issuer.key);
    let der = params.signed_by(&key, &issuer_ref).unwrap().der().to_vec();
    Node { params, key, der }
}

/// root ← intermediate ← leaf, all P-256.
fn three_level() -> (Node, Node, Node) {
    let root = root(ca_params("Root"), p256());
    let intermediate = signed(ca_params("Intermediate"), p256(), &root);
    let leaf = signed(leaf_params(), p256(), &intermediate);
    (root, intermediate, leaf)
}

fn verify(
    leaf: &Node,
    intermediates: &[&Node],
    anchors: &[&TrustAnchor],
) -> Result<VerifiedChain, ChainError> {
    let intermediates: Vec<Vec<u8>> = intermediates.iter().map(|node| node.der.clone()).collect();
    verify_client_chain(&leaf.der, &intermediates, anchors, NOW)
}

fn webpki_error(result: Result<VerifiedChain, ChainError>) -> webpki::Error {
    match result {
        Err(ChainError::Webpki(err)) => err,
        other => panic!("expected a webpki refusal, got {other:?}"),
    }
}

fn tampered(der: &[u8]) -> Vec<u8> {
    // The last byte of a certificate is the last byte of its signature.
    let mut der = der.to_vec();
    *der.last_mut().unwrap() ^= 0x01;
    der
}

// ---------------------------------------------------------------------------------------
// Paths

#[test]
fn leaf_intermediate_root_verifies_with_the_path_window() {
    let root = root(ca_params("Root"), p256());
    let mut intermediate_params = ca_params("Intermediate");
    intermediate_params.not_before = date_time_ymd(2021, 1, 1);
    intermediate_params.not_after = date_time_ymd(2039, 1, 1);
    let intermediate = signed(intermediate_params, p256(), &root);
    let leaf = signed(leaf_params(), p256(), &intermediate);
    let anchor = root.anchor();
    assert_eq!(
        verify(&leaf, &[&intermediate], &[&anchor]),
        Ok(VerifiedChain {
            anchor: 0,
            valid_from: Y2021,
            valid_until: Y2039
        })
    );
}

#[test]
fn leaf_directly_under_root_verifies() {
    let root = root(ca_params("Root"), p256());
    let leaf = signed(leaf_params(), p256(), &root);
    let anchor = root.anchor();
    assert_eq!(
        verify(&leaf, &[], &[&anchor]),
        Ok(VerifiedChain {
            anchor: 0,
            valid_from: Y2020,
            valid_until: Y2040
        })
    );
}

#[test]
fn anchor_index_is_the_one_the_chain_reached() {
    let (root, intermediate, leaf) = three_level();
    let other = root_other();
    let (a, b) = (other.anchor(), root.anchor());
    assert_eq!(
        verify(&leaf, &[&intermediate], &[&a, &b]).unwrap().anchor,
        1
    );
    assert_eq!(
        verify(&leaf, &[&intermediate], &[&b, &a]).unwrap().anchor,
        0
    );
}

fn root_other() -> Node {
    root(ca_params("Other Root"), p256())
}

#[test]
fn wrong_ca_is_unknown_issuer() {
    let (_, intermediate, leaf) = three_level();
    let other = root_other().anchor();
    assert_eq!(
        webpki_error(verify(&leaf, &[&intermediate], &[&other])),
        webpki::Error::UnknownIssuer
    );
}

#[test]
fn same_name_different_key_is_refused() {
    let (_, intermediate, leaf) = three_level();
    // Same subject as the real root, another key: the issuer name matches, the signature does not.
    let impostor = root(ca_params("Root"), p256()).anchor();
    let err = webpki_error(verify(&leaf, &[&intermediate], &[&impostor]));
    assert_eq!(err, webpki::Error::InvalidSignatureForPublicKey);
}

#[test]
fn no_anchors_and_unreadable_leaf() {
    let (root, _, leaf) = three_level();
    assert_eq!(verify(&leaf, &[], &[]), Err(ChainError::NoAnchors));
    let anchor = root.anchor();
    assert!(matches!(
        verify_client_chain(b"not a certificate", &[], &[&anchor], NOW),
        Err(ChainError::BadLeaf(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Validity periods

#[test]
fn expired_leaf_is_refused() {
    let (root, intermediate, _) = three_level();
    let mut params = leaf_params();
    params.not_after = date_time_ymd(2029, 1, 1);
    let leaf = signed(params, p256(), &intermediate);
    let err = webpki_error(verify(&leaf, &[&intermediate], &[&root.anchor()]));
    assert!(matches!(err, webpki::Error::CertExpired { .. }), "{err}");
    assert!(err.to_string().starts_with("CertExpired"), "{err}");
}

#[test]
fn not_yet_valid_leaf_is_refused() {
    let (root, intermediate, _) = three_level();
    let mut params = leaf_params();
    params.not_before = date_time_ymd(2031, 1, 1);
    let leaf = signed(params, p256(), &intermediate);
    let err = webpki_error(verify(&leaf, &[&intermediate], &[&root.anchor()]));
    assert!(
        matches!(err, webpki::Error::CertNotValidYet { .. }),
        "{err}"
    );
}

#[test]
fn expired_intermediate_is_refused() {
    let root = root(ca_params("Root"), p256());
    let mut params = ca_params("Intermediate");
    params.not_after = date_time_ymd(2029, 1, 1);
    let intermediate = signed(params, p256(), &root);
    let leaf = signed(leaf_params(), p256(), &intermediate);
    let err = webpki_error(verify(&leaf, &[&intermediate], &[&root.anchor()]));
    assert!(matches!(err, webpki::Error::CertExpired { .. }), "{err}");
}

#[test]
fn expired_anchor_is_refused() {
    let mut params = ca_params("Root");
    params.not_after = date_time_ymd(2029, 1, 1);
    let root = root(params, p256());
    let intermediate = signed(ca_params("Intermediate"), p256(), &root);
    let leaf = signed(leaf_params(), p256(), &intermediate);
    let anchor = root.anchor();
    assert_eq!(
        verify(&leaf, &[&intermediate], &[&anchor]),
        Err(ChainError::AnchorNotValid {
            anchor: 0,
            now: NOW,
            not_before: Y2020,
            not_after: 1_861_920_000,
        })
    );
    // Directly under the expired anchor too.
    let direct = signed(leaf_params(), p256(), &root);
    assert!(matches!(
        verify(&direct, &[], &[&anchor]),
        Err(ChainError::AnchorNotValid { .. })
    ));
}

#[test]
fn not_yet_valid_anchor_is_refused() {
    let mut params = ca_params("Root");
    params.not_before = date_time_ymd(2031, 1, 1);
    let root = root(params, p256());
    let leaf = signed(leaf_params(), p256(), &root);
    assert!(matches!(
        verify(&leaf, &[], &[&root.anchor()]),
        Err(ChainError::AnchorNotValid { .. })
    ));
}

#[test]
fn renewed_anchor_with_the_same_key_is_found_past_the_expired_one() {
    // The same CA (subject and key) twice: an expired certificate and its renewal. webpki
    // offers the expired one first; refusing it makes it search on.
    let key_der = p256().serialize_der();
    let key = || KeyPair::try_from(key_der.as_slice()).unwrap();
    let mut expired_params = ca_params("Root");
    expired_params.not_after = date_time_ymd(2029, 1, 1);
    let expired = root(expired_params, key());
    let renewed = root(ca_params("Root"), key());
    let leaf = signed(leaf_params(), p256(), &renewed);
    let (old, new) = (expired.anchor(), renewed.anchor());
    assert_eq!(verify(&leaf, &[], &[&old, &new]).unwrap().anchor, 1);
    assert!(matches!(
        verify(&leaf, &[], &[&old]),
        Err(ChainError::AnchorNotValid { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// CA constraints and path lengths

#[test]
fn leaf_signed_by_a_non_ca_is_refused() {
    let root = root(ca_params("Root"), p256());
    for not_ca in [IsCa::NoCa, IsCa::ExplicitNoCa] {
        let fake_issuer = signed(params("Fake Issuer", not_ca), p256(), &root);
        let leaf = signed(leaf_params(), p256(), &fake_issuer);
        let err = webpki_error(verify(&leaf, &[&fake_issuer], &[&root.anchor()]));
        assert_eq!(err, webpki::Error::EndEntityUsedAsCa);
    }
}

#[test]
fn ca_certificate_as_leaf_is_refused() {
    let (root, intermediate, _) = three_level();
    let err = webpki_error(verify(&intermediate, &[], &[&root.anchor()]));
    assert_eq!(err, webpki::Error::CaUsedAsEndEntity);
}

#[test]
fn anchor_path_len_zero_refuses_an_intermediate() {
    let root = root(
        params("Root", IsCa::Ca(BasicConstraints::Constrained(0))),
        p256(),
    );
    let intermediate = signed(ca_params("Intermediate"), p256(), &root);
    let leaf = signed(leaf_params(), p256(), &intermediate);
    let anchor = root.anchor();
    assert_eq!(anchor.path_len(), Some(0));
    assert_eq!(
        verify(&leaf, &[&intermediate], &[&anchor]),
        Err(ChainError::AnchorPathLen {
            anchor: 0,
            path_len: 0,
            intermediates: 1
        })
    );
    // A leaf directly under it is fine.
    let direct = signed(leaf_params(), p256(), &root);
    assert!(verify(&direct, &[], &[&anchor]).is_ok());
}

#[test]
fn anchor_path_len_one_allows_one_intermediate_not_two() {
    let root = root(
        params("Root", IsCa::Ca(BasicConstraints::Constrained(1))),
        p256(),
    );
    let first = signed(ca_params("First"), p256(), &root);
    let leaf = signed(leaf_params(), p256(), &first);
    let anchor = root.anchor();
    assert!(verify(&leaf, &[&first], &[&anchor]).is_ok());

    let second = signed(ca_params("Second"), p256(), &first);
    let deep = signed(leaf_params(), p256(), &second);
    assert_eq!(
        verify(&deep, &[&second, &first], &[&anchor]),
        Err(ChainError::AnchorPathLen {
            anchor: 0,
            path_len: 1,
            intermediates: 2
        })
    );
}

#[test]
fn intermediate_path_len_exceeded_is_refused() {
    let root = root(ca_params("Root"), p256());
    let first = signed(
        params("First", IsCa::Ca(BasicConstraints::Constrained(0))),
        p256(),
        &root,
    );
    let second = signed(ca_params("Second"), p256(), &first);
    let leaf = signed(leaf_params(), p256(), &second);
    let err = webpki_error(verify(&leaf, &[&first, &second], &[&root.anchor()]));
    assert_eq!(err, webpki::Error::PathLenConstraintViolated);
}

#[test]
fn anchor_name_constraints_apply() {
    let mut params = ca_params("Constrained Root");
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("example.com".to_owned())],
        excluded_subtrees: vec![],
    });
    let root = root(params, p256());
    let anchor = root.anchor();
    assert!(anchor.parts().name_constraints.is_some());
    // The leaf's SAN is client.test, outside example.com.
    let leaf = signed(leaf_params(), p256(), &root);
    assert_eq!(
        webpki_error(verify(&leaf, &[], &[&anchor])),
        webpki::Error::NameConstraintViolation
    );
}

// ---------------------------------------------------------------------------------------
// Extended key usage

fn leaf_with_eku(ekus: Vec<ExtendedKeyUsagePurpose>, issuer: &Node) -> Node {
    let mut params = leaf_params();
    params.extended_key_usages = ekus;
    signed(params, p256(), issuer)
}

#[test]
fn eku_server_auth_only_is_refused_client_auth_or_none_pass() {
    let (root, intermediate, _) = three_level();
    let anchor = root.anchor();
    let server_only = leaf_with_eku(vec![ExtendedKeyUsagePurpose::ServerAuth], &intermediate);
    let err = webpki_error(verify(&server_only, &[&intermediate], &[&anchor]));
    assert!(err.to_string().starts_with("RequiredEkuNotFound"), "{err}");

    let client = leaf_with_eku(vec![ExtendedKeyUsagePurpose::ClientAuth], &intermediate);
    assert!(verify(&client, &[&intermediate], &[&anchor]).is_ok());
    let both = leaf_with_eku(
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        &intermediate,
    );
    assert!(verify(&both, &[&intermediate], &[&anchor]).is_ok());
    let none = leaf_with_eku(vec![], &intermediate);
    assert!(verify(&none, &[&intermediate], &[&anchor]).is_ok());
}

#[test]
fn webpki_applies_the_eku_to_intermediates_too() {
    // A fact worth knowing: an intermediate whose EKU lacks clientAuth cannot issue client
    // certificates (webpki checks every certificate in the path, as Go's crypto/x509 does).
    let root = root(ca_params("Root"), p256());
    let mut params = ca_params("Server-only Intermediate");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let intermediate = signed(params, p256(), &root);
    let leaf = signed(leaf_params(), p256(), &intermediate);
    let err = webpki_error(verify(&leaf, &[&intermediate], &[&root.anchor()]));
    assert!(err.to_string().starts_with("RequiredEkuNotFound"), "{err}");

    let mut params = ca_params("Client Intermediate");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let intermediate = signed(params, p256(), &root);
    let leaf = signed(leaf_params(), p256(), &intermediate);
    assert!(verify(&leaf, &[&intermediate], &[&root.anchor()]).is_ok());
}

// ---------------------------------------------------------------------------------------
// What the client presents

#[test]
fn more_than_max_intermediates_is_too_long_before_any_parsing() {
    let (root, _, leaf) = three_level();
    let junk = vec![b"junk".to_vec(); MAX_INTERMEDIATES + 1];
    assert_eq!(
        verify_client_chain(&leaf.der, &junk, &[&root.anchor()], NOW),
        Err(ChainError::TooLong {
            presented: MAX_INTERMEDIATES + 1,
            max: MAX_INTERMEDIATES
        })
    );
    // Even with no anchors and an unreadable leaf: the count is checked first.
    assert!(matches!(
        verify_client_chain(b"", &junk, &[], NOW),
        Err(ChainError::TooLong { .. })
    ));
}

#[test]
fn max_intermediates_are_accepted() {
    let root = root(ca_params("Root"), p256());
    let mut chain = vec![];
    let mut issuer = &root;
    for name in ["I1", "I2", "I3", "I4"] {
        chain.push(signed(ca_params(name), p256(), issuer));
        issuer = chain.last().unwrap();
    }
    let leaf = signed(leaf_params(), p256(), issuer);
    let presented: Vec<&Node> = chain.iter().rev().collect();
    assert_eq!(presented.len(), MAX_INTERMEDIATES);
    assert!(verify(&leaf, &presented, &[&root.anchor()]).is_ok());
}

#[test]
fn junk_and_unrelated_intermediates_are_ignored_in_any_order() {
    let (root, intermediate, leaf) = three_level();
    let (_, stranger, _) = three_level();
    let presented = vec![
        b"junk".to_vec(),
        stranger.der.clone(),
        Vec::new(),
        intermediate.der.clone(),
    ];
    let anchor = root.anchor();
    assert!(verify_client_chain(&leaf.der, &presented, &[&anchor], NOW).is_ok());
}

#[test]
fn anchor_among_the_intermediates_is_fine() {
    let (root, intermediate, leaf) = three_level();
    let anchor = root.anchor();
    let verified = verify(&leaf, &[&root, &intermediate], &[&anchor]).unwrap();
    assert_eq!(verified.anchor, 0);
    assert!(verify(&leaf, &[&intermediate, &root], &[&anchor]).is_ok());
    let direct = signed(leaf_params(), p256(), &root);
    assert!(verify(&direct, &[&root], &[&anchor]).is_ok());
}

// ---------------------------------------------------------------------------------------
// Signature algorithms (each also refuses a tampered signature)

fn check_algorithm(root: Node, leaf_key: KeyPair) {
    let anchor = root.anchor();
    let leaf = signed(leaf_params(), leaf_key, &root);
    assert!(verify(&leaf, &[], &[&anchor]).is_ok());
    let bad = tampered(&leaf.der);
    assert_eq!(
        verify_client_chain(&bad, &[], &[&anchor], NOW),
        Err(ChainError::Webpki(
            webpki::Error::InvalidSignatureForPublicKey
        ))
    );
}

fn rsa_key(pem: &str, alg: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::from_pkcs8_pem_and_sign_algo(pem, alg).unwrap()
}

#[test]
fn rsa_pkcs1_sha256_sha384_sha512() {
    for alg in [
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_RSA_SHA384,
        &rcgen::PKCS_RSA_SHA512,
    ] {
        check_algorithm(
            root(ca_params("RSA Root"), rsa_key(&rsa_keys().0, alg)),
            rsa_key(&rsa_keys().1, alg),
        );
    }
}

#[test]
fn ecdsa_p256() {
    check_algorithm(root(ca_params("P-256 Root"), p256()), p256());
}

#[test]
fn ecdsa_p384() {
    let p384 = || key(&rcgen::PKCS_ECDSA_P384_SHA384);
    check_algorithm(root(ca_params("P-384 Root"), p384()), p384());
}

#[test]
fn ed25519() {
    let ed = || key(&rcgen::PKCS_ED25519);
    check_algorithm(root(ca_params("Ed25519 Root"), ed()), ed());
}

#[test]
fn mixed_algorithms_along_a_path() {
    // RSA root ← P-384 intermediate ← Ed25519 intermediate ← P-256 leaf.
    let root = root(
        ca_params("RSA Root"),
        rsa_key(&rsa_keys().0, &rcgen::PKCS_RSA_SHA256),
    );
    let first = signed(
        ca_params("P-384"),
        key(&rcgen::PKCS_ECDSA_P384_SHA384),
        &root,
    );
    let second = signed(ca_params("Ed25519"), key(&rcgen::PKCS_ED25519), &first);
    let leaf = signed(leaf_params(), p256(), &second);
    assert!(verify(&leaf, &[&second, &first], &[&root.anchor()]).is_ok());
}

// ---------------------------------------------------------------------------------------
// Anchors

#[test]
fn from_ca_der_refuses_a_non_ca() {
    let root = root(ca_params("Root"), p256());
    let no_extension = signed(leaf_params(), p256(), &root);
    assert!(matches!(
        TrustAnchor::from_ca_der(&no_extension.der),
        Err(AnchorError::NotCa(_))
    ));
    let explicit = signed(params("client", IsCa::ExplicitNoCa), p256(), &root);
    let err = TrustAnchor::from_ca_der(&explicit.der).unwrap_err();
    assert_eq!(
        err,
        AnchorError::NotCa("its basic constraints say CA:FALSE")
    );
    assert!(err.to_string().starts_with("not a CA certificate"), "{err}");
    assert!(matches!(
        TrustAnchor::from_ca_der(b"junk"),
        Err(AnchorError::Unparsable(_))
    ));
    let mut trailing = root.der.clone();
    trailing.push(0);
    assert!(matches!(
        TrustAnchor::from_ca_der(&trailing),
        Err(AnchorError::Unparsable(_))
    ));
}

#[test]
fn from_ca_der_reads_the_facts() {
    let mut params = params("Root", IsCa::Ca(BasicConstraints::Constrained(2)));
    params.not_after = date_time_ymd(2039, 1, 1);
    let root = root(params, p256());
    let anchor = root.anchor();
    assert_eq!(anchor.fingerprint(), &Fingerprint::of_der(&root.der));
    assert_eq!(anchor.not_before(), Y2020);
    assert_eq!(anchor.not_after(), Y2039);
    assert_eq!(anchor.path_len(), Some(2));
    assert!(anchor.is_valid_at(Y2039) && !anchor.is_valid_at(Y2039 + 1));
    assert_eq!(root_other().anchor().path_len(), None);
}

#[test]
fn parts_round_trip_through_json() {
    let mut params = params("Root", IsCa::Ca(BasicConstraints::Constrained(1)));
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("client.test".to_owned())],
        excluded_subtrees: vec![],
    });
    let constrained = root(params, p256());
    let plain = root_other();
    for node in [&constrained, &plain] {
        let anchor = node.anchor();
        let json = serde_json::to_value(anchor.parts()).unwrap();
        assert_eq!(json["fingerprint"], Fingerprint::of_der(&node.der).to_hex());
        assert!(json["subject"].is_string() && json["spki"].is_string());
        let back: TrustAnchorParts = serde_json::from_value(json).unwrap();
        let rebuilt = TrustAnchor::from_parts(back);
        assert_eq!(rebuilt, anchor);
        let leaf = signed(leaf_params(), p256(), node);
        assert!(verify(&leaf, &[], &[&rebuilt]).is_ok());
    }

    let plain_json = serde_json::to_value(plain.anchor().parts()).unwrap();
    let object = plain_json.as_object().unwrap();
    assert!(!object.contains_key("name_constraints") && !object.contains_key("path_len"));
    let constrained_json = serde_json::to_value(constrained.anchor().parts()).unwrap();
    assert_eq!(constrained_json["path_len"], 1);
    assert!(constrained_json["name_constraints"].is_string());

    // Unknown fields are ignored; upper-case hex is read.
    let mut extended = plain_json.clone();
    extended["future_field"] = serde_json::json!({"x": 1});
    extended["fingerprint"] =
        serde_json::json!(Fingerprint::of_der(&plain.der).to_hex().to_uppercase());
    let parts: TrustAnchorParts = serde_json::from_value(extended).unwrap();
    assert_eq!(TrustAnchor::from_parts(parts), plain.anchor());

    // Bad base64 or fingerprint is refused.
    let mut bad = plain_json.clone();
    bad["spki"] = serde_json::json!("not base64!");
    assert!(serde_json::from_value::<TrustAnchorParts>(bad).is_err());
    let mut bad = plain_json;
    bad["fingerprint"] = serde_json::json!("abcd");
    assert!(serde_json::from_value::<TrustAnchorParts>(bad).is_err());
}
