//! Prometheus metrics, served at `/metrics` (unauthenticated: the shim listens on loopback
//! by default; put it behind your own auth if you expose it).

use prometheus::{Encoder, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub feed_responses: IntCounterVec,
    pub store_errors: IntCounterVec,
    pub store_version: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("mtls_gate_shim".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status.",
            ),
            &["route", "method", "status"],
        )?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "auth_failures_total",
                "Requests refused for a missing or wrong credential.",
            ),
            &["surface"],
        )?;
        let feed_responses = IntCounterVec::new(
            Opts::new("feed_responses_total", "Change-feed answers by kind."),
            &["kind"],
        )?;
        let store_errors = IntCounterVec::new(
            Opts::new("store_errors_total", "Store calls that failed."),
            &["operation"],
        )?;
        let store_version = IntGauge::new("store_version", "The store's change-feed version.")?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(feed_responses.clone()))?;
        registry.register(Box::new(store_errors.clone()))?;
        registry.register(Box::new(store_version.clone()))?;
        Ok(Metrics {
            registry,
            http_requests,
            auth_failures,
            feed_responses,
            store_errors,
            store_version,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "metrics encoding failed");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}
