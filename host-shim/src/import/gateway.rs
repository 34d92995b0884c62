//! tyk.conf: the gateway settings that concern mTLS and TLS (Tyk's `config.Config`,
//! `SecurityConfig`, `CertificatesConfig`, `HttpServerOptionsConfig` JSON tags), and what
//! becomes of each one: one row of [`SETTINGS`] each.
//!
//! A setting the gate applies is carried under Tyk's name. A setting the gate knows by name
//! (`unknown_fields` accepts it) but nothing applies yet is carried too, so the gate is
//! complete the day it is applied (and the report says it is not yet). Everything else is
//! left out, with the reason and what to do instead. A setting at Tyk's zero value (absent,
//! `false`, `0`, empty) changes nothing and is not reported.

use super::report::{Kind, Report};
use serde_json::{Map, Value};

/// What becomes of one tyk.conf setting.
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// In the gate under the same path; the filter or `render` applies it.
    Carried,
    /// In the gate under the same path (the gate accepts it as known); not applied yet.
    Kept(&'static str),
    /// Not in the gate.
    NotCarried(&'static str),
}

const CONTROL_API: &str = "the shim's admin API is guarded by `mtls-gate-shim serve --tls-cert \
    FILE --tls-key FILE --control-api-certs REF,...`, not by the gate";
const LISTENER_TLS: &str = "render's TLS listener uses Envoy's defaults: TLS 1.2 to 1.3 and \
    Envoy's cipher suites";
const UPSTREAM_TLS: &str = "mtls-gate does not apply gateway-wide upstream TLS settings; render's \
    clusters verify https upstreams against --upstream-ca with Envoy's defaults";

/// Dotted tyk.conf path → what becomes of it.
const SETTINGS: &[(&str, Fate)] = &[
    ("security.certificates.apis", Fate::Carried),
    ("security.certificates.upstream", Fate::Carried),
    ("security.allow_unsafe_dynamic_mtls_token", Fate::Carried),
    ("http_server_options.ssl_certificates", Fate::Carried),
    (
        "security.control_api_use_mutual_tls",
        Fate::Kept(CONTROL_API),
    ),
    ("security.certificates.control_api", Fate::Kept(CONTROL_API)),
    ("security.pinned_public_keys", Fate::Carried),
    ("security.certificate_expiry_monitor", Fate::Carried),
    (
        "security.private_certificate_encoding_secret",
        Fate::NotCarried(
            "a secret: the shim seals private keys with its own MTLS_GATE_ENCODING_SECRET; \
             upload certificates that have keys to the shim (mtls-gate-shim certs add)",
        ),
    ),
    (
        "security.certificates.dashboard_api",
        Fate::NotCarried("mtls-gate does not connect to a Tyk Dashboard"),
    ),
    (
        "security.certificates.mdcb_api",
        Fate::NotCarried("mtls-gate does not connect to MDCB"),
    ),
    (
        "http_server_options.certificates",
        Fate::NotCarried(
            "Tyk's deprecated form: put each cert_file and its key_file into one PEM file and \
             list it in http_server_options.ssl_certificates",
        ),
    ),
    (
        "http_server_options.min_version",
        Fate::NotCarried(LISTENER_TLS),
    ),
    (
        "http_server_options.max_version",
        Fate::NotCarried(LISTENER_TLS),
    ),
    (
        "http_server_options.ssl_ciphers",
        Fate::NotCarried(LISTENER_TLS),
    ),
    (
        "http_server_options.skip_client_ca_announcement",
        Fate::NotCarried(
            "render decides what the handshake asks for: a client certificate without a CA \
             list, except on a domain verified at the handshake against its listed CAs",
        ),
    ),
    (
        "http_server_options.server_name",
        Fate::NotCarried("render's listener answers every name; SNI picks the certificate"),
    ),
    (
        "http_server_options.ssl_insecure_skip_verify",
        Fate::NotCarried("Tyk uses it for its own Dashboard connection; mtls-gate has none"),
    ),
    (
        "proxy_ssl_insecure_skip_verify",
        Fate::NotCarried(UPSTREAM_TLS),
    ),
    ("proxy_ssl_min_version", Fate::NotCarried(UPSTREAM_TLS)),
    ("proxy_ssl_max_version", Fate::NotCarried(UPSTREAM_TLS)),
    ("proxy_ssl_ciphers", Fate::NotCarried(UPSTREAM_TLS)),
    (
        "proxy_ssl_disable_renegotiation",
        Fate::NotCarried(UPSTREAM_TLS),
    ),
    (
        "ssl_force_common_name_check",
        Fate::NotCarried(UPSTREAM_TLS),
    ),
    (
        "hostname",
        Fate::NotCarried(
            "Tyk binds every API without a domain to this host; the gate serves them on every host",
        ),
    ),
    (
        "use_db_app_configs",
        Fate::NotCarried(
            "Tyk loads its APIs from the Dashboard, not from app_path: the gate holds the \
             definitions found in --apps, which may not be the ones Tyk serves",
        ),
    ),
];

/// Tyk's `HttpServerOptionsConfig` JSON tags: another name there is ignored by Tyk, most
/// likely a typo (a misspelt `ssl_certificates` would leave the listener without them).
const HTTP_SERVER_OPTIONS: &[&str] = &[
    "read_timeout",
    "write_timeout",
    "use_ssl",
    "enable_http2",
    "enable_strict_routes",
    "enable_path_prefix_matching",
    "enable_path_suffix_matching",
    "ssl_insecure_skip_verify",
    "enable_websockets",
    "certificates",
    "ssl_certificates",
    "server_name",
    "min_version",
    "max_version",
    "skip_client_ca_announcement",
    "flush_interval",
    "skip_url_cleaning",
    "skip_target_path_escaping",
    "ssl_ciphers",
    "max_request_body_size",
    "xff_depth",
    "max_response_body_size",
];

/// The gate's top-level fields from tyk.conf (`security`, `http_server_options`), and a
/// report line for every mTLS or TLS setting `conf` sets. `file` names tyk.conf.
pub fn carry(conf: &Value, file: &str, report: &mut Report) -> Map<String, Value> {
    let mut gate = Value::Object(Map::new());
    for &(path, fate) in SETTINGS {
        let Some(value) = lookup(conf, path) else {
            continue;
        };
        let at = format!("{file}: {path}");
        match fate {
            Fate::Carried | Fate::Kept(_) => {
                insert(&mut gate, path, value.clone());
                match fate {
                    _ if is_zero(value) => {}
                    Fate::Kept(why) => report.push(Kind::Kept, at, why),
                    _ => report.push(Kind::Carried, at, ""),
                }
            }
            Fate::NotCarried(_) if is_zero(value) => {}
            Fate::NotCarried(why) => report.push(Kind::NotCarried, at, why),
        }
    }
    // Tyk's default is plain HTTP; the gate's listener is TLS (mTLS needs it).
    if lookup(conf, "http_server_options.use_ssl") != Some(&Value::Bool(true)) {
        report.push(
            Kind::NotCarried,
            format!("{file}: http_server_options.use_ssl"),
            "it is not true, so Tyk serves plain HTTP; render's listener is TLS (render \
             --plain-listen adds plain HTTP, where an mTLS API answers 403 TLS not enabled)",
        );
    }
    let options = conf.get("http_server_options").and_then(Value::as_object);
    for name in options.into_iter().flat_map(|o| o.keys()) {
        if !HTTP_SERVER_OPTIONS.contains(&name.as_str()) {
            report.push(
                Kind::Warning,
                format!("{file}: http_server_options.{name}"),
                "unknown field: not a Tyk setting, ignored by Tyk and by import",
            );
        }
    }
    match gate {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

/// The value at a dotted path, unless absent or `null`.
pub fn lookup<'v>(conf: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(conf, |node, key| node.get(key))
        .filter(|v| !v.is_null())
}

/// Sets the value at a dotted path, making the objects on the way.
fn insert(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        let Value::Object(fields) = node else {
            return;
        };
        if keys.peek().is_none() {
            fields.insert(key.to_owned(), value);
            return;
        }
        node = fields
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Tyk's zero values: what Go reads from an absent field.
pub fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_setting_is_carried_kept_or_reported_and_zero_values_are_silent() {
        let conf = json!({
            "secret": "s",
            "http_server_options": {"use_ssl": true, "ssl_certificates": ["s.pem"],
                                    "min_version": 771, "ssl_ciphers": [], "ssl_certificate": []},
            "security": {
                "private_certificate_encoding_secret": "do-not-print",
                "allow_unsafe_dynamic_mtls_token": false,
                "pinned_public_keys": {"*": "k.pub"},
                "certificates": {"apis": ["ca.pem"], "control_api": ["ops.pem"], "mdcb_api": []}
            },
            "proxy_ssl_min_version": 771
        });
        let mut report = Report::default();
        let gate = Value::Object(carry(&conf, "tyk.conf", &mut report));
        assert_eq!(
            gate,
            json!({
                "security": {
                    "certificates": {"apis": ["ca.pem"], "control_api": ["ops.pem"]},
                    "allow_unsafe_dynamic_mtls_token": false,
                    "pinned_public_keys": {"*": "k.pub"}
                },
                "http_server_options": {"ssl_certificates": ["s.pem"]}
            })
        );
        let lines = report.lines();
        let expected = [
            "tyk.conf: security.certificates.apis: carried",
            "tyk.conf: http_server_options.ssl_certificates: carried",
            "tyk.conf: security.pinned_public_keys: carried",
            "tyk.conf: security.certificates.control_api: kept in the gate, not applied yet (the shim's admin API is guarded",
            "tyk.conf: security.private_certificate_encoding_secret: not carried (a secret",
            "tyk.conf: http_server_options.min_version: not carried (render's TLS listener",
            "tyk.conf: proxy_ssl_min_version: not carried (mtls-gate does not apply",
            "warning: tyk.conf: http_server_options.ssl_certificate: unknown field",
        ];
        assert_eq!(lines.len(), expected.len(), "{lines:#?}");
        for (line, start) in lines.iter().zip(expected) {
            assert!(
                line.starts_with(start),
                "{line:?} should start with {start:?}"
            );
        }
        assert!(
            !lines.concat().contains("do-not-print"),
            "a secret is never printed"
        );
    }

    #[test]
    fn plain_http_tyk_is_reported() {
        let mut report = Report::default();
        carry(&json!({}), "tyk.conf", &mut report);
        assert_eq!(report.lines().len(), 1);
        assert!(
            report.lines()[0].starts_with("tyk.conf: http_server_options.use_ssl: not carried")
        );
    }
}
