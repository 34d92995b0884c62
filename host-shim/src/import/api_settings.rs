//! Per API definition: the settings Tyk applies and the gate does not (yet), each named where
//! the definition says it (a Classic path, or for an OAS document the OAS path its Classic
//! field came from). The definition itself goes into the gate whole, so a setting "kept" here
//! is in the gate under Tyk's name and applies the day mtls-gate implements it.

use super::gateway::{is_zero, lookup};
use super::report::{Kind, Report};
use mtls_gate_core::config::oas;
use serde_json::Value;

const UPSTREAM_TLS: &str = "rendered into the API's upstream clusters";

/// Tyk's upstream common-name check, which `render` cannot render and refuses.
const COMMON_NAME_CHECK: &str = "proxy.transport.ssl_force_common_name_check";

/// Tyk's Classic auth methods besides certificates: any of them on, with `use_keyless` off,
/// means Tyk wants a credential the gate never checks.
const OTHER_AUTH: [&str; 10] = [
    "use_standard_auth",
    "use_basic_auth",
    "enable_jwt",
    "use_oauth2",
    "use_openid",
    "enable_signature_checking",
    "custom_plugin_auth_enabled",
    "enable_coprocess_auth",
    "use_go_plugin_auth",
    "external_oauth.enabled",
];

/// The definition as Classic fields, and how to name a Classic field in the file.
pub struct ClassicView {
    pub api: Value,
    origins: Option<oas::Origins>,
}

impl ClassicView {
    /// `None` for an OAS document the core cannot read (validation names what is wrong).
    pub fn of(definition: &Value) -> Option<ClassicView> {
        match oas::is_oas(definition) {
            true => oas::to_classic(definition, "")
                .ok()
                .map(|twin| ClassicView {
                    api: twin.api,
                    origins: Some(twin.origins),
                }),
            false => Some(ClassicView {
                api: definition.clone(),
                origins: None,
            }),
        }
    }

    /// Where the definition says `field` (a Classic path).
    pub fn name(&self, field: &str) -> String {
        self.origins
            .as_ref()
            .and_then(|o| o.oas_path(field))
            .unwrap_or_else(|| field.to_owned())
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        lookup(&self.api, field)
    }

    fn is_set(&self, field: &str) -> bool {
        self.get(field).is_some_and(|v| !is_zero(v))
    }

    pub fn is_active(&self) -> bool {
        self.get("active") != Some(&Value::Bool(false))
    }

    /// Tyk's Certificate Authentication, in any of its spellings.
    fn uses_certificate_auth(&self) -> bool {
        [
            "auth_configs.authToken.use_certificate",
            "auth_configs.authToken.useCertificate",
            "auth.use_certificate",
        ]
        .iter()
        .any(|field| self.get(field) == Some(&Value::Bool(true)))
    }

    /// The API's domain, when the gate binds the API to it.
    pub fn bound_domain(&self) -> Option<&str> {
        let domain = self.get("domain")?.as_str()?.trim();
        (!domain.is_empty() && !self.is_set("domain_disabled")).then_some(domain)
    }
}

/// Reports what the gate does not apply of one definition (file `file`).
pub fn report_api(file: &str, view: &ClassicView, report: &mut Report) {
    let at = |field: &str| format!("{file}: {}", view.name(field));
    if !view.is_active() {
        report.push(
            Kind::Note,
            at("active"),
            "inactive: kept, and ignored by the gate as by Tyk",
        );
        return;
    }
    if view.is_set("pinned_public_keys") && !view.is_set("certificate_pinning_disabled") {
        report.push(
            Kind::Carried,
            at("pinned_public_keys"),
            "Envoy checks the upstream's key at the handshake (verify_certificate_spki)",
        );
    }
    for field in [
        "ssl_insecure_skip_verify",
        "ssl_ciphers",
        "ssl_min_version",
        "ssl_max_version",
    ] {
        let field = format!("proxy.transport.{field}");
        if view.is_set(&field) {
            report.push(Kind::Carried, at(&field), UPSTREAM_TLS);
        }
    }
    if view.is_set(COMMON_NAME_CHECK) {
        report.push(
            Kind::NotCarried,
            at(COMMON_NAME_CHECK),
            crate::render::upstream_tls::COMMON_NAME_CHECK,
        );
    }
    if !view.is_set("use_keyless") && !view.uses_certificate_auth() {
        let on: Vec<&str> = OTHER_AUTH
            .iter()
            .copied()
            .filter(|field| view.is_set(field))
            .collect();
        let methods = match (view.origins.is_some(), on.is_empty()) {
            (true, _) => "authentication is enabled".to_owned(),
            (false, true) => "use_keyless is false: Tyk's default auth token".to_owned(),
            (false, false) => on.join(", "),
        };
        report.push(
            Kind::NotCarried,
            at("use_keyless"),
            format!(
                "Tyk authenticates this API's requests ({methods}); mtls-gate checks certificates \
                 only, so requests without those credentials pass the gate"
            ),
        );
    }
    if view.is_set("listen_port") {
        report.push(
            Kind::NotCarried,
            at("listen_port"),
            "the gate serves every API on render's --listen",
        );
    }
    if let Some(protocol) = view.get("protocol").and_then(Value::as_str)
        && !matches!(protocol, "" | "http" | "https")
    {
        report.push(
            Kind::NotCarried,
            at("protocol"),
            format!("mtls-gate proxies HTTP only, not {protocol:?}"),
        );
    }
}

/// Removes Tyk's upstream common-name check from `definition` (Classic or OAS), which
/// `render` refuses ([`report_api`] reports it as not carried). Whether it was on.
pub fn drop_common_name_check(definition: &mut Value) -> bool {
    let removed = |parent: Option<&mut Value>, field: &str| {
        parent
            .and_then(Value::as_object_mut)
            .and_then(|object| object.remove(field))
            .is_some_and(|value| value == Value::Bool(true))
    };
    let classic = removed(
        definition.pointer_mut("/proxy/transport"),
        "ssl_force_common_name_check",
    );
    let oas = removed(
        definition.pointer_mut(&format!("/{}/upstream/tlsTransport", oas::EXTENSION)),
        "forceCommonNameCheck",
    );
    classic || oas
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(definition: Value) -> Vec<String> {
        let mut report = Report::default();
        report_api(
            "apps/a.json",
            &ClassicView::of(&definition).unwrap(),
            &mut report,
        );
        report.lines()
    }

    #[test]
    fn classic_settings_the_gate_does_not_apply_are_named() {
        let found = lines(json!({
            "api_id": "a", "use_keyless": false, "enable_jwt": true,
            "pinned_public_keys": {"*": "k"}, "listen_port": 9000, "protocol": "tls",
            "proxy": {"transport": {"ssl_min_version": 771, "ssl_ciphers": []}}
        }));
        let starts = [
            "apps/a.json: pinned_public_keys: carried (Envoy checks the upstream's key",
            "apps/a.json: proxy.transport.ssl_min_version: carried (rendered into the API's upstream clusters",
            "apps/a.json: use_keyless: not carried (Tyk authenticates this API's requests (enable_jwt)",
            "apps/a.json: listen_port: not carried (the gate serves every API",
            "apps/a.json: protocol: not carried (mtls-gate proxies HTTP only, not \"tls\")",
        ];
        assert_eq!(found.len(), starts.len(), "{found:#?}");
        for (line, start) in found.iter().zip(starts) {
            assert!(
                line.starts_with(start),
                "{line:?} should start with {start:?}"
            );
        }
    }

    #[test]
    fn certificate_auth_keyless_and_disabled_pins_report_nothing() {
        assert!(lines(json!({"use_keyless": true})).is_empty());
        assert!(
            lines(json!({"use_standard_auth": true,
                         "auth_configs": {"authToken": {"use_certificate": true}}}))
            .is_empty()
        );
        assert!(
            lines(
                json!({"use_keyless": true, "pinned_public_keys": {"*": "k"},
                         "certificate_pinning_disabled": true})
            )
            .is_empty()
        );
    }

    #[test]
    fn oas_settings_are_named_by_their_oas_path() {
        let found = lines(json!({"openapi": "3.0.3", "x-tyk-api-gateway": {
            "info": {"id": "a", "name": "a", "state": {"active": true}},
            "upstream": {"url": "https://up.test", "tlsTransport": {"minVersion": "1.2"}},
            "server": {"listenPath": {"value": "/"}, "authentication": {"enabled": true}}}}));
        let starts = [
            "apps/a.json: x-tyk-api-gateway.upstream.tlsTransport.minVersion: carried",
            "apps/a.json: x-tyk-api-gateway.server.authentication.enabled: not carried (Tyk authenticates this API's requests (authentication is enabled)",
        ];
        assert_eq!(found.len(), starts.len(), "{found:#?}");
        for (line, start) in found.iter().zip(starts) {
            assert!(
                line.starts_with(start),
                "{line:?} should start with {start:?}"
            );
        }
    }
}
