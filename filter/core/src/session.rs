//! Tyk session objects, as stored and returned by the shim's `/tyk/keys` API, and the compact
//! [`SessionGrant`] the filter decides on.
//!
//! SPEC §2 "Sessions": a session has Tyk's `org_id`, `certificate`, `alias`, `expires`
//! (unix seconds, 0 = never), `is_inactive`, `access_rights`, `meta_data` and `tags`. Every
//! other Tyk field (quotas, rate limits, policies, …) is kept verbatim in `extra`, so a
//! `GET /tyk/keys/<key>` returns what was `PUT`. Tyk clients send `null` for empty lists and
//! maps; those read as empty.
//!
//! Field order follows Tyk's `SessionState` struct, so responses read like Tyk's.

use crate::fingerprint::Fingerprint;
use crate::ids::SessionKey;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A Tyk session object. Known fields are typed; all other fields live in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// Unix seconds; 0 (or negative) means the key never expires.
    #[serde(deserialize_with = "null_as_default")]
    pub expires: i64,
    /// API ID → access definition. Empty means every API (Tyk semantics for certificate sessions).
    #[serde(deserialize_with = "null_as_default")]
    pub access_rights: BTreeMap<String, AccessDefinition>,
    #[serde(deserialize_with = "null_as_default")]
    pub org_id: String,
    /// The store ID of the certificate this session is bound to.
    #[serde(deserialize_with = "null_as_default")]
    pub certificate: String,
    #[serde(deserialize_with = "null_as_default")]
    pub is_inactive: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub meta_data: Map<String, Value>,
    #[serde(deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub alias: String,
    /// Every Tyk field not typed above, preserved as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `access_rights`. Tyk's other fields (`allowed_urls`, `limit`, …) live in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessDefinition {
    #[serde(deserialize_with = "null_as_default")]
    pub api_name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub api_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub versions: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What the filter needs to decide on a certificate session: the change feed carries this,
/// never the full session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionGrant {
    /// Forwarded upstream as the caller's identity.
    pub alias: String,
    /// Unix seconds; 0 (or negative) means never.
    pub expires: i64,
    pub is_inactive: bool,
    /// The `access_rights` keys. Empty means every API.
    pub api_ids: Vec<String>,
}

impl Session {
    /// The compact view the feed carries.
    pub fn grant(&self) -> SessionGrant {
        SessionGrant {
            alias: self.alias.clone(),
            expires: self.expires,
            is_inactive: self.is_inactive,
            api_ids: self.access_rights.keys().cloned().collect(),
        }
    }

    /// SPEC §2: the key of a certificate session is `org_id` + the certificate's fingerprint.
    pub fn key_for(&self, fingerprint: &Fingerprint) -> String {
        session_key(&self.org_id, fingerprint)
    }
}

/// The key of the session for `fingerprint` under `org_id` ([`SessionKey::new`]).
pub fn session_key(org_id: &str, fingerprint: &Fingerprint) -> String {
    SessionKey::new(org_id, fingerprint).into_string()
}

impl SessionGrant {
    /// Tyk: a session with no access rights may use every API.
    pub fn allows_api(&self, api_id: &str) -> bool {
        self.api_ids.is_empty() || self.api_ids.iter().any(|id| id == api_id)
    }

    /// Tyk: `expires` > 0 and in the past.
    pub fn is_expired_at(&self, unix_seconds: i64) -> bool {
        self.expires > 0 && self.expires < unix_seconds
    }
}

/// Tyk (Go) clients write `null` for empty slices and maps.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session as Tyk's dashboard writes it: many fields mtls-gate does not use, and nulls.
    const TYK_SESSION: &str = r#"{
        "last_check": 0, "allowance": 1000, "rate": 1000, "per": 60,
        "throttle_interval": -1, "throttle_retry_limit": -1, "max_query_depth": -1,
        "date_created": "2024-01-02T03:04:05Z", "expires": 1900000000,
        "quota_max": -1, "quota_renews": 1700000000, "quota_remaining": -1, "quota_renewal_rate": -1,
        "access_rights": {
            "api-b": {"api_name": "B", "api_id": "api-b", "versions": ["Default"], "allowed_urls": [], "limit": null},
            "api-a": {"api_name": "A", "api_id": "api-a", "versions": null}
        },
        "org_id": "org1", "oauth_client_id": "", "certificate": "org1abc",
        "hmac_enabled": false, "is_inactive": false, "apply_policies": null,
        "meta_data": {"team": "payments", "n": 3}, "tags": null, "alias": "payments-client",
        "last_updated": "1700000000"
    }"#;

    #[test]
    fn tyk_session_with_unknown_fields_and_nulls_parses() {
        let session: Session = serde_json::from_str(TYK_SESSION).unwrap();
        assert_eq!(session.org_id, "org1");
        assert_eq!(session.certificate, "org1abc");
        assert_eq!(session.alias, "payments-client");
        assert_eq!(session.expires, 1_900_000_000);
        assert!(session.tags.is_empty());
        assert_eq!(
            session.access_rights["api-a"].versions,
            Vec::<String>::new()
        );
        assert_eq!(session.meta_data["team"], "payments");
        assert_eq!(session.extra["allowance"], 1000);
        assert_eq!(session.extra["apply_policies"], Value::Null);
        assert_eq!(
            session.access_rights["api-b"].extra["allowed_urls"],
            serde_json::json!([])
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let session: Session = serde_json::from_str(TYK_SESSION).unwrap();
        let written = serde_json::to_string(&session).unwrap();
        let reread: Session = serde_json::from_str(&written).unwrap();
        assert_eq!(reread, session);
        let as_value: Value = serde_json::from_str(&written).unwrap();
        for field in [
            "last_check",
            "quota_renews",
            "date_created",
            "hmac_enabled",
            "last_updated",
        ] {
            assert!(as_value.get(field).is_some(), "{field} was dropped");
        }
        assert_eq!(as_value["access_rights"]["api-b"]["limit"], Value::Null);
    }

    #[test]
    fn missing_fields_take_tyk_defaults() {
        let session: Session = serde_json::from_str(r#"{"certificate": "abc"}"#).unwrap();
        assert_eq!(session.expires, 0);
        assert!(!session.is_inactive);
        assert!(session.access_rights.is_empty());
        assert_eq!(session.org_id, "");
    }

    #[test]
    fn a_known_field_of_the_wrong_type_is_an_error() {
        assert!(serde_json::from_str::<Session>(r#"{"expires": "soon"}"#).is_err());
        assert!(serde_json::from_str::<Session>(r#"{"is_inactive": "yes"}"#).is_err());
        assert!(serde_json::from_str::<Session>(r#"{"access_rights": []}"#).is_err());
        assert!(serde_json::from_str::<Session>("[]").is_err());
    }

    #[test]
    fn grant_carries_alias_expiry_state_and_api_ids() {
        let session: Session = serde_json::from_str(TYK_SESSION).unwrap();
        assert_eq!(
            session.grant(),
            SessionGrant {
                alias: "payments-client".into(),
                expires: 1_900_000_000,
                is_inactive: false,
                api_ids: vec!["api-a".into(), "api-b".into()],
            }
        );
    }

    #[test]
    fn grant_with_no_access_rights_allows_every_api() {
        let grant = Session::default().grant();
        assert!(grant.api_ids.is_empty());
        assert!(grant.allows_api("anything"));
        let scoped = SessionGrant {
            api_ids: vec!["a".into()],
            ..SessionGrant::default()
        };
        assert!(scoped.allows_api("a"));
        assert!(!scoped.allows_api("b"));
    }

    #[test]
    fn zero_expiry_never_expires() {
        let never = SessionGrant::default();
        assert!(!never.is_expired_at(i64::MAX));
        let dated = SessionGrant {
            expires: 100,
            ..SessionGrant::default()
        };
        assert!(!dated.is_expired_at(100));
        assert!(dated.is_expired_at(101));
    }

    #[test]
    fn session_key_is_org_plus_fingerprint() {
        let fp = Fingerprint::of_der(b"");
        let session = Session {
            org_id: "org1".into(),
            ..Session::default()
        };
        assert_eq!(session.key_for(&fp), format!("org1{}", fp.to_hex()));
        assert_eq!(session_key("", &fp), fp.to_hex());
    }
}
