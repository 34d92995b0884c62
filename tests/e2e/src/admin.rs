//! The shim's typed admin client ([`mtls_gate_shim::client::AdminClient`]) for a running
//! testkit [`Shim`], made blocking for the (synchronous) e2e tests.
//!
//! Tests that send malformed or unauthenticated requests on purpose use the raw
//! [`Shim::admin`] and [`Shim::request`] instead.

use mtls_gate_core::session::Session;
use mtls_gate_shim::client::{AdminClient, ClientError};
use mtls_gate_shim::secret::Secret;
use mtls_gate_testkit::Shim;
use std::future::Future;

/// [`AdminClient`] of one shim, with its own single-threaded runtime.
pub struct Admin {
    client: AdminClient,
    runtime: tokio::runtime::Runtime,
}

/// `shim.admin_client()?`: the typed admin client of a testkit [`Shim`].
pub trait ShimAdmin {
    fn admin_client(&self) -> anyhow::Result<Admin>;
}

impl ShimAdmin for Shim {
    fn admin_client(&self) -> anyhow::Result<Admin> {
        Admin::new(&self.base_url(), self.secret())
    }
}

impl Admin {
    /// A client of the shim at `base` (`http://host:port`) with the admin secret `secret`.
    pub fn new(base: &str, secret: &str) -> anyhow::Result<Self> {
        let secret = Secret::new(secret, "admin secret")?;
        let client = AdminClient::new(base.parse()?, secret)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Admin { client, runtime })
    }

    fn run<T>(&self, call: impl Future<Output = T>) -> T {
        self.runtime.block_on(call)
    }

    /// `POST /tyk/certs?org_id=O` with `pem`; the new certificate ID.
    pub fn add_cert(&self, pem: &str, org: &str) -> Result<String, ClientError> {
        self.run(self.client.add_certificate(pem.as_bytes(), org))
    }

    /// `DELETE /tyk/certs/<id>`.
    pub fn delete_cert(&self, id: &str) -> Result<(), ClientError> {
        self.run(self.client.delete_certificate(id))
    }

    /// `POST /tyk/keys/create` with a session written as JSON; the new key.
    pub fn create_key(&self, session: &serde_json::Value) -> anyhow::Result<String> {
        let session = session_from(session)?;
        Ok(self.run(self.client.create_key(&session))?)
    }

    /// `GET /tyk/keys/<key>`. A missing key is [`ClientError::Refused`] with status 404.
    pub fn key(&self, key: &str) -> Result<Session, ClientError> {
        self.run(self.client.key(key))
    }

    /// `PUT /tyk/keys/<key>` with a session written as JSON.
    pub fn update_key(&self, key: &str, session: &serde_json::Value) -> anyhow::Result<()> {
        let session = session_from(session)?;
        Ok(self.run(self.client.update_key(key, &session))?)
    }

    /// `DELETE /tyk/keys/<key>`.
    pub fn delete_key(&self, key: &str) -> Result<(), ClientError> {
        self.run(self.client.delete_key(key))
    }
}

/// A Tyk session; fields the type does not name are kept (`Session::extra`).
fn session_from(json: &serde_json::Value) -> anyhow::Result<Session> {
    Ok(serde_json::from_value(json.clone())?)
}
