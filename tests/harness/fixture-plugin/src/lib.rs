//! Harness fixture: a proxy-wasm plugin whose every host call is chosen by the test.
//!
//! Plugin configuration: comma-separated words.
//! - `refuse`: `on_configure` logs why and returns false.
//! - `panic`: `on_configure` panics (a trap).
//! - `tick_ms=N`: sets the tick period.
//! - `name=W`: the name this worker writes into the tick lease.
//! - `queue`: registers the shared queue `fixture.q` and logs what it dequeues.
//!
//! Each request names one operation in `x-op`; results come back as request headers
//! (`x-result`, ...) so tests read them from `Outcome::request_headers`.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LEASE_KEY: &str = "fixture.lease";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

#[derive(Default)]
struct Root {
    name: String,
    requests: u32,
    ticks: u32,
    gauge: u32,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _size: usize) -> bool {
        let vm = self.get_vm_configuration().unwrap_or_default();
        log::info!("vm config: {}", String::from_utf8_lossy(&vm));
        true
    }

    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = self.get_plugin_configuration().unwrap_or_default();
        let config = String::from_utf8_lossy(&raw).to_string();
        for word in config.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word.split_once('=') {
                None if word == "refuse" => {
                    log::error!("invalid plugin configuration: field `mode` must be one of a, b");
                    return false;
                }
                None if word == "panic" => panic!("fixture panics in on_configure"),
                Some(("tick_ms", ms)) => match ms.parse::<u64>() {
                    Ok(ms) => self.set_tick_period(Duration::from_millis(ms)),
                    Err(_) => return false,
                },
                Some(("name", name)) => self.name = name.to_string(),
                None if word == "queue" => {
                    let id = self.register_shared_queue("fixture.q");
                    log::info!("registered queue {id}");
                }
                _ => {
                    log::error!("unknown word {word}");
                    return false;
                }
            }
        }
        self.requests =
            proxy_wasm::hostcalls::define_metric(MetricType::Counter, "fixture_requests")
                .unwrap_or(0);
        self.ticks =
            proxy_wasm::hostcalls::define_metric(MetricType::Counter, "fixture_ticks").unwrap_or(0);
        self.gauge =
            proxy_wasm::hostcalls::define_metric(MetricType::Gauge, "fixture_gauge").unwrap_or(0);
        log::info!("configured as {}", self.name);
        true
    }

    /// A CAS lease, the way a syncer is elected among workers.
    fn on_tick(&mut self) {
        let _ = proxy_wasm::hostcalls::increment_metric(self.ticks, 1);
        let (holder, cas) = self.get_shared_data(LEASE_KEY);
        let holder = holder.unwrap_or_default();
        if holder == self.name.as_bytes() {
            log::info!("lease kept by {}", self.name);
            return;
        }
        if !holder.is_empty() {
            log::info!("lease held by {}", String::from_utf8_lossy(&holder));
            return;
        }
        match self.set_shared_data(LEASE_KEY, Some(self.name.as_bytes()), cas) {
            Ok(()) => log::info!("lease taken by {}", self.name),
            Err(status) => log::info!("lease race lost by {}: {status:?}", self.name),
        }
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        while let Ok(Some(item)) = self.dequeue_shared_queue(queue_id) {
            log::info!("{} dequeued {}", self.name, String::from_utf8_lossy(&item));
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            id: context_id,
            requests: self.requests,
            gauge: self.gauge,
        }))
    }
}

struct Stream {
    id: u32,
    requests: u32,
    gauge: u32,
}

impl Stream {
    fn header(&self, name: &str) -> String {
        self.get_http_request_header(name).unwrap_or_default()
    }

    fn result(&self, name: &str, value: &str) {
        self.set_http_request_header(name, Some(value));
    }

    fn dispatch(&mut self) -> Action {
        let mut headers = vec![
            (":method", "GET"),
            (":path", "/lookup"),
            (":authority", "shim"),
        ];
        let omit = self.header("x-omit");
        headers.retain(|(k, _)| *k != omit);
        headers.push(("x-probe", "1"));
        let upstream = self
            .get_http_request_header("x-upstream")
            .unwrap_or("shim".into());
        match self.dispatch_http_call(
            &upstream,
            headers,
            Some(b"ping"),
            vec![],
            Duration::from_millis(1500),
        ) {
            Ok(token) => {
                self.result("x-result", &format!("token {token}"));
                Action::Pause
            }
            Err(status) => {
                self.result("x-result", &format!("{status:?}"));
                Action::Continue
            }
        }
    }
}

fn opt_bytes(value: Option<Vec<u8>>) -> String {
    value.map_or("<none>".into(), |v| String::from_utf8_lossy(&v).to_string())
}

impl Context for Stream {
    fn on_http_call_response(&mut self, _token: u32, headers: usize, body: usize, _: usize) {
        // A failed call has no response at all: under Envoy, reading its headers panics.
        if headers == 0 && self.header("x-read-failed-response") != "yes" {
            let (code, message) = proxy_wasm::hostcalls::get_grpc_status().unwrap_or_default();
            let message = message.unwrap_or_default();
            log::info!("ctx {} callout failed: status {code} {message}", self.id);
            self.send_http_response(502, vec![("x-reason", "callout-failed")], Some(b"failed"));
            return;
        }
        let status = self
            .get_http_call_response_header(":status")
            .unwrap_or_default();
        let body = self
            .get_http_call_response_body(0, body)
            .unwrap_or_default();
        log::info!(
            "ctx {} callout answered: {headers} headers, status {status}",
            self.id
        );
        if status == "200" {
            self.result("x-callout-body", &String::from_utf8_lossy(&body));
            self.resume_http_request();
        } else {
            self.send_http_response(403, vec![], Some(&body));
        }
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _n: usize, _eos: bool) -> Action {
        let op = self.header("x-op");
        match op.as_str() {
            "shared-get" => {
                let (value, cas) = self.get_shared_data(&self.header("x-key"));
                self.result("x-result", &opt_bytes(value));
                self.result("x-cas", &cas.map_or("<none>".into(), |c| c.to_string()));
            }
            "shared-set" => {
                let cas = self.header("x-cas").parse::<u32>().ok();
                let value = self.header("x-value");
                let status =
                    self.set_shared_data(&self.header("x-key"), Some(value.as_bytes()), cas);
                self.result("x-result", &format!("{status:?}"));
            }
            "property" => {
                let path = self.header("x-path");
                let times = self.header("x-times").parse::<usize>().unwrap_or(1);
                let mut value = None;
                for _ in 0..times {
                    value = self.get_property(path.split('.').collect());
                }
                let shown = value.map_or("<none>".into(), |v| {
                    v.iter().map(|b| format!("{b:02x}")).collect::<String>()
                });
                self.result("x-result", &shown);
            }
            "set-property" => {
                self.set_property(vec!["fixture", "mark"], Some(b"set"));
                let back = self.get_property(vec!["fixture", "mark"]);
                self.result("x-result", &opt_bytes(back));
            }
            "headers" => {
                let missing = self.get_http_request_header("x-missing");
                let mut all = self.get_http_request_headers();
                all.push(("x-roundtrip".into(), format!("{} headers", all.len())));
                let refs: Vec<(&str, &str)> =
                    all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                self.set_http_request_headers(refs);
                self.add_http_request_header("x-added", "a");
                self.add_http_request_header("x-added", "b");
                self.set_http_request_header("x-replace", Some("new"));
                self.remove_http_request_header("x-remove");
                self.result(
                    "x-missing-was",
                    if missing.is_none() { "none" } else { "some" },
                );
            }
            "time" => {
                let host = self
                    .get_current_time()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let wasi = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                self.result("x-result", &host.as_nanos().to_string());
                self.result("x-wasi-secs", &wasi.as_secs().to_string());
            }
            "call" => return self.dispatch(),
            "deny" => {
                self.send_http_response(403, vec![("x-deny", "1")], Some(b"denied"));
                return Action::Pause;
            }
            "foreign" => {
                let args = self.header("x-args");
                let status = self.call_foreign_function("clear_route_cache", Some(args.as_bytes()));
                self.result("x-result", &format!("{:?}", status.map(|_| ())));
            }
            "metric" => {
                let _ = proxy_wasm::hostcalls::increment_metric(self.requests, 1);
                let value = self.header("x-value").parse::<u64>().unwrap_or(0);
                let _ = proxy_wasm::hostcalls::record_metric(self.gauge, value);
                let read = proxy_wasm::hostcalls::get_metric(self.requests);
                self.result("x-result", &format!("{read:?}"));
            }
            "enqueue" => {
                let status = match self.resolve_shared_queue("", "fixture.q") {
                    Some(id) => {
                        format!(
                            "{:?}",
                            self.enqueue_shared_queue(id, Some(self.header("x-value").as_bytes()))
                        )
                    }
                    None => "no queue".to_string(),
                };
                self.result("x-result", &status);
            }
            "stdout" => {
                println!("fixture says hi on stdout");
                eprintln!("fixture says hi on stderr");
            }
            "grpc" => {
                let _ = self.dispatch_grpc_call("shim", "svc", "m", vec![], None, Duration::ZERO);
            }
            "panic" => panic!("fixture panics on request {}", self.id),
            "response-headers-too-early" => {
                let _ = self.get_http_response_headers();
            }
            "reset" => self.reset_http_request(),
            _ => {}
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, size: usize, eos: bool) -> Action {
        if !eos {
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, size).unwrap_or_default();
        let reversed: Vec<u8> = body.iter().rev().copied().collect();
        self.set_http_request_body(0, size, &reversed);
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _n: usize, _eos: bool) -> Action {
        let status = self.get_http_response_header(":status").unwrap_or_default();
        self.set_http_response_header("x-seen-status", Some(&status));
        self.set_http_response_header("server", None);
        Action::Continue
    }

    fn on_log(&mut self) {
        log::info!("ctx {} on_log", self.id);
    }
}
