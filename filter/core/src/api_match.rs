//! Which API a request belongs to (SPEC §5), in Tyk's order: the APIs bound to a domain
//! (exact host or host template) that covers the host first, then the APIs for any host;
//! within each tier, the longest `listen_path` (Tyk's length: template variables count as
//! nothing) that matches the canonical path.

use crate::domain::DomainPattern;
use crate::listen_path::ListenPath;
use rustc_hash::FxHashMap;

/// What routing needs of an API: where it listens by host and by path.
pub trait Route {
    fn domain(&self) -> &DomainPattern;
    fn listen_path(&self) -> &ListenPath;
}

/// Index over the compiled APIs, built once per configuration.
#[derive(Debug, Clone, Default)]
pub struct ApiRouter {
    /// API indexes per exact lowercase domain, longest listen path first.
    by_domain: FxHashMap<String, Vec<usize>>,
    /// APIs with a host template, longest listen path first (checked one by one).
    by_template: Vec<usize>,
    /// APIs for any host, longest listen path first.
    any_domain: Vec<usize>,
}

impl ApiRouter {
    pub fn new<R: Route>(apis: &[R]) -> Self {
        let mut router = ApiRouter::default();
        for (index, api) in apis.iter().enumerate() {
            match api.domain() {
                DomainPattern::Any => router.any_domain.push(index),
                DomainPattern::Exact(host) => router
                    .by_domain
                    .entry(host.clone())
                    .or_default()
                    .push(index),
                DomainPattern::Template(_) => router.by_template.push(index),
            }
        }
        // Among equal lengths in one tier, the earlier API in the config wins: the index
        // breaks ties (an unstable sort, whose code is smaller in the .wasm than a stable one).
        let longest_first = |list: &mut Vec<usize>| {
            list.sort_unstable_by_key(|&i| {
                let length = apis.get(i).map_or(0, |a| a.listen_path().tyk_length());
                (std::cmp::Reverse(length), i)
            });
        };
        router.by_domain.values_mut().for_each(longest_first);
        longest_first(&mut router.by_template);
        longest_first(&mut router.any_domain);
        router
    }

    /// `host` must be normalized (lowercase, no port); `path` canonical
    /// ([`crate::request_path::canonical`]).
    pub fn select<R: Route>(&self, apis: &[R], host: &str, path: &str) -> Option<usize> {
        // Only a template's candidates need their domain matched: `by_domain` files each API
        // under its exact domain, so its candidates for `host` match it (comparing again is a
        // byte-at-a-time `memcmp` in wasm), and `any_domain`'s match every host.
        let first_match = |candidates: &[usize], domain_matched: bool| {
            candidates.iter().copied().find(|&i| {
                apis.get(i).is_some_and(|api| {
                    (domain_matched || api.domain().matches(host))
                        && api.listen_path().matches(path)
                })
            })
        };
        let length = |i: usize| apis.get(i).map_or(0, |a| a.listen_path().tyk_length());
        let exact = self
            .by_domain
            .get(host)
            .and_then(|list| first_match(list, true));
        let template = match self.by_template.is_empty() {
            true => None,
            false => first_match(&self.by_template, false),
        };
        let bound = match (exact, template) {
            // Tyk leaves equal lengths to an unstable sort; the exact host, being the more
            // specific, wins here.
            (Some(e), Some(t)) if length(t) > length(e) => Some(t),
            (Some(e), _) => Some(e),
            (None, t) => t,
        };
        bound.or_else(|| first_match(&self.any_domain, true))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::GateConfig;

    fn assert_selects(config: &GateConfig, cases: &[(&str, &str, Option<&str>)]) {
        for (host, path, want) in cases {
            let got = config
                .router()
                .select(&config.apis, host, path)
                .map(|i| config.apis[i].api_id.as_str());
            assert_eq!(got, *want, "{host}{path}");
        }
    }

    #[test]
    fn api_selection_table() {
        let config = GateConfig::from_json(
            br#"{"apis": [
                {"api_id": "root-any", "proxy": {"listen_path": "/"}},
                {"api_id": "v1-any", "proxy": {"listen_path": "/v1/"}},
                {"api_id": "v1-a", "domain": "a.test", "proxy": {"listen_path": "/v1/"}},
                {"api_id": "v1-admin-a", "domain": "a.test", "proxy": {"listen_path": "/v1/admin"}},
                {"api_id": "b-only", "domain": "b.test", "proxy": {"listen_path": "/b/"}}
            ]}"#,
        )
        .unwrap();
        let cases = [
            ("a.test", "/v1/users", Some("v1-a")),
            ("a.test", "/v1/admin/x", Some("v1-admin-a")),
            ("a.test", "/other", Some("root-any")),
            ("c.test", "/v1/users", Some("v1-any")),
            ("c.test", "/", Some("root-any")),
            ("b.test", "/b/x", Some("b-only")),
            ("b.test", "/v1/x", Some("v1-any")),
        ];
        assert_selects(&config, &cases);
    }

    #[test]
    fn templates_and_disabled_domains_select_as_tyk() {
        let config = GateConfig::from_json(
            br#"{"apis": [
                {"api_id": "root-any", "proxy": {"listen_path": "/"}},
                {"api_id": "tenant", "domain": "{t:[a-z]+}.example.com", "proxy": {"listen_path": "/"}},
                {"api_id": "tenant-admin", "domain": "{t}.example.com", "proxy": {"listen_path": "/admin/"}},
                {"api_id": "exact", "domain": "www.example.com", "proxy": {"listen_path": "/"}},
                {"api_id": "disabled", "domain": "off.test", "domain_disabled": true,
                 "proxy": {"listen_path": "/off/"}},
                {"api_id": "versioned", "proxy": {"listen_path": "/api/{version}/orders"}}
            ]}"#,
        )
        .unwrap();
        let cases = [
            ("acme.example.com", "/x", Some("tenant")),
            ("acme.example.com", "/admin/x", Some("tenant-admin")),
            ("www.example.com", "/x", Some("exact")),
            // The template is longer than the exact domain's `/` here.
            ("www.example.com", "/admin/x", Some("tenant-admin")),
            ("a1.example.com", "/x", Some("root-any")),
            ("other.test", "/off/x", Some("disabled")),
            ("off.test", "/off/x", Some("disabled")),
            ("other.test", "/api/v2/orders/7", Some("versioned")),
            ("other.test", "/api/v2/users", Some("root-any")),
        ];
        assert_selects(&config, &cases);
    }

    #[test]
    fn no_api_matches_when_nothing_covers_the_path() {
        let config = GateConfig::from_json(
            br#"{"apis": [{"api_id": "a", "domain": "a.test", "proxy": {"listen_path": "/a/"}}]}"#,
        )
        .unwrap();
        assert_eq!(config.router().select(&config.apis, "a.test", "/b"), None);
        assert_eq!(config.router().select(&config.apis, "x.test", "/a/"), None);
    }
}
