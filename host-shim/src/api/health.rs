//! `/hello` (Tyk's health check) and `/metrics` (Prometheus). Both unauthenticated.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    description: &'static str,
    details: Details,
}

#[derive(Serialize)]
struct Details {
    store: Check,
}

#[derive(Serialize)]
struct Check {
    status: &'static str,
    #[serde(rename = "componentType")]
    component_type: &'static str,
    time: String,
}

/// Tyk's shape: `{"status":"pass",…,"details":{…}}`; 503 with `"fail"` when the store is down.
pub async fn hello(State(state): State<Arc<AppState>>) -> Response {
    let store_ok = state
        .blocking(|store| store.version().is_ok())
        .await
        .unwrap_or(false);
    let status = if store_ok { "pass" } else { "fail" };
    let body = Health {
        status,
        version: env!("CARGO_PKG_VERSION"),
        description: "mtls-gate shim",
        details: Details {
            store: Check {
                status,
                component_type: "datastore",
                time: time::OffsetDateTime::now_utc()
                    .format(&Rfc3339)
                    .unwrap_or_default(),
            },
        },
    };
    let code = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    if let Ok(Ok(version)) = state.blocking(|store| store.version()).await {
        state
            .metrics
            .store_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
