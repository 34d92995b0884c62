//! Host calls per request (issue 14 point 4): every `env` import the filter calls on each
//! path, counted by the harness per stream. Each path's exact counts are pinned, so a call
//! added to a hot path fails here; the test prints the table (before → after the trim).
//! Beside them, the wasm fuel each path burns (about one unit per wasm instruction; the
//! work inside host calls is Envoy's): under a ceiling, so that a path made markedly
//! dearer fails here too. Each is measured on a worker's second identical request, which
//! is what every request after the first costs.
//!
//! Requests look as Envoy hands them over with the shipped HCM (`SANITIZE_SET` XFCC with
//! `Hash`, `Cert`, `Chain`) plus a few ordinary client headers.

use crate::support::*;
use mtls_gate_core::feed::{CertIndexEntry, ChangeSet, SessionEntry};
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_harness::{Host, Outcome, Worker};
use mtls_gate_testkit::chains::{ChainIssuer, ChainLeaf, KeyKind, xfcc_for};
use std::time::Duration;

const AUTHORITY: &str = "api.example.test";
const ORG: &str = "acme";
const SYNC_MS: u64 = 500;

/// The filter, its clock at the real time (the test chains are valid around now).
fn host_now() -> Host {
    let host = filter();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    host.clock().set_unix_seconds(now.as_secs());
    host
}

/// One client certificate and the XFCC Envoy writes for it.
struct Client {
    leaf: ChainLeaf,
    xfcc: String,
}

fn client(cn: &str) -> Client {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let issuing = root.intermediate("issuing", KeyKind::EcdsaP256);
    let leaf = issuing.leaf(cn);
    let xfcc = xfcc_for(&leaf, &[&issuing]);
    Client { leaf, xfcc }
}

/// An mTLS request as Envoy presents it, to `path` on [`AUTHORITY`].
fn mtls(worker: &mut Worker, client: &Client, path: &str) -> Outcome {
    tls_request(worker, &client.leaf.fingerprint(), AUTHORITY, path)
        .sni(AUTHORITY)
        .header(":scheme", "https")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "*/*")
        .header("x-request-id", "3d7c1f5e-3b7a-4f0e-9a51-0c8e2f1d9b11")
        .header(headers::XFCC, &client.xfcc)
        .send_headers()
        .unwrap()
}

/// A plain-HTTP request (no TLS, so no XFCC) to `authority` + `path`.
fn plain(worker: &mut Worker, authority: &str, path: &str) -> Outcome {
    worker
        .request()
        .header(":authority", authority)
        .header(":path", path)
        .header(":method", "GET")
        .header(":scheme", "http")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "*/*")
        .send_headers()
        .unwrap()
}

/// An mTLS API listing `entries` (JSON strings) and an open API, both on [`AUTHORITY`].
fn static_gate(entries: &[String]) -> String {
    format!(
        r#"{{"apis": [
              {{"api_id": "secure", "domain": "{AUTHORITY}", "use_mutual_tls_auth": true,
                "client_certificates": [{list}],
                "proxy": {{"listen_path": "/secure/", "target_url": "https://backend.test"}}}},
              {{"api_id": "open", "domain": "{AUTHORITY}",
                "proxy": {{"listen_path": "/open/", "target_url": "http://backend.test"}}}}
            ]}}"#,
        list = entries.join(",")
    )
}

/// The second of two identical requests on `worker`: what every request after the first
/// costs. The first also parses the client certificate for its expiry, once per worker
/// and certificate (about 540,000 fuel).
fn steady(worker: &mut Worker, request: impl Fn(&mut Worker) -> Outcome) -> Outcome {
    request(worker);
    request(worker)
}

/// `n` fingerprints that are nobody's, then `last`'s.
fn allow_list(n: usize, last: &Client) -> Vec<String> {
    let mut list: Vec<String> = (1..n).map(|i| format!("\"{i:064x}\"")).collect();
    list.push(format!("\"{}\"", last.leaf.fingerprint()));
    list
}

fn static_allow(entries: usize) -> Outcome {
    let alice = client("alice");
    let host = host_now();
    let mut worker = host
        .worker(static_gate(&allow_list(entries, &alice)))
        .unwrap();
    let out = steady(&mut worker, |w| mtls(w, &alice, "/secure/x"));
    assert_forwarded(&out);
    assert_eq!(out.header(headers::API_ID), Some("secure"));
    assert_eq!(
        out.header(headers::XFCC),
        None,
        "not forwarded unless asked"
    );
    out
}

fn static_deny() -> Outcome {
    let (alice, rogue) = (client("alice"), client("rogue"));
    let host = host_now();
    let mut worker = host.worker(static_gate(&allow_list(1, &alice))).unwrap();
    let out = steady(&mut worker, |w| mtls(w, &rogue, "/secure/x"));
    let fingerprint = rogue.leaf.fingerprint();
    assert_denied(
        &out,
        403,
        &format!("Certificate with SHA256 {fingerprint} not allowed"),
    );
    out
}

/// A client the API's CA entry admits, on the worker's second request (the first one
/// verified its chain; the verdict is cached per worker).
fn ca_admitted() -> Outcome {
    let root = ChainIssuer::root("root", KeyKind::EcdsaP256);
    let issuing = root.intermediate("issuing", KeyKind::EcdsaP256);
    let leaf = issuing.leaf("client");
    let xfcc = xfcc_for(&leaf, &[&issuing]);
    let carol = Client { leaf, xfcc };
    let host = host_now();
    let pem = serde_json::to_string(&root.pem).unwrap();
    let mut worker = host.worker(static_gate(&[pem])).unwrap();
    assert_forwarded(&mtls(&mut worker, &carol, "/secure/x"));
    let out = mtls(&mut worker, &carol, "/secure/x");
    assert_forwarded(&out);
    out
}

fn certificate_auth() -> Outcome {
    let (_host, mut worker, alice) = certificate_auth_worker();
    let key = format!("{ORG}{}", alice.leaf.fingerprint());
    let out = steady(&mut worker, |w| mtls(w, &alice, "/orders"));
    assert_forwarded(&out);
    assert_eq!(out.header(headers::KEY_ALIAS), Some("alice-app"));
    assert_eq!(out.header(headers::SESSION_KEY), Some(key.as_str()));
    assert!(
        out.http_calls().is_empty(),
        "a synced session needs no lookup"
    );
    out
}

/// A worker synced with alice's certificate and session (certificate auth on "/").
fn certificate_auth_worker() -> (Host, Worker, Client) {
    let gate = format!(
        r#"{{"org_id": "{ORG}",
            "store": {{"cluster": "mtls_gate_shim", "authority": "shim.local", "token": "t",
                       "sync_interval_ms": {SYNC_MS}, "max_stale_s": 300}},
            "apis": [{{"api_id": "dyn", "domain": "{AUTHORITY}",
                "auth_configs": {{"authToken": {{"use_certificate": true}}}},
                "proxy": {{"listen_path": "/", "target_url": "http://backend.test"}}}}]}}"#
    );
    let host = host_now();
    let mut worker = host.worker(gate).unwrap();
    let alice = client("alice");
    let fingerprint = Fingerprint::parse_hex(&alice.leaf.fingerprint()).unwrap();
    let key = format!("{ORG}{}", alice.leaf.fingerprint());
    let changes = ChangeSet {
        version: 1,
        full: true,
        certs: vec![CertIndexEntry {
            id: certificate_id(key.clone()),
            fingerprint,
            not_after: Some(4_000_000_000),
            has_private: false,
            is_ca: false,
            trust_anchor: None,
        }],
        removed_certs: vec![],
        sessions: vec![SessionEntry {
            key: session_key(key.clone()),
            grant: grant("alice-app"),
        }],
        removed_sessions: vec![],
        next: None,
    };
    sync(&host, &mut worker, &changes);
    (host, worker, alice)
}

/// Ticks `worker` and answers its feed call with `changes`.
fn sync(host: &Host, worker: &mut Worker, changes: &ChangeSet) {
    host.clock().advance(Duration::from_millis(SYNC_MS));
    worker.tick().unwrap();
    let call = worker
        .pending_http_calls()
        .into_iter()
        .find(|c| {
            c.header(":path")
                .is_some_and(|p| p.starts_with("/mtls-gate/v1/changes"))
        })
        .expect("the lease holder calls the feed");
    worker
        .respond_http_call(call.token, 200, &[], &changes.encode())
        .unwrap();
}

fn open_api() -> Outcome {
    let host = host_now();
    let mut worker = host.worker(static_gate(&[])).unwrap();
    let out = steady(&mut worker, |w| plain(w, AUTHORITY, "/open/x"));
    assert_forwarded(&out);
    assert_eq!(out.header(headers::API_ID), Some("open"));
    out
}

fn unmatched() -> Outcome {
    let host = host_now();
    let mut worker = host.worker(static_gate(&[])).unwrap();
    let out = steady(&mut worker, |w| plain(w, "elsewhere.test", "/"));
    assert_forwarded(&out);
    assert_eq!(out.header(headers::API_ID), None);
    out
}

/// A client that forges every gate header: those the gate rewrites are replaced in place,
/// the others removed, and nothing is removed twice.
fn forged_headers() -> Outcome {
    let alice = client("alice");
    let host = host_now();
    let mut worker = host.worker(static_gate(&allow_list(1, &alice))).unwrap();
    mtls(&mut worker, &alice, "/secure/x");
    let mut request = tls_request(
        &mut worker,
        &alice.leaf.fingerprint(),
        AUTHORITY,
        "/secure/x",
    )
    .sni(AUTHORITY)
    .header(headers::XFCC, &alice.xfcc);
    for name in headers::GATE_OWNED {
        request = request.header(name, "forged");
    }
    let out = request.send_headers().unwrap();
    assert_forwarded(&out);
    assert_eq!(out.header(headers::API_ID), Some("secure"));
    assert_eq!(out.header(headers::KEY_ALIAS), None);
    assert_eq!(out.header(headers::SESSION_KEY), None);
    assert!(out.header(headers::ROUTING).is_some_and(|r| r != "forged"));
    let api_ids = out
        .request_headers()
        .iter()
        .filter(|(name, _)| name == headers::API_ID)
        .count();
    assert_eq!(
        api_ids, 1,
        "the forged value is replaced, not kept beside ours"
    );
    out
}

/// One path's pinned counts: (import without `proxy_`, calls), sorted by import.
struct Path {
    name: &'static str,
    /// Total calls of the filter at the start of the trim (`/tmp/s6/baseline.wasm`).
    before: usize,
    after: &'static [(&'static str, usize)],
    /// Wasm fuel of the path's steady-state request at the start of session 7's trim, and
    /// the most it may burn now (about 25 % over what it burns after session 11's): a
    /// ceiling, since any code change moves fuel a little.
    fuel_before: u64,
    fuel_ceiling: u64,
    run: fn() -> Outcome,
}

const PATHS: &[Path] = &[
    Path {
        name: "static allow, 1 entry",
        before: 17,
        after: &[
            ("get_current_time_nanoseconds", 1),
            ("get_header_map_pairs", 1),
            ("get_property", 2),
            ("increment_metric", 1),
            ("remove_header_map_value", 1),
            ("replace_header_map_value", 3),
        ],
        fuel_before: 69381,
        fuel_ceiling: 20500,
        run: || static_allow(1),
    },
    Path {
        name: "static allow, 100,000 entries",
        before: 17,
        after: &[
            ("get_current_time_nanoseconds", 1),
            ("get_header_map_pairs", 1),
            ("get_property", 2),
            ("increment_metric", 1),
            ("remove_header_map_value", 1),
            ("replace_header_map_value", 3),
        ],
        fuel_before: 69241,
        fuel_ceiling: 20500,
        run: || static_allow(100_000),
    },
    Path {
        name: "static deny",
        before: 12,
        after: &[
            ("get_current_time_nanoseconds", 1),
            ("get_header_map_pairs", 1),
            ("get_property", 2),
            ("increment_metric", 1),
            ("send_local_response", 1),
        ],
        fuel_before: 52648,
        fuel_ceiling: 28500,
        run: static_deny,
    },
    Path {
        name: "certificate auth allow",
        before: 22,
        after: &[
            ("get_current_time_nanoseconds", 1),
            ("get_header_map_pairs", 1),
            ("get_property", 2),
            ("get_shared_data", 2),
            ("increment_metric", 1),
            ("remove_header_map_value", 1),
            ("replace_header_map_value", 5),
        ],
        fuel_before: 101513,
        fuel_ceiling: 33000,
        run: certificate_auth,
    },
    Path {
        name: "CA-admitted (2nd request)",
        before: 16,
        after: &[
            ("get_current_time_nanoseconds", 1),
            ("get_header_map_pairs", 1),
            ("get_property", 2),
            ("increment_metric", 1),
            ("remove_header_map_value", 1),
            ("replace_header_map_value", 3),
        ],
        fuel_before: 69282,
        fuel_ceiling: 20500,
        run: ca_admitted,
    },
    Path {
        name: "no-mTLS API pass-through",
        before: 14,
        after: &[
            ("get_current_time_nanoseconds", 1),
            ("get_header_map_pairs", 1),
            ("get_property", 1),
            ("increment_metric", 1),
            ("replace_header_map_value", 2),
        ],
        fuel_before: 39908,
        fuel_ceiling: 10500,
        run: open_api,
    },
    Path {
        name: "unmatched request",
        before: 11,
        after: &[
            ("get_current_time_nanoseconds", 1),
            ("get_header_map_pairs", 1),
            ("get_property", 1),
            ("increment_metric", 1),
        ],
        fuel_before: 14029,
        fuel_ceiling: 8500,
        run: unmatched,
    },
    Path {
        name: "static allow, all 5 gate headers forged",
        before: 17,
        after: &[
            ("get_current_time_nanoseconds", 1),
            ("get_header_map_pairs", 1),
            ("get_property", 2),
            ("increment_metric", 1),
            ("remove_header_map_value", 3),
            ("replace_header_map_value", 3),
        ],
        fuel_before: 77189,
        fuel_ceiling: 31500,
        run: forged_headers,
    },
];

/// The floor: the bench's empty filter (tests/tools/empty-filter, beside the filter's .wasm)
/// on the static allow request, what any filter on the proxy-wasm SDK burns per stream.
fn empty_filter(filter_wasm: &std::path::Path) -> Outcome {
    let empty = filter_wasm.with_file_name("mtls_gate_bench_empty_filter.wasm");
    let host = Host::load(&empty)
        .unwrap_or_else(|e| panic!("{}: {e:#} (make test-harness builds it)", empty.display()));
    host.clock().set_unix_seconds(1_800_000_000);
    let alice = client("alice");
    let mut worker = host.worker("{}").unwrap();
    steady(&mut worker, |w| mtls(w, &alice, "/secure/x"))
}

#[test]
fn host_calls_per_request_are_pinned_per_path() {
    let floor = empty_filter(&Host::filter_wasm_path());
    println!("| path | host calls before | after | after, by import | wasm fuel before | after |");
    println!("|---|---:|---:|---|---:|---:|");
    assert_eq!(
        floor.total_host_calls(),
        0,
        "the floor calls the host for nothing"
    );
    println!(
        "| the empty filter (the floor) | | 0 | | | {} |",
        floor.wasm_fuel()
    );
    let mut mismatches = Vec::new();
    for path in PATHS {
        let out = (path.run)();
        let seen: Vec<(String, usize)> = out
            .host_calls()
            .iter()
            .map(|(name, n)| (name.trim_start_matches("proxy_").to_owned(), *n))
            .collect();
        let listed: Vec<String> = seen.iter().map(|(n, c)| format!("{n} {c}")).collect();
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            path.name,
            path.before,
            out.total_host_calls(),
            listed.join(", "),
            path.fuel_before,
            out.wasm_fuel()
        );
        if out.wasm_fuel() > path.fuel_ceiling {
            mismatches.push(format!(
                "{}: {} wasm fuel, over its ceiling of {}",
                path.name,
                out.wasm_fuel(),
                path.fuel_ceiling
            ));
        }
        let expected: Vec<(String, usize)> = path
            .after
            .iter()
            .map(|(n, c)| ((*n).to_owned(), *c))
            .collect();
        if seen != expected {
            mismatches.push(format!("{}: {seen:?}", path.name));
        }
    }
    assert!(
        mismatches.is_empty(),
        "host calls changed on some paths (update the pinned counts only for a call that \
         is needed):\n{}",
        mismatches.join("\n")
    );
}

/// Not a check: a loop for `perf record` (README "Profiling the filter"). Runs
/// `MTLS_GATE_PROFILE_PATH` ("certificate auth", else static allow) `MTLS_GATE_PROFILE_N`
/// times on one worker, then prints where the last request's wasm fuel went between its
/// host calls (`MTLS_GATE_PROFILE_N=2` for that alone). A scratch build can mark a point
/// of its own with any host call, e.g. a counter increment.
#[test]
#[ignore = "a profiling loop, run by hand"]
fn profile_a_path() {
    let wanted = std::env::var("MTLS_GATE_PROFILE_PATH").unwrap_or_default();
    let n: usize = std::env::var("MTLS_GATE_PROFILE_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let (_host, mut worker, alice, path) = match wanted.as_str() {
        "certificate auth" => {
            let (host, worker, alice) = certificate_auth_worker();
            (host, worker, alice, "/orders")
        }
        _ => {
            let alice = client("alice");
            let host = host_now();
            let worker = host.worker(static_gate(&allow_list(1, &alice))).unwrap();
            (host, worker, alice, "/secure/x")
        }
    };
    let started = std::time::Instant::now();
    let mut last = None;
    for _ in 0..n {
        let out = mtls(&mut worker, &alice, path);
        assert_forwarded(&out);
        last = Some(out);
    }
    println!("{wanted}: {:?} per request", started.elapsed() / n as u32);
    if let Some(out) = last {
        println!("wasm fuel before each host call of the last request, then to its end:");
        let mut burnt_before = 0;
        for (call, burnt) in out.fuel_at_calls() {
            println!("{:>8}  {call}", burnt.saturating_sub(burnt_before));
            burnt_before = *burnt;
        }
        let end = out.wasm_fuel().saturating_sub(burnt_before);
        println!("{end:>8}  (end; {} in all)", out.wasm_fuel());
    }
}
