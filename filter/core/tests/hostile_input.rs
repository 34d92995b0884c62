//! Property tests: every parser of hostile input returns an error instead of panicking
//! (a panic in the filter traps the Envoy VM). Stable-toolchain stand-ins for fuzz targets;
//! proptest shrinks any failure to a minimal input.

#![cfg(not(target_arch = "wasm32"))]

use mtls_gate_core::authority::{parse_target_url, split_host_port};
use mtls_gate_core::cert_ref::CertRef;
use mtls_gate_core::config::GateConfig;
use mtls_gate_core::feed::{ChangeSet, LookupAnswer};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::parse_blocks;
use mtls_gate_core::xfcc;
use proptest::prelude::*;

/// Text biased towards the shapes these parsers look for.
fn pem_like() -> impl Strategy<Value = String> {
    let pieces = prop::collection::vec(
        prop_oneof![
            Just("-----BEGIN CERTIFICATE-----".to_owned()),
            Just("-----END CERTIFICATE-----".to_owned()),
            Just("-----BEGIN ".to_owned()),
            Just("-----".to_owned()),
            Just("\r\n".to_owned()),
            Just(" ".to_owned()),
            Just("MIIB".to_owned()),
            Just("Proc-Type: 4,ENCRYPTED".to_owned()),
            "[A-Za-z0-9+/=]{0,12}",
            any::<String>(),
        ],
        0..16,
    );
    pieces.prop_map(|p| p.concat())
}

fn xfcc_like() -> impl Strategy<Value = String> {
    let pieces = prop::collection::vec(
        prop_oneof![
            Just("Hash=".to_owned()),
            Just("Cert=\"".to_owned()),
            Just("%2D%2D%2D%2D%2DBEGIN%20CERTIFICATE".to_owned()),
            Just("\"".to_owned()),
            Just(";".to_owned()),
            Just(",".to_owned()),
            Just("\\".to_owned()),
            Just("%".to_owned()),
            any::<String>(),
        ],
        0..16,
    );
    pieces.prop_map(|p| p.concat())
}

fn json_like() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<String>().prop_map(serde_json::Value::String),
        Just(serde_json::json!("https://a.test:8443")),
        Just(serde_json::json!(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )),
    ];
    let keys = prop_oneof![
        Just("apis"),
        Just("api_id"),
        Just("domain"),
        Just("proxy"),
        Just("listen_path"),
        Just("target_url"),
        Just("client_certificates"),
        Just("upstream_certificates"),
        Just("use_mutual_tls_auth"),
        Just("auth_configs"),
        Just("authToken"),
        Just("use_certificate"),
        Just("security"),
        Just("certificates"),
        Just("store"),
        Just("default"),
        Just("cluster"),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|pairs| {
                serde_json::Value::Object(
                    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                )
            }),
        ]
    })
    .prop_map(|v| v.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn pem_parsing_never_panics(text in pem_like()) {
        let _ = parse_blocks(&text);
        let _ = CertRef::parse(&text, false);
        let _ = CertRef::parse(&text, true);
    }

    #[test]
    fn xfcc_parsing_never_panics(header in xfcc_like(), digest in any::<[u8; 32]>()) {
        let fingerprint = Fingerprint::of_der(&digest);
        let _ = xfcc::field(&header, "Hash");
        let _ = xfcc::verified_certificate(&header, &fingerprint);
    }

    #[test]
    fn config_parsing_never_panics(json in json_like()) {
        let _ = GateConfig::from_json(json.as_bytes());
    }

    #[test]
    fn config_parsing_of_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = GateConfig::from_json(&bytes);
    }

    #[test]
    fn feed_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256), json in json_like()) {
        let _ = ChangeSet::decode(&bytes);
        let _ = ChangeSet::decode(json.as_bytes());
        let _ = LookupAnswer::decode(json.as_bytes());
    }

    #[test]
    fn authority_parsing_never_panics(text in any::<String>()) {
        let _ = split_host_port(&text);
        let _ = parse_target_url(&text);
        let _ = Fingerprint::parse_hex(&text);
        let _ = Fingerprint::split_certificate_id(&text);
    }
}
