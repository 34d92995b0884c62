//! An API's `domain` (SPEC §5, §9): any host, one exact host, or a Tyk host template
//! (`{sub:.*}.example.com`, `{tenant}.example.com`), matched as Tyk's router (gorilla/mux)
//! matches it: the whole host, case-insensitively, port ignored.
//!
//! Anything else that is not a host name (`*.example.com`, a URL, a space) would never
//! match a request, and an mTLS API that never matches leaves its upstream open through
//! another API or the default. Such a domain is refused at configure time.

use crate::authority::normalized_host;
use crate::mux_template::{self, Part};
use regex_lite::Regex;
use rustc_hash::FxHashSet;

/// Where an API listens, by host.
#[derive(Debug, Clone)]
pub enum DomainPattern {
    /// Empty `domain`, or `domain_disabled: true`.
    Any,
    /// A lowercase host without port or trailing dot.
    Exact(String),
    /// A Tyk host template, compiled to an anchored case-insensitive regex.
    Template(Regex),
}

impl DomainPattern {
    /// Reads an API's `domain` (`domain_disabled` already applied by the caller).
    pub fn parse(domain: &str) -> Result<DomainPattern, String> {
        let domain = domain.trim();
        if domain.is_empty() {
            return Ok(DomainPattern::Any);
        }
        if domain.contains("://") || domain.contains('/') {
            return Err("a host name, without scheme or path".into());
        }
        if !mux_template::is_template(domain) {
            let host = normalized_host(domain);
            check_host_characters(&host)?;
            return Ok(DomainPattern::Exact(host.into_owned()));
        }
        let parts = mux_template::parse(domain).map_err(|e| e.to_string())?;
        for part in &parts {
            if let Part::Literal(text) = part {
                if text.contains(':') {
                    return Err("a port in a domain template is not supported".into());
                }
                check_host_characters(&text.to_ascii_lowercase())?;
            }
        }
        // mux: a host variable without a pattern is one label.
        mux_template::compile(&parts, "[^.]+", true, true)
            .map(DomainPattern::Template)
            .map_err(|e| e.to_string())
    }

    /// `host` is normalized (lowercase, no port).
    pub fn matches(&self, host: &str) -> bool {
        match self {
            DomainPattern::Any => true,
            DomainPattern::Exact(exact) => exact == host,
            DomainPattern::Template(regex) => regex.is_match(host),
        }
    }
}

/// A literal host part: letters, digits, `-`, `.`, `_`. A `*` gets a hint, since Tyk's
/// wildcard is a template.
fn check_host_characters(host: &str) -> Result<(), String> {
    if host.contains('*') {
        return Err(
            "`*` is not a Tyk domain wildcard; write a template such as {sub}.example.com".into(),
        );
    }
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        // IPv6 literals reach here without brackets and with colons.
        Some(':') if host.parse::<std::net::Ipv6Addr>().is_ok() => Ok(()),
        Some(c) => Err(format!("{c:?} cannot appear in a host name")),
        None => Ok(()),
    }
}

/// Hosts named by the APIs that need a client certificate: the SNI check's trigger set.
#[derive(Debug, Clone, Default)]
pub struct DomainSet {
    exact: FxHashSet<String>,
    templates: Vec<Regex>,
}

impl DomainSet {
    pub fn insert(&mut self, pattern: &DomainPattern) {
        match pattern {
            DomainPattern::Any => {}
            DomainPattern::Exact(host) => {
                self.exact.insert(host.clone());
            }
            DomainPattern::Template(regex) => self.templates.push(regex.clone()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.templates.is_empty()
    }

    /// Does some API of the set listen on `host` (normalized)?
    pub fn contains(&self, host: &str) -> bool {
        self.exact.contains(host) || self.templates.iter().any(|t| t.is_match(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "anything.test", true),
            ("API.Example.com", "api.example.com", true),
            ("api.example.com:8443", "api.example.com", true),
            ("api.example.com", "x.api.example.com", false),
            ("{sub:.*}.example.com", "a.example.com", true),
            ("{sub:.*}.example.com", "a.b.example.com", true),
            ("{sub:.*}.example.com", "example.com", false),
            ("{sub:.*}.example.com", "a.example.com.evil.test", false),
            ("{sub:.*}.example.com", "aXexample.com", false),
            ("{sub}.example.com", "a.example.com", true),
            ("{sub}.example.com", "a.b.example.com", false),
            ("{sub}.Example.com", "a.example.com", true),
            ("{t:[a-z]+}-api.example.com", "acme-api.example.com", true),
            ("{t:[a-z]+}-api.example.com", "ac1-api.example.com", false),
        ];
        for (domain, host, want) in cases {
            let pattern = DomainPattern::parse(domain).unwrap();
            assert_eq!(pattern.matches(host), *want, "{domain} vs {host}");
        }
    }

    #[test]
    fn domains_that_could_never_match_are_refused() {
        for domain in [
            "*.example.com",
            "https://api.example.com",
            "api.example.com/x",
            "api example.com",
            "{sub:.*}.example.com:8443",
            "{sub",
            "{sub:(}.example.com",
            "a,b.test",
        ] {
            assert!(DomainPattern::parse(domain).is_err(), "{domain}");
        }
    }

    #[test]
    fn domain_set_covers_exact_hosts_and_templates() {
        let mut set = DomainSet::default();
        assert!(set.is_empty());
        set.insert(&DomainPattern::parse("a.test").unwrap());
        set.insert(&DomainPattern::parse("{x}.b.test").unwrap());
        set.insert(&DomainPattern::Any);
        assert!(set.contains("a.test") && set.contains("q.b.test"));
        assert!(!set.contains("b.test") && !set.contains("c.test"));
    }
}
