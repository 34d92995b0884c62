//! Who is on the other end of an admin connection, for the audit trail: the address and, on
//! the mutual-TLS port, the SHA-256 of the client certificate the handshake accepted.
//! `axum` hands it to every request as `ConnectInfo<Peer>`.

use super::listener::TlsListener;
use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use mtls_gate_core::fingerprint::Fingerprint;
use std::net::SocketAddr;
use tokio::net::TcpListener;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    /// Lowercase hex SHA-256 of the leaf the client presented (mutual TLS only).
    pub client_certificate: Option<String>,
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        let (_, connection) = stream.io().get_ref();
        Peer {
            addr: *stream.remote_addr(),
            client_certificate: connection
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| Fingerprint::of_der(leaf.as_ref()).to_hex()),
        }
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            client_certificate: None,
        }
    }
}
