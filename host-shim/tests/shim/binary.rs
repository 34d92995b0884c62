//! The real `mtls-gate-shim` binary: start-up refusals, durability, keys at rest, the CLI.

use crate::common::{
    ADMIN_SECRET, FEED_TOKEN, SHIM_ENV as ENV, admin, binary, refused, send, shim, shim_command,
    start_shim as start, started,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mtls_gate_core::pem::parse_blocks;
use mtls_gate_testkit::ca::{Leaf, TestCa};
use mtls_gate_testkit::shim::Shim;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

#[test]
fn refuses_to_start_with_an_empty_secret() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("s.db");
    for secret in [None, Some(""), Some("  ")] {
        let launcher = Shim::builder(binary()).store(&store).no_feed_token();
        let (status, log) = refused(match secret {
            None => launcher.no_admin_secret(),
            Some(secret) => launcher.admin_secret(secret),
        });
        assert!(!status.success());
        assert!(
            log.contains(
                "refusing to start: the admin secret is empty (set MTLS_GATE_SECRET or pass --secret-file)"
            ),
            "{log}"
        );
    }
    let empty_file = dir.path().join("secret");
    std::fs::write(&empty_file, "\n").unwrap_or_else(|e| panic!("{e}"));
    let output = shim_command(&[])
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(&store)
        .arg("--secret-file")
        .arg(&empty_file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("admin secret is empty"));
}

#[test]
fn refuses_a_feed_token_equal_to_the_admin_secret() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (status, log) = refused(
        Shim::builder(binary())
            .store(dir.path().join("s.db"))
            .admin_secret("same")
            .feed_token("same"),
    );
    assert!(!status.success());
    assert!(
        log.contains("MTLS_GATE_FEED_TOKEN must differ from the admin secret"),
        "{log}"
    );
}

#[tokio::test]
async fn secret_file_works_and_sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{ADMIN_SECRET}\n")).unwrap_or_else(|e| panic!("{e}"));
    let mut shim = started(
        Shim::builder(binary())
            .store(dir.path().join("s.db"))
            .no_admin_secret()
            .no_feed_token()
            .arg("--secret-file")
            .arg(&secret_file),
    );
    assert_eq!(
        admin(&shim, Method::GET, "/tyk/certs", None).await.status,
        200
    );
    let status = shim.terminate().unwrap_or_else(|e| panic!("{e:#}"));
    assert!(status.success(), "SIGTERM exit: {status}");
}

/// Issue 13: the feed token and the encoding secret can come from files, like the admin
/// secret, so none of them need sit in the shim's environment.
#[tokio::test]
async fn feed_token_and_encoding_secret_from_files() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("s.db");
    let token_file = dir.path().join("feed-token");
    let encoding_file = dir.path().join("encoding-secret");
    std::fs::write(&token_file, "token-from-a-file\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&encoding_file, "sealing-from-a-file\n").unwrap_or_else(|e| panic!("{e}"));
    let leaf = TestCa::new().leaf("upstream");
    let from_files = || {
        Shim::builder(binary())
            .store(&store)
            .admin_secret(ADMIN_SECRET)
            .no_feed_token()
            .arg("--feed-token-file")
            .arg(&token_file)
            .arg("--encoding-secret-file")
            .arg(&encoding_file)
    };
    let mut first = started(from_files());
    let feed = |token: &'static str| {
        let url = format!(
            "{}{}?since=0",
            first.base_url(),
            mtls_gate_core::feed::CHANGES_PATH
        );
        async move {
            send(
                Method::GET,
                &url,
                &[("Authorization", &format!("Bearer {token}"))],
                None,
            )
            .await
            .status
        }
    };
    assert_eq!(feed("token-from-a-file").await, 200);
    assert_eq!(feed(FEED_TOKEN).await, 401);
    assert_eq!(
        admin(&first, Method::POST, "/tyk/certs", Some(&leaf.bundle()))
            .await
            .status,
        200
    );
    assert!(
        first
            .terminate()
            .unwrap_or_else(|e| panic!("{e:#}"))
            .success()
    );

    // The key was sealed with the file's secret: the same value from the variable opens the
    // store, the admin secret (no encoding secret given) does not.
    let (_, log) = refused(shim().store(&store));
    assert!(log.contains("admin secret was used"), "{log}");
    let again = started(shim().store(&store).encoding_secret("sealing-from-a-file"));
    drop(again);

    // Both a file and the variable: refused, naming both.
    let (status, log) = refused(from_files().feed_token("also-from-the-environment"));
    assert!(!status.success());
    assert!(
        log.contains("MTLS_GATE_FEED_TOKEN is set and --feed-token-file is given too"),
        "{log}"
    );
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap_or_else(|e| panic!("{e}"));
    let (_, log) = refused(
        Shim::builder(binary())
            .store(&store)
            .no_feed_token()
            .arg("--feed-token-file")
            .arg(&empty),
    );
    assert!(log.contains("the feed token is empty"), "{log}");
}

#[tokio::test]
async fn wrong_encoding_secret_fails_at_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("s.db");
    let leaf = TestCa::new().leaf("upstream");
    let mut first = started(shim().store(&store).encoding_secret("first"));
    assert_eq!(
        admin(&first, Method::POST, "/tyk/certs", Some(&leaf.bundle()))
            .await
            .status,
        200
    );
    let stopped = first.terminate().unwrap_or_else(|e| panic!("{e:#}"));
    assert!(stopped.success(), "SIGTERM exit: {stopped}");

    let (status, log) = refused(shim().store(&store).encoding_secret("second"));
    assert!(!status.success());
    assert!(
        log.contains("wrong MTLS_GATE_ENCODING_SECRET for store"),
        "{log}"
    );
    // Without MTLS_GATE_ENCODING_SECRET the admin secret is the encoding secret: also wrong
    // here, and the refusal says so rather than blame a variable nobody set.
    let (_, log) = refused(shim().store(&store));
    assert!(
        log.contains("MTLS_GATE_ENCODING_SECRET is not set, so the admin secret was used"),
        "{log}"
    );

    let again = started(shim().store(&store).encoding_secret("first"));
    let meta = admin(
        &again,
        Method::GET,
        &format!("/tyk/certs/{}", leaf.fingerprint()),
        None,
    )
    .await;
    assert_eq!(meta.json()["has_private"], true);
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("s.db");
    let leaf = TestCa::new().leaf("durable");
    let mut shim = start(&store);
    let id = admin(
        &shim,
        Method::POST,
        "/tyk/certs?org_id=o",
        Some(&leaf.bundle()),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = json!({"org_id": "o", "certificate": id, "alias": "kept",
                      "access_rights": {"api1": {"api_id": "api1"}}})
    .to_string();
    assert_eq!(
        admin(&shim, Method::POST, "/tyk/keys/create", Some(&body))
            .await
            .status,
        200
    );
    let version = changes_version(&shim).await;
    shim.kill();

    let restarted = start(&store);
    let meta = admin(&restarted, Method::GET, &format!("/tyk/certs/{id}"), None).await;
    assert_eq!(meta.status, 200, "{}", meta.text);
    assert_eq!(meta.json()["has_private"], true);
    let session = admin(&restarted, Method::GET, &format!("/tyk/keys/{id}"), None).await;
    assert_eq!(session.json()["alias"], "kept");
    assert_eq!(
        changes_version(&restarted).await,
        version,
        "the feed version is persisted"
    );
}

async fn changes_version(shim: &Shim) -> u64 {
    let bearer = format!("Bearer {FEED_TOKEN}");
    send(
        Method::GET,
        &shim.url("/mtls-gate/v1/changes?since=0"),
        &[("Authorization", &bearer)],
        None,
    )
    .await
    .json()["version"]
        .as_u64()
        .unwrap_or_default()
}

/// Every byte sequence a key could leak as: its DER, the base64 body of its PEM (joined and
/// line by line), and the uploaded PEM as sent.
pub fn key_forms(leaf: &Leaf) -> Vec<Vec<u8>> {
    let der = parse_blocks(&leaf.key_pem)
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
        .der;
    assert_eq!(der, leaf.key_der);
    let body = STANDARD.encode(&der);
    let mut forms = vec![
        der,
        body.clone().into_bytes(),
        leaf.key_pem.clone().into_bytes(),
    ];
    forms.extend(
        leaf.key_pem
            .lines()
            .filter(|line| !line.starts_with("-----") && line.len() >= 16)
            .map(|line| line.as_bytes().to_vec()),
    );
    forms
}

fn assert_no_key_in_store_files(store: &Path, leaves: &[&Leaf]) {
    let dir = store.parent().unwrap_or_else(|| panic!("no parent"));
    let mut scanned = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.starts_with("s.db") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        scanned += bytes.len();
        for leaf in leaves {
            for form in key_forms(leaf) {
                assert!(
                    !bytes
                        .windows(form.len())
                        .any(|window| window == form.as_slice()),
                    "{name} holds private key material in clear"
                );
            }
        }
    }
    assert!(scanned > 0, "no store files found");
    // Control: the scan does see stored material (certificates are kept as PEM).
    let cert_line = leaves[0]
        .cert_pem
        .lines()
        .nth(1)
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let seen = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("s.db"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .any(|bytes| {
            bytes
                .windows(cert_line.len())
                .any(|w| w == cert_line.as_slice())
        });
    assert!(
        seen,
        "the scan found no stored certificate either: it proves nothing"
    );
}

#[tokio::test]
async fn store_files_never_hold_a_private_key_in_clear() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("s.db");
    let pki = TestCa::new();
    let ec = pki.leaf("ec");
    let rsa = pki.rsa_pkcs1_leaf("rsa");
    let mut shim = start(&store);
    for leaf in [&ec, &rsa] {
        let answer = admin(&shim, Method::POST, "/tyk/certs", Some(&leaf.bundle())).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    assert!(std::fs::metadata(dir.path().join("s.db-wal")).is_ok_and(|m| m.len() > 0));
    // While running (data in the WAL) and after a crash (nothing checkpointed or cleaned).
    assert_no_key_in_store_files(&store, &[&ec, &rsa]);
    shim.kill();
    assert_no_key_in_store_files(&store, &[&ec, &rsa]);
    // And after a clean restart and shutdown (WAL checkpointed into the main file).
    let mut again = start(&store);
    let stopped = again.terminate().unwrap_or_else(|e| panic!("{e:#}"));
    assert!(stopped.success(), "SIGTERM exit: {stopped}");
    assert_no_key_in_store_files(&store, &[&ec, &rsa]);
}

fn cli(shim: &Shim, args: &[&str]) -> (bool, String, String) {
    let output = shim_command(&ENV)
        .args(args)
        .args(["--url", &shim.base_url()])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn cli_subcommands_drive_a_running_shim() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let shim = start(dir.path().join("s.db"));
    let leaf = TestCa::new().leaf("cli");
    let pem_path = dir.path().join("client.pem");
    std::fs::write(&pem_path, leaf.bundle()).unwrap_or_else(|e| panic!("{e}"));
    let pem_arg = pem_path.to_string_lossy().into_owned();
    let id = format!("acme{}", leaf.fingerprint());

    let (ok, out, err) = cli(&shim, &["certs", "add", &pem_arg, "--org", "acme"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .ok()
            .map(|v| v["id"].clone()),
        Some(json!(id))
    );

    let (ok, out, _) = cli(&shim, &["certs", "ls"]);
    assert!(ok);
    assert_eq!(out.trim(), id);
    let (ok, out, _) = cli(&shim, &["certs", "ls", "--detailed", "--org", "acme"]);
    assert!(ok);
    assert!(out.contains("\"subject_cn\": \"cli\""), "{out}");
    let (ok, out, _) = cli(&shim, &["certs", "show", &id]);
    assert!(ok);
    assert!(
        out.contains(&format!("\"fingerprint\": \"{}\"", leaf.fingerprint())),
        "{out}"
    );

    let (ok, out, err) = cli(
        &shim,
        &[
            "keys",
            "create",
            "--certificate",
            &id,
            "--alias",
            "cli-user",
            "--expires",
            "+1d",
            "--api",
            "api1",
            "--api",
            "api2",
        ],
    );
    assert!(ok, "{err}");
    let key = serde_json::from_str::<Value>(&out)
        .ok()
        .map(|v| v["key"].clone());
    assert_eq!(
        key,
        Some(json!(id)),
        "org defaults to the certificate ID's prefix"
    );
    let session = admin(&shim, Method::GET, &format!("/tyk/keys/{id}"), None)
        .await
        .json();
    assert_eq!(session["alias"], "cli-user");
    assert_eq!(session["org_id"], "acme");
    assert!(session["expires"].as_i64().unwrap_or_default() > 0);
    assert!(session["access_rights"]["api2"].is_object());

    let (ok, _, err) = cli(
        &shim,
        &["keys", "create", "--certificate", &id, "--api", "a"],
    );
    assert!(!ok);
    assert!(
        err.contains("Key with given certificate already found"),
        "{err}"
    );
    // Without --api the shim (no --allow-master-keys) refuses, and the CLI says what to do.
    let (ok, _, err) = cli(&shim, &["keys", "create", "--certificate", &id]);
    assert!(!ok);
    assert!(
        err.contains("keys must have at least one Access Rights record set.")
            && err.contains("--api API_ID")
            && err.contains("--allow-master-keys"),
        "{err}"
    );
    let (ok, _, err) = cli(
        &shim,
        &[
            "keys",
            "create",
            "--certificate",
            &id,
            "--org",
            "other",
            "--api",
            "a",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains(r#"org_id "other" does not match the certificate's org "acme""#),
        "{err}"
    );
    let (ok, _, _) = cli(&shim, &["keys", "rm", &id]);
    assert!(ok);
    let (ok, _, _) = cli(&shim, &["certs", "rm", &id]);
    assert!(ok);
    let (ok, out, _) = cli(&shim, &["certs", "ls"]);
    assert!(ok && out.trim().is_empty(), "{out}");

    let output = shim_command(&[("MTLS_GATE_SECRET", "wrong")])
        .args(["certs", "ls", "--url", &shim.base_url()])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Attempted administrative access"));
}

/// `serve --allow-master-keys` (Tyk's `allow_master_keys`) reaches the key rules.
#[tokio::test]
async fn allow_master_keys_flag_accepts_keys_without_access_rights() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let leaf = TestCa::new().leaf("master");
    let strict = start(dir.path().join("strict.db"));
    let master = started(
        shim()
            .store(dir.path().join("master.db"))
            .allow_master_keys(),
    );
    for (shim, expected) in [(&strict, 400), (&master, 200)] {
        let id = admin(shim, Method::POST, "/tyk/certs", Some(&leaf.cert_pem))
            .await
            .json()["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let body = json!({"certificate": id}).to_string();
        let answer = admin(shim, Method::POST, "/tyk/keys/create", Some(&body)).await;
        assert_eq!(answer.status, expected, "{}", answer.text);
    }
    assert!(
        master.log().contains("--allow-master-keys"),
        "{}",
        master.log()
    );
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["certs", "--help"],
        vec!["certs", "add", "--help"],
        vec!["certs", "ls", "--help"],
        vec!["certs", "show", "--help"],
        vec!["certs", "rm", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "create", "--help"],
        vec!["keys", "show", "--help"],
        vec!["keys", "rm", "--help"],
    ] {
        let output = std::process::Command::new(binary())
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}
