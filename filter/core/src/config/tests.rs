//! The configuration as a whole: Tyk names in, the compiled model out, refusals by path.
//! Test-only: `config/mod.rs` includes it under `#[cfg(test)]`, so unwraps here cannot trap a VM.

use super::*;

const FP: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const TYK_SAMPLE: &str = include_str!("../../tests/fixtures/app_sample.json");

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
    let config = GateConfig::from_json(br#"{"apis": [{"api_id": "a", "active": false}]}"#).unwrap();
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
        (r#"{"default": "allow"} {}"#, "$", "trailing characters"),
        (
            r#"{"apis": [{"api_id": "a", "org_id": "o", "org_id": "p"}]}"#,
            "apis[0]",
            "duplicate field `org_id`",
        ),
        // A struct is an object, never an array read field by field.
        (
            r#"{"apis": [{"api_id": "a", "proxy": ["/a/", "http://up.test"]}]}"#,
            "apis[0].proxy",
            "invalid type: sequence",
        ),
        (
            r#"{"apis": [{"api_id": "a", "proxy": {"transport": {"ssl_min_version": 70000}}}]}"#,
            "apis[0].proxy.transport.ssl_min_version",
            "expected u16",
        ),
        (
            r#"{"apis": [{"api_id": "a", "proxy": {"transport": {"ssl_min_version": 768}}}]}"#,
            "apis[0].proxy.transport.ssl_min_version",
            "between 769 and 772",
        ),
        (
            r#"{"apis": [{"api_id": "a", "proxy": {"transport": {"ssl_min_version": 772, "ssl_max_version": 771}}}]}"#,
            "apis[0].proxy.transport.ssl_max_version",
            "below ssl_min_version",
        ),
        (
            r#"{"apis": [{"api_id": "a", "pinned_public_keys": {"https://up.test": "k"}}]}"#,
            "apis[0].pinned_public_keys[\"https://up.test\"]",
            "without a scheme",
        ),
        (
            r#"{"apis": [{"api_id": "a", "pinned_public_keys": {"up.test": " , "}}]}"#,
            "apis[0].pinned_public_keys[\"up.test\"]",
            "at least one public key",
        ),
    ];
    for (json, path, reason) in cases {
        let error = refused(json);
        assert_eq!(error.path, *path, "{json} -> {error}");
        assert!(error.reason().contains(reason), "{json} -> {error}");
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
    assert!(unset.reason().contains("host_env_keys"), "{unset}");
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
    assert!(error.reason().contains("without a scheme"));
}

#[test]
fn pins_and_upstream_tls_settings_are_read_into_the_model() {
    let config = GateConfig::from_json(
        format!(
            r#"{{"apis": [{{"api_id": "a", "certificate_pinning_disabled": true,
            "pinned_public_keys": {{"*": "{FP}, acme{FP}", "UP.test": "{FP}"}},
            "proxy": {{"transport": {{"ssl_min_version": 771, "ssl_max_version": 0,
                "ssl_ciphers": ["TLS_AES_128_GCM_SHA256"], "ssl_insecure_skip_verify": true,
                "ssl_force_common_name_check": true, "proxy_url": "http://p"}}}}}}]}}"#
        )
        .as_bytes(),
    )
    .unwrap();
    let api = &config.apis[0];
    assert!(api.certificate_pinning_disabled);
    assert_eq!(api.pinned_public_keys["*"], format!("{FP}, acme{FP}"));
    assert_eq!(api.pins.keys().collect::<Vec<_>>(), ["*", "up.test"]);
    assert_eq!(api.pins.public_keys().count(), 3);
    assert_eq!(
        api.upstream_transport,
        UpstreamTransport {
            insecure_skip_verify: true,
            ciphers: vec!["TLS_AES_128_GCM_SHA256".into()],
            min_version: Some(771),
            max_version: None,
            force_common_name_check: true,
        }
    );
    assert!(
        config.unknown_fields.is_empty(),
        "{:?}",
        config.unknown_fields
    );
}

/// SPEC §6b: an API's `https` target is pinned by its own map (unless disabled) or the
/// global one; the filter keeps the host for Tyk's message.
#[test]
fn an_https_target_is_pinned_by_its_own_or_the_global_map() {
    let config = GateConfig::from_json(
        format!(
            r#"{{"security": {{"pinned_public_keys": {{"*.global.test": "{FP}"}}}},
            "apis": [
            {{"api_id": "own", "proxy": {{"listen_path": "/a/", "target_url": "https://up.test:8443/x"}},
              "pinned_public_keys": {{"up.test": "{FP}"}}}},
            {{"api_id": "disabled", "proxy": {{"listen_path": "/b/", "target_url": "https://up.test"}},
              "pinned_public_keys": {{"up.test": "{FP}"}}, "certificate_pinning_disabled": true}},
            {{"api_id": "global", "proxy": {{"listen_path": "/c/", "target_url": "https://svc.global.test"}},
              "pinned_public_keys": {{"other.test": "{FP}"}}, "certificate_pinning_disabled": true}},
            {{"api_id": "plain", "proxy": {{"listen_path": "/d/", "target_url": "http://up.test"}},
              "pinned_public_keys": {{"up.test": "{FP}"}}}}]}}"#
        )
        .as_bytes(),
    )
    .unwrap();
    let hosts: Vec<Option<&str>> = config
        .apis
        .iter()
        .map(|api| api.pinned_upstream.as_ref().map(|p| p.host()))
        .collect();
    assert_eq!(
        hosts,
        [Some("up.test"), None, Some("svc.global.test"), None]
    );
    assert_eq!(
        config.global_pins.keys().collect::<Vec<_>>(),
        ["*.global.test"]
    );
}

#[test]
fn bad_pins_and_ciphers_are_refused_with_their_path() {
    for (json, path, reason) in [
        (
            r#"{"security": {"pinned_public_keys": {"up.test": "/etc/tyk/pin.pub"}}}"#,
            r#"security.pinned_public_keys["up.test"]"#,
            "a file path works through `mtls-gate-shim render`",
        ),
        (
            r#"{"apis": [{"api_id": "a", "pinned_public_keys": {"up.test:443": "k"}}]}"#,
            r#"apis[0].pinned_public_keys["up.test:443"]"#,
            "without its port",
        ),
        (
            r#"{"apis": [{"api_id": "a", "proxy": {"transport": {"ssl_ciphers": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_RC4_128_SHA"]}}}]}"#,
            "apis[0].proxy.transport.ssl_ciphers[1]",
            "BoringSSL",
        ),
    ] {
        let error = refused(json);
        assert_eq!(error.path, path, "{json}");
        assert!(error.reason().contains(reason), "{error}");
    }
}
