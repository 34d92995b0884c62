//! SPEC §8 "Live", from outside: an Envoy started from `render`'s output follows the store
//! while the shim `render --shim-url` names runs `serve` with its default flags; nothing else
//! is run by hand. The gate names an upstream client certificate by ID; uploading it (with
//! its key) through the admin API makes the filter route to its cluster and Envoy need its
//! secret, deleting it takes both away. Measured: the time from the admin API's answer to the
//! first request whose upstream saw the new client certificate (≤ 1 s), with a request loop
//! running throughout in which no request may fail. A shim restart leaves Envoy and its files
//! untouched; a second Envoy started later from the same output gets the same config.

use anyhow::{Context, Result, bail};
use mtls_gate_e2e::envoy_config::ShimRender;
use mtls_gate_e2e::*;
use mtls_gate_testkit::*;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// SPEC §8: the running Envoy has the new config within 1 s.
const LIVE_BOUND: Duration = Duration::from_secs(1);
/// Envoy's start and the filter's first sync, on a busy 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One request of the loop: when it was sent and answered, and what the upstream saw.
#[derive(Debug, Clone)]
struct Sample {
    sent: Instant,
    answered: Instant,
    outcome: Result<Option<String>, String>,
}

/// Requests `path` back to back on a thread until stopped.
struct RequestLoop {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RequestLoop {
    fn start(url: String, ca: CertFiles) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let samples = Arc::clone(&samples);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let client = Client::new(&ca);
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let outcome = match client.get(&url).send() {
                        Ok(resp) if resp.status == 200 => resp
                            .echo()
                            .map(|e| e.client_cert_sha256)
                            .map_err(|e| format!("{e:#}")),
                        Ok(resp) => Err(format!("{} {}", resp.status, resp.body)),
                        Err(e) => Err(format!("{e:#}")),
                    };
                    let answered = Instant::now();
                    if let Ok(mut samples) = samples.lock() {
                        samples.push(Sample {
                            sent,
                            answered,
                            outcome,
                        });
                    }
                }
            })
        };
        RequestLoop {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    fn samples(&self) -> Vec<Sample> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The first request sent after `after` whose upstream saw `expected` (`None`: no client
    /// certificate), waiting up to `timeout`.
    fn first_with(
        &self,
        after: Instant,
        expected: Option<&str>,
        timeout: Duration,
    ) -> Result<Sample> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.samples().into_iter().find(|s| {
                s.sent >= after
                    && s.outcome
                        .as_ref()
                        .is_ok_and(|seen| seen.as_deref() == expected)
            }) {
                return Ok(found);
            }
            if Instant::now() > deadline {
                bail!("no request saw {expected:?} within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(&mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.samples()
    }
}

impl Drop for RequestLoop {
    fn drop(&mut self) {
        self.stop();
    }
}

fn failures(samples: &[Sample]) -> Vec<String> {
    samples
        .iter()
        .filter_map(|s| s.outcome.as_ref().err().cloned())
        .collect()
}

/// Every file under `dir` with its inode and modification time.
fn snapshot(dir: &Path) -> Result<BTreeMap<PathBuf, (u64, i64, i64)>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = std::fs::metadata(&path)?;
            if meta.is_dir() {
                todo.push(path);
            } else {
                files.insert(path, (meta.ino(), meta.mtime(), meta.mtime_nsec()));
            }
        }
    }
    Ok(files)
}

fn upstream_cert_seen(envoy: &Envoy, pki: &TestPki, path: &str) -> Result<Option<String>> {
    let resp = Client::new(&pki.ca).get(&envoy.https_url(path)).send()?;
    if resp.status != 200 {
        bail!("GET {path}: {} {}", resp.status, resp.body);
    }
    Ok(resp.echo()?.client_cert_sha256)
}

#[test]
fn envoy_follows_uploads_and_deletions_within_a_second_with_no_failed_request_and_survives_a_shim_restart()
-> Result<()> {
    let pki = TestPki::generate()?;
    let mut shim = Shim::start()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "upstream")?;
    let port = echo.addr.port();
    let dir = tempfile::tempdir()?;
    let certificate = &pki.upstream_client_a;
    let id = format!("acme{}", certificate.fingerprint);

    // The gate names the certificate before it is in the store: no client certificate yet.
    let store: serde_json::Value = serde_json::from_str(&shim.store_json(200, 300))?;
    let gate = serde_json::json!({
        "org_id": "acme",
        "store": store,
        "security": {"certificates": {"upstream": {"*": id}}},
        "apis": [{"api_id": "pay", "proxy": {"listen_path": "/pay/",
                  "target_url": format!("https://pay.example.test:{port}")}}]
    })
    .to_string();
    let render = ShimRender::new(dir.path(), &shim)?
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &[("pay.example.test", port)]);
    render.run(&gate)?;

    let mut envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    let pid = envoy.process().pid();
    wait::until("Envoy to route /pay/", START_TIMEOUT, || {
        envoy.process().ensure_running()?;
        Ok(upstream_cert_seen(&envoy, &pki, "/pay/hello")
            .ok()
            .filter(Option::is_none))
    })
    .with_context(|| envoy.log())?;
    let mut requests = RequestLoop::start(envoy.https_url("/pay/hello"), pki.ca.clone());

    // Upload: by admin API only.
    std::thread::sleep(Duration::from_millis(300));
    let uploaded = shim
        .admin_client()?
        .add_cert(&certificate.cert_and_key_pem(), "acme")?;
    let answered = Instant::now();
    assert_eq!(uploaded, id);
    let first = requests
        .first_with(answered, Some(&certificate.fingerprint), LIVE_BOUND * 3)
        .with_context(|| envoy.log())?;
    let took = first.answered - answered;
    println!(
        "upload: first request with the new client certificate sent {:?} and answered {took:?} after the admin API's answer",
        first.sent - answered
    );
    assert!(
        took <= LIVE_BOUND,
        "upload took {took:?} to reach the upstream"
    );

    // Deletion: the filter goes back to the plain cluster, Envoy drops the certificate's.
    std::thread::sleep(Duration::from_millis(300));
    shim.admin_client()?.delete_cert(&id)?;
    let answered = Instant::now();
    let first = requests
        .first_with(answered, None, LIVE_BOUND * 3)
        .with_context(|| envoy.log())?;
    let took = first.answered - answered;
    println!(
        "delete: first request without the client certificate answered {took:?} after the admin API's answer"
    );
    assert!(took <= LIVE_BOUND, "deletion took {took:?}");
    let key_file = render
        .out_dir()
        .join(format!("secrets/{}.key.pem", certificate.fingerprint));
    wait::until("the key file removed", LIVE_BOUND * 2, || {
        Ok((!key_file.exists()).then_some(()))
    })?;
    // Envoy has it once more, for the restart below.
    shim.admin_client()?
        .add_cert(&certificate.cert_and_key_pem(), "acme")?;
    let answered = Instant::now();
    requests.first_with(answered, Some(&certificate.fingerprint), LIVE_BOUND * 3)?;
    std::thread::sleep(Duration::from_millis(500));

    // A shim restart: no file touched, Envoy keeps serving with the same config.
    let files = snapshot(render.out_dir())?;
    let restarted = Instant::now();
    shim.restart().map_err(|e| anyhow::anyhow!("{e}"))?;
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        snapshot(render.out_dir())?,
        files,
        "the restarted shim rewrote files"
    );
    assert!(
        shim.log().contains("live render: following the store"),
        "{}",
        shim.log()
    );
    let samples = requests.stop();
    let after_restart: Vec<&Sample> = samples.iter().filter(|s| s.sent >= restarted).collect();
    assert!(!after_restart.is_empty());
    assert!(
        after_restart.iter().all(|s| s
            .outcome
            .as_ref()
            .is_ok_and(|seen| seen.as_deref() == Some(certificate.fingerprint.as_str()))),
        "requests changed across the shim restart: {after_restart:?}"
    );
    let failed = failures(&samples);
    println!(
        "{} requests during the changes, {} failed",
        samples.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "requests failed: {failed:?}\n{}",
        envoy.log()
    );
    assert_eq!(envoy.process().pid(), pid, "Envoy was restarted");

    // A second Envoy started later from the same output: the same config.
    let mut second = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    wait::until("the second Envoy's first sync", START_TIMEOUT, || {
        second.process().ensure_running()?;
        Ok(upstream_cert_seen(&second, &pki, "/pay/hello")
            .ok()
            .flatten()
            .filter(|seen| *seen == certificate.fingerprint))
    })
    .with_context(|| second.log())?;
    Ok(())
}

/// Writes `contents` to `path` as an editor that saves by rename does.
fn replace_file(path: &Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// `serve --gate FILE` follows the file: pointing an API's upstream map at another stored
/// certificate (a rotation) is an edit of the gate and nothing else. The filter then routes
/// to a cluster Envoy did not have while the one it routed to is retired: `serve` renders
/// both, lets the filters move, then drops the old one, so no request in the loop fails
/// either way. A broken edit is logged and changes nothing.
#[test]
fn editing_the_served_gate_rotates_the_upstream_certificate_with_no_failed_request() -> Result<()> {
    let pki = TestPki::generate()?;
    let echo = EchoUpstream::start_tls(&pki.upstream_server, "upstream")?;
    let port = echo.addr.port();
    let dir = tempfile::tempdir()?;
    let gate_path = dir.path().join("gate.json");
    let (old, new) = (&pki.upstream_client_a, &pki.upstream_client_b);
    let (old_id, new_id) = (
        format!("acme{}", old.fingerprint),
        format!("acme{}", new.fingerprint),
    );
    let token = "live-gate-feed-token-0123456789";
    let gate_for = |id: &str| {
        serde_json::json!({
            "org_id": "acme",
            "store": {"cluster": "mtls-gate-shim", "authority": "mtls-gate-shim",
                      "token": token, "sync_interval_ms": 200, "max_stale_s": 300},
            "apis": [{"api_id": "pay", "proxy": {"listen_path": "/pay/",
                      "target_url": format!("https://pay.example.test:{port}")},
                      "upstream_certificates": {"pay.example.test": id}}]
        })
        .to_string()
    };
    std::fs::write(&gate_path, gate_for(&old_id))?;
    let shim = Shim::builder(paths::shim_bin()?)
        .feed_token(token)
        .arg("--gate")
        .arg(&gate_path)
        .start()?;
    let admin = shim.admin_client()?;
    assert_eq!(admin.add_cert(&old.cert_and_key_pem(), "acme")?, old_id);
    assert_eq!(admin.add_cert(&new.cert_and_key_pem(), "acme")?, new_id);
    let render = ShimRender::new(dir.path(), &shim)?
        .server_cert(&pki.server)
        .upstreams(&pki.ca, &[("pay.example.test", port)]);
    render.run(&gate_for(&old_id))?;
    let mut envoy = Envoy::start(EnvoyConfig::from_bootstrap(&render.bootstrap())?)?;
    wait::until(
        "Envoy to present the old certificate",
        START_TIMEOUT,
        || {
            envoy.process().ensure_running()?;
            Ok(upstream_cert_seen(&envoy, &pki, "/pay/hello")
                .ok()
                .flatten()
                .filter(|seen| *seen == old.fingerprint))
        },
    )
    .with_context(|| envoy.log())?;
    let mut requests = RequestLoop::start(envoy.https_url("/pay/hello"), pki.ca.clone());
    std::thread::sleep(Duration::from_millis(300));

    for (from, to, to_id) in [(old, new, &new_id), (new, old, &old_id)] {
        replace_file(&gate_path, &gate_for(to_id))?;
        let saved = Instant::now();
        let first = requests
            .first_with(saved, Some(&to.fingerprint), LIVE_BOUND * 3)
            .with_context(|| format!("{}\n{}", envoy.log(), shim.log()))?;
        let took = first.answered - saved;
        println!("gate edited: the new upstream certificate presented {took:?} after the save");
        assert!(took <= LIVE_BOUND, "the rotation took {took:?}");
        // The retired certificate's files go once the filters have moved off it.
        let from_key = render
            .out_dir()
            .join(format!("secrets/{}.key.pem", from.fingerprint));
        wait::until("the retired key file removed", LIVE_BOUND * 3, || {
            Ok((!from_key.exists()).then_some(()))
        })?;
        std::thread::sleep(Duration::from_millis(300));
    }

    // A typo'd certificate reference is refused and logged; Envoy keeps the last gate.
    let files = snapshot(render.out_dir())?;
    replace_file(&gate_path, &gate_for("not-a-certificate-reference"))?;
    wait::until("the refusal logged", LIVE_BOUND * 3, || {
        Ok(shim
            .log()
            .contains("gate file changed but is refused")
            .then_some(()))
    })?;
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        snapshot(render.out_dir())?,
        files,
        "a refused gate was rendered"
    );

    let samples = requests.stop();
    assert!(
        samples.iter().rev().take(5).all(|s| s
            .outcome
            .as_ref()
            .is_ok_and(|seen| seen.as_deref() == Some(old.fingerprint.as_str()))),
        "after the refused edit: {:?}",
        samples.last()
    );
    let failed = failures(&samples);
    println!(
        "{} requests across both rotations, {} failed",
        samples.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "requests failed: {failed:?}\n{}\n{}",
        envoy.log(),
        shim.log()
    );
    Ok(())
}
