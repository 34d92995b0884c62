//! The client subcommands (`certs …`, `keys …`): thin wrappers over the admin API of a
//! running shim, for people who would rather not write curl. They print what the API answers
//! (pretty JSON, or one ID per line for `certs ls`) and fail with its error message.

use crate::api::error::NO_ACCESS_RIGHTS;
use crate::cli::{CertsCommand, ClientArgs, KeysCommand};
use crate::serve::admin_secret;
use reqwest::{Method, Url};
use serde_json::{Value, json};
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Secret(#[from] crate::serve::StartError),
    #[error("bad --url {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot reach the shim at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the shim answered {status}: {message}")]
    Refused { status: u16, message: String },
    /// `keys create` without `--api` on a shim that does not allow master keys.
    #[error(
        "the shim answered 400: {message} Pass --api API_ID for each API the key may use (repeatable), or start the shim with --allow-master-keys to allow keys that open every API."
    )]
    KeyNeedsApis { message: String },
    #[error("bad --expires {0:?}: use unix seconds, RFC 3339, or +<n>[smhd]")]
    Expires(String),
}

struct AdminClient {
    base: Url,
    secret: crate::secret::Secret,
    http: reqwest::Client,
}

impl AdminClient {
    fn new(args: &ClientArgs) -> Result<Self, ClientError> {
        let base = Url::parse(&args.url).map_err(|e| ClientError::Url {
            url: args.url.clone(),
            reason: e.to_string(),
        })?;
        if base.cannot_be_a_base() {
            return Err(ClientError::Url {
                url: args.url.clone(),
                reason: "not an http(s) base URL".into(),
            });
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: args.url.clone(),
                source,
            })?;
        Ok(AdminClient {
            base,
            secret: admin_secret(args.secret_file.as_deref())?,
            http,
        })
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

    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Value, ClientError> {
        let mut request = self
            .http
            .request(method, url.clone())
            .header("X-Tyk-Authorization", self.secret.expose());
        if let Some(body) = body {
            request = request.body(body);
        }
        let unreachable = |source| ClientError::Unreachable {
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if status.is_success() {
            Ok(value)
        } else {
            let message = value
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| value.to_string(), str::to_owned);
            Err(ClientError::Refused {
                status: status.as_u16(),
                message,
            })
        }
    }
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

pub async fn certs(command: CertsCommand) -> Result<(), ClientError> {
    match command {
        CertsCommand::Add { file, org, client } => {
            let client = AdminClient::new(&client)?;
            let pem =
                std::fs::read(&file).map_err(|source| ClientError::File { path: file, source })?;
            let url = client.url(&["tyk", "certs"], &org_query(&org));
            print_json(&client.call(Method::POST, url, Some(pem)).await?);
        }
        CertsCommand::Ls {
            detailed,
            org,
            client,
        } => {
            let client = AdminClient::new(&client)?;
            let mut query = org_query(&org);
            if detailed {
                query.push(("mode", "detailed"));
            }
            let answer = client
                .call(Method::GET, client.url(&["tyk", "certs"], &query), None)
                .await?;
            match answer.get("certs").and_then(Value::as_array) {
                Some(ids) if !detailed => ids
                    .iter()
                    .filter_map(Value::as_str)
                    .for_each(|id| println!("{id}")),
                _ => print_json(&answer),
            }
        }
        CertsCommand::Show { id, client } => {
            let client = AdminClient::new(&client)?;
            let url = client.url(&["tyk", "certs", &id], &[]);
            print_json(&client.call(Method::GET, url, None).await?);
        }
        CertsCommand::Rm { id, client } => {
            let client = AdminClient::new(&client)?;
            let url = client.url(&["tyk", "certs", &id], &[]);
            print_json(&client.call(Method::DELETE, url, None).await?);
        }
    }
    Ok(())
}

fn org_query(org: &str) -> Vec<(&'static str, &str)> {
    if org.is_empty() {
        Vec::new()
    } else {
        vec![("org_id", org)]
    }
}

pub async fn keys(command: KeysCommand) -> Result<(), ClientError> {
    match command {
        KeysCommand::Create {
            certificate,
            org,
            alias,
            expires,
            apis,
            client,
        } => {
            let client = AdminClient::new(&client)?;
            let expires = match expires {
                Some(text) => parse_expires(&text, OffsetDateTime::now_utc())?,
                None => 0,
            };
            // No --org: the shim gives the session its certificate's org (SPEC §2 "Sessions").
            let org = org.unwrap_or_default();
            let access_rights: serde_json::Map<String, Value> = apis
                .iter()
                .map(|api| {
                    (
                        api.clone(),
                        json!({"api_name": "", "api_id": api, "versions": ["Default"]}),
                    )
                })
                .collect();
            let session = json!({
                "org_id": org,
                "certificate": certificate,
                "alias": alias,
                "expires": expires,
                "access_rights": access_rights,
            });
            let url = client.url(&["tyk", "keys", "create"], &[]);
            let answer = client
                .call(Method::POST, url, Some(session.to_string().into_bytes()))
                .await
                .map_err(|error| match error {
                    ClientError::Refused { message, .. } if message == NO_ACCESS_RIGHTS => {
                        ClientError::KeyNeedsApis { message }
                    }
                    other => other,
                })?;
            print_json(&answer);
        }
        KeysCommand::Show { key, client } => {
            let client = AdminClient::new(&client)?;
            let url = client.url(&["tyk", "keys", &key], &[]);
            print_json(&client.call(Method::GET, url, None).await?);
        }
        KeysCommand::Rm { key, client } => {
            let client = AdminClient::new(&client)?;
            let url = client.url(&["tyk", "keys", &key], &[]);
            print_json(&client.call(Method::DELETE, url, None).await?);
        }
    }
    Ok(())
}

/// `--expires`: unix seconds, RFC 3339, or `+<n>` with unit s, m, h or d from `now`.
pub fn parse_expires(text: &str, now: OffsetDateTime) -> Result<i64, ClientError> {
    let bad = || ClientError::Expires(text.to_owned());
    if let Some(relative) = text.strip_prefix('+') {
        let split = relative.len().checked_sub(1).ok_or_else(bad)?;
        let (count, unit) = relative.split_at_checked(split).ok_or_else(bad)?;
        let count: i64 = count.parse().map_err(|_| bad())?;
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        return count
            .checked_mul(seconds)
            .and_then(|delta| now.unix_timestamp().checked_add(delta))
            .ok_or_else(bad);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|at| at.unix_timestamp())
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::parse_expires;
    use time::OffsetDateTime;

    #[test]
    fn expires_accepts_unix_rfc3339_and_relative() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        assert_eq!(parse_expires("1900000000", now).unwrap(), 1_900_000_000);
        assert_eq!(
            parse_expires("2030-01-01T00:00:00Z", now).unwrap(),
            1_893_456_000
        );
        assert_eq!(parse_expires("+2d", now).unwrap(), 1_000_000 + 172_800);
        assert_eq!(parse_expires("+90m", now).unwrap(), 1_000_000 + 5_400);
        for bad in ["", "+", "+d", "+5y", "tomorrow", "+99999999999999999d"] {
            assert!(parse_expires(bad, now).is_err(), "{bad}");
        }
    }
}
