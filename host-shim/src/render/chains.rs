//! The TLS listener's filter chains (SPEC §8), from the handshake plan and the server
//! certificates. Envoy refuses a listener whose chains' matches overlap, so each SNI name is
//! in at most one chain, and exactly one chain (the default) has no `server_names`:
//!
//! 1. one chain per handshake-level domain (`server_names: [domain]`), presenting the first
//!    server certificate that covers the name, else the default certificate;
//! 2. one chain per server certificate for its names not already claimed (first come, first
//!    served), client certificates at the HTTP level;
//! 3. the default chain: `render --server-cert/--server-key`, else the first server
//!    certificate; client certificates at the HTTP level. It serves every other name and
//!    connections without SNI.

use super::RenderError;
use super::envoy::{ClientValidation, ServerCertificate, TlsFilterChain};
use super::handshake::{DomainPlan, Enforcement};
use super::server_certs::ServerCert;
use std::collections::HashSet;

/// The chains, default last. `default` is `--server-cert/--server-key`.
pub fn filter_chains(
    domains: &[DomainPlan],
    server_certs: &[ServerCert],
    default: Option<ServerCertificate>,
) -> Result<Vec<TlsFilterChain>, RenderError> {
    let sds = |cert: &ServerCert| ServerCertificate::Sds {
        secret: cert.secret.secret.name.clone(),
        sds_path: cert.secret.sds_path.clone(),
    };
    let default = default
        .or_else(|| server_certs.first().map(sds))
        .ok_or(RenderError::NoServerCertificate)?;
    let mut chains = Vec::new();
    let mut claimed: HashSet<String> = HashSet::new();
    for plan in domains {
        let Enforcement::Handshake(validation) = &plan.enforcement else {
            continue;
        };
        let certificate = server_certs
            .iter()
            .find(|c| c.covers(&plan.domain))
            .map(sds)
            .unwrap_or_else(|| default.clone());
        claimed.insert(plan.domain.clone());
        chains.push(TlsFilterChain {
            name: format!("handshake {}", plan.domain),
            server_names: vec![plan.domain.clone()],
            server_certificate: certificate,
            client_validation: validation.clone(),
        });
    }
    for cert in server_certs {
        let names: Vec<String> = cert
            .names
            .iter()
            .filter(|name| claimed.insert((*name).clone()))
            .cloned()
            .collect();
        if names.is_empty() {
            continue;
        }
        chains.push(TlsFilterChain {
            name: format!("server {}", cert.fingerprint),
            server_names: names,
            server_certificate: sds(cert),
            client_validation: ClientValidation::HttpLevel,
        });
    }
    chains.push(TlsFilterChain::default_chain(default));
    Ok(chains)
}
