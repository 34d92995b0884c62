//! `GET /gate/certificates`: every certificate the gate uses, by role, with its expiry
//! status (SPEC §10, [`crate::expiry`]), for the console's expiry timeline. The admin secret
//! is required, as on `/tyk/certs` (403 without it). One row per use (certificate, role,
//! API); an empty list while the store holds no gate.
//!
//! ```json
//! {"certificates": [{"id": "acme5d41…", "cn": "pay-client", "role": "client", "api_id": "pay",
//!   "not_after": "2027-01-15T10:00:00Z", "not_after_seconds": 1800000000, "days_left": 12,
//!   "status": "expiring", "in_store": true}], "warning_threshold_days": 30}
//! ```
//! `days_left` is Tyk's whole days (negative once expired); `status` is `ok`, `expiring`
//! or `expired` by the gate's `security.certificate_expiry_monitor.warning_threshold_days`.

use super::AppState;
use super::auth::ADMIN_HEADER;
use super::error::{ApiError, INVALID_ADMIN_KEY};
use crate::expiry::events::rfc3339;
use crate::expiry::inventory::Role;
use crate::expiry::thresholds::{Status, UntilExpiry};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub struct GateCertificates {
    certificates: Vec<Row>,
    warning_threshold_days: i64,
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    cn: String,
    role: Role,
    api_id: String,
    not_after: String,
    not_after_seconds: i64,
    days_left: i64,
    status: Status,
    in_store: bool,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<GateCertificates>, ApiError> {
    // Not under `/tyk`, so `auth::guard_admin_paths` passes it: the same check here.
    let admitted = headers
        .get(ADMIN_HEADER)
        .is_some_and(|value| state.admin_secret.matches(value.as_bytes()));
    if !admitted {
        state
            .metrics
            .auth_failures
            .with_label_values(&["admin"])
            .inc();
        tracing::warn!(
            path = "/gate/certificates",
            "admin request with invalid or missing secret"
        );
        return Err(ApiError::new(StatusCode::FORBIDDEN, INVALID_ADMIN_KEY));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let snapshot = state
        .blocking(move |store| crate::expiry::snapshot(store, now))
        .await??;
    let settings = snapshot.settings;
    let certificates = snapshot
        .inventory
        .uses
        .into_iter()
        .map(|used| {
            let until = UntilExpiry::at(used.not_after, now);
            Row {
                not_after: rfc3339(used.not_after),
                not_after_seconds: used.not_after,
                days_left: until.days(),
                status: until.status(&settings),
                id: used.id,
                cn: used.cn,
                role: used.role,
                api_id: used.api_id,
                in_store: used.in_store,
            }
        })
        .collect();
    Ok(Json(GateCertificates {
        certificates,
        warning_threshold_days: settings.warning_threshold_days,
    }))
}
