//! The filter's counters: their names, defined once here (the filter defines them, the
//! tests and scripts read them), and one worker's handles to them.
//!
//! Envoy shows a wasm counter as [`ENVOY_STAT_PREFIX`] + its name, e.g.
//! `wasmcustom.mtls_gate.allowed`.

use crate::denial::Denial;
use crate::host::Host;

/// What Envoy puts before a counter's name in its stats.
pub const ENVOY_STAT_PREFIX: &str = "wasmcustom.";

/// Requests let through.
pub const ALLOWED: &str = "mtls_gate.allowed";
/// Requests refused, one counter per [`Denial::metric_label`]: this prefix + the label.
pub const DENIED_PREFIX: &str = "mtls_gate.denied.";
/// Change sets applied.
pub const SYNC_SUCCESS: &str = "mtls_gate.sync.success";
/// Feed calls that failed to start, failed, or answered something unusable.
pub const SYNC_FAILURE: &str = "mtls_gate.sync.failure";
/// Session lookups called out.
pub const LOOKUP_CALLOUTS: &str = "mtls_gate.lookup.callouts";
/// Misses answered 503 at once because the worker's lookup budget was spent.
pub const LOOKUP_SHED: &str = "mtls_gate.lookup.shed";
/// Requests answered "store unavailable" (stale cache, failed or shed lookup).
pub const STORE_STALE: &str = "mtls_gate.store.stale";

/// The counter of one denial label: `mtls_gate.denied.<label>`.
pub fn denied(label: &str) -> String {
    format!("{DENIED_PREFIX}{label}")
}

/// A counter's name as Envoy's stats show it.
pub fn envoy_stat(name: &str) -> String {
    format!("{ENVOY_STAT_PREFIX}{name}")
}

/// One worker's counters. A counter the host refused to define is never incremented.
#[derive(Debug, Default)]
pub struct Metrics {
    allowed: Option<u32>,
    /// By label, in [`Denial::ALL_LABELS`] order.
    denied: Vec<(&'static str, u32)>,
    sync_ok: Option<u32>,
    sync_failed: Option<u32>,
    lookups: Option<u32>,
    lookups_shed: Option<u32>,
    stale_denials: Option<u32>,
}

impl Metrics {
    pub fn define(host: &dyn Host) -> Self {
        Metrics {
            allowed: host.define_counter(ALLOWED),
            denied: Denial::ALL_LABELS
                .iter()
                .filter_map(|label| Some((*label, host.define_counter(&denied(label))?)))
                .collect(),
            sync_ok: host.define_counter(SYNC_SUCCESS),
            sync_failed: host.define_counter(SYNC_FAILURE),
            lookups: host.define_counter(LOOKUP_CALLOUTS),
            lookups_shed: host.define_counter(LOOKUP_SHED),
            stale_denials: host.define_counter(STORE_STALE),
        }
    }

    pub fn allowed(&self, host: &dyn Host) {
        bump(host, self.allowed);
    }

    pub fn denied(&self, host: &dyn Host, denial: &Denial) {
        let label = denial.metric_label();
        let id = self
            .denied
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, id)| *id);
        bump(host, id);
        if *denial == Denial::StoreUnavailable {
            bump(host, self.stale_denials);
        }
    }

    pub fn sync_succeeded(&self, host: &dyn Host) {
        bump(host, self.sync_ok);
    }

    pub fn sync_failed(&self, host: &dyn Host) {
        bump(host, self.sync_failed);
    }

    pub fn lookup_called(&self, host: &dyn Host) {
        bump(host, self.lookups);
    }

    /// A miss answered without a lookup because the worker's lookup budget was spent.
    pub fn lookup_shed(&self, host: &dyn Host) {
        bump(host, self.lookups_shed);
    }
}

fn bump(host: &dyn Host, id: Option<u32>) {
    if let Some(id) = id {
        host.increment_counter(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock_host::MockHost;

    #[test]
    fn every_denial_label_has_its_own_counter() {
        let host = MockHost::new();
        let metrics = Metrics::define(&host);
        for label in Denial::ALL_LABELS {
            assert_eq!(host.counter(&denied(label)), Some(0), "{label}");
        }
        metrics.denied(&host, &Denial::NoSession);
        assert_eq!(host.counter("mtls_gate.denied.no_session"), Some(1));
        assert_eq!(host.counter(STORE_STALE), Some(0));
    }

    #[test]
    fn an_unavailable_store_also_counts_as_stale() {
        let host = MockHost::new();
        let metrics = Metrics::define(&host);
        metrics.denied(&host, &Denial::StoreUnavailable);
        assert_eq!(host.counter("mtls_gate.denied.store_unavailable"), Some(1));
        assert_eq!(host.counter("mtls_gate.store.stale"), Some(1));
        assert_eq!(
            envoy_stat(ALLOWED),
            "wasmcustom.mtls_gate.allowed",
            "as Envoy's /stats show it"
        );
    }
}
