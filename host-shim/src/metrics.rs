//! Prometheus metrics, served at `/metrics` (unauthenticated: the shim listens on loopback
//! by default; put it behind your own auth if you expose it).
//!
//! The shim's own series are prefixed `mtls_gate_shim_`; the certificate expiry series
//! (SPEC §10, `crate::expiry`) have the names SPEC gives them, from a second registry
//! served in the same answer.

use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub feed_responses: IntCounterVec,
    pub store_errors: IntCounterVec,
    pub store_version: IntGauge,
    /// `mtls_gate_shim_webhook_deliveries_total{event,outcome}`: expiry event web hooks.
    pub webhook_deliveries: IntCounterVec,
    /// SPEC §10's names, unprefixed.
    certificates: Registry,
    /// `mtls_gate_certificate_not_after_seconds{id,cn,role,api_id}`.
    pub certificate_not_after: IntGaugeVec,
    /// `mtls_gate_certificate_events_total{event}`.
    pub certificate_events: IntCounterVec,
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
        let webhook_deliveries = IntCounterVec::new(
            Opts::new(
                "webhook_deliveries_total",
                "Certificate expiry event web hook deliveries by event and outcome.",
            ),
            &["event", "outcome"],
        )?;
        let certificates = Registry::new();
        let certificate_not_after = IntGaugeVec::new(
            Opts::new(
                "mtls_gate_certificate_not_after_seconds",
                "Each certificate the gate uses: its not_after, unix seconds.",
            ),
            &["id", "cn", "role", "api_id"],
        )?;
        let certificate_events = IntCounterVec::new(
            Opts::new(
                "mtls_gate_certificate_events_total",
                "CertificateExpiringSoon and CertificateExpired events raised.",
            ),
            &["event"],
        )?;
        // Both events show, at 0, before the first.
        for event in crate::expiry::events::EventName::ALL {
            certificate_events.with_label_values(&[event.as_str()]);
        }
        certificates.register(Box::new(certificate_not_after.clone()))?;
        certificates.register(Box::new(certificate_events.clone()))?;
        registry.register(Box::new(webhook_deliveries.clone()))?;
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
            webhook_deliveries,
            certificates,
            certificate_not_after,
            certificate_events,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let mut families = self.registry.gather();
        families.extend(self.certificates.gather());
        if let Err(error) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::warn!(%error, "metrics encoding failed");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}
