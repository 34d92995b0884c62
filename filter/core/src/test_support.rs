//! Fixtures shared by the unit tests of the filter's protocol (sync, lookup, admission).
//! Test-only: included under `#[cfg(test)]`, so unwraps here cannot trap a VM.

use crate::config::{GateConfig, StoreLink};
use crate::feed::CertIndexEntry;
use crate::fingerprint::Fingerprint;
use crate::ids::CertificateId;
use crate::session::SessionGrant;

/// The store every protocol test talks to: ticks of 1 s, calls of 250 ms (so a lease lasts
/// 3 s), stale after 30 s, two lookups in flight per worker.
pub const STORE: &str = r#""store": {"cluster": "shim", "authority": "shim.local", "token": "feed-token",
    "sync_interval_ms": 1000, "timeout_ms": 250, "max_stale_s": 30, "max_lookups_in_flight": 2}"#;

pub fn config(json: &str) -> GateConfig {
    GateConfig::from_json(json.as_bytes()).unwrap()
}

pub fn store_link() -> StoreLink {
    config(&format!("{{{STORE}}}")).store.unwrap()
}

pub fn fp(name: &str) -> Fingerprint {
    Fingerprint::of_der(name.as_bytes())
}

pub fn grant() -> SessionGrant {
    SessionGrant {
        alias: "alice".into(),
        expires: 0,
        is_inactive: false,
        api_ids: vec![],
    }
}

/// The index entry of certificate `name` under `org`, never expiring.
pub fn cert_entry(org: &str, name: &str, has_private: bool) -> CertIndexEntry {
    CertIndexEntry {
        id: CertificateId::new(org, &fp(name)),
        fingerprint: fp(name),
        not_after: None,
        has_private,
        is_ca: false,
        trust_anchor: None,
    }
}
