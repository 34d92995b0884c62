//! Filling a store with many certificates and certificate sessions, for the 100,000-session
//! scenarios (issue 14 "scale"). The writes go through the shim's own store rules
//! (`mtls_gate_shim::store::Store`, `mtls_gate_shim::sessions::create`) — the same
//! transactions, change-log rows and checks the admin API runs — but in this process, before
//! the shim starts on that store: 200,000 admin calls would take minutes; what the admin API
//! sustains is measured separately (`scale.rs`).

use anyhow::{Context, Result};
use mtls_gate_core::session::Session;
use mtls_gate_shim::certificates::upload::admit;
use mtls_gate_shim::secret::Secret;
use mtls_gate_shim::sessions::{self, KeyRules};
use mtls_gate_shim::store::open::StoreSpec;
use mtls_gate_shim::store::{NewCertificate, Store};
use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Mints self-signed client certificates, all on one key pair (one signature each), each with
/// a distinct serial and so a distinct fingerprint. In memory only.
pub struct Mint {
    key: KeyPair,
    minted: u64,
    prefix: String,
}

impl Mint {
    pub fn new(prefix: &str) -> Result<Self> {
        Ok(Self {
            key: KeyPair::generate()?,
            minted: 0,
            prefix: prefix.to_owned(),
        })
    }

    /// The next certificate, as PEM.
    pub fn next_pem(&mut self) -> Result<String> {
        self.minted += 1;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "mtls-gate bench");
        dn.push(
            DnType::CommonName,
            format!("{}-{}", self.prefix, self.minted),
        );
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(2);
        params.serial_number = Some(rcgen::SerialNumber::from(self.minted));
        Ok(params.self_signed(&self.key)?.pem())
    }
}

/// Opens (creating) the store named like `--store` (a file or `redis://`), sealed with
/// `encoding_secret`, as the shim will open it.
pub fn open_store(store: &Path, encoding_secret: &str) -> Result<Store> {
    let secret = Secret::new(encoding_secret, "encoding secret")?;
    Ok(StoreSpec::parse(store)?.open(&secret)?)
}

/// What [`fill`] did.
pub struct Filled {
    pub certificates: usize,
    pub sessions: usize,
    pub took: Duration,
}

/// Adds `count` minted certificates to `store` under `org_id` and, when `session_api` is
/// given, a session per certificate granting that API (`certificate` = the certificate's
/// ID, as `POST /tyk/keys/create` makes it).
pub fn fill(
    store: &Store,
    count: usize,
    org_id: &str,
    session_api: Option<&str>,
) -> Result<Filled> {
    let started = Instant::now();
    let mut mint = Mint::new("bench-filler")?;
    let now = OffsetDateTime::now_utc();
    let mut sessions_added = 0;
    for i in 0..count {
        let pem = mint.next_pem()?;
        let upload = admit(&pem, org_id, now.unix_timestamp())
            .map_err(|e| anyhow::anyhow!("minted certificate {i} refused: {e}"))?;
        let id = upload.id.to_string();
        store
            .add_certificate(NewCertificate::from(upload))
            .with_context(|| format!("adding certificate {i}"))?;
        if let Some(api) = session_api {
            sessions::create(
                store,
                KeyRules::default(),
                session_for(&id, org_id, api)?,
                now,
            )
            .map_err(|e| anyhow::anyhow!("session {i}: {e}"))?;
            sessions_added += 1;
        }
    }
    Ok(Filled {
        certificates: count,
        sessions: sessions_added,
        took: started.elapsed(),
    })
}

/// A session bound to certificate `id`, granting `api` (a Tyk `access_rights` entry).
pub fn session_for(id: &str, org_id: &str, api: &str) -> Result<Session> {
    Ok(serde_json::from_value(json!({
        "org_id": org_id,
        "certificate": id,
        "access_rights": {api: {"api_id": api, "api_name": api, "versions": []}},
    }))?)
}
