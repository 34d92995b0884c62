//! The root context: configuration, metrics, and (with a store) the sync tick.

use crate::facts::ExpiryCache;
use crate::http_context::GateRequest;
use crate::metrics::Metrics;
use crate::sync::Syncer;
use mtls_gate_core::config::GateConfig;
use mtls_gate_core::lookup_budget::LookupBudget;
use mtls_gate_core::negative_cache::NegativeCache;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Default)]
pub struct GateRoot {
    config: Option<Rc<GateConfig>>,
    metrics: Option<Rc<Metrics>>,
    expiry_cache: Rc<RefCell<ExpiryCache>>,
    negative_cache: Rc<RefCell<NegativeCache>>,
    syncer: Option<Syncer>,
    lookup_budget: Option<LookupBudget>,
}

impl Context for GateRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if let Some(syncer) = self.syncer.as_mut() {
            syncer.on_response(token_id, num_headers, body_size);
        }
    }
}

impl RootContext for GateRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let config = match GateConfig::from_json(&bytes) {
            Ok(config) => config,
            Err(error) => {
                // Names the JSON path of the first bad field; Envoy then refuses the filter.
                log::error!("mtls-gate: refusing plugin configuration: {error}");
                return false;
            }
        };
        let metrics = Rc::clone(
            self.metrics
                .get_or_insert_with(|| Rc::new(Metrics::define())),
        );
        self.syncer = config
            .store
            .clone()
            .map(|link| Syncer::new(link, Rc::clone(&metrics)));
        // A new configuration starts a new count: permits of requests still in flight give
        // back to the old budget, which dies with them.
        self.lookup_budget = config
            .store
            .as_ref()
            .map(|link| LookupBudget::new(link.max_lookups_in_flight));
        if let Some(syncer) = &self.syncer {
            let _ = hostcalls::set_tick_period(syncer.tick_period());
        }
        log::info!(
            "mtls-gate: configured {} API(s), {} global allow-list entries, store {}",
            config.apis.len(),
            config.global_allow_list.len(),
            config.store.as_ref().map_or("off", |s| s.cluster.as_str())
        );
        self.config = Some(Rc::new(config));
        true
    }

    fn on_tick(&mut self) {
        if let Some(syncer) = self.syncer.as_mut() {
            syncer.on_tick();
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // The SDK panics on `None`, so an unconfigured root still answers, failing closed.
        Some(Box::new(GateRequest::new(
            self.config.clone(),
            self.metrics.clone(),
            Rc::clone(&self.expiry_cache),
            Rc::clone(&self.negative_cache),
            self.lookup_budget.clone(),
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
