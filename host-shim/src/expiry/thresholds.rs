//! Tyk's expiry rules (`internal/certcheck`): when a certificate is expiring or expired, how
//! many days it has left, and the two cool-downs that keep a certificate from being checked,
//! or from raising its event, again and again.
//!
//! - Settings: the gate's `security.certificate_expiry_monitor` (Tyk's
//!   `CertificateExpiryMonitorConfig`). A warning threshold of 0 (or none) is Tyk's default, 30
//!   days. For the cool-downs the higher of the configured value and Tyk's default wins (SPEC
//!   §10; Tyk documents the default as a floor "to protect the system from misconfiguration").
//! - Status: expired once `not_after` is reached (`UntilExpiry <= 0`); expiring while it is
//!   within the threshold; days are whole days of whole hours, truncated (Go's
//!   `int(d.Hours()) / 24`).
//! - Cool-downs ([`Cooldowns`]): after a use of a certificate is checked it is not checked
//!   again for `check_cooldown_seconds`; after it raised an event, that use raises none for
//!   `event_cooldown_seconds`. The state is a JSON document kept in the store (a named
//!   record, `task`), so a restarted shim and the other shims of a fleet (Tyk keeps it in
//!   Redis) do not repeat an event inside its cool-down.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Tyk's `DefaultWarningThresholdDays`.
pub const DEFAULT_WARNING_THRESHOLD_DAYS: i64 = 30;
/// Tyk's `DefaultCheckCooldownSeconds`.
pub const DEFAULT_CHECK_COOLDOWN_SECONDS: i64 = 3600;
/// Tyk's `DefaultEventCooldownSeconds`.
pub const DEFAULT_EVENT_COOLDOWN_SECONDS: i64 = 86_400;

const DAY: i64 = 86_400;
const HOUR: i64 = 3600;

/// `security.certificate_expiry_monitor`, with Tyk's defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSettings {
    pub warning_threshold_days: i64,
    pub check_cooldown_seconds: i64,
    pub event_cooldown_seconds: i64,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            warning_threshold_days: DEFAULT_WARNING_THRESHOLD_DAYS,
            check_cooldown_seconds: DEFAULT_CHECK_COOLDOWN_SECONDS,
            event_cooldown_seconds: DEFAULT_EVENT_COOLDOWN_SECONDS,
        }
    }
}

impl MonitorSettings {
    /// The settings of a gate document. A field that is not a whole number is Tyk's default,
    /// and named in `warnings`.
    pub fn from_gate(gate: &Value, warnings: &mut Vec<String>) -> Self {
        let monitor = gate
            .get("security")
            .and_then(|s| s.get("certificate_expiry_monitor"));
        let mut field = |name: &str| -> Option<i64> {
            let value = monitor?.get(name)?;
            if value.is_null() {
                return None;
            }
            let number = value.as_i64();
            if number.is_none() {
                warnings.push(format!(
                    "security.certificate_expiry_monitor.{name}: {value} is not a whole number; Tyk's default applies"
                ));
            }
            number
        };
        let threshold = field("warning_threshold_days");
        let check = field("check_cooldown_seconds");
        let event = field("event_cooldown_seconds");
        MonitorSettings {
            warning_threshold_days: threshold
                .filter(|days| *days > 0)
                .unwrap_or(DEFAULT_WARNING_THRESHOLD_DAYS),
            check_cooldown_seconds: check
                .unwrap_or_default()
                .max(DEFAULT_CHECK_COOLDOWN_SECONDS),
            event_cooldown_seconds: event
                .unwrap_or_default()
                .max(DEFAULT_EVENT_COOLDOWN_SECONDS),
        }
    }
}

/// Where a certificate stands at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Expiring,
    Expired,
}

/// How long until `not_after`, seen at `now` (unix seconds), in Tyk's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UntilExpiry {
    pub seconds: i64,
}

impl UntilExpiry {
    pub fn at(not_after: i64, now: i64) -> Self {
        UntilExpiry {
            seconds: not_after.saturating_sub(now),
        }
    }

    /// Whole hours, truncated toward zero (Go's `int(d.Hours())`).
    pub fn hours(self) -> i64 {
        self.seconds / HOUR
    }

    /// Whole days of whole hours, truncated toward zero: negative once expired.
    pub fn days(self) -> i64 {
        self.hours() / 24
    }

    /// Tyk's order: expired at `UntilExpiry <= 0`, expiring within the threshold.
    pub fn status(self, settings: &MonitorSettings) -> Status {
        if self.seconds <= 0 {
            Status::Expired
        } else if self.seconds <= settings.warning_threshold_days.saturating_mul(DAY) {
            Status::Expiring
        } else {
            Status::Ok
        }
    }
}

/// The cool-downs of every use of a certificate, and the webhook deliveries already made:
/// until when (unix seconds) each key is quiet. [`Cooldowns::FOREVER`]: never again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cooldowns {
    #[serde(default)]
    pub check: BTreeMap<String, i64>,
    #[serde(default)]
    pub event: BTreeMap<String, i64>,
    /// Per webhook and event checksum: Tyk's `event_timeout` ([`super::webhook`]).
    #[serde(default)]
    pub webhook: BTreeMap<String, i64>,
}

impl Cooldowns {
    /// A webhook `event_timeout` of 0: Tyk stores the checksum without expiry.
    pub const FOREVER: i64 = i64::MAX;

    pub fn check_active(&self, key: &str, now: i64) -> bool {
        self.check.get(key).is_some_and(|until| now < *until)
    }

    pub fn event_active(&self, key: &str, now: i64) -> bool {
        self.event.get(key).is_some_and(|until| now < *until)
    }

    pub fn webhook_active(&self, key: &str, now: i64) -> bool {
        self.webhook.get(key).is_some_and(|until| now < *until)
    }

    pub fn set_check(&mut self, key: &str, now: i64, settings: &MonitorSettings) {
        self.check.insert(
            key.to_owned(),
            now.saturating_add(settings.check_cooldown_seconds),
        );
    }

    pub fn set_event(&mut self, key: &str, now: i64, settings: &MonitorSettings) {
        self.event.insert(
            key.to_owned(),
            now.saturating_add(settings.event_cooldown_seconds),
        );
    }

    /// `timeout_seconds` 0 (or less): the same event never goes to that webhook again.
    pub fn set_webhook(&mut self, key: &str, now: i64, timeout_seconds: i64) {
        let until = match timeout_seconds {
            ..=0 => Self::FOREVER,
            seconds => now.saturating_add(seconds),
        };
        self.webhook.insert(key.to_owned(), until);
    }

    /// Drops every cool-down that has ended, so the document does not grow with every
    /// certificate ever seen.
    pub fn prune(&mut self, now: i64) {
        for map in [&mut self.check, &mut self.event, &mut self.webhook] {
            map.retain(|_, until| now < *until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings_of(monitor: Value) -> (MonitorSettings, Vec<String>) {
        let mut warnings = Vec::new();
        let gate = json!({"security": {"certificate_expiry_monitor": monitor}});
        (MonitorSettings::from_gate(&gate, &mut warnings), warnings)
    }

    #[test]
    fn defaults_apply_without_a_monitor_block_and_for_zero() {
        let mut warnings = Vec::new();
        assert_eq!(
            MonitorSettings::from_gate(&json!({}), &mut warnings),
            MonitorSettings::default()
        );
        let (zero, _) = settings_of(json!({"warning_threshold_days": 0,
            "check_cooldown_seconds": 0, "event_cooldown_seconds": 0}));
        assert_eq!(zero, MonitorSettings::default());
        assert!(warnings.is_empty());
    }

    #[test]
    fn cooldowns_take_the_higher_of_configured_and_default_and_the_threshold_is_as_written() {
        let (low, _) = settings_of(json!({"warning_threshold_days": 7,
            "check_cooldown_seconds": 10, "event_cooldown_seconds": 60}));
        assert_eq!(
            low,
            MonitorSettings {
                warning_threshold_days: 7,
                check_cooldown_seconds: DEFAULT_CHECK_COOLDOWN_SECONDS,
                event_cooldown_seconds: DEFAULT_EVENT_COOLDOWN_SECONDS,
            }
        );
        let (high, _) = settings_of(json!({"warning_threshold_days": 90,
            "check_cooldown_seconds": 7200, "event_cooldown_seconds": 172_800}));
        assert_eq!(
            high,
            MonitorSettings {
                warning_threshold_days: 90,
                check_cooldown_seconds: 7200,
                event_cooldown_seconds: 172_800,
            }
        );
    }

    #[test]
    fn a_field_that_is_not_a_number_is_named_and_defaulted() {
        let (settings, warnings) = settings_of(json!({"warning_threshold_days": "7"}));
        assert_eq!(settings.warning_threshold_days, 30);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("security.certificate_expiry_monitor.warning_threshold_days"),
            "{warnings:?}"
        );
    }

    /// Tyk's `TestCertificateCheckMW_Integration_*` certificates: 90, 15 and 5 days, and
    /// expired, against the default threshold.
    #[test]
    fn status_and_days_follow_tyks_arithmetic() {
        let settings = MonitorSettings::default();
        let now = 1_800_000_000;
        let at = |seconds: i64| UntilExpiry::at(now + seconds, now);
        assert_eq!(at(90 * DAY).status(&settings), Status::Ok);
        assert_eq!(at(30 * DAY + 1).status(&settings), Status::Ok);
        assert_eq!(at(30 * DAY).status(&settings), Status::Expiring);
        assert_eq!(at(15 * DAY).status(&settings), Status::Expiring);
        assert_eq!(at(1).status(&settings), Status::Expiring);
        assert_eq!(at(0).status(&settings), Status::Expired);
        assert_eq!(at(-DAY).status(&settings), Status::Expired);
        // Whole days of whole hours, truncated toward zero either side of expiry.
        assert_eq!(at(5 * DAY - 1).days(), 4);
        assert_eq!(at(5 * DAY).days(), 5);
        assert_eq!(at(23 * HOUR + 59 * 60).days(), 0);
        assert_eq!(at(-(DAY + 5 * HOUR)).days(), -1);
        assert_eq!(at(-(DAY + 5 * HOUR)).hours(), -29);
        assert_eq!(at(-(2 * DAY) + 1).days(), -1);
    }

    #[test]
    fn a_cooldown_is_active_until_its_end_and_pruned_after() {
        let settings = MonitorSettings::default();
        let mut cooldowns = Cooldowns::default();
        let now = 1_000;
        assert!(!cooldowns.check_active("k", now));
        cooldowns.set_check("k", now, &settings);
        cooldowns.set_event("k", now, &settings);
        assert!(cooldowns.check_active("k", now + 3599));
        assert!(!cooldowns.check_active("k", now + 3600));
        assert!(cooldowns.event_active("k", now + 86_399));
        assert!(!cooldowns.event_active("k", now + 86_400));
        assert!(!cooldowns.event_active("other", now));

        cooldowns.set_webhook("once", now, 0);
        cooldowns.set_webhook("ten", now, 10);
        assert!(cooldowns.webhook_active("once", i64::MAX - 1));
        assert!(cooldowns.webhook_active("ten", now + 9));
        assert!(!cooldowns.webhook_active("ten", now + 10));

        cooldowns.prune(now + 3600);
        assert!(!cooldowns.check.contains_key("k"));
        assert!(cooldowns.event.contains_key("k"));
        assert!(!cooldowns.webhook.contains_key("ten"));
        assert!(cooldowns.webhook.contains_key("once"));
    }
}
