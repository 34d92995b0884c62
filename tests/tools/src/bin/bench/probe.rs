//! One keep-alive mTLS connection that sends GETs back to back and reports statuses, for the
//! revocation figures: the first denied request after a DELETE is seen within one request's
//! time (a few hundred µs on loopback), not a process start or a handshake later.

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Probe {
    rt: tokio::runtime::Runtime,
    tls: Arc<ClientConfig>,
    port: u16,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Probe {
    /// A client of `127.0.0.1:port` (SNI `localhost`) trusting `ca`, presenting `cert`/`key`.
    pub fn new(port: u16, ca: &Path, cert: &Path, key: &Path) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca)? {
            roots.add(c?)?;
        }
        let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(key)?;
        let tls =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)?;
        Ok(Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            tls: Arc::new(tls),
            port,
            sender: None,
        })
    }

    /// The status of one `GET path`, reconnecting if the connection was closed.
    pub fn status(&mut self, path: &str) -> Result<u16> {
        let (tls, port) = (self.tls.clone(), self.port);
        let slot = &mut self.sender;
        self.rt.block_on(async move {
            if slot.as_ref().is_none_or(|s| s.is_closed()) {
                let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
                tcp.set_nodelay(true)?;
                let stream = TlsConnector::from(tls)
                    .connect(ServerName::try_from("localhost")?, tcp)
                    .await?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                *slot = Some(sender);
            }
            let sender = slot.as_mut().context("connected above")?;
            let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
                sender.ready().await?;
                let req = Request::get(path)
                    .header(hyper::header::HOST, format!("localhost:{port}"))
                    .body(Empty::<Bytes>::new())?;
                let resp = sender.send_request(req).await?;
                let status = resp.status().as_u16();
                resp.into_body().collect().await?;
                Ok::<_, anyhow::Error>(status)
            })
            .await
            .context("request timed out");
            if !matches!(result, Ok(Ok(_))) {
                *slot = None;
            }
            result?
        })
    }

    /// Sends requests back to back until one answers other than `while_status`; returns when
    /// that answer arrived and what it was. Fails after `timeout`.
    pub fn until_not(
        &mut self,
        path: &str,
        while_status: u16,
        timeout: Duration,
    ) -> Result<(Instant, u16)> {
        let deadline = Instant::now() + timeout;
        loop {
            // A failed request (Envoy closing an idle connection) is retried on a new one.
            if let Ok(status) = self.status(path)
                && status != while_status
            {
                return Ok((Instant::now(), status));
            }
            if Instant::now() > deadline {
                bail!("{path} still answered {while_status} after {timeout:?}");
            }
        }
    }

    /// Polls (every 20 ms) until `GET path` answers `status`; fails after `timeout`.
    pub fn wait_for(&mut self, path: &str, status: u16, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.status(path);
            if matches!(last, Ok(s) if s == status) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{path} never answered {status} within {timeout:?} (last: {last:?})");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
