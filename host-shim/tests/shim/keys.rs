//! `/tyk/keys`: certificate sessions.

use crate::common::TestShim;
use crate::test_pki::Pki;
use reqwest::Method;
use serde_json::{Value, json};

async fn shim_with_cert(org: &str) -> (TestShim, String, String) {
    let shim = TestShim::start().await;
    let leaf = Pki::new().leaf("client");
    let id = shim.add_cert(&leaf.cert_pem, org).await;
    (shim, id, leaf.fingerprint())
}

#[tokio::test]
async fn key_create_get_update_delete() {
    let (shim, cert_id, fp) = shim_with_cert("org1").await;
    let session = json!({
        "org_id": "org1", "certificate": cert_id, "alias": "payments",
        "quota_max": 100, "rate": 10.5, "apply_policies": null, "tags": null,
        "access_rights": {"api1": {"api_id": "api1", "api_name": "API 1", "versions": ["Default"], "allowed_urls": []}}
    });
    let created = shim
        .admin(Method::POST, "/tyk/keys/create", Some(&session.to_string()))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let key = format!("org1{fp}");
    assert_eq!(
        key, cert_id,
        "the key of a certificate session is org_id + fingerprint"
    );
    assert_eq!(
        created.text,
        format!(r#"{{"key":"{key}","status":"ok","action":"added"}}"#)
    );

    let got = shim
        .admin(Method::GET, &format!("/tyk/keys/{key}"), None)
        .await
        .json();
    assert_eq!(got["alias"], "payments");
    assert_eq!(got["certificate"], cert_id);
    assert_eq!(got["quota_max"], 100, "unknown Tyk fields survive");
    assert_eq!(got["rate"], 10.5);
    assert_eq!(got["tags"], json!([]));
    assert_eq!(got["access_rights"]["api1"]["allowed_urls"], json!([]));
    assert!(got["date_created"].is_string() && got["last_updated"].is_string());

    let mut changed = session.clone();
    changed["alias"] = json!("renamed");
    changed["is_inactive"] = json!(true);
    let updated = shim
        .admin(
            Method::PUT,
            &format!("/tyk/keys/{key}"),
            Some(&changed.to_string()),
        )
        .await;
    assert_eq!(
        updated.text,
        format!(r#"{{"key":"{key}","status":"ok","action":"modified"}}"#)
    );
    let got = shim
        .admin(Method::GET, &format!("/tyk/keys/{key}"), None)
        .await
        .json();
    assert_eq!(got["alias"], "renamed");
    assert_eq!(got["is_inactive"], true);
    assert!(got["date_created"].is_string(), "creation time is kept");

    let deleted = shim
        .admin(Method::DELETE, &format!("/tyk/keys/{key}"), None)
        .await;
    assert_eq!(
        deleted.text,
        format!(r#"{{"key":"{key}","status":"ok","action":"deleted"}}"#)
    );
    shim.admin(Method::GET, &format!("/tyk/keys/{key}"), None)
        .await
        .assert_error(404, "Key not found");
    shim.admin(Method::DELETE, &format!("/tyk/keys/{key}"), None)
        .await
        .assert_error(404, "Key not found");
}

#[tokio::test]
async fn a_second_key_on_the_same_certificate_is_500_with_tyk_message() {
    let (shim, cert_id, fp) = shim_with_cert("").await;
    let body = json!({"org_id": "org2", "certificate": cert_id}).to_string();
    assert_eq!(
        shim.admin(Method::POST, "/tyk/keys/create", Some(&body))
            .await
            .status,
        200
    );
    shim.admin(Method::POST, "/tyk/keys/create", Some(&body))
        .await
        .assert_error(
            500,
            &format!("Failed to create key - Key with given certificate already found:org2{fp}"),
        );
}

#[tokio::test]
async fn key_for_unknown_or_missing_certificate_is_400() {
    let (shim, _, _) = shim_with_cert("").await;
    let before = shim.version().await;
    shim.admin(
        Method::POST,
        "/tyk/keys/create",
        Some(r#"{"certificate":"nope"}"#),
    )
    .await
    .assert_error(400, "Key must be used with an existent certificate");
    shim.admin(Method::POST, "/tyk/keys/create", Some(r#"{"alias":"x"}"#))
        .await
        .assert_error(400, "Key cannot be used without a certificate");
    assert_eq!(shim.version().await, before, "nothing was written");
}

#[tokio::test]
async fn put_refusals() {
    let (shim, cert_id, _) = shim_with_cert("org1").await;
    let body = json!({"org_id": "org1", "certificate": cert_id}).to_string();
    shim.admin(Method::PUT, "/tyk/keys/no-such-key", Some(&body))
        .await
        .assert_error(404, "Key not found");
    assert_eq!(
        shim.admin(Method::POST, "/tyk/keys/create", Some(&body))
            .await
            .status,
        200
    );
    let path = format!("/tyk/keys/{cert_id}");
    shim.admin(
        Method::PUT,
        &path,
        Some(r#"{"org_id":"org1","certificate":""}"#),
    )
    .await
    .assert_error(400, "Key cannot be used without a certificate");
    shim.admin(
        Method::PUT,
        &path,
        Some(r#"{"org_id":"org1","certificate":"unknown"}"#),
    )
    .await
    .assert_error(400, "Key must be used with an existent certificate");
    let moved = json!({"org_id": "other-org", "certificate": cert_id}).to_string();
    let answer = shim.admin(Method::PUT, &path, Some(&moved)).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    let got = shim.admin(Method::GET, &path, None).await.json();
    assert_eq!(got["org_id"], "org1", "a refused PUT changes nothing");
}

#[tokio::test]
async fn malformed_session_bodies_are_400_and_write_nothing() {
    let (shim, cert_id, _) = shim_with_cert("").await;
    let before = shim.version().await;
    for body in [
        "{".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        String::new(),
        json!({"certificate": cert_id, "expires": "tomorrow"}).to_string(),
        json!({"certificate": cert_id, "is_inactive": "yes"}).to_string(),
        json!({"certificate": cert_id, "access_rights": ["api1"]}).to_string(),
        json!({"certificate": 7}).to_string(),
    ] {
        shim.admin(Method::POST, "/tyk/keys/create", Some(&body))
            .await
            .assert_error(400, "Request malformed");
    }
    assert_eq!(shim.version().await, before);
}

#[tokio::test]
async fn deleting_the_certificate_deletes_its_keys() {
    let (shim, cert_id, fp) = shim_with_cert("").await;
    for org in ["a", "b"] {
        let body = json!({"org_id": org, "certificate": cert_id}).to_string();
        assert_eq!(
            shim.admin(Method::POST, "/tyk/keys/create", Some(&body))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        shim.admin(Method::DELETE, &format!("/tyk/certs/{cert_id}"), None)
            .await
            .status,
        200
    );
    for org in ["a", "b"] {
        shim.admin(Method::GET, &format!("/tyk/keys/{org}{fp}"), None)
            .await
            .assert_error(404, "Key not found");
    }
}

#[tokio::test]
async fn session_json_keeps_tyk_field_order() {
    let (shim, cert_id, _) = shim_with_cert("").await;
    let body = json!({"certificate": cert_id, "zzz_custom": 1, "alias": "a"}).to_string();
    let key = shim
        .admin(Method::POST, "/tyk/keys/create", Some(&body))
        .await
        .json()["key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let text = shim
        .admin(Method::GET, &format!("/tyk/keys/{key}"), None)
        .await
        .text;
    let order: Vec<usize> = [
        "\"expires\"",
        "\"access_rights\"",
        "\"org_id\"",
        "\"certificate\"",
        "\"alias\"",
        "\"zzz_custom\"",
    ]
    .iter()
    .map(|field| text.find(field).unwrap_or(usize::MAX))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    let _: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
}

#[tokio::test]
async fn post_to_tyk_keys_creates_like_keys_create() {
    let (shim, cert_id, _) = shim_with_cert("org1").await;
    let body = json!({"org_id": "org1", "certificate": cert_id}).to_string();
    let created = shim.admin(Method::POST, "/tyk/keys", Some(&body)).await;
    assert_eq!(
        created.text,
        format!(r#"{{"key":"{cert_id}","status":"ok","action":"added"}}"#)
    );
    assert_eq!(
        shim.admin(Method::GET, &format!("/tyk/keys/{cert_id}"), None)
            .await
            .status,
        200
    );
    // The trailing-slash form is the same route, and meets the key just made.
    let again = shim.admin(Method::POST, "/tyk/keys/", Some(&body)).await;
    assert_eq!(again.status, 500, "{}", again.text);
    assert!(
        again
            .text
            .contains("Key with given certificate already found")
    );
}
