//! Tyk's two certificate events and their meta (`internal/certcheck/model.go`), as one
//! structured log line each and as the JSON body a webhook gets: Tyk's default webhook
//! template for these events (`templates/default_webhook.json`), `event` and the meta fields
//! at the top level:
//!
//! ```json
//! {"event": "CertificateExpiringSoon", "message": "Certificate pay-client is expiring in 14 days and 23 hours",
//!  "cert_id": "acme5d41…", "cert_name": "pay-client", "expires_at": "2027-01-15T10:00:00Z",
//!  "days_remaining": 14, "cert_role": "client", "api_id": "pay", "timestamp": "2026-12-01T10:00:00Z"}
//! ```
//! `CertificateExpired` carries `expired_at` and `days_since_expiry` instead. As in Tyk,
//! `api_id` is left out for a global use. Nothing from a certificate but its ID, common name
//! and expiry is ever in an event.

use super::inventory::CertificateUse;
use super::thresholds::{MonitorSettings, Status, UntilExpiry};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Tyk's event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventName {
    CertificateExpiringSoon,
    CertificateExpired,
}

impl EventName {
    pub const ALL: [EventName; 2] = [
        EventName::CertificateExpiringSoon,
        EventName::CertificateExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventName::CertificateExpiringSoon => "CertificateExpiringSoon",
            EventName::CertificateExpired => "CertificateExpired",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == name)
    }
}

/// One event about one use of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateEvent {
    pub name: EventName,
    pub cert_id: String,
    pub cert_name: String,
    /// `expires_at` / `expired_at`, unix seconds.
    pub not_after: i64,
    /// `days_remaining`, or `days_since_expiry` (positive) for an expired certificate.
    pub days: i64,
    pub api_id: String,
    pub cert_role: &'static str,
    pub message: String,
    /// When it was raised, unix seconds.
    pub timestamp: i64,
}

impl CertificateEvent {
    /// The event `certificate` raises at `now`, if it is expiring or expired.
    pub fn of(certificate: &CertificateUse, settings: &MonitorSettings, now: i64) -> Option<Self> {
        let until = UntilExpiry::at(certificate.not_after, now);
        let cn = &certificate.cn;
        let (name, days, message) = match until.status(settings) {
            Status::Ok => return None,
            Status::Expiring => {
                // Tyk's composeSoonToExpireMessage.
                let (days, hours) = (until.days(), until.hours() % 24);
                let message = match (days, hours) {
                    (1.., 1..) => {
                        format!("Certificate {cn} is expiring in {days} days and {hours} hours")
                    }
                    (1.., _) => format!("Certificate {cn} is expiring in {days} days"),
                    _ => format!("Certificate {cn} is expiring in {hours} hours"),
                };
                (EventName::CertificateExpiringSoon, days, message)
            }
            Status::Expired => {
                // Tyk's composeExpiredMessage (Go's `%` truncates, as Rust's does).
                let (days, hours) = (-until.days(), -(until.hours() % 24));
                let message = match (days, hours) {
                    (1.., 1..) => {
                        format!("Certificate {cn} is expired since {days} days and {hours} hours")
                    }
                    (1.., _) => format!("Certificate {cn} is expired since {days} days"),
                    _ => format!("Certificate {cn} is expired since {hours} hours"),
                };
                (EventName::CertificateExpired, days, message)
            }
        };
        Some(CertificateEvent {
            name,
            cert_id: certificate.id.clone(),
            cert_name: certificate.cn.clone(),
            not_after: certificate.not_after,
            days,
            api_id: certificate.api_id.clone(),
            cert_role: certificate.role.as_str(),
            message,
            timestamp: now,
        })
    }

    /// Tyk's webhook body for the event (see the module docs).
    pub fn body(&self) -> Value {
        let (at, days) = match self.name {
            EventName::CertificateExpiringSoon => ("expires_at", "days_remaining"),
            EventName::CertificateExpired => ("expired_at", "days_since_expiry"),
        };
        let mut body = Map::new();
        body.insert("event".into(), self.name.as_str().into());
        body.insert("message".into(), self.message.clone().into());
        body.insert("cert_id".into(), self.cert_id.clone().into());
        body.insert("cert_name".into(), self.cert_name.clone().into());
        body.insert(at.into(), rfc3339(self.not_after).into());
        body.insert(days.into(), self.days.into());
        body.insert("cert_role".into(), self.cert_role.into());
        if !self.api_id.is_empty() {
            body.insert("api_id".into(), self.api_id.clone().into());
        }
        body.insert("timestamp".into(), rfc3339(self.timestamp).into());
        Value::Object(body)
    }

    /// The structured log line (Tyk logs these at warning level too): Tyk's message, then
    /// the meta fields.
    pub fn log(&self) {
        let at = rfc3339(self.not_after);
        match self.name {
            EventName::CertificateExpiringSoon => tracing::warn!(
                event = %self.name.as_str(),
                cert_id = %self.cert_id,
                cert_name = %self.cert_name,
                expires_at = %at,
                days_remaining = self.days,
                api_id = %self.api_id,
                cert_role = %self.cert_role,
                "{}",
                self.message
            ),
            EventName::CertificateExpired => tracing::warn!(
                event = %self.name.as_str(),
                cert_id = %self.cert_id,
                cert_name = %self.cert_name,
                expired_at = %at,
                days_since_expiry = self.days,
                api_id = %self.api_id,
                cert_role = %self.cert_role,
                "{}",
                self.message
            ),
        }
    }
}

/// Unix seconds as RFC 3339 (UTC); the epoch for a time out of range.
pub fn rfc3339(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::inventory::Role;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn used(not_after: i64, api_id: &str) -> CertificateUse {
        CertificateUse {
            id: "acme00".into(),
            cn: "pay-client".into(),
            role: Role::Client,
            api_id: api_id.into(),
            not_after,
            in_store: true,
        }
    }

    #[test]
    fn ninety_days_out_raises_nothing() {
        let settings = MonitorSettings::default();
        assert_eq!(
            CertificateEvent::of(&used(NOW + 90 * DAY, ""), &settings, NOW),
            None
        );
    }

    #[test]
    fn an_expiring_certificate_has_tyks_meta_and_message() {
        let settings = MonitorSettings::default();
        let event =
            CertificateEvent::of(&used(NOW + 15 * DAY - 3600, "pay"), &settings, NOW).unwrap();
        assert_eq!(event.name, EventName::CertificateExpiringSoon);
        assert_eq!(
            event.body(),
            json!({
                "event": "CertificateExpiringSoon",
                "message": "Certificate pay-client is expiring in 14 days and 23 hours",
                "cert_id": "acme00",
                "cert_name": "pay-client",
                "expires_at": rfc3339(NOW + 15 * DAY - 3600),
                "days_remaining": 14,
                "cert_role": "client",
                "api_id": "pay",
                "timestamp": rfc3339(NOW),
            })
        );
        let keys: Vec<String> = event.body().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys[0], "event", "the template's order");
        let hours = CertificateEvent::of(&used(NOW + 5 * 3600, ""), &settings, NOW).unwrap();
        assert_eq!(
            hours.message,
            "Certificate pay-client is expiring in 5 hours"
        );
        let whole = CertificateEvent::of(&used(NOW + 5 * DAY, ""), &settings, NOW).unwrap();
        assert_eq!(
            whole.message,
            "Certificate pay-client is expiring in 5 days"
        );
    }

    #[test]
    fn an_expired_certificate_counts_days_since_and_a_global_use_has_no_api_id() {
        let settings = MonitorSettings::default();
        let event = CertificateEvent::of(&used(NOW - DAY - 2 * 3600, ""), &settings, NOW).unwrap();
        assert_eq!(event.name, EventName::CertificateExpired);
        let body = event.body();
        assert_eq!(body["days_since_expiry"], 1);
        assert_eq!(body["expired_at"], rfc3339(NOW - DAY - 2 * 3600));
        assert_eq!(
            body["message"],
            "Certificate pay-client is expired since 1 days and 2 hours"
        );
        assert!(body.get("api_id").is_none(), "{body}");
        assert!(body.get("expires_at").is_none(), "{body}");
        let just = CertificateEvent::of(&used(NOW, ""), &settings, NOW).unwrap();
        assert_eq!(
            just.name,
            EventName::CertificateExpired,
            "expired at not_after"
        );
        assert_eq!(
            just.message,
            "Certificate pay-client is expired since 0 hours"
        );
    }

    #[test]
    fn event_names_parse_back() {
        for name in EventName::ALL {
            assert_eq!(EventName::parse(name.as_str()), Some(name));
        }
        assert_eq!(EventName::parse("AuthFailure"), None);
    }
}
