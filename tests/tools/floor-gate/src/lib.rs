//! The floor of a certificate gate on proxy-wasm, which `make bench` measures beside the empty
//! filter and mtls-gate (issue 14): the host calls any gate that admits a client by its
//! certificate must make, with no logic of its own between them. Against the empty filter it
//! says what those calls cost Envoy; mtls-gate against it says what mtls-gate's own work costs.
//!
//! Its plugin configuration is one line: the 64-hex SHA-256 of the one client certificate it
//! admits, then optionally the word `headers`.
//! - Without `headers` (the bench's `floor-digest`): the request's certificate digest
//!   (`connection.sha256_peer_certificate_digest`) is read and compared; another certificate,
//!   or none, is answered 403 locally.
//! - With `headers` (`floor-gate`): also what any gate in front of Tyk APIs does around that
//!   check: it reads `:authority` and `:path` (to know the API), removes the client's
//!   `x-forwarded-client-cert` and writes the admitted certificate's digest upstream.
//!
//! Not a gate anyone should deploy: one fingerprint, no API matching, no expiry.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(FloorRoot::default()) });
}}

/// What the plugin configuration says.
#[derive(Default)]
struct Admits {
    /// Lowercase hex, as Envoy writes the digest property.
    fingerprint: String,
    headers: bool,
}

#[derive(Default)]
struct FloorRoot {
    admits: Rc<Admits>,
}

impl Context for FloorRoot {}

impl RootContext for FloorRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let config = String::from_utf8_lossy(&config);
        let mut words = config.split_whitespace();
        let fingerprint = words.next().unwrap_or_default().to_ascii_lowercase();
        let headers = match words.next() {
            None => false,
            Some("headers") => true,
            Some(_) => return false,
        };
        let is_digest =
            fingerprint.len() == 64 && fingerprint.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_digest || words.next().is_some() {
            return false;
        }
        self.admits = Rc::new(Admits {
            fingerprint,
            headers,
        });
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(FloorRequest {
            admits: Rc::clone(&self.admits),
        }))
    }
}

struct FloorRequest {
    admits: Rc<Admits>,
}

impl Context for FloorRequest {}

impl HttpContext for FloorRequest {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.admits.headers {
            // What names the API; a real gate would match them.
            let _authority = self.get_http_request_header(":authority");
            let _path = self.get_http_request_header(":path");
        }
        let digest = self.get_property(vec!["connection", "sha256_peer_certificate_digest"]);
        if digest.as_deref() != Some(self.admits.fingerprint.as_bytes()) {
            self.send_http_response(403, vec![], Some(b"certificate not allowed"));
            return Action::Pause;
        }
        if self.admits.headers {
            self.set_http_request_header("x-forwarded-client-cert", None);
            self.set_http_request_header("x-mtls-gate-cert-sha256", Some(&self.admits.fingerprint));
        }
        Action::Continue
    }
}
