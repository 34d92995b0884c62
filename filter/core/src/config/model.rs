//! The compiled configuration: what `decide()` and the filter read on every request.
//! Built only by [`super::compile`], so every value here has passed validation.

use super::error::ConfigError;
use crate::allow_list::AllowList;
use crate::api_match::{ApiRouter, Route};
use crate::authority::TargetUrl;
use crate::client_trust::ClientTrust;
use crate::domain::{DomainPattern, DomainSet};
use crate::listen_path::ListenPath;
use crate::pinning::{PinMap, PinnedUpstream};
use crate::shared_data::Namespace;
use crate::upstream::{UpstreamCertMap, UpstreamRoute};
use std::collections::BTreeMap;

/// What happens to a request that matches no API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    Allow,
    Deny,
}

/// The filter's link to the shim (issue 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLink {
    pub cluster: String,
    pub authority: String,
    /// The feed token: `store.token`, or the VM environment variable `store.token_env`
    /// names (which keeps it out of Envoy's `/config_dump`).
    pub token: String,
    /// `store.token_env`, when the token came from there.
    pub token_env: Option<String>,
    pub sync_interval_ms: u64,
    pub max_stale_s: u64,
    pub lookup_on_miss: bool,
    /// Session lookups one worker may have in flight; past it a miss answers 503 at once.
    pub max_lookups_in_flight: u32,
    pub timeout_ms: u64,
    /// Where this gate's entries live in shared data: scoped to the store.
    pub namespace: Namespace,
}

/// One API, compiled.
#[derive(Debug, Clone)]
pub struct ApiSpec {
    pub api_id: String,
    pub name: String,
    pub org_id: String,
    /// Where the API listens by host (`domain`, unless `domain_disabled`).
    pub domain: DomainPattern,
    pub listen_path: ListenPath,
    pub target: Option<TargetUrl>,
    pub use_mutual_tls_auth: bool,
    pub client_certificates: AllowList,
    /// CA entries of `client_certificates` and the global list (SPEC §3).
    pub client_trust: ClientTrust,
    /// Tyk 5.12 Certificate Authentication (`auth_configs.authToken.use_certificate`).
    pub use_certificate_auth: bool,
    pub use_keyless: bool,
    pub strip_auth_data: bool,
    /// Header that carries a token (`auth_configs.authToken.auth_header_name`), lowercase.
    pub auth_header_name: String,
    pub upstream_certificates: UpstreamCertMap,
    pub upstream_certificates_disabled: bool,
    /// The target's clusters, named at configure time; `None` without a target.
    pub upstream_route: Option<UpstreamRoute>,
    /// `certificates`: server certificate references for this API's domain, as written.
    /// `render` serves them (SPEC §8); the filter does not read them.
    pub server_certificates: Vec<String>,
    /// `pinned_public_keys` as written: host pattern → comma-separated keys (SPEC §6b).
    pub pinned_public_keys: BTreeMap<String, String>,
    /// `pinned_public_keys`, compiled: what `pinning::pins_for_host` matches.
    pub pins: PinMap,
    /// `certificate_pinning_disabled`: this API's own pins are off, global pins still apply.
    pub certificate_pinning_disabled: bool,
    /// Set when the `https` target's host is pinned (by this API's map or the global one):
    /// the filter then answers Envoy's failed handshake with Tyk's pinning error.
    pub pinned_upstream: Option<PinnedUpstream>,
    /// `proxy.transport` (SPEC §6b), rendered into the API's clusters by the shim.
    pub upstream_transport: UpstreamTransport,
}

/// Tyk's `proxy.transport`: TLS settings for the API's upstream connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTransport {
    pub insecure_skip_verify: bool,
    /// As written; each one a name `tls_cipher::resolve` knows (checked at compile).
    pub ciphers: Vec<String>,
    /// Tyk's numbers (771 = TLS 1.2); `None` for Tyk's 0, the default.
    pub min_version: Option<u16>,
    pub max_version: Option<u16>,
    pub force_common_name_check: bool,
}

impl ApiSpec {
    /// Does this API need a client certificate at all (static list or certificate auth)?
    pub fn requires_client_certificate(&self) -> bool {
        self.use_mutual_tls_auth || self.use_certificate_auth
    }
}

impl Route for ApiSpec {
    fn domain(&self) -> &DomainPattern {
        &self.domain
    }

    fn listen_path(&self) -> &ListenPath {
        &self.listen_path
    }
}

/// The whole compiled configuration.
#[derive(Debug, Clone)]
pub struct GateConfig {
    pub org_id: String,
    pub default_action: DefaultAction,
    pub apis: Vec<ApiSpec>,
    pub global_allow_list: AllowList,
    pub global_upstream: UpstreamCertMap,
    /// `security.pinned_public_keys`, compiled (SPEC §6b).
    pub global_pins: PinMap,
    pub allow_unsafe_dynamic_mtls_token: bool,
    pub store: Option<StoreLink>,
    /// Forward Envoy's (verified) XFCC upstream instead of removing it.
    pub forward_client_cert: bool,
    /// Hosts named by an API that needs a client certificate: the SNI check's trigger set,
    /// and where a malformed `:authority` is refused.
    pub mtls_domains: DomainSet,
    /// Some API needs a client certificate, so a path that could dodge its `listen_path` is
    /// refused (see [`crate::request_path`]); with none, there is nothing to dodge.
    pub guards_paths: bool,
    /// `http_server_options.ssl_certificates` as written: the listener's server
    /// certificates (SPEC §8), served by `render`; the filter does not read them.
    pub server_certificates: Vec<String>,
    /// Fields neither the gate nor Tyk knows: likely typos, warned about by whoever loads
    /// the configuration (refused instead with `"strict": true`).
    pub unknown_fields: Vec<super::UnknownField>,
    pub(super) router: ApiRouter,
}

impl GateConfig {
    pub fn router(&self) -> &ApiRouter {
        &self.router
    }

    /// Every store certificate ID the allow lists and upstream maps name.
    pub fn referenced_store_ids(&self) -> std::collections::BTreeSet<String> {
        let upstream_maps = std::iter::once(&self.global_upstream)
            .chain(self.apis.iter().map(|api| &api.upstream_certificates));
        let upstream = upstream_maps
            .flat_map(UpstreamCertMap::certificates)
            .filter_map(|cert| match cert {
                crate::cert_ref::CertRef::StoreId { id, .. } => Some(id.clone()),
                crate::cert_ref::CertRef::Pinned { .. } => None,
            });
        // Each API's trust set already holds its list's and the global list's store IDs.
        let allowed = self
            .apis
            .iter()
            .flat_map(|api| api.client_trust.store_ids.iter().cloned());
        upstream.chain(allowed).collect()
    }

    /// The API for a request (SPEC §5). `host` is normalized; `path` may carry a query.
    pub fn select_api(&self, host: &str, path: &str) -> Option<&ApiSpec> {
        self.router
            .select(&self.apis, host, path)
            .and_then(|i| self.apis.get(i))
    }

    /// Parses and validates the plugin configuration JSON. `store.token_env` is read from
    /// the process environment: in the filter, the VM's (WASI `environ_get`, which Envoy fills
    /// from `vm_config.environment_variables`).
    pub fn from_json(json: &[u8]) -> Result<GateConfig, ConfigError> {
        Self::from_json_with_env(json, &|name| std::env::var(name).ok())
    }

    /// As [`GateConfig::from_json`], with the environment given.
    pub fn from_json_with_env(
        json: &[u8],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GateConfig, ConfigError> {
        super::compile::from_json(json, env)
    }
}
