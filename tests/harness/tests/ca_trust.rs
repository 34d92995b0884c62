//! The real filter `.wasm` under the harness: CA entries in allow lists (SPEC §3). The
//! client's chain reaches the filter as Envoy's XFCC `Chain`; the filter verifies it
//! itself (signatures, validity, CA constraints, path length, EKU) and caches the verdict.

use crate::support::*;
use mtls_gate_core::feed::{CertIndexEntry, ChangeSet};
use mtls_gate_core::trust::{MAX_INTERMEDIATES, TrustAnchor};
use mtls_gate_harness::{Host, Outcome, Worker};
use mtls_gate_testkit::chains::{ChainIssuer, ChainLeaf, KeyKind, LeafSpec, Validity, xfcc_for};
use rcgen::ExtendedKeyUsagePurpose;
use std::time::Duration;

const HOST: &str = "ca.test";

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// One mTLS API whose list names `entries` (JSON strings), and global entries.
fn gate(entries: &[String], global: &[String], store: &str) -> String {
    format!(
        r#"{{"org_id": "acme", {store}
            "security": {{"certificates": {{"apis": [{global}]}}}},
            "apis": [{{"api_id": "secure", "domain": "{HOST}", "use_mutual_tls_auth": true,
                       "client_certificates": [{entries}],
                       "proxy": {{"listen_path": "/", "target_url": "http://backend.test"}}}}]}}"#,
        entries = entries.join(","),
        global = global.join(","),
    )
}

fn inline_gate(ca: &ChainIssuer) -> String {
    gate(&[json_string(&ca.pem)], &[], "")
}

/// A request presenting `leaf` and, in Envoy's XFCC, `intermediates` after it.
fn present(worker: &mut Worker, leaf: &ChainLeaf, intermediates: &[&ChainIssuer]) -> Outcome {
    tls_request(worker, &leaf.fingerprint(), HOST, "/x")
        .header(headers::XFCC, &xfcc_for(leaf, intermediates))
        .send_headers()
        .unwrap()
}

/// The filter, its clock at the real time: the chains are made valid around now.
fn host_now() -> Host {
    let host = filter();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    host.clock().set_unix_seconds(now.as_secs());
    host
}

fn assert_not_allowed(out: &Outcome, leaf: &ChainLeaf) {
    assert_denied(
        out,
        403,
        &format!("Certificate with SHA256 {} not allowed", leaf.fingerprint()),
    );
}

/// Each case: a fresh worker trusting `root` inline, one request presenting the chain.
fn verdict(root: &ChainIssuer, leaf: &ChainLeaf, intermediates: &[&ChainIssuer]) -> Outcome {
    let host = host_now();
    let mut worker = host.worker(inline_gate(root)).unwrap();
    present(&mut worker, leaf, intermediates)
}

#[test]
fn a_chain_through_an_intermediate_passes_and_is_verified_once_per_worker() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let issuing = root.intermediate("issuing", KeyKind::EcdsaP256);
    let client = issuing.leaf("client");
    let host = host_now();
    let mut worker = host.worker(inline_gate(&root)).unwrap();
    let out = present(&mut worker, &client, &[&issuing]);
    assert_forwarded(&out);
    assert_eq!(
        out.header(headers::CERT_SHA256),
        Some(client.fingerprint().as_str())
    );
    // The verdict is cached: the next request needs no chain at all.
    let again = mtls_request(&mut worker, &client.fingerprint(), HOST, "/x");
    assert_forwarded(&again);
    assert_eq!(
        again.property_reads("connection.sha256_peer_certificate_digest"),
        1
    );
}

#[test]
fn a_client_of_another_ca_is_not_allowed() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let other = ChainIssuer::root("other", KeyKind::EcdsaP256);
    let client = other.leaf("client");
    assert_not_allowed(&verdict(&root, &client, &[]), &client);
}

#[test]
fn an_expired_leaf_of_the_ca_is_not_allowed() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let client = root.leaf_with(
        "client",
        LeafSpec {
            validity: Validity::Expired,
            ..LeafSpec::default()
        },
    );
    assert_not_allowed(&verdict(&root, &client, &[]), &client);
}

#[test]
fn an_expired_intermediate_breaks_the_chain() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let issuing = root.intermediate_with("issuing", KeyKind::EcdsaP256, None, Validity::Expired);
    let client = issuing.leaf("client");
    assert_not_allowed(&verdict(&root, &client, &[&issuing]), &client);
}

#[test]
fn an_expired_ca_trusts_nothing() {
    let root = ChainIssuer::root_with("root", KeyKind::EcdsaP256, None, Validity::Expired);
    let client = root.leaf("client");
    assert_not_allowed(&verdict(&root, &client, &[]), &client);
}

#[test]
fn a_leaf_posing_as_an_issuer_is_refused() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let impostor = root.impostor("impostor");
    let client = impostor.leaf("client");
    assert_not_allowed(&verdict(&root, &client, &[&impostor]), &client);
}

#[test]
fn path_length_constraints_hold_for_the_ca_and_its_intermediates() {
    // The listed CA allows no intermediate below it.
    let strict_root =
        ChainIssuer::root_with("root", KeyKind::EcdsaP256, Some(0), Validity::Current);
    let issuing = strict_root.intermediate("issuing", KeyKind::EcdsaP256);
    let client = issuing.leaf("client");
    assert_not_allowed(&verdict(&strict_root, &client, &[&issuing]), &client);
    // An intermediate with pathLen 0 may not sign another CA.
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let first = root.intermediate_with("first", KeyKind::EcdsaP256, Some(0), Validity::Current);
    let second = first.intermediate("second", KeyKind::EcdsaP256);
    let client = second.leaf("client");
    assert_not_allowed(&verdict(&root, &client, &[&second, &first]), &client);
}

#[test]
fn extended_key_usage_must_allow_client_auth_where_present() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let server_only = root.leaf_with(
        "server",
        LeafSpec {
            eku: Some(&[ExtendedKeyUsagePurpose::ServerAuth]),
            ..LeafSpec::default()
        },
    );
    assert_not_allowed(&verdict(&root, &server_only, &[]), &server_only);
    let no_eku = root.leaf_with(
        "plain",
        LeafSpec {
            eku: None,
            ..LeafSpec::default()
        },
    );
    assert_forwarded(&verdict(&root, &no_eku, &[]));
}

#[test]
fn rsa_ecdsa_and_ed25519_chains_verify() {
    for kind in [
        KeyKind::Rsa,
        KeyKind::EcdsaP256,
        KeyKind::EcdsaP384,
        KeyKind::Ed25519,
    ] {
        let root = ChainIssuer::root("root", kind);
        let issuing = root.intermediate("issuing", kind);
        let client = issuing.leaf_with(
            "client",
            LeafSpec {
                key: kind,
                ..LeafSpec::default()
            },
        );
        let out = verdict(&root, &client, &[&issuing]);
        assert!(
            out.is_forwarded(),
            "{kind:?}: {:?}",
            out.local_response().map(|r| r.body_text())
        );
    }
}

#[test]
fn a_chain_longer_than_the_limit_is_refused() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let mut cas = vec![root.intermediate("level-0", KeyKind::EcdsaP256)];
    for level in 1..=MAX_INTERMEDIATES {
        let next = cas
            .last()
            .unwrap()
            .intermediate(&format!("level-{level}"), KeyKind::EcdsaP256);
        cas.push(next);
    }
    let client = cas.last().unwrap().leaf("client");
    let presented: Vec<&ChainIssuer> = cas.iter().rev().collect();
    assert_eq!(presented.len(), MAX_INTERMEDIATES + 1);
    assert_not_allowed(&verdict(&root, &client, &presented), &client);
    // At the limit it verifies.
    let client = cas[MAX_INTERMEDIATES - 1].leaf("client");
    let presented: Vec<&ChainIssuer> = cas[..MAX_INTERMEDIATES].iter().rev().collect();
    assert_forwarded(&verdict(&root, &client, &presented));
}

#[test]
fn without_the_intermediate_or_with_another_clients_chain_nothing_verifies() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let issuing = root.intermediate("issuing", KeyKind::EcdsaP256);
    let client = issuing.leaf("client");
    assert_not_allowed(&verdict(&root, &client, &[]), &client);
    // An XFCC naming another (valid) client lends nothing to this connection's certificate.
    let other = root.leaf("other");
    let host = host_now();
    let mut worker = host.worker(inline_gate(&root)).unwrap();
    let out = tls_request(&mut worker, &client.fingerprint(), HOST, "/x")
        .header(headers::XFCC, &xfcc_for(&other, &[]))
        .send_headers()
        .unwrap();
    assert_not_allowed(&out, &client);
}

#[test]
fn a_ca_in_the_global_list_admits_its_clients_on_every_mtls_api() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let client = root.leaf("client");
    let host = host_now();
    let mut worker = host
        .worker(gate(&[], &[json_string(&root.pem)], ""))
        .unwrap();
    assert_forwarded(&present(&mut worker, &client, &[]));
}

// --- A CA from the store: trusted while the synced index holds it -----------------------

const SYNC_MS: u64 = 500;

fn store_block() -> String {
    format!(
        r#""store": {{"cluster": "mtls_gate_shim", "authority": "shim.local", "token": "feed-token",
                     "sync_interval_ms": {SYNC_MS}}},"#
    )
}

fn ca_entry(id: &str, ca: &ChainIssuer) -> CertIndexEntry {
    let anchor = TrustAnchor::from_ca_der(&ca.der).unwrap();
    CertIndexEntry {
        id: certificate_id(id),
        fingerprint: *anchor.fingerprint(),
        not_after: Some(anchor.not_after()),
        has_private: false,
        is_ca: true,
        trust_anchor: Some(anchor.parts()),
    }
}

/// Ticks, and answers the feed call with `changes`.
fn sync(host: &Host, worker: &mut Worker, changes: &ChangeSet) {
    host.clock().advance(Duration::from_millis(SYNC_MS));
    worker.tick().unwrap();
    let call = worker
        .pending_http_calls()
        .into_iter()
        .find(|c| {
            c.header(":path")
                .is_some_and(|p| p.starts_with("/mtls-gate/v1/changes"))
        })
        .expect("a feed call");
    worker
        .respond_http_call(
            call.token,
            200,
            &[("content-type", "application/json")],
            &changes.encode(),
        )
        .unwrap();
}

#[test]
fn a_store_ca_admits_until_deleted_and_again_once_uploaded() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let id = format!(
        "acme{}",
        TrustAnchor::from_ca_der(&root.der)
            .unwrap()
            .fingerprint()
            .to_hex()
    );
    let client = root.leaf("client");
    let host = host_now();
    let mut worker = host
        .worker(gate(&[json_string(&id)], &[], &store_block()))
        .unwrap();
    let with_ca = ChangeSet {
        version: 1,
        full: true,
        certs: vec![ca_entry(&id, &root)],
        ..ChangeSet::default()
    };
    sync(&host, &mut worker, &with_ca);
    assert_forwarded(&present(&mut worker, &client, &[]));
    assert_forwarded(&mtls_request(
        &mut worker,
        &client.fingerprint(),
        HOST,
        "/x",
    ));

    let deleted = ChangeSet {
        version: 2,
        removed_certs: vec![certificate_id(id.clone())],
        ..ChangeSet::default()
    };
    sync(&host, &mut worker, &deleted);
    assert_not_allowed(&present(&mut worker, &client, &[]), &client);

    let uploaded = ChangeSet {
        version: 3,
        certs: vec![ca_entry(&id, &root)],
        ..ChangeSet::default()
    };
    sync(&host, &mut worker, &uploaded);
    assert_forwarded(&present(&mut worker, &client, &[]));
}

#[test]
fn a_ca_merely_in_the_store_trusts_nothing() {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let listed = ChainIssuer::root("listed", KeyKind::EcdsaP256);
    let root_id = format!(
        "acme{}",
        TrustAnchor::from_ca_der(&root.der)
            .unwrap()
            .fingerprint()
            .to_hex()
    );
    let listed_id = format!(
        "acme{}",
        TrustAnchor::from_ca_der(&listed.der)
            .unwrap()
            .fingerprint()
            .to_hex()
    );
    let client = root.leaf("client");
    let host = host_now();
    let mut worker = host
        .worker(gate(&[json_string(&listed_id)], &[], &store_block()))
        .unwrap();
    let both = ChangeSet {
        version: 1,
        full: true,
        certs: vec![ca_entry(&root_id, &root), ca_entry(&listed_id, &listed)],
        ..ChangeSet::default()
    };
    sync(&host, &mut worker, &both);
    assert_not_allowed(&present(&mut worker, &client, &[]), &client);
}
