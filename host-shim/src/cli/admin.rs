//! The `certs …` and `keys …` subcommands: the admin API of a running shim through
//! [`AdminClient`], for people who would rather not write curl. They print the API's answer
//! (pretty JSON, or one ID per line for `certs ls` and `keys ls`) and fail with its error
//! message.
//!
//! Where the API is Tyk's and unhelpful the CLI says more: `certs rm` of an ID the shim does
//! not hold fails (the API answers 200, as Tyk), a missing key is "no such key", and the
//! partial key changes (`keys update`, `deactivate`, `activate`) are read-modify-write over
//! Tyk's full-replace PUT ([`AdminClient::modify_key`]).

use super::{CertsCommand, ClientArgs, KeysCommand};
use crate::api::answers::{CertificateAdded, CertificateDetails, CertificateRemoved, KeyAction};
use crate::api::error::NO_ACCESS_RIGHTS;
use crate::client::{AdminClient, BaseUrl, ClientError};
use crate::serve::{StartError, admin_secret};
use mtls_gate_core::session::{AccessDefinition, Session};
use serde::Serialize;
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Secret(#[from] StartError),
    #[error("bad --url {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(ClientError),
    /// `keys create` without `--api` on a shim that does not allow master keys.
    #[error(
        "the shim answered 400: {message} Pass --api API_ID for each API the key may use (repeatable), or start the shim with --allow-master-keys to allow keys that open every API."
    )]
    KeyNeedsApis { message: String },
    #[error("bad --expires {0:?}: use unix seconds, RFC 3339, +<n>[smhd], or never")]
    Expires(String),
    /// `certs rm` of an ID the shim does not hold.
    #[error("no such certificate {0}; `mtls-gate-shim certs ls` lists the IDs")]
    NoSuchCertificate(String),
    /// A `keys` command on a key the shim does not hold.
    #[error("no such key {0}; `mtls-gate-shim keys ls` lists the keys")]
    NoSuchKey(String),
    #[error("certs rm takes one certificate ID, not a comma-separated list: {0}")]
    ManyIds(String),
}

impl From<ClientError> for CommandError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::BaseUrl { url, reason } => CommandError::Url { url, reason },
            other => CommandError::Client(other),
        }
    }
}

/// The client for `--url`, with the admin secret (`--secret-file` or `MTLS_GATE_SECRET`).
/// The URL is checked first, so a bad one is reported before a missing secret.
fn connect(args: &ClientArgs) -> Result<AdminClient, CommandError> {
    let base: BaseUrl = args.url.parse()?;
    let secret = admin_secret(args.secret_file.as_deref())?;
    Ok(AdminClient::new(base, secret)?)
}

/// A 404 from a `/tyk/keys/<key>` call: the key does not exist.
fn key_error(key: &str) -> impl FnOnce(ClientError) -> CommandError + '_ {
    move |error| match error {
        ClientError::Refused { status: 404, .. } => CommandError::NoSuchKey(key.to_owned()),
        other => other.into(),
    }
}

/// An `access_rights` entry for `api`, as `keys create` writes it.
fn access_to(api: &str) -> AccessDefinition {
    AccessDefinition {
        api_id: api.to_owned(),
        versions: vec!["Default".into()],
        ..AccessDefinition::default()
    }
}

/// One line of `keys ls --detailed`.
#[derive(Serialize)]
struct KeySummary {
    key: String,
    alias: String,
    certificate: String,
    /// Unix seconds; 0: never.
    expires: i64,
    is_inactive: bool,
    /// The `access_rights` API IDs; empty: every API (a master key).
    apis: Vec<String>,
}

fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("warning: cannot print the answer: {error}"),
    }
}

pub async fn certs(command: CertsCommand) -> Result<(), CommandError> {
    match command {
        CertsCommand::Add { file, org, client } => {
            let client = connect(&client)?;
            let pem =
                std::fs::read(&file).map_err(|source| CommandError::File { path: file, source })?;
            let id = client.add_certificate(&pem, &org).await?;
            print_json(&CertificateAdded::new(id));
        }
        CertsCommand::Ls {
            detailed,
            org,
            client,
        } => {
            let client = connect(&client)?;
            if detailed {
                let certs = client.certificate_details(&org).await?;
                print_json(&CertificateDetails { certs });
            } else {
                for id in client.certificate_ids(&org).await? {
                    println!("{id}");
                }
            }
        }
        CertsCommand::Show { id, client } => {
            let client = connect(&client)?;
            if id.contains(',') {
                let ids: Vec<&str> = id.split(',').collect();
                print_json(&client.certificates(&ids).await?);
            } else {
                print_json(&client.certificate(&id).await?);
            }
        }
        CertsCommand::Rm { id, client } => {
            if id.contains(',') {
                return Err(CommandError::ManyIds(id));
            }
            let client = connect(&client)?;
            // The API answers 200 for a missing ID (Tyk's); a mistyped ID must not look
            // removed while the certificate keeps working (issue 11).
            match client.certificate(&id).await {
                Ok(_) => {}
                Err(ClientError::Refused { status: 404, .. }) => {
                    return Err(CommandError::NoSuchCertificate(id));
                }
                Err(other) => return Err(other.into()),
            }
            client.delete_certificate(&id).await?;
            print_json(&CertificateRemoved::default());
        }
    }
    Ok(())
}

pub async fn keys(command: KeysCommand) -> Result<(), CommandError> {
    match command {
        KeysCommand::Create {
            certificate,
            org,
            alias,
            expires,
            apis,
            client,
        } => {
            let client = connect(&client)?;
            let expires = match expires {
                Some(text) => parse_expires(&text, OffsetDateTime::now_utc())?,
                None => 0,
            };
            let session = Session {
                // No --org: the shim gives the session its certificate's org (SPEC §2 "Sessions").
                org_id: org.unwrap_or_default(),
                certificate,
                alias,
                expires,
                access_rights: apis
                    .into_iter()
                    .map(|api| {
                        let access = access_to(&api);
                        (api, access)
                    })
                    .collect(),
                ..Session::default()
            };
            let key = client
                .create_key(&session)
                .await
                .map_err(|error| match error {
                    ClientError::Refused { message, .. } if message == NO_ACCESS_RIGHTS => {
                        CommandError::KeyNeedsApis { message }
                    }
                    other => other.into(),
                })?;
            print_json(&KeyAction::added(key));
        }
        KeysCommand::Ls { detailed, client } => {
            let client = connect(&client)?;
            let keys = client.keys().await?;
            if !detailed {
                for key in keys {
                    println!("{key}");
                }
                return Ok(());
            }
            let mut summaries = Vec::with_capacity(keys.len());
            for key in keys {
                let session = match client.key(&key).await {
                    Ok(session) => session,
                    // Deleted since the listing.
                    Err(ClientError::Refused { status: 404, .. }) => continue,
                    Err(other) => return Err(other.into()),
                };
                summaries.push(KeySummary {
                    key,
                    apis: session.access_rights.keys().cloned().collect(),
                    alias: session.alias,
                    certificate: session.certificate,
                    expires: session.expires,
                    is_inactive: session.is_inactive,
                });
            }
            print_json(&summaries);
        }
        KeysCommand::Show { key, client } => {
            let client = connect(&client)?;
            print_json(&client.key(&key).await.map_err(key_error(&key))?);
        }
        KeysCommand::Update {
            key,
            alias,
            apis,
            expires,
            meta,
            client,
        } => {
            let client = connect(&client)?;
            let expires = expires
                .map(|text| parse_expires(&text, OffsetDateTime::now_utc()))
                .transpose()?;
            client
                .modify_key(&key, |session| {
                    if let Some(alias) = alias {
                        session.alias = alias;
                    }
                    if let Some(expires) = expires {
                        session.expires = expires;
                    }
                    if !apis.is_empty() {
                        let mut current = std::mem::take(&mut session.access_rights);
                        session.access_rights = apis
                            .iter()
                            .map(|api| {
                                let access = current.remove(api).unwrap_or_else(|| access_to(api));
                                (api.clone(), access)
                            })
                            .collect();
                    }
                    for (name, value) in meta {
                        session.meta_data.insert(name, value.into());
                    }
                })
                .await
                .map_err(key_error(&key))?;
            print_json(&KeyAction::modified(key));
        }
        KeysCommand::Deactivate { key, client } => set_inactive(&client, key, true).await?,
        KeysCommand::Activate { key, client } => set_inactive(&client, key, false).await?,
        KeysCommand::Rm { key, client } => {
            let client = connect(&client)?;
            client.delete_key(&key).await.map_err(key_error(&key))?;
            print_json(&KeyAction::deleted(key));
        }
    }
    Ok(())
}

/// `keys deactivate` / `keys activate`: `is_inactive`, every other field kept.
async fn set_inactive(
    client: &ClientArgs,
    key: String,
    inactive: bool,
) -> Result<(), CommandError> {
    let client = connect(client)?;
    client
        .modify_key(&key, |session| session.is_inactive = inactive)
        .await
        .map_err(key_error(&key))?;
    print_json(&KeyAction::modified(key));
    Ok(())
}

/// `--expires`: unix seconds, RFC 3339, or `+<n>` with unit s, m, h or d from `now`.
pub fn parse_expires(text: &str, now: OffsetDateTime) -> Result<i64, CommandError> {
    let bad = || CommandError::Expires(text.to_owned());
    if text == "never" {
        return Ok(0);
    }
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
        assert_eq!(parse_expires("never", now).unwrap(), 0);
        assert_eq!(parse_expires("0", now).unwrap(), 0);
        for bad in ["", "+", "+d", "+5y", "tomorrow", "+99999999999999999d"] {
            assert!(parse_expires(bad, now).is_err(), "{bad}");
        }
    }
}
