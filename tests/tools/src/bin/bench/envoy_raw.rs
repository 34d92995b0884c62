//! The no-filter baseline: the rendered bootstrap with the wasm filter cut out, so the
//! baseline and every filter scenario differ only in that filter. Envoy itself is started
//! by `mtls_gate_e2e::Envoy::start_yaml`, like every other scenario.

use anyhow::{Context, Result, bail};

/// The rendered bootstrap without the wasm HTTP filter: in every filter chain, the lines from
/// `- name: envoy.filters.http.wasm` up to the next filter (which must be the router) are
/// dropped. Fails loudly if the rendered bootstrap no longer has that shape.
pub fn without_wasm_filter(yaml: &str) -> Result<String> {
    let mut lines: Vec<&str> = yaml.lines().collect();
    let mut removed = 0;
    while let Some(start) = lines
        .iter()
        .position(|l| l.trim() == "- name: envoy.filters.http.wasm")
    {
        let indent = lines[start].len() - lines[start].trim_start().len();
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
        lines.drain(start..end);
        removed += 1;
    }
    if removed == 0 {
        bail!("no `- name: envoy.filters.http.wasm` line in the rendered bootstrap");
    }
    let out = lines.join("\n") + "\n";
    if out.contains("envoy.filters.http.wasm") {
        bail!("a wasm filter is left in the bootstrap in a shape this does not recognise");
    }
    Ok(out)
}
