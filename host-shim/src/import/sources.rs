//! Which file each part of the imported gate came from, so that a refusal, a typo or an
//! inlined file is named where the user wrote it: `apps/orders.json: client_certificates[0]`
//! rather than `apis[3].client_certificates[0]`.
//!
//! The gate keeps Tyk's names and nesting (tyk.conf's settings under the same paths, each
//! API definition whole, OAS ones as OAS documents), so a gate path maps to a source path
//! by dropping the `apis[i].` that placed the definition.

/// Where the gate's parts came from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The tyk.conf, as the user named it.
    pub tyk_conf: String,
    /// Per `apis[i]`: the definition's file, as found under the user's `--apps`.
    pub apis: Vec<String>,
}

impl Sources {
    /// `FILE: path` for a JSON path of the gate (`$` for a whole file).
    pub fn locate(&self, gate_path: &str) -> String {
        if let Some(rest) = gate_path.strip_prefix("apis[")
            && let Some((index, rest)) = rest.split_once(']')
            && let Some(file) = index.parse::<usize>().ok().and_then(|i| self.apis.get(i))
        {
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            return match rest.is_empty() {
                true => file.clone(),
                false => format!("{file}: {rest}"),
            };
        }
        let top = gate_path.split(['.', '[']).next().unwrap_or_default();
        match top {
            "security" | "http_server_options" => format!("{}: {gate_path}", self.tyk_conf),
            // The `store` block is import's own: Tyk's store is the shim's.
            "store" => format!("gate (added by import): {gate_path}"),
            _ => format!("gate: {gate_path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_paths_name_the_file_and_the_path_within_it() {
        let sources = Sources {
            tyk_conf: "/etc/tyk/tyk.conf".into(),
            apis: vec!["apps/a.json".into(), "apps/b-oas.json".into()],
        };
        let cases = [
            (
                "apis[0].client_certificates[1]",
                "apps/a.json: client_certificates[1]",
            ),
            (
                "apis[1].x-tyk-api-gateway.server.clientCertificates.allowlist[0]",
                "apps/b-oas.json: x-tyk-api-gateway.server.clientCertificates.allowlist[0]",
            ),
            ("apis[1]", "apps/b-oas.json"),
            (
                "security.certificates.upstream[\"*\"]",
                "/etc/tyk/tyk.conf: security.certificates.upstream[\"*\"]",
            ),
            (
                "http_server_options.ssl_certificates[0]",
                "/etc/tyk/tyk.conf: http_server_options.ssl_certificates[0]",
            ),
            ("store.token", "gate (added by import): store.token"),
            // An index past the definitions (never made by import) stays a gate path.
            ("apis[7].api_id", "gate: apis[7].api_id"),
            ("$", "gate: $"),
        ];
        for (gate_path, expected) in cases {
            assert_eq!(sources.locate(gate_path), expected, "{gate_path}");
        }
    }
}
