//! Plugin configuration, in three parts:
//! - [`shape`]: the JSON as written, Tyk's field names, serde defaults as named constants;
//! - [`model`]: the compiled form the request path reads ([`GateConfig`], [`ApiSpec`]);
//! - `compile`: validation from one to the other, refusing the first bad field with its
//!   JSON path ([`ConfigError`]).
//!
//! An `apis[]` entry may also be a Tyk OAS API definition: [`oas`] reads it into the Classic
//! shape first (so every rule lives once in `compile`) and names OAS paths in refusals.
//!
//! **To add a field**: declare it in `shape.rs` (with its default), carry it into the model
//! in `model.rs`, and validate or convert it in `compile.rs`; if Tyk OAS has it, map it in
//! `oas/mod.rs` too.

mod compile;
mod document;
mod error;
pub mod model;
pub mod oas;
pub mod shape;
mod shape_reader;
pub mod unknown_fields;

pub use error::{ConfigError, ConfigErrorKind};
pub use model::{ApiSpec, DefaultAction, GateConfig, StoreLink, UpstreamTransport};
pub use unknown_fields::UnknownField;

#[cfg(test)]
mod tests;
