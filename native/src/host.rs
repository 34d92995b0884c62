//! Core's [`Host`] over Envoy's dynamic-module ABI (the native twin of `filter/src/host.rs`).
//!
//! A host is made per hook: it names where the hook runs ([`Scope`]: a stream on a worker,
//! or the configuration on the main thread), the configuration it belongs to, and, while a
//! callout's answer is delivered, that answer. What proxy-wasm keeps in the host and this
//! ABI does not is kept by the module: shared data ([`crate::shared_store`]), the plugin
//! configuration and the counter IDs ([`NativeConfig`]), the callout answer (copied from the
//! hook's arguments). Nothing here panics on Envoy's data.

use crate::abi::{self, Attribute, ConfigEnvoy, FilterEnvoy, HeaderMap};
use crate::module::{CalloutAnswer, NativeConfig};
use crate::shared_store;
use mtls_gate_core::headers;
use mtls_gate_core::host::{Host, HostError, LogLevel};
use mtls_gate_core::host_facts::property;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where a hook runs.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// The configuration, on the main thread (configure, the sync's tick and feed answers).
    Config,
    /// One stream, on its worker thread.
    Stream(FilterEnvoy),
}

/// Where a stream's request stands, for its body hook: the body passes only once the
/// request has passed (ARCHITECTURE "fail closed": nothing reaches the upstream before the
/// decision). Set by the host the moment core resumes or answers, because Envoy replays a
/// held body from inside `continue_decoding`, before core's callback returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stage {
    #[default]
    Deciding,
    Passed,
    Answered,
}

pub struct NativeHost<'a> {
    config: &'a NativeConfig,
    scope: Scope,
    /// The stream's [`Stage`], when the host serves a stream.
    stage: Option<&'a Cell<Stage>>,
    /// The callout answer being delivered, if any.
    answer: Option<&'a CalloutAnswer>,
    /// Set only inside `on_http_filter_config_new`, the one time Envoy lets counters be
    /// defined: names → IDs defined so far.
    defining: Option<&'a RefCell<HashMap<String, u32>>>,
}

impl<'a> NativeHost<'a> {
    pub fn new(config: &'a NativeConfig, scope: Scope) -> Self {
        NativeHost {
            config,
            scope,
            stage: None,
            answer: None,
            defining: None,
        }
    }

    /// Records the stream's stage as core resumes or answers it.
    pub fn tracking(mut self, stage: &'a Cell<Stage>) -> Self {
        self.stage = Some(stage);
        self
    }

    fn set_stage(&self, stage: Stage) {
        if let Some(cell) = self.stage {
            cell.set(stage);
        }
    }

    /// With a callout's answer readable through `callout_response_*`.
    pub fn answering(mut self, answer: &'a CalloutAnswer) -> Self {
        self.answer = Some(answer);
        self
    }

    /// Defining counters with Envoy (configuration creation only).
    pub fn defining(mut self, counters: &'a RefCell<HashMap<String, u32>>) -> Self {
        self.defining = Some(counters);
        self
    }

    fn stream(&self) -> Option<FilterEnvoy> {
        match self.scope {
            Scope::Stream(filter) => Some(filter),
            Scope::Config => None,
        }
    }

    fn envoy_config(&self) -> ConfigEnvoy {
        self.config.envoy
    }
}

fn abi_level(level: LogLevel) -> abi::LogLevel {
    match level {
        LogLevel::Trace => abi::LogLevel::Trace,
        LogLevel::Debug => abi::LogLevel::Debug,
        LogLevel::Info => abi::LogLevel::Info,
        LogLevel::Warn => abi::LogLevel::Warn,
        LogLevel::Error => abi::LogLevel::Error,
        LogLevel::Critical => abi::LogLevel::Critical,
    }
}

/// The properties core reads, as attribute IDs of this ABI.
fn attribute(dotted_path: &str) -> Option<Attribute> {
    match dotted_path {
        property::PEER_DIGEST => Some(Attribute::ConnectionSha256PeerCertificateDigest),
        property::TLS_VERSION => Some(Attribute::ConnectionTlsVersion),
        property::SNI => Some(Attribute::ConnectionRequestedServerName),
        property::RESPONSE_CODE_DETAILS => Some(Attribute::ResponseCodeDetails),
        _ => None,
    }
}

impl Host for NativeHost<'_> {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// Formats only when Envoy keeps the level (one cheap call).
    fn log(&self, level: LogLevel, message: fmt::Arguments<'_>) {
        let level = abi_level(level);
        if abi::log_enabled(level) {
            abi::log(level, &message.to_string());
        }
    }

    fn plugin_configuration(&self) -> Option<Vec<u8>> {
        Some(self.config.bytes.clone())
    }

    fn set_tick_period(&self, period: Duration) {
        self.config.set_tick_period(period);
    }

    fn shared_get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        shared_store::get(key)
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
        shared_store::set(key, value, cas)
    }

    /// From a stream: a stream callout (answered to that stream). From the configuration:
    /// a configuration callout (answered on the main thread).
    fn dispatch_http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<u32, HostError> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let id = match self.scope {
            Scope::Stream(filter) => filter.http_callout(cluster, headers, timeout_ms),
            Scope::Config => self
                .envoy_config()
                .http_callout(cluster, headers, timeout_ms),
        }
        .ok_or(HostError::InternalFailure)?;
        u32::try_from(id).map_err(|_| HostError::InternalFailure)
    }

    fn callout_response_header(&self, name: &str) -> Option<Vec<u8>> {
        self.answer?
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value.clone())
    }

    fn callout_response_body(&self, size: usize) -> Option<Vec<u8>> {
        let body = &self.answer?.body;
        Some(
            body.get(..size.min(body.len()))
                .unwrap_or_default()
                .to_vec(),
        )
    }

    /// Inside configuration creation, defines the counter with Envoy; afterwards (worker
    /// roots, a reconfigured root) returns the ID defined then: the same names, always.
    fn define_counter(&self, name: &str) -> Option<u32> {
        if let Some(defining) = self.defining {
            let id = u32::try_from(self.envoy_config().define_counter(name)?).ok()?;
            defining.borrow_mut().insert(name.to_owned(), id);
            return Some(id);
        }
        self.config.counter(name)
    }

    /// Envoy's counters are atomic: the configuration's handle serves every thread.
    fn increment_counter(&self, id: u32) {
        if let Ok(id) = usize::try_from(id) {
            self.envoy_config().increment_counter(id);
        }
    }

    fn property(&self, dotted_path: &str) -> Option<Vec<u8>> {
        self.stream()?.attribute(attribute(dotted_path)?)
    }

    /// Invalid UTF-8 is replaced, not trusted.
    fn request_header(&self, name: &str) -> Option<String> {
        self.stream()?
            .header(HeaderMap::RequestHeaders, name)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    fn set_request_header(&self, name: &str, value: &str) {
        if let Some(filter) = self.stream() {
            filter.set_header(HeaderMap::RequestHeaders, name, Some(value));
        }
    }

    /// Removing a client's routing header must also drop the route Envoy already chose by
    /// it: proxy-wasm clears the route cache on every header write, this ABI never does.
    /// Only for that header, and only when it was there (one read, no route recomputed on
    /// the common path).
    fn remove_request_header(&self, name: &str) {
        let Some(filter) = self.stream() else {
            return;
        };
        if name == headers::ROUTING {
            if filter.header(HeaderMap::RequestHeaders, name).is_some() {
                filter.set_header(HeaderMap::RequestHeaders, name, None);
                filter.clear_route_cache();
            }
            return;
        }
        filter.set_header(HeaderMap::RequestHeaders, name, None);
    }

    fn remove_request_trailer(&self, name: &str) {
        if let Some(filter) = self.stream() {
            filter.set_header(HeaderMap::RequestTrailers, name, None);
        }
    }

    fn response_header(&self, name: &str) -> Option<String> {
        self.stream()?
            .header(HeaderMap::ResponseHeaders, name)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    fn send_local_response(&self, status: u32, body: &str) {
        if let Some(filter) = self.stream() {
            self.set_stage(Stage::Answered);
            filter.send_json_response(status, body);
        }
    }

    fn resume_request(&self) {
        if let Some(filter) = self.stream() {
            self.set_stage(Stage::Passed);
            filter.continue_decoding();
        }
    }

    fn clear_route_cache(&self) {
        if let Some(filter) = self.stream() {
            filter.clear_route_cache();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_core_reads_has_an_attribute() {
        for name in [
            property::PEER_DIGEST,
            property::TLS_VERSION,
            property::SNI,
            property::RESPONSE_CODE_DETAILS,
        ] {
            assert!(attribute(name).is_some(), "{name}");
        }
        assert!(attribute("connection.unknown").is_none());
    }
}
