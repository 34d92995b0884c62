//! Building one HTTP request the way Envoy presents it to the filter.

use super::headers::HeaderMap;
use super::outcome::Outcome;
use super::properties::{Properties, PropertyPath};
use super::worker::Worker;
use anyhow::Result;

/// Envoy's property for the SHA-256 of the peer certificate (64 lowercase hex chars).
pub const PEER_DIGEST: &str = "connection.sha256_peer_certificate_digest";
pub const TLS_VERSION: &str = "connection.tls_version";
pub const MTLS: &str = "connection.mtls";
pub const SNI: &str = "connection.requested_server_name";
pub const PEER_SUBJECT: &str = "connection.subject_peer_certificate";
pub const PEER_URI_SAN: &str = "connection.uri_san_peer_certificate";
pub const PEER_DNS_SAN: &str = "connection.dns_san_peer_certificate";
pub const SOURCE_ADDRESS: &str = "source.address";

/// One request on a new stream of a [`Worker`]. Nothing runs until
/// [`send_headers`](Request::send_headers).
#[must_use = "a request does nothing until send_headers()"]
pub struct Request<'w> {
    worker: &'w mut Worker,
    headers: HeaderMap,
    properties: Properties,
    end_of_stream: bool,
}

impl<'w> Request<'w> {
    pub(crate) fn new(worker: &'w mut Worker) -> Self {
        Request {
            worker,
            headers: HeaderMap::new(),
            properties: Properties::default(),
            end_of_stream: true,
        }
    }

    /// Adds a request header (names are lower-cased, as Envoy's codecs do).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.add(name, value.as_bytes());
        self
    }

    /// Sets a connection/request property by dotted path, in Envoy's byte encoding.
    pub fn property(mut self, path: &str, value: impl AsRef<[u8]>) -> Self {
        self.properties
            .set(PropertyPath::dotted(path), value.as_ref().to_vec());
        self
    }

    /// Sets a property whose segments contain dots, e.g. `["filter_state", "a.b"]`.
    pub fn property_segments(mut self, segments: &[&str], value: impl AsRef<[u8]>) -> Self {
        self.properties
            .set(PropertyPath::segments(segments), value.as_ref().to_vec());
        self
    }

    /// `connection.sha256_peer_certificate_digest`.
    pub fn peer_digest(self, hex: &str) -> Self {
        self.property(PEER_DIGEST, hex)
    }

    /// `connection.tls_version`, e.g. `TLSv1.3`.
    pub fn tls(self, version: &str) -> Self {
        self.property(TLS_VERSION, version)
    }

    /// `connection.mtls`: Envoy encodes a bool as one raw byte.
    pub fn mtls(self, on: bool) -> Self {
        self.property(MTLS, [u8::from(on)])
    }

    /// `connection.requested_server_name`.
    pub fn sni(self, server_name: &str) -> Self {
        self.property(SNI, server_name)
    }

    /// `connection.subject_peer_certificate` (RFC 2253).
    pub fn peer_subject(self, subject: &str) -> Self {
        self.property(PEER_SUBJECT, subject)
    }

    /// `connection.uri_san_peer_certificate` (Envoy gives only the first URI SAN).
    pub fn peer_uri_san(self, uri: &str) -> Self {
        self.property(PEER_URI_SAN, uri)
    }

    /// `connection.dns_san_peer_certificate` (Envoy gives only the first DNS SAN).
    pub fn peer_dns_san(self, name: &str) -> Self {
        self.property(PEER_DNS_SAN, name)
    }

    /// `source.address`, e.g. `10.0.0.1:5555`.
    pub fn source_address(self, address: &str) -> Self {
        self.property(SOURCE_ADDRESS, address)
    }

    /// Whether the headers end the request (default true: no body follows).
    pub fn end_of_stream(mut self, end_of_stream: bool) -> Self {
        self.end_of_stream = end_of_stream;
        self
    }

    /// Opens the stream: `proxy_on_context_create(ctx, root)` then
    /// `proxy_on_request_headers(ctx, n, end_of_stream)`. The stream stays open; end it
    /// with [`Worker::finish`].
    pub fn send_headers(self) -> Result<Outcome> {
        self.worker
            .open_stream(self.headers, self.properties, self.end_of_stream)
    }
}
