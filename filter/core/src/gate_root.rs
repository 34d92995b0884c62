//! One worker's gate (the filter's root context): the configuration, the counters, the
//! caches its requests share, and (with a store) its part in the sync.
//!
//! The filter's root context only forwards the proxy-wasm callbacks here, with its host.

use crate::client_trust::ChainCache;
use crate::config::GateConfig;
use crate::gate_request::GateRequest;
use crate::host::{Host, LogLevel};
use crate::host_facts::ExpiryCache;
use crate::lookup_budget::LookupBudget;
use crate::metrics::Metrics;
use crate::negative_cache::NegativeCache;
use crate::store_call::CallResponse;
use crate::sync::Syncer;
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Default)]
pub struct GateRoot {
    config: Option<Rc<GateConfig>>,
    metrics: Option<Rc<Metrics>>,
    expiry_cache: Rc<RefCell<ExpiryCache>>,
    /// Chain verdicts by (leaf, CA set): the set IDs belong to one configuration, so a new
    /// configuration starts a new cache.
    chain_cache: Rc<RefCell<ChainCache>>,
    negative_cache: Rc<RefCell<NegativeCache>>,
    syncer: Option<Syncer>,
    lookup_budget: Option<LookupBudget>,
}

impl GateRoot {
    /// Reads and validates the plugin configuration. On `false` Envoy refuses the filter.
    pub fn configure(&mut self, host: &dyn Host) -> bool {
        // The configure time is logged: a 100,000-entry list is the case to watch (`make bench`).
        let started_ms = host.now_ms();
        let bytes = host.plugin_configuration().unwrap_or_default();
        let config = match GateConfig::from_json(&bytes) {
            Ok(config) => config,
            Err(error) => {
                // Names the JSON path of the first bad field; Envoy then refuses the filter.
                host.log(
                    LogLevel::Error,
                    format_args!("mtls-gate: refusing plugin configuration: {error}"),
                );
                return false;
            }
        };
        let metrics = Rc::clone(
            self.metrics
                .get_or_insert_with(|| Rc::new(Metrics::define(host))),
        );
        self.syncer = config.store.clone().map(|link| {
            Syncer::new(
                host,
                link,
                Rc::clone(&metrics),
                config.referenced_store_ids(),
            )
        });
        // A new configuration starts a new count: permits of requests still in flight give
        // back to the old budget, which dies with them.
        self.lookup_budget = config
            .store
            .as_ref()
            .map(|link| LookupBudget::new(link.max_lookups_in_flight));
        if let Some(syncer) = &self.syncer {
            host.set_tick_period(syncer.tick_period());
        }
        // Accepted for Tyk compatibility, but likely typos: one of them can switch a check off.
        for unknown in &config.unknown_fields {
            host.log(
                LogLevel::Warn,
                format_args!("mtls-gate: configuration: {unknown}"),
            );
        }
        host.log(
            LogLevel::Info,
            format_args!(
                "mtls-gate: configured {} API(s), {} global allow-list entries, store {} \
                 (in {} ms)",
                config.apis.len(),
                config.global_allow_list.len(),
                config.store.as_ref().map_or("off", |s| s.cluster.as_str()),
                host.now_ms().saturating_sub(started_ms)
            ),
        );
        self.config = Some(Rc::new(config));
        self.chain_cache = Rc::default();
        true
    }

    pub fn on_tick(&mut self, host: &dyn Host) {
        if let Some(syncer) = self.syncer.as_mut() {
            syncer.on_tick(host);
        }
    }

    /// A callout answered in the root context: the feed's, if it is this syncer's call.
    pub fn on_call_response(&mut self, host: &dyn Host, response: &CallResponse) {
        if let Some(syncer) = self.syncer.as_mut() {
            syncer.on_response(host, response);
        }
    }

    /// A new request. An unconfigured root still makes one, which fails closed (500).
    pub fn new_request(&self) -> GateRequest {
        GateRequest::new(
            self.config.clone(),
            self.metrics.clone(),
            Rc::clone(&self.expiry_cache),
            Rc::clone(&self.chain_cache),
            Rc::clone(&self.negative_cache),
            self.lookup_budget.clone(),
        )
    }

    pub fn syncer(&self) -> Option<&Syncer> {
        self.syncer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::ChangeSet;
    use crate::mock_host::MockHost;
    use crate::test_support::{STORE, store_link};
    use std::time::Duration;

    fn configured(host: &MockHost, json: &str) -> GateRoot {
        host.set_plugin_configuration(json);
        let mut root = GateRoot::default();
        assert!(root.configure(host), "{:?}", host.logs());
        root
    }

    #[test]
    fn a_bad_configuration_is_refused_naming_the_field() {
        let host = MockHost::new();
        host.set_plugin_configuration(r#"{"apis": [{"api_id": ""}]}"#);
        let mut root = GateRoot::default();
        assert!(!root.configure(&host));
        assert!(host.logged(LogLevel::Error, "refusing plugin configuration: apis[0]"));
        assert_eq!(host.tick_period(), None);
        assert!(root.syncer().is_none());
        let mut request = root.new_request();
        host.start_request();
        assert_eq!(
            request.on_request_headers(&host),
            crate::gate_request::Flow::Pause
        );
        assert_eq!(
            host.local_responses(),
            [(
                500,
                r#"{"error": "mtls-gate is not configured"}"#.to_owned()
            )]
        );
    }

    #[test]
    fn without_a_store_there_is_no_tick_and_no_feed() {
        let host = MockHost::new();
        let mut root = configured(&host, r#"{"apis": []}"#);
        assert_eq!(host.tick_period(), None);
        root.on_tick(&host);
        assert!(host.callouts().is_empty());
        assert!(host.logged(
            LogLevel::Info,
            "configured 0 API(s), 0 global allow-list entries, store off"
        ));
    }

    #[test]
    fn with_a_store_each_worker_ticks_and_only_the_lease_holder_calls_the_feed() {
        let a = MockHost::new();
        let b = a.sibling();
        let json = format!("{{{STORE}}}");
        let mut root_a = configured(&a, &json);
        let mut root_b = configured(&b, &json);
        assert_eq!(a.tick_period(), Some(Duration::from_millis(1000)));
        assert_eq!(root_a.syncer().map(Syncer::holder_id), Some(1));
        assert_eq!(root_b.syncer().map(Syncer::holder_id), Some(2));

        root_a.on_tick(&a);
        root_b.on_tick(&b);
        assert_eq!(b.callouts(), []);
        let calls = a.callouts();
        let call = calls.first().unwrap();
        let changes = ChangeSet {
            version: 9,
            full: true,
            ..ChangeSet::default()
        };
        let response = a.answer_call(call.token, Some("200"), &changes.encode());
        root_b.on_call_response(&b, &response);
        assert_eq!(b.counter("mtls_gate.sync.success"), Some(0), "not b's call");
        root_a.on_call_response(&a, &response);
        assert_eq!(a.counter("mtls_gate.sync.success"), Some(1));

        let state = a
            .shared_value(&store_link().namespace.sync_state())
            .unwrap();
        let state = crate::shared_data::SyncState::decode(&state).unwrap();
        assert_eq!((state.version, state.generation), (9, 1));
    }

    #[test]
    fn a_new_configuration_keeps_the_counters() {
        let host = MockHost::new();
        let mut root = configured(&host, r#"{"apis": []}"#);
        let defined = host.journal_count("define_counter");
        assert!(root.configure(&host));
        assert_eq!(
            host.journal_count("define_counter"),
            defined,
            "defined once"
        );
    }
}
