//! The background task of `serve` (SPEC §10): checks every certificate of the inventory
//!
//! - at start, once the store holds a gate;
//! - whenever the store or the gate changes (at once after this shim's own admin writes;
//!   within [`POLL`] for writes through other shims of a fleet, and for a new gate record);
//! - every [`PERIOD`], so a certificate crosses its threshold without anyone writing.
//!
//! A use of a certificate inside its check cool-down is not checked, and one inside its
//! event cool-down raises nothing ([`super::thresholds`]). The cool-downs are a named record
//! of the store ([`COOLDOWN_RECORD`]), updated before the events go out. Read-modify-write:
//! two shims of a fleet checking in the same instant may both raise an event, once.
//!
//! Each check also sets `mtls_gate_certificate_not_after_seconds{id,cn,role,api_id}` for
//! every use in the inventory and removes the series of uses that left it; each event is a
//! log line, `mtls_gate_certificate_events_total{event}`, and a delivery to each web hook of
//! that event ([`super::webhook`]), in the background.

use super::events::CertificateEvent;
use super::inventory::CertificateUse;
use super::thresholds::{Cooldowns, MonitorSettings};
use super::webhook::{Webhook, WebhookClient};
use super::{Snapshot, snapshot};
use crate::api::AppState;
use crate::render::record;
use crate::store::{Store, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The store's named record of the cool-downs.
pub const COOLDOWN_RECORD: &str = "expiry_cooldowns";
/// Checks run at least this often.
pub const PERIOD: Duration = Duration::from_secs(60);
/// How often the store version and gate record are read for changes made elsewhere.
pub const POLL: Duration = Duration::from_secs(1);

/// An event due now, and the web hooks it goes to.
#[derive(Debug, Clone)]
pub struct Raised {
    pub event: CertificateEvent,
    pub webhooks: Vec<Webhook>,
}

/// Tyk's check (`CertificateExpiryCheckBatcher.RunInBackground`) over every use: skipped
/// inside its check cool-down; else checked, and its check cool-down set; an expiring or
/// expired certificate raises its event unless inside its event cool-down, and goes to each
/// hook of that event unless that hook had it within its `event_timeout`.
pub fn due_events(
    uses: &[CertificateUse],
    settings: &MonitorSettings,
    webhooks: &[Webhook],
    cooldowns: &mut Cooldowns,
    now: i64,
) -> Vec<Raised> {
    let mut raised = Vec::new();
    for certificate in uses {
        let key = certificate.cooldown_key();
        if cooldowns.check_active(&key, now) {
            continue;
        }
        cooldowns.set_check(&key, now, settings);
        let Some(event) = CertificateEvent::of(certificate, settings, now) else {
            continue;
        };
        if cooldowns.event_active(&key, now) {
            continue;
        }
        cooldowns.set_event(&key, now, settings);
        let webhooks = webhooks
            .iter()
            .filter(|hook| hook.event == event.name)
            .filter(|hook| {
                let fired = hook.fired_key(&event);
                if cooldowns.webhook_active(&fired, now) {
                    return false;
                }
                cooldowns.set_webhook(&fired, now, hook.event_timeout);
                true
            })
            .cloned()
            .collect();
        raised.push(Raised { event, webhooks });
    }
    raised
}

/// Starts the monitor.
pub fn spawn(state: &Arc<AppState>) {
    let http = WebhookClient::new()
        .map_err(
            |error| tracing::error!(%error, "expiry monitor: no HTTP client; webhooks are off"),
        )
        .ok()
        .map(Arc::new);
    tokio::spawn(
        Monitor {
            state: Arc::clone(state),
            http,
            stamp: None,
            last_check: None,
            exported: BTreeSet::new(),
            warned: BTreeSet::new(),
        }
        .run(),
    );
}

/// What a check was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    version: u64,
    gate: Option<String>,
}

/// The labels of one gauge series: id, cn, role, api_id.
type Series = [String; 4];

struct Monitor {
    state: Arc<AppState>,
    http: Option<Arc<WebhookClient>>,
    stamp: Option<Stamp>,
    last_check: Option<Instant>,
    exported: BTreeSet<Series>,
    /// The inventory's warnings last logged (each is logged once, not every check).
    warned: BTreeSet<String>,
}

impl Monitor {
    async fn run(mut self) {
        let mut writes = self.state.writes.subscribe();
        writes.borrow_and_update();
        loop {
            match self.blocking(read_stamp).await {
                Ok(stamp) => {
                    let changed = self.stamp.as_ref() != Some(&stamp);
                    let period = self.last_check.is_none_or(|at| at.elapsed() >= PERIOD);
                    if changed || period {
                        self.stamp = Some(stamp);
                        self.check().await;
                    }
                }
                Err(error) => tracing::warn!(%error, "expiry monitor: cannot read the store"),
            }
            if let Ok(Err(_)) = tokio::time::timeout(POLL, writes.changed()).await {
                tokio::time::sleep(POLL).await; // no sender: poll only
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.state.store);
        tokio::task::spawn_blocking(move || call(&store))
            .await
            .map_err(|e| StoreError::Backend(format!("expiry monitor task: {e}")))?
    }

    async fn check(&mut self) {
        self.last_check = Some(Instant::now());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let checked = self
            .blocking(move |store| {
                let snapshot = snapshot(store, now)?;
                let raised = raise(store, &snapshot, now)?;
                Ok((snapshot, raised))
            })
            .await;
        let (snapshot, raised) = match checked {
            Ok(checked) => checked,
            Err(error) => {
                tracing::warn!(%error, "expiry monitor: check failed; retried on the next change");
                return;
            }
        };
        let warnings: BTreeSet<String> = snapshot.inventory.warnings.iter().cloned().collect();
        for warning in warnings.difference(&self.warned) {
            tracing::warn!(%warning, "expiry monitor");
        }
        self.warned = warnings;
        self.export(&snapshot);
        for Raised { event, webhooks } in raised {
            event.log();
            self.state
                .metrics
                .certificate_events
                .with_label_values(&[event.name.as_str()])
                .inc();
            for hook in webhooks {
                self.deliver(hook, &event);
            }
        }
    }

    /// The gauge: every use now in the inventory, and no other.
    fn export(&mut self, snapshot: &Snapshot) {
        let gauge = &self.state.metrics.certificate_not_after;
        let mut now_exported = BTreeSet::new();
        for certificate in &snapshot.inventory.uses {
            let series: Series = [
                certificate.id.clone(),
                certificate.cn.clone(),
                certificate.role.as_str().to_owned(),
                certificate.api_id.clone(),
            ];
            gauge
                .with_label_values(&series.each_ref().map(String::as_str))
                .set(certificate.not_after);
            now_exported.insert(series);
        }
        for gone in self.exported.difference(&now_exported) {
            let _ = gauge.remove_label_values(&gone.each_ref().map(String::as_str));
        }
        self.exported = now_exported;
    }

    fn deliver(&self, hook: Webhook, event: &CertificateEvent) {
        let Some(http) = self.http.as_ref().map(Arc::clone) else {
            return;
        };
        let state = Arc::clone(&self.state);
        let body = event.body().to_string();
        let name = event.name.as_str();
        let cert_id = event.cert_id.clone();
        tokio::spawn(async move {
            let outcome = match http.deliver(&hook, body).await {
                Ok(status) => {
                    tracing::info!(event = name, %cert_id, webhook = %hook.destination(), status, "webhook delivered");
                    "ok"
                }
                Err(error) => {
                    tracing::error!(event = name, %cert_id, webhook = %hook.destination(), %error, "webhook failed");
                    "failed"
                }
            };
            state
                .metrics
                .webhook_deliveries
                .with_label_values(&[name, outcome])
                .inc();
        });
    }
}

/// The events due now; the cool-downs they set are saved first.
fn raise(store: &Store, snapshot: &Snapshot, now: i64) -> Result<Vec<Raised>, StoreError> {
    let saved = store.named_record(COOLDOWN_RECORD)?;
    let mut cooldowns: Cooldowns = match saved.as_deref().map(serde_json::from_str) {
        None => Cooldowns::default(),
        Some(Ok(cooldowns)) => cooldowns,
        Some(Err(error)) => {
            tracing::warn!(%error, "expiry monitor: unreadable cool-down record; starting afresh");
            Cooldowns::default()
        }
    };
    let before = cooldowns.clone();
    let raised = due_events(
        &snapshot.inventory.uses,
        &snapshot.settings,
        &snapshot.webhooks,
        &mut cooldowns,
        now,
    );
    cooldowns.prune(now);
    if cooldowns != before {
        let json =
            serde_json::to_string(&cooldowns).map_err(|e| StoreError::Backend(e.to_string()))?;
        store.put_named_record(COOLDOWN_RECORD, &json)?;
    }
    Ok(raised)
}

fn read_stamp(store: &Store) -> Result<Stamp, StoreError> {
    Ok(Stamp {
        version: store.version()?,
        gate: store.named_record(record::GATE_RECORD)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::events::EventName;
    use crate::expiry::inventory::Role;
    use crate::expiry::webhook;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    fn used(id: &str, days: i64) -> CertificateUse {
        CertificateUse {
            id: id.into(),
            cn: id.into(),
            role: Role::Client,
            api_id: "pay".into(),
            not_after: NOW + days * DAY,
            in_store: true,
        }
    }

    fn names(raised: &[Raised]) -> Vec<(String, EventName)> {
        raised
            .iter()
            .map(|r| (r.event.cert_id.clone(), r.event.name))
            .collect()
    }

    #[test]
    fn tyks_four_certificates_raise_two_soon_and_one_expired_then_nothing_inside_the_cooldown() {
        let settings = MonitorSettings::default();
        let uses = [
            used("d90", 90),
            used("d15", 15),
            used("d5", 5),
            used("old", -1),
        ];
        let mut cooldowns = Cooldowns::default();
        let first = due_events(&uses, &settings, &[], &mut cooldowns, NOW);
        assert_eq!(
            names(&first),
            vec![
                ("d15".into(), EventName::CertificateExpiringSoon),
                ("d5".into(), EventName::CertificateExpiringSoon),
                ("old".into(), EventName::CertificateExpired),
            ]
        );
        // Inside the check cool-down: nothing, not even checked.
        let before = cooldowns.clone();
        assert!(due_events(&uses, &settings, &[], &mut cooldowns, NOW + 3599).is_empty());
        assert_eq!(cooldowns, before);
        // Checked again after an hour, but inside the event cool-down: nothing.
        assert!(due_events(&uses, &settings, &[], &mut cooldowns, NOW + 3600).is_empty());
        assert_ne!(cooldowns, before, "the check cool-downs were renewed");
        // A new use is checked at once.
        let more = [&uses[..], &[used("d10", 10)]].concat();
        assert_eq!(
            names(&due_events(
                &more,
                &settings,
                &[],
                &mut cooldowns,
                NOW + 3601
            )),
            vec![("d10".into(), EventName::CertificateExpiringSoon)]
        );
        // A day on, the same three (and the newcomer, whose cool-down began later, not yet).
        let day = due_events(&more, &settings, &[], &mut cooldowns, NOW + DAY);
        assert_eq!(names(&day).len(), 3, "{:?}", names(&day));
    }

    #[test]
    fn each_use_of_a_certificate_has_its_own_cooldown() {
        let settings = MonitorSettings::default();
        let mut upstream = used("d5", 5);
        upstream.role = Role::Upstream;
        let mut global = used("d5", 5);
        global.api_id = String::new();
        let uses = [used("d5", 5), upstream, global];
        let mut cooldowns = Cooldowns::default();
        assert_eq!(
            due_events(&uses, &settings, &[], &mut cooldowns, NOW).len(),
            3
        );
    }

    #[test]
    fn a_hook_gets_its_event_again_only_after_its_event_timeout() {
        let settings = MonitorSettings::default();
        let mut warnings = Vec::new();
        let hooks = webhook::from_gate(
            &json!({"event_handlers": {"events": {
                "CertificateExpired": [{"handler_name": "eh_web_hook_handler", "handler_meta": {
                    "target_path": "http://127.0.0.1:9/expired", "event_timeout": 2 * DAY}}],
                "CertificateExpiringSoon": [{"handler_name": "eh_web_hook_handler", "handler_meta": {
                    "target_path": "http://127.0.0.1:9/soon", "event_timeout": 0}}]}}}),
            &mut warnings,
        );
        assert_eq!(hooks.len(), 2);
        let uses = [used("d5", 5), used("old", -1)];
        let mut cooldowns = Cooldowns::default();
        let hooked = |raised: Vec<Raised>| -> Vec<(String, usize)> {
            raised
                .into_iter()
                .map(|r| (r.event.cert_id, r.webhooks.len()))
                .collect()
        };
        let first = due_events(&uses, &settings, &hooks, &mut cooldowns, NOW);
        assert_eq!(hooked(first), vec![("d5".into(), 1), ("old".into(), 1)]);
        // After the event cool-down both events are raised again; the expired one's hook
        // is still inside its own two days, and the other's (0) never fires again.
        let next = due_events(&uses, &settings, &hooks, &mut cooldowns, NOW + DAY);
        assert_eq!(hooked(next), vec![("d5".into(), 0), ("old".into(), 0)]);
        let later = due_events(&uses, &settings, &hooks, &mut cooldowns, NOW + 2 * DAY);
        assert_eq!(hooked(later), vec![("d5".into(), 0), ("old".into(), 1)]);
    }
}
