//! Plugin configuration, in three parts:
//! - [`shape`]: the JSON as written, Tyk's field names, serde defaults as named constants;
//! - [`model`]: the compiled form the request path reads ([`GateConfig`], [`ApiSpec`]);
//! - `compile`: validation from one to the other, refusing the first bad field with its
//!   JSON path ([`ConfigError`]).
//!
//! **To add a field**: declare it in `shape.rs` (with its default), carry it into the model
//! in `model.rs`, and validate or convert it in `compile.rs`.

mod compile;
mod error;
pub mod model;
pub mod shape;
pub mod unknown_fields;

pub use error::{ConfigError, ConfigErrorKind};
pub use model::{ApiSpec, DefaultAction, GateConfig, StoreLink};
pub use unknown_fields::UnknownField;

#[cfg(test)]
mod tests;
