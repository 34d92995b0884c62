//! The admin API over mutual TLS (SPEC §2, Tyk's `security.control_api_use_mutual_tls` +
//! `security.certificates.control_api`): the real binary, real TLS (a rustls client, and curl
//! once), one shim per scenario. A refused client certificate is a failed handshake (a TLS
//! alert): no HTTP answer at all. An admitted one still needs the admin secret.

use crate::common::{FEED_TOKEN, FORBIDDEN_BODY, refused, shim, started};
use mtls_gate_testkit::{CertFiles, ClientMint, TestPki};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use time::OffsetDateTime;

const SECRET: &str = crate::common::ADMIN_SECRET;

// ---------------------------------------------------------------------------------------
// Test PKI: the server's certificate and unrelated clients from testkit's `TestPki`; a CA
// chain (root → intermediate → leaves) and self-signed leaves made here.
// ---------------------------------------------------------------------------------------

/// A client certificate chain (leaf first) and its key.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    fingerprint: String,
    cert_pem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl Identity {
    fn from_files(files: &CertFiles) -> Identity {
        Identity {
            chain: vec![CertificateDer::from(files.der.clone())],
            key: PrivateKeyDer::from_pem_slice(files.key_pem.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", files.name)),
            fingerprint: files.fingerprint.clone(),
            cert_pem: files.cert_pem.clone(),
            cert_path: files.cert_path.clone(),
            key_path: files.key_path.clone(),
        }
    }
}

/// root CA → intermediate CA → leaves; the root's PEM file is a `--control-api-certs` ref.
struct Chain {
    dir: TempDir,
    root_pem: String,
    root_path: PathBuf,
    /// Valid, presenting leaf + intermediate.
    leaf: Identity,
    /// The same leaf, presented without its intermediate.
    leaf_alone: Identity,
    /// Expired yesterday, presenting leaf + intermediate.
    expired: Identity,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = OffsetDateTime::now_utc() + time::Duration::days(30);
    params
}

fn client_params(
    cn: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

fn identity(
    dir: &Path,
    name: &str,
    leaf: &rcgen::Certificate,
    key: &KeyPair,
    extra: &[&CertificateDer<'static>],
) -> Identity {
    let mut chain = vec![leaf.der().clone()];
    chain.extend(extra.iter().map(|c| (*c).clone()));
    let key_pem = key.serialize_pem();
    Identity {
        chain,
        key: PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
        fingerprint: mtls_gate_testkit::pki::fingerprint(leaf.der()),
        cert_pem: leaf.pem(),
        cert_path: write(dir, &format!("{name}.pem"), &leaf.pem()),
        key_path: write(dir, &format!("{name}.key"), &key_pem),
    }
}

impl Chain {
    fn generate() -> Chain {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let now = OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        let key = || KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let root = CertifiedIssuer::self_signed(ca_params("control API root"), key())
            .unwrap_or_else(|e| panic!("{e}"));
        let intermediate =
            CertifiedIssuer::signed_by(ca_params("control API intermediate"), key(), &*root)
                .unwrap_or_else(|e| panic!("{e}"));
        let sign = |cn: &str, from, until| {
            let leaf_key = key();
            let cert = client_params(cn, from, until)
                .signed_by(&leaf_key, &*intermediate)
                .unwrap_or_else(|e| panic!("{e}"));
            (cert, leaf_key)
        };
        let (leaf, leaf_key) = sign("operator", now - day, now + day * 30);
        let (expired, expired_key) = sign("former operator", now - day * 30, now - day);
        let inter = intermediate.der().clone();
        Chain {
            root_pem: root.pem(),
            root_path: write(dir.path(), "root.pem", &root.pem()),
            leaf: identity(dir.path(), "leaf", &leaf, &leaf_key, &[&inter]),
            leaf_alone: identity(dir.path(), "leaf-alone", &leaf, &leaf_key, &[]),
            expired: identity(dir.path(), "expired", &expired, &expired_key, &[&inter]),
            dir,
        }
    }
}

/// A self-signed client certificate valid over `from..until`.
fn self_signed(dir: &Path, name: &str, from: OffsetDateTime, until: OffsetDateTime) -> Identity {
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let cert = client_params(name, from, until)
        .self_signed(&key)
        .unwrap_or_else(|e| panic!("{e}"));
    identity(dir, name, &cert, &key, &[])
}

fn pki() -> TestPki {
    TestPki::generate().unwrap_or_else(|e| panic!("pki: {e}"))
}

fn tls_args(pki: &TestPki) -> Vec<std::ffi::OsString> {
    vec![
        "--tls-cert".into(),
        pki.server.cert_path.clone().into(),
        "--tls-key".into(),
        pki.server.key_path.clone().into(),
    ]
}

// ---------------------------------------------------------------------------------------
// Clients: HTTP/1.0 (close-delimited answers) over rustls, or over plain TCP.
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A request to the shim's TLS port, as `client` (or with no client certificate). `Err`: the
/// connection failed before any HTTP answer (a refused handshake).
fn https(
    pki: &TestPki,
    addr: SocketAddr,
    client: Option<&Identity>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Reply, String> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.ca.der.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| panic!("{e}"))
            .with_root_certificates(roots);
    let config = match client {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .unwrap_or_else(|e| panic!("{e}")),
        None => builder.with_no_client_auth(),
    };
    let server = ServerName::try_from("localhost").unwrap_or_else(|e| panic!("{e}"));
    let connection =
        ClientConnection::new(Arc::new(config), server).unwrap_or_else(|e| panic!("{e}"));
    let tcp = connect(addr);
    exchange(
        StreamOwned::new(connection, tcp),
        method,
        path,
        headers,
        body,
    )
}

/// The same over plain TCP.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, String> {
    exchange(connect(addr), method, path, headers, None)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{e}"));
    tcp
}

fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Reply, String> {
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(format!("no HTTP answer ({read:?}): {text:?}"));
    };
    let status = head
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line ({read:?}): {head:?}"))?;
    Ok(Reply {
        status,
        body: body.to_owned(),
    })
}

/// `GET /tyk/certs` with the admin secret: the status, or why there was no answer.
fn list_certs(pki: &TestPki, addr: SocketAddr, client: Option<&Identity>) -> Result<u16, String> {
    https(
        pki,
        addr,
        client,
        "GET",
        "/tyk/certs",
        &[("X-Tyk-Authorization", SECRET)],
        None,
    )
    .map(|reply| reply.status)
}

#[track_caller]
fn assert_refused(result: Result<u16, String>, what: &str) {
    match result {
        Err(error) => assert!(!error.is_empty()),
        Ok(status) => panic!("{what}: expected a failed handshake, got HTTP {status}"),
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

#[test]
fn a_listed_leaf_fingerprint_opens_the_admin_api_and_nothing_else_does() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let now = OffsetDateTime::now_utc();
    let mut mint = ClientMint::new().unwrap_or_else(|e| panic!("{e}"));
    let operator = Identity::from_files(&mint.mint("operator").unwrap_or_else(|e| panic!("{e}")));
    let lapsed = self_signed(
        dir.path(),
        "lapsed",
        now - time::Duration::days(30),
        now - time::Duration::days(1),
    );
    // Fingerprints in either case (openssl prints upper case).
    let refs = format!(
        "{},{}",
        operator.fingerprint.to_uppercase(),
        lapsed.fingerprint
    );
    let shim = started(
        shim()
            .args(tls_args(&pki))
            .args(["--control-api-certs", &refs]),
    );
    let addr = shim.addr();
    assert!(
        shim.base_url().starts_with("https://"),
        "{}",
        shim.base_url()
    );

    assert_refused(list_certs(&pki, addr, None), "no client certificate");
    let rogue = Identity::from_files(&pki.rogue);
    assert_refused(
        list_certs(&pki, addr, Some(&rogue)),
        "an unlisted self-signed certificate",
    );
    let other = Identity::from_files(&pki.client);
    assert_refused(
        list_certs(&pki, addr, Some(&other)),
        "an unlisted CA-signed certificate",
    );
    let expired = https(&pki, addr, Some(&lapsed), "GET", "/hello", &[], None);
    assert!(
        expired
            .as_ref()
            .is_err_and(|e| e.contains("CertificateExpired")),
        "a listed but expired leaf: {expired:?}"
    );
    // Plain HTTP to the TLS port reaches no route either.
    let plain = http(
        addr,
        "GET",
        "/tyk/certs",
        &[("X-Tyk-Authorization", SECRET)],
    );
    assert!(plain.is_err(), "plain HTTP on the TLS port: {plain:?}");

    // The listed leaf: the admin API, the secret still checked exactly as without TLS.
    assert_eq!(list_certs(&pki, addr, Some(&operator)), Ok(200));
    let wrong = https(
        &pki,
        addr,
        Some(&operator),
        "GET",
        "/tyk/certs",
        &[("X-Tyk-Authorization", "wrong")],
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((wrong.status, wrong.body.as_str()), (403, FORBIDDEN_BODY));
    let none = https(&pki, addr, Some(&operator), "GET", "/tyk/certs", &[], None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((none.status, none.body.as_str()), (403, FORBIDDEN_BODY));
    // The feed is on this port too, for a client with a listed certificate and the token.
    let bearer = format!("Bearer {FEED_TOKEN}");
    let feed = https(
        &pki,
        addr,
        Some(&operator),
        "GET",
        "/mtls-gate/v1/changes?since=0",
        &[("Authorization", &bearer)],
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(feed.status, 200, "{}", feed.body);

    // OpenSSL's side of the handshake agrees (curl).
    let url = format!("https://127.0.0.1:{}/tyk/certs", addr.port());
    let curl = |cert: Option<&Identity>| {
        let mut command = std::process::Command::new("curl");
        command
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
            ])
            .arg("--cacert")
            .arg(&pki.ca.cert_path)
            .args(["-H", &format!("X-Tyk-Authorization: {SECRET}")]);
        if let Some(id) = cert {
            command
                .arg("--cert")
                .arg(&id.cert_path)
                .arg("--key")
                .arg(&id.key_path);
        }
        command
            .arg(&url)
            .output()
            .unwrap_or_else(|e| panic!("curl: {e}"))
    };
    let without = curl(None);
    assert!(
        !without.status.success(),
        "curl without a certificate: {without:?}"
    );
    let with = curl(Some(&operator));
    assert_eq!(String::from_utf8_lossy(&with.stdout), "200", "{with:?}");

    let log = shim.log();
    assert!(
        log.contains("control API client certificate refused"),
        "{log}"
    );
    assert!(
        log.contains("the change feed is served only on the TLS port"),
        "without --feed-listen the log says filters need a client certificate: {log}"
    );
}

#[test]
fn a_store_id_admits_once_uploaded_and_stops_at_delete_without_a_restart() {
    let pki = pki();
    let chain = Chain::generate();
    let mut mint = ClientMint::new().unwrap_or_else(|e| panic!("{e}"));
    let operator = Identity::from_files(&mint.mint("operator").unwrap_or_else(|e| panic!("{e}")));
    let colleague = Identity::from_files(&pki.client2);
    let colleague_id = format!("acme{}", colleague.fingerprint);
    let ca_id = format!(
        "acme{}",
        mtls_gate_testkit::pki::fingerprint(
            &CertificateDer::from_pem_slice(chain.root_pem.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"))
        )
    );
    let refs = format!("{},{colleague_id},{ca_id}", operator.fingerprint);
    let shim = started(
        shim()
            .args(tls_args(&pki))
            .args(["--control-api-certs", &refs]),
    );
    let addr = shim.addr();
    let log = shim.log();
    assert!(
        log.contains("control API certificate is not in the store") && log.contains(&colleague_id),
        "store IDs absent at start are warned about: {log}"
    );

    let admin = |method: &str, path: &str, body: Option<&str>| {
        https(
            &pki,
            addr,
            Some(&operator),
            method,
            path,
            &[("X-Tyk-Authorization", SECRET)],
            body,
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    };
    assert_refused(
        list_certs(&pki, addr, Some(&colleague)),
        "a store ID not uploaded yet",
    );
    assert_refused(
        list_certs(&pki, addr, Some(&chain.leaf)),
        "a stored CA not uploaded yet",
    );

    let added = admin("POST", "/tyk/certs?org_id=acme", Some(&colleague.cert_pem));
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.json()["id"], colleague_id.as_str());
    assert_eq!(
        list_certs(&pki, addr, Some(&colleague)),
        Ok(200),
        "admitted once uploaded"
    );

    let added = admin("POST", "/tyk/certs?org_id=acme", Some(&chain.root_pem));
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.json()["id"], ca_id.as_str());
    assert_eq!(
        list_certs(&pki, addr, Some(&chain.leaf)),
        Ok(200),
        "a stored CA admits the leaves it signed"
    );
    assert_refused(
        list_certs(&pki, addr, Some(&chain.expired)),
        "an expired leaf of the stored CA",
    );

    let deleted = admin("DELETE", &format!("/tyk/certs/{colleague_id}"), None);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_refused(
        list_certs(&pki, addr, Some(&colleague)),
        "a deleted store certificate",
    );
    let deleted = admin("DELETE", &format!("/tyk/certs/{ca_id}"), None);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_refused(
        list_certs(&pki, addr, Some(&chain.leaf)),
        "a leaf of a deleted CA",
    );
    assert_eq!(list_certs(&pki, addr, Some(&operator)), Ok(200));
}

#[test]
fn a_ca_file_admits_the_leaves_it_signed_and_a_leaf_file_its_leaf() {
    let pki = pki();
    let chain = Chain::generate();
    let refs = format!(
        "{},{}",
        chain.root_path.display(),
        pki.client2.cert_path.display()
    );
    let shim = started(
        shim()
            .args(tls_args(&pki))
            .args(["--control-api-certs", &refs]),
    );
    let addr = shim.addr();

    assert_eq!(
        list_certs(&pki, addr, Some(&chain.leaf)),
        Ok(200),
        "a leaf signed through the intermediate it presents"
    );
    assert_refused(
        list_certs(&pki, addr, Some(&chain.leaf_alone)),
        "the same leaf without its intermediate",
    );
    let expired = list_certs(&pki, addr, Some(&chain.expired));
    assert!(
        expired
            .as_ref()
            .is_err_and(|e| e.contains("CertificateExpired")),
        "an expired leaf of the listed CA: {expired:?}"
    );
    assert_refused(
        list_certs(&pki, addr, Some(&Identity::from_files(&pki.client))),
        "a leaf of another CA",
    );
    assert_eq!(
        list_certs(&pki, addr, Some(&Identity::from_files(&pki.client2))),
        Ok(200),
        "the leaf a PEM file names"
    );
    let _ = &chain.dir;
}

#[test]
fn the_feed_listener_serves_the_feed_and_no_admin_route() {
    let pki = pki();
    let mut mint = ClientMint::new().unwrap_or_else(|e| panic!("{e}"));
    let operator = Identity::from_files(&mint.mint("operator").unwrap_or_else(|e| panic!("{e}")));
    let shim = started(
        shim()
            .args(tls_args(&pki))
            .args(["--control-api-certs", &operator.fingerprint])
            .args(["--feed-listen", "127.0.0.1:0"]),
    );
    let feed = shim
        .feed_addr()
        .unwrap_or_else(|| panic!("no feed_addr in the log: {}", shim.log()));
    let bearer = format!("Bearer {FEED_TOKEN}");

    let changes = http(
        feed,
        "GET",
        "/mtls-gate/v1/changes?since=0",
        &[("Authorization", &bearer)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(changes.status, 200, "{}", changes.body);
    assert!(changes.json()["version"].is_u64(), "{}", changes.body);
    let lookup = http(
        feed,
        "GET",
        &format!("/mtls-gate/v1/lookup/acme{}", operator.fingerprint),
        &[("Authorization", &bearer)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        lookup.status, 404,
        "the lookup route is served: {}",
        lookup.body
    );
    let no_token =
        http(feed, "GET", "/mtls-gate/v1/changes?since=0", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(no_token.status, 401, "{}", no_token.body);
    for path in [
        "/tyk/certs",
        "/tyk/keys/anything",
        "/tyk",
        "/hello",
        "/metrics",
    ] {
        let answer = http(feed, "GET", path, &[("X-Tyk-Authorization", SECRET)])
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            answer.status, 404,
            "{path} on the feed port: {}",
            answer.body
        );
        assert_eq!(answer.json()["status"], "error", "{}", answer.body);
    }
    let post = http(
        feed,
        "POST",
        "/tyk/certs",
        &[("X-Tyk-Authorization", SECRET)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(post.status, 404, "{}", post.body);

    // The main port still wants a client certificate.
    assert_refused(list_certs(&pki, shim.addr(), None), "no client certificate");
    assert_eq!(list_certs(&pki, shim.addr(), Some(&operator)), Ok(200));
    assert!(
        !shim.log().contains("served only on the TLS port"),
        "{}",
        shim.log()
    );
}

#[test]
fn tls_without_client_certificates_is_allowed_and_logged() {
    let pki = pki();
    let shim = started(shim().args(tls_args(&pki)));
    assert!(shim.base_url().starts_with("https://"));
    assert_eq!(list_certs(&pki, shim.addr(), None), Ok(200));
    let hello = https(&pki, shim.addr(), None, "GET", "/hello", &[], None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hello.status, 200);
    assert!(
        shim.log()
            .contains("admin API on TLS without client certificates"),
        "{}",
        shim.log()
    );
}

#[test]
fn refuses_to_start_on_bad_tls_flags_naming_what_is_wrong() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let not_pem = write(dir.path(), "not.pem", "hello\n");
    let public_key = write(
        dir.path(),
        "public.pem",
        &KeyPair::generate()
            .unwrap_or_else(|e| panic!("{e}"))
            .public_key_pem(),
    );
    let fingerprint = pki.client.fingerprint.clone();
    let server_cert = pki.server.cert_path.to_string_lossy().into_owned();
    let server_key = pki.server.key_path.to_string_lossy().into_owned();
    let other_key = pki.client.key_path.to_string_lossy().into_owned();
    let tls = |refs: &str| -> Vec<String> {
        vec![
            "--tls-cert".into(),
            server_cert.clone(),
            "--tls-key".into(),
            server_key.clone(),
            "--control-api-certs".into(),
            refs.to_owned(),
        ]
    };
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec!["--control-api-certs".into(), fingerprint.clone()],
            vec!["--control-api-certs needs --tls-cert and --tls-key".into()],
        ),
        (
            vec!["--tls-cert".into(), server_cert.clone()],
            vec!["--tls-cert needs --tls-key".into()],
        ),
        (tls(""), vec!["--control-api-certs is empty".into()]),
        (tls(" , "), vec!["--control-api-certs is empty".into()]),
        (
            tls("/nonexistent/control-ca.pem"),
            vec![
                "\"/nonexistent/control-ca.pem\"".into(),
                "cannot read".into(),
            ],
        ),
        (
            tls(&format!("{fingerprint},nonsense")),
            vec!["\"nonsense\": not a store certificate ID".into()],
        ),
        (
            tls(&format!("acme{}", fingerprint.to_uppercase())),
            vec!["not a store certificate ID".into()],
        ),
        (
            tls(&not_pem.to_string_lossy()),
            vec![
                not_pem.to_string_lossy().into_owned(),
                "not a PEM file".into(),
            ],
        ),
        (
            tls(&public_key.to_string_lossy()),
            vec!["holds no certificate".into()],
        ),
        (
            vec![
                "--tls-cert".into(),
                "/nonexistent/server.pem".into(),
                "--tls-key".into(),
                server_key.clone(),
            ],
            vec![
                "--tls-cert /nonexistent/server.pem".into(),
                "cannot read".into(),
            ],
        ),
        (
            vec![
                "--tls-cert".into(),
                server_cert.clone(),
                "--tls-key".into(),
                other_key.clone(),
            ],
            vec![format!("--tls-key {other_key}")],
        ),
    ];
    for (args, expected) in cases {
        let (status, log) = refused(shim().args(&args));
        assert!(!status.success(), "{args:?}");
        for needle in expected {
            assert!(
                log.contains("refusing to start: ") && log.contains(&needle),
                "{args:?}: expected {needle:?} in:\n{log}"
            );
        }
    }
}

/// Issue 15: on the mutual-TLS admin port, the audit trail names the client certificate
/// that made each write (its SHA-256), besides the admin secret.
#[test]
fn the_audit_trail_names_the_client_certificate_of_each_write() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let trail = dir.path().join("audit.jsonl");
    let mut mint = ClientMint::new().unwrap_or_else(|e| panic!("{e}"));
    let operator = Identity::from_files(&mint.mint("operator").unwrap_or_else(|e| panic!("{e}")));
    let shim = started(
        shim()
            .args(tls_args(&pki))
            .args(["--control-api-certs", &operator.fingerprint])
            .arg("--audit-log")
            .arg(&trail),
    );
    let upload = pki.upstream_client_a.cert_pem.clone();
    let reply = https(
        &pki,
        shim.addr(),
        Some(&operator),
        "POST",
        "/tyk/certs?org_id=acme",
        &[("X-Tyk-Authorization", SECRET)],
        Some(&upload),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let text = std::fs::read_to_string(&trail).unwrap_or_default();
    let entry: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        entry["who"],
        serde_json::json!({"credential": "admin secret", "client_certificate": operator.fingerprint})
    );
    assert_eq!(entry["route"], "/tyk/certs");
    assert_eq!(entry["outcome"], "ok");
}
