//! What the gate does to a request's headers: the names it owns are removed from what a
//! client sends (headers and trailers), and an admitted request gets its identity headers,
//! its routing header and the XFCC rule (SPEC §6, ARCHITECTURE "Routing", "XFCC").

use crate::config::GateConfig;
use crate::decision::{Admission, PeerCertificate, RequestFacts, StoreView, upstream_cluster};
use crate::headers;
use crate::host::Host;
use crate::xfcc;

/// A client must never steer routing or pose as an authenticated identity: the gate's own
/// headers are removed from every request before the decision.
pub fn remove_gate_owned_headers(host: &dyn Host) {
    for name in headers::GATE_OWNED {
        host.remove_request_header(name);
    }
}

/// Trailers reach the upstream too, and some servers merge them into the headers: the
/// gate's own names, and XFCC, never travel there from a client.
pub fn remove_gate_owned_trailers(host: &dyn Host) {
    for name in headers::GATE_OWNED.iter().chain([&headers::XFCC]) {
        host.remove_request_trailer(name);
    }
}

/// Headers and routing for an admitted request.
pub fn apply_admission(
    host: &dyn Host,
    config: &GateConfig,
    admission: &Admission<'_>,
    store: &dyn StoreView,
    facts: &mut dyn RequestFacts,
) {
    sanitize_xfcc(host, config, facts);
    let Some(api) = admission.api else {
        return;
    };
    if api.strip_auth_data {
        host.remove_request_header(&api.auth_header_name);
    }
    host.set_request_header(headers::API_ID, &api.api_id);
    if let Some(fingerprint) = &admission.fingerprint {
        host.set_request_header(headers::CERT_SHA256, &fingerprint.to_hex());
    }
    if let Some(identity) = &admission.identity {
        host.set_request_header(headers::SESSION_KEY, &identity.session_key);
        host.set_request_header(headers::KEY_ALIAS, &identity.alias);
    }
    if let Some(cluster) = upstream_cluster(config, api, store) {
        host.set_request_header(headers::ROUTING, &cluster);
        // Setting a header clears the route cache under ABI 0.2.1; Envoy's foreign
        // function makes sure of it where it exists.
        host.clear_route_cache();
    }
}

/// XFCC goes upstream only when asked for, and only as Envoy's one element for this
/// connection ([`xfcc::is_forwardable`]), whatever Envoy's forwarding mode.
pub fn sanitize_xfcc(host: &dyn Host, config: &GateConfig, facts: &mut dyn RequestFacts) {
    if !config.forward_client_cert {
        host.remove_request_header(headers::XFCC);
        return;
    }
    let Some(value) = host.request_header(headers::XFCC) else {
        return;
    };
    let ours = match facts.peer_certificate() {
        PeerCertificate::Presented(fp) => xfcc::is_forwardable(&value, &fp),
        _ => false,
    };
    if !ours {
        host.remove_request_header(headers::XFCC);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::ClientIdentity;
    use crate::fingerprint::Fingerprint;
    use crate::host_facts::{ExpiryCache, FactsRead, HostFacts, property};
    use crate::mock_host::MockHost;
    use crate::store_view::NoStore;
    use crate::test_support::config;
    use std::cell::RefCell;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn admit(host: &MockHost, config: &GateConfig, admission: &Admission<'_>) {
        let cache = RefCell::new(ExpiryCache::default());
        let mut read = FactsRead::default();
        let mut facts = HostFacts {
            host,
            read: &mut read,
            expiry_cache: &cache,
            chain_cache: &RefCell::default(),
        };
        apply_admission(host, config, admission, &NoStore, &mut facts);
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
