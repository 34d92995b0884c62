//! One request through the gate: strip what a client may not send, read what the decision
//! needs, decide ([`crate::decision::decide`]), apply the verdict; on a cache miss, pause
//! for one session lookup and decide again with its answer. On the way back, a pinned
//! upstream's failed handshake becomes Tyk's pinning error (SPEC §6b).
//!
//! The filter's HTTP context only forwards the proxy-wasm callbacks here, with its host.

use crate::admission::{
    ForgedHeaders, apply_admission, remove_gate_owned_trailers, strip_gate_owned_headers,
};
use crate::client_trust::ChainCache;
use crate::config::GateConfig;
use crate::decision::{RequestView, StoreView, Verdict, decide};
use crate::denial::{Denial, error_body};
use crate::headers::RequestHeaders;
use crate::host::{Host, LogLevel};
use crate::host_facts::{ExpiryCache, FactsRead, HostFacts, property};
use crate::ids::SessionKey;
use crate::lookup::PendingLookup;
use crate::lookup_budget::LookupBudget;
use crate::metrics::Metrics;
use crate::negative_cache::NegativeCache;
use crate::pinning::{PinnedUpstream, is_verification_failure};
use crate::store_call::CallResponse;
use crate::store_view::{NoStore, SharedDataStore, WithLookupAnswer};
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

/// What the host does with the request after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// On to the next filter (and the upstream).
    Continue,
    /// Held: answered locally, or waiting for a lookup (then resumed or answered).
    Pause,
}

/// The state of one request. Made by [`crate::gate_root::GateRoot::new_request`].
pub struct GateRequest {
    config: Option<Rc<GateConfig>>,
    metrics: Option<Rc<Metrics>>,
    /// The properties this request has read, kept across both decisions.
    facts: FactsRead,
    expiry_cache: Rc<RefCell<ExpiryCache>>,
    /// This worker's chain verdicts for CA entries (see [`ChainCache`]).
    chain_cache: Rc<RefCell<ChainCache>>,
    /// This worker's "no session" answers (bounded; see [`NegativeCache`]).
    negative: Rc<RefCell<NegativeCache>>,
    /// The request's headers, read once; `:authority` and `:path` are borrowed from them.
    headers: RequestHeaders,
    /// The gate's own headers the client sent (see [`strip_gate_owned_headers`]).
    forged: ForgedHeaders,
    /// Only where the host cannot list the headers: `:authority` and `:path`, read once.
    authority: String,
    path: String,
    lookup_budget: Option<LookupBudget>,
    /// The lookup this request waits for.
    pending_lookup: Option<PendingLookup>,
    /// Set when the request was admitted to an API whose upstream is pinned.
    pinned_upstream: Option<PinnedUpstream>,
}

impl GateRequest {
    pub fn new(
        config: Option<Rc<GateConfig>>,
        metrics: Option<Rc<Metrics>>,
        expiry_cache: Rc<RefCell<ExpiryCache>>,
        chain_cache: Rc<RefCell<ChainCache>>,
        negative: Rc<RefCell<NegativeCache>>,
        lookup_budget: Option<LookupBudget>,
    ) -> Self {
        GateRequest {
            config,
            metrics,
            facts: FactsRead::default(),
            expiry_cache,
            chain_cache,
            negative,
            headers: RequestHeaders::default(),
            forged: ForgedHeaders::default(),
            authority: String::new(),
            path: String::new(),
            lookup_budget,
            pending_lookup: None,
            pinned_upstream: None,
        }
    }

    /// The callout token this request waits for, if any.
    pub fn pending_lookup(&self) -> Option<u32> {
        self.pending_lookup.as_ref().map(PendingLookup::token)
    }

    pub fn on_request_headers(&mut self, host: &dyn Host) -> Flow {
        self.headers = RequestHeaders::read(host);
        self.forged = strip_gate_owned_headers(host, &mut self.headers);
        let Some(config) = self.config.clone() else {
            host.send_local_response(500, &error_body("mtls-gate is not configured"));
            return Flow::Pause;
        };
        if !self.headers.is_snapshot() {
            self.authority = host.request_header(":authority").unwrap_or_default();
            self.path = host.request_header(":path").unwrap_or_default();
        }
        let now_ms = host.now_ms();
        let proceed = match &config.store {
            Some(link) => {
                let negative = Rc::clone(&self.negative);
                let store = SharedDataStore::new(host, link, now_ms, &negative);
                self.decide_and_apply(host, &config, &store, Some(&store), now_ms)
            }
            None => self.decide_and_apply(host, &config, &NoStore, None, now_ms),
        };
        if proceed { Flow::Continue } else { Flow::Pause }
    }

    pub fn on_request_trailers(&mut self, host: &dyn Host) -> Flow {
        remove_gate_owned_trailers(host);
        Flow::Continue
    }

    /// The response is about to leave. Envoy answers a handshake that failed the pins with
    /// its generic 503 (`upstream connect error …`); Tyk answers 500 with its pinning message
    /// (SPEC §6b), so that answer replaces it. Costs nothing for an unpinned API; for a
    /// pinned one, one header read, and one property read on a 503 only.
    pub fn on_response_headers(&mut self, host: &dyn Host) -> Flow {
        let Some(pinned) = &self.pinned_upstream else {
            return Flow::Continue;
        };
        if host.response_header(":status").as_deref() != Some("503") {
            return Flow::Continue;
        }
        let failed = host
            .property(property::RESPONSE_CODE_DETAILS)
            .is_some_and(|details| is_verification_failure(&details));
        if !failed {
            return Flow::Continue;
        }
        let message = pinned.mismatch_message();
        host.log(LogLevel::Info, format_args!("mtls-gate: 500 {message}"));
        host.send_local_response(500, &error_body(&message));
        Flow::Pause
    }

    /// A callout answered. Only this request's lookup concerns it; the request is then
    /// decided again with the answer, and resumed or answered locally.
    pub fn on_call_response(&mut self, host: &dyn Host, response: &CallResponse) {
        if self.pending_lookup() != Some(response.token) {
            return;
        }
        let Some(pending) = self.pending_lookup.take() else {
            return;
        };
        let asked = pending.finish();
        // A lookup is only ever made with a store configured; anything else answers 503
        // rather than leave the request paused forever.
        let Some(config) = self.config.clone() else {
            self.deny(host, &Denial::StoreUnavailable);
            return;
        };
        let Some(link) = config.store.as_ref() else {
            self.deny(host, &Denial::StoreUnavailable);
            return;
        };
        let now_ms = host.now_ms();
        let answer = asked.read_answer(host, response);
        let negative = Rc::clone(&self.negative);
        let shared = SharedDataStore::new(host, link, now_ms, &negative);
        let proceed = match answer {
            Some(answer) => {
                shared.record_lookup(&answer, asked.generation);
                let store = WithLookupAnswer {
                    inner: &shared,
                    answer: &answer,
                };
                self.decide_and_apply(host, &config, &store, Some(&shared), now_ms)
            }
            // Fail closed: an unanswered lookup is an unavailable store, never a pass.
            None => {
                self.deny(host, &Denial::StoreUnavailable);
                false
            }
        };
        if proceed {
            host.resume_request();
        }
    }

    /// The request's `:authority`, for logs.
    fn authority<'a>(&'a self, host: &dyn Host) -> Cow<'a, str> {
        match self.headers.is_snapshot() {
            true => self.headers.get(host, ":authority").unwrap_or_default(),
            false => Cow::Borrowed(self.authority.as_str()),
        }
    }

    fn deny(&self, host: &dyn Host, denial: &Denial) {
        if let Some(metrics) = &self.metrics {
            metrics.denied(host, denial);
        }
        let message = denial.message();
        // The Host is the client's: quoted, so it cannot forge a log line.
        host.log(
            LogLevel::Debug,
            format_args!(
                "mtls-gate: {} {:?} {message}",
                denial.status(),
                self.authority(host)
            ),
        );
        host.send_local_response(denial.status(), &error_body(&message));
    }

    /// Decides with `store` and applies the verdict. `shared` is the shared-data view under
    /// `store`, if any: where a lookup's answer will be cached. Returns true if the request
    /// may continue now.
    fn decide_and_apply(
        &mut self,
        host: &dyn Host,
        config: &GateConfig,
        store: &dyn StoreView,
        shared: Option<&SharedDataStore<'_>>,
        now_ms: i64,
    ) -> bool {
        let (authority, path) = match self.headers.is_snapshot() {
            true => (
                self.headers.get(host, ":authority").unwrap_or_default(),
                self.headers.get(host, ":path").unwrap_or_default(),
            ),
            false => (
                Cow::Borrowed(self.authority.as_str()),
                Cow::Borrowed(self.path.as_str()),
            ),
        };
        let request = RequestView {
            authority: &authority,
            path: &path,
        };
        let mut facts = HostFacts {
            host,
            headers: &self.headers,
            read: &mut self.facts,
            expiry_cache: &self.expiry_cache,
            chain_cache: &self.chain_cache,
        };
        let verdict = decide(config, &request, &mut facts, store, now_ms / 1000);
        match verdict {
            Verdict::Allow(admission) => {
                self.pinned_upstream = admission.api.and_then(|api| api.pinned_upstream.clone());
                // The decision's borrows of the header snapshot end here: admission edits it.
                drop((authority, path));
                apply_admission(
                    host,
                    config,
                    &admission,
                    store,
                    &mut || self.facts.peer_certificate(host),
                    &mut self.headers,
                    self.forged,
                );
                if let Some(metrics) = &self.metrics {
                    metrics.allowed(host);
                }
                true
            }
            Verdict::Deny(denial) => {
                self.deny(host, &denial);
                false
            }
            Verdict::LookupSession { key } => {
                let generation = shared.map_or(0, SharedDataStore::generation);
                self.start_lookup(host, config, key, generation);
                false
            }
        }
    }

    /// Pauses for a lookup of `key`, within the worker's budget; past it, or when the
    /// callout cannot start, the store is unavailable (503).
    fn start_lookup(
        &mut self,
        host: &dyn Host,
        config: &GateConfig,
        key: SessionKey,
        generation: u64,
    ) {
        let Some(permit) = self.lookup_budget.as_ref().and_then(|b| b.try_acquire()) else {
            if let Some(metrics) = &self.metrics {
                metrics.lookup_shed(host);
            }
            self.deny(host, &Denial::StoreUnavailable);
            return;
        };
        let started = config
            .store
            .as_ref()
            .and_then(|link| PendingLookup::start(host, link, key, generation, permit));
        match started {
            Some(pending) => {
                self.pending_lookup = Some(pending);
                if let Some(metrics) = &self.metrics {
                    metrics.lookup_called(host);
                }
            }
            None => self.deny(host, &Denial::StoreUnavailable),
        }
    }
}

#[cfg(test)]
mod tests;
