//! One request: read what the decision needs, decide, apply the verdict.

use crate::facts::{EnvoyFacts, ExpiryCache};
use crate::host;
use crate::metrics::Metrics;
use crate::store_view::{NoStore, SharedDataStore, WithLookupAnswer};
use crate::sync::call_response_status;
use mtls_gate_core::config::GateConfig;
use mtls_gate_core::decision::{
    Admission, RequestFacts, RequestView, StoreView, Verdict, decide, upstream_cluster,
};
use mtls_gate_core::denial::{Denial, error_body};
use mtls_gate_core::feed::{LookupAnswer, lookup_path};
use mtls_gate_core::headers;
use mtls_gate_core::lookup_budget::{LookupBudget, LookupPermit};
use mtls_gate_core::negative_cache::NegativeCache;
use mtls_gate_core::xfcc;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

pub struct GateRequest {
    config: Option<Rc<GateConfig>>,
    metrics: Option<Rc<Metrics>>,
    facts: EnvoyFacts,
    /// This worker's "no session" answers (bounded; see [`NegativeCache`]).
    negative: Rc<RefCell<NegativeCache>>,
    authority: String,
    path: String,
    lookup_budget: Option<LookupBudget>,
    /// The lookup this request waits for: its callout token, the session key asked for, and
    /// its place in the budget.
    pending_lookup: Option<(u32, String, LookupPermit)>,
}

impl GateRequest {
    pub fn new(
        config: Option<Rc<GateConfig>>,
        metrics: Option<Rc<Metrics>>,
        expiry_cache: Rc<RefCell<ExpiryCache>>,
        negative: Rc<RefCell<NegativeCache>>,
        lookup_budget: Option<LookupBudget>,
    ) -> Self {
        GateRequest {
            config,
            metrics,
            facts: EnvoyFacts::new(expiry_cache),
            negative,
            authority: String::new(),
            path: String::new(),
            lookup_budget,
            pending_lookup: None,
        }
    }

    fn deny(&self, denial: &Denial) {
        if let Some(metrics) = &self.metrics {
            metrics.denied(denial);
        }
        // The Host is the client's: quoted, so it cannot forge a log line.
        log::debug!(
            "mtls-gate: {} {:?} {}",
            denial.status(),
            self.authority,
            denial.message()
        );
        host::send_local_response(denial.status(), &denial.body());
    }

    /// Runs the decision and applies it. Returns true if the request may continue now.
    fn decide_and_apply(
        &mut self,
        config: &GateConfig,
        store: &dyn StoreView,
        now_ms: i64,
    ) -> bool {
        let request = RequestView {
            authority: &self.authority,
            path: &self.path,
        };
        let verdict = decide(config, &request, &mut self.facts, store, now_ms / 1000);
        match verdict {
            Verdict::Allow(admission) => {
                apply_admission(config, &admission, store, &mut self.facts);
                if let Some(metrics) = &self.metrics {
                    metrics.allowed();
                }
                true
            }
            Verdict::Deny(denial) => {
                self.deny(&denial);
                false
            }
            Verdict::LookupSession { key } => {
                let Some(permit) = self.lookup_budget.as_ref().and_then(|b| b.try_acquire()) else {
                    if let Some(metrics) = &self.metrics {
                        metrics.lookup_shed();
                    }
                    self.deny(&Denial::StoreUnavailable);
                    return false;
                };
                match dispatch_lookup(config, &key) {
                    Some(token) => {
                        self.pending_lookup = Some((token, key, permit));
                        if let Some(metrics) = &self.metrics {
                            metrics.lookup_called();
                        }
                    }
                    None => self.deny(&Denial::StoreUnavailable),
                }
                false
            }
        }
    }
}

impl Context for GateRequest {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if self.pending_lookup.as_ref().map(|(token, ..)| *token) != Some(token_id) {
            return;
        }
        // The answer is in: the permit goes back to the budget with it.
        let Some((_, asked, permit)) = self.pending_lookup.take() else {
            return;
        };
        drop(permit);
        // A lookup is only ever made with a store configured; anything else answers 503
        // rather than leave the request paused forever.
        let Some(config) = self.config.clone() else {
            self.deny(&Denial::StoreUnavailable);
            return;
        };
        let Some(link) = config.store.as_ref() else {
            self.deny(&Denial::StoreUnavailable);
            return;
        };
        let now_ms = host::now_ms();
        // An answer about another key is no answer: it would be cached for every worker
        // under that key, and this request would ask again.
        let answer = read_lookup_answer(num_headers, body_size).filter(|answer| {
            let matches = answer.key == asked;
            if !matches {
                log::warn!("mtls-gate: session lookup answered for another key; ignored");
            }
            matches
        });
        let negative = Rc::clone(&self.negative);
        let shared = SharedDataStore::new(link, now_ms, &negative);
        let proceed = match answer {
            Some(answer) => {
                shared.record_lookup(&answer);
                let store = WithLookupAnswer {
                    inner: &shared,
                    answer: &answer,
                };
                self.decide_and_apply(&config, &store, now_ms)
            }
            // Fail closed: an unanswered lookup is an unavailable store, never a pass.
            None => {
                self.deny(&Denial::StoreUnavailable);
                false
            }
        };
        if proceed {
            host::resume_request();
        }
    }
}

impl HttpContext for GateRequest {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // A client must never steer routing or pose as an authenticated identity.
        for name in headers::GATE_OWNED {
            host::remove_request_header(name);
        }
        let Some(config) = self.config.clone() else {
            host::send_local_response(500, &error_body("mtls-gate is not configured"));
            return Action::Pause;
        };
        self.authority = host::request_header(":authority").unwrap_or_default();
        self.path = host::request_header(":path").unwrap_or_default();
        let now_ms = host::now_ms();
        let proceed = match &config.store {
            Some(link) => {
                let negative = Rc::clone(&self.negative);
                let store = SharedDataStore::new(link, now_ms, &negative);
                self.decide_and_apply(&config, &store, now_ms)
            }
            None => self.decide_and_apply(&config, &NoStore, now_ms),
        };
        if proceed {
            Action::Continue
        } else {
            Action::Pause
        }
    }

    /// Trailers reach the upstream too, and some servers merge them into the headers: the
    /// gate's own names never travel there from a client.
    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        for name in headers::GATE_OWNED.iter().chain([&headers::XFCC]) {
            host::remove_request_trailer(name);
        }
        Action::Continue
    }
}

/// Headers and routing for an admitted request.
fn apply_admission(
    config: &GateConfig,
    admission: &Admission<'_>,
    store: &dyn StoreView,
    facts: &mut EnvoyFacts,
) {
    sanitize_xfcc(config, facts);
    let Some(api) = admission.api else {
        return;
    };
    if api.strip_auth_data {
        host::remove_request_header(&api.auth_header_name);
    }
    host::set_request_header(headers::API_ID, &api.api_id);
    if let Some(fingerprint) = &admission.fingerprint {
        host::set_request_header(headers::CERT_SHA256, &fingerprint.to_hex());
    }
    if let Some(identity) = &admission.identity {
        host::set_request_header(headers::SESSION_KEY, &identity.session_key);
        host::set_request_header(headers::KEY_ALIAS, &identity.alias);
    }
    if let Some(cluster) = upstream_cluster(config, api, store) {
        host::set_request_header(headers::ROUTING, &cluster);
        host::clear_route_cache();
    }
}

/// XFCC goes upstream only when asked for, and only as Envoy's one element for this
/// connection ([`xfcc::is_forwardable`]), whatever Envoy's forwarding mode.
fn sanitize_xfcc(config: &GateConfig, facts: &mut EnvoyFacts) {
    if !config.forward_client_cert {
        host::remove_request_header(headers::XFCC);
        return;
    }
    let Some(value) = host::request_header(headers::XFCC) else {
        return;
    };
    let ours = match facts.peer_certificate() {
        mtls_gate_core::decision::PeerCertificate::Presented(fp) => {
            xfcc::is_forwardable(&value, &fp)
        }
        _ => false,
    };
    if !ours {
        host::remove_request_header(headers::XFCC);
    }
}

fn dispatch_lookup(config: &GateConfig, key: &str) -> Option<u32> {
    let link = config.store.as_ref()?;
    let path = lookup_path(key);
    let authorization = format!("Bearer {}", link.token);
    let headers = vec![
        (":method", "GET"),
        (":path", path.as_str()),
        (":authority", link.authority.as_str()),
        ("authorization", authorization.as_str()),
    ];
    hostcalls::dispatch_http_call(
        &link.cluster,
        headers,
        None,
        vec![],
        Duration::from_millis(link.timeout_ms),
    )
    .map_err(|status| log::warn!("mtls-gate: session lookup could not start: {status:?}"))
    .ok()
}

fn read_lookup_answer(num_headers: usize, body_size: usize) -> Option<LookupAnswer> {
    let Some(status) = call_response_status(num_headers) else {
        log::warn!("mtls-gate: session lookup failed (no answer from the store)");
        return None;
    };
    if status != b"200" {
        log::warn!(
            "mtls-gate: session lookup answered {:?}",
            String::from_utf8_lossy(&status)
        );
        return None;
    }
    let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .ok()
        .flatten()?;
    LookupAnswer::decode(&body)
        .map_err(|e| log::warn!("mtls-gate: malformed session lookup answer: {e}"))
        .ok()
}
