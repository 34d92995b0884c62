//! Webhooks for the certificate events: the gate's top-level `event_handlers` block, in Tyk's
//! API-definition shape, with Tyk's web hook handler (`gateway/event_handler_webhooks.go`,
//! `apidef.WebHookHandlerConf`):
//!
//! ```json
//! "event_handlers": {"events": {
//!   "CertificateExpiringSoon": [{"handler_name": "eh_web_hook_handler", "handler_meta": {
//!     "target_path": "https://hooks.example/certs", "method": "POST",
//!     "header_map": {"X-Team": "platform"}, "event_timeout": 10}}],
//!   "CertificateExpired": [ ... ]}}
//! ```
//!
//! As Tyk: `method` is one of GET, PUT, POST, DELETE, PATCH (anything else is GET, with a
//! warning); `header_map` is sent as given, with `User-Agent: Tyk-Hookshot` and
//! `Content-Type: application/json` unless the map sets them; `disabled: true` skips the
//! hook; `event_timeout` is the hook's own cool-down: the same event (type, certificate,
//! name, expiry, API; and here the role) is not sent to that hook again for that many seconds,
//! and with 0 (Tyk stores the checksum without expiry) never again. A `target_path` that is
//! not an absolute http(s) URL is refused with a warning, and the hook skipped (Tyk logs the
//! same and skips it). `template_path` is not read: the body is always Tyk's default template
//! for these events ([`super::events`]). Other handlers (`eh_log_handler`: every event is
//! logged anyway) and other events are not the shim's and are ignored.
//!
//! Delivery ([`WebhookClient`]) runs in the background with [`DELIVERY_TIMEOUT`]; a failure is logged (the
//! target's scheme and host only: webhook URLs often carry a token) and counted, and never
//! holds up a check.

use super::events::{CertificateEvent, EventName};
use axum::body::Bytes;
use axum::http::Request;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use reqwest::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Method, Url};
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Tyk's `handler_name` of the web hook handler.
pub const WEB_HOOK_HANDLER: &str = "eh_web_hook_handler";
/// Tyk's log handler: the shim logs every event already.
const LOG_HANDLER: &str = "eh_log_handler";
/// How long one delivery may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Tyk's `header.TykHookshot`.
const USER_AGENT_VALUE: &str = "Tyk-Hookshot";

/// One configured web hook for one event.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub event: EventName,
    pub method: Method,
    pub target: Url,
    pub headers: HeaderMap,
    /// Seconds; 0: the same event goes to this hook once.
    pub event_timeout: i64,
}

impl Webhook {
    /// The key of Tyk's `WasHookFired` checksum for `event` at this hook.
    pub fn fired_key(&self, event: &CertificateEvent) -> String {
        let text = format!(
            "{} {}\n{}{}{}{}{}{}",
            self.method,
            self.target,
            event.name.as_str(),
            event.cert_id,
            event.cert_name,
            event.not_after,
            event.api_id,
            event.cert_role,
        );
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Where it goes, for logs: scheme, host and port, never the path or query.
    pub fn destination(&self) -> String {
        let host = self.target.host_str().unwrap_or_default();
        match self.target.port() {
            Some(port) => format!("{}://{host}:{port}", self.target.scheme()),
            None => format!("{}://{host}", self.target.scheme()),
        }
    }
}

/// Sends web hooks: `http://` with reqwest, `https://` as HTTP/1.1 over rustls (the build's
/// reqwest has no TLS), verified against the system's roots (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` are honoured, as openssl does).
pub struct WebhookClient {
    http: reqwest::Client,
    tls: TlsConnector,
}

impl WebhookClient {
    /// A client trusting the system's roots.
    pub fn new() -> Result<Self, String> {
        let native = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::warn!(
                errors = ?native.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "expiry web hooks: no system root certificates; https targets will fail"
            );
        }
        Self::with_roots(roots)
    }

    /// A client trusting `roots` for https targets.
    pub fn with_roots(roots: RootCertStore) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .build()
            .map_err(|e| causes(&e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(WebhookClient {
            http,
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Sends `body` to `hook`; the answer's status, or why there is none.
    pub async fn deliver(&self, hook: &Webhook, body: String) -> Result<u16, String> {
        let status = match hook.target.scheme() {
            "https" => tokio::time::timeout(DELIVERY_TIMEOUT, self.deliver_tls(hook, body))
                .await
                .map_err(|_| format!("no answer within {DELIVERY_TIMEOUT:?}"))??,
            _ => self
                .http
                .request(hook.method.clone(), hook.target.clone())
                .headers(hook.headers.clone())
                .body(body)
                .send()
                .await
                .map_err(|error| causes(&error.without_url()))?
                .status()
                .as_u16(),
        };
        match status {
            200..=299 => Ok(status),
            other => Err(format!("answered {other}")),
        }
    }

    async fn deliver_tls(&self, hook: &Webhook, body: String) -> Result<u16, String> {
        let target = &hook.target;
        let port = target.port_or_known_default().unwrap_or(443);
        // `[::1]` in a URL is `::1` to connect to; a name or an address either way.
        let address = target
            .host_str()
            .ok_or("no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let name = ServerName::try_from(address.clone()).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect((address.as_str(), port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| causes(&e))?;
        tokio::spawn(connection);
        let authority = match target.port() {
            Some(port) => format!("{}:{port}", target.host_str().unwrap_or_default()),
            None => target.host_str().unwrap_or_default().to_owned(),
        };
        let path = match target.query() {
            Some(query) => format!("{}?{query}", target.path()),
            None => target.path().to_owned(),
        };
        let mut request = Request::builder()
            .method(hook.method.clone())
            .uri(path)
            .header(HOST, authority);
        for (name, value) in &hook.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender.send_request(request).await.map_err(|e| causes(&e))?;
        Ok(response.status().as_u16())
    }
}

/// An error and its causes, `: `-joined (reqwest's own text is only the outermost).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The web hooks of a gate document, in order. What cannot be used is named in `warnings`.
pub fn from_gate(gate: &Value, warnings: &mut Vec<String>) -> Vec<Webhook> {
    let Some(events) = gate.get("event_handlers").and_then(|h| h.get("events")) else {
        return Vec::new();
    };
    let Some(events) = events.as_object() else {
        warnings.push("event_handlers.events: not an object; no webhooks".to_owned());
        return Vec::new();
    };
    let mut hooks = Vec::new();
    for (name, handlers) in events {
        let Some(event) = EventName::parse(name) else {
            continue;
        };
        let handlers = handlers.as_array().map(Vec::as_slice).unwrap_or_default();
        for (index, handler) in handlers.iter().enumerate() {
            let at = format!("event_handlers.events.{name}[{index}]");
            match handler.get("handler_name").and_then(Value::as_str) {
                Some(WEB_HOOK_HANDLER) => {}
                Some(LOG_HANDLER) => continue,
                other => {
                    warnings.push(format!(
                        "{at}.handler_name: {other:?} is not a handler the shim runs ({WEB_HOOK_HANDLER}); skipped"
                    ));
                    continue;
                }
            }
            let meta = handler.get("handler_meta").unwrap_or(&Value::Null);
            match webhook(event, meta, &format!("{at}.handler_meta"), warnings) {
                Ok(Some(hook)) => hooks.push(hook),
                Ok(None) => {}
                Err(reason) => warnings.push(format!("{at}.handler_meta.{reason}; skipped")),
            }
        }
    }
    hooks
}

/// One `handler_meta`; `Ok(None)` for a disabled hook, `Err` names the field.
fn webhook(
    event: EventName,
    meta: &Value,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Webhook>, String> {
    if meta.get("disabled").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let target = meta
        .get("target_path")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let target = Url::parse(target)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .ok_or("target_path: not an absolute http(s) URL")?;
    let method_text = meta
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase();
    let method = match method_text.as_str() {
        "GET" => Method::GET,
        "PUT" => Method::PUT,
        "POST" => Method::POST,
        "DELETE" => Method::DELETE,
        "PATCH" => Method::PATCH,
        _ => {
            warnings.push(format!(
                "{at}.method: must be one of GET, PUT, POST, DELETE or PATCH; GET is used (as Tyk)"
            ));
            Method::GET
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    let header_map = meta.get("header_map").and_then(Value::as_object);
    for (name, value) in header_map.into_iter().flatten() {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header_map: {name:?} is not a header name"))?;
        let value = value
            .as_str()
            .and_then(|v| HeaderValue::from_str(v).ok())
            .ok_or_else(|| format!("header_map.{name}: not a header value"))?;
        headers.insert(header, value);
    }
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if meta
        .get("template_path")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
    {
        warnings.push(format!(
            "{at}.template_path: not read; the body is Tyk's default template for certificate events"
        ));
    }
    let event_timeout = meta
        .get("event_timeout")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    Ok(Some(Webhook {
        event,
        method,
        target,
        headers,
        event_timeout,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hooks(gate: Value) -> (Vec<Webhook>, Vec<String>) {
        let mut warnings = Vec::new();
        (from_gate(&gate, &mut warnings), warnings)
    }

    #[test]
    fn tyks_web_hook_handler_is_read_with_its_fields() {
        let (hooks, warnings) = hooks(json!({"event_handlers": {"events": {
            "CertificateExpired": [{"handler_name": "eh_web_hook_handler", "handler_meta": {
                "target_path": "http://127.0.0.1:9/hook?token=t", "method": "put",
                "header_map": {"X-Team": "platform", "Content-Type": "text/plain"},
                "event_timeout": 10}}],
            "CertificateExpiringSoon": [
                {"handler_name": "eh_log_handler", "handler_meta": {}},
                {"handler_name": "eh_web_hook_handler", "handler_meta": {
                    "target_path": "http://127.0.0.1:9/x", "method": "POST", "disabled": true}}],
            "AuthFailure": [{"handler_name": "eh_web_hook_handler", "handler_meta": {
                "target_path": "http://127.0.0.1:9/auth"}}]
        }}}));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(hooks.len(), 1);
        let hook = &hooks[0];
        assert_eq!(hook.event, EventName::CertificateExpired);
        assert_eq!(hook.method, Method::PUT);
        assert_eq!(hook.event_timeout, 10);
        assert_eq!(hook.headers["x-team"], "platform");
        assert_eq!(hook.headers["content-type"], "text/plain", "the map wins");
        assert_eq!(hook.headers["user-agent"], "Tyk-Hookshot");
        assert_eq!(
            hook.destination(),
            "http://127.0.0.1:9",
            "no path, no token"
        );
    }

    /// Render takes the block without a typo warning, and keeps it (URLs, headers: tokens)
    /// out of the filter's config, which Envoy's `/config_dump` shows.
    #[test]
    fn render_accepts_event_handlers_and_keeps_them_from_the_filter() {
        let gate = json!({
            "security": {"certificate_expiry_monitor": {"warning_threshold_days": 7}},
            "event_handlers": {"events": {"CertificateExpired": [{
                "handler_name": "eh_web_hook_handler", "handler_meta": {
                    "target_path": "https://hooks.test/x?token=hook-secret", "method": "POST",
                    "header_map": {"Authorization": "Bearer hook-secret"}, "event_timeout": 10}}]}},
            "apis": [{"api_id": "a", "proxy": {"listen_path": "/a/", "target_url": "http://u.test"}}]
        });
        let prepared =
            crate::render::prepare_gate(gate.to_string().as_bytes(), "127.0.0.1:1", None).unwrap();
        assert!(
            prepared.config.unknown_fields.is_empty(),
            "{:?}",
            prepared.config.unknown_fields
        );
        assert!(!prepared.filter_json.contains("hook-secret"));
        assert!(!prepared.filter_json.contains("event_handlers"));
    }

    /// An https receiver on loopback for `localhost`, with its CA: answers one request with
    /// 200 and hands back what it read.
    async fn https_receiver() -> (u16, RootCertStore, tokio::task::JoinHandle<String>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut read = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then as many body bytes as Content-Length says.
            loop {
                let n = tls.read(&mut buffer).await.unwrap();
                read.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&read).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if read.len() >= end + 4 + length || n == 0 {
                        break;
                    }
                }
            }
            tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            tls.shutdown().await.ok();
            String::from_utf8_lossy(&read).to_string()
        });
        (port, roots, served)
    }

    #[tokio::test]
    async fn an_https_hook_is_delivered_over_verified_tls() {
        let (port, roots, served) = https_receiver().await;
        let mut warnings = Vec::new();
        let hooks = from_gate(
            &json!({"event_handlers": {"events": {"CertificateExpired": [{
                "handler_name": "eh_web_hook_handler", "handler_meta": {
                    "target_path": format!("https://localhost:{port}/hooks?team=a"),
                    "method": "POST", "header_map": {"X-Team": "platform"}}}]}}}),
            &mut warnings,
        );
        let client = WebhookClient::with_roots(roots).unwrap();
        let status = client
            .deliver(&hooks[0], r#"{"event":"CertificateExpired"}"#.to_owned())
            .await;
        assert_eq!(status, Ok(200));
        let request = served.await.unwrap();
        assert!(
            request.starts_with("POST /hooks?team=a HTTP/1.1\r\n"),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(
            lower.contains(&format!("host: localhost:{port}\r\n")),
            "{request}"
        );
        assert!(lower.contains("x-team: platform\r\n"), "{request}");
        assert!(lower.contains("user-agent: tyk-hookshot\r\n"), "{request}");
        assert!(
            request.ends_with(r#"{"event":"CertificateExpired"}"#),
            "{request}"
        );

        // Without the receiver's CA the same hook fails, with the reason.
        let (port, _, _served) = https_receiver().await;
        let mut warnings = Vec::new();
        let untrusted = from_gate(
            &json!({"event_handlers": {"events": {"CertificateExpired": [{
                "handler_name": "eh_web_hook_handler", "handler_meta": {
                    "target_path": format!("https://localhost:{port}/")}}]}}}),
            &mut warnings,
        );
        let client = WebhookClient::with_roots(RootCertStore::empty()).unwrap();
        let error = client
            .deliver(&untrusted[0], "{}".to_owned())
            .await
            .unwrap_err();
        assert!(error.starts_with("TLS: "), "{error}");
    }

    #[test]
    fn unusable_hooks_are_named_and_skipped() {
        let (hooks, warnings) = hooks(json!({"event_handlers": {"events": {
        "CertificateExpired": [
            {"handler_name": "eh_web_hook_handler", "handler_meta": {"target_path": "/relative"}},
            {"handler_name": "cp_dynamic_handler", "handler_meta": {}},
            {"handler_name": "eh_web_hook_handler", "handler_meta": {
                "target_path": "http://h.test/", "method": "BREW", "template_path": "t.json"}}
        ]}}}));
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].method, Method::GET, "Tyk's fallback");
        assert_eq!(hooks[0].headers["content-type"], "application/json");
        let at = "event_handlers.events.CertificateExpired";
        assert!(
            warnings[0].starts_with(&format!("{at}[0].handler_meta.target_path")),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with(&format!("{at}[1].handler_name")),
            "{warnings:?}"
        );
        assert!(
            warnings[2].starts_with(&format!("{at}[2].handler_meta.method")),
            "{warnings:?}"
        );
        assert!(
            warnings[3].starts_with(&format!("{at}[2].handler_meta.template_path")),
            "{warnings:?}"
        );
    }
}
