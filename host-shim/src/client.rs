//! A typed client of a running shim's admin API (`/tyk/certs`, `/tyk/keys`, SPEC §2): what
//! the CLI's `certs` and `keys` subcommands use, and what tests can drive a shim with.
//!
//! Each method is one request with the admin secret, and returns what the answer means (an
//! ID, a list, a session); a refusal is [`ClientError::Refused`] with the shim's status and
//! message. A shim that cannot be connected to at all is [`ClientError::Unreachable`] with
//! the base URL, and says what probably happened: "cannot reach the shim at
//! http://127.0.0.1:8181: connection refused; is `mtls-gate-shim serve` running?" (issue 11:
//! "error sending request for url" told a newcomer nothing). The answer bodies are the shim's own types ([`crate::api::answers`],
//! [`crate::certificates::meta`], [`Session`]).

use crate::api::answers::{
    CertificateAdded, CertificateDetails, CertificateIds, CertificateRemoved, KeyAction, KeyList,
};
use crate::certificates::meta::{CertificateBasics, CertificateMeta};
use crate::secret::Secret;
use mtls_gate_core::session::Session;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::str::FromStr;

/// The admin header (Tyk's).
const ADMIN_HEADER: &str = "X-Tyk-Authorization";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad shim URL {url}: {reason}")]
    BaseUrl { url: String, reason: String },
    /// The request failed. When no connection could be made (refused, no route, a name
    /// that does not resolve) `url` is the base URL and the text asks whether the shim runs;
    /// otherwise `url` is the request's and the text is reqwest's.
    #[error("cannot reach the shim at {url}: {}", transport_failure(source))]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the shim answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the shim at {url} answered {status} with an unexpected body: {detail}")]
    UnexpectedAnswer {
        url: String,
        status: u16,
        detail: String,
    },
}

/// A shim's base URL (`http://127.0.0.1:8181`), checked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl FromStr for BaseUrl {
    type Err = ClientError;

    fn from_str(text: &str) -> Result<Self, ClientError> {
        let bad = |reason: String| ClientError::BaseUrl {
            url: text.to_owned(),
            reason,
        };
        let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
        if url.cannot_be_a_base() {
            return Err(bad("not an http(s) base URL".into()));
        }
        Ok(BaseUrl(url))
    }
}

pub struct AdminClient {
    base: Url,
    secret: Secret,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client of the shim at `base` that authenticates with `admin_secret`.
    pub fn new(base: BaseUrl, admin_secret: Secret) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: base.0.to_string(),
                source,
            })?;
        Ok(AdminClient {
            base: base.0,
            secret: admin_secret,
            http,
        })
    }

    /// `POST /tyk/certs[?org_id=]`: uploads PEM (certificate, certificate + key, chain, or
    /// public key) under `org_id` ("" for none). Returns the new certificate's ID.
    pub async fn add_certificate(&self, pem: &[u8], org_id: &str) -> Result<String, ClientError> {
        let url = self.url(&["tyk", "certs"], &org_query(org_id));
        let added: CertificateAdded = self.call(Method::POST, url, Some(pem.to_vec())).await?;
        Ok(added.id)
    }

    /// `GET /tyk/certs[?org_id=]`: certificate IDs in upload order; every org's for "".
    pub async fn certificate_ids(&self, org_id: &str) -> Result<Vec<String>, ClientError> {
        let url = self.url(&["tyk", "certs"], &org_query(org_id));
        let ids: CertificateIds = self.call(Method::GET, url, None).await?;
        Ok(ids.certs)
    }

    /// `GET /tyk/certs?mode=detailed[&org_id=]`.
    pub async fn certificate_details(
        &self,
        org_id: &str,
    ) -> Result<Vec<CertificateBasics>, ClientError> {
        let mut query = org_query(org_id);
        query.push(("mode", "detailed"));
        let url = self.url(&["tyk", "certs"], &query);
        let details: CertificateDetails = self.call(Method::GET, url, None).await?;
        Ok(details.certs)
    }

    /// `GET /tyk/certs/<id>`. A missing certificate is `Refused` with status 404.
    pub async fn certificate(&self, id: &str) -> Result<CertificateMeta, ClientError> {
        let url = self.url(&["tyk", "certs", id], &[]);
        self.call(Method::GET, url, None).await
    }

    /// `GET /tyk/certs/<id1>,<id2>,…`: one entry per ID, in order, `None` where missing.
    pub async fn certificates(
        &self,
        ids: &[&str],
    ) -> Result<Vec<Option<CertificateMeta>>, ClientError> {
        if let [id] = ids {
            // One ID is answered with the object, or 404.
            return match self.certificate(id).await {
                Ok(meta) => Ok(vec![Some(meta)]),
                Err(ClientError::Refused { status: 404, .. }) => Ok(vec![None]),
                Err(other) => Err(other),
            };
        }
        let url = self.url(&["tyk", "certs", &ids.join(",")], &[]);
        self.call(Method::GET, url, None).await
    }

    /// `DELETE /tyk/certs/<id>`: succeeds whether or not it existed. The keys bound to it stay.
    pub async fn delete_certificate(&self, id: &str) -> Result<(), ClientError> {
        let url = self.url(&["tyk", "certs", id], &[]);
        let _: CertificateRemoved = self.call(Method::DELETE, url, None).await?;
        Ok(())
    }

    /// `POST /tyk/keys/create`: the key (session) of a stored certificate. Returns the key.
    pub async fn create_key(&self, session: &Session) -> Result<String, ClientError> {
        let url = self.url(&["tyk", "keys", "create"], &[]);
        let answer: KeyAction = self
            .call(Method::POST, url, Some(session_body(session)))
            .await?;
        Ok(answer.key)
    }

    /// `GET /tyk/keys`: every key, in byte order.
    pub async fn keys(&self) -> Result<Vec<String>, ClientError> {
        let url = self.url(&["tyk", "keys"], &[]);
        let list: KeyList = self.call(Method::GET, url, None).await?;
        Ok(list.keys)
    }

    /// `GET /tyk/keys/<key>`. A missing key is `Refused` with status 404.
    pub async fn key(&self, key: &str) -> Result<Session, ClientError> {
        let url = self.url(&["tyk", "keys", key], &[]);
        self.call(Method::GET, url, None).await
    }

    /// `PUT /tyk/keys/<key>`: replaces the whole session (Tyk's PUT); for a partial change,
    /// [`AdminClient::modify_key`].
    pub async fn update_key(&self, key: &str, session: &Session) -> Result<(), ClientError> {
        let url = self.url(&["tyk", "keys", key], &[]);
        let _: KeyAction = self
            .call(Method::PUT, url, Some(session_body(session)))
            .await?;
        Ok(())
    }

    /// A partial change: `GET /tyk/keys/<key>`, `change` applied to the session, then `PUT` of
    /// the whole session, since Tyk's PUT replaces it. Returns the session as written. Not
    /// atomic: a change another writer makes between the GET and the PUT is overwritten.
    pub async fn modify_key(
        &self,
        key: &str,
        change: impl FnOnce(&mut Session),
    ) -> Result<Session, ClientError> {
        let mut session = self.key(key).await?;
        change(&mut session);
        self.update_key(key, &session).await?;
        Ok(session)
    }

    /// `DELETE /tyk/keys/<key>`.
    pub async fn delete_key(&self, key: &str) -> Result<(), ClientError> {
        let url = self.url(&["tyk", "keys", key], &[]);
        let _: KeyAction = self.call(Method::DELETE, url, None).await?;
        Ok(())
    }

    /// The base URL as a user writes it (`http://127.0.0.1:8181`, no trailing `/`).
    fn base_text(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// `base` + path segments (each percent-encoded) + query pairs.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        for (name, value) in query {
            url.query_pairs_mut().append_pair(name, value);
        }
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let mut request = self
            .http
            .request(method, url.clone())
            .header(ADMIN_HEADER, self.secret.expose());
        if let Some(body) = body {
            request = request.body(body);
        }
        let unreachable = |source| ClientError::Unreachable {
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(|source| {
            if source.is_connect() {
                ClientError::Unreachable {
                    url: self.base_text(),
                    source,
                }
            } else {
                unreachable(source)
            }
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(refusal(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::UnexpectedAnswer {
            url: url.to_string(),
            status: status.as_u16(),
            detail: e.to_string(),
        })
    }
}

/// The text of a failed request: for a connection that could not be made, why, and the
/// likely fix; otherwise reqwest's own text.
fn transport_failure(error: &reqwest::Error) -> String {
    if error.is_connect() {
        format!(
            "{}; is `mtls-gate-shim serve` running?",
            connect_failure(error)
        )
    } else {
        error.to_string()
    }
}

/// Why a connection failed, in words: "connection refused" for the usual case (nothing
/// listens), else the innermost cause (a name that does not resolve, a timeout, no route).
fn connect_failure(error: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = error;
    let mut cause = std::error::Error::source(error);
    while let Some(next) = cause {
        if let Some(io) = next.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return "connection refused".to_owned();
        }
        innermost = next;
        cause = next.source();
    }
    innermost.to_string()
}

/// An error answer: its Tyk `message`, or the whole body when it has none.
fn refusal(status: StatusCode, body: &[u8]) -> ClientError {
    let value: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    let message = value
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| value.to_string(), str::to_owned);
    ClientError::Refused {
        status: status.as_u16(),
        message,
    }
}

/// No `org_id` parameter for the empty org.
fn org_query(org_id: &str) -> Vec<(&'static str, &str)> {
    if org_id.is_empty() {
        Vec::new()
    } else {
        vec![("org_id", org_id)]
    }
}

fn session_body(session: &Session) -> Vec<u8> {
    // A session (strings, numbers, maps of them) always serializes.
    serde_json::to_vec(session).unwrap_or_default()
}
