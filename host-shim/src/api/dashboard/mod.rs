//! Tyk Dashboard's certificate and key API (SPEC §2b), under `/api`: the Gateway API's
//! operations in the caller's organisation, with Dashboard's shapes, statuses and messages.
//!
//! [`routes`] is the route table. [`auth::guard`] runs before it for every `/api` path: it
//! finds the caller's org from its `Authorization` key (`serve --org-keys`) and hands it to the
//! handlers as [`auth::Caller`]; the org scoping itself is `crate::dashboard::OrgScope`'s.
//! Errors are Dashboard's `{"Status":"Error","Message":…,"Meta":null}` ([`error`]).

pub mod auth;
mod body;
mod certs;
pub mod error;
mod keys;
pub mod pages;

use super::AppState;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// Dashboard's routes for certificates and keys, as its published API has them.
pub fn routes() -> Router<Arc<AppState>> {
    let api = Router::new()
        .route("/certs", get(certs::list).post(certs::add))
        .route("/certs/details", get(certs::details))
        .route("/certs/{id}", get(certs::show).delete(certs::delete))
        .route("/certs/{id}/apis", get(certs::apis))
        .route("/keys", post(keys::create))
        // Tyk's certificate-auth docs name this one for Dashboard.
        .route("/keys/create", post(keys::create))
        .route("/keys/preview", post(keys::preview))
        .route("/keys/detailed", get(keys::detailed))
        .route(
            "/keys/{key}",
            get(keys::show)
                .post(keys::create_at)
                .put(keys::update)
                .delete(keys::delete),
        )
        .route("/apis/keys", get(keys::list))
        .method_not_allowed_fallback(error::method_not_supported)
        .fallback(error::not_found);
    Router::new().nest("/api", api)
}
