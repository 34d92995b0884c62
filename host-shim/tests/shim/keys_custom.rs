//! `POST /tyk/keys/<key>` (Tyk's "create custom key / import key") and `POST
//! /tyk/keys/preview` (SPEC §2 table).

use crate::common::TestShim;
use mtls_gate_testkit::ca::TestCa;
use reqwest::Method;
use serde_json::{Value, json};

fn session(certificate: &str, alias: &str) -> String {
    json!({
        "certificate": certificate, "alias": alias,
        "access_rights": {"api1": {"api_id": "api1", "api_name": "API 1", "versions": ["Default"]}}
    })
    .to_string()
}

async fn keys(shim: &TestShim) -> Value {
    shim.admin(Method::GET, "/tyk/keys", None).await.json()["keys"].clone()
}

#[tokio::test]
async fn a_key_chosen_as_the_certificate_id_is_created_then_replaced_as_tyk_does() {
    let shim = TestShim::start().await;
    let leaf = TestCa::new().leaf("client");
    let id = shim.add_cert(&leaf.cert_pem, "org1").await;

    let created = shim
        .admin(
            Method::POST,
            &format!("/tyk/keys/{id}"),
            Some(&session(&id, "first")),
        )
        .await;
    assert_eq!(
        created.text,
        format!(r#"{{"key":"{id}","status":"ok","action":"added"}}"#)
    );
    let got = shim
        .admin(Method::GET, &format!("/tyk/keys/{id}"), None)
        .await
        .json();
    assert_eq!(got["alias"], "first");
    assert_eq!(got["org_id"], "org1", "the certificate's org");

    // Tyk's POST on an existing key imports over it (no "already exists" here).
    let replaced = shim
        .admin(
            Method::POST,
            &format!("/tyk/keys/{id}"),
            Some(&session(&id, "second")),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.json()["action"], "added");
    let got = shim
        .admin(Method::GET, &format!("/tyk/keys/{id}"), None)
        .await
        .json();
    assert_eq!(got["alias"], "second");
    assert_eq!(keys(&shim).await, json!([id]), "still one key");

    // The filter finds it where it finds every certificate session.
    let lookup = shim
        .feed(&format!("/mtls-gate/v1/lookup/org1{}", leaf.fingerprint()))
        .await
        .json();
    assert_eq!(lookup["session"]["alias"], "second");
}

#[tokio::test]
async fn a_bare_fingerprint_is_prefixed_with_the_org_as_tyk_builds_custom_keys() {
    let shim = TestShim::start().await;
    let leaf = TestCa::new().leaf("client");
    let id = shim.add_cert(&leaf.cert_pem, "org1").await;
    let mut body: Value = serde_json::from_str(&session(&id, "fp")).unwrap_or_default();
    body["org_id"] = json!("org1");
    let created = shim
        .admin(
            Method::POST,
            &format!("/tyk/keys/{}", leaf.fingerprint()),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.json()["key"], id.as_str());
}

#[tokio::test]
async fn a_chosen_key_that_is_not_the_certificate_id_is_refused_and_nothing_is_written() {
    let shim = TestShim::start().await;
    let ca = TestCa::new();
    let id = shim.add_cert(&ca.leaf("a").cert_pem, "org1").await;
    let other = shim.add_cert(&ca.leaf("b").cert_pem, "org1").await;
    let before = shim.version().await;
    for chosen in [
        "my-custom-key".to_owned(),
        other.clone(),
        format!("org2{id}"),
    ] {
        let answer = shim
            .admin(
                Method::POST,
                &format!("/tyk/keys/{chosen}"),
                Some(&session(&id, "x")),
            )
            .await;
        answer.assert_error(
            400,
            &format!(
                "Key must be its certificate's ID {id} (or, with an org, the certificate's fingerprint): certificate sessions are found by certificate ID"
            ),
        );
    }
    // The session's own rules still come first.
    shim.admin(
        Method::POST,
        "/tyk/keys/my-custom-key",
        Some(&json!({"certificate": id}).to_string()),
    )
    .await
    .assert_error(
        400,
        "Failed to create key, keys must have at least one Access Rights record set.",
    );
    assert_eq!(keys(&shim).await, json!([]));
    assert_eq!(shim.version().await, before);
}

#[tokio::test]
async fn preview_answers_the_session_as_it_would_be_stored_and_writes_nothing() {
    let shim = TestShim::start().await;
    let id = shim
        .add_cert(&TestCa::new().leaf("client").cert_pem, "org1")
        .await;
    let before = shim.version().await;
    let preview = shim
        .admin(Method::POST, "/tyk/keys/preview", Some(&session(&id, "p")))
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    let body = preview.json();
    assert_eq!(body["certificate"], id.as_str());
    assert_eq!(body["alias"], "p");
    assert_eq!(body["org_id"], "org1", "filled in as create fills it");
    assert!(body["date_created"].is_string() && body["last_updated"].is_string());
    assert_eq!(body["access_rights"]["api1"]["api_name"], "API 1");
    assert_eq!(keys(&shim).await, json!([]));
    assert_eq!(shim.version().await, before, "nothing written");

    // What create would refuse, preview refuses the same way.
    shim.admin(
        Method::POST,
        "/tyk/keys/preview",
        Some(&json!({"certificate": id}).to_string()),
    )
    .await
    .assert_error(
        400,
        "Failed to create key, keys must have at least one Access Rights record set.",
    );
    shim.admin(
        Method::POST,
        "/tyk/keys/preview",
        Some(&session("org1nope", "p")),
    )
    .await
    .assert_error(400, "Key must be used with an existent certificate");
    shim.admin(Method::POST, "/tyk/keys/preview", Some("{not json"))
        .await
        .assert_error(400, "Request malformed");
    // Tyk routes only POST to the preview; other methods reach the key "preview", which no
    // certificate session can be.
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        shim.admin(method, "/tyk/keys/preview", None)
            .await
            .assert_error(404, "Key not found");
    }
}
