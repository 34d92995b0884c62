//! `/tyk/certs`: Tyk's `TestAddCertificate` table and `TestCertificateHandlerTLS` flows.

use crate::common::TestShim;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::pem::parse_blocks;
use mtls_gate_testkit::ca::{TestCa, public_key_pem, root_ca_pem};
use reqwest::Method;
use serde_json::{Value, json};

fn spki_id(public_pem: &str) -> String {
    let blocks = parse_blocks(public_pem).unwrap_or_else(|e| panic!("{e}"));
    Fingerprint::of_der(&blocks[0].der).to_hex()
}

#[tokio::test]
async fn tyk_add_certificate_table() {
    let shim = TestShim::start().await;
    let pki = TestCa::new();
    let cert1 = pki.leaf("test");
    let cert2 = pki.leaf("test2");
    let expired = pki.expired("expired");
    let public = public_key_pem();
    let combined = cert2.bundle();
    let wrong_private = format!("{}{}", cert2.cert_pem, cert1.key_pem);

    // (title, body, Ok(id) | Err(message)); all refusals are 403, as in Tyk.
    let cases: Vec<(&str, String, Result<String, String>)> = vec![
        // Tyk's message first, then what is wrong (issue 11 point 5; `cli_daily` has each).
        (
            "empty cert",
            String::new(),
            Err("Failed to decode certificate. It should be PEM encoded. (the body is empty: send the PEM file itself, e.g. curl --data-binary @cert.pem)".into()),
        ),
        (
            "invalid cert: pem",
            "-----BEGIN PRIVATE KEY-----\nYQ==\n-----END PRIVATE KEY-----".into(),
            Err("Failed to decode certificate. It should be PEM encoded. (the body holds a private key but no certificate: upload the certificate, or the certificate and its key in one file: cat cert.pem key.pem > bundle.pem)".into()),
        ),
        (
            "invalid cert: asn1",
            "-----BEGIN CERTIFICATE-----\nYQ==\n-----END CERTIFICATE-----".into(),
            Err("x509: malformed certificate".into()),
        ),
        (
            "valid cert 1",
            cert1.cert_pem.clone(),
            Ok(cert1.fingerprint()),
        ),
        (
            "tls: wrong private",
            wrong_private,
            Err("private key does not match public key".into()),
        ),
        ("valid cert 2", combined.clone(), Ok(cert2.fingerprint())),
        (
            "combined pem exists",
            combined,
            Err(format!(
                "Certificate with {} id already exists",
                cert2.fingerprint()
            )),
        ),
        ("valid public pem", public.clone(), Ok(spki_id(&public))),
        (
            "expired cert",
            expired.cert_pem.clone(),
            Err("certificate is expired".into()),
        ),
        (
            "multiple private keys",
            format!("{}{}{}", cert1.cert_pem, cert1.key_pem, cert2.key_pem),
            Err("Found multiple private keys".into()),
        ),
        (
            "public key mixed with certificate",
            format!("{}{}", pki.leaf("mixed").cert_pem, public_key_pem()),
            Err("Public keys can't be combined with certificates".into()),
        ),
        (
            "not UTF-8",
            String::from_utf8_lossy(b"\xff\xfe").into_owned(),
            Err("Failed to decode certificate. It should be PEM encoded.".into()),
        ),
    ];
    for (title, body, want) in cases {
        let answer = shim.admin(Method::POST, "/tyk/certs", Some(&body)).await;
        match want {
            Ok(id) => {
                assert_eq!(answer.status, 200, "{title}: {}", answer.text);
                assert_eq!(
                    answer.text,
                    format!(r#"{{"id":"{id}","status":"ok","message":"Certificate added"}}"#),
                    "{title}"
                );
            }
            Err(message) => answer.assert_error(403, &message),
        }
    }
}

#[tokio::test]
async fn rsa_pkcs1_and_sec1_keys_are_accepted_with_their_certificates() {
    let shim = TestShim::start().await;
    let pki = TestCa::new();
    let rsa = pki.rsa_pkcs1_leaf("rsa-client");
    assert!(rsa.key_pem.contains("BEGIN RSA PRIVATE KEY"));
    let id = shim.add_cert(&rsa.bundle(), "").await;
    assert_eq!(id, rsa.fingerprint());
    let meta = shim
        .admin(Method::GET, &format!("/tyk/certs/{id}"), None)
        .await
        .json();
    assert_eq!(meta["has_private"], true);

    let other_rsa = pki.rsa_pkcs1_leaf("rsa-other");
    let mismatch = format!("{}{}", rsa.cert_pem, other_rsa.key_pem);
    shim.admin(Method::POST, "/tyk/certs", Some(&mismatch))
        .await
        .assert_error(403, "private key does not match public key");
}

#[tokio::test]
async fn certificate_handler_tls_flows() {
    let shim = TestShim::start().await;
    let pki = TestCa::new();

    let empty = shim.admin(Method::GET, "/tyk/certs?org_id=1", None).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.text, r#"{"certs":[]}"#, "deviation: [] not null");

    let root_pem = root_ca_pem("root");
    let root_id = parse_blocks(&root_pem)
        .map(|b| Fingerprint::of_der(&b[0].der).to_hex())
        .unwrap_or_default();
    let client = pki.leaf("client");
    let server = pki.leaf("localhost");
    assert_eq!(shim.add_cert(&root_pem, "1").await, format!("1{root_id}"));
    assert_eq!(
        shim.add_cert(&client.cert_pem, "1").await,
        format!("1{}", client.fingerprint())
    );
    assert_eq!(
        shim.add_cert(&server.bundle(), "1").await,
        format!("1{}", server.fingerprint())
    );

    // List, in upload order.
    let list = shim.admin(Method::GET, "/tyk/certs?org_id=1", None).await;
    assert_eq!(
        list.json(),
        json!({"certs": [format!("1{root_id}"), format!("1{}", client.fingerprint()), format!("1{}", server.fingerprint())]})
    );

    // Detailed list.
    let detailed = shim
        .admin(Method::GET, "/tyk/certs?org_id=1&mode=detailed", None)
        .await
        .json();
    let certs = detailed["certs"].as_array().cloned().unwrap_or_default();
    assert_eq!(certs.len(), 3);
    let root = &certs[0];
    assert_eq!(root["id"], format!("1{root_id}"));
    assert_eq!(root["is_ca"], true);
    assert_eq!(root["has_private"], false);
    assert_eq!(root["subject_cn"], "root");
    let client_basics = &certs[1];
    assert_eq!(client_basics["subject_cn"], "client");
    assert_eq!(client_basics["issuer_cn"], "mtls-gate test CA");
    assert_eq!(client_basics["dns_names"], json!(["client.example.test"]));
    assert_eq!(client_basics["is_ca"], false);
    assert_eq!(certs[2]["has_private"], true);
    let keys: Vec<String> = client_basics
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "id",
            "issuer_cn",
            "subject_cn",
            "dns_names",
            "has_private",
            "not_before",
            "not_after",
            "is_ca"
        ]
    );

    // Meta, as Tyk's test matches it.
    let meta_prefix = |fp: &str, private: bool| {
        format!(r#"{{"id":"1{fp}","fingerprint":"{fp}","has_private":{private}"#)
    };
    let client_meta = shim
        .admin(
            Method::GET,
            &format!("/tyk/certs/1{}?org_id=1", client.fingerprint()),
            None,
        )
        .await;
    assert!(
        client_meta
            .text
            .starts_with(&meta_prefix(&client.fingerprint(), false)),
        "{}",
        client_meta.text
    );
    let server_meta = shim
        .admin(
            Method::GET,
            &format!("/tyk/certs/1{}?org_id=1", server.fingerprint()),
            None,
        )
        .await;
    assert!(
        server_meta
            .text
            .starts_with(&meta_prefix(&server.fingerprint(), true)),
        "{}",
        server_meta.text
    );
    let root_meta = shim
        .admin(Method::GET, &format!("/tyk/certs/1{root_id}"), None)
        .await;
    assert!(
        root_meta.text.contains(r#""is_ca":true"#),
        "{}",
        root_meta.text
    );
    let subject = &client_meta.json()["subject"];
    assert_eq!(subject["CommonName"], "client");
    assert_eq!(subject["Organization"], json!(["mtls-gate tests"]));
    assert_eq!(subject["Country"], Value::Null);
    assert_eq!(client_meta.json()["issuer"]["Country"], json!(["GB"]));

    // Multi-get: request order, null for a missing ID.
    let both = format!(
        "/tyk/certs/1{},1{}?org_id=1",
        server.fingerprint(),
        client.fingerprint()
    );
    let many = shim.admin(Method::GET, &both, None).await;
    assert!(
        many.text
            .starts_with(&format!("[{}", meta_prefix(&server.fingerprint(), true))),
        "{}",
        many.text
    );
    assert!(
        many.text
            .contains(&meta_prefix(&client.fingerprint(), false))
    );
    let with_missing = shim
        .admin(
            Method::GET,
            &format!("/tyk/certs/1{},missing", client.fingerprint()),
            None,
        )
        .await
        .json();
    assert_eq!(with_missing[1], Value::Null);
    assert_eq!(with_missing.as_array().map(Vec::len), Some(2));
    shim.admin(Method::GET, "/tyk/certs/missing", None)
        .await
        .assert_error(404, "Certificate with given SHA256 fingerprint not found");

    // Raw material is never returned.
    for path in ["/tyk/certs?org_id=1&mode=detailed".to_owned(), both.clone()] {
        let text = shim.admin(Method::GET, &path, None).await.text;
        assert!(
            !text.contains("BEGIN") && !text.contains("PRIVATE"),
            "{text}"
        );
    }

    // Removal ×3, then empty.
    for id in [
        format!("1{}", server.fingerprint()),
        format!("1{}", client.fingerprint()),
        format!("1{root_id}"),
    ] {
        let removed = shim
            .admin(Method::DELETE, &format!("/tyk/certs/{id}?org_id=1"), None)
            .await;
        assert_eq!(removed.status, 200);
        assert_eq!(removed.text, r#"{"status":"ok","message":"removed"}"#);
    }
    let empty = shim.admin(Method::GET, "/tyk/certs?org_id=1", None).await;
    assert_eq!(empty.text, r#"{"certs":[]}"#);
}

#[tokio::test]
async fn listing_is_scoped_by_org_and_lists_everything_without_one() {
    let shim = TestShim::start().await;
    let pki = TestCa::new();
    let (a, b, c) = (pki.leaf("a"), pki.leaf("b"), pki.leaf("c"));
    let a_id = shim.add_cert(&a.cert_pem, "orgA").await;
    let b_id = shim.add_cert(&b.cert_pem, "orgB").await;
    let c_id = shim.add_cert(&c.cert_pem, "").await;
    assert_eq!(a_id, format!("orgA{}", a.fingerprint()));
    assert_eq!(c_id, c.fingerprint());
    let only_a = shim
        .admin(Method::GET, "/tyk/certs?org_id=orgA", None)
        .await
        .json();
    assert_eq!(only_a, json!({"certs": [a_id.clone()]}));
    let all = shim.admin(Method::GET, "/tyk/certs", None).await.json();
    assert_eq!(all, json!({"certs": [a_id.clone(), b_id, c_id]}));
    let detailed_b = shim
        .admin(Method::GET, "/tyk/certs?org_id=orgB&mode=detailed", None)
        .await
        .json();
    assert_eq!(detailed_b["certs"].as_array().map(Vec::len), Some(1));
    // The same certificate may live under two orgs: the IDs differ.
    let a_again = shim.add_cert(&a.cert_pem, "orgB").await;
    assert_eq!(a_again, format!("orgB{}", a.fingerprint()));
}

/// `mtls_gate_core::org_id`: an org prefixes IDs that travel in paths, comma lists and logs,
/// so one with other characters is refused as bad input wherever `?org_id=` is taken.
#[tokio::test]
async fn an_org_id_with_forbidden_characters_is_400_on_upload_list_and_delete() {
    let shim = TestShim::start().await;
    let leaf = TestCa::new().leaf("org");
    let id = shim.add_cert(&leaf.cert_pem, "acme").await;
    let before = shim.version().await;
    for (org, message) in [
        (
            "acme%0AINFO%20admin%20logged%20in",
            r"org_id may hold only letters, digits and - _ . : @ + ~ (found '\n')",
        ),
        (
            "a%2Cb",
            "org_id may hold only letters, digits and - _ . : @ + ~ (found ',')",
        ),
        (
            "a%2Fb",
            "org_id may hold only letters, digits and - _ . : @ + ~ (found '/')",
        ),
        (
            "a b",
            "org_id may hold only letters, digits and - _ . : @ + ~ (found ' ')",
        ),
    ] {
        let query = format!("?org_id={org}");
        shim.admin(
            Method::POST,
            &format!("/tyk/certs{query}"),
            Some(&leaf.cert_pem),
        )
        .await
        .assert_error(400, message);
        shim.admin(Method::GET, &format!("/tyk/certs{query}"), None)
            .await
            .assert_error(400, message);
        shim.admin(
            Method::GET,
            &format!("/tyk/certs{query}&mode=detailed"),
            None,
        )
        .await
        .assert_error(400, message);
        shim.admin(Method::DELETE, &format!("/tyk/certs/{id}{query}"), None)
            .await
            .assert_error(400, message);
    }
    let long = "a".repeat(129);
    shim.admin(
        Method::POST,
        &format!("/tyk/certs?org_id={long}"),
        Some(&leaf.cert_pem),
    )
    .await
    .assert_error(400, "org_id is longer than 128 characters");
    assert_eq!(shim.version().await, before, "nothing was written");
    assert_eq!(
        shim.admin(Method::GET, &format!("/tyk/certs/{id}"), None)
            .await
            .status,
        200,
        "the refused DELETE deleted nothing"
    );
    let scoped = shim
        .admin(
            Method::DELETE,
            &format!("/tyk/certs/{id}?org_id=acme"),
            None,
        )
        .await;
    assert_eq!(scoped.text, r#"{"status":"ok","message":"removed"}"#);
}

#[tokio::test]
async fn public_key_entry_meta_is_tyk_like() {
    let shim = TestShim::start().await;
    let public = public_key_pem();
    let id = shim.add_cert(&public, "o").await;
    let meta = shim
        .admin(Method::GET, &format!("/tyk/certs/{id}"), None)
        .await
        .json();
    let fp = spki_id(&public);
    assert_eq!(meta["fingerprint"], fp);
    assert_eq!(meta["subject"]["CommonName"], format!("Public Key: {fp}"));
    assert_eq!(meta["not_after"], "0001-01-01T00:00:00Z");
}

#[tokio::test]
async fn deleting_a_missing_certificate_is_still_removed() {
    let shim = TestShim::start().await;
    let answer = shim
        .admin(Method::DELETE, "/tyk/certs/nothing-here", None)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text, r#"{"status":"ok","message":"removed"}"#);
}

#[tokio::test]
async fn trailing_slashes_are_ignored() {
    let shim = TestShim::start().await;
    let pki = TestCa::new();
    let leaf = pki.leaf("slash");
    let answer = shim
        .admin(Method::POST, "/tyk/certs/", Some(&leaf.cert_pem))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        shim.admin(Method::GET, "/tyk/certs/", None).await.status,
        200
    );
    let meta = shim
        .admin(
            Method::GET,
            &format!("/tyk/certs/{}/", leaf.fingerprint()),
            None,
        )
        .await;
    assert_eq!(meta.status, 200, "{}", meta.text);
}

#[tokio::test]
async fn oversized_body_is_413_json_and_nothing_is_stored() {
    let shim = TestShim::start().await;
    let before = shim.version().await;
    let big = "A".repeat(1024 * 1024 + 1);
    shim.admin(Method::POST, "/tyk/certs", Some(&big))
        .await
        .assert_error(413, "Request body too large");
    let big_json = format!(r#"{{"certificate":"{}"}}"#, "a".repeat(1024 * 1024));
    shim.admin(Method::POST, "/tyk/keys/create", Some(&big_json))
        .await
        .assert_error(413, "Request body too large");
    assert_eq!(shim.version().await, before);
    // Just under the limit is read (and refused as not PEM).
    let under = "A".repeat(1024 * 1024 - 10);
    shim.admin(Method::POST, "/tyk/certs", Some(&under))
        .await
        .assert_error(
            403,
            "Failed to decode certificate. It should be PEM encoded.",
        );
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let shim = TestShim::start().await;
    shim.admin(Method::GET, "/tyk/nothing", None)
        .await
        .assert_error(404, "Not found");
    shim.admin(Method::GET, "/", None)
        .await
        .assert_error(404, "Not found");
}

#[tokio::test]
async fn hello_and_metrics_are_served() {
    let shim = TestShim::start().await;
    let hello = crate::common::send(Method::GET, &shim.url("/hello"), &[], None).await;
    assert_eq!(hello.status, 200);
    let body = hello.json();
    assert_eq!(body["status"], "pass");
    assert_eq!(body["details"]["store"]["status"], "pass");
    shim.admin(Method::GET, "/tyk/certs", None).await;
    let metrics = crate::common::send(Method::GET, &shim.url("/metrics"), &[], None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text.contains("mtls_gate_shim_http_requests_total"),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains(r#"route="/tyk/certs""#),
        "{}",
        metrics.text
    );
    crate::common::send(Method::POST, &shim.url("/hello"), &[], None)
        .await
        .assert_error(405, "Method not supported");
}
