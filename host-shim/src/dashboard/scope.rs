//! What one organisation sees and does through the Dashboard flavour (SPEC §2b): its own
//! certificates and keys, and nothing of any other org's.
//!
//! An org's IDs are exactly `org_id` + 64 lowercase hex ([`CertificateId::new`], SPEC §1),
//! and so are its keys (a key is its certificate's ID, SPEC §2 "Sessions"). The org is a plain
//! prefix and a fingerprint always has 64 characters, so an ID's length says where its org
//! ends: [`OrgScope::owns`] passes no ID of another org, whatever the two orgs spell.
//! Every operation checks the ID it is given before the store is asked, so another org's
//! certificate or key answers exactly as a missing one does, and the caller cannot even learn
//! that it exists.
//!
//! The operations are the `/tyk` ones ([`certificates`], [`sessions`]) with the org fixed;
//! their rules (uploads, key admission) are not repeated here.

use super::usage::{self, ApiUsage, UsageError};
use crate::certificates::meta::{CertificateBasics, CertificateMeta};
use crate::certificates::{self, CertificateError};
use crate::sessions::{self, KeyRules, SessionError};
use crate::store::Store;
use mtls_gate_core::fingerprint::Fingerprint;
use mtls_gate_core::ids::CertificateId;
use mtls_gate_core::session::Session;
use time::OffsetDateTime;

/// One org's view of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgScope {
    org_id: String,
}

impl OrgScope {
    /// `org_id` is not empty ([`super::OrgKeys`] refuses it): the empty org owns nothing here.
    pub fn new(org_id: impl Into<String>) -> Self {
        OrgScope {
            org_id: org_id.into(),
        }
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// Whether `id` (a certificate ID or a key) is this org's: exactly the org followed by a
    /// fingerprint in lowercase hex.
    pub fn owns(&self, id: &str) -> bool {
        if self.org_id.is_empty() {
            return false;
        }
        id.strip_prefix(self.org_id.as_str())
            .and_then(|rest| Fingerprint::parse_wire_hex(rest).ok())
            .is_some_and(|fingerprint| CertificateId::new(&self.org_id, &fingerprint) == id)
    }

    /// Uploads PEM under this org (the ID is the org + the fingerprint).
    pub fn add_certificate(
        &self,
        store: &Store,
        pem: &[u8],
        now: i64,
    ) -> Result<String, CertificateError> {
        certificates::add(store, pem, &self.org_id, now)
    }

    /// This org's certificate IDs, in upload order.
    pub fn certificate_ids(&self, store: &Store) -> Result<Vec<String>, CertificateError> {
        let mut ids = certificates::list_ids(store, &self.org_id)?;
        ids.retain(|id| self.owns(id));
        Ok(ids)
    }

    /// This org's certificates, as `GET /tyk/certs?mode=detailed` shows them.
    pub fn certificate_basics(
        &self,
        store: &Store,
    ) -> Result<Vec<CertificateBasics>, CertificateError> {
        let mut basics = certificates::list_detailed(store, &self.org_id)?;
        basics.retain(|c| self.owns(&c.id));
        Ok(basics)
    }

    /// This org's certificates, as `GET /tyk/certs/<id>` shows each.
    pub fn certificate_details(
        &self,
        store: &Store,
    ) -> Result<Vec<CertificateMeta>, CertificateError> {
        let ids = self.certificate_ids(store)?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        // A certificate deleted since it was listed is left out.
        Ok(certificates::show(store, &ids)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// One certificate, or `None` when it is missing or another org's.
    pub fn certificate(
        &self,
        store: &Store,
        id: &str,
    ) -> Result<Option<CertificateMeta>, CertificateError> {
        if !self.owns(id) {
            return Ok(None);
        }
        Ok(certificates::show(store, &[id])?
            .into_iter()
            .flatten()
            .next())
    }

    /// Deletes one certificate (its keys stay, SPEC §2 "Revocation by deletion"). False when
    /// it is missing or another org's: nothing is deleted then.
    pub fn delete_certificate(&self, store: &Store, id: &str) -> Result<bool, CertificateError> {
        if !self.owns(id) || store.certificate(id)?.is_none() {
            return Ok(false);
        }
        certificates::delete(store, id, &self.org_id)?;
        Ok(true)
    }

    /// The gate's APIs of this org that name one of its certificates (see [`usage`]);
    /// `None` when the certificate is missing or another org's.
    pub fn apis_naming(
        &self,
        store: &Store,
        id: &str,
    ) -> Result<Option<Vec<ApiUsage>>, UsageError> {
        if !self.owns(id) {
            return Ok(None);
        }
        let Some(certificate) = store.certificate(id)? else {
            return Ok(None);
        };
        usage::apis_naming(store, &self.org_id, &certificate).map(Some)
    }

    /// This org's keys, in byte order.
    pub fn keys(&self, store: &Store) -> Result<Vec<String>, SessionError> {
        let mut keys = sessions::list(store)?;
        keys.retain(|key| self.owns(key));
        Ok(keys)
    }

    /// This org's sessions with their keys, in key order (a key deleted meanwhile is left
    /// out).
    pub fn sessions(&self, store: &Store) -> Result<Vec<(String, Session)>, SessionError> {
        let mut sessions = Vec::new();
        for key in self.keys(store)? {
            match self.session(store, &key) {
                Ok(session) => sessions.push((key, session)),
                Err(SessionError::NotFound) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(sessions)
    }

    /// One session; [`SessionError::NotFound`] when it is missing or another org's.
    pub fn session(&self, store: &Store, key: &str) -> Result<Session, SessionError> {
        if !self.owns(key) {
            return Err(SessionError::NotFound);
        }
        let session = sessions::get(store, key)?;
        if session.org_id != self.org_id {
            return Err(SessionError::NotFound);
        }
        Ok(session)
    }

    /// `POST /api/keys`: [`sessions::create`] in this org. Returns the key and the session
    /// as stored.
    pub fn create_session(
        &self,
        store: &Store,
        rules: KeyRules,
        session: Session,
        now: OffsetDateTime,
    ) -> Result<(String, Session), SessionError> {
        let key = sessions::create(store, rules, self.claim(session)?, now)?;
        self.stored(store, key)
    }

    /// `POST /api/keys/<key>`: [`sessions::create_at`] in this org. Returns the key and the
    /// session as stored.
    pub fn create_session_at(
        &self,
        store: &Store,
        rules: KeyRules,
        key: &str,
        session: Session,
        now: OffsetDateTime,
    ) -> Result<(String, Session), SessionError> {
        let key = sessions::create_at(store, rules, key, self.claim(session)?, now)?;
        self.stored(store, key)
    }

    /// `POST /api/keys/preview`: [`sessions::preview`] in this org.
    pub fn preview_session(
        &self,
        store: &Store,
        rules: KeyRules,
        session: Session,
        now: OffsetDateTime,
    ) -> Result<(String, Session), SessionError> {
        sessions::preview(store, rules, self.claim(session)?, now)
    }

    /// `PUT /api/keys/<key>`: [`sessions::update`] of one of this org's keys. Returns the
    /// session as stored.
    pub fn update_session(
        &self,
        store: &Store,
        rules: KeyRules,
        key: &str,
        session: Session,
        now: OffsetDateTime,
    ) -> Result<Session, SessionError> {
        self.session(store, key)?;
        sessions::update(store, rules, key, self.claim(session)?, now)?;
        self.session(store, key)
    }

    /// `DELETE /api/keys/<key>`.
    pub fn delete_session(&self, store: &Store, key: &str) -> Result<(), SessionError> {
        self.session(store, key)?;
        sessions::delete(store, key)
    }

    /// The session just written under `key`, read back as Dashboard answers it.
    fn stored(&self, store: &Store, key: String) -> Result<(String, Session), SessionError> {
        let session = self.session(store, &key)?;
        Ok((key, session))
    }

    /// A session body as this org sends it: the org is the caller's whatever the body says
    /// (Dashboard sets a key's org to its user's), and a certificate of another org is, to
    /// this caller, one that does not exist.
    fn claim(&self, mut session: Session) -> Result<Session, SessionError> {
        session.org_id.clone_from(&self.org_id);
        if !session.certificate.is_empty() && !self.owns(&session.certificate) {
            return Err(SessionError::UnknownCertificate(session.certificate));
        }
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_owns_exactly_its_org_followed_by_a_lowercase_fingerprint() {
        let fp = Fingerprint::of_der(b"leaf").to_hex();
        let acme = OrgScope::new("acme");
        assert!(acme.owns(&format!("acme{fp}")));
        let not_acme = [
            fp.clone(),                              // the empty org's
            format!("acm{fp}"),                      // a shorter org
            format!("acme1{fp}"),                    // a longer org starting with acme
            format!("xacme{fp}"),                    // a longer org ending with acme
            format!("acme{}", fp.to_uppercase()),    // not the stored spelling
            format!("acme{}", &fp[1..]),             // 63 hex
            format!("acme{fp}0"),                    // 65 hex
            "acme".to_owned(),                       // no fingerprint
            format!("acme{}", fp.replace('a', ":")), // not hex
        ];
        for id in not_acme {
            assert!(!acme.owns(&id), "{id}");
        }
        // An org whose name is itself hex: the length still tells the org from the fingerprint.
        let hex_org = OrgScope::new("ab");
        assert!(hex_org.owns(&format!("ab{fp}")));
        assert!(!hex_org.owns(&format!("a{fp}")));
        assert!(!OrgScope::new("").owns(&fp), "the empty org owns nothing");
    }
}
