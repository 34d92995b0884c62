//! Upstream client certificates: which certificate Envoy presents to an API's upstream
//! (SPEC §6), and the Envoy cluster that carries it.

use crate::authority::split_host_port;
use crate::cert_ref::CertRef;
use crate::fingerprint::Fingerprint;
use rustc_hash::FxHashMap;

/// Tyk's `upstream_certificates` / `security.certificates.upstream`: host pattern → certificate.
/// Keys are stored normalized (lowercase, IPv6 without brackets unless a port follows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamCertMap {
    by_key: FxHashMap<String, CertRef>,
}

/// How specific a match was; Tyk precedence, low to high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    AnyHost,
    WildcardHost,
    WildcardHostPort,
    ExactHost,
    ExactHostPort,
}

impl UpstreamCertMap {
    /// Builds a map from config entries. Errors carry the offending key and the reason.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, CertRef)>,
    ) -> Result<Self, (String, String)> {
        let mut by_key = FxHashMap::default();
        for (key, cert) in entries {
            if key.contains("://") {
                return Err((
                    key.to_owned(),
                    "map keys are host[:port] without a scheme (Tyk matches `api.example.com`, not `https://api.example.com`)".to_owned(),
                ));
            }
            if key.trim().is_empty() || key.contains(['/', ' ']) {
                return Err((
                    key.to_owned(),
                    "not a host, host:port or `*` pattern".to_owned(),
                ));
            }
            by_key.insert(normalize_key(key), cert);
        }
        Ok(UpstreamCertMap { by_key })
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn certificates(&self) -> impl Iterator<Item = &CertRef> {
        self.by_key.values()
    }

    /// The most specific entry for `authority` (`host[:port]`), with its specificity.
    fn best_match(&self, authority: &str) -> Option<(Specificity, &CertRef)> {
        let hp = split_host_port(authority);
        let host = hp.host.to_ascii_lowercase();
        let port = hp.port;
        let with_port = |h: &str| port.map(|p| join_host_port(h, p));
        // One level deep: `*.` + everything after the first dot (so `a.b.example.com`
        // never matches `*.example.com`). A host without a dot has no wildcard form.
        let wildcard = host.split_once('.').map(|(_, rest)| format!("*.{rest}"));
        let candidates = [
            (Specificity::ExactHostPort, with_port(&host)),
            (Specificity::ExactHost, Some(host.clone())),
            (
                Specificity::WildcardHostPort,
                wildcard.as_deref().and_then(with_port),
            ),
            (Specificity::WildcardHost, wildcard.clone()),
            (Specificity::AnyHost, Some("*".to_owned())),
        ];
        candidates.into_iter().find_map(|(specificity, key)| {
            key.and_then(|k| self.by_key.get(&k))
                .map(|cert| (specificity, cert))
        })
    }
}

/// Picks the upstream client certificate for `authority` (Tyk `getCertificateIDForHost`):
/// any match in the API map beats any match in the global map; the API map is skipped
/// when `upstream_certificates_disabled` is set.
pub fn choose_upstream_certificate<'a>(
    authority: &str,
    api_map: Option<&'a UpstreamCertMap>,
    global_map: &'a UpstreamCertMap,
) -> Option<&'a CertRef> {
    api_map
        .and_then(|m| m.best_match(authority))
        .or_else(|| global_map.best_match(authority))
        .map(|(_, cert)| cert)
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn normalize_key(key: &str) -> String {
    let key = key.trim();
    if key == "*" {
        return "*".to_owned();
    }
    let hp = split_host_port(key);
    let host = hp.host.to_ascii_lowercase();
    match hp.port {
        Some(port) => join_host_port(&host, port),
        None => host,
    }
}

/// An API's upstream clusters, named once at configure time (naming hashes the API ID):
/// per request only the choice between them is left, since a store certificate can lose
/// its private key (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRoute {
    /// The cluster without a client certificate.
    pub plain: String,
    /// The certificate chosen for the target's host, and its cluster.
    pub with_certificate: Option<(CertRef, String)>,
}

impl UpstreamRoute {
    /// The clusters of API `api_id` whose target is `authority`, its own map (`None` when
    /// disabled) taking precedence over the global one.
    pub fn plan(
        api_id: &str,
        authority: &str,
        api_map: Option<&UpstreamCertMap>,
        global: &UpstreamCertMap,
    ) -> Self {
        let with_certificate =
            choose_upstream_certificate(authority, api_map, global).map(|cert| {
                (
                    cert.clone(),
                    cluster_name(api_id, Some(&cert.fingerprint())),
                )
            });
        UpstreamRoute {
            plain: cluster_name(api_id, None),
            with_certificate,
        }
    }
}

/// Name of the Envoy cluster for an API's upstream, plain or with a client certificate.
/// The one naming rule, shared by the filter (routing header) and the renderer (clusters).
pub fn cluster_name(api_id: &str, client_certificate: Option<&Fingerprint>) -> String {
    let safe: String = api_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Sanitizing can merge distinct IDs (`a.b`, `a_b`); a short digest keeps them apart.
    let api_digest = Fingerprint::of_der(api_id.as_bytes()).to_hex();
    let api_tag = api_digest.get(..8).unwrap_or_default();
    match client_certificate {
        None => format!("mtls-gate_{safe}_{api_tag}"),
        Some(fp) => {
            let hex = fp.to_hex();
            format!(
                "mtls-gate_{safe}_{api_tag}_cert_{}",
                hex.get(..16).unwrap_or_default()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pinned reference whose fingerprint encodes a readable name, for table tests.
    fn cert(name: &str) -> CertRef {
        CertRef::Pinned {
            fingerprint: Fingerprint::of_der(name.as_bytes()),
            not_after: None,
            has_private_key: true,
        }
    }

    fn map(entries: &[(&str, &str)]) -> UpstreamCertMap {
        UpstreamCertMap::from_entries(entries.iter().map(|(k, v)| (*k, cert(v)))).unwrap()
    }

    fn chosen(
        host: &str,
        api: Option<&UpstreamCertMap>,
        global: &UpstreamCertMap,
    ) -> Option<Fingerprint> {
        choose_upstream_certificate(host, api, global).map(CertRef::fingerprint)
    }

    fn named(name: &str) -> Option<Fingerprint> {
        Some(Fingerprint::of_der(name.as_bytes()))
    }

    /// Tyk's `TestGetCertificateIDForHost` cases (gateway/cert_test.go), one map each,
    /// plus the port, IPv6 and case rules of SPEC §6.
    #[test]
    fn host_rules_table() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case] = &[
            ("example.com", &[("*", "any")], Some("any")),
            ("example.com", &[("example.com", "exact")], Some("exact")),
            ("example.com", &[("other.com", "other")], None),
            (
                "api.example.com",
                &[("*.example.com", "wild")],
                Some("wild"),
            ),
            ("example.com", &[("*.example.com", "wild")], None),
            ("a.b.example.com", &[("*.example.com", "wild")], None),
            (
                "a.b.example.com",
                &[("*.b.example.com", "wild")],
                Some("wild"),
            ),
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
                "api.example.com",
                &[
                    ("*", "any"),
                    ("*.example.com", "wild"),
                    ("api.example.com", "exact"),
                ],
                Some("exact"),
            ),
            (
                "api.example.com:8443",
                &[("*.example.com", "wild")],
                Some("wild"),
            ),
            (
                "api.example.com:8443",
                &[
                    ("*.example.com", "wild"),
                    ("*.example.com:8443", "wildport"),
                ],
                Some("wildport"),
            ),
            (
                "api.example.com:9000",
                &[
                    ("*.example.com", "wild"),
                    ("*.example.com:8443", "wildport"),
                ],
                Some("wild"),
            ),
            (
                "example.com:8443",
                &[("example.com", "exact")],
                Some("exact"),
            ),
            (
                "example.com:8443",
                &[("example.com", "exact"), ("example.com:8443", "exactport")],
                Some("exactport"),
            ),
            (
                "example.com:8443",
                &[("*.example.com:8443", "wildport"), ("example.com", "exact")],
                Some("exact"),
            ),
            (
                "api.example.com:8443",
                &[
                    ("*.example.com:8443", "wildport"),
                    ("api.example.com", "exact"),
                ],
                Some("exact"),
            ),
            ("localhost", &[("*.localhost", "wild")], None),
            ("localhost", &[("*", "any")], Some("any")),
            ("localhost:8080", &[("localhost", "exact")], Some("exact")),
            ("[::1]:8443", &[("::1", "v6")], Some("v6")),
            (
                "[::1]:8443",
                &[("::1", "v6"), ("[::1]:8443", "v6port")],
                Some("v6port"),
            ),
            (
                "API.Example.com",
                &[("api.example.COM", "exact")],
                Some("exact"),
            ),
            ("unmatched.local", &[], None),
        ];
        for (host, entries, want) in cases {
            let m = map(entries);
            assert_eq!(
                chosen(host, None, &m),
                want.and_then(named),
                "host {host} with map {entries:?}"
            );
        }
    }

    #[test]
    fn any_api_map_match_beats_any_global_match() {
        let global = map(&[("api.example.com:8443", "global-exact")]);
        let api = map(&[("*", "api-any")]);
        assert_eq!(
            chosen("api.example.com:8443", Some(&api), &global),
            named("api-any")
        );
        assert_eq!(
            chosen("api.example.com:8443", None, &global),
            named("global-exact")
        );
        let empty_api = map(&[]);
        assert_eq!(
            chosen("api.example.com:8443", Some(&empty_api), &global),
            named("global-exact")
        );
    }

    #[test]
    fn keys_with_a_scheme_are_refused() {
        let err =
            UpstreamCertMap::from_entries([("https://api.example.com", cert("x"))]).unwrap_err();
        assert_eq!(err.0, "https://api.example.com");
        assert!(err.1.contains("without a scheme"));
    }

    #[test]
    fn cluster_names_are_stable_distinct_and_envoy_safe() {
        let fp = Fingerprint::of_der(b"c");
        let plain = cluster_name("api/1", None);
        let with_cert = cluster_name("api/1", Some(&fp));
        assert_eq!(plain, cluster_name("api/1", None));
        assert_ne!(plain, with_cert);
        assert_ne!(cluster_name("a.b", None), cluster_name("a_b", None));
        for name in [plain, with_cert] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
                "{name}"
            );
        }
    }
}
