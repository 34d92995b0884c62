//! Where each field of a Classic twin came from, so a refusal of the twin names the OAS field
//! the user wrote. Paths are relative: Classic ones to the API (`client_certificates`), OAS
//! ones to the `apis[]` entry (`x-tyk-api-gateway.server.clientCertificates.allowlist`).

use super::{EXTENSION, FIELDS};

/// Where one OAS definition's Classic fields came from: the rows of [`FIELDS`], and what only
/// the definition says (a map entry's list index, the legacy scheme that turned certificate
/// auth on), which takes precedence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(Vec<(String, String)>);

impl Origins {
    pub(super) fn record(&mut self, classic: impl Into<String>, oas: impl Into<String>) {
        self.0.push((classic.into(), oas.into()));
    }

    /// The OAS path of a Classic path: that of the most specific field containing it, with the
    /// rest kept (`client_certificates[0]` →
    /// `x-tyk-api-gateway.server.clientCertificates.allowlist[0]`). `None` for a path no field
    /// of the twin contains.
    pub fn oas_path(&self, classic: &str) -> Option<String> {
        let recorded = self.0.iter().filter_map(|(field, oas)| {
            Some((field.len(), within(classic, field)?, oas.as_str(), ""))
        });
        let fixed = FIELDS.iter().filter_map(|(field, oas, ..)| {
            Some((field.len(), within(classic, field)?, *oas, EXTENSION))
        });
        // The recorded come last, and at equal specificity `max_by_key` keeps the last.
        fixed
            .chain(recorded)
            .max_by_key(|(specificity, ..)| *specificity)
            .map(|(_, rest, oas, extension)| match extension {
                "" => format!("{oas}{rest}"),
                _ => format!("{extension}.{oas}{rest}"),
            })
    }
}

/// What follows `field` in `path`, if `path` is that field or inside it.
fn within<'p>(path: &'p str, field: &str) -> Option<&'p str> {
    path.strip_prefix(field)
        .filter(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_field_names_the_path_and_the_rest_is_kept() {
        let mut origins = Origins::default();
        origins.record(r#"upstream_certificates["*.a"]"#, "u.mapping[1]");
        origins.record("auth_configs.authToken.use_certificate", "legacy");
        let mapping = "x-tyk-api-gateway.upstream.mutualTLS.domainToCertificateMapping";
        let cases = [
            (
                r#"upstream_certificates["*.a"]"#,
                Some("u.mapping[1]".to_owned()),
            ),
            (
                r#"upstream_certificates["b"]"#,
                Some(format!(r#"{mapping}["b"]"#)),
            ),
            (
                "client_certificates[3]",
                Some("x-tyk-api-gateway.server.clientCertificates.allowlist[3]".to_owned()),
            ),
            (
                "auth_configs.authToken.use_certificate",
                Some("legacy".to_owned()),
            ),
            (
                "proxy.listen_path",
                Some("x-tyk-api-gateway.server.listenPath.value".to_owned()),
            ),
            // A prefix that is not a whole field name does not count.
            ("client_certificates_x", None),
            ("auth", None),
        ];
        for (classic, oas) in cases {
            assert_eq!(origins.oas_path(classic), oas, "{classic}");
        }
    }
}
