//! `serve` follows the store into the files `render` wrote (SPEC §8 "Live"), with nothing run
//! by hand after the first `render`: an upload or a deletion reaches the output directory
//! within 1 s, in the order that keeps requests working (Envoy's files before the filters'
//! feed for an upload, after it for a deletion), a restarted shim rewrites nothing, and a
//! write through another shim of a Redis fleet is followed too. Real Envoy runs on top of
//! this in `tests/e2e/tests/live_config.rs`.

use crate::common::{Answer, FEED_TOKEN, SHIM_ENV, admin, send, shim, shim_command, started};
use mtls_gate_core::feed::ChangeSet;
use mtls_gate_testkit::ca::{Leaf, TestCa};
use mtls_gate_testkit::redis::RedisServer;
use mtls_gate_testkit::shim::Shim;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// SPEC §8: the running Envoy has the new config within 1 s.
const LIVE_BOUND: Duration = Duration::from_secs(1);
/// The gate's `store.sync_interval_ms`.
const SYNC_INTERVAL_MS: u64 = 200;

struct Setup {
    dir: tempfile::TempDir,
    upstream: Leaf,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestCa::new();
        let server = pki.leaf("server");
        std::fs::write(dir.path().join("server.pem"), &server.cert_pem).unwrap();
        std::fs::write(dir.path().join("server.key"), &server.key_pem).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(dir.path().join("filter.wasm"), b"\0asm").unwrap();
        Setup {
            dir,
            upstream: pki.leaf("upstream"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn out(&self) -> PathBuf {
        self.path("envoy")
    }

    fn upstream_id(&self) -> String {
        format!("acme{}", self.upstream.fingerprint())
    }

    /// The gate names the upstream certificate before it is in the store.
    fn gate(&self) -> String {
        json!({
            "org_id": "acme",
            "store": {"cluster": "x", "authority": "x", "sync_interval_ms": SYNC_INTERVAL_MS},
            "security": {"certificates": {"upstream": {"*": self.upstream_id()}}},
            "apis": [{"api_id": "pay", "proxy": {"listen_path": "/pay/",
                      "target_url": "https://pay.example.test:9443"}}]
        })
        .to_string()
    }

    /// `mtls-gate-shim render` once, as an operator would, against `store`.
    fn render(&self, shim: &Shim, store: &str) {
        std::fs::write(self.path("gate.json"), self.gate()).unwrap();
        let output = shim_command(&SHIM_ENV)
            .current_dir(self.dir.path())
            .args([
                "render",
                "--gate",
                "gate.json",
                "--out",
                "envoy",
                "--store",
                store,
            ])
            .args(["--server-cert", "server.pem", "--server-key", "server.key"])
            .args(["--wasm", "filter.wasm", "--upstream-ca", "ca.pem"])
            .args(["--listen", "127.0.0.1:18443", "--admin", "127.0.0.1:19901"])
            .arg("--shim-url")
            .arg(format!("http://{}", shim.addr()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "render: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Envoy has the certificate: its SDS file, and a cluster naming it.
    fn rendered(&self) -> bool {
        let fingerprint = self.upstream.fingerprint();
        let sds = self.out().join(format!("secrets/{fingerprint}.yaml"));
        let cds = std::fs::read_to_string(self.out().join("xds/cds.yaml")).unwrap_or_default();
        sds.is_file() && cds.contains(&fingerprint)
    }

    fn key_file(&self) -> PathBuf {
        self.out()
            .join(format!("secrets/{}.key.pem", self.upstream.fingerprint()))
    }
}

async fn changes(shim: &Shim, since: u64) -> ChangeSet {
    let bearer = format!("Bearer {FEED_TOKEN}");
    let answer: Answer = send(
        Method::GET,
        &shim.url(&format!("/mtls-gate/v1/changes?since={since}")),
        &[("Authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    ChangeSet::decode(answer.text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {}", answer.text))
}

async fn upload(shim: &Shim, leaf: &Leaf) -> String {
    let answer = admin(
        shim,
        Method::POST,
        "/tyk/certs?org_id=acme",
        Some(&leaf.bundle()),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["id"].as_str().unwrap_or_default().to_owned()
}

/// Every file under `dir` with its inode and modification time: a rename or a rewrite
/// changes them.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, i64, i64)> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path);
            } else {
                files.insert(path, (meta.ino(), meta.mtime(), meta.mtime_nsec()));
            }
        }
    }
    files
}

/// Polls `done` every 5 ms until it holds; the time it took, or a panic after `limit`.
async fn within(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if done() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn uploads_and_deletions_reach_the_rendered_files_in_order_and_a_restart_rewrites_nothing() {
    let setup = Setup::new();
    let store = setup.path("store.db");
    let mut shim = started(shim().store(&store));
    setup.render(&shim, &store.display().to_string());
    assert!(!setup.rendered(), "the certificate is not in the store yet");
    // The shim finds the record `render` left (no Envoy can run from the output before).
    within("the shim to follow the render", LIVE_BOUND, || {
        shim.log().contains("live render: following the store")
    })
    .await;
    let start = changes(&shim, 0).await.version;

    // Upload: Envoy's files first, then the filters' feed.
    let id = upload(&shim, &setup.upstream).await;
    assert_eq!(id, setup.upstream_id());
    let answered = Instant::now();
    let mut files_at = None;
    loop {
        if files_at.is_none() && setup.rendered() {
            files_at = Some(answered.elapsed());
        }
        let feed = changes(&shim, start).await;
        if feed.certs.iter().any(|c| c.id == id) {
            assert!(
                setup.rendered(),
                "the feed showed the certificate before Envoy's files had it"
            );
            break;
        }
        assert!(
            answered.elapsed() < Duration::from_secs(3),
            "feed never showed {id}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let files_at = files_at.unwrap_or_else(|| answered.elapsed());
    println!("upload: files rendered {files_at:?} after the admin answer");
    assert!(files_at <= LIVE_BOUND, "{files_at:?}");
    let after_upload = changes(&shim, start).await.version;

    // Deletion: the filters' feed first (the key file is still there), then the files.
    let answer = admin(
        &shim,
        Method::DELETE,
        &format!("/tyk/certs/{id}?org_id=acme"),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let answered = Instant::now();
    loop {
        let feed = changes(&shim, after_upload).await;
        if feed.removed_certs.iter().any(|removed| removed == &id) {
            assert!(
                setup.key_file().is_file(),
                "Envoy's files dropped the certificate before the feed told the filters"
            );
            break;
        }
        assert!(
            answered.elapsed() < Duration::from_secs(3),
            "feed never removed {id}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sds = setup
        .out()
        .join(format!("secrets/{}.yaml", setup.upstream.fingerprint()));
    let gone = within("the secret files removed", LIVE_BOUND, || {
        !setup.key_file().exists() && !sds.exists()
    })
    .await;
    let took = answered.elapsed();
    println!("delete: secret files removed {took:?} after the admin answer");
    assert!(!setup.rendered());
    assert!(gone <= LIVE_BOUND);

    // A restart renders the same content: no file is touched.
    let before = snapshot(&setup.out());
    shim.restart().unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        shim.log().contains("live render: following the store"),
        "{}",
        shim.log()
    );
    assert_eq!(snapshot(&setup.out()), before, "a restart rewrote files");

    // And the restarted shim still follows.
    upload(&shim, &setup.upstream).await;
    within("the re-upload rendered", LIVE_BOUND, || setup.rendered()).await;
    within("the render logged", LIVE_BOUND, || {
        shim.log().contains("Envoy config updated")
    })
    .await;
    let log = shim.log();
    assert!(!log.contains("PRIVATE KEY"), "key material in the log");
}

#[tokio::test]
async fn a_write_through_another_shim_of_the_fleet_is_followed() {
    let redis = RedisServer::start();
    let url = format!("{}/0?prefix=live:", redis.url());
    let setup = Setup::new();
    let renderer = started(shim().store(&url));
    let other = started(shim().store(&url));
    setup.render(&renderer, &url);
    assert!(!setup.rendered());

    upload(&other, &setup.upstream).await;
    let took = within(
        "a write through the other shim rendered",
        LIVE_BOUND,
        || setup.rendered(),
    )
    .await;
    println!("fleet upload: files rendered {took:?} after the admin answer");
}

#[tokio::test]
async fn serve_gate_records_the_gate_and_refuses_a_bad_one() {
    let setup = Setup::new();
    let store = setup.path("store.db");
    std::fs::write(setup.path("bad.json"), r#"{"apis": 7}"#).unwrap();
    let (_, log) = crate::common::refused(
        shim()
            .store(&store)
            .args(["--gate".into(), setup.path("bad.json")]),
    );
    assert!(log.contains("--gate"), "{log}");

    // A gate set at start replaces the one render recorded: the files follow it.
    let first = started(shim().store(&store));
    setup.render(&first, &store.display().to_string());
    drop(first);
    let other_gate = setup
        .gate()
        .replace("pay.example.test", "other.example.test");
    std::fs::write(setup.path("other.json"), other_gate).unwrap();
    let shim = started(
        shim()
            .store(&store)
            .args(["--gate".into(), setup.path("other.json")]),
    );
    let cds = setup.out().join("xds/cds.yaml");
    within("the gate from serve --gate rendered", LIVE_BOUND, || {
        std::fs::read_to_string(&cds).is_ok_and(|c| c.contains("other.example.test"))
    })
    .await;
    assert!(shim.log().contains("gate recorded in the store"));
}
