//! An OAS API kept as Tyk keeps it is two files: the OAS document, which the gate reads, and
//! its Classic file (`"is_oas": true`), which Tyk's middleware reads (`MakeSpec` takes the
//! Classic definition; the document only feeds OAS-specific middleware). Tyk's gateway API
//! writes both from one request, so they agree; a hand edit to one of them does not reach the
//! other. Where they disagree on a field the gate enforces, the gate would enforce something
//! Tyk did not: each such field is a warning, named at the OAS document.

use super::gateway::{is_zero, lookup};
use super::report::{Kind, Report};
use mtls_gate_core::config::oas;
use serde_json::Value;

/// The Classic fields the gate reads from an OAS document (its twin's). A field a definition
/// leaves out has Tyk's zero value, except `active` (Tyk treats a definition without it as
/// active, as the gate does).
const COMPARED: [&str; 14] = [
    "api_id",
    "org_id",
    "active",
    "proxy.listen_path",
    "proxy.target_url",
    "domain",
    "use_mutual_tls_auth",
    "client_certificates",
    "certificates",
    "use_keyless",
    "strip_auth_data",
    "auth_configs.authToken.use_certificate",
    "upstream_certificates",
    "pinned_public_keys",
];

/// What `field` means for the gate: a domain, upstream map or pin map switched off by its
/// `*_disabled` flag is none (Tyk's `ExtractTo` writes the flag `true` for an absent OAS
/// object, which the twin leaves out: the same meaning); a zero value is none.
fn effective(api: &Value, field: &str) -> Value {
    let switch = match field {
        "domain" => Some("domain_disabled"),
        "upstream_certificates" => Some("upstream_certificates_disabled"),
        "pinned_public_keys" => Some("certificate_pinning_disabled"),
        _ => None,
    };
    if switch.and_then(|flag| lookup(api, flag)) == Some(&Value::Bool(true)) {
        return Value::Null;
    }
    match (field, lookup(api, field)) {
        ("active", None) => Value::Bool(true),
        (_, Some(value)) if !is_zero(value) => value.clone(),
        _ => Value::Null,
    }
}

/// Warns about each field where `document` (file `oas_file`) and its Classic file disagree.
pub fn compare(
    oas_file: &str,
    document: &Value,
    classic_file: &str,
    classic: &Value,
    report: &mut Report,
) {
    // A document the core cannot read is refused, by path, when the gate is validated.
    let Ok(twin) = oas::to_classic(document, "") else {
        return;
    };
    for field in COMPARED {
        if effective(&twin.api, field) != effective(classic, field) {
            let at = twin
                .origins
                .oas_path(field)
                .unwrap_or_else(|| field.to_owned());
            report.push(
                Kind::Warning,
                format!("{oas_file}: {at}"),
                format!(
                    "disagrees with {field} in {classic_file}: Tyk enforces {classic_file}'s, the gate reads this document's"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(allowlist: Value) -> Value {
        json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {},
            "x-tyk-api-gateway": {
                "info": {"id": "a", "name": "a", "state": {"active": true}},
                "upstream": {"url": "http://up.test/"},
                "server": {"listenPath": {"value": "/a/"},
                           "clientCertificates": {"enabled": true, "allowlist": allowlist}}}})
    }

    fn classic(allowlist: Value) -> Value {
        json!({"api_id": "a", "name": "a", "active": true, "is_oas": true,
               "proxy": {"listen_path": "/a/", "target_url": "http://up.test/"},
               "use_mutual_tls_auth": true, "client_certificates": allowlist,
               "use_keyless": true})
    }

    #[test]
    fn files_that_agree_give_no_warning_and_a_changed_list_is_named_at_the_document() {
        let mut report = Report::default();
        compare(
            "apps/a-oas.json",
            &document(json!(["x.pem"])),
            "apps/a.json",
            &classic(json!(["x.pem"])),
            &mut report,
        );
        assert!(report.entries().is_empty(), "{:?}", report.lines());

        compare(
            "apps/a-oas.json",
            &document(json!(["x.pem"])),
            "apps/a.json",
            &classic(json!(["y.pem"])),
            &mut report,
        );
        assert_eq!(
            report.lines(),
            [
                "warning: apps/a-oas.json: x-tyk-api-gateway.server.clientCertificates.allowlist: \
              disagrees with client_certificates in apps/a.json: Tyk enforces apps/a.json's, \
              the gate reads this document's"
            ]
        );
    }

    #[test]
    fn tyk_s_disabled_flags_for_absent_objects_are_no_disagreement() {
        let mut classic = classic(json!(["x.pem"]));
        classic["upstream_certificates_disabled"] = json!(true);
        classic["certificate_pinning_disabled"] = json!(true);
        classic["domain_disabled"] = json!(true);
        classic["upstream_certificates"] = json!(null);
        let mut report = Report::default();
        compare(
            "apps/a-oas.json",
            &document(json!(["x.pem"])),
            "apps/a.json",
            &classic,
            &mut report,
        );
        assert!(report.entries().is_empty(), "{:?}", report.lines());
    }
}
