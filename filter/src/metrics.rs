//! Counters, visible in Envoy's stats as `wasmcustom.mtls_gate.*`.

use mtls_gate_core::denial::Denial;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Metrics {
    allowed: Option<u32>,
    denied: HashMap<&'static str, u32>,
    sync_ok: Option<u32>,
    sync_failed: Option<u32>,
    lookups: Option<u32>,
    lookups_shed: Option<u32>,
    stale_denials: Option<u32>,
}

fn counter(name: &str) -> Option<u32> {
    hostcalls::define_metric(MetricType::Counter, name).ok()
}

fn bump(id: Option<u32>) {
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

impl Metrics {
    pub fn define() -> Self {
        Metrics {
            allowed: counter("mtls_gate.allowed"),
            denied: Denial::ALL_LABELS
                .iter()
                .filter_map(|label| Some((*label, counter(&format!("mtls_gate.denied.{label}"))?)))
                .collect(),
            sync_ok: counter("mtls_gate.sync.success"),
            sync_failed: counter("mtls_gate.sync.failure"),
            lookups: counter("mtls_gate.lookup.callouts"),
            lookups_shed: counter("mtls_gate.lookup.shed"),
            stale_denials: counter("mtls_gate.store.stale"),
        }
    }

    pub fn allowed(&self) {
        bump(self.allowed);
    }

    pub fn denied(&self, denial: &Denial) {
        bump(self.denied.get(denial.metric_label()).copied());
        if *denial == Denial::StoreUnavailable {
            bump(self.stale_denials);
        }
    }

    pub fn sync_succeeded(&self) {
        bump(self.sync_ok);
    }

    pub fn sync_failed(&self) {
        bump(self.sync_failed);
    }

    pub fn lookup_called(&self) {
        bump(self.lookups);
    }

    /// A miss answered without a lookup because the worker's lookup budget was spent.
    pub fn lookup_shed(&self) {
        bump(self.lookups_shed);
    }
}
