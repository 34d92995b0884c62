//! The configuration as written: Tyk's field names and nesting, so a Tyk Classic API
//! definition pastes into `apis` as it is. Unknown fields are ignored, `null` lists and maps
//! read as empty. Every default is a named constant here, and serde fills it in: a field
//! added without one is a compile error, not a silently changed default.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// `store.sync_interval_ms`: how often the syncing worker asks the feed for changes.
pub const DEFAULT_SYNC_INTERVAL_MS: u64 = 500;
/// `store.max_stale_s`: how long certificate auth is served from the last snapshot.
pub const DEFAULT_MAX_STALE_S: u64 = 300;
/// `store.lookup_on_miss`: look up a never-seen certificate once, request paused.
pub const DEFAULT_LOOKUP_ON_MISS: bool = true;
/// `store.max_lookups_in_flight`: lookups one worker may have waiting.
pub const DEFAULT_MAX_LOOKUPS_IN_FLIGHT: u32 = 64;
/// `store.timeout_ms`: timeout of feed and lookup calls.
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// `apis[].active`: Tyk treats a definition without `active` as active.
pub const DEFAULT_API_ACTIVE: bool = true;

/// Tyk definitions often carry `null` for empty lists and maps.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn sync_interval_ms() -> u64 {
    DEFAULT_SYNC_INTERVAL_MS
}
fn max_stale_s() -> u64 {
    DEFAULT_MAX_STALE_S
}
fn lookup_on_miss() -> bool {
    DEFAULT_LOOKUP_ON_MISS
}
fn max_lookups_in_flight() -> u32 {
    DEFAULT_MAX_LOOKUPS_IN_FLIGHT
}
fn timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn api_active() -> bool {
    DEFAULT_API_ACTIVE
}

/// The whole gate.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawGate {
    pub org_id: String,
    pub default: Option<String>,
    /// Refuse fields neither the gate nor Tyk knows, instead of warning about them.
    pub strict: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub apis: Vec<RawApi>,
    #[serde(deserialize_with = "null_as_default")]
    pub security: RawSecurity,
    pub store: Option<RawStore>,
    pub forward_client_cert: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub http_server_options: RawHttpServerOptions,
}

/// Tyk's `http_server_options`: only the server certificates concern the gate (SPEC §8).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawHttpServerOptions {
    #[serde(deserialize_with = "null_as_default")]
    pub ssl_certificates: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawSecurity {
    #[serde(deserialize_with = "null_as_default")]
    pub certificates: RawCertificates,
    pub allow_unsafe_dynamic_mtls_token: bool,
    /// Upstream public-key pins for every API: host pattern → comma-separated keys (SPEC §6b).
    #[serde(deserialize_with = "null_as_default")]
    pub pinned_public_keys: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawCertificates {
    #[serde(deserialize_with = "null_as_default")]
    pub apis: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub upstream: BTreeMap<String, String>,
}

/// `store`: the filter's link to the shim.
#[derive(Deserialize)]
pub struct RawStore {
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub authority: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub token_env: String,
    #[serde(default = "sync_interval_ms")]
    pub sync_interval_ms: u64,
    #[serde(default = "max_stale_s")]
    pub max_stale_s: u64,
    #[serde(default = "lookup_on_miss")]
    pub lookup_on_miss: bool,
    #[serde(default = "max_lookups_in_flight")]
    pub max_lookups_in_flight: u32,
    #[serde(default = "timeout_ms")]
    pub timeout_ms: u64,
}

/// One API definition (Tyk Classic field names).
#[derive(Deserialize)]
pub struct RawApi {
    #[serde(default)]
    pub api_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub org_id: Option<String>,
    #[serde(default = "api_active")]
    pub active: bool,
    #[serde(default)]
    pub domain: String,
    /// Tyk: the domain is ignored and the API listens on every host (SPEC §9).
    #[serde(default)]
    pub domain_disabled: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub proxy: RawProxy,
    #[serde(default)]
    pub use_mutual_tls_auth: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub client_certificates: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub auth_configs: BTreeMap<String, RawAuthConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub auth: RawAuthConfig,
    #[serde(default)]
    pub use_keyless: bool,
    #[serde(default)]
    pub strip_auth_data: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub upstream_certificates: BTreeMap<String, String>,
    #[serde(default)]
    pub upstream_certificates_disabled: bool,
    /// Server certificates for this API's domain (SPEC §8; OAS `server.customDomain.certificates`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub certificates: Vec<String>,
    /// Upstream public-key pins: host pattern → comma-separated keys (SPEC §6b). Envoy
    /// enforces them on the API's clusters (rendered by the shim).
    #[serde(default, deserialize_with = "null_as_default")]
    pub pinned_public_keys: BTreeMap<String, String>,
    /// Turns off this API's own pins (global pins still apply, as Tyk).
    #[serde(default)]
    pub certificate_pinning_disabled: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawProxy {
    pub listen_path: String,
    pub target_url: String,
    #[serde(deserialize_with = "null_as_default")]
    pub transport: RawTransport,
}

/// Tyk's `proxy.transport`: TLS settings of the API's upstream connections (SPEC §6b),
/// rendered by the shim into the API's clusters. Versions are Tyk's numbers (769 = TLS 1.0
/// … 772 = TLS 1.3; 0 = the default).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawTransport {
    pub ssl_insecure_skip_verify: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub ssl_ciphers: Vec<String>,
    pub ssl_min_version: u16,
    pub ssl_max_version: u16,
    pub ssl_force_common_name_check: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RawAuthConfig {
    /// Tyk's field; the 5.12 docs spell it `useCertificate`.
    #[serde(alias = "useCertificate")]
    pub use_certificate: bool,
    pub auth_header_name: String,
}
