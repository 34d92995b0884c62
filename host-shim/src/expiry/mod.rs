//! Certificate expiry monitoring (SPEC §10, as Tyk's `CertificateExpiringSoon` and
//! `CertificateExpired` events): `serve` watches every certificate the gate it knows uses, by
//! role, and raises Tyk's events with Tyk's thresholds and cool-downs.
//!
//! - [`inventory`]: which certificates the gate uses, by role and API.
//! - [`thresholds`]: Tyk's rules: the settings (`security.certificate_expiry_monitor`), when a
//!   certificate is expiring or expired, and the cool-downs.
//! - [`events`]: the events, their meta, log line and webhook body.
//! - [`webhook`]: the gate's `event_handlers` web hooks, and delivery.
//! - [`task`]: the background task that checks at start, on every store or gate change and
//!   every [`task::PERIOD`], and what it exports (`/metrics`).
//!
//! `GET /gate/certificates` (`api::gate_certificates`) answers the same inventory.

pub mod events;
pub mod inventory;
pub mod task;
pub mod thresholds;
pub mod webhook;

use crate::render::record;
use crate::store::{Store, StoreError};
use inventory::Inventory;
use thresholds::MonitorSettings;
use webhook::Webhook;

pub use task::spawn;

/// What the monitor reads from the store at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Whether the store holds a gate (without one, nothing is watched).
    pub gate_known: bool,
    pub inventory: Inventory,
    pub settings: MonitorSettings,
    pub webhooks: Vec<Webhook>,
}

/// The gate the shims serve (SPEC §8 "The shim knows the gate") and what it uses now.
pub fn snapshot(store: &Store, now: i64) -> Result<Snapshot, StoreError> {
    let Some(gate) = record::load_gate(store)? else {
        return Ok(Snapshot::default());
    };
    let mut inventory = inventory::of_gate(&gate, store, now)?;
    // Unreadable JSON is named by the inventory already.
    let value: serde_json::Value = serde_json::from_str(&gate.gate).unwrap_or_default();
    let settings = MonitorSettings::from_gate(&value, &mut inventory.warnings);
    let webhooks = webhook::from_gate(&value, &mut inventory.warnings);
    Ok(Snapshot {
        gate_known: true,
        inventory,
        settings,
        webhooks,
    })
}
