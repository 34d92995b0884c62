//! Issue 11, points 4 and 5, with the real binary against a real shim: the CLI covers the
//! daily work (`keys ls/show/update/deactivate/activate`, `certs rm` of an unknown ID, an
//! unreachable shim), and upload refusals say what is wrong.

use crate::common::{SHIM_ENV as ENV, admin, binary, shim_command, start_shim as start};
use mtls_gate_testkit::ca::{Leaf, TestCa};
use mtls_gate_testkit::shim::Shim;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

/// One CLI call against `shim`: (success, stdout, stderr).
fn cli(shim: &Shim, args: &[&str]) -> (bool, String, String) {
    cli_at(&shim.base_url(), args)
}

fn cli_at(url: &str, args: &[&str]) -> (bool, String, String) {
    let output = shim_command(&ENV)
        .args(args)
        .args(["--url", url])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `cli` that must succeed; its stdout.
#[track_caller]
fn ok(shim: &Shim, args: &[&str]) -> String {
    let (success, out, err) = cli(shim, args);
    assert!(success, "{args:?} failed: {err}");
    out
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn write(dir: &Path, name: &str, body: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap_or_else(|e| panic!("{e}"));
    path.to_string_lossy().into_owned()
}

async fn session(shim: &Shim, key: &str) -> Value {
    admin(shim, Method::GET, &format!("/tyk/keys/{key}"), None)
        .await
        .json()
}

/// A shim with `leaf` uploaded under org `acme` and a key on it that has every kind of field
/// a partial update must keep: alias, expiry, two APIs (one with Tyk settings of its own),
/// meta data, tags and a Tyk field mtls-gate does not type.
async fn shim_with_rich_key(dir: &Path, leaf: &Leaf) -> (Shim, String) {
    let shim = start(dir.join("s.db"));
    let pem = write(dir, "client.pem", leaf.bundle());
    let id = json_of(&ok(&shim, &["certs", "add", &pem, "--org", "acme"]))["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let body = json!({
        "org_id": "acme",
        "certificate": id,
        "alias": "client-a",
        "expires": 4_102_444_800_i64,
        "access_rights": {
            "api1": {"api_id": "api1", "versions": ["Default"],
                     "allowed_urls": [{"url": "/x", "methods": ["GET"]}]},
            "api2": {"api_id": "api2", "versions": ["Default"]}
        },
        "meta_data": {"owner": "ops"},
        "tags": ["t1"],
        "rate": 100
    })
    .to_string();
    let created = admin(&shim, Method::POST, "/tyk/keys/create", Some(&body)).await;
    assert_eq!(created.status, 200, "{}", created.text);
    (shim, id)
}

#[tokio::test]
async fn keys_ls_lists_keys_and_the_api_lists_them_as_tyk() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pki = TestCa::new();
    let leaf = pki.leaf("ls");
    let (shim, key) = shim_with_rich_key(dir.path(), &leaf).await;
    let second = pki.leaf("ls-second");
    let pem = write(dir.path(), "second.pem", &second.cert_pem);
    let second_id = json_of(&ok(&shim, &["certs", "add", &pem]))["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ok(
        &shim,
        &[
            "keys",
            "create",
            "--certificate",
            &second_id,
            "--api",
            "api9",
        ],
    );

    let mut want = vec![key.clone(), second_id.clone()];
    want.sort();
    let listed: Vec<String> = ok(&shim, &["keys", "ls"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(listed, want);
    let api = admin(&shim, Method::GET, "/tyk/keys", None).await;
    assert_eq!(api.status, 200, "{}", api.text);
    assert_eq!(api.json(), json!({ "keys": want }));

    let detailed = json_of(&ok(&shim, &["keys", "ls", "--detailed"]));
    let rich = detailed
        .as_array()
        .and_then(|all| all.iter().find(|entry| entry["key"] == key.as_str()))
        .unwrap_or_else(|| panic!("{detailed}"));
    assert_eq!(
        rich,
        &json!({"key": key, "alias": "client-a", "certificate": key,
                "expires": 4_102_444_800_i64, "is_inactive": false, "apis": ["api1", "api2"]})
    );

    let shown = json_of(&ok(&shim, &["keys", "show", &key]));
    assert_eq!(shown["alias"], "client-a");
    assert_eq!(shown["rate"], 100);

    // No keys: nothing printed, `[]` from the API.
    ok(&shim, &["keys", "rm", &key]);
    ok(&shim, &["keys", "rm", &second_id]);
    assert_eq!(ok(&shim, &["keys", "ls"]), "");
    assert_eq!(
        admin(&shim, Method::GET, "/tyk/keys", None).await.json(),
        json!({"keys": []})
    );
}

#[tokio::test]
async fn keys_update_changes_only_the_given_fields() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let leaf = TestCa::new().leaf("update");
    let (shim, key) = shim_with_rich_key(dir.path(), &leaf).await;
    let before = session(&shim, &key).await;

    let out = ok(&shim, &["keys", "update", &key, "--alias", "client-b"]);
    assert_eq!(
        json_of(&out),
        json!({"key": key, "status": "ok", "action": "modified"})
    );
    let after = session(&shim, &key).await;
    assert_eq!(after["alias"], "client-b");
    for field in [
        "expires",
        "access_rights",
        "meta_data",
        "tags",
        "rate",
        "org_id",
        "certificate",
        "is_inactive",
    ] {
        assert_eq!(after[field], before[field], "{field} was kept");
    }

    ok(
        &shim,
        &[
            "keys",
            "update",
            &key,
            "--api",
            "api1",
            "--api",
            "api3",
            "--meta",
            "team=blue",
            "--expires",
            "2031-01-01T00:00:00Z",
        ],
    );
    let after = session(&shim, &key).await;
    assert_eq!(after["alias"], "client-b", "the earlier change stays");
    assert_eq!(after["expires"], 1_924_992_000_i64);
    assert_eq!(
        after["meta_data"],
        json!({"owner": "ops", "team": "blue"}),
        "other meta entries stay"
    );
    let rights = after["access_rights"]
        .as_object()
        .unwrap_or_else(|| panic!("{after}"));
    assert_eq!(
        rights.keys().collect::<Vec<_>>(),
        ["api1", "api3"],
        "--api replaces the list"
    );
    assert_eq!(
        rights["api1"]["allowed_urls"], before["access_rights"]["api1"]["allowed_urls"],
        "an API that stays keeps its settings"
    );
    assert_eq!(rights["api3"]["api_id"], "api3");
    assert_eq!(after["tags"], before["tags"]);
    assert_eq!(after["rate"], 100);

    ok(&shim, &["keys", "update", &key, "--expires", "never"]);
    assert_eq!(session(&shim, &key).await["expires"], 0);

    // Nothing to change is a usage error; so is a bad --expires, before anything is written.
    let (success, _, err) = cli(&shim, &["keys", "update", &key]);
    assert!(!success);
    assert!(err.contains("--alias"), "{err}");
    let version = session(&shim, &key).await;
    let (success, _, err) = cli(&shim, &["keys", "update", &key, "--expires", "soon"]);
    assert!(!success && err.contains("bad --expires"), "{err}");
    assert_eq!(session(&shim, &key).await, version);

    // The help says what kind of change it is.
    let help = std::process::Command::new(binary())
        .args(["keys", "update", "--help"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("read-modify-write") && help.contains("not atomic"),
        "{help}"
    );
}

#[tokio::test]
async fn keys_deactivate_and_activate_flip_is_inactive_only() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let leaf = TestCa::new().leaf("inactive");
    let (shim, key) = shim_with_rich_key(dir.path(), &leaf).await;
    let before = session(&shim, &key).await;
    assert_eq!(before["is_inactive"], false);

    let out = ok(&shim, &["keys", "deactivate", &key]);
    assert_eq!(json_of(&out)["action"], "modified");
    let inactive = session(&shim, &key).await;
    assert_eq!(inactive["is_inactive"], true);
    for field in ["alias", "expires", "access_rights", "meta_data", "rate"] {
        assert_eq!(inactive[field], before[field], "{field} was kept");
    }
    // What the filter reads (the feed's lookup) has it too.
    let bearer = format!("Bearer {}", shim.feed_token());
    let lookup = crate::common::send(
        Method::GET,
        &shim.url(&format!("/mtls-gate/v1/lookup/{key}")),
        &[("Authorization", &bearer)],
        None,
    )
    .await
    .json();
    assert_eq!(lookup["session"]["is_inactive"], true, "{lookup}");

    ok(&shim, &["keys", "activate", &key]);
    assert_eq!(session(&shim, &key).await["is_inactive"], false);

    let (success, _, err) = cli(&shim, &["keys", "deactivate", "acme-no-such-key"]);
    assert!(!success);
    assert!(
        err.contains("no such key acme-no-such-key") && err.contains("keys ls"),
        "{err}"
    );
    for command in ["show", "activate", "rm"] {
        let (success, _, err) = cli(&shim, &["keys", command, "acme-no-such-key"]);
        assert!(!success && err.contains("no such key"), "{command}: {err}");
    }
}

#[tokio::test]
async fn certs_rm_of_an_unknown_id_fails_and_removes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let shim = start(dir.path().join("s.db"));
    let leaf = TestCa::new().leaf("rm");
    let pem = write(dir.path(), "rm.pem", &leaf.cert_pem);
    let id = json_of(&ok(&shim, &["certs", "add", &pem, "--org", "acme"]))["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // A typo: one character off.
    let typo = format!("{}0", &id[..id.len() - 1]);
    let typo = if typo == id {
        format!("{}1", &id[..id.len() - 1])
    } else {
        typo
    };
    let (success, out, err) = cli(&shim, &["certs", "rm", &typo]);
    assert!(!success, "{out}");
    assert!(
        err.contains(&format!("no such certificate {typo}")),
        "{err}"
    );
    assert!(!out.contains("removed"), "{out}");
    assert_eq!(ok(&shim, &["certs", "ls"]).trim(), id, "nothing removed");

    let (success, _, err) = cli(&shim, &["certs", "rm", &format!("{id},{typo}")]);
    assert!(!success && err.contains("one certificate ID"), "{err}");
    assert_eq!(ok(&shim, &["certs", "ls"]).trim(), id);

    // The API itself still answers 200 for a missing ID, as Tyk.
    let api = admin(&shim, Method::DELETE, &format!("/tyk/certs/{typo}"), None).await;
    assert_eq!(api.status, 200, "{}", api.text);

    let out = ok(&shim, &["certs", "rm", &id]);
    assert_eq!(json_of(&out), json!({"status": "ok", "message": "removed"}));
    assert_eq!(ok(&shim, &["certs", "ls"]), "");
    let (success, _, err) = cli(&shim, &["certs", "rm", &id]);
    assert!(!success && err.contains("no such certificate"), "{err}");
}

#[test]
fn the_daily_subcommands_have_help() {
    for command in ["ls", "show", "update", "deactivate", "activate", "rm"] {
        let output = std::process::Command::new(binary())
            .args(["keys", command, "--help"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(output.status.success(), "{command}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{command}"
        );
    }
}

#[test]
fn an_unreachable_shim_says_so() {
    let port = mtls_gate_testkit::ports::free_port().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://127.0.0.1:{port}");
    let want = format!(
        "error: cannot reach the shim at {url}: connection refused; is `mtls-gate-shim serve` running?"
    );
    for args in [
        vec!["certs", "ls"],
        vec!["certs", "rm", "acme00"],
        vec!["keys", "ls"],
        vec!["keys", "update", "k", "--alias", "a"],
        vec!["keys", "deactivate", "k"],
    ] {
        let (success, _, err) = cli_at(&url, &args);
        assert!(!success, "{args:?}");
        assert!(err.contains(&want), "{args:?}: {err}");
    }
    // A trailing slash in --url is not repeated.
    let (_, _, err) = cli_at(&format!("{url}/"), &["keys", "ls"]);
    assert!(err.contains(&want), "{err}");
}

/// Point 5 through the real binary: Tyk's message first, the hint after it in the same
/// `message`, 403 as before, and nothing stored.
#[tokio::test]
async fn upload_refusals_say_what_is_wrong() {
    const NOT_PEM: &str = "Failed to decode certificate. It should be PEM encoded.";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let shim = start(dir.path().join("s.db"));
    let leaf = TestCa::new().leaf("hints");
    let csr = "-----BEGIN CERTIFICATE REQUEST-----\nYWJj\n-----END CERTIFICATE REQUEST-----\n";
    let encrypted = format!(
        "{}-----BEGIN ENCRYPTED PRIVATE KEY-----\nYWJj\n-----END ENCRYPTED PRIVATE KEY-----\n",
        leaf.cert_pem
    );
    let legacy = format!(
        "{}-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nYWJj\n-----END RSA PRIVATE KEY-----\n",
        leaf.cert_pem
    );
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "empty body",
            Vec::new(),
            format!(
                "{NOT_PEM} (the body is empty: send the PEM file itself, e.g. curl --data-binary @cert.pem)"
            ),
        ),
        (
            "DER",
            leaf.cert_der.clone(),
            format!(
                "{NOT_PEM} (the body is DER: convert it with openssl x509 -inform der -in cert.der -out cert.pem)"
            ),
        ),
        (
            "private key alone",
            leaf.key_pem.clone().into_bytes(),
            format!(
                "{NOT_PEM} (the body holds a private key but no certificate: upload the certificate, or the certificate and its key in one file: cat cert.pem key.pem > bundle.pem)"
            ),
        ),
        (
            "CSR",
            csr.as_bytes().to_vec(),
            format!(
                "{NOT_PEM} (a certificate signing request is not a certificate; upload the certificate the CA issued)"
            ),
        ),
        (
            "ENCRYPTED PRIVATE KEY",
            encrypted.into_bytes(),
            "tls: failed to parse private key (encrypted private keys are not supported: decrypt it with openssl pkey -in key.pem -out key-plain.pem and upload the certificate with key-plain.pem)".to_owned(),
        ),
        (
            "Proc-Type: 4,ENCRYPTED",
            legacy.into_bytes(),
            "tls: failed to parse private key (encrypted private keys are not supported: decrypt it with openssl pkey -in key.pem -out key-plain.pem and upload the certificate with key-plain.pem)".to_owned(),
        ),
    ];
    for (title, body, message) in &cases {
        let answer = crate::common::send(
            Method::POST,
            &shim.url("/tyk/certs"),
            &[(crate::common::ADMIN_HEADER, crate::common::ADMIN_SECRET)],
            Some(body.clone()),
        )
        .await;
        assert_eq!(answer.status, 403, "{title}: {}", answer.text);
        answer.assert_error(403, message);

        // The CLI shows the same message.
        let file = write(dir.path(), "upload", body);
        let (success, _, err) = cli(&shim, &["certs", "add", &file]);
        assert!(!success, "{title}");
        assert!(
            err.contains(&format!("the shim answered 403: {message}")),
            "{title}: {err}"
        );
    }
    assert_eq!(ok(&shim, &["certs", "ls"]), "", "nothing was stored");
    // Oversize stays 413.
    let big = "A".repeat(1024 * 1024 + 1);
    admin(&shim, Method::POST, "/tyk/certs", Some(&big))
        .await
        .assert_error(413, "Request body too large");
}
