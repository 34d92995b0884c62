//! End-to-end support: real Envoy, real shim, real TLS.
