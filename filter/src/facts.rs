//! [`RequestFacts`] over Envoy's connection properties, each read at most once per request.

use crate::host;
use mtls_gate_core::decision::{PeerCertificate, RequestFacts};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::headers;
use mtls_gate_core::xfcc;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Per-worker cache of certificate expiry learned from XFCC PEMs, so a PEM is parsed once
/// per fingerprint, not per request. Bounded: cleared when full.
#[derive(Debug, Default)]
pub struct ExpiryCache {
    not_after: HashMap<Fingerprint, i64>,
}

const EXPIRY_CACHE_LIMIT: usize = 10_000;

impl ExpiryCache {
    fn get(&self, fingerprint: &Fingerprint) -> Option<i64> {
        self.not_after.get(fingerprint).copied()
    }

    fn insert(&mut self, fingerprint: Fingerprint, not_after: i64) {
        if self.not_after.len() >= EXPIRY_CACHE_LIMIT {
            self.not_after.clear();
        }
        self.not_after.insert(fingerprint, not_after);
    }
}

#[derive(Default)]
pub struct EnvoyFacts {
    peer: Option<PeerCertificate>,
    sni: Option<Option<String>>,
    expiry_cache: Rc<RefCell<ExpiryCache>>,
}

impl EnvoyFacts {
    pub fn new(expiry_cache: Rc<RefCell<ExpiryCache>>) -> Self {
        EnvoyFacts {
            peer: None,
            sni: None,
            expiry_cache,
        }
    }
}

impl RequestFacts for EnvoyFacts {
    fn peer_certificate(&mut self) -> PeerCertificate {
        *self.peer.get_or_insert_with(|| {
            let digest = host::property("connection.sha256_peer_certificate_digest")
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|hex| !hex.is_empty());
            match digest {
                // Envoy writes 64 lowercase hex; anything else is not a certificate we can name.
                Some(hex) => Fingerprint::parse_hex(&hex)
                    .map_or(PeerCertificate::NoCertificate, PeerCertificate::Presented),
                // Deny path only: a second read tells "no TLS" from "no certificate".
                None => match host::property("connection.tls_version") {
                    Some(version) if !version.is_empty() => PeerCertificate::NoCertificate,
                    _ => PeerCertificate::NotTls,
                },
            }
        })
    }

    fn sni(&mut self) -> Option<String> {
        self.sni
            .get_or_insert_with(|| {
                host::property("connection.requested_server_name")
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .filter(|sni| !sni.is_empty())
            })
            .clone()
    }

    fn peer_not_after(&mut self, fingerprint: &Fingerprint) -> Option<i64> {
        if let Some(cached) = self.expiry_cache.borrow().get(fingerprint) {
            return Some(cached);
        }
        let header = host::request_header(headers::XFCC)?;
        let facts = xfcc::verified_certificate(&header, fingerprint)?;
        self.expiry_cache
            .borrow_mut()
            .insert(*fingerprint, facts.not_after);
        Some(facts.not_after)
    }

    fn request_header(&mut self, name: &str) -> Option<String> {
        host::request_header(name)
    }
}
