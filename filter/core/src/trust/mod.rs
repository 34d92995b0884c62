//! Client certificate chain verification up to the CA certificates an allow list names
//! (SPEC §3, "CA entries").
//!
//! - [`anchor`]: [`TrustAnchor`], an owned CA reduced to what verification needs, and
//!   [`TrustAnchorParts`], its wire form on the feed;
//! - [`verify`]: [`verify_client_chain`], path building and signature checks by webpki, plus
//!   what webpki leaves out (the anchor's own validity period and `pathLenConstraint`);
//! - `algorithms`: the signature algorithms webpki calls back into, over pure-Rust
//!   RustCrypto crates (no *ring*, no C toolchain: this builds for wasm32).

mod algorithms;
pub mod anchor;
pub mod verify;

pub use anchor::{AnchorError, TrustAnchor, TrustAnchorParts};
pub use verify::{ChainError, MAX_INTERMEDIATES, VerifiedChain, verify_client_chain};

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
#[cfg(not(target_arch = "wasm32"))]
mod tests;
