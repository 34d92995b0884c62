//! Validation: the shape as written ([`super::shape`]) becomes the model the request path
//! reads ([`super::model`]), or the first bad field is refused with its JSON path.

use super::error::{ConfigError, ConfigErrorKind};
use super::model::{ApiSpec, DefaultAction, GateConfig, StoreLink, UpstreamTransport};
use super::oas;
use super::shape::{RawApi, RawGate, RawStore, RawTransport};
use super::{document, shape_reader};
use crate::allow_list::AllowList;
use crate::api_match::ApiRouter;
use crate::authority::parse_target_url;
use crate::cert_ref::CertRef;
use crate::client_trust::{ClientTrust, InlineCa};
use crate::domain::{DomainPattern, DomainSet};
use crate::listen_path::ListenPath;
use crate::org_id;
use crate::pinning::{PinMap, PinnedUpstream, pins_for_host};
use crate::shared_data::Namespace;
use crate::tls_cipher;
use crate::upstream::{UpstreamCertMap, UpstreamRoute};
use std::collections::{BTreeMap, HashSet};

/// A field refused by a rule that words its own reason.
fn err(path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::invalid(path, reason)
}

fn in_range(path: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    match (min..=max).contains(&value) {
        true => Ok(()),
        false => Err(ConfigError::new(
            path,
            ConfigErrorKind::OutOfRange { min, max },
        )),
    }
}

/// Parses and validates the plugin configuration JSON (see [`GateConfig::from_json`]).
pub(super) fn from_json(
    json: &[u8],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<GateConfig, ConfigError> {
    // Parsed once: the typo check reads the document as written, OAS entries are then
    // replaced by their Classic twins, and the shape is read from the result.
    let mut document = document::parse(json)?;
    // serde would also read a struct from a JSON array (fields by position); a plugin
    // configuration is always an object.
    if document.is_array() {
        return Err(ConfigError::new(
            "$",
            ConfigErrorKind::Malformed("invalid type: array, expected a JSON object".into()),
        ));
    }
    let unknown_fields = super::unknown_fields::find(&document);
    let lifted = oas::lift(&mut document)?;
    let raw: RawGate = shape_reader::read(&document).map_err(|e| lifted.translate(e))?;
    if raw.strict
        && let Some(first) = unknown_fields.first()
    {
        let reason = match first.suggestion {
            Some(known) => format!("unknown field; did you mean `{known}`? (\"strict\": true)"),
            None => "unknown field (\"strict\": true refuses fields the gate does not know)".into(),
        };
        return Err(err(first.path.clone(), reason));
    }
    let mut config = compile(raw, env).map_err(|e| lifted.translate(e))?;
    config.unknown_fields = unknown_fields;
    Ok(config)
}

/// The path of one entry of a map field: `upstream_certificates["*.example.com"]`. One
/// spelling, so the OAS reader can name the list entry a map entry came from.
pub(super) fn map_entry_path(path: &str, key: &str) -> String {
    format!("{path}[{key:?}]")
}

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

    let (global_allow_list, global_trust) = compile_allow_list(
        &raw.security.certificates.apis,
        "security.certificates.apis",
        store_configured,
    )?;
    let global_upstream = compile_upstream_map(
        &raw.security.certificates.upstream,
        "security.certificates.upstream",
        store_configured,
    )?;
    let global_pins = compile_pins(
        &raw.security.pinned_public_keys,
        "security.pinned_public_keys",
        store_configured,
    )?;

    let mut apis = Vec::with_capacity(raw.apis.len());
    let mut seen_ids = HashSet::new();
    for (index, raw_api) in raw.apis.into_iter().enumerate() {
        let at = |field: &str| format!("apis[{index}].{field}");
        if raw_api.api_id.trim().is_empty() {
            return Err(ConfigError::new(
                at("api_id"),
                ConfigErrorKind::Required(" (non-empty string)"),
            ));
        }
        if !seen_ids.insert(raw_api.api_id.clone()) {
            return Err(ConfigError::new(
                at("api_id"),
                ConfigErrorKind::DuplicateApiId(raw_api.api_id.clone()),
            ));
        }
        if !raw_api.active {
            continue;
        }
        let mut api = compile_api(raw_api, index, &raw.org_id, store_configured, &global_pins)?;
        api.upstream_route = api.target.as_ref().map(|target| {
            let api_map =
                (!api.upstream_certificates_disabled).then_some(&api.upstream_certificates);
            UpstreamRoute::plan(&api.api_id, &target.authority, api_map, &global_upstream)
        });
        share_trust_set(&mut api.client_trust, &global_trust, &apis);
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
        global_pins,
        allow_unsafe_dynamic_mtls_token: raw.security.allow_unsafe_dynamic_mtls_token,
        store,
        forward_client_cert: raw.forward_client_cert,
        mtls_domains,
        guards_paths,
        server_certificates: raw.http_server_options.ssl_certificates,
        unknown_fields: Vec::new(),
    })
}

fn compile_store(
    raw: RawStore,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StoreLink, ConfigError> {
    if raw.cluster.trim().is_empty() {
        return Err(ConfigError::new(
            "store.cluster",
            ConfigErrorKind::Required(": the Envoy cluster that points at the shim"),
        ));
    }
    if raw.authority.trim().is_empty() {
        return Err(ConfigError::new(
            "store.authority",
            ConfigErrorKind::Required(": the :authority for calls to the shim"),
        ));
    }
    let token_env = raw.token_env.trim();
    let token = match (raw.token.is_empty(), token_env.is_empty()) {
        (false, true) => raw.token.clone(),
        (true, true) => {
            return Err(ConfigError::new(
                "store.token",
                ConfigErrorKind::Required(
                    ": the shim's feed token (or store.token_env, the VM environment \
                     variable that holds it)",
                ),
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
    in_range(
        "store.sync_interval_ms",
        raw.sync_interval_ms,
        50,
        3_600_000,
    )?;
    if raw.max_stale_s == 0 {
        return Err(ConfigError::new(
            "store.max_stale_s",
            ConfigErrorKind::BelowMinimum(1),
        ));
    }
    in_range(
        "store.max_lookups_in_flight",
        u64::from(raw.max_lookups_in_flight),
        1,
        10_000,
    )?;
    in_range("store.timeout_ms", raw.timeout_ms, 10, 60_000)?;
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
    global_pins: &PinMap,
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
    let (client_certificates, client_trust) = compile_allow_list(
        &raw.client_certificates,
        &at("client_certificates"),
        store_configured,
    )?;
    let pins = compile_pins(
        &raw.pinned_public_keys,
        &at("pinned_public_keys"),
        store_configured,
    )?;
    // Tyk pins only what it dials over TLS, and skips the API's own map when disabled.
    let pinned_upstream = target
        .as_ref()
        .filter(|target| target.scheme == "https")
        .filter(|target| {
            let own = (!raw.certificate_pinning_disabled).then_some(&pins);
            pins_for_host(&target.authority, own, global_pins).is_some()
        })
        .map(|target| PinnedUpstream::new(&target.authority));
    Ok(ApiSpec {
        client_certificates,
        client_trust,
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
        upstream_route: None,
        server_certificates: raw.certificates,
        pinned_public_keys: raw.pinned_public_keys,
        pins,
        certificate_pinning_disabled: raw.certificate_pinning_disabled,
        pinned_upstream,
        upstream_transport: compile_transport(raw.proxy.transport, &at("proxy.transport"))?,
    })
}

/// `pinned_public_keys` (SPEC §6b): host patterns Tyk can match, each with public keys.
fn compile_pins(
    entries: &BTreeMap<String, String>,
    path: &str,
    store_configured: bool,
) -> Result<PinMap, ConfigError> {
    PinMap::from_entries(entries, store_configured)
        .map_err(|(key, reason)| err(map_entry_path(path, &key), reason))
}

/// Tyk's TLS version numbers: 769 (TLS 1.0) to 772 (TLS 1.3); 0 is "the default".
const TLS_VERSIONS: std::ops::RangeInclusive<u16> = 0x0301..=0x0304;

/// `proxy.transport`: versions checked for range, cipher names against Tyk's (Go's) names
/// that Envoy can use.
fn compile_transport(raw: RawTransport, path: &str) -> Result<UpstreamTransport, ConfigError> {
    let version = |value: u16, field: &str| match value {
        0 => Ok(None),
        v if TLS_VERSIONS.contains(&v) => Ok(Some(v)),
        _ => Err(ConfigError::new(
            format!("{path}.{field}"),
            ConfigErrorKind::OutOfRange {
                min: u64::from(*TLS_VERSIONS.start()),
                max: u64::from(*TLS_VERSIONS.end()),
            },
        )),
    };
    let min_version = version(raw.ssl_min_version, "ssl_min_version")?;
    let max_version = version(raw.ssl_max_version, "ssl_max_version")?;
    if let (Some(min), Some(max)) = (min_version, max_version)
        && min > max
    {
        return Err(err(
            format!("{path}.ssl_max_version"),
            format!("{max} is below ssl_min_version {min}"),
        ));
    }
    for (i, name) in raw.ssl_ciphers.iter().enumerate() {
        tls_cipher::resolve(name)
            .map_err(|reason| err(format!("{path}.ssl_ciphers[{i}]"), reason))?;
    }
    Ok(UpstreamTransport {
        insecure_skip_verify: raw.ssl_insecure_skip_verify,
        ciphers: raw.ssl_ciphers,
        min_version,
        max_version,
        force_common_name_check: raw.ssl_force_common_name_check,
    })
}

/// An allow list, and the entries in it that may be CAs: inline CA certificates, and store
/// IDs (the synced index says which are CAs).
fn compile_allow_list(
    entries: &[String],
    path: &str,
    store_configured: bool,
) -> Result<(AllowList, ClientTrust), ConfigError> {
    let mut refs = Vec::with_capacity(entries.len());
    let mut trust = ClientTrust::default();
    let mut store_ids = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = || format!("{path}[{i}]");
        let cert = CertRef::parse(entry, store_configured).map_err(|reason| err(at(), reason))?;
        if let Some(ca) = InlineCa::from_entry(entry).map_err(|reason| err(at(), reason))? {
            trust.inline.push(ca);
        }
        if let CertRef::StoreId { id, .. } = &cert
            && store_ids.insert(id.clone())
        {
            trust.store_ids.push(id.clone());
        }
        refs.push(cert);
    }
    Ok((AllowList::new(refs), trust))
}

/// Adds the global list's CA sources to an API's and names the set: APIs that trust the
/// same anchors share an ID, so a client's verdict is cached once for all of them.
fn share_trust_set(trust: &mut ClientTrust, global: &ClientTrust, earlier: &[ApiSpec]) {
    for ca in &global.inline {
        if !trust.inline.contains(ca) {
            trust.inline.push(ca.clone());
        }
    }
    let mut known: HashSet<&String> = trust.store_ids.iter().collect();
    let added: Vec<String> = global
        .store_ids
        .iter()
        .filter(|id| known.insert(id))
        .cloned()
        .collect();
    trust.store_ids.extend(added);
    trust.id = earlier
        .iter()
        .map(|api| &api.client_trust)
        .find(|other| other.same_sources(trust))
        .map_or(earlier.len(), |other| other.id);
}

fn compile_upstream_map(
    entries: &BTreeMap<String, String>,
    path: &str,
    store_configured: bool,
) -> Result<UpstreamCertMap, ConfigError> {
    let mut refs = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let cert = CertRef::parse(value, store_configured)
            .map_err(|reason| err(map_entry_path(path, key), reason))?;
        refs.push((key.as_str(), cert));
    }
    UpstreamCertMap::from_entries(refs)
        .map_err(|(key, reason)| err(map_entry_path(path, &key), reason))
}
