//! The real binary on a real `redis-server` (`--store redis://…`): a fleet of shims sharing
//! one store, durability across a Redis crash, keys at rest, start-up refusals, Redis outages.

use crate::binary::key_forms;
use crate::common::{
    Answer, FEED_TOKEN, SHIM_ENV as ENV, admin, refused, send, shim, shim_command, start_shim,
    started,
};
use mtls_gate_core::feed::ChangeSet;
use mtls_gate_testkit::ca::{Leaf, TestCa};
use mtls_gate_testkit::redis::RedisServer;
use mtls_gate_testkit::shim::Shim;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

fn store_url(server: &RedisServer) -> String {
    format!("{}/0?prefix=it:", server.url())
}

fn start(url: &str) -> Shim {
    start_shim(url)
}

async fn feed(shim: &Shim, path: &str) -> Answer {
    let bearer = format!("Bearer {FEED_TOKEN}");
    send(
        Method::GET,
        &shim.url(path),
        &[("Authorization", &bearer)],
        None,
    )
    .await
}

async fn changes(shim: &Shim, query: &str) -> ChangeSet {
    let answer = feed(shim, &format!("/mtls-gate/v1/changes?{query}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    ChangeSet::decode(answer.text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {}", answer.text))
}

async fn upload(shim: &Shim, leaf: &Leaf, org: &str) -> String {
    let answer = admin(
        shim,
        Method::POST,
        &format!("/tyk/certs?org_id={org}"),
        Some(&leaf.bundle()),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["id"].as_str().unwrap_or_default().to_owned()
}

async fn create_key(shim: &Shim, certificate: &str, alias: &str) -> String {
    let body = json!({"org_id": "o", "certificate": certificate, "alias": alias,
                      "access_rights": {"api1": {"api_id": "api1"}}})
    .to_string();
    let answer = admin(shim, Method::POST, "/tyk/keys/create", Some(&body)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["key"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn two_shims_on_one_redis_share_certificates_keys_feed_and_long_polls() {
    let server = RedisServer::start();
    let url = store_url(&server);
    let a = start(&url);
    let b = start(&url);
    let pki = TestCa::new();

    let first_leaf = pki.leaf("first");
    let first = upload(&a, &first_leaf, "o").await;
    let second = upload(&b, &pki.leaf("second"), "o").await;
    for shim in [&a, &b] {
        let listed = admin(shim, Method::GET, "/tyk/certs?org_id=o", None).await;
        assert_eq!(
            listed.json()["certs"],
            json!([first, second]),
            "upload order, fleet-wide"
        );
    }
    let fetched = admin(&b, Method::GET, &format!("/tyk/certs/{first}"), None).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.json()["has_private"], true);
    let again = admin(
        &b,
        Method::POST,
        "/tyk/certs?org_id=o",
        Some(&first_leaf.bundle()),
    )
    .await;
    again.assert_error(403, &format!("Certificate with {first} id already exists"));

    let before = changes(&b, "since=0").await.version;
    assert_eq!(
        changes(&a, "since=0").await.version,
        before,
        "one version for the fleet"
    );
    let key = create_key(&a, &first, "fleet").await;
    let set = changes(&b, &format!("since={before}")).await;
    assert!(!set.full);
    assert_eq!(set.sessions.len(), 1);
    assert_eq!(set.sessions[0].key, key);
    assert_eq!(set.sessions[0].grant.alias, "fleet");

    // A long-poll held on B wakes for a write through A (B gets no local notification).
    let current = set.version;
    let b_url = b.url(&format!(
        "/mtls-gate/v1/changes?since={current}&wait_ms=20000"
    ));
    let started = Instant::now();
    let poll = tokio::spawn(async move {
        let bearer = format!("Bearer {FEED_TOKEN}");
        send(Method::GET, &b_url, &[("Authorization", &bearer)], None).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await; // let B start holding the poll
    assert!(
        !poll.is_finished(),
        "B must be holding the poll, with nothing new to say"
    );
    let deleted = admin(&a, Method::DELETE, &format!("/tyk/certs/{first}"), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let answer = poll.await.unwrap_or_else(|e| panic!("{e}"));
    let woke = started.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.text);
    let set = ChangeSet::decode(answer.text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert!(woke < Duration::from_secs(5), "woke after {woke:?}");
    assert_eq!(set.removed_certs, [first]);
    assert!(
        set.removed_sessions.is_empty(),
        "SPEC §2 \"Revocation by deletion\": the certificate's key stays"
    );
    let kept = admin(&b, Method::GET, &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
}

#[tokio::test]
async fn acknowledged_writes_survive_a_redis_kill_9() {
    let mut server = RedisServer::start();
    let url = store_url(&server);
    let mut shim = start(&url);
    let id = upload(&shim, &TestCa::new().leaf("durable"), "o").await;
    let key = create_key(&shim, &id, "kept").await;
    let version = changes(&shim, "since=0").await.version;

    server.kill_9();
    server.restart(); // same port and directory: Redis replays its AOF

    // The running shim reconnects by itself.
    let meta = admin(&shim, Method::GET, &format!("/tyk/certs/{id}"), None).await;
    assert_eq!(meta.status, 200, "{}", meta.text);
    assert_eq!(meta.json()["has_private"], true);
    let session = admin(&shim, Method::GET, &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(session.json()["alias"], "kept");
    assert_eq!(changes(&shim, "since=0").await.version, version);
    // So does a fresh one, and the sealed key still opens under the same secret.
    shim.kill();
    let fresh = start(&url);
    assert_eq!(changes(&fresh, "since=0").await.version, version);
}

#[tokio::test]
async fn redis_never_holds_a_private_key_in_clear() {
    let server = RedisServer::start();
    let shim = start(&store_url(&server));
    let pki = TestCa::new();
    let ec = pki.leaf("ec");
    let rsa = pki.rsa_pkcs1_leaf("rsa");
    for leaf in [&ec, &rsa] {
        upload(&shim, leaf, "").await;
    }
    // The AOF as written (appendfsync always), then after a rewrite (RDB preamble + AOF).
    assert_no_key_in_redis_files(&server, &[&ec, &rsa]);
    rewrite_aof(&server);
    assert_no_key_in_redis_files(&server, &[&ec, &rsa]);
}

fn rewrite_aof(server: &RedisServer) {
    let client = redis::Client::open(server.url()).unwrap_or_else(|e| panic!("{e}"));
    let mut con = client.get_connection().unwrap_or_else(|e| panic!("{e}"));
    redis::cmd("BGREWRITEAOF")
        .exec(&mut con)
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(&mut con)
            .unwrap_or_else(|e| panic!("{e}"));
        let idle =
            info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0");
        if idle && info.contains("aof_last_bgrewrite_status:ok") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "AOF rewrite did not finish: {info}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_no_key_in_redis_files(server: &RedisServer, leaves: &[&Leaf]) {
    let files = server.data_files();
    let mut scanned = 0;
    let mut saw_certificate = false;
    let cert_line = leaves[0].cert_pem.lines().nth(1).unwrap_or_default();
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{e}"));
        scanned += bytes.len();
        saw_certificate |= bytes
            .windows(cert_line.len())
            .any(|w| w == cert_line.as_bytes());
        for leaf in leaves {
            for form in key_forms(leaf) {
                assert!(
                    !bytes.windows(form.len()).any(|w| w == form.as_slice()),
                    "{} holds private key material in clear",
                    path.display()
                );
            }
        }
    }
    assert!(
        scanned > 0,
        "no Redis data files in {}",
        server.dir().display()
    );
    assert!(
        saw_certificate,
        "the scan found no stored certificate either: it proves nothing ({files:?})"
    );
}

#[tokio::test]
async fn a_shim_with_another_encoding_secret_fails_at_start_with_a_clear_message() {
    let server = RedisServer::start();
    let url = store_url(&server);
    let first = started(shim().store(&url).encoding_secret("first"));
    upload(&first, &TestCa::new().leaf("sealed"), "").await;
    let (status, log) = refused(shim().store(&url).encoding_secret("second"));
    assert!(!status.success());
    let expected = format!(
        "wrong MTLS_GATE_ENCODING_SECRET for store redis://127.0.0.1:{}/0 (prefix it:)",
        server.port()
    );
    assert!(log.contains(&expected), "{log}");
    // Another prefix is another store: the same Redis serves it with any secret.
    let other = format!("{}/0?prefix=other:", server.url());
    let separate = started(shim().store(&other).encoding_secret("second"));
    let listed = admin(&separate, Method::GET, "/tyk/certs", None).await;
    assert_eq!(listed.json()["certs"], json!([]));
}

#[tokio::test]
async fn redis_down_gives_5xx_json_errors_and_the_shim_recovers() {
    let mut server = RedisServer::start();
    let mut shim = start(&store_url(&server));
    let id = upload(&shim, &TestCa::new().leaf("outage"), "").await;

    server.kill_9();
    for answer in [
        admin(&shim, Method::GET, "/tyk/certs", None).await,
        admin(&shim, Method::GET, &format!("/tyk/certs/{id}"), None).await,
        admin(
            &shim,
            Method::POST,
            "/tyk/certs",
            Some(&TestCa::new().leaf("y").bundle()),
        )
        .await,
        feed(&shim, "/mtls-gate/v1/changes?since=0").await,
        feed(&shim, "/mtls-gate/v1/lookup/abc").await,
    ] {
        assert_eq!(answer.status, 500, "{}", answer.text);
        answer.assert_error(500, "Certificate store error");
    }
    assert!(shim.is_running(), "the shim must survive a Redis outage");
    assert!(shim.log().contains("Connection refused"), "{}", shim.log());

    server.restart();
    let listed = admin(&shim, Method::GET, "/tyk/certs", None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()["certs"], json!([id]));
}

#[test]
fn serve_refuses_to_start_without_redis() {
    let server = RedisServer::start();
    let port = server.port();
    drop(server);
    for (url, expected) in [
        (
            format!("redis://127.0.0.1:{port}"),
            "store backend error: Redis at redis://127.0.0.1:",
        ),
        (
            format!("rediss://:pw@127.0.0.1:{port}"),
            "store backend error: Redis at rediss://:***@127.0.0.1:",
        ),
        (
            "rediss://:pw@127.0.0.1:1?cert=c.pem".to_owned(),
            "cert= and key= go together",
        ),
    ] {
        let (status, log) = refused(shim().store(&url));
        assert!(!status.success());
        assert!(log.contains(expected), "{url}: {log}");
        assert!(!log.contains("pw@"), "the password is never logged: {log}");
    }
}

#[test]
fn render_reads_certificates_and_keys_from_redis() {
    let server = RedisServer::start();
    let url = store_url(&server);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let leaf = TestCa::new().leaf("upstream");
    let id = {
        let shim = start(&url);
        let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
        runtime.block_on(upload(&shim, &leaf, "acme"))
    };
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    };
    let gate = json!({
        "org_id": "acme",
        "store": {"cluster": "x", "authority": "x"},
        "security": {"certificates": {"upstream": {"*": id}}},
        "apis": [{"api_id": "api", "proxy": {"listen_path": "/a/", "target_url": "https://localhost:9003"}}],
    });
    let files = [
        ("--gate", write("gate.json", &gate.to_string())),
        ("--server-cert", write("server.pem", &leaf.cert_pem)),
        ("--server-key", write("server.key", &leaf.key_pem)),
        ("--wasm", write("filter.wasm", "")),
        ("--upstream-ca", write("ca.pem", &leaf.cert_pem)),
    ];
    let render = |store: &str| {
        let mut command = shim_command(&ENV);
        command.arg("render").args(["--store", store]);
        command.arg("--out").arg(dir.path().join("out"));
        for (flag, path) in &files {
            command.arg(flag).arg(path);
        }
        command.output().unwrap_or_else(|e| panic!("{e}"))
    };

    let output = render(&url);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("(client certificate {id})")),
        "{stdout}"
    );
    let key_file = dir
        .path()
        .join("out/secrets")
        .join(format!("{}.key.pem", leaf.fingerprint()));
    let key = std::fs::read_to_string(&key_file).unwrap_or_else(|e| panic!("{e}"));
    let blocks = mtls_gate_core::pem::parse_blocks(&key).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        blocks[0].der, leaf.key_der,
        "the key came out of Redis intact"
    );

    let missing = render(&format!("{}/0?prefix=nothing-here:", server.url()));
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("(prefix nothing-here:) does not exist"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_redis_without_fsync_always_gets_a_durability_warning() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap_or_else(|e| panic!("{e}"));
    let mut con = client.get_connection().unwrap_or_else(|e| panic!("{e}"));
    let durable = start(&store_url(&server));
    assert!(
        !durable.log().contains("may not survive a crash"),
        "{}",
        durable.log()
    );
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendfsync")
        .arg("everysec")
        .exec(&mut con)
        .unwrap_or_else(|e| panic!("{e}"));
    let lax = start(&store_url(&server));
    let log = lax.log();
    assert!(
        log.contains("acknowledged writes may not survive a crash"),
        "{log}"
    );
    assert!(log.contains("appendfsync=everysec"), "{log}");
}

/// Issue 13: `rediss://` against a real `redis-server` with TLS: the server verified against
/// `ca=`, a client certificate where the server requires one, the password never logged,
/// and what the store holds read back after a restart.
#[tokio::test]
async fn rediss_with_a_ca_and_a_client_certificate() {
    let pki = mtls_gate_testkit::pki::TestPki::generate().unwrap_or_else(|e| panic!("{e:#}"));
    let password = "redis-password-never-logged";
    let server = RedisServer::start_tls_with_password(
        &pki.server.cert_path,
        &pki.server.key_path,
        &pki.ca.cert_path,
        true,
        Some(password),
    );
    let base = server.tls_url().unwrap_or_else(|| panic!("a TLS server"));
    let ca = pki.ca.cert_path.display().to_string();
    let url = format!(
        "{base}/0?prefix=tls:&ca={ca}&cert={}&key={}",
        pki.client.cert_path.display(),
        pki.client.key_path.display()
    );
    let mut first = start(&url);
    let leaf = TestCa::new().leaf("over-tls");
    let id = upload(&first, &leaf, "o").await;
    assert!(!first.log().contains(password), "{}", first.log());
    first.kill();
    let again = start(&url);
    let meta = admin(&again, Method::GET, &format!("/tyk/certs/{id}"), None).await;
    assert_eq!(meta.status, 200, "{}", meta.text);
    assert_eq!(meta.json()["has_private"], true);

    // The server requires a client certificate; its CA is not the system's.
    for (url, expected) in [
        (
            format!("{base}/0?prefix=tls:&ca={ca}"),
            "Redis at rediss://:***@127.0.0.1:",
        ),
        (
            format!("{base}/0?prefix=tls:"),
            "Redis at rediss://:***@127.0.0.1:",
        ),
        (
            format!("{base}/0?prefix=tls:&ca=/nonexistent/ca.pem"),
            "ca= /nonexistent/ca.pem",
        ),
    ] {
        let (status, log) = refused(shim().store(&url));
        assert!(!status.success());
        assert!(log.contains(expected), "{url}: {log}");
        assert!(
            !log.contains(password),
            "the password is never logged: {log}"
        );
    }
}
