//! Header names mtls-gate reads, sets or removes: one place, shared by filter, renderer and docs.

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
