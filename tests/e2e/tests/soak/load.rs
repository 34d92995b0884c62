//! The load: one keep-alive mTLS connection per certificate, all on one thread, each
//! answer classified and judged against the certificate's timeline.

use super::timeline::{Judged, SharedTimeline, lock};
use super::{EXAMPLES, REQUEST_EVERY, REQUEST_TIMEOUT};
use anyhow::{Context, Result};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use mtls_gate_e2e::EchoReply;
use mtls_gate_testkit::CertFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// Which API a certificate is sent to, and what that API's refusals look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Group {
    Static,
    Session,
    Ca,
}

impl Group {
    pub(super) fn path(self) -> &'static str {
        match self {
            Group::Static => "/static/soak",
            Group::Session => "/dyn/soak",
            Group::Ca => "/ca/soak",
        }
    }

    /// The documented refusals (README "How a request is decided", Tyk's wording).
    pub(super) fn is_refusal(self, status: u16, message: &str, fingerprint: &str) -> bool {
        match self {
            Group::Static | Group::Ca => {
                status == 403
                    && message == format!("Certificate with SHA256 {fingerprint} not allowed")
            }
            // 401: no session; 403: its certificate is gone, or the key is inactive.
            Group::Session => matches!(
                (status, message),
                (401 | 403, "Access to this API has been disallowed")
                    | (403, "Key is inactive, please renew")
            ),
        }
    }
}

/// One certificate under load.
pub(super) struct Probe {
    pub(super) name: String,
    pub(super) group: Group,
    pub(super) fingerprint: String,
    pub(super) tls: Arc<ClientConfig>,
    pub(super) timeline: SharedTimeline,
    /// Set when a rotation retires the certificate for good: its connection closes.
    pub(super) retired: Arc<AtomicBool>,
}

#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) addr: SocketAddr,
    pub(super) authority: String,
}

/// What the load saw, over every connection.
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    pub(super) requests: u64,
    pub(super) passed: u64,
    pub(super) refused: u64,
    pub(super) wrongly_allowed: u64,
    pub(super) wrongly_refused: u64,
    pub(super) server_errors: u64,
    pub(super) unexpected: u64,
    pub(super) transport_errors: u64,
    /// TLS connections opened: one per certificate, unless Envoy closed one.
    pub(super) connections: u64,
    /// The first failures of any kind, for the assertion messages.
    pub(super) examples: Vec<String>,
}

impl Tally {
    fn example(&mut self, what: String) {
        if self.examples.len() < EXAMPLES {
            self.examples.push(what);
        }
    }

    fn failed(&mut self, what: String) {
        self.transport_errors += 1;
        self.example(what);
    }

    fn record(
        &mut self,
        probe: &str,
        outcome: Outcome,
        judged: Judged,
        answer: impl Fn() -> String,
    ) {
        self.requests += 1;
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::ServerError => {
                self.server_errors += 1;
                self.example(format!("{probe}: 5xx: {}", answer()));
            }
            Outcome::Unexpected => {
                self.unexpected += 1;
                self.example(format!("{probe}: unexpected: {}", answer()));
            }
        }
        match judged {
            Judged::Fine => {}
            Judged::WronglyAllowed { after_ack } => {
                self.wrongly_allowed += 1;
                self.example(format!(
                    "{probe}: passed, sent {after_ack:?} after its revocation was acknowledged"
                ));
            }
            Judged::WronglyRefused { after_ack } => {
                self.wrongly_refused += 1;
                self.example(format!(
                    "{probe}: refused ({}), sent {after_ack:?} after its admission was acknowledged",
                    answer()
                ));
            }
        }
    }
}

pub(super) fn roots(ca: &CertFiles) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.cert_pem.as_bytes()) {
        roots.add(cert.context("the test CA's PEM")?)?;
    }
    Ok(roots)
}

/// A TLS client presenting `chain_pem` (leaf first, then any intermediates) with `key_pem`.
pub(super) fn client_tls(
    roots: &Arc<RootCertStore>,
    chain_pem: &str,
    key_pem: &str,
) -> Result<Arc<ClientConfig>> {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("a client certificate's PEM")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("a client key's PEM")?;
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(Arc::clone(roots))
            .with_client_auth_cert(chain, key)?;
    Ok(Arc::new(config))
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(tls: Arc<ClientConfig>, addr: SocketAddr) -> Result<Sender> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(tls)
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn get(sender: &mut Sender, path: &str, authority: &str) -> Result<(u16, Bytes)> {
    sender.ready().await?;
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// All connections on one thread (the test's own CPU stays small): the probes set up at the
/// start, then each one the churn's rotations send, until `deadline`.
pub(super) fn run_clients(
    probes: Vec<Probe>,
    mut more: mpsc::UnboundedReceiver<Probe>,
    target: Target,
    deadline: Instant,
    tally: Arc<Mutex<Tally>>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let spawn = |probe: Probe| {
            tokio::task::spawn_local(run_probe(
                probe,
                target.clone(),
                deadline,
                Arc::clone(&tally),
            ))
        };
        let mut tasks: Vec<_> = probes.into_iter().map(spawn).collect();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, more.recv()).await {
                Ok(Some(probe)) => tasks.push(spawn(probe)),
                // The churn stopped early (an error it reports): keep the load to the end.
                Ok(None) => {
                    tokio::time::sleep(left).await;
                    break;
                }
                Err(_) => break,
            }
        }
        for task in tasks {
            task.await?;
        }
        Ok(())
    })
}

/// One certificate's connection: a request every [`REQUEST_EVERY`], one at a time, until
/// the deadline or its retirement; reopened if Envoy closes it.
async fn run_probe(probe: Probe, target: Target, deadline: Instant, tally: Arc<Mutex<Tally>>) {
    let path = probe.group.path();
    let mut ticker = tokio::time::interval(REQUEST_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let running = || Instant::now() < deadline && !probe.retired.load(Ordering::Relaxed);
    let mut sender: Option<Sender> = None;
    while running() {
        ticker.tick().await;
        if !running() {
            break;
        }
        let mut open = match sender.take().filter(|s| !s.is_closed()) {
            Some(open) => open,
            None => match connect(Arc::clone(&probe.tls), target.addr).await {
                Ok(open) => {
                    lock(&tally).connections += 1;
                    open
                }
                Err(e) => {
                    lock(&tally).failed(format!("{}: connecting: {e:#}", probe.name));
                    continue;
                }
            },
        };
        let sent = Instant::now();
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, get(&mut open, path, &target.authority))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r);
        let answered = Instant::now();
        let (status, body) = match answer {
            Ok(answer) => answer,
            Err(e) => {
                let mut tally = lock(&tally);
                tally.requests += 1;
                tally.failed(format!("{}: GET {path}: {e:#}", probe.name));
                continue;
            }
        };
        sender = Some(open);
        let outcome = classify(&probe, status, &body);
        let judged = match outcome {
            Outcome::Passed => lock(&probe.timeline).judge(sent, answered, true),
            Outcome::Refused => lock(&probe.timeline).judge(sent, answered, false),
            Outcome::ServerError | Outcome::Unexpected => Judged::Fine,
        };
        let answer = || format!("{status} {}", String::from_utf8_lossy(&body));
        lock(&tally).record(&probe.name, outcome, judged, answer);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Refused,
    ServerError,
    Unexpected,
}

/// What an answer is: a pass is the upstream's echo of this very request (not some other
/// 200), a refusal one of the API's documented ones.
fn classify(probe: &Probe, status: u16, body: &[u8]) -> Outcome {
    match status {
        200 => match serde_json::from_slice::<EchoReply>(body) {
            Ok(echo) if echo.path == probe.group.path() => Outcome::Passed,
            _ => Outcome::Unexpected,
        },
        500..=599 => Outcome::ServerError,
        _ => {
            let message = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
                .unwrap_or_default();
            if probe.group.is_refusal(status, &message, &probe.fingerprint) {
                Outcome::Refused
            } else {
                Outcome::Unexpected
            }
        }
    }
}
