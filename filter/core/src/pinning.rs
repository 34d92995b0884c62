//! Upstream public-key pinning (SPEC §6b): `pinned_public_keys` per API and
//! `security.pinned_public_keys` globally, matched against an API's target host with Tyk's
//! rules (`getPinnedPublicKeys`), and the answer a mismatch gets.
//!
//! Envoy enforces the pins at the upstream handshake (`verify_certificate_spki` on the API's
//! clusters, rendered by the shim from [`pins_for_host`]); pinning replaces the usual chain
//! verification for that host, as in Tyk. The filter only knows *that* an API's target is
//! pinned ([`PinnedUpstream`]), so it can turn Envoy's failed connection (a 503 with a TLS
//! error) into Tyk's 500 and message ([`PinnedUpstream::mismatch_message`]).

use crate::authority::{normalized_host, split_host_port};
use crate::cert_ref::CertRef;
use crate::certificate::parse_bundle;
use crate::fingerprint::Fingerprint;
use crate::pem::looks_like_pem;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a pin that is neither PEM nor an ID is told (SPEC §1: a file path reaches the filter
/// only unresolved, and is refused there).
pub const NOT_A_PUBLIC_KEY: &str = "not a public key: write a store public-key ID (org_id + 64 \
    hex), the SHA-256 of the key's SPKI (64 hex, without a store), or inline `PUBLIC KEY` PEM; \
    a file path works through `mtls-gate-shim render`, which inlines the file";

/// Tyk's `pinned_public_keys` / `security.pinned_public_keys`: host pattern → public keys.
/// Keys are stored normalized (lowercase, IPv6 without brackets); values are the
/// comma-separated keys, each read as [`parse_public_key`] reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinMap {
    by_host: BTreeMap<String, Vec<CertRef>>,
}

impl PinMap {
    /// Builds a map from config entries (`{"host": "key1,key2"}`). Errors carry the offending
    /// map key and the reason. `store_configured` decides what an ID-shaped key is (SPEC §1).
    pub fn from_entries(
        entries: &BTreeMap<String, String>,
        store_configured: bool,
    ) -> Result<Self, (String, String)> {
        let mut by_host = BTreeMap::new();
        for (pattern, keys) in entries {
            let refuse = |reason: String| (pattern.clone(), reason);
            let host = normalize_pattern(pattern).map_err(|reason| refuse(reason.to_owned()))?;
            // Tyk splits on commas; the OAS form trims each key, and so does the gate.
            let parsed = keys
                .split(',')
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(|key| parse_public_key(key, store_configured))
                .collect::<Result<Vec<_>, _>>()
                .map_err(refuse)?;
            if parsed.is_empty() {
                return Err(refuse(
                    "a pin needs at least one public key (comma-separated)".to_owned(),
                ));
            }
            by_host.insert(host, parsed);
        }
        Ok(PinMap { by_host })
    }

    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }

    /// The host patterns, normalized and sorted.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.by_host.keys()
    }

    /// Every public key named, for whoever lists references.
    pub fn public_keys(&self) -> impl Iterator<Item = &CertRef> {
        self.by_host.values().flatten()
    }

    /// Tyk's order within one map, low to high: `*`, `*.` + the host after its first dot,
    /// the exact host. `host` is already normalized (no port: Tyk matches pins without
    /// port logic).
    fn best_match(&self, host: &str) -> Option<&[CertRef]> {
        let wildcard = host.split_once('.').map(|(_, rest)| format!("*.{rest}"));
        [Some(host.to_owned()), wildcard, Some("*".to_owned())]
            .into_iter()
            .flatten()
            .find_map(|key| self.by_host.get(&key))
            .map(Vec::as_slice)
    }
}

/// A map key as it is matched: lowercase, IPv6 without brackets. A key with a scheme or a
/// port could never match (Tyk matches the bare host), so it is refused rather than left to
/// silently pin nothing.
fn normalize_pattern(pattern: &str) -> Result<String, &'static str> {
    let pattern = pattern.trim();
    if pattern.contains("://") {
        return Err("pin keys are host patterns without a scheme (as Tyk matches them)");
    }
    if pattern.is_empty() || pattern.contains(['/', ' ', ',']) {
        return Err("not a host, `*.domain` or `*` pattern");
    }
    if pattern == "*" {
        return Ok("*".to_owned());
    }
    let host_port = split_host_port(pattern);
    if host_port.port.is_some() {
        return Err(
            "pins match the host without its port (Tyk's rule), so a key with a \
                    port never matches: write the host alone",
        );
    }
    Ok(host_port.host.trim_end_matches('.').to_ascii_lowercase())
}

/// Reads one pinned key: inline `PUBLIC KEY` PEM (self-contained, known by the SHA-256 of
/// its SPKI DER), or a store public-key ID / bare SPKI SHA-256 as [`CertRef::parse`] reads an
/// ID (with a store: a store ID; without: the hash itself).
pub fn parse_public_key(entry: &str, store_configured: bool) -> Result<CertRef, String> {
    if !looks_like_pem(entry) {
        return CertRef::parse(entry, store_configured).map_err(|_| NOT_A_PUBLIC_KEY.to_owned());
    }
    let bundle = parse_bundle(entry).map_err(|e| format!("inline PEM: {e}"))?;
    if !bundle.certificates.is_empty() {
        return Err(
            "inline PEM holds a certificate: a pin is the upstream's `PUBLIC KEY` \
                    (`openssl x509 -pubkey -noout -in cert.pem` prints it)"
                .to_owned(),
        );
    }
    let public_key = bundle
        .public_keys
        .first()
        .ok_or("inline PEM holds no `PUBLIC KEY` block")?;
    Ok(CertRef::Pinned {
        fingerprint: Fingerprint::of_der(&public_key.der),
        not_after: None,
        has_private_key: false,
    })
}

/// The keys an upstream at `authority` must present (Tyk `getPinnedPublicKeys`): any match
/// in the API map beats any match in the global map; `api` is `None` when the API's
/// `certificate_pinning_disabled` is set (global pins still apply). `None`: not pinned.
pub fn pins_for_host<'a>(
    authority: &str,
    api: Option<&'a PinMap>,
    global: &'a PinMap,
) -> Option<&'a [CertRef]> {
    if api.is_none_or(PinMap::is_empty) && global.is_empty() {
        return None;
    }
    let host = normalized_host(authority);
    api.and_then(|map| map.best_match(&host))
        .or_else(|| global.best_match(&host))
}

/// An API whose target host is pinned: what the filter needs to answer a mismatch. Cheap to
/// clone (one reference count), so each request to such an API keeps its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedUpstream {
    /// The target host without its port (Tyk names the host it dialled).
    host: Arc<str>,
}

impl PinnedUpstream {
    pub fn new(authority: &str) -> Self {
        PinnedUpstream {
            host: Arc::from(split_host_port(authority).host),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Tyk's error, verbatim (`gateway/cert.go`, `customDialTLSCheck`).
    pub fn mismatch_message(&self) -> String {
        format!(
            "https://{} certificate public key pinning error. Public keys do not match.",
            self.host
        )
    }
}

/// `response.code_details` of a request whose upstream connection failed certificate
/// verification. Envoy 1.40 writes `upstream_reset_before_response_started{remote_connection_failure|TLS_error:|268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify_cert_failed:_cert_hash_and_spki:TLS_error_end}`
/// for a key that matches no pin (`envoy-config/ENVOY-FACTS.md`). A pinned cluster verifies
/// no chain, so on it a verification failure is a pin mismatch.
pub fn is_verification_failure(code_details: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"CERTIFICATE_VERIFY_FAILED";
    code_details
        .windows(NEEDLE.len())
        .any(|window| window == NEEDLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hex "key" whose bytes spell a readable name, for table tests.
    fn key(name: &str) -> String {
        Fingerprint::of_der(name.as_bytes()).to_hex()
    }

    fn map(entries: &[(&str, &str)]) -> PinMap {
        let entries = entries
            .iter()
            .map(|(host, names)| {
                let keys: Vec<String> = names.split(',').map(key).collect();
                (host.to_string(), keys.join(","))
            })
            .collect();
        PinMap::from_entries(&entries, false).unwrap()
    }

    fn pinned(host: &str, api: Option<&PinMap>, global: &PinMap) -> Option<Vec<String>> {
        pins_for_host(host, api, global).map(|keys| {
            keys.iter()
                .map(|k| {
                    // Back from the hash to the name used in the table.
                    ["any", "wild", "exact", "global", "k1", "k2"]
                        .into_iter()
                        .find(|name| k.fingerprint() == Fingerprint::of_der(name.as_bytes()))
                        .unwrap_or("?")
                        .to_owned()
                })
                .collect()
        })
    }

    /// Tyk's `getPinnedPublicKeys` (gateway/cert.go): `*` < `*.rest` < the exact host, one
    /// level deep, and no port logic (the host it gets is `SplitHostPort`'s).
    #[test]
    fn host_rules_table() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case] = &[
            ("127.0.0.1:8443", &[("127.0.0.1", "exact")], Some("exact")),
            ("127.0.0.1", &[("*", "any")], Some("any")),
            (
                "api.example.com",
                &[("*.example.com", "wild")],
                Some("wild"),
            ),
            (
                "api.example.com:9443",
                &[("*.example.com", "wild")],
                Some("wild"),
            ),
            ("example.com", &[("*.example.com", "wild")], None),
            ("a.b.example.com", &[("*.example.com", "wild")], None),
            (
                "api.example.com",
                &[("*", "any"), ("*.example.com", "wild")],
                Some("wild"),
            ),
            (
                "api.example.com",
                &[("*.example.com", "wild"), ("api.example.com", "exact")],
                Some("exact"),
            ),
            (
                "API.Example.COM.",
                &[("api.example.com", "exact")],
                Some("exact"),
            ),
            ("[::1]:8443", &[("::1", "exact")], Some("exact")),
            ("[::1]:8443", &[("[::1]", "exact")], Some("exact")),
            ("localhost", &[("*.localhost", "wild")], None),
            ("other.test", &[("api.example.com", "exact")], None),
            ("two.test", &[("*", "k1,k2")], Some("k1,k2")),
        ];
        for (host, entries, want) in cases {
            let want = want.map(|w| w.split(',').map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(
                pinned(host, None, &map(entries)),
                want,
                "{host} with {entries:?}"
            );
        }
    }

    #[test]
    fn any_api_match_beats_any_global_match_and_disabled_leaves_the_global_map() {
        let global = map(&[("api.example.com", "global")]);
        let api = map(&[("*", "any")]);
        assert_eq!(
            pinned("api.example.com:443", Some(&api), &global),
            Some(vec!["any".to_owned()])
        );
        // `certificate_pinning_disabled`: the API map is not consulted.
        assert_eq!(
            pinned("api.example.com:443", None, &global),
            Some(vec!["global".to_owned()])
        );
        let unrelated = map(&[("other.test", "exact")]);
        assert_eq!(
            pinned("api.example.com", Some(&unrelated), &global),
            Some(vec!["global".to_owned()])
        );
        assert_eq!(pinned("api.example.com", None, &PinMap::default()), None);
    }

    #[test]
    fn keys_that_can_never_match_are_refused_with_the_reason() {
        for (pattern, needle) in [
            ("https://api.example.com", "without a scheme"),
            ("api.example.com:8443", "without its port"),
            ("[::1]:8443", "without its port"),
            ("", "not a host"),
            ("a b", "not a host"),
        ] {
            let entries = BTreeMap::from([(pattern.to_owned(), key("k1"))]);
            let (at, reason) = PinMap::from_entries(&entries, false).unwrap_err();
            assert_eq!(at, pattern);
            assert!(reason.contains(needle), "{pattern}: {reason}");
        }
        let empty = BTreeMap::from([("*".to_owned(), " , ".to_owned())]);
        assert!(
            PinMap::from_entries(&empty, false)
                .unwrap_err()
                .1
                .contains("at least one public key")
        );
    }

    #[test]
    fn a_key_is_an_id_a_hash_or_inline_public_key_pem() {
        let spki = b"not really DER, but hashed all the same";
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(spki);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n");
        let inline = parse_public_key(&pem, true).unwrap();
        assert_eq!(inline.fingerprint(), Fingerprint::of_der(spki));
        assert!(matches!(inline, CertRef::Pinned { .. }));
        let hex = key("k1");
        assert!(matches!(
            parse_public_key(&format!("acme{hex}"), true).unwrap(),
            CertRef::StoreId { id, .. } if id == format!("acme{hex}")
        ));
        assert_eq!(
            parse_public_key(&hex, false).unwrap().fingerprint(),
            Fingerprint::parse_hex(&hex).unwrap()
        );
        assert_eq!(
            parse_public_key("/etc/tyk/pin.pub", true).unwrap_err(),
            NOT_A_PUBLIC_KEY
        );
        assert_eq!(
            parse_public_key("wrong", false).unwrap_err(),
            NOT_A_PUBLIC_KEY
        );
    }

    #[test]
    fn the_mismatch_message_is_tyks_with_the_host_and_no_port() {
        let pinned = PinnedUpstream::new("127.0.0.1:8443");
        assert_eq!(
            pinned.mismatch_message(),
            "https://127.0.0.1 certificate public key pinning error. Public keys do not match."
        );
        assert_eq!(PinnedUpstream::new("[::1]:443").host(), "::1");
    }

    #[test]
    fn only_a_certificate_verification_failure_is_a_mismatch() {
        let envoy = b"upstream_reset_before_response_started{remote_connection_failure|TLS_error:|268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify_cert_failed:_cert_hash_and_spki:TLS_error_end}";
        assert!(is_verification_failure(envoy));
        assert!(!is_verification_failure(b"via_upstream"));
        assert!(!is_verification_failure(
            b"upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}"
        ));
        assert!(!is_verification_failure(b""));
    }
}
