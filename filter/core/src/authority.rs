//! Host and port handling shared by API matching, the SNI check and upstream matching.
//!
//! Kept deliberately small: mtls-gate only ever needs `host[:port]` out of an `:authority`,
//! a Tyk map key or an API's `proxy.target_url` (`scheme://host[:port]/...`). A full URL
//! parser (`url` + IDNA tables) would add more to the wasm than everything else here.

use std::borrow::Cow;

/// `host` and optional `port` of an authority. IPv6 literals lose their brackets, so
/// `[::1]:8443` and the map key `::1` name the same host (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPort<'a> {
    pub host: &'a str,
    pub port: Option<&'a str>,
}

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 literal.
pub fn split_host_port(authority: &str) -> HostPort<'_> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        return match bracketed.split_once(']') {
            Some((host, rest)) => HostPort {
                host,
                port: rest.strip_prefix(':').filter(|p| !p.is_empty()),
            },
            None => HostPort {
                host: authority,
                port: None,
            },
        };
    }
    match authority.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 literal, no port.
        Some((host, _)) if host.contains(':') => HostPort {
            host: authority,
            port: None,
        },
        Some((host, port)) if !port.is_empty() => HostPort {
            host,
            port: Some(port),
        },
        Some((host, _)) => HostPort { host, port: None },
        None => HostPort {
            host: authority,
            port: None,
        },
    }
}

/// Is `authority` exactly `host[:port]` (RFC 3986 §3.2.2, without userinfo)? The host is a
/// registered name (letters, digits, `-`, `.`, `_`, `~`), an IPv4 address or a bracketed
/// IPv6 literal; the port, if any, is at most 65535. `x@h`, `h:1:2` and `a,b` are not: an
/// upstream may read such a Host differently from the filter, so where some API needs a
/// client certificate they are refused instead of being matched to no domain.
pub fn is_valid_authority(authority: &str) -> bool {
    is_plain_name(authority) || is_valid_authority_in_full(authority)
}

/// [`is_valid_authority`]'s full reading, for any authority.
fn is_valid_authority_in_full(authority: &str) -> bool {
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((v6, rest)) => (
                v6.parse::<std::net::Ipv6Addr>().is_ok(),
                match rest {
                    "" => None,
                    _ => Some(rest.strip_prefix(':').unwrap_or("x")),
                },
            ),
            None => (false, None),
        },
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let name_ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            (name_ok, port)
        }
    };
    // An empty port is allowed (RFC 3986); `+1` is not a port, though `u16` parses it.
    let port_ok = port.is_none_or(|p| {
        p.is_empty() || (p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok())
    });
    host_ok && port_ok
}

/// A request's `:authority` read once: its [`normalized_host`], and whether it
/// [`is_valid_authority`]. A plain name (the usual Host) answers both in one pass.
pub fn read_authority(authority: &str) -> (Cow<'_, str>, bool) {
    match is_plain_name(authority) {
        true => (Cow::Borrowed(authority), true),
        false => (
            normalized_host_in_full(authority),
            is_valid_authority_in_full(authority),
        ),
    }
}

/// The lowercase host of an `:authority`, port and IPv6 brackets removed. Hosts are
/// case-insensitive (RFC 9110 §4.2.3); every comparison goes through this.
/// Borrowed when the host is lowercase already (the usual case on every request).
pub fn normalized_host(authority: &str) -> Cow<'_, str> {
    match is_plain_name(authority) {
        true => Cow::Borrowed(authority),
        false => normalized_host_in_full(authority),
    }
}

/// [`normalized_host`]'s full reading, for any authority.
fn normalized_host_in_full(authority: &str) -> Cow<'_, str> {
    let host = split_host_port(authority.trim()).host.trim_end_matches('.');
    match host.bytes().any(|b| b.is_ascii_uppercase()) {
        true => Cow::Owned(host.to_ascii_lowercase()),
        false => Cow::Borrowed(host),
    }
}

/// A Host as clients almost always send it: a registered name of lowercase letters, digits,
/// `-`, `.`, `_` and `~`, with no port and no trailing dot. It is valid, and its own
/// normalized host: every request's Host and SNI are answered in one pass over their bytes,
/// where the general readings (trim, split at a port, strip dots, lowercase) cost several
/// times that in wasm instructions.
fn is_plain_name(authority: &str) -> bool {
    let bytes = authority.as_bytes();
    bytes.last().is_some_and(|&last| last != b'.')
        && bytes
            .iter()
            .all(|&b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~'))
}

/// An upstream target parsed from Tyk's `proxy.target_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    pub scheme: String,
    /// `host[:port]` as written (lowercased), which is what Tyk matches upstream maps against.
    pub authority: String,
}

/// Parses `http(s)://authority[/path...]`. Returns a reason on error.
pub fn parse_target_url(url: &str) -> Result<TargetUrl, &'static str> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("must be an absolute http:// or https:// URL")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("scheme must be http or https");
    }
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let host_port = split_host_port(&authority);
    if host_port.host.is_empty() {
        return Err("has no host");
    }
    if host_port
        .port
        .is_some_and(|port| port.parse::<u16>().map_or(true, |p| p == 0))
    {
        return Err("has an invalid port");
    }
    Ok(TargetUrl { scheme, authority })
}

impl TargetUrl {
    /// The port Envoy must connect to: explicit, or the scheme's default.
    pub fn port(&self) -> u16 {
        split_host_port(&self.authority)
            .port
            .and_then(|p| p.parse().ok())
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 })
    }

    pub fn host(&self) -> &str {
        split_host_port(&self.authority).host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_split_table() {
        let cases = [
            ("example.com", "example.com", None),
            ("example.com:8443", "example.com", Some("8443")),
            ("example.com:", "example.com", None),
            ("[::1]:8443", "::1", Some("8443")),
            ("[::1]", "::1", None),
            ("::1", "::1", None),
            ("fe80::1:2", "fe80::1:2", None),
            ("", "", None),
        ];
        for (input, host, port) in cases {
            assert_eq!(split_host_port(input), HostPort { host, port }, "{input}");
        }
    }

    #[test]
    fn authority_syntax_table() {
        for good in [
            "example.com",
            "Example.COM:8443",
            "example.com:",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8443",
            "a_b.test",
            "host.",
        ] {
            assert!(is_valid_authority(good), "{good}");
        }
        for bad in [
            "", "h:1:2", "x@h", "a,b", "a b", "[::1", "[zz]:1", "[::1]x", "h:99999", "h:-1",
            "h:+1", "::1", "h/x", "h\\x", "h%2e", ":80",
        ] {
            assert!(!is_valid_authority(bad), "{bad}");
        }
    }

    #[test]
    fn normalized_host_drops_port_case_and_trailing_dot() {
        assert_eq!(normalized_host("API.Example.COM:443"), "api.example.com");
        assert_eq!(normalized_host("api.example.com."), "api.example.com");
        assert_eq!(normalized_host("[::1]:80"), "::1");
        assert_eq!(normalized_host(" api.example.com "), "api.example.com");
        assert!(matches!(
            normalized_host("api.example.com"),
            Cow::Borrowed("api.example.com")
        ));
    }

    /// The one-pass reading of a plain name agrees with the general one: every string of up
    /// to 4 characters over the bytes that matter.
    #[test]
    fn plain_names_read_as_the_general_reading_does() {
        let alphabet = [
            "a", "A", "0", "-", ".", "_", "~", ":", "[", "]", " ", "@", "é",
        ];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            texts = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            for text in texts.iter().filter(|t| is_plain_name(t)) {
                assert_eq!(normalized_host_in_full(text), text.as_str(), "{text:?}");
                assert!(is_valid_authority_in_full(text), "{text:?}");
            }
            for text in &texts {
                let (host, valid) = read_authority(text);
                assert_eq!(host, normalized_host_in_full(text), "{text:?}");
                assert_eq!(valid, is_valid_authority_in_full(text), "{text:?}");
            }
        }
    }

    #[test]
    fn target_url_table() {
        let ok = [
            ("http://httpbin.org", "http", "httpbin.org", 80),
            (
                "https://API.example.com:8443/v1?x=1",
                "https",
                "api.example.com:8443",
                8443,
            ),
            ("https://user:pw@host.test/", "https", "host.test", 443),
            ("http://[::1]:9000/", "http", "[::1]:9000", 9000),
        ];
        for (url, scheme, authority, port) in ok {
            let target = parse_target_url(url).unwrap();
            assert_eq!(
                (
                    target.scheme.as_str(),
                    target.authority.as_str(),
                    target.port()
                ),
                (scheme, authority, port),
                "{url}"
            );
        }
        for bad in [
            "httpbin.org",
            "ftp://x",
            "http://",
            "http://:80",
            "http://h:0",
            "http://h:99999",
        ] {
            assert!(parse_target_url(bad).is_err(), "{bad}");
        }
    }
}
