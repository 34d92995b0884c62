//! Header names mtls-gate reads, sets or removes: one place, shared by filter, renderer and docs.
//! And [`RequestHeaders`], the request's headers as one request reads them.

use crate::header_map::HeaderMap;
use crate::host::Host;
use std::borrow::Cow;

/// Set by the filter to the Envoy cluster to route to; read by the route's `cluster_header`.
/// A client's value is always overwritten or removed, and the route removes it upstream.
pub const ROUTING: &str = "x-mtls-gate-cluster";
/// The authenticated session's alias (certificate auth).
pub const KEY_ALIAS: &str = "x-mtls-gate-key-alias";
/// The authenticated session's key (`org_id` + fingerprint).
pub const SESSION_KEY: &str = "x-mtls-gate-key";
/// Leaf fingerprint of the client certificate, for APIs that require one.
pub const CERT_SHA256: &str = "x-mtls-gate-cert-sha256";
/// The matched API.
pub const API_ID: &str = "x-mtls-gate-api-id";
/// Envoy's client-certificate details header. Trusted only as set by Envoy (SANITIZE_SET)
/// and only after its certificate hashes to the connection's own digest.
pub const XFCC: &str = "x-forwarded-client-cert";

/// Headers a client must never be able to inject: removed from every request before the
/// filter sets its own values.
pub const GATE_OWNED: [&str; 5] = [ROUTING, KEY_ALIAS, SESSION_KEY, CERT_SHA256, API_ID];
/// What every name of [`GATE_OWNED`] begins with: a header without it is none of them.
pub const GATE_OWNED_PREFIX: &str = "x-mtls-gate-";

/// The request's headers as the gate read them: all at once when the host can list them
/// ([`Host::request_header_pairs`]), so every later read is free and a write is made only
/// where it changes something; else each header is read from the host when asked.
#[derive(Debug, Default)]
pub struct RequestHeaders {
    /// `None`: the host cannot list them (or they were not read yet).
    pairs: Option<HeaderMap>,
}

impl RequestHeaders {
    /// One read of the whole map, where the host has one.
    pub fn read(host: &dyn Host) -> Self {
        RequestHeaders {
            pairs: host.request_header_pairs(),
        }
    }

    /// The first value of `name` (lower-case) as text, invalid UTF-8 replaced: borrowed
    /// from the snapshot (no allocation for valid UTF-8), or read from the host.
    pub fn get<'a>(&'a self, host: &dyn Host, name: &str) -> Option<Cow<'a, str>> {
        match &self.pairs {
            Some(pairs) => pairs.get(name).map(text_of),
            None => host.request_header(name).map(Cow::Owned),
        }
    }

    /// False only when the snapshot shows `name` (lower-case) absent: a removal of it
    /// would change nothing.
    pub fn may_contain(&self, name: &str) -> bool {
        self.pairs.as_ref().is_none_or(|pairs| pairs.contains(name))
    }

    /// True when the snapshot was read: removals and rewrites can be skipped where they
    /// change nothing.
    pub fn is_snapshot(&self) -> bool {
        self.pairs.is_some()
    }

    /// The names in the snapshot (none without one), in the host's order.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.pairs
            .iter()
            .flat_map(|pairs| pairs.iter().map(|(name, _)| name))
    }

    /// Drops `name` from the snapshot only: later reads see it absent.
    pub fn forget(&mut self, name: &str) {
        if let Some(pairs) = &mut self.pairs {
            pairs.remove(name);
        }
    }

    /// Removes `name` from the request, if it may be there, and from the snapshot.
    pub fn remove(&mut self, host: &dyn Host, name: &str) {
        if !self.may_contain(name) {
            return;
        }
        host.remove_request_header(name);
        self.forget(name);
    }
}

/// `value` as text, invalid UTF-8 replaced. `from_utf8` first: it checks ASCII a word at a
/// time, where `from_utf8_lossy` walks every byte (about 20 wasm instructions each), and
/// every request reads its `:authority` and `:path` this way.
fn text_of(value: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(value) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gate_owned_name_has_the_prefix_the_strip_looks_for() {
        for name in GATE_OWNED {
            assert!(name.starts_with(GATE_OWNED_PREFIX), "{name}");
            assert_eq!(name, name.to_ascii_lowercase());
        }
    }
}
