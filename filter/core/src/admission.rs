//! What the gate does to a request's headers: the names it owns are removed from what a
//! client sends (headers and trailers), and an admitted request gets its identity headers,
//! its routing header and the XFCC rule (SPEC §6, ARCHITECTURE "Routing", "XFCC").
//!
//! With the request's headers read at once ([`RequestHeaders`]), a header is removed only
//! where it is present, and a forged gate header that admission rewrites anyway is not
//! removed first: a request without forged headers costs no removal at all.

use crate::config::GateConfig;
use crate::decision::{Admission, PeerCertificate, StoreView, upstream_cluster};
use crate::headers::{self, RequestHeaders};
use crate::host::Host;
use crate::xfcc;

/// A client must never steer routing or pose as an authenticated identity: the gate's own
/// headers are removed from every request before the decision, blind, where the host cannot
/// list the headers (see [`strip_gate_owned_headers`]).
pub fn remove_gate_owned_headers(host: &dyn Host) {
    for name in headers::GATE_OWNED {
        host.remove_request_header(name);
    }
}

/// Which of [`headers::GATE_OWNED`] the client sent and the request still carries, one bit
/// each in that order. Only ever set with a snapshot of the headers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ForgedHeaders(u8);

/// The gate's own names, out of what the decision sees. Without a snapshot they are removed
/// from the request now, blind. With one they are dropped from the snapshot only: the
/// request keeps them while it is decided, [`apply_admission`] removes those it does not
/// rewrite, and a refused request never reaches the upstream.
pub fn strip_gate_owned_headers(host: &dyn Host, headers: &mut RequestHeaders) -> ForgedHeaders {
    if !headers.is_snapshot() {
        remove_gate_owned_headers(host);
        return ForgedHeaders::default();
    }
    // One pass over the names; only one under the gate's prefix is compared further.
    let prefix = headers::GATE_OWNED_PREFIX.as_bytes();
    let forged = headers
        .names()
        .filter(|name| name.starts_with(prefix))
        .fold(0u8, |forged, name| {
            forged | std::str::from_utf8(name).map_or(0, owned_bit)
        });
    for (bit, name) in headers::GATE_OWNED.iter().enumerate() {
        if forged & (1 << bit) != 0 {
            headers.forget(name);
        }
    }
    ForgedHeaders(forged)
}

/// Trailers reach the upstream too, and some servers merge them into the headers: the
/// gate's own names, and XFCC, never travel there from a client.
pub fn remove_gate_owned_trailers(host: &dyn Host) {
    for name in headers::GATE_OWNED.iter().chain([&headers::XFCC]) {
        host.remove_request_trailer(name);
    }
}

/// The bit of `name` in [`ForgedHeaders`].
fn owned_bit(name: &str) -> u8 {
    headers::GATE_OWNED
        .iter()
        .position(|owned| *owned == name)
        .map_or(0, |bit| 1 << bit)
}

/// Headers and routing for an admitted request. `peer` reads the connection's certificate
/// (cached by the decision), asked only when the client's XFCC may be forwarded.
pub fn apply_admission(
    host: &dyn Host,
    config: &GateConfig,
    admission: &Admission<'_>,
    store: &dyn StoreView,
    peer: &mut dyn FnMut() -> PeerCertificate,
    headers: &mut RequestHeaders,
    forged: ForgedHeaders,
) {
    sanitize_xfcc(host, config, peer, headers);
    // Each write replaces every value of its name (Envoy's `setCopy`): a forged value of a
    // header set here needs no removal first.
    let mut written = 0u8;
    let mut set = |name: &str, value: &str| {
        host.set_request_header(name, value);
        // Telling the names apart costs string compares: only worth it when some were
        // forged (rarely), since `written` only matters for those.
        if forged.0 != 0 {
            written |= owned_bit(name);
        }
    };
    if let Some(api) = admission.api {
        if api.strip_auth_data {
            headers.remove(host, &api.auth_header_name);
        }
        set(headers::API_ID, &api.api_id);
        if let Some(fingerprint) = &admission.fingerprint {
            set(headers::CERT_SHA256, fingerprint.hex().as_str());
        }
        if let Some(identity) = &admission.identity {
            set(headers::SESSION_KEY, &identity.session_key);
            set(headers::KEY_ALIAS, &identity.alias);
        }
        if let Some(cluster) = upstream_cluster(api, store) {
            set(headers::ROUTING, cluster);
            // Setting a header clears the route cache under ABI 0.2.1; a host whose header
            // writes do not clears it here.
            host.clear_route_cache();
        }
    }
    for (bit, name) in headers::GATE_OWNED.iter().enumerate() {
        let mask = 1 << bit;
        if forged.0 & mask != 0 && written & mask == 0 {
            host.remove_request_header(name);
        }
    }
}

/// XFCC goes upstream only when asked for, and only as Envoy's one element for this
/// connection ([`xfcc::is_forwardable`]), whatever Envoy's forwarding mode.
pub fn sanitize_xfcc(
    host: &dyn Host,
    config: &GateConfig,
    peer: &mut dyn FnMut() -> PeerCertificate,
    headers: &mut RequestHeaders,
) {
    if config.forward_client_cert {
        let Some(value) = headers.get(host, headers::XFCC) else {
            return;
        };
        let ours = match peer() {
            PeerCertificate::Presented(fp) => xfcc::is_forwardable(&value, &fp),
            _ => false,
        };
        if ours {
            return;
        }
    }
    headers.remove(host, headers::XFCC);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::ClientIdentity;
    use crate::fingerprint::Fingerprint;
    use crate::host_facts::{FactsRead, property};
    use crate::mock_host::MockHost;
    use crate::store_view::NoStore;
    use crate::test_support::config;

    fn admit(host: &MockHost, config: &GateConfig, admission: &Admission<'_>) {
        let mut read = FactsRead::default();
        let mut headers = RequestHeaders::read(host);
        apply_admission(
            host,
            config,
            admission,
            &NoStore,
            &mut || read.peer_certificate(host),
            &mut headers,
            ForgedHeaders::default(),
        );
    }

    #[test]
    fn a_client_cannot_send_the_gates_own_headers_or_trailers() {
        let host = MockHost::new();
        for name in headers::GATE_OWNED.iter().chain([&headers::XFCC]) {
            host.put_request_header(name, "forged");
            host.put_request_trailer(name, "forged");
        }
        host.put_request_header("x-kept", "1");
        host.put_request_trailer("x-kept", "1");
        remove_gate_owned_headers(&host);
        remove_gate_owned_trailers(&host);
        let names = |pairs: Vec<(String, String)>| pairs.into_iter().map(|(n, _)| n).collect();
        let headers_left: Vec<String> = names(host.request_headers());
        assert_eq!(
            headers_left,
            [headers::XFCC, "x-kept"],
            "XFCC is the decision's to judge"
        );
        let trailers_left: Vec<String> = names(host.request_trailers());
        assert_eq!(trailers_left, ["x-kept"]);
    }

    #[test]
    fn an_admitted_request_carries_its_identity_and_route() {
        let host = MockHost::new();
        let config = config(
            r#"{"apis": [{"api_id": "orders", "strip_auth_data": true,
                          "auth": {"auth_header_name": "X-Token"},
                          "proxy": {"target_url": "https://up.test:8443"}}]}"#,
        );
        let api = config.apis.first().unwrap();
        host.put_request_header("x-token", "secret");
        host.put_request_header(headers::XFCC, "Hash=abc");
        let fp = Fingerprint::of_der(b"leaf");
        let admission = Admission {
            api: Some(api),
            fingerprint: Some(fp),
            identity: Some(ClientIdentity {
                session_key: "org-key".into(),
                alias: "alice".into(),
            }),
        };
        admit(&host, &config, &admission);
        assert_eq!(host.header(headers::API_ID).as_deref(), Some("orders"));
        assert_eq!(
            host.header(headers::CERT_SHA256).as_deref(),
            Some(fp.to_hex().as_str())
        );
        assert_eq!(
            host.header(headers::SESSION_KEY).as_deref(),
            Some("org-key")
        );
        assert_eq!(host.header(headers::KEY_ALIAS).as_deref(), Some("alice"));
        assert_eq!(host.header("x-token"), None, "strip_auth_data");
        assert_eq!(host.header(headers::XFCC), None, "not asked to forward it");
        assert!(host.header(headers::ROUTING).is_some());
        assert_eq!(
            host.route_cache_clears(),
            1,
            "the route re-reads the header"
        );
    }

    #[test]
    fn no_api_no_headers_and_no_target_no_route() {
        let host = MockHost::new();
        let config = config(r#"{"apis": [{"api_id": "plain"}]}"#);
        admit(
            &host,
            &config,
            &Admission {
                api: None,
                fingerprint: None,
                identity: None,
            },
        );
        assert_eq!(
            host.journal(),
            ["remove_request_header x-forwarded-client-cert"]
        );

        host.start_request();
        let plain = Admission {
            api: config.apis.first(),
            fingerprint: None,
            identity: None,
        };
        admit(&host, &config, &plain);
        assert_eq!(host.header(headers::API_ID).as_deref(), Some("plain"));
        assert_eq!(host.header(headers::ROUTING), None);
        assert_eq!(host.route_cache_clears(), 0);
    }

    #[test]
    fn a_forwarded_xfcc_must_be_envoys_own_element() {
        let host = MockHost::new();
        let config = config(r#"{"forward_client_cert": true, "apis": []}"#);
        let fp = Fingerprint::of_der(b"leaf");
        host.put_property(property::PEER_DIGEST, fp.to_hex().as_bytes());
        host.put_request_header(headers::XFCC, &format!("Hash={fp};Subject=\"CN=admin\""));
        let none = Admission {
            api: None,
            fingerprint: None,
            identity: None,
        };
        admit(&host, &config, &none);
        assert_eq!(
            host.header(headers::XFCC),
            None,
            "no PEM of the connection's own"
        );

        host.start_request();
        admit(&host, &config, &none);
        assert_eq!(
            host.journal(),
            ["request_header x-forwarded-client-cert"],
            "no XFCC, nothing to judge or remove"
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn envoys_own_xfcc_element_is_forwarded_when_asked() {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let fp = Fingerprint::of_der(cert.der());
        let pem = utf8_percent_encode(&cert.pem(), NON_ALPHANUMERIC).to_string();
        let xfcc = format!(r#"Hash={fp};Cert="{pem}";Subject="CN=client""#);
        let host = MockHost::new();
        host.put_property(property::PEER_DIGEST, fp.to_hex().as_bytes());
        host.put_request_header(headers::XFCC, &xfcc);
        let none = Admission {
            api: None,
            fingerprint: None,
            identity: None,
        };
        admit(&host, &config(r#"{"forward_client_cert": true}"#), &none);
        assert_eq!(host.header(headers::XFCC), Some(xfcc.clone()));
        admit(&host, &config(r#"{"forward_client_cert": false}"#), &none);
        assert_eq!(host.header(headers::XFCC), None);
    }
}
