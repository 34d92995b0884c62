//! mtls-gate's fuzz targets (`make fuzz`). Each binary in `fuzz_targets/` is one line that
//! calls a function here; the crates' `tests/fuzz_regressions.rs` include these files to
//! replay the committed seeds and crash inputs in `make test`.
//!
//! - [`core_targets`]: PEM, certificates, chain verification, XFCC, plugin config, the change
//!   feed, shared-data entries and lookup answers (the filter's parsers, in mtls-gate-core);
//! - [`upload`]: the shim's certificate upload path;
//! - [`replay`]: what the tests run over `seeds/` and `regressions/`.

pub mod core_targets;
pub mod replay;
pub mod upload;
