//! A TLS listener for `axum::serve`: a background task accepts TCP connections and runs each
//! handshake in its own task (a slow or hostile client never holds up the others); finished
//! TLS streams come out of [`Listener::accept`]. A failed handshake (no client certificate,
//! one no reference admits, not TLS at all) ends there, with the TLS alert rustls sends: no
//! HTTP request is read from it.

use super::ControlTls;
use axum::serve::Listener;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

/// The whole handshake, ClientHello to Finished, must fit in this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in flight at once; more connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;
/// Finished handshakes waiting for `axum::serve` to take them.
const READY_QUEUE: usize = 64;

pub struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: AbortOnDrop,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, tls: Arc<ControlTls>) -> io::Result<TlsListener> {
        let local_addr = tcp.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = AbortOnDrop(tokio::spawn(accept_loop(tcp, tls, sender)));
        Ok(TlsListener {
            local_addr,
            ready,
            acceptor,
        })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            None => {
                // The accept loop ended (it only does when the process is going down):
                // nothing will come any more.
                tracing::error!("TLS accept loop ended; no more connections");
                self.acceptor.0.abort();
                std::future::pending().await
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    tls: Arc<ControlTls>,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // As axum's own loop: out of descriptors and the like pass; back off a little.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let tls = Arc::clone(&tls);
        let ready = ready.clone();
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, &tls)).await;
            drop(slot);
            match outcome {
                Ok(Ok(stream)) => {
                    // Err: the server is shutting down; the connection just closes.
                    let _ = ready.send((stream, peer)).await;
                }
                Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

async fn handshake(stream: TcpStream, tls: &ControlTls) -> io::Result<TlsStream<TcpStream>> {
    let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
    let config = tls
        .config_for_handshake()
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    start.into_stream(config).await
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
