//! The Dashboard flavour of the admin API (SPEC §2b), behind `/api/certs` and `/api/keys`:
//! Tyk Dashboard's certificate and key operations, always in the caller's organisation.
//!
//! - [`org_keys`]: `serve --org-keys FILE`, the Dashboard API keys and the org each opens.
//! - [`scope`]: what one org sees and does: the `/tyk` operations ([`crate::certificates`],
//!   [`crate::sessions`]) with the org fixed, and every other org's IDs answered as missing.
//! - [`usage`]: which of the gate's APIs name a certificate (`GET /api/certs/<id>/apis`).
//!
//! The HTTP side, with Dashboard's shapes and messages, is `crate::api::dashboard`.

pub mod org_keys;
pub mod scope;
pub mod usage;

pub use org_keys::OrgKeys;
pub use scope::OrgScope;
