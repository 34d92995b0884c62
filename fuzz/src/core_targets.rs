//! What each fuzz target of the core feeds its parsers, as plain functions: the libFuzzer
//! binaries (`fuzz_targets/`) call them, and `filter/core/tests/fuzz_regressions.rs` includes
//! this file to replay the seeds and every kept crash in `make test` through the same code.
//!
//! Each function takes the raw input and returns whether the parser accepted it (the seeds'
//! `ok-`/`bad-` names are checked against that). Beyond "no panic", each asserts what must
//! hold of an accepted input: a decoded wire value re-encodes to itself, a fingerprint is the
//! SHA-256 of the DER it names, and so on; a failed assertion is a crash like any other.
//! Only the core's own dependencies are used here, so its tests can include this file.

use std::sync::OnceLock;

use mtls_gate_core::cert_ref::CertRef;
use mtls_gate_core::certificate::{dns_names, parse_bundle, parse_certificate};
use mtls_gate_core::client_trust::InlineCa;
use mtls_gate_core::config::GateConfig;
use mtls_gate_core::feed::{CertIndexEntry, ChangeSet, LookupAnswer};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::{looks_like_pem, parse_blocks};
use mtls_gate_core::shared_data::{
    CachedCertificate, Lease, SyncState, decode_certificate, decode_session, encode_certificate,
    encode_session, is_tombstone,
};
use mtls_gate_core::trust::{TrustAnchor, TrustAnchorParts, verify_client_chain};
use mtls_gate_core::xfcc;
use percent_encoding::percent_decode_str;

/// 2030-01-01T00:00:00Z: inside the validity of the chain fixtures
/// (filter/core/src/trust/testdata, 2026-12-02 to 2126), so the seeds stay valid.
pub const NOW: i64 = 1_893_456_000;

/// A target: the raw input in, whether the parser accepted it out.
pub type Target = fn(&[u8]) -> bool;

/// Every core target by name (its `fuzz_targets/<name>.rs` and `seeds/<name>/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("pem", pem),
    ("certificate", certificate),
    ("chain", chain),
    ("xfcc", xfcc),
    ("config", config),
    ("change_feed", change_feed),
    ("shared_data", shared_data),
    ("lookup_answer", lookup_answer),
];

/// PEM framing and the bundle readers that config entries go through (allow lists, upstream
/// maps, inline CAs). Accepted: `parse_blocks` read at least one block.
pub fn pem(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let blocks = parse_blocks(text);
    let bundle = parse_bundle(text);
    if let Ok(bundle) = &bundle {
        assert!(blocks.is_ok(), "a bundle is made of PEM blocks");
        for (block, facts) in &bundle.certificates {
            assert_eq!(facts.fingerprint, Fingerprint::of_der(&block.der));
        }
    }
    let _ = looks_like_pem(text);
    for store_configured in [false, true] {
        let _ = CertRef::parse(text, store_configured);
    }
    if let Ok(Some(ca)) = InlineCa::from_entry(text) {
        assert_eq!(*ca.anchor.fingerprint(), Fingerprint::of_der(&ca.der));
    }
    blocks.is_ok()
}

/// One DER certificate: the facts the filter and the shim read, and a trust anchor made from
/// it (how a CA entry becomes an anchor, and its wire form on the feed).
pub fn certificate(data: &[u8]) -> bool {
    let facts = parse_certificate(data);
    let _ = dns_names(data);
    if let Ok(anchor) = TrustAnchor::from_ca_der(data) {
        assert!(
            facts.as_ref().is_ok_and(|facts| facts.is_ca),
            "an anchor is a certificate the core reads as a CA"
        );
        if let Ok(facts) = &facts {
            assert_eq!(
                (anchor.not_before(), anchor.not_after()),
                (facts.not_before, facts.not_after),
                "the anchor's validity is the certificate's"
            );
        }
        anchor_survives_the_feed(&anchor.parts());
    }
    facts.is_ok()
}

/// Chain verification (SPEC §3, CA entries). Input: one flags byte, then records of a
/// big-endian u16 length and that many bytes of DER. Flags: bit 0, the first record is a CA
/// certificate made into an extra anchor (first in the list); bit 3, the fixture roots are left
/// out; bits 1-2 pick `now` (the fixtures' 2030, 0, -1, `i64::MAX`). The next record is the
/// leaf, the rest are intermediates. Accepted: the chain verified.
pub fn chain(data: &[u8]) -> bool {
    let Some((&flags, rest)) = data.split_first() else {
        return false;
    };
    let mut records = records(rest).into_iter();
    let extra = if flags & 1 == 1 {
        records
            .next()
            .and_then(|der| TrustAnchor::from_ca_der(der).ok())
    } else {
        None
    };
    let Some(leaf) = records.next() else {
        return false;
    };
    let intermediates: Vec<Vec<u8>> = records.map(<[u8]>::to_vec).collect();
    let mut anchors: Vec<&TrustAnchor> = extra.iter().collect();
    if flags & 8 == 0 {
        anchors.extend(fixture_anchors());
    }
    let now = match (flags >> 1) & 3 {
        0 => NOW,
        1 => 0,
        2 => -1,
        _ => i64::MAX,
    };
    match verify_client_chain(leaf, &intermediates, &anchors, now) {
        Ok(verified) => {
            assert!(verified.anchor < anchors.len(), "the anchor is one of ours");
            assert!(
                verified.valid_from <= verified.valid_until,
                "a verified path has a validity window: {verified:?}"
            );
            true
        }
        Err(error) => {
            let _ = error.to_string();
            false
        }
    }
}

/// Envoy's `x-forwarded-client-cert`: fields, the presented certificate and chain, and whether
/// the header may go upstream. The expected digest is the one of the certificate the header
/// itself carries (so the checks past the digest comparison are reached), then one no
/// certificate has. Accepted: a presented chain was read.
pub fn xfcc(data: &[u8]) -> bool {
    let Ok(header) = std::str::from_utf8(data) else {
        return false;
    };
    let _ = xfcc::field(header, "Hash");
    let nobody = Fingerprint::of_der(b"no certificate has this digest");
    let mut read_a_chain = false;
    for key in ["Cert", "Chain"] {
        let carried = first_certificate_digest(header, key);
        for expected in carried.into_iter().chain([nobody]) {
            let facts = xfcc::verified_certificate(header, &expected);
            let presented = xfcc::presented_chain(header, &expected);
            let forwardable = xfcc::is_forwardable(header, &expected);
            if expected == nobody {
                assert!(
                    facts.is_none() && presented.is_none() && !forwardable,
                    "a header passes only for the certificate it carries"
                );
            }
            if let Some(facts) = facts {
                assert_eq!(facts.fingerprint, expected);
            }
            if let Some(presented) = presented {
                assert_eq!(Fingerprint::of_der(&presented.leaf), expected);
                read_a_chain = true;
            }
        }
    }
    read_a_chain
}

/// The plugin configuration, Classic and OAS API definitions alike, and the router a config
/// that compiled builds. Accepted: the config compiled.
pub fn config(data: &[u8]) -> bool {
    // `store.token_env` reads the environment: a fixed answer keeps runs reproducible.
    let env = |_: &str| Some("fuzz-feed-token".to_owned());
    let Ok(config) = GateConfig::from_json_with_env(data, &env) else {
        return false;
    };
    for (host, path) in [
        ("api.example.com", "/a/b?x=1"),
        ("", "/"),
        ("xn--bcher-kva.example", "//%2e%2e/"),
    ] {
        let _ = config.select_api(host, path);
    }
    let _ = config.referenced_store_ids();
    true
}

/// The change feed's body as the filter's syncer decodes it. Accepted: it decoded.
pub fn change_feed(data: &[u8]) -> bool {
    let Ok(set) = ChangeSet::decode(data) else {
        return false;
    };
    assert_eq!(
        ChangeSet::decode(&set.encode()).as_ref(),
        Ok(&set),
        "a decoded change set re-encodes to itself"
    );
    for entry in &set.certs {
        entry_survives_shared_data(entry);
    }
    true
}

/// The values of mtls-gate's shared-data entries, as every worker reads them: certificate
/// index entries, sessions (with their certificate's entry), the sync state and the lease.
/// Accepted: any of them read it.
pub fn shared_data(data: &[u8]) -> bool {
    let mut read = false;
    if let Some(entry) = decode_certificate(data) {
        entry_survives_shared_data(&entry);
        read = true;
    }
    if let Some(session) = decode_session(data) {
        assert_eq!(
            decode_session(&encode_session(&session)).as_ref(),
            Some(&session)
        );
        if let CachedCertificate::Present(entry) = &session.certificate {
            entry_survives_shared_data(entry);
        }
        read = true;
    }
    if let Some(state) = SyncState::decode(data) {
        assert_eq!(SyncState::decode(&state.encode()).as_ref(), Some(&state));
        let _ = state.is_stale(NOW * 1000, 300_000);
        read = true;
    }
    if let Some(lease) = Lease::decode(data) {
        assert_eq!(Lease::decode(&lease.encode()), Some(lease));
        let _ = lease.available_to(1, NOW * 1000);
        read = true;
    }
    if is_tombstone(data) {
        assert!(decode_session(data).is_none() && decode_certificate(data).is_none());
    }
    read
}

/// The shim's answer to a session lookup. Accepted: it decoded.
pub fn lookup_answer(data: &[u8]) -> bool {
    let Ok(answer) = LookupAnswer::decode(data) else {
        return false;
    };
    assert_eq!(
        LookupAnswer::decode(&answer.encode()).as_ref(),
        Ok(&answer),
        "a decoded lookup answer re-encodes to itself"
    );
    if let Some(grant) = &answer.session {
        let _ = grant.is_expired_at(NOW);
        let _ = grant.allows_api("api");
    }
    if let Some(entry) = &answer.cert {
        entry_survives_shared_data(entry);
    }
    true
}

/// A certificate index entry is written to shared data as it came off the feed and read back
/// by every worker: it must read back the same, and its anchor must rebuild.
fn entry_survives_shared_data(entry: &CertIndexEntry) {
    assert_eq!(
        decode_certificate(&encode_certificate(entry)).as_ref(),
        Some(entry)
    );
    if let Some(parts) = &entry.trust_anchor {
        anchor_survives_the_feed(parts);
    }
}

/// The feed carries an anchor as its parts; the filter rebuilds it from them.
fn anchor_survives_the_feed(parts: &TrustAnchorParts) {
    assert_eq!(TrustAnchor::from_parts(parts.clone()).parts(), *parts);
    if let Ok(wire) = serde_json::to_vec(parts) {
        let read: Result<TrustAnchorParts, _> = serde_json::from_slice(&wire);
        assert_eq!(read.ok().as_ref(), Some(parts));
    }
}

/// The digest of the first certificate in the header's `key` field (last element), read the
/// way Envoy writes it: URL-encoded PEM.
fn first_certificate_digest(header: &str, key: &str) -> Option<Fingerprint> {
    let pem = percent_decode_str(xfcc::field(header, key)?)
        .decode_utf8()
        .ok()?;
    parse_blocks(&pem)
        .ok()?
        .into_iter()
        .find(|block| block.is_certificate())
        .map(|block| Fingerprint::of_der(&block.der))
}

/// Length-prefixed records (big-endian u16); a short last record is what is left.
fn records(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((length, rest)) = data.split_first_chunk::<2>() {
        let length = usize::from(u16::from_be_bytes(*length)).min(rest.len());
        let (record, tail) = rest.split_at(length);
        out.push(record);
        data = tail;
    }
    out
}

/// The roots of the chain fixtures (certificates only; their keys were discarded).
fn fixture_anchors() -> &'static [TrustAnchor] {
    static ANCHORS: OnceLock<Vec<TrustAnchor>> = OnceLock::new();
    ANCHORS.get_or_init(|| {
        [
            include_str!("../../filter/core/src/trust/testdata/ec-root.crt"),
            include_str!("../../filter/core/src/trust/testdata/ed25519-root.crt"),
            include_str!("../../filter/core/src/trust/testdata/pss-root.crt"),
        ]
        .into_iter()
        .filter_map(|pem| parse_blocks(pem).ok()?.into_iter().next())
        .filter_map(|block| TrustAnchor::from_ca_der(&block.der).ok())
        .collect()
    })
}
