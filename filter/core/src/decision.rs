//! The request decision: Host and SNI checks → path → API → static allow list →
//! certificate auth → verdict.
//!
//! Pure: host data arrives through two traits, so the same pipeline runs in the filter,
//! in unit tests and in the harness. [`RequestFacts`] reads host properties lazily and
//! caches them, so the allow path costs one property read (the digest) and the deny path
//! a second one (to tell "no TLS" from "no certificate").

use crate::authority::{normalized_host, read_authority};
use crate::bytes_eq::bytes_eq;
use crate::cert_ref::CertRef;
use crate::client_trust::ClientTrust;
use crate::config::{ApiSpec, DefaultAction, GateConfig};
use crate::denial::Denial;
use crate::feed::CertIndexEntry;
use crate::fingerprint::Fingerprint;
use crate::ids::{CertificateId, SessionKey};
use crate::request_path;
use crate::session::SessionGrant;

/// What the TLS connection says about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerCertificate {
    NotTls,
    NoCertificate,
    Presented(Fingerprint),
}

/// Per-request facts from the host, each read at most once.
pub trait RequestFacts {
    fn peer_certificate(&mut self) -> PeerCertificate;
    /// TLS SNI, if the listener recorded one.
    fn sni(&mut self) -> Option<&str>;
    /// `not_after` of the presented certificate, from Envoy's own XFCC PEM (parsed once
    /// per fingerprint and cached by the implementation). `None` when unknown.
    fn peer_not_after(&mut self, fingerprint: &Fingerprint) -> Option<i64>;
    /// A request header; only read where a rule needs it (the legacy token mode).
    fn request_header(&mut self, name: &str) -> Option<String>;
    /// Does the presented certificate chain to an anchor of `trust` (SPEC §3, CA entries)?
    /// Only asked for a certificate no list names; the implementation caches the verdict.
    fn chain_trusted(
        &mut self,
        fingerprint: &Fingerprint,
        trust: &ClientTrust,
        store: &dyn StoreView,
        now: i64,
    ) -> bool;
}

/// A session as the synced cache knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    Found(SessionGrant),
    /// Known not to exist (removed by the feed, or a recent negative lookup).
    Absent,
    /// Never seen: worth one lookup callout.
    Unknown,
}

/// The synced certificate index and sessions (shared data in the filter).
pub trait StoreView {
    fn certificate(&self, id: &str) -> Option<CertIndexEntry>;
    fn session(&self, key: &str) -> SessionLookup;
    /// The session of a certificate and the certificate's own entry (SPEC §2: a certificate
    /// session's key is the certificate's store ID), read together where the store keeps
    /// them together.
    fn certificate_session(&self, id: &str) -> (SessionLookup, Option<CertIndexEntry>) {
        (self.session(id), self.certificate(id))
    }
    /// True when no sync has succeeded for longer than `max_stale_s`.
    fn is_stale(&self, now: i64) -> bool;
    /// The last feed version applied (0 without a store): changes whenever the index may have.
    fn version(&self) -> u64;
}

/// The request as the decision sees it (headers already read by the filter).
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub authority: &'a str,
    pub path: &'a str,
}

/// Who the client is, once certificate auth has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub session_key: String,
    pub alias: String,
}

/// A request that may go upstream.
#[derive(Debug, Clone)]
pub struct Admission<'a> {
    pub api: Option<&'a ApiSpec>,
    pub fingerprint: Option<Fingerprint>,
    pub identity: Option<ClientIdentity>,
}

#[derive(Debug, Clone)]
pub enum Verdict<'a> {
    Allow(Admission<'a>),
    Deny(Denial),
    /// The session for this key has never been seen; look it up once, then decide again.
    LookupSession {
        key: SessionKey,
    },
}

/// Decides one request at time `now` (unix seconds).
pub fn decide<'a>(
    config: &'a GateConfig,
    request: &RequestView<'_>,
    facts: &mut dyn RequestFacts,
    store: &dyn StoreView,
    now: i64,
) -> Verdict<'a> {
    let (host, valid_authority) = read_authority(request.authority);
    // Where some API is bound to a host, a Host the filter cannot read as `host[:port]`
    // could be read differently upstream (`x@h`, `h:1:2`, `a,b`): refuse it.
    if !config.mtls_domains.is_empty() && !valid_authority {
        return Verdict::Deny(Denial::InvalidHost);
    }
    if let Some(denial) = check_sni(config, &host, facts) {
        return Verdict::Deny(denial);
    }
    // Match on what the upstream will serve (decoded, parameters dropped); with an API that
    // needs a certificate, a path whose meaning depends on the upstream is refused.
    let path = match (request_path::canonical(request.path), config.guards_paths) {
        (Ok(path), _) => path,
        (Err(_), true) => return Verdict::Deny(Denial::PathNotNormalized),
        (Err(_), false) => request_path::best_effort(request.path),
    };
    let Some(api) = config.select_api(&host, &path) else {
        return match config.default_action {
            DefaultAction::Allow => Verdict::Allow(Admission {
                api: None,
                fingerprint: None,
                identity: None,
            }),
            DefaultAction::Deny => Verdict::Deny(Denial::NoMatchingApi),
        };
    };
    // Static mTLS runs before authentication (Tyk), and both must pass when combined.
    if api.use_mutual_tls_auth
        && let Err(denial) = check_allow_lists(config, api, facts, store, now)
    {
        return Verdict::Deny(denial);
    }
    let identity = if api.use_certificate_auth {
        match authenticate_certificate(config, api, facts, store, now) {
            Ok(identity) => Some(identity),
            Err(AuthOutcome::Deny(denial)) => return Verdict::Deny(denial),
            Err(AuthOutcome::Lookup(key)) => return Verdict::LookupSession { key },
        }
    } else {
        None
    };
    let fingerprint = match api.requires_client_certificate() {
        true => match facts.peer_certificate() {
            PeerCertificate::Presented(fp) => Some(fp),
            _ => None,
        },
        false => None,
    };
    Verdict::Allow(Admission {
        api: Some(api),
        fingerprint,
        identity,
    })
}

/// Domain fronting (SPEC §5, a deviation: Tyk has no such check). The client cert was
/// requested for the SNI's name; a different Host must not reach an mTLS API, nor may an
/// mTLS SNI be used to reach another host.
fn check_sni(config: &GateConfig, host: &str, facts: &mut dyn RequestFacts) -> Option<Denial> {
    if config.mtls_domains.is_empty() {
        return None;
    }
    let sni = normalized_host(facts.sni()?);
    // The usual request names one host twice: then no domain needs looking up.
    if sni.is_empty() || bytes_eq(sni.as_bytes(), host.as_bytes()) {
        return None;
    }
    let names_mtls_api = config.mtls_domains.contains(&sni) || config.mtls_domains.contains(host);
    names_mtls_api.then_some(Denial::DomainDoesNotMatchSni)
}

/// SPEC §3: the leaf must be in the API's list or the global list, and be neither expired
/// nor deleted from the store.
fn check_allow_lists(
    config: &GateConfig,
    api: &ApiSpec,
    facts: &mut dyn RequestFacts,
    store: &dyn StoreView,
    now: i64,
) -> Result<(), Denial> {
    let fingerprint = match facts.peer_certificate() {
        PeerCertificate::NotTls => return Err(Denial::TlsNotEnabled),
        PeerCertificate::NoCertificate => return Err(Denial::ClientTlsCertificateRequired),
        PeerCertificate::Presented(fp) => fp,
    };
    let entries = [
        api.client_certificates.get(&fingerprint),
        config.global_allow_list.get(&fingerprint),
    ];
    let mut expired = false;
    for entry in entries.into_iter().flatten() {
        let not_after = match entry {
            CertRef::StoreId { id, .. } => match store.certificate(id) {
                Some(indexed) => indexed.expiry(),
                // Deleted from the store: no longer allowed (Tyk: deleted then rejected).
                None => continue,
            },
            CertRef::Pinned { not_after, .. } => {
                not_after.or_else(|| facts.peer_not_after(&fingerprint))
            }
        };
        match not_after {
            Some(not_after) if now > not_after => expired = true,
            _ => return Ok(()),
        }
    }
    // CA entries (SPEC §3): a leaf no list names may chain to one. An expired leaf never
    // verifies, so it is "not allowed", as in Tyk.
    if !expired
        && !api.client_trust.is_empty()
        && facts.chain_trusted(&fingerprint, &api.client_trust, store, now)
    {
        return Ok(());
    }
    Err(if expired {
        Denial::CertificateExpired
    } else {
        Denial::CertificateNotAllowed(fingerprint)
    })
}

/// Tyk accepts a key bare or as `Bearer <key>`.
fn bearer_token(value: &str) -> String {
    let value = value.trim();
    match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => {
            value.get(7..).unwrap_or("").trim().to_owned()
        }
        _ => value.to_owned(),
    }
}

enum AuthOutcome {
    Deny(Denial),
    Lookup(SessionKey),
}

/// SPEC §4, in its order: expired certificate, no certificate, no session, session checks.
fn authenticate_certificate(
    config: &GateConfig,
    api: &ApiSpec,
    facts: &mut dyn RequestFacts,
    store: &dyn StoreView,
    now: i64,
) -> Result<ClientIdentity, AuthOutcome> {
    let deny = |d| Err(AuthOutcome::Deny(d));
    let fingerprint = match facts.peer_certificate() {
        PeerCertificate::Presented(fp) => fp,
        // Deviation: with no certificate a token alone never passes, even in legacy mode.
        PeerCertificate::NotTls | PeerCertificate::NoCertificate => {
            return deny(Denial::ClientCertificateRequired);
        }
    };
    // The certificate's store ID, and the key of its session (SPEC §2): the same string,
    // built as the shim builds them.
    let cert_id = CertificateId::new(&api.org_id, &fingerprint);
    // Read once, with the session: the same entry answers the expiry here and "still in the
    // store" below.
    let (certificate_session, in_store) = store.certificate_session(cert_id.as_str());
    // The ID is not read again: it becomes the key without a copy.
    let certificate_key = SessionKey::of(cert_id);
    let not_after = match &in_store {
        Some(entry) => entry.expiry(),
        None => store
            .certificate(&fingerprint.to_hex())
            .and_then(|entry| entry.expiry()),
    }
    .or_else(|| facts.peer_not_after(&fingerprint));
    if not_after.is_some_and(|not_after| now > not_after) {
        return deny(Denial::CertificateExpired);
    }
    if store.is_stale(now) {
        return deny(Denial::StoreUnavailable);
    }
    let lookup_on_miss = config.store.as_ref().is_some_and(|s| s.lookup_on_miss);
    let certificate_session = match certificate_session {
        SessionLookup::Found(grant) => grant,
        SessionLookup::Unknown if lookup_on_miss => {
            return Err(AuthOutcome::Lookup(certificate_key));
        }
        SessionLookup::Unknown | SessionLookup::Absent => return deny(Denial::NoSession),
    };
    // SPEC §2, §4: deleting a certificate keeps its keys, but they open nothing until it
    // is uploaded again (Tyk's ErrAuthCertNotFound).
    if in_store.is_none() {
        return deny(Denial::CertificateNotInStore);
    }
    check_grant(&certificate_session, api, now).map_err(AuthOutcome::Deny)?;
    // Legacy Dynamic mTLS: a token may pick the session, but only next to a certificate
    // whose own session is valid for this API (checked above; a safe deviation: Tyk takes
    // the token next to any certificate with a session).
    let token = match config.allow_unsafe_dynamic_mtls_token {
        true => facts
            .request_header(&api.auth_header_name)
            .map(|t| bearer_token(&t)),
        false => None,
    };
    let (session_key, grant) = match token {
        Some(token) if !token.is_empty() && token != certificate_key => match store.session(&token)
        {
            SessionLookup::Found(grant) => {
                check_grant(&grant, api, now).map_err(AuthOutcome::Deny)?;
                (token, grant)
            }
            _ => return deny(Denial::NoSession),
        },
        _ => (certificate_key.into_string(), certificate_session),
    };
    Ok(ClientIdentity {
        session_key,
        alias: grant.alias,
    })
}

/// SPEC §4 step 4, in Tyk's order: inactive, expired, access rights.
fn check_grant(grant: &SessionGrant, api: &ApiSpec, now: i64) -> Result<(), Denial> {
    if grant.is_inactive {
        return Err(Denial::KeyInactive);
    }
    if grant.is_expired_at(now) {
        return Err(Denial::KeyExpired);
    }
    if !grant.allows_api(&api.api_id) {
        return Err(Denial::ApiNotInAccessRights);
    }
    Ok(())
}

/// The Envoy cluster for an admitted request (SPEC §6), or `None` when the API has no
/// target (the route then decides). The chosen certificate must have a private key.
pub fn upstream_cluster<'a>(api: &'a ApiSpec, store: &dyn StoreView) -> Option<&'a str> {
    let route = api.upstream_route.as_ref()?;
    let usable = |cert: &CertRef| match cert {
        CertRef::StoreId { id, .. } => store.certificate(id).is_some_and(|entry| entry.has_private),
        CertRef::Pinned {
            has_private_key, ..
        } => *has_private_key,
    };
    Some(match &route.with_certificate {
        Some((cert, cluster)) if usable(cert) => cluster,
        _ => &route.plain,
    })
}
