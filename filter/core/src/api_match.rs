//! Which API a request belongs to (SPEC §5): the exact domain first, then the APIs with an
//! empty domain; within each, the longest `listen_path` prefix.

use crate::config::ApiSpec;
use std::collections::HashMap;

/// Index over the compiled APIs, built once per configuration.
#[derive(Debug, Clone, Default)]
pub struct ApiRouter {
    /// API indexes per lowercase domain, longest listen path first.
    by_domain: HashMap<String, Vec<usize>>,
    /// APIs with an empty domain (any host), longest listen path first.
    any_domain: Vec<usize>,
}

impl ApiRouter {
    pub fn new(apis: &[ApiSpec]) -> Self {
        let mut router = ApiRouter::default();
        for (index, api) in apis.iter().enumerate() {
            if api.domain.is_empty() {
                router.any_domain.push(index);
            } else {
                router
                    .by_domain
                    .entry(api.domain.clone())
                    .or_default()
                    .push(index);
            }
        }
        let longest_first = |list: &mut Vec<usize>| {
            list.sort_by_key(|&i| {
                std::cmp::Reverse(apis.get(i).map_or(0, |a| a.listen_path.len()))
            });
        };
        router.by_domain.values_mut().for_each(longest_first);
        longest_first(&mut router.any_domain);
        router
    }

    /// `host` must be normalized (lowercase, no port); `path` is the request path, with or
    /// without its query string.
    pub fn select(&self, apis: &[ApiSpec], host: &str, path: &str) -> Option<usize> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let longest_prefix = |candidates: &[usize]| {
            candidates.iter().copied().find(|&i| {
                apis.get(i)
                    .is_some_and(|api| path.starts_with(api.listen_path.as_str()))
            })
        };
        self.by_domain
            .get(host)
            .and_then(|list| longest_prefix(list))
            .or_else(|| longest_prefix(&self.any_domain))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::GateConfig;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

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
            ("a.test", "/v1/admin/x?y=1", Some("v1-admin-a")),
            ("a.test", "/other", Some("root-any")),
            ("c.test", "/v1/users", Some("v1-any")),
            ("c.test", "/", Some("root-any")),
            ("b.test", "/b/x", Some("b-only")),
            ("b.test", "/v1/x", Some("v1-any")),
        ];
        for (host, path, want) in cases {
            let got = config
                .router()
                .select(&config.apis, host, path)
                .map(|i| config.apis[i].api_id.as_str());
            assert_eq!(got, want, "{host}{path}");
        }
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
