//! Plugin configuration: Tyk field names, so a Tyk Classic API definition pastes in
//! (unknown fields are ignored). Parsing is two steps: serde into the raw shape
//! (type errors carry their JSON path via `serde_path_to_error`), then validation into
//! the compiled [`GateConfig`] the request path uses (semantic errors carry paths too).

use crate::allow_list::AllowList;
use crate::api_match::ApiRouter;
use crate::authority::{TargetUrl, parse_target_url};
use crate::cert_ref::CertRef;
use crate::domain::{DomainPattern, DomainSet};
use crate::listen_path::ListenPath;
use crate::org_id;
use crate::shared_data::Namespace;
use crate::upstream::UpstreamCertMap;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// A refused configuration: the JSON path of the first bad field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

fn err(path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        reason: reason.into(),
    }
}

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
    /// Tyk 5.12 Certificate Authentication (`auth_configs.authToken.use_certificate`).
    pub use_certificate_auth: bool,
    pub use_keyless: bool,
    pub strip_auth_data: bool,
    /// Header that carries a token (`auth_configs.authToken.auth_header_name`), lowercase.
    pub auth_header_name: String,
    pub upstream_certificates: UpstreamCertMap,
    pub upstream_certificates_disabled: bool,
}

impl ApiSpec {
    /// Does this API need a client certificate at all (static list or certificate auth)?
    pub fn requires_client_certificate(&self) -> bool {
        self.use_mutual_tls_auth || self.use_certificate_auth
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
    router: ApiRouter,
}

impl GateConfig {
    pub fn router(&self) -> &ApiRouter {
        &self.router
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
        // serde would also read a struct from a JSON array (fields by position); a plugin
        // configuration is always an object.
        if json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(err("$", "invalid type: array, expected a JSON object"));
        }
        let deserializer = &mut serde_json::Deserializer::from_slice(json);
        let raw: RawGate = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "$".to_owned() } else { path };
            err(path, e.into_inner().to_string())
        })?;
        compile(raw, env)
    }
}

// ---- raw serde shape (Tyk names) ----

/// Tyk definitions often carry `null` for empty lists and maps.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawGate {
    org_id: String,
    default: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    apis: Vec<RawApi>,
    #[serde(deserialize_with = "null_as_default")]
    security: RawSecurity,
    store: Option<RawStore>,
    forward_client_cert: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSecurity {
    #[serde(deserialize_with = "null_as_default")]
    certificates: RawCertificates,
    allow_unsafe_dynamic_mtls_token: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCertificates {
    #[serde(deserialize_with = "null_as_default")]
    apis: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    upstream: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(default)]
struct RawStore {
    cluster: String,
    authority: String,
    token: String,
    token_env: String,
    sync_interval_ms: u64,
    max_stale_s: u64,
    lookup_on_miss: bool,
    max_lookups_in_flight: u32,
    timeout_ms: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            cluster: String::new(),
            authority: String::new(),
            token: String::new(),
            token_env: String::new(),
            sync_interval_ms: 500,
            max_stale_s: 300,
            lookup_on_miss: true,
            max_lookups_in_flight: 64,
            timeout_ms: 2000,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawApi {
    api_id: String,
    name: String,
    org_id: Option<String>,
    active: bool,
    domain: String,
    /// Tyk: the domain is ignored and the API listens on every host (SPEC §9).
    domain_disabled: bool,
    #[serde(deserialize_with = "null_as_default")]
    proxy: RawProxy,
    use_mutual_tls_auth: bool,
    #[serde(deserialize_with = "null_as_default")]
    client_certificates: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    auth_configs: BTreeMap<String, RawAuthConfig>,
    #[serde(deserialize_with = "null_as_default")]
    auth: RawAuthConfig,
    use_keyless: bool,
    strip_auth_data: bool,
    #[serde(deserialize_with = "null_as_default")]
    upstream_certificates: BTreeMap<String, String>,
    upstream_certificates_disabled: bool,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            api_id: String::new(),
            name: String::new(),
            org_id: None,
            // Tyk treats a definition without `active` as active.
            active: true,
            domain: String::new(),
            domain_disabled: false,
            proxy: RawProxy::default(),
            use_mutual_tls_auth: false,
            client_certificates: Vec::new(),
            auth_configs: BTreeMap::new(),
            auth: RawAuthConfig::default(),
            use_keyless: false,
            strip_auth_data: false,
            upstream_certificates: BTreeMap::new(),
            upstream_certificates_disabled: false,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawProxy {
    listen_path: String,
    target_url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAuthConfig {
    /// Tyk's field; the 5.12 docs spell it `useCertificate`.
    #[serde(alias = "useCertificate")]
    use_certificate: bool,
    auth_header_name: String,
}

// ---- validation ----

fn compile(raw: RawGate, env: &dyn Fn(&str) -> Option<String>) -> Result<GateConfig, ConfigError> {
    let default_action = match raw.default.as_deref() {
        None | Some("allow") => DefaultAction::Allow,
        Some("deny") => DefaultAction::Deny,
        Some(other) => {
            return Err(err(
                "default",
                format!("must be \"allow\" or \"deny\", not {other:?}"),
            ));
        }
    };
    org_id::check(&raw.org_id).map_err(|e| err("org_id", e.to_string()))?;
    let store = raw.store.map(|s| compile_store(s, env)).transpose()?;
    let store_configured = store.is_some();

    let global_allow_list = compile_allow_list(
        &raw.security.certificates.apis,
        "security.certificates.apis",
        store_configured,
    )?;
    let global_upstream = compile_upstream_map(
        &raw.security.certificates.upstream,
        "security.certificates.upstream",
        store_configured,
    )?;

    let mut apis = Vec::with_capacity(raw.apis.len());
    let mut seen_ids = HashSet::new();
    for (index, raw_api) in raw.apis.into_iter().enumerate() {
        let at = |field: &str| format!("apis[{index}].{field}");
        if raw_api.api_id.trim().is_empty() {
            return Err(err(at("api_id"), "required (non-empty string)"));
        }
        if !seen_ids.insert(raw_api.api_id.clone()) {
            return Err(err(
                at("api_id"),
                format!("duplicate api_id {:?}", raw_api.api_id),
            ));
        }
        if !raw_api.active {
            continue;
        }
        let api = compile_api(raw_api, index, &raw.org_id, store_configured)?;
        if api.use_certificate_auth && !store_configured {
            return Err(err(
                at("auth_configs.authToken.use_certificate"),
                "certificate authentication needs sessions: configure `store`",
            ));
        }
        apis.push(api);
    }

    let mut mtls_domains = DomainSet::default();
    for api in apis.iter().filter(|api| api.requires_client_certificate()) {
        mtls_domains.insert(&api.domain);
    }
    let guards_paths = apis.iter().any(ApiSpec::requires_client_certificate);
    let router = ApiRouter::new(&apis);

    Ok(GateConfig {
        router,
        org_id: raw.org_id,
        default_action,
        apis,
        global_allow_list,
        global_upstream,
        allow_unsafe_dynamic_mtls_token: raw.security.allow_unsafe_dynamic_mtls_token,
        store,
        forward_client_cert: raw.forward_client_cert,
        mtls_domains,
        guards_paths,
    })
}

fn compile_store(
    raw: RawStore,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StoreLink, ConfigError> {
    if raw.cluster.trim().is_empty() {
        return Err(err(
            "store.cluster",
            "required: the Envoy cluster that points at the shim",
        ));
    }
    if raw.authority.trim().is_empty() {
        return Err(err(
            "store.authority",
            "required: the :authority for calls to the shim",
        ));
    }
    let token_env = raw.token_env.trim();
    let token = match (raw.token.is_empty(), token_env.is_empty()) {
        (false, true) => raw.token.clone(),
        (true, true) => {
            return Err(err(
                "store.token",
                "required: the shim's feed token (or store.token_env, the VM environment \
                 variable that holds it)",
            ));
        }
        (false, false) => {
            return Err(err(
                "store.token_env",
                "give the feed token in store.token or store.token_env, not both",
            ));
        }
        (true, false) => env(token_env).filter(|t| !t.is_empty()).ok_or_else(|| {
            err(
                "store.token_env",
                format!(
                    "{token_env:?} is not set for the wasm VM: list it in \
                     vm_config.environment_variables.host_env_keys and set it in Envoy's \
                     environment"
                ),
            )
        })?,
    };
    if !(50..=3_600_000).contains(&raw.sync_interval_ms) {
        return Err(err(
            "store.sync_interval_ms",
            "must be between 50 and 3600000",
        ));
    }
    if raw.max_stale_s == 0 {
        return Err(err("store.max_stale_s", "must be at least 1"));
    }
    if !(1..=10_000).contains(&raw.max_lookups_in_flight) {
        return Err(err(
            "store.max_lookups_in_flight",
            "must be between 1 and 10000",
        ));
    }
    if !(10..=60_000).contains(&raw.timeout_ms) {
        return Err(err("store.timeout_ms", "must be between 10 and 60000"));
    }
    Ok(StoreLink {
        namespace: Namespace::for_store(&raw.cluster, &raw.authority),
        cluster: raw.cluster,
        authority: raw.authority,
        token,
        token_env: (!token_env.is_empty()).then(|| token_env.to_owned()),
        sync_interval_ms: raw.sync_interval_ms,
        max_stale_s: raw.max_stale_s,
        lookup_on_miss: raw.lookup_on_miss,
        max_lookups_in_flight: raw.max_lookups_in_flight,
        timeout_ms: raw.timeout_ms,
    })
}

fn compile_api(
    raw: RawApi,
    index: usize,
    gate_org_id: &str,
    store_configured: bool,
) -> Result<ApiSpec, ConfigError> {
    let at = |field: &str| format!("apis[{index}].{field}");
    let listen_path = ListenPath::parse(&raw.proxy.listen_path)
        .map_err(|reason| err(at("proxy.listen_path"), reason))?;
    let domain = match raw.domain_disabled {
        true => DomainPattern::Any,
        false => DomainPattern::parse(&raw.domain).map_err(|reason| err(at("domain"), reason))?,
    };
    if let Some(org) = &raw.org_id {
        org_id::check(org).map_err(|e| err(at("org_id"), e.to_string()))?;
    }
    let target = if raw.proxy.target_url.trim().is_empty() {
        None
    } else {
        Some(
            parse_target_url(raw.proxy.target_url.trim())
                .map_err(|reason| err(at("proxy.target_url"), reason))?,
        )
    };
    let token_auth = raw.auth_configs.get("authToken");
    let use_certificate_auth =
        token_auth.is_some_and(|a| a.use_certificate) || raw.auth.use_certificate;
    let auth_header_name = token_auth
        .map(|a| a.auth_header_name.as_str())
        .filter(|h| !h.is_empty())
        .or(Some(raw.auth.auth_header_name.as_str()).filter(|h| !h.is_empty()))
        .unwrap_or("authorization")
        .to_ascii_lowercase();
    Ok(ApiSpec {
        client_certificates: compile_allow_list(
            &raw.client_certificates,
            &at("client_certificates"),
            store_configured,
        )?,
        upstream_certificates: compile_upstream_map(
            &raw.upstream_certificates,
            &at("upstream_certificates"),
            store_configured,
        )?,
        api_id: raw.api_id,
        name: raw.name,
        org_id: raw.org_id.unwrap_or_else(|| gate_org_id.to_owned()),
        domain,
        listen_path,
        target,
        use_mutual_tls_auth: raw.use_mutual_tls_auth,
        use_certificate_auth,
        use_keyless: raw.use_keyless,
        strip_auth_data: raw.strip_auth_data,
        auth_header_name,
        upstream_certificates_disabled: raw.upstream_certificates_disabled,
    })
}

fn compile_allow_list(
    entries: &[String],
    path: &str,
    store_configured: bool,
) -> Result<AllowList, ConfigError> {
    let refs = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            CertRef::parse(entry, store_configured)
                .map_err(|reason| err(format!("{path}[{i}]"), reason))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AllowList::new(refs))
}

fn compile_upstream_map(
    entries: &BTreeMap<String, String>,
    path: &str,
    store_configured: bool,
) -> Result<UpstreamCertMap, ConfigError> {
    let mut refs = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let cert = CertRef::parse(value, store_configured)
            .map_err(|reason| err(format!("{path}[{key:?}]"), reason))?;
        refs.push((key.as_str(), cert));
    }
    UpstreamCertMap::from_entries(refs)
        .map_err(|(key, reason)| err(format!("{path}[{key:?}]"), reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const FP: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const TYK_SAMPLE: &str = include_str!("../tests/fixtures/app_sample.json");

    fn refused(json: &str) -> ConfigError {
        GateConfig::from_json(json.as_bytes()).expect_err("config should be refused")
    }

    #[test]
    fn empty_config_allows_everything_by_default() {
        let config = GateConfig::from_json(b"{}").unwrap();
        assert_eq!(config.default_action, DefaultAction::Allow);
        assert!(config.apis.is_empty());
        assert!(config.store.is_none());
    }

    #[test]
    fn tyk_sample_api_definition_loads_with_unknown_fields_ignored() {
        let json = format!(r#"{{"apis": [{TYK_SAMPLE}]}}"#);
        let config = GateConfig::from_json(json.as_bytes()).unwrap();
        let api = &config.apis[0];
        assert_eq!(api.api_id, "1");
        assert_eq!(api.org_id, "default");
        assert_eq!(api.listen_path.as_str(), "/tyk-api-test/");
        assert_eq!(api.target.as_ref().unwrap().authority, "httpbin.org");
        assert_eq!(api.auth_header_name, "authorization");
        assert!(!api.requires_client_certificate());
    }

    #[test]
    fn tyk_field_names_and_null_lists_are_read() {
        let json = format!(
            r#"{{"org_id": "o1", "default": "deny",
                "security": {{"certificates": {{"apis": ["{FP}"], "upstream": {{"*": "{FP}"}}}},
                              "allow_unsafe_dynamic_mtls_token": true}},
                "apis": [{{"api_id": "a", "domain": "API.example.com", "use_mutual_tls_auth": true,
                           "client_certificates": null, "upstream_certificates": null,
                           "auth_configs": {{"authToken": {{"useCertificate": true, "auth_header_name": "X-Key"}}}},
                           "strip_auth_data": true, "proxy": {{"listen_path": "/a/", "target_url": "https://up.test:8443"}}}}],
                "store": {{"cluster": "shim", "authority": "shim.local", "token": "t"}}}}"#
        );
        let config = GateConfig::from_json(json.as_bytes()).unwrap();
        assert_eq!(config.default_action, DefaultAction::Deny);
        assert!(config.allow_unsafe_dynamic_mtls_token);
        assert_eq!(config.global_allow_list.len(), 1);
        assert!(!config.global_upstream.is_empty());
        let api = &config.apis[0];
        assert_eq!(api.org_id, "o1", "API inherits the gate org");
        assert!(api.domain.matches("api.example.com") && !api.domain.matches("x.test"));
        assert!(api.use_certificate_auth && api.use_mutual_tls_auth && api.strip_auth_data);
        assert_eq!(api.auth_header_name, "x-key");
        assert!(config.mtls_domains.contains("api.example.com"));
        let store = config.store.unwrap();
        assert_eq!(
            (
                store.sync_interval_ms,
                store.max_stale_s,
                store.lookup_on_miss,
                store.max_lookups_in_flight
            ),
            (500, 300, true, 64)
        );
    }

    #[test]
    fn inactive_apis_are_skipped() {
        let config =
            GateConfig::from_json(br#"{"apis": [{"api_id": "a", "active": false}]}"#).unwrap();
        assert!(config.apis.is_empty());
    }

    #[test]
    fn bad_fields_are_refused_with_their_json_path() {
        let cases: &[(&str, &str, &str)] = &[
            (
                r#"{"apis": [{"api_id": "a"}, {"api_id": "b"}, {"api_id": "c", "client_certificates": ["nope"]}]}"#,
                "apis[2].client_certificates[0]",
                "not a PEM, ID or fingerprint",
            ),
            (
                r#"{"apis": [{"api_id": "a", "client_certificates": "abc"}]}"#,
                "apis[0].client_certificates",
                "invalid type",
            ),
            (
                r#"{"apis": [{"api_id": "a", "use_mutual_tls_auth": "yes"}]}"#,
                "apis[0].use_mutual_tls_auth",
                "invalid type",
            ),
            (r#"{"default": "maybe"}"#, "default", "must be"),
            (
                r#"{"apis": [{"name": "no id"}]}"#,
                "apis[0].api_id",
                "required",
            ),
            (
                r#"{"apis": [{"api_id": "a"}, {"api_id": "a"}]}"#,
                "apis[1].api_id",
                "duplicate",
            ),
            (
                r#"{"apis": [{"api_id": "a", "proxy": {"target_url": "up.test"}}]}"#,
                "apis[0].proxy.target_url",
                "absolute",
            ),
            (
                r#"{"apis": [{"api_id": "a", "proxy": {"listen_path": "a/"}}]}"#,
                "apis[0].proxy.listen_path",
                "start with",
            ),
            (
                r#"{"apis": [{"api_id": "a", "upstream_certificates": {"https://up.test": "x"}}]}"#,
                "apis[0].upstream_certificates[\"https://up.test\"]",
                "not a PEM",
            ),
            (
                r#"{"apis": [{"api_id": "a", "auth_configs": {"authToken": {"use_certificate": true}}}]}"#,
                "apis[0].auth_configs.authToken.use_certificate",
                "configure `store`",
            ),
            (
                r#"{"store": {"cluster": "", "authority": "a", "token": "t"}}"#,
                "store.cluster",
                "required",
            ),
            (
                r#"{"store": {"cluster": "c", "authority": "a", "token": "t", "sync_interval_ms": 0}}"#,
                "store.sync_interval_ms",
                "between",
            ),
            (
                r#"{"store": {"cluster": "c", "authority": "a", "token": "t", "max_lookups_in_flight": 0}}"#,
                "store.max_lookups_in_flight",
                "between",
            ),
            (
                r#"{"security": {"certificates": {"apis": [42]}}}"#,
                "security.certificates.apis[0]",
                "invalid type",
            ),
            ("not json", "$", "expected"),
            ("[]", "$", "invalid type"),
        ];
        for (json, path, reason) in cases {
            let error = refused(json);
            assert_eq!(error.path, *path, "{json} -> {error}");
            assert!(error.reason.contains(reason), "{json} -> {error}");
        }
    }

    #[test]
    fn the_feed_token_may_come_from_the_vm_environment() {
        let json = br#"{"store": {"cluster": "c", "authority": "a", "token_env": "FEED"}}"#;
        let env = |name: &str| (name == "FEED").then(|| "secret-token".to_owned());
        let config = GateConfig::from_json_with_env(json, &env).unwrap();
        let store = config.store.unwrap();
        assert_eq!(store.token, "secret-token");
        assert_eq!(store.token_env.as_deref(), Some("FEED"));
        let unset = GateConfig::from_json_with_env(json, &|_| None).unwrap_err();
        assert_eq!(unset.path, "store.token_env");
        assert!(unset.reason.contains("host_env_keys"), "{unset}");
        let both =
            br#"{"store": {"cluster": "c", "authority": "a", "token": "t", "token_env": "FEED"}}"#;
        assert_eq!(
            GateConfig::from_json_with_env(both, &env).unwrap_err().path,
            "store.token_env"
        );
    }

    #[test]
    fn upstream_key_with_scheme_is_refused_even_with_a_valid_certificate() {
        let json = format!(
            r#"{{"apis": [{{"api_id": "a", "upstream_certificates": {{"https://up.test": "{FP}"}}}}]}}"#
        );
        let error = refused(&json);
        assert_eq!(
            error.path,
            "apis[0].upstream_certificates[\"https://up.test\"]"
        );
        assert!(error.reason.contains("without a scheme"));
    }
}
