//! Handshake-level enforcement (SPEC §8, Tyk's TLS-level behaviour): which SNI names get a
//! filter chain that requires and verifies a client certificate during the handshake.
//!
//! A name qualifies when it is the plain-host `domain` of an API with `use_mutual_tls_auth`
//! and every API that serves it needs that too. Its allow list is the union of those APIs'
//! `client_certificates`, the global `security.certificates.apis`, and the lists of mTLS APIs
//! for any host (Tyk adds those to the handshake's trust as well: they answer on every name).
//!
//! - only leaf entries → `verify_certificate_hash` with their fingerprints, default trust
//!   setting and no CA (never `ACCEPT_UNTRUSTED`, which accepts a hash mismatch too);
//! - only CA entries (basic constraints CA:TRUE) → `trusted_ca` with those CAs;
//! - mixed → HTTP level: Tyk admits a client that either matches (OR), Envoy's hash list and
//!   trust together demand both (AND);
//! - a name also served by an API that needs no static certificate (`domain` equal, or a host
//!   template that matches it) → HTTP level, as Tyk falls back to requesting a certificate;
//! - no entry that could admit anyone now (store IDs not in the store, public keys) → HTTP
//!   level: the filter answers those requests with Tyk's 403s.
//!
//! Connections without SNI, and every other name, reach the default chain (HTTP level). The
//! filter still checks every request on every chain.
//!
//! Store IDs are read from the store at render time: a CA or leaf uploaded, deleted or
//! replaced later reaches the handshake with the next render (the filter follows the store
//! by itself).

use super::RenderError;
use super::envoy::ClientValidation;
use crate::certificates::pem_text;
use crate::certificates::upload::MaterialKind;
use crate::store::Store;
use mtls_gate_core::certificate::parse_bundle;
use mtls_gate_core::config::{ApiSpec, GateConfig};
use mtls_gate_core::domain::DomainPattern;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::looks_like_pem;
use std::collections::{BTreeMap, HashMap};

/// What a domain's filter chain does with client certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// A chain of its own for this SNI, verifying at the handshake.
    Handshake(ClientValidation),
    /// No chain of its own: the filter's HTTP-level checks, and why.
    HttpLevel(HttpLevelReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpLevelReason {
    /// An API that needs no static client certificate also serves the name.
    Shared,
    /// CA and leaf entries together (Tyk's OR is not Envoy's AND).
    Mixed,
    /// No entry can admit a client now.
    NothingToTrust,
}

impl std::fmt::Display for HttpLevelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HttpLevelReason::Shared => "shared with an API that needs no static certificate",
            HttpLevelReason::Mixed => "CA and leaf entries together",
            HttpLevelReason::NothingToTrust => "no allow-list entry can admit a client yet",
        })
    }
}

/// One mTLS domain and what its chain does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPlan {
    /// Lowercase host, the SNI name.
    pub domain: String,
    pub enforcement: Enforcement,
}

/// The raw allow-list entries of the gate (as the filter gets them): the global list and
/// each API's `client_certificates`, by `api_id`.
#[derive(Debug, Clone, Default)]
pub struct AllowEntries {
    pub global: Vec<String>,
    pub by_api: HashMap<String, Vec<String>>,
}

impl AllowEntries {
    /// Reads them from the gate JSON.
    pub fn from_gate(gate: &serde_json::Value) -> Self {
        let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
            v.and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let global = strings(gate.pointer("/security/certificates/apis"));
        let by_api = gate
            .get("apis")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten()
            .filter_map(|api| {
                // An OAS entry's allow list is `server.clientCertificates.allowlist`.
                let api = super::classic_api(api);
                let id = api.get("api_id")?.as_str()?.to_owned();
                Some((id, strings(api.get("client_certificates"))))
            })
            .collect();
        AllowEntries { global, by_api }
    }
}

/// What one allow-list entry is at the handshake.
enum Trust {
    Leaf(String),
    /// Fingerprint and the CA certificate's PEM.
    Ca(String, String),
    /// Admits nobody now (a public key; a store ID the store does not hold).
    Nothing,
}

/// Plans every mTLS domain of `config`, in order of first appearance.
pub fn plan_domains(
    config: &GateConfig,
    entries: &AllowEntries,
    store: &Store,
    warnings: &mut Vec<String>,
) -> Result<Vec<DomainPlan>, RenderError> {
    let mut domains: Vec<String> = Vec::new();
    for api in &config.apis {
        if let DomainPattern::Exact(host) = &api.domain
            && api.use_mutual_tls_auth
            && host.parse::<std::net::IpAddr>().is_err()
            && !domains.contains(host)
        {
            domains.push(host.clone());
        }
    }
    let mut cache: HashMap<String, Trust> = HashMap::new();
    let mut plans = Vec::new();
    for domain in domains {
        let serving: Vec<&ApiSpec> = config
            .apis
            .iter()
            .filter(|api| !matches!(api.domain, DomainPattern::Any) && api.domain.matches(&domain))
            .collect();
        if serving.iter().any(|api| !api.use_mutual_tls_auth) {
            plans.push(DomainPlan {
                domain,
                enforcement: Enforcement::HttpLevel(HttpLevelReason::Shared),
            });
            continue;
        }
        let any_host_mtls = config
            .apis
            .iter()
            .filter(|api| matches!(api.domain, DomainPattern::Any) && api.use_mutual_tls_auth);
        let lists = std::iter::once(&entries.global).chain(
            serving
                .into_iter()
                .chain(any_host_mtls)
                .filter_map(|api| entries.by_api.get(&api.api_id)),
        );
        // By fingerprint: a sorted, duplicate-free config whatever the lists' order.
        let mut leaves: BTreeMap<String, ()> = BTreeMap::new();
        let mut cas: BTreeMap<String, String> = BTreeMap::new();
        for entry in lists.flatten() {
            let key = entry.trim().to_owned();
            if !cache.contains_key(&key) {
                let trust = classify(&key, config.store.is_some(), store, warnings)?;
                cache.insert(key.clone(), trust);
            }
            match cache.get(&key) {
                Some(Trust::Leaf(fp)) => {
                    leaves.insert(fp.clone(), ());
                }
                Some(Trust::Ca(fp, pem)) => {
                    cas.insert(fp.clone(), pem.clone());
                }
                Some(Trust::Nothing) | None => {}
            }
        }
        let enforcement = match (leaves.is_empty(), cas.is_empty()) {
            (true, true) => Enforcement::HttpLevel(HttpLevelReason::NothingToTrust),
            (false, true) => {
                Enforcement::Handshake(ClientValidation::LeafHashes(leaves.into_keys().collect()))
            }
            (true, false) => {
                Enforcement::Handshake(ClientValidation::TrustedCa(cas.into_values().collect()))
            }
            (false, false) => Enforcement::HttpLevel(HttpLevelReason::Mixed),
        };
        plans.push(DomainPlan {
            domain,
            enforcement,
        });
    }
    Ok(plans)
}

fn classify(
    entry: &str,
    store_configured: bool,
    store: &Store,
    warnings: &mut Vec<String>,
) -> Result<Trust, RenderError> {
    if looks_like_pem(entry) {
        let Some((block, facts)) = parse_bundle(entry)
            .ok()
            .and_then(|b| b.certificates.into_iter().next())
        else {
            return Ok(Trust::Nothing);
        };
        let fp = facts.fingerprint.to_hex();
        return Ok(match facts.is_ca {
            true => Trust::Ca(fp, pem_text::encode("CERTIFICATE", &block.der)),
            false => Trust::Leaf(fp),
        });
    }
    let Some((_, fingerprint)) = Fingerprint::split_certificate_id(entry) else {
        return Ok(Trust::Nothing);
    };
    if !store_configured {
        // A bare fingerprint is self-contained, and cannot carry a CA to verify with.
        return Ok(Trust::Leaf(fingerprint.to_hex()));
    }
    let Some(stored) = store.certificate(entry)? else {
        warnings.push(format!(
            "allow-list entry {entry} is not in the store: no handshake admits it until the next render (the filter admits it once it is uploaded)"
        ));
        return Ok(Trust::Nothing);
    };
    if stored.kind == MaterialKind::PublicKey {
        return Ok(Trust::Nothing);
    }
    if !stored.is_ca {
        return Ok(Trust::Leaf(stored.fingerprint.to_hex()));
    }
    let ca = parse_bundle(&stored.material_pem)
        .ok()
        .and_then(|b| b.certificates.into_iter().next())
        .map(|(block, _)| pem_text::encode("CERTIFICATE", &block.der));
    Ok(match ca {
        Some(pem) => Trust::Ca(stored.fingerprint.to_hex(), pem),
        None => Trust::Nothing,
    })
}
