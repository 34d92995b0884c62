//! The anchors' bootstraps: the rendered bootstrap with the wasm filter cut out or swapped for
//! another HTTP filter (Envoy's RBAC, a dynamic module), and the TLS-level hash check, so
//! every scenario differs from the others only in that one place. Envoy itself is started by
//! `mtls_gate_e2e::Envoy::start_yaml`, like every other scenario.

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The rendered bootstrap without the wasm HTTP filter: in every filter chain, the lines from
/// `- name: envoy.filters.http.wasm` up to the next filter (which must be the router) are
/// dropped. Fails loudly if the rendered bootstrap no longer has that shape.
pub fn without_wasm_filter(yaml: &str) -> Result<String> {
    replace_wasm_filter(yaml, None)
}

/// The rendered bootstrap with the wasm HTTP filter replaced by `filter` (an HTTP filter
/// entry, `{"name": ..., "typed_config": ...}`), written as one YAML flow line (JSON is YAML)
/// at the wasm filter's indent, so no indentation of the template matters. `None` drops it.
pub fn replace_wasm_filter(yaml: &str, filter: Option<&Value>) -> Result<String> {
    let replacement = filter.map(Value::to_string);
    let mut lines: Vec<String> = yaml.lines().map(str::to_owned).collect();
    let mut replaced = 0;
    let mut from = 0;
    while let Some(start) = lines
        .iter()
        .skip(from)
        .position(|l| l.trim() == "- name: envoy.filters.http.wasm")
        .map(|p| p + from)
    {
        let line = &lines[start];
        let indent = line.len() - line.trim_start().len();
        let end = lines[start + 1..]
            .iter()
            .position(|l| {
                let i = l.len() - l.trim_start().len();
                !l.trim().is_empty() && i <= indent
            })
            .map(|p| p + start + 1)
            .context("the wasm filter is the last thing in the bootstrap")?;
        if lines[end].trim() != "- name: envoy.filters.http.router" {
            bail!(
                "expected the router right after the wasm filter, found {:?}",
                lines[end]
            );
        }
        let inserted: Vec<String> = replacement
            .iter()
            .map(|json| format!("{}- {json}", " ".repeat(indent)))
            .collect();
        from = start + inserted.len();
        lines.splice(start..end, inserted);
        replaced += 1;
    }
    if replaced == 0 {
        bail!("no `- name: envoy.filters.http.wasm` line in the rendered bootstrap");
    }
    let out = lines.join("\n") + "\n";
    if out.contains("envoy.filters.http.wasm") {
        bail!("a wasm filter is left in the bootstrap in a shape this does not recognise");
    }
    Ok(out)
}

/// The TLS-level anchor: every TLS filter chain requires a client certificate whose SHA-256 is
/// in `hashes` (Envoy's `verify_certificate_hash`, checked in the handshake), instead of the
/// `ACCEPT_UNTRUSTED` validation the filter scenarios use. A client not listed fails the
/// handshake (alert 114), so this anchor has no HTTP deny path.
pub fn with_client_cert_hashes(yaml: &str, hashes: &[String]) -> Result<String> {
    const UNTRUSTED: &str = "trust_chain_verification: ACCEPT_UNTRUSTED";
    const OPTIONAL: &str = "require_client_certificate: false";
    if !yaml.contains(UNTRUSTED) || !yaml.contains(OPTIONAL) {
        bail!("the rendered TLS listener no longer says {UNTRUSTED:?} and {OPTIONAL:?}");
    }
    let list = serde_json::to_string(hashes)?;
    Ok(yaml
        .replace(UNTRUSTED, &format!("verify_certificate_hash: {list}"))
        .replace(OPTIONAL, "require_client_certificate: true"))
}

/// The rendered bootstrap without its access log (every `access_log:` block): the template's
/// stdout log writes a line per request, a cost the same in every scenario that would only
/// dilute the differences the bench measures (and fill the Envoy log with millions of lines).
pub fn without_access_log(yaml: &str) -> Result<String> {
    let mut out = Vec::new();
    let mut skipping: Option<usize> = None;
    let mut removed = 0;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(block) = skipping {
            if line.trim().is_empty()
                || indent > block
                || line.trim_start().starts_with("- ") && indent == block
            {
                continue;
            }
            skipping = None;
        }
        if line.trim() == "access_log:" {
            skipping = Some(indent);
            removed += 1;
            continue;
        }
        out.push(line);
    }
    if removed == 0 {
        bail!("no `access_log:` block in the rendered bootstrap");
    }
    Ok(out.join("\n") + "\n")
}
