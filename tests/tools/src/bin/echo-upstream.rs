//! echo-upstream: a demo and test upstream that tells what reached it.
//!
//! Serves HTTPS (or plain HTTP with `--plain`), asks for a client certificate and accepts any,
//! and answers every request with JSON:
//! `{"name", "client_cert_sha256", "client_subject", "sni", "tls_version", "cipher_suite",
//! "method", "host", "path", "headers", "body"}`
//! so tests see which upstream client certificate Envoy presented, what TLS it negotiated and
//! which headers arrived.
//!
//! Usage: `echo-upstream [--listen 127.0.0.1:0] [--name NAME] (--cert PEM --key PEM
//! [--tls-version 1.2|1.3] [--cipher NAME]... | --plain)`. `--tls-version` offers that version
//! only; `--cipher` (rustls's IANA names, e.g. `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`,
//! `TLS13_AES_128_GCM_SHA256`) offers those suites only: upstreams for the transport tests.
//! Prints `LISTENING <addr>` on stdout once it accepts connections.

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

struct Args {
    listen: SocketAddr,
    name: String,
    tls: Option<(String, String)>,
    /// Offer only this TLS version (`1.2` or `1.3`).
    tls_version: Option<String>,
    /// Offer only these cipher suites (rustls names).
    ciphers: Vec<String>,
}

fn parse_args() -> Result<Args> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut name = "echo".to_string();
    let (mut cert, mut key, mut plain) = (None, None, false);
    let (mut tls_version, mut ciphers) = (None, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--name" => name = value()?,
            "--cert" => cert = Some(value()?),
            "--key" => key = Some(value()?),
            "--plain" => plain = true,
            "--tls-version" => tls_version = Some(value()?),
            "--cipher" => ciphers.push(value()?),
            other => bail!("unknown argument {other}"),
        }
    }
    let tls = match (plain, cert, key) {
        (true, None, None) => None,
        (false, Some(c), Some(k)) => Some((c, k)),
        _ => bail!("pass either --plain or both --cert and --key"),
    };
    Ok(Args {
        listen,
        name,
        tls,
        tls_version,
        ciphers,
    })
}

/// What the TLS handshake told us about the client.
#[derive(Clone, Default)]
struct Peer {
    cert_der: Option<Vec<u8>>,
    sni: Option<String>,
    /// `TLSv1_2`, `TLSv1_3`.
    tls_version: Option<String>,
    cipher_suite: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let acceptor = match &args.tls {
        Some((cert, key)) => Some(TlsAcceptor::from(Arc::new(server_config(
            cert,
            key,
            args.tls_version.as_deref(),
            &args.ciphers,
        )?))),
        None => None,
    };
    let listener = TcpListener::bind(args.listen).await?;
    println!("LISTENING {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let name: Arc<str> = Arc::from(args.name.as_str());
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let name = name.clone();
        tokio::spawn(async move {
            let result = match acceptor {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let conn = tls.get_ref().1;
                        let peer = Peer {
                            cert_der: conn
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| c.to_vec()),
                            sni: conn.server_name().map(str::to_string),
                            tls_version: conn.protocol_version().map(|v| format!("{v:?}")),
                            cipher_suite: conn
                                .negotiated_cipher_suite()
                                .map(|s| format!("{:?}", s.suite())),
                        };
                        serve(TokioIo::new(tls), peer, name).await
                    }
                    Err(e) => Err(e.into()),
                },
                None => serve(TokioIo::new(tcp), Peer::default(), name).await,
            };
            if let Err(e) = result {
                eprintln!("connection: {e:#}");
            }
        });
    }
}

async fn serve<I>(io: I, peer: Peer, name: Arc<str>) -> Result<()>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let peer = peer.clone();
        let name = name.clone();
        async move { echo(req, &peer, &name).await }
    });
    http1::Builder::new().serve_connection(io, service).await?;
    Ok(())
}

async fn echo(req: Request<Incoming>, peer: &Peer, name: &str) -> Result<Response<Full<Bytes>>> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in req.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers
            .entry(k.as_str().to_string())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let host = headers.get("host").cloned();
    let body = req.into_body().collect().await?.to_bytes();
    let subject = peer.cert_der.as_deref().and_then(|der| {
        x509_parser::parse_x509_certificate(der)
            .ok()
            .map(|(_, c)| c.subject().to_string())
    });
    let reply = serde_json::json!({
        "name": name,
        "client_cert_sha256": peer.cert_der.as_deref().map(|d| hex::encode(Sha256::digest(d))),
        "client_subject": subject,
        "sni": peer.sni,
        "tls_version": peer.tls_version,
        "cipher_suite": peer.cipher_suite,
        "method": method,
        "host": host,
        "path": path,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("x-echo-name", name)
        .body(Full::new(Bytes::from(reply.to_string())))?)
}

fn server_config(
    cert: &str,
    key: &str,
    tls_version: Option<&str>,
    ciphers: &[String],
) -> Result<ServerConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !ciphers.is_empty() {
        provider
            .cipher_suites
            .retain(|s| ciphers.iter().any(|c| format!("{:?}", s.suite()) == *c));
        if provider.cipher_suites.len() != ciphers.len() {
            bail!("--cipher: unknown suite among {ciphers:?}");
        }
    }
    let versions: &[&rustls::SupportedProtocolVersion] = match tls_version {
        None => rustls::DEFAULT_VERSIONS,
        Some("1.2") => &[&rustls::version::TLS12],
        Some("1.3") => &[&rustls::version::TLS13],
        Some(other) => bail!("--tls-version {other}: expected 1.2 or 1.3"),
    };
    let provider = Arc::new(provider);
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {cert}"))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {key}"))?;
    let verifier = AcceptAnyClientCert(provider.signature_verification_algorithms);
    Ok(ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(certs, key)?)
}

/// Requests a client certificate, accepts any (trust is not the upstream's question here),
/// but still checks the handshake signature, so the client must hold the private key.
#[derive(Debug)]
struct AcceptAnyClientCert(WebPkiSupportedAlgorithms);

impl ClientCertVerifier for AcceptAnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
