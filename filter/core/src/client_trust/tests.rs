//! Tests of CA sources and the chain-verdict cache. Test-only: included under `#[cfg(test)]`.
//! Native only: the chains are made with rcgen.
#![cfg(not(target_arch = "wasm32"))]

use super::*;
use crate::config::GateConfig;
use crate::decision::SessionLookup;
use crate::feed::CertIndexEntry;
use crate::ids::CertificateId;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::cell::Cell;
use std::collections::HashMap;

struct Ca {
    der: Vec<u8>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf signed by `ca`, valid until `not_after` (unix seconds).
fn leaf(ca: &Ca, not_after: i64) -> PresentedChain {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["client.test".into()]).unwrap();
    params.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 3600).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    PresentedChain {
        leaf: cert.der().to_vec(),
        intermediates: Vec::new(),
    }
}

const NOW: i64 = 1_800_000_000;
const LATER: i64 = NOW + 86_400;

#[derive(Default)]
struct Index {
    certs: HashMap<String, CertIndexEntry>,
    version: u64,
}

impl Index {
    fn with_ca(mut self, id: &str, ca: &Ca) -> Self {
        self.put_ca(id, ca);
        self
    }

    fn put_ca(&mut self, id: &str, ca: &Ca) {
        let anchor = TrustAnchor::from_ca_der(&ca.der).unwrap();
        self.certs.insert(
            id.to_owned(),
            CertIndexEntry {
                id: CertificateId::verbatim(id),
                fingerprint: *anchor.fingerprint(),
                not_after: Some(anchor.not_after()),
                has_private: false,
                is_ca: true,
                trust_anchor: Some(anchor.parts()),
            },
        );
        self.version += 1;
    }

    fn remove(&mut self, id: &str) {
        self.certs.remove(id);
        self.version += 1;
    }
}

impl StoreView for Index {
    fn certificate(&self, id: &str) -> Option<CertIndexEntry> {
        self.certs.get(id).cloned()
    }
    fn session(&self, _key: &str) -> SessionLookup {
        SessionLookup::Absent
    }
    fn is_stale(&self, _now: i64) -> bool {
        false
    }
    fn version(&self) -> u64 {
        self.version
    }
}

fn inline_trust(ca: &Ca) -> ClientTrust {
    ClientTrust {
        id: 0,
        inline: vec![InlineCa::from_entry(&ca.pem).unwrap().unwrap()],
        store_ids: Vec::new(),
    }
}

fn store_trust(id: &str) -> ClientTrust {
    ClientTrust {
        id: 1,
        inline: Vec::new(),
        store_ids: vec![id.to_owned()],
    }
}

/// Asks the cache, counting how often it wanted the chain.
fn ask(
    cache: &mut ChainCache,
    chain: &PresentedChain,
    trust: &ClientTrust,
    store: &dyn StoreView,
    now: i64,
    reads: &Cell<u32>,
) -> bool {
    let fingerprint = Fingerprint::of_der(&chain.leaf);
    cache.admits(&fingerprint, trust, store, now, || {
        reads.set(reads.get() + 1);
        Some(chain.clone())
    })
}

#[test]
fn an_inline_ca_admits_what_it_signed_verifying_once_per_worker() {
    let root = ca("root");
    let client = leaf(&root, LATER);
    let trust = inline_trust(&root);
    let (mut cache, reads) = (ChainCache::default(), Cell::new(0));
    for _ in 0..3 {
        assert!(ask(
            &mut cache,
            &client,
            &trust,
            &Index::default(),
            NOW,
            &reads
        ));
    }
    assert_eq!((reads.get(), cache.verifications()), (1, 1));
}

#[test]
fn another_ca_and_an_expired_leaf_are_refused_and_the_refusal_is_cached() {
    let (root, other) = (ca("root"), ca("other"));
    let trust = inline_trust(&root);
    let (mut cache, reads) = (ChainCache::default(), Cell::new(0));
    let stranger = leaf(&other, LATER);
    assert!(!ask(
        &mut cache,
        &stranger,
        &trust,
        &Index::default(),
        NOW,
        &reads
    ));
    assert!(!ask(
        &mut cache,
        &stranger,
        &trust,
        &Index::default(),
        NOW,
        &reads
    ));
    assert_eq!(reads.get(), 1, "refusal cached");
    let expired = leaf(&root, NOW - 60);
    assert!(!ask(
        &mut cache,
        &expired,
        &trust,
        &Index::default(),
        NOW,
        &reads
    ));
}

#[test]
fn a_verdict_lasts_only_as_long_as_the_path_is_valid() {
    let root = ca("root");
    let client = leaf(&root, NOW + 10);
    let trust = inline_trust(&root);
    let (mut cache, reads) = (ChainCache::default(), Cell::new(0));
    assert!(ask(
        &mut cache,
        &client,
        &trust,
        &Index::default(),
        NOW,
        &reads
    ));
    assert!(!ask(
        &mut cache,
        &client,
        &trust,
        &Index::default(),
        NOW + 11,
        &reads
    ));
    assert_eq!(reads.get(), 2, "checked again once the cached window ended");
}

#[test]
fn a_store_ca_trusts_while_it_is_in_the_index_and_again_once_reuploaded() {
    let root = ca("root");
    let client = leaf(&root, LATER);
    let trust = store_trust("orgroot");
    let mut index = Index::default().with_ca("orgroot", &root);
    let (mut cache, reads) = (ChainCache::default(), Cell::new(0));
    assert!(ask(&mut cache, &client, &trust, &index, NOW, &reads));
    assert!(ask(&mut cache, &client, &trust, &index, NOW, &reads));
    assert_eq!(reads.get(), 1);

    index.remove("orgroot");
    assert!(!ask(&mut cache, &client, &trust, &index, NOW, &reads));
    index.put_ca("orgroot", &root);
    assert!(ask(&mut cache, &client, &trust, &index, NOW, &reads));
}

#[test]
fn a_refusal_is_asked_again_after_a_store_change_or_its_ttl() {
    let root = ca("root");
    let client = leaf(&root, LATER);
    let trust = store_trust("orgroot");
    let mut index = Index::default();
    let (mut cache, reads) = (ChainCache::default(), Cell::new(0));
    assert!(!ask(&mut cache, &client, &trust, &index, NOW, &reads));
    assert_eq!(reads.get(), 0, "no anchor in the store: no chain read");
    index.put_ca("orgroot", &root);
    assert!(ask(&mut cache, &client, &trust, &index, NOW, &reads));

    let stranger = leaf(&ca("other"), LATER);
    assert!(!ask(&mut cache, &stranger, &trust, &index, NOW, &reads));
    let before = reads.get();
    let after_ttl = NOW + ChainCache::REFUSAL_TTL_S;
    assert!(!ask(
        &mut cache, &stranger, &trust, &index, after_ttl, &reads
    ));
    assert_eq!(reads.get(), before + 1);
}

#[test]
fn a_ca_only_in_the_store_or_a_leaf_entry_trusts_nothing() {
    let root = ca("root");
    let client = leaf(&root, LATER);
    let index = Index::default().with_ca("orgroot", &root);
    let (mut cache, reads) = (ChainCache::default(), Cell::new(0));
    // The lists name another store ID; the CA is merely in the store.
    assert!(!ask(
        &mut cache,
        &client,
        &store_trust("orgother"),
        &index,
        NOW,
        &reads
    ));
    // A leaf certificate in a list is no anchor.
    assert_eq!(
        InlineCa::from_entry(&ca_signed_leaf_pem(&root)).unwrap(),
        None
    );
}

fn ca_signed_leaf_pem(ca: &Ca) -> String {
    let key = KeyPair::generate().unwrap();
    CertificateParams::new(vec!["x.test".into()])
        .unwrap()
        .signed_by(&key, &ca.issuer)
        .unwrap()
        .pem()
}

#[test]
fn no_chain_to_verify_refuses_without_caching() {
    let root = ca("root");
    let trust = inline_trust(&root);
    let mut cache = ChainCache::default();
    let fingerprint = Fingerprint::of_der(b"leaf");
    assert!(!cache.admits(&fingerprint, &trust, &Index::default(), NOW, || None));
    assert!(cache.is_empty());
}

#[test]
fn the_cache_is_bounded() {
    let trust = store_trust("orgmissing");
    let mut cache = ChainCache::default();
    for i in 0..=ChainCache::LIMIT {
        let fingerprint = Fingerprint::of_der(&i.to_le_bytes());
        cache.admits(&fingerprint, &trust, &Index::default(), NOW, || None);
        assert!(cache.len() <= ChainCache::LIMIT);
    }
}

#[test]
fn config_compiles_ca_entries_and_shares_equal_sets() {
    let root = ca("root");
    let pem = serde_json::to_string(&root.pem).unwrap();
    let json = format!(
        r#"{{"security": {{"certificates": {{"apis": [{pem}]}}}},
            "apis": [
              {{"api_id": "a", "use_mutual_tls_auth": true, "proxy": {{"listen_path": "/a/"}}}},
              {{"api_id": "b", "use_mutual_tls_auth": true, "proxy": {{"listen_path": "/b/"}},
                "client_certificates": [{pem}]}},
              {{"api_id": "c", "proxy": {{"listen_path": "/c/"}}, "client_certificates": []}}
            ]}}"#
    );
    let config = GateConfig::from_json(json.as_bytes()).unwrap();
    let ids: Vec<usize> = config.apis.iter().map(|a| a.client_trust.id).collect();
    assert_eq!(config.apis.first().unwrap().client_trust.inline.len(), 1);
    assert_eq!(ids, vec![0, 0, 0], "the global CA is in every API's set");
    // The CA's own fingerprint is still a plain entry: a client presenting the CA passes.
    let ca_fp = Fingerprint::of_der(&root.der);
    assert!(config.global_allow_list.get(&ca_fp).is_some());
}

#[test]
fn an_inline_pem_is_read_as_a_ca_only_when_it_is_one() {
    let root = ca("root");
    assert!(InlineCa::from_entry(&root.pem).unwrap().is_some());
    assert_eq!(InlineCa::from_entry("0123").unwrap(), None);
    assert!(
        InlineCa::from_entry("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
            .is_err()
    );
}
