//! `mtls_gate_shim::client::AdminClient`, the typed admin client the CLI uses, against the
//! router: every method's answer, and refusals with the shim's status and message.

use crate::common::TestShim;
use mtls_gate_core::session::{AccessDefinition, Session};
use mtls_gate_shim::client::{AdminClient, BaseUrl, ClientError};
use mtls_gate_shim::secret::Secret;
use mtls_gate_testkit::ca::TestCa;

fn session_for(certificate: &str, alias: &str) -> Session {
    let mut session = Session {
        certificate: certificate.to_owned(),
        alias: alias.to_owned(),
        ..Session::default()
    };
    session.access_rights.insert(
        "api1".into(),
        AccessDefinition {
            api_id: "api1".into(),
            ..AccessDefinition::default()
        },
    );
    session
}

#[track_caller]
fn assert_refused(result: Result<impl std::fmt::Debug, ClientError>, status: u16, message: &str) {
    match result {
        Err(ClientError::Refused {
            status: got,
            message: text,
        }) => assert_eq!((got, text.as_str()), (status, message)),
        other => panic!("expected {status} {message:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_client_adds_lists_shows_and_deletes_certificates() {
    let shim = TestShim::start().await;
    let client = shim.client();
    let pki = TestCa::new();
    let (a, b) = (pki.leaf("a"), pki.leaf("b"));

    let a_id = client
        .add_certificate(a.bundle().as_bytes(), "acme")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a_id, format!("acme{}", a.fingerprint()));
    let b_id = client
        .add_certificate(b.cert_pem.as_bytes(), "")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_refused(
        client.add_certificate(b.cert_pem.as_bytes(), "").await,
        403,
        &format!("Certificate with {b_id} id already exists"),
    );

    let ids = client
        .certificate_ids("")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids, [a_id.clone(), b_id.clone()], "upload order");
    let acme = client
        .certificate_details("acme")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(acme.len(), 1);
    assert_eq!(
        (acme[0].id.as_str(), acme[0].subject_cn.as_str()),
        (a_id.as_str(), "a")
    );
    assert!(acme[0].has_private);

    let meta = client
        .certificate(&a_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(meta.fingerprint, a.fingerprint());
    assert_eq!(meta.subject.common_name, "a");
    let both = client
        .certificates(&[&b_id, "missing", &a_id])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let found: Vec<Option<&str>> = both
        .iter()
        .map(|m| m.as_ref().map(|m| m.id.as_str()))
        .collect();
    assert_eq!(found, [Some(b_id.as_str()), None, Some(a_id.as_str())]);
    let one_missing = client
        .certificates(&["missing"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one_missing, [None]);
    assert_refused(
        client.certificate("missing").await,
        404,
        "Certificate with given SHA256 fingerprint not found",
    );

    client
        .delete_certificate(&a_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client
        .delete_certificate(&a_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(client.certificate_ids("").await.unwrap_or_default(), [b_id]);
}

#[tokio::test]
async fn typed_client_creates_gets_updates_and_deletes_keys() {
    let shim = TestShim::start().await;
    let client = shim.client();
    let leaf = TestCa::new().leaf("client");
    let cert = shim.add_cert(&leaf.cert_pem, "org1").await;

    let key = client
        .create_key(&session_for(&cert, "first"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(key, cert, "the key is the certificate ID");
    let stored = client.key(&key).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (stored.alias.as_str(), stored.org_id.as_str()),
        ("first", "org1")
    );
    assert!(stored.extra.contains_key("date_created"));

    let mut changed = stored.clone();
    changed.alias = "second".into();
    changed.is_inactive = true;
    client
        .update_key(&key, &changed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stored = client.key(&key).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.alias, "second");
    assert!(stored.is_inactive);

    let mut without_rights = session_for(&cert, "open");
    without_rights.access_rights.clear();
    assert_refused(
        client.create_key(&without_rights).await,
        400,
        mtls_gate_shim::api::error::NO_ACCESS_RIGHTS,
    );

    client
        .delete_key(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_refused(client.key(&key).await, 404, "Key not found");
    assert_refused(client.delete_key(&key).await, 404, "Key not found");
}

#[tokio::test]
async fn wrong_secret_bad_urls_and_no_shim_are_distinct_errors() {
    let shim = TestShim::start().await;
    let base: BaseUrl = shim.base.parse().unwrap_or_else(|e| panic!("{e}"));
    let wrong = Secret::new("not-the-secret", "admin secret").unwrap_or_else(|e| panic!("{e}"));
    let client = AdminClient::new(base, wrong).unwrap_or_else(|e| panic!("{e}"));
    assert_refused(
        client.certificate_ids("").await,
        403,
        "Attempted administrative access with invalid or missing key!",
    );

    for bad in ["not a url", "mailto:ops@example.test"] {
        assert!(
            matches!(bad.parse::<BaseUrl>(), Err(ClientError::BaseUrl { .. })),
            "{bad}"
        );
    }

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("{e}"));
    let base: BaseUrl = format!("http://{closed}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let secret = Secret::new("s", "admin secret").unwrap_or_else(|e| panic!("{e}"));
    let nobody = AdminClient::new(base, secret).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        nobody.certificate_ids("").await,
        Err(ClientError::Unreachable { .. })
    ));
}
