//! [`RequestFacts`] over the host's connection properties, each read at most once per
//! request (ARCHITECTURE "Hot path budget": the allow path reads only the digest).

use crate::client_trust::{ChainCache, ClientTrust};
use crate::decision::{PeerCertificate, RequestFacts, StoreView};
use crate::fingerprint::Fingerprint;
use crate::headers::{self, RequestHeaders};
use crate::host::Host;
use crate::xfcc;
use std::cell::RefCell;
use std::collections::HashMap;

/// Envoy's properties the decision reads (ARCHITECTURE "Envoy facts").
pub mod property {
    /// 64 lowercase hex of the leaf's SHA-256; absent when there is no certificate.
    pub const PEER_DIGEST: &str = "connection.sha256_peer_certificate_digest";
    /// Non-empty on a TLS connection.
    pub const TLS_VERSION: &str = "connection.tls_version";
    /// Empty unless the listener has the TLS inspector.
    pub const SNI: &str = "connection.requested_server_name";
    /// Why Envoy answered as it did; for a failed upstream handshake it carries the TLS
    /// error (read in the response path, only for a pinned upstream's 503).
    pub const RESPONSE_CODE_DETAILS: &str = "response.code_details";
}

/// Per-worker cache of certificate expiry learned from XFCC PEMs, so a PEM is parsed once
/// per fingerprint, not per request. Bounded: cleared when full.
#[derive(Debug, Default)]
pub struct ExpiryCache {
    not_after: HashMap<Fingerprint, i64>,
}

impl ExpiryCache {
    const LIMIT: usize = 10_000;

    fn get(&self, fingerprint: &Fingerprint) -> Option<i64> {
        self.not_after.get(fingerprint).copied()
    }

    fn insert(&mut self, fingerprint: Fingerprint, not_after: i64) {
        if self.not_after.len() >= Self::LIMIT {
            self.not_after.clear();
        }
        self.not_after.insert(fingerprint, not_after);
    }
}

/// What one request has read already; kept across the decisions before and after a lookup.
#[derive(Debug, Default)]
pub struct FactsRead {
    peer: Option<PeerCertificate>,
    sni: Option<Option<String>>,
}

/// The request's facts, read through `host` on first use.
pub struct HostFacts<'a> {
    pub host: &'a dyn Host,
    /// The request's headers, read once ([`RequestHeaders`]).
    pub headers: &'a RequestHeaders,
    pub read: &'a mut FactsRead,
    pub expiry_cache: &'a RefCell<ExpiryCache>,
    pub chain_cache: &'a RefCell<ChainCache>,
}

impl FactsRead {
    /// The connection's certificate, read on first use (see [`RequestFacts::peer_certificate`]).
    pub fn peer_certificate(&mut self, host: &dyn Host) -> PeerCertificate {
        *self.peer.get_or_insert_with(|| {
            let digest = host
                .property(property::PEER_DIGEST)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|hex| !hex.is_empty());
            match digest {
                // Envoy writes 64 lowercase hex; anything else is not a certificate we can name.
                Some(hex) => Fingerprint::parse_hex(&hex)
                    .map_or(PeerCertificate::NoCertificate, PeerCertificate::Presented),
                // Deny path only: a second read tells "no TLS" from "no certificate".
                None => match host.property(property::TLS_VERSION) {
                    Some(version) if !version.is_empty() => PeerCertificate::NoCertificate,
                    _ => PeerCertificate::NotTls,
                },
            }
        })
    }
}

impl RequestFacts for HostFacts<'_> {
    fn peer_certificate(&mut self) -> PeerCertificate {
        self.read.peer_certificate(self.host)
    }

    fn sni(&mut self) -> Option<&str> {
        let host = self.host;
        self.read
            .sni
            .get_or_insert_with(|| {
                host.property(property::SNI)
                    .map(|bytes| {
                        String::from_utf8(bytes)
                            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
                    })
                    .filter(|sni| !sni.is_empty())
            })
            .as_deref()
    }

    fn peer_not_after(&mut self, fingerprint: &Fingerprint) -> Option<i64> {
        if let Some(cached) = self.expiry_cache.borrow().get(fingerprint) {
            return Some(cached);
        }
        let header = self.headers.get(self.host, headers::XFCC)?;
        let facts = xfcc::verified_certificate(&header, fingerprint)?;
        self.expiry_cache
            .borrow_mut()
            .insert(*fingerprint, facts.not_after);
        Some(facts.not_after)
    }

    fn request_header(&mut self, name: &str) -> Option<String> {
        self.headers
            .get(self.host, name)
            .map(std::borrow::Cow::into_owned)
    }

    fn chain_trusted(
        &mut self,
        fingerprint: &Fingerprint,
        trust: &ClientTrust,
        store: &dyn StoreView,
        now: i64,
    ) -> bool {
        let (host, request_headers) = (self.host, self.headers);
        // The chain is read only when no cached verdict stands: on a worker's first request
        // from this client, not on every request.
        self.chain_cache
            .borrow_mut()
            .admits(fingerprint, trust, store, now, || {
                xfcc::presented_chain(&request_headers.get(host, headers::XFCC)?, fingerprint)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock_host::MockHost;

    fn peer(host: &MockHost) -> (PeerCertificate, usize, usize) {
        let cache = RefCell::default();
        let mut read = FactsRead::default();
        let mut facts = HostFacts {
            host,
            headers: &RequestHeaders::default(),
            read: &mut read,
            expiry_cache: &cache,
            chain_cache: &RefCell::default(),
        };
        let first = facts.peer_certificate();
        assert_eq!(facts.peer_certificate(), first, "same answer twice");
        (
            first,
            host.journal_count(&format!("property {}", property::PEER_DIGEST)),
            host.journal_count(&format!("property {}", property::TLS_VERSION)),
        )
    }

    #[test]
    fn a_presented_certificate_costs_one_property_read() {
        let host = MockHost::new();
        let fp = Fingerprint::of_der(b"leaf");
        host.put_property(property::PEER_DIGEST, fp.to_hex().as_bytes());
        assert_eq!(peer(&host), (PeerCertificate::Presented(fp), 1, 0));
    }

    #[test]
    fn no_digest_reads_the_tls_version_to_tell_no_tls_from_no_certificate() {
        let host = MockHost::new();
        host.put_property(property::TLS_VERSION, b"TLSv1.3");
        assert_eq!(peer(&host), (PeerCertificate::NoCertificate, 1, 1));

        host.start_request();
        assert_eq!(peer(&host), (PeerCertificate::NotTls, 1, 1));

        host.start_request();
        host.put_property(property::PEER_DIGEST, b"not hex");
        assert_eq!(peer(&host), (PeerCertificate::NoCertificate, 1, 0));
    }

    #[test]
    fn sni_is_read_once_and_empty_means_none() {
        let host = MockHost::new();
        host.put_property(property::SNI, b"");
        let cache = RefCell::default();
        let mut read = FactsRead::default();
        let mut facts = HostFacts {
            host: &host,
            headers: &RequestHeaders::default(),
            read: &mut read,
            expiry_cache: &cache,
            chain_cache: &RefCell::default(),
        };
        assert_eq!(facts.sni(), None);
        assert_eq!(facts.sni(), None);
        assert_eq!(host.journal_count("property"), 1);
    }

    #[test]
    fn a_forged_xfcc_lends_no_expiry() {
        let host = MockHost::new();
        host.put_request_header(headers::XFCC, "Hash=00;Cert=\"garbage\"");
        let cache = RefCell::default();
        let mut read = FactsRead::default();
        let mut facts = HostFacts {
            host: &host,
            headers: &RequestHeaders::default(),
            read: &mut read,
            expiry_cache: &cache,
            chain_cache: &RefCell::default(),
        };
        assert_eq!(facts.peer_not_after(&Fingerprint::of_der(b"leaf")), None);
    }
}
