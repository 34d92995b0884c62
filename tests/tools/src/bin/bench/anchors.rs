//! The HTTP filter the bench sets beside mtls-gate as its native anchor (issue 14 "every
//! anchor"): Envoy's own RBAC doing the same allow-list check in CEL, as an HTTP filter entry
//! for [`super::envoy_raw::replace_wasm_filter`]. (The native dynamic module is rendered by the
//! e2e launcher, `EnvoyConfig::native_module`.)

use serde_json::{Value, json};

/// Envoy's RBAC filter (`envoy.filters.http.rbac`, v3) allowing a request only when the
/// connection's client certificate digest is in `fingerprints`: one ALLOW policy whose
/// `condition` is the parsed CEL expression `connection.sha256_peer_certificate_digest in
/// [...]` (`google.api.expr.v1alpha1.Expr`, the form Envoy 1.40's RBAC `condition` takes; the
/// attribute is lowercase hex, as our fingerprints are). A request no policy allows gets 403
/// `RBAC: access denied`. CEL's `in` over a list literal is a linear scan, which the
/// 100,000-entry scenario measures.
pub fn rbac_cel_filter(fingerprints: &[String]) -> Value {
    let elements: Vec<Value> = fingerprints
        .iter()
        .map(|fp| json!({"const_expr": {"string_value": fp}}))
        .collect();
    json!({
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {
                "action": "ALLOW",
                "policies": {
                    "listed-client-certificate": {
                        "permissions": [{"any": true}],
                        "principals": [{"any": true}],
                        "condition": {"call_expr": {
                            "function": "@in",
                            "args": [
                                {"select_expr": {
                                    "operand": {"ident_expr": {"name": "connection"}},
                                    "field": "sha256_peer_certificate_digest",
                                }},
                                {"list_expr": {"elements": elements}},
                            ],
                        }},
                    },
                },
            },
        },
    })
}
