//! `/tyk/keys`: certificate sessions.

use crate::common::TestShim;
use mtls_gate_testkit::ca::TestCa;
use reqwest::Method;
use serde_json::{Value, json};

/// An `access_rights` naming one API: keys need one (SPEC §2 "Keys need access rights").
fn api1() -> Value {
    json!({"api1": {"api_id": "api1", "api_name": "API 1", "versions": ["Default"]}})
}

async fn shim_with_cert(org: &str) -> (TestShim, String, String) {
    let shim = TestShim::start().await;
    let leaf = TestCa::new().leaf("client");
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
    let (shim, cert_id, fp) = shim_with_cert("org2").await;
    let body =
        json!({"org_id": "org2", "certificate": cert_id, "access_rights": api1()}).to_string();
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
    let unknown = json!({"certificate": "nope", "access_rights": api1()}).to_string();
    shim.admin(Method::POST, "/tyk/keys/create", Some(&unknown))
        .await
        .assert_error(400, "Key must be used with an existent certificate");
    let none = json!({"alias": "x", "access_rights": api1()}).to_string();
    shim.admin(Method::POST, "/tyk/keys/create", Some(&none))
        .await
        .assert_error(400, "Key cannot be used without a certificate");
    assert_eq!(shim.version().await, before, "nothing was written");
}

#[tokio::test]
async fn put_refusals() {
    let (shim, cert_id, _) = shim_with_cert("org1").await;
    let body =
        json!({"org_id": "org1", "certificate": cert_id, "access_rights": api1()}).to_string();
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
    let before = shim.version().await;
    let no_certificate = json!({"org_id": "org1", "certificate": "", "access_rights": api1()});
    shim.admin(Method::PUT, &path, Some(&no_certificate.to_string()))
        .await
        .assert_error(400, "Key cannot be used without a certificate");
    let unknown = json!({"org_id": "org1", "certificate": "unknown", "access_rights": api1()});
    shim.admin(Method::PUT, &path, Some(&unknown.to_string()))
        .await
        .assert_error(400, "Key must be used with an existent certificate");
    let moved = json!({"org_id": "other-org", "certificate": cert_id, "access_rights": api1()});
    shim.admin(Method::PUT, &path, Some(&moved.to_string()))
        .await
        .assert_error(
            400,
            r#"org_id "other-org" does not match the certificate's org "org1""#,
        );
    let other_leaf = TestCa::new().leaf("other");
    let other_id = shim.add_cert(&other_leaf.cert_pem, "org1").await;
    let rebound = json!({"org_id": "org1", "certificate": other_id, "access_rights": api1()});
    shim.admin(Method::PUT, &path, Some(&rebound.to_string()))
        .await
        .assert_error(
            400,
            "Key cannot be moved to another certificate: delete it and create a new one",
        );
    let got = shim.admin(Method::GET, &path, None).await.json();
    assert_eq!(got["org_id"], "org1", "a refused PUT changes nothing");
    assert_eq!(got["certificate"], cert_id);
    assert_eq!(
        shim.version().await,
        before + 1,
        "only the upload was written"
    );
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

/// SPEC §2 "Revocation by deletion": the key stays; the filter refuses it while its
/// certificate is gone, and uploading the certificate again restores it.
#[tokio::test]
async fn deleting_the_certificate_keeps_its_key_until_the_key_is_deleted() {
    let shim = TestShim::start().await;
    let leaf = TestCa::new().leaf("client");
    let cert_id = shim.add_cert(&leaf.cert_pem, "org1").await;
    let key = shim
        .create_key(&cert_id, json!({"org_id": "org1", "alias": "kept"}))
        .await;
    let path = format!("/tyk/keys/{key}");
    let deleted = shim
        .admin(Method::DELETE, &format!("/tyk/certs/{cert_id}"), None)
        .await;
    assert_eq!(deleted.text, r#"{"status":"ok","message":"removed"}"#);

    let kept = shim.admin(Method::GET, &path, None).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(kept.json()["alias"], "kept");
    assert_eq!(kept.json()["certificate"], cert_id);

    // Tyk checks the certificate on update too; a new key needs it as well.
    let before = shim.version().await;
    let update =
        json!({"org_id": "org1", "certificate": cert_id, "alias": "x", "access_rights": api1()});
    shim.admin(Method::PUT, &path, Some(&update.to_string()))
        .await
        .assert_error(400, "Key must be used with an existent certificate");
    shim.admin(Method::POST, "/tyk/keys/create", Some(&update.to_string()))
        .await
        .assert_error(400, "Key must be used with an existent certificate");
    assert_eq!(shim.version().await, before);

    // Uploaded again, the key is usable and updatable as before.
    assert_eq!(shim.add_cert(&leaf.cert_pem, "org1").await, cert_id);
    let updated = shim
        .admin(Method::PUT, &path, Some(&update.to_string()))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);

    shim.admin(Method::DELETE, &format!("/tyk/certs/{cert_id}"), None)
        .await;
    let removed = shim.admin(Method::DELETE, &path, None).await;
    assert_eq!(
        removed.text,
        format!(r#"{{"key":"{key}","status":"ok","action":"deleted"}}"#),
        "a key whose certificate is gone can still be deleted"
    );
    shim.admin(Method::GET, &path, None)
        .await
        .assert_error(404, "Key not found");
}

#[tokio::test]
async fn session_json_keeps_tyk_field_order() {
    let (shim, cert_id, _) = shim_with_cert("").await;
    let body =
        json!({"certificate": cert_id, "zzz_custom": 1, "alias": "a", "access_rights": api1()})
            .to_string();
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
    let body =
        json!({"org_id": "org1", "certificate": cert_id, "access_rights": api1()}).to_string();
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

const NO_ACCESS_RIGHTS: &str =
    "Failed to create key, keys must have at least one Access Rights record set.";

/// SPEC §2 "Keys need access rights", with Tyk's default `allow_master_keys: false`.
#[tokio::test]
async fn keys_without_access_rights_are_400_on_every_create_and_update_route() {
    let (shim, cert_id, _) = shim_with_cert("org1").await;
    let key = shim
        .create_key(&cert_id, json!({"alias": "has-rights"}))
        .await;
    let before = shim.version().await;
    for rights in [None, Some(json!({})), Some(Value::Null)] {
        let mut body = json!({"org_id": "org1", "certificate": cert_id, "alias": "master"});
        if let Some(rights) = rights {
            body["access_rights"] = rights;
        }
        let body = body.to_string();
        for (method, path) in [
            (Method::POST, "/tyk/keys/create".to_owned()),
            (Method::POST, "/tyk/keys".to_owned()),
            (Method::PUT, format!("/tyk/keys/{key}")),
        ] {
            shim.admin(method, &path, Some(&body))
                .await
                .assert_error(400, NO_ACCESS_RIGHTS);
        }
    }
    assert_eq!(shim.version().await, before, "nothing was written");
    let got = shim
        .admin(Method::GET, &format!("/tyk/keys/{key}"), None)
        .await
        .json();
    assert_eq!(got["alias"], "has-rights");
}

#[tokio::test]
async fn allow_master_keys_accepts_keys_without_access_rights() {
    let shim = TestShim::start_allowing_master_keys().await;
    let cert_id = shim
        .add_cert(&TestCa::new().leaf("master").cert_pem, "org1")
        .await;
    let body = json!({"certificate": cert_id, "access_rights": null}).to_string();
    let created = shim
        .admin(Method::POST, "/tyk/keys/create", Some(&body))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let path = format!("/tyk/keys/{cert_id}");
    let updated = shim.admin(Method::PUT, &path, Some(&body)).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let got = shim.admin(Method::GET, &path, None).await.json();
    assert_eq!(got["access_rights"], json!({}));
}

/// SPEC §2 "Sessions": the key is the certificate ID, so the session's org is its
/// certificate's; an empty one is filled in.
#[tokio::test]
async fn an_empty_session_org_takes_the_certificate_org() {
    let (shim, cert_id, fp) = shim_with_cert("acme").await;
    for body in [
        json!({"certificate": cert_id, "access_rights": api1()}),
        json!({"org_id": "", "certificate": cert_id, "access_rights": api1()}),
        json!({"org_id": null, "certificate": cert_id, "access_rights": api1()}),
    ] {
        let created = shim
            .admin(Method::POST, "/tyk/keys/create", Some(&body.to_string()))
            .await;
        assert_eq!(
            created.text,
            format!(r#"{{"key":"acme{fp}","status":"ok","action":"added"}}"#)
        );
        let path = format!("/tyk/keys/{cert_id}");
        assert_eq!(
            shim.admin(Method::GET, &path, None).await.json()["org_id"],
            "acme"
        );
        let updated = shim
            .admin(Method::PUT, &path, Some(&body.to_string()))
            .await;
        assert_eq!(updated.status, 200, "{}", updated.text);
        assert_eq!(
            shim.admin(Method::GET, &path, None).await.json()["org_id"],
            "acme"
        );
        assert_eq!(shim.admin(Method::DELETE, &path, None).await.status, 200);
    }
}

#[tokio::test]
async fn a_session_org_other_than_the_certificate_org_is_400() {
    let shim = TestShim::start().await;
    let pki = TestCa::new();
    let in_acme = shim.add_cert(&pki.leaf("acme").cert_pem, "acme").await;
    let without_org = shim.add_cert(&pki.leaf("none").cert_pem, "").await;
    let before = shim.version().await;
    for (org, certificate, certificate_org) in [
        ("x", &in_acme, "acme"),
        ("acm", &in_acme, "acme"),
        ("org2", &without_org, ""),
    ] {
        let body = json!({"org_id": org, "certificate": certificate, "access_rights": api1()});
        shim.admin(Method::POST, "/tyk/keys/create", Some(&body.to_string()))
            .await
            .assert_error(
                400,
                &format!(
                    r#"org_id "{org}" does not match the certificate's org "{certificate_org}""#
                ),
            );
    }
    assert_eq!(shim.version().await, before, "no key was made");
    // Only the certificate ID is a key: one key per certificate, whatever org is claimed.
    let key = shim.create_key(&without_org, json!({})).await;
    assert_eq!(key, without_org);
    let path = format!("/tyk/keys/{key}");
    let claimed = json!({"org_id": "org2", "certificate": without_org, "access_rights": api1()});
    shim.admin(Method::PUT, &path, Some(&claimed.to_string()))
        .await
        .assert_error(
            400,
            r#"org_id "org2" does not match the certificate's org """#,
        );
    assert_eq!(
        shim.admin(Method::GET, &path, None).await.json()["org_id"],
        ""
    );
}

#[tokio::test]
async fn a_session_org_id_with_forbidden_characters_is_400() {
    let (shim, cert_id, _) = shim_with_cert("").await;
    let key = shim.create_key(&cert_id, json!({})).await;
    let before = shim.version().await;
    for (org, message) in [
        (
            "acme\nINFO admin logged in".to_owned(),
            r"org_id may hold only letters, digits and - _ . : @ + ~ (found '\n')",
        ),
        (
            "a,b".to_owned(),
            "org_id may hold only letters, digits and - _ . : @ + ~ (found ',')",
        ),
        ("a".repeat(129), "org_id is longer than 128 characters"),
    ] {
        let body = json!({"org_id": org, "certificate": cert_id, "access_rights": api1()});
        shim.admin(Method::POST, "/tyk/keys/create", Some(&body.to_string()))
            .await
            .assert_error(400, message);
        shim.admin(
            Method::PUT,
            &format!("/tyk/keys/{key}"),
            Some(&body.to_string()),
        )
        .await
        .assert_error(400, message);
    }
    assert_eq!(shim.version().await, before);
}

/// Architecture v2 point 3: the key the shim writes a session under is the key the filter
/// looks it up by. The filter builds it with `SessionKey::new(api org, peer digest)`
/// (`mtls_gate_core::decision`); if the two ever drifted, certificate auth would answer 401
/// to every client and nothing else would notice.
#[tokio::test]
async fn the_key_the_shim_writes_is_the_key_the_filter_looks_up() {
    use mtls_gate_core::fingerprint::Fingerprint;
    use mtls_gate_core::ids::SessionKey;
    for org in ["", "acme", "5e9d9544a1dcd60001d0ed20"] {
        let shim = TestShim::start().await;
        let leaf = TestCa::new().leaf("client");
        let cert_id = shim.add_cert(&leaf.cert_pem, org).await;
        let session = json!({"certificate": cert_id, "access_rights": api1()});
        let created = shim
            .admin(Method::POST, "/tyk/keys/create", Some(&session.to_string()))
            .await;
        assert_eq!(created.status, 200, "{}", created.text);
        // What Envoy gives the filter: the SHA-256 of the leaf's DER.
        let looked_up = SessionKey::new(org, &Fingerprint::of_der(&leaf.cert_der));
        assert_eq!(created.json()["key"], looked_up.as_str(), "org {org:?}");
    }
}
