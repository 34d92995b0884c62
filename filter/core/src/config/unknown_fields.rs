//! Fields nobody knows. A Tyk API definition carries many fields the gate ignores, so
//! unknown fields stay accepted; but a field known neither to the gate nor to Tyk is most
//! likely a typo, and a typo in a security field (`use_mutal_tls_auth`) silently switches a
//! check off. Each one is reported with the closest known name; `"strict": true` refuses
//! them (see [`super::compile`]).
//!
//! Checked: the gate's top level, `security`, `security.certificates`, `store`, each API's
//! own fields, its `proxy`, `proxy.transport`, `auth`, `auth_configs` and each auth config;
//! in an OAS API definition, everything inside `x-tyk-api-gateway` (see `oas/known_fields.rs`). The name lists
//! are the gate's fields plus Tyk's (`apidef.APIDefinition`, `ProxyConfig`, `AuthConfig`,
//! `config.SecurityConfig`, `CertificatesConfig` JSON tags, and the Classic schema).

use serde_json::{Map, Value};
use std::fmt;

/// The gate's own top level.
const GATE: &[&str] = &[
    "org_id",
    "default",
    "strict",
    "apis",
    "security",
    "store",
    "forward_client_cert",
    "http_server_options",
    // Tyk's API-definition shape, at the top: the shim's certificate expiry web hooks
    // (SPEC §10); the filter does not read it.
    "event_handlers",
];

/// Tyk's `security` (gateway config), all of which the gate accepts.
const SECURITY: &[&str] = &[
    "certificates",
    "allow_unsafe_dynamic_mtls_token",
    "pinned_public_keys",
    "control_api_use_mutual_tls",
    "certificate_expiry_monitor",
    "private_certificate_encoding_secret",
];

const CERTIFICATES: &[&str] = &[
    "apis",
    "upstream",
    "control_api",
    "dashboard_api",
    "mdcb_api",
];

const STORE: &[&str] = &[
    "cluster",
    "authority",
    "token",
    "token_env",
    "sync_interval_ms",
    "max_stale_s",
    "lookup_on_miss",
    "max_lookups_in_flight",
    "timeout_ms",
];

/// Tyk's `auth_configs` keys (auth types).
const AUTH_TYPES: &[&str] = &[
    "authToken",
    "jwt",
    "hmac",
    "basic",
    "coprocess",
    "oauth",
    "externalOAuth",
    "oidc",
];

/// Tyk's `AuthConfig`, plus the 5.12 docs' spelling `useCertificate`.
const AUTH_CONFIG: &[&str] = &[
    "name",
    "use_param",
    "param_name",
    "use_cookie",
    "cookie_name",
    "disable_header",
    "auth_header_name",
    "use_certificate",
    "useCertificate",
    "validate_signature",
    "signature",
];

/// Tyk's `ProxyConfig`.
const PROXY: &[&str] = &[
    "preserve_host_header",
    "listen_path",
    "target_url",
    "disable_strip_slash",
    "strip_listen_path",
    "enable_load_balancing",
    "target_list",
    "check_host_against_uptime_tests",
    "service_discovery",
    "ssl_insecure_skip_verify",
    "ssl_ciphers",
    "ssl_min_version",
    "ssl_max_version",
    "ssl_force_common_name_check",
    "proxy_url",
    "transport",
];

/// Tyk's `proxy.transport` (`apidef.ServiceDiscoveryConfiguration`'s sibling `Transport`).
const TRANSPORT: &[&str] = &[
    "ssl_insecure_skip_verify",
    "ssl_ciphers",
    "ssl_min_version",
    "ssl_max_version",
    "ssl_force_common_name_check",
    "proxy_url",
];

/// Tyk's `APIDefinition` JSON tags and the Classic schema's properties.
const API: &[&str] = &[
    "id",
    "name",
    "expiration",
    "slug",
    "listen_port",
    "protocol",
    "enable_proxy_protocol",
    "json_rpc_version",
    "application_protocol",
    "api_id",
    "org_id",
    "use_keyless",
    "use_oauth2",
    "external_oauth",
    "use_openid",
    "openid_options",
    "allowed_access_types",
    "allowed_authorize_types",
    "auth_login_redirect",
    "oauth_meta",
    "auth",
    "auth_configs",
    "use_basic_auth",
    "disable_caching",
    "cache_ttl",
    "extract_from_body",
    "body_user_regexp",
    "body_password_regexp",
    "basic_auth",
    "use_mutual_tls_auth",
    "client_certificates",
    "upstream_certificates",
    "upstream_certificates_disabled",
    "pinned_public_keys",
    "certificate_pinning_disabled",
    "enable_jwt",
    "use_standard_auth",
    "use_go_plugin_auth",
    "enable_coprocess_auth",
    "custom_plugin_auth_enabled",
    "jwt_signing_method",
    "jwt_source",
    "jwt_jwks_uris",
    "jwt_identity_base_field",
    "jwt_client_base_field",
    "jwt_policy_field_name",
    "jwt_default_policies",
    "jwt_issued_at_validation_skew",
    "jwt_expires_at_validation_skew",
    "jwt_not_before_validation_skew",
    "jwt_skip_kid",
    "jwt_disable_issued_at_validation",
    "jwt_disable_expires_at_validation",
    "jwt_disable_not_before_validation",
    "scopes",
    "idp_client_id_mapping_disabled",
    "jwt_scope_to_policy_mapping",
    "jwt_scope_claim_name",
    "notifications",
    "enable_signature_checking",
    "hmac_allowed_clock_skew",
    "hmac_allowed_algorithms",
    "request_signing",
    "base_identity_provided_by",
    "definition",
    "version_data",
    "uptime_tests",
    "proxy",
    "disable_rate_limit",
    "disable_quota",
    "custom_middleware",
    "custom_middleware_bundle",
    "custom_middleware_bundle_disabled",
    "cache_options",
    "session_lifetime_respects_key_expiration",
    "session_lifetime",
    "session_lifetime_disabled",
    "active",
    "internal",
    "auth_provider",
    "session_provider",
    "event_handlers",
    "enable_batch_request_support",
    "enable_ip_whitelisting",
    "allowed_ips",
    "enable_ip_blacklisting",
    "blacklisted_ips",
    "ip_access_control_disabled",
    "dont_set_quota_on_create",
    "expire_analytics_after",
    "disable_expire_analytics",
    "response_processors",
    "CORS",
    "domain",
    "domain_disabled",
    "certificates",
    "do_not_track",
    "enable_context_vars",
    "config_data",
    "config_data_disabled",
    "tag_headers",
    "global_rate_limit",
    "strip_auth_data",
    "enable_detailed_recording",
    "graphql",
    "analytics_plugin",
    "tags_disabled",
    "tags",
    "is_oas",
    "is_site",
    "detailed_tracing",
    "upstream_auth",
    "security_requirements",
    "security_requirement_scopes",
    "error_overrides",
    "error_overrides_disabled",
    "check_host_against_uptime_tests",
    "hook_references",
    "enable_detailed_recording",
];

/// A field no list knows, at `path` (e.g. `apis[0].use_mutal_tls_auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    pub path: String,
    /// The closest known name, when one is close enough to be the intended one.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.suggestion {
            Some(known) => write!(f, "{}: unknown field; did you mean `{known}`?", self.path),
            None => write!(f, "{}: unknown field, ignored", self.path),
        }
    }
}

/// Every unknown field of `gate` (in key order of serde_json's maps).
pub fn find(gate: &Value) -> Vec<UnknownField> {
    let mut found = Vec::new();
    let Some(top) = gate.as_object() else {
        return found;
    };
    check(top, "", GATE, &mut found);
    if let Some(security) = object(top, "security") {
        check(security, "security.", SECURITY, &mut found);
        if let Some(certificates) = object(security, "certificates") {
            check(
                certificates,
                "security.certificates.",
                CERTIFICATES,
                &mut found,
            );
        }
    }
    if let Some(store) = object(top, "store") {
        check(store, "store.", STORE, &mut found);
    }
    let apis = top.get("apis").and_then(Value::as_array);
    for (index, api) in apis.into_iter().flatten().enumerate() {
        let Some(api) = api.as_object() else {
            continue;
        };
        let at = format!("apis[{index}].");
        if super::oas::has_oas_fields(api) {
            super::oas::find_unknown(api, &at, &mut found);
            continue;
        }
        check(api, &at, API, &mut found);
        if let Some(proxy) = object(api, "proxy") {
            check(proxy, &format!("{at}proxy."), PROXY, &mut found);
            if let Some(transport) = object(proxy, "transport") {
                check(
                    transport,
                    &format!("{at}proxy.transport."),
                    TRANSPORT,
                    &mut found,
                );
            }
        }
        if let Some(auth) = object(api, "auth") {
            check(auth, &format!("{at}auth."), AUTH_CONFIG, &mut found);
        }
        if let Some(configs) = object(api, "auth_configs") {
            let at = format!("{at}auth_configs.");
            check(configs, &at, AUTH_TYPES, &mut found);
            for (kind, config) in configs {
                if let Some(config) = config.as_object() {
                    check(config, &format!("{at}{kind}."), AUTH_CONFIG, &mut found);
                }
            }
        }
    }
    found
}

fn object<'a>(parent: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    parent.get(key).and_then(Value::as_object)
}

fn check(
    fields: &Map<String, Value>,
    prefix: &str,
    known: &[&'static str],
    found: &mut Vec<UnknownField>,
) {
    for name in fields.keys() {
        if !known.contains(&name.as_str()) {
            found.push(UnknownField {
                path: format!("{prefix}{name}"),
                suggestion: closest(name, known.iter().copied()),
            });
        }
    }
}

/// The known name a typo most likely meant: the most similar one, if similar enough.
pub(super) fn closest(
    name: &str,
    known: impl IntoIterator<Item = &'static str>,
) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (k, strsim::jaro_winkler(&lower, &k.to_ascii_lowercase())))
        .filter(|(_, score)| *score >= 0.85)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorted: object key order depends on serde_json's `preserve_order` feature, which
    /// another crate in the same build may switch on.
    fn paths(json: &str) -> Vec<String> {
        let mut found: Vec<String> = find(&serde_json::from_str(json).unwrap())
            .iter()
            .map(ToString::to_string)
            .collect();
        found.sort();
        found
    }

    #[test]
    fn typos_in_security_fields_name_the_field_meant() {
        let found = paths(
            r#"{"stoer": {}, "security": {"certificates": {"api": []}, "allow_unsafe": true},
                "store": {"sync_interval": 5},
                "apis": [{"api_id": "a", "use_mutal_tls_auth": true, "client_certficates": [],
                          "proxy": {"listen_pth": "/", "transport": {"ssl_min_verison": 771}},
                          "auth_configs": {"authTokn": {}, "authToken": {"use_certficate": true}}}]}"#,
        );
        let mut expected = vec![
            "stoer: unknown field; did you mean `store`?",
            "security.allow_unsafe: unknown field; did you mean `allow_unsafe_dynamic_mtls_token`?",
            "security.certificates.api: unknown field; did you mean `apis`?",
            "store.sync_interval: unknown field; did you mean `sync_interval_ms`?",
            "apis[0].client_certficates: unknown field; did you mean `client_certificates`?",
            "apis[0].use_mutal_tls_auth: unknown field; did you mean `use_mutual_tls_auth`?",
            "apis[0].proxy.listen_pth: unknown field; did you mean `listen_path`?",
            "apis[0].proxy.transport.ssl_min_verison: unknown field; did you mean `ssl_min_version`?",
            "apis[0].auth_configs.authTokn: unknown field; did you mean `authToken`?",
            "apis[0].auth_configs.authToken.use_certficate: unknown field; did you mean `use_certificate`?",
        ];
        expected.sort_unstable();
        assert_eq!(found, expected);
    }

    #[test]
    fn tyk_fields_the_gate_ignores_are_not_reported() {
        let found = paths(
            r#"{"org_id": "o", "event_handlers": {"events": {}},
                "security": {"certificate_expiry_monitor": {"warning_threshold_days": 7}},
                "apis": [{"api_id": "a", "name": "n", "version_data": {},
                "enable_jwt": false, "CORS": {}, "proxy": {"strip_listen_path": true,
                "transport": {}}, "auth": {"auth_header_name": "x"}}]}"#,
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_name_far_from_every_known_one_is_reported_without_a_guess() {
        assert_eq!(
            paths(r#"{"x_custom_note": 1}"#),
            vec!["x_custom_note: unknown field, ignored"]
        );
    }
}
