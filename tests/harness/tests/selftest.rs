//! Tests of the proxy-wasm harness itself.
//!
//! Most drive `tests/harness/fixture-plugin`, a tiny proxy-wasm 0.2.5 plugin whose host calls are
//! chosen by request headers, so each ABI rule is checked through the real Rust SDK. The
//! fixture is built for wasm32-wasip1 on first use, into `target/fixture-plugin`.

use anyhow::{Context, Result, anyhow, ensure};
use mtls_gate_harness::{Action, Host, Level, Outcome, Refusal, Status, Worker};
use mtls_gate_testkit::paths;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Builds the fixture plugin once per test binary.
fn fixture_wasm() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target_dir = paths::target_dir().join("fixture-plugin");
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixture-plugin/Cargo.toml");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let output = Command::new(cargo)
                .args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip1",
                    "--manifest-path",
                ])
                .arg(&manifest)
                .env("CARGO_TARGET_DIR", &target_dir)
                .output()
                .map_err(|e| format!("running cargo: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "building the fixture plugin failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(target_dir.join("wasm32-wasip1/release/mtls_gate_harness_fixture.wasm"))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

fn fixture() -> Result<Host> {
    Host::load(fixture_wasm()?)
}

/// Sends one fixture operation with extra headers.
fn op(worker: &mut Worker, name: &str, headers: &[(&str, &str)]) -> Result<Outcome> {
    let mut request = worker
        .request()
        .header(":authority", "a.example.com")
        .header(":path", "/x")
        .header(":method", "GET")
        .header("x-op", name);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    request.send_headers()
}

fn result(out: &Outcome) -> &str {
    out.header("x-result").unwrap_or("<no x-result>")
}

#[test]
fn start_runs_vm_start_and_configure_with_their_buffers() -> Result<()> {
    let host = fixture()?;
    host.set_vm_config("vm-cfg");
    let worker = host.worker("name=w1,tick_ms=250")?;
    assert!(
        worker.logs_contain("vm config: vm-cfg"),
        "{:?}",
        worker.logs()
    );
    assert!(worker.logs_contain("configured as w1"));
    assert_eq!(worker.tick_period(), Some(Duration::from_millis(250)));
    assert_eq!(host.worker("name=w2")?.tick_period(), None);
    Ok(())
}

#[test]
fn refused_configuration_is_an_error_that_carries_the_plugin_logs() -> Result<()> {
    let host = fixture()?;
    let refused = host
        .try_worker("refuse")
        .expect_err("refuse must be refused");
    assert_eq!(refused.reason, Refusal::ConfigureReturnedFalse);
    assert!(refused.logs_contain("field `mode`"), "{:?}", refused.logs);
    let error = host.worker("refuse").expect_err("refused").to_string();
    assert!(
        error.contains("proxy_on_configure returned false"),
        "{error}"
    );
    assert!(error.contains("field `mode` must be one of"), "{error}");
    Ok(())
}

#[test]
fn trap_while_configuring_reports_the_panic_message() -> Result<()> {
    let host = fixture()?;
    let refused = host.try_worker("panic").expect_err("panic must fail");
    let Refusal::Trapped(trap) = &refused.reason else {
        panic!("expected a trap, got {:?}", refused.reason);
    };
    assert!(trap.contains("proxy_on_configure"), "{trap}");
    // The SDK's panic hook logs the message at critical before the abort.
    assert!(
        refused
            .logs
            .iter()
            .any(|(level, line)| *level == Level::Critical
                && line.contains("fixture panics in on_configure")),
        "{:?}",
        refused.logs
    );
    Ok(())
}

#[test]
fn shared_data_cas_is_shared_by_all_workers_of_a_host() -> Result<()> {
    let host = fixture()?;
    let mut w1 = host.worker("name=w1")?;
    let mut w2 = host.worker("name=w2")?;

    let missing = op(&mut w1, "shared-get", &[("x-key", "k")])?;
    assert_eq!(
        (result(&missing), missing.header("x-cas")),
        ("<none>", Some("<none>"))
    );

    // Creating a key never checks the CAS.
    let created = op(
        &mut w1,
        "shared-set",
        &[("x-key", "k"), ("x-value", "a"), ("x-cas", "4242")],
    )?;
    assert_eq!(result(&created), "Ok(())");

    let seen = op(&mut w2, "shared-get", &[("x-key", "k")])?;
    assert_eq!(result(&seen), "a");
    let cas = seen.header("x-cas").context("cas")?.to_string();
    assert_eq!(
        host.shared_data().get("k"),
        Some((b"a".to_vec(), cas.parse()?))
    );

    let updated = op(
        &mut w1,
        "shared-set",
        &[("x-key", "k"), ("x-value", "b"), ("x-cas", &cas)],
    )?;
    assert_eq!(result(&updated), "Ok(())");
    let stale = op(
        &mut w2,
        "shared-set",
        &[("x-key", "k"), ("x-value", "c"), ("x-cas", &cas)],
    )?;
    assert_eq!(result(&stale), "Err(CasMismatch)");
    assert_eq!(
        host.shared_data().get("k").map(|(v, _)| v),
        Some(b"b".to_vec())
    );

    // No CAS (0) is unconditional; an empty value is a value, which the SDK reads as None
    // with a CAS.
    let unconditional = op(&mut w2, "shared-set", &[("x-key", "k"), ("x-value", "")])?;
    assert_eq!(result(&unconditional), "Ok(())");
    let tombstone = op(&mut w1, "shared-get", &[("x-key", "k")])?;
    assert_eq!(result(&tombstone), "<none>");
    assert_ne!(tombstone.header("x-cas"), Some("<none>"));
    assert_eq!(host.shared_data().get("k").map(|(v, _)| v), Some(vec![]));
    Ok(())
}

#[test]
fn tick_lease_is_taken_by_one_worker_only() -> Result<()> {
    let host = fixture()?;
    let mut w1 = host.worker("name=w1,tick_ms=1000")?;
    let mut w2 = host.worker("name=w2,tick_ms=1000")?;
    w1.tick()?;
    w2.tick()?;
    w1.tick()?;
    assert!(w1.logs_contain("lease taken by w1"));
    assert!(w1.logs_contain("lease kept by w1"));
    assert!(w2.logs_contain("lease held by w1"), "{:?}", w2.logs());
    assert_eq!(w1.metric("fixture_ticks"), Some(2));
    assert_eq!(host.metric("fixture_ticks"), Some(3));
    Ok(())
}

#[test]
fn unimplemented_host_call_traps_loudly_and_the_vm_stays_dead() -> Result<()> {
    let host = fixture()?;
    assert!(
        host.unimplemented_imports()
            .contains(&"env::proxy_grpc_call".to_string()),
        "{:?}",
        host.unimplemented_imports()
    );
    let mut worker = host.worker("")?;
    let error = op(&mut worker, "grpc", &[]).expect_err("grpc is not implemented");
    assert!(
        format!("{error:#}").contains("harness: unimplemented host call proxy_grpc_call"),
        "{error:#}"
    );
    assert!(worker.has_crashed());
    let after = op(&mut worker, "", &[]).expect_err("a crashed VM is not called again");
    assert!(
        format!("{after:#}").contains("crashed earlier"),
        "{after:#}"
    );
    Ok(())
}

#[test]
fn unknown_import_in_any_module_traps_with_its_name() -> Result<()> {
    let host = Host::from_bytes(
        r#"(module
            (import "env" "proxy_made_up_call" (func $made_up (result i32)))
            (memory (export "memory") 1)
            (func (export "proxy_abi_version_0_2_1"))
            (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024)
            (func (export "proxy_on_configure") (param i32 i32) (result i32)
                call $made_up))"#,
    )?;
    assert_eq!(host.unimplemented_imports(), ["env::proxy_made_up_call"]);
    let refused = host.try_worker("{}").expect_err("must trap");
    let Refusal::Trapped(trap) = refused.reason else {
        panic!("expected a trap, got {:?}", refused.reason);
    };
    assert!(
        trap.contains("harness: unimplemented host call proxy_made_up_call"),
        "{trap}"
    );
    Ok(())
}

#[test]
fn module_without_the_abi_marker_is_refused() -> Result<()> {
    let host = Host::from_bytes(r#"(module (memory (export "memory") 1))"#)?;
    let refused = host.try_worker("").expect_err("not a proxy-wasm module");
    assert!(
        matches!(refused.reason, Refusal::Harness(ref why) if why.contains("proxy_abi_version_0_2_1"))
    );
    Ok(())
}

#[test]
fn header_maps_round_trip_through_the_sdk_with_envoy_semantics() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    let out = op(
        &mut worker,
        "headers",
        &[
            ("X-Upper", "V"),
            ("x-replace", "old"),
            ("x-replace", "older"),
            ("x-remove", "gone"),
        ],
    )?;
    let names: Vec<&str> = out
        .request_headers()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        names,
        [
            ":authority",
            ":path",
            ":method",
            "x-op",
            "x-upper",
            "x-replace",
            "x-roundtrip",
            "x-added",
            "x-added",
            "x-missing-was"
        ]
    );
    // Names are lower case; the get/set pair round trip kept 8 headers and their values.
    assert_eq!(out.header("x-upper"), Some("V"));
    assert_eq!(out.header("x-roundtrip"), Some("8 headers"));
    // add appends, replace leaves one value, remove drops all, missing is NotFound.
    let added: Vec<&str> = out
        .request_headers()
        .iter()
        .filter(|(k, _)| k == "x-added")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(added, ["a", "b"]);
    assert_eq!(out.header("x-replace"), Some("new"));
    assert_eq!(out.header("x-remove"), None);
    assert_eq!(out.header("x-missing-was"), Some("none"));
    assert_eq!(out.action(), Action::Continue);
    assert!(out.route_cache_clears() >= 5);
    Ok(())
}

#[test]
fn properties_not_set_are_not_found_and_set_ones_are_counted() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    worker.set_property("plugin_name", "mtls-gate");
    let read = |worker: &mut Worker, path: &str, times: &str| -> Result<Outcome> {
        worker
            .request()
            .header("x-op", "property")
            .header("x-path", path)
            .header("x-times", times)
            .peer_digest("ab12")
            .mtls(true)
            .tls("TLSv1.3")
            .sni("")
            .send_headers()
    };
    let digest = read(
        &mut worker,
        "connection.sha256_peer_certificate_digest",
        "3",
    )?;
    assert_eq!(result(&digest), hex::encode("ab12"));
    assert_eq!(
        digest.property_reads("connection.sha256_peer_certificate_digest"),
        3
    );
    assert_eq!(digest.property_reads("connection.mtls"), 0);
    assert_eq!(result(&read(&mut worker, "connection.mtls", "1")?), "01");
    assert_eq!(
        result(&read(&mut worker, "connection.tls_version", "1")?),
        hex::encode("TLSv1.3")
    );
    assert_eq!(
        result(&read(
            &mut worker,
            "connection.uri_san_peer_certificate",
            "1"
        )?),
        "<none>"
    );
    // An empty value reaches the SDK as a null pointer: None, as under Envoy.
    assert_eq!(
        result(&read(&mut worker, "connection.requested_server_name", "1")?),
        "<none>"
    );
    assert_eq!(
        result(&read(&mut worker, "plugin_name", "1")?),
        hex::encode("mtls-gate")
    );

    let written = op(&mut worker, "set-property", &[])?;
    assert_eq!(result(&written), "set");
    assert_eq!(
        written.property_writes(),
        [("fixture.mark".to_string(), b"set".to_vec())]
    );
    Ok(())
}

#[test]
fn http_call_without_method_path_or_authority_is_bad_argument() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    for missing in [":method", ":path", ":authority"] {
        let out = op(&mut worker, "call", &[("x-omit", missing)])?;
        assert_eq!(result(&out), "BadArgument", "without {missing}");
        assert_eq!(out.action(), Action::Continue);
    }
    assert!(worker.pending_http_calls().is_empty());

    host.set_known_clusters(&["shim"]);
    let unknown = op(&mut worker, "call", &[("x-upstream", "nowhere")])?;
    assert_eq!(result(&unknown), "BadArgument");
    let known = op(&mut worker, "call", &[])?;
    assert_eq!(result(&known), "token 1");
    Ok(())
}

#[test]
fn paused_stream_resumes_when_the_callout_answers() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    let out = op(&mut worker, "call", &[])?;
    assert_eq!(out.action(), Action::Pause);
    assert!(out.is_paused());
    let calls = worker.pending_http_calls();
    let [call] = calls.as_slice() else {
        panic!("one call expected: {calls:?}");
    };
    assert_eq!(
        (
            call.context_id,
            call.upstream.as_str(),
            call.timeout_ms,
            call.body.as_slice()
        ),
        (out.context_id(), "shim", 1500, &b"ping"[..])
    );
    assert_eq!(call.header(":path"), Some("/lookup"));
    assert_eq!(call.header("x-probe"), Some("1"));

    let resolved = worker
        .respond_http_call(call.token, 200, &[("content-type", "text/plain")], b"yes")?
        .context("the stream was resumed")?;
    assert_eq!(resolved.action(), Action::Continue);
    assert!(resolved.is_forwarded());
    assert_eq!(resolved.header("x-callout-body"), Some("yes"));
    assert!(
        worker.logs_contain("2 headers, status 200"),
        "{:?}",
        worker.logs()
    );
    assert!(worker.pending_http_calls().is_empty());
    assert!(
        worker.respond_http_call(call.token, 200, &[], b"").is_err(),
        "answered twice"
    );
    Ok(())
}

#[test]
fn callout_denial_and_failure_become_local_responses() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    op(&mut worker, "call", &[])?;
    op(&mut worker, "call", &[])?;
    let calls = worker.pending_http_calls();
    let denied = worker
        .respond_http_call(calls[0].token, 404, &[], b"no such session")?
        .context("answered locally")?;
    let response = denied.local_response().context("local response")?;
    assert_eq!(
        (response.status, response.body_text().as_str()),
        (403, "no such session")
    );
    assert_eq!(denied.action(), Action::Pause);

    let failed = worker
        .fail_http_call(calls[1].token)?
        .context("answered locally")?;
    let response = failed.local_response().context("local response")?;
    assert_eq!(response.status, 502);
    assert_eq!(response.header("x-reason"), Some("callout-failed"));
    // proxy_get_status reports Envoy's BrokenConnection / "reset".
    assert!(
        worker.logs_contain("callout failed: status 11 reset"),
        "{:?}",
        worker.logs()
    );
    Ok(())
}

#[test]
fn reading_a_failed_callout_response_traps_as_under_envoy() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    op(&mut worker, "call", &[("x-read-failed-response", "yes")])?;
    let token = worker.pending_http_calls()[0].token;
    let error = worker
        .fail_http_call(token)
        .expect_err("no response map on failure");
    assert!(
        format!("{error:#}").contains("unexpected status: 2"),
        "{error:#}"
    );
    Ok(())
}

#[test]
fn finishing_a_stream_runs_done_log_delete_and_cancels_its_calls() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    let out = op(&mut worker, "call", &[])?;
    assert_eq!(worker.live_streams(), [out.context_id()]);
    worker.finish(out.context_id())?;
    assert!(worker.logs_contain(&format!("ctx {} on_log", out.context_id())));
    assert!(worker.pending_http_calls().is_empty());
    assert!(worker.live_streams().is_empty());
    assert!(worker.finish(out.context_id()).is_err(), "finished twice");
    Ok(())
}

#[test]
fn time_comes_from_the_shared_manual_clock_for_proxy_wasm_and_wasi() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    host.clock().set_unix_seconds(1_800_000_000);
    host.clock().advance(Duration::from_millis(500));
    let out = op(&mut worker, "time", &[])?;
    assert_eq!(result(&out), "1800000000500000000");
    assert_eq!(out.header("x-wasi-secs"), Some("1800000000"));
    host.clock().advance(Duration::from_secs(2));
    let later = op(&mut worker, "time", &[])?;
    assert_eq!(result(&later), "1800000002500000000");
    Ok(())
}

#[test]
fn local_response_is_recorded_with_headers_and_body() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    let out = op(&mut worker, "deny", &[])?;
    assert_eq!(out.action(), Action::Pause);
    assert!(!out.is_forwarded());
    let response = out.local_response().context("local response")?;
    assert_eq!(
        (response.status, response.body.as_slice()),
        (403, &b"denied"[..])
    );
    assert_eq!(response.headers, [("x-deny".to_string(), "1".to_string())]);
    assert_eq!((response.details.as_str(), response.grpc_status), ("", -1));
    Ok(())
}

#[test]
fn foreign_functions_are_recorded_and_answered_as_configured() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    let ok = op(&mut worker, "foreign", &[("x-args", "abc")])?;
    assert_eq!(result(&ok), "Ok(())");
    assert_eq!(
        ok.foreign_calls(),
        [("clear_route_cache".to_string(), b"abc".to_vec())]
    );
    let clears = ok.route_cache_clears();
    worker.set_foreign_function_status("clear_route_cache", Status::NotFound);
    let missing = op(&mut worker, "foreign", &[])?;
    assert_eq!(result(&missing), "Err(NotFound)");
    // Only the result header write clears the cache now, not the foreign call.
    assert_eq!(missing.route_cache_clears(), clears - 1);
    Ok(())
}

#[test]
fn metrics_are_per_worker_and_host_wide() -> Result<()> {
    let host = fixture()?;
    let mut w1 = host.worker("")?;
    let mut w2 = host.worker("")?;
    op(&mut w1, "metric", &[("x-value", "7")])?;
    op(&mut w1, "metric", &[("x-value", "9")])?;
    let last = op(&mut w2, "metric", &[("x-value", "4")])?;
    // proxy_get_metric reads the process-wide stat, as Envoy's stat store does.
    assert_eq!(result(&last), "Ok(3)");
    assert_eq!(
        (w1.metric("fixture_requests"), w2.metric("fixture_requests")),
        (Some(2), Some(1))
    );
    assert_eq!(host.metric("fixture_requests"), Some(3));
    assert_eq!(host.metric("fixture_gauge"), Some(4));
    assert_eq!(w1.metric("fixture_gauge"), Some(9));
    assert_eq!(host.metric("no_such_metric"), None);
    Ok(())
}

#[test]
fn stdout_and_stderr_become_logs() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    worker.clear_logs();
    op(&mut worker, "stdout", &[])?;
    let logs = worker.logs();
    assert!(
        logs.contains(&(Level::Info, "fixture says hi on stdout".into())),
        "{logs:?}"
    );
    assert!(
        logs.contains(&(Level::Error, "fixture says hi on stderr".into())),
        "{logs:?}"
    );
    Ok(())
}

#[test]
fn trap_in_a_stream_callback_is_an_error_with_message_and_logs() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    let error = op(&mut worker, "panic", &[]).expect_err("panics");
    let text = format!("{error:#}");
    assert!(
        text.contains("proxy_on_request_headers (context 2)"),
        "{text}"
    );
    assert!(text.contains("fixture panics on request 2"), "{text}");
    Ok(())
}

#[test]
fn response_headers_do_not_exist_during_the_request_phase() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    let error = op(&mut worker, "response-headers-too-early", &[]).expect_err("BadArgument");
    assert!(
        format!("{error:#}").contains("unexpected status: 2"),
        "{error:#}"
    );

    let mut worker = host.worker("")?;
    let out = op(&mut worker, "", &[])?;
    let response =
        worker.response_headers(out.context_id(), &[(":status", "200"), ("server", "up")])?;
    assert_eq!(response.response_header("x-seen-status"), Some("200"));
    assert_eq!(response.response_header("server"), None);
    Ok(())
}

#[test]
fn request_body_is_buffered_while_the_plugin_pauses() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    let out = worker
        .request()
        .header("x-op", "")
        .end_of_stream(false)
        .send_headers()?;
    let ctx = out.context_id();
    assert_eq!(
        worker.request_body(ctx, b"ab", false)?.action(),
        Action::Pause
    );
    let done = worker.request_body(ctx, b"cd", true)?;
    assert_eq!(done.action(), Action::Continue);
    assert_eq!(done.request_body(), Some(&b"dcba"[..]));
    Ok(())
}

#[test]
fn stream_reset_is_reported() -> Result<()> {
    let host = fixture()?;
    let mut worker = host.worker("")?;
    let out = op(&mut worker, "reset", &[])?;
    assert!(out.was_reset());
    assert!(!out.is_forwarded());
    Ok(())
}

/// The SDK links its gRPC host calls into every plugin (trait default methods reach them
/// through `dyn Context` vtables), whether or not the plugin uses gRPC.
const SDK_GRPC_IMPORTS: [&str; 5] = [
    "env::proxy_grpc_call",
    "env::proxy_grpc_stream",
    "env::proxy_grpc_send",
    "env::proxy_grpc_cancel",
    "env::proxy_grpc_close",
];

#[test]
fn the_real_filter_loads_and_needs_no_unimplemented_host_call() -> Result<()> {
    let host = Host::load_filter()?;
    let lacking: Vec<&String> = host
        .unimplemented_imports()
        .iter()
        .filter(|name| !SDK_GRPC_IMPORTS.contains(&name.as_str()))
        .collect();
    ensure!(
        lacking.is_empty(),
        "the filter imports host calls the harness lacks: {lacking:?}"
    );
    // Whatever it thinks of an empty config, starting must not trap or fail to link.
    if let Err(refused) = host.try_worker("{}") {
        assert_eq!(refused.reason, Refusal::ConfigureReturnedFalse, "{refused}");
    }
    Ok(())
}

#[test]
fn shared_queue_items_reach_the_registering_worker_when_delivered() -> Result<()> {
    let host = fixture()?;
    let mut w1 = host.worker("name=w1")?;
    let none = op(&mut w1, "enqueue", &[("x-value", "early")])?;
    assert_eq!(result(&none), "no queue");

    let mut owner = host.worker("name=owner,queue")?;
    let sent = op(&mut w1, "enqueue", &[("x-value", "hello")])?;
    assert_eq!(result(&sent), "Ok(())");
    assert!(!owner.logs_contain("dequeued"), "delivered only on request");
    assert_eq!(w1.deliver_queue_ready()?, 0);
    assert_eq!(owner.deliver_queue_ready()?, 1);
    assert!(
        owner.logs_contain("owner dequeued hello"),
        "{:?}",
        owner.logs()
    );
    assert_eq!(owner.deliver_queue_ready()?, 0);
    Ok(())
}
