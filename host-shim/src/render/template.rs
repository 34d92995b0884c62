//! The Envoy text: templates from `envoy-config/`, compiled in, and the one fill rule.
//!
//! A `{{KEY}}` is replaced by its value. A placeholder alone on its line is a block: every
//! line of the value is indented to the placeholder's column, so YAML fragments nest.
//! Filling fails on a key the template lacks and on a placeholder left unfilled, so a new
//! placeholder can never reach Envoy silently.

/// A template: its file name (for errors) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! template {
    ($ident:ident, $file:literal) => {
        pub const $ident: Template = Template {
            name: $file,
            text: include_str!(concat!("../../../envoy-config/", $file)),
        };
    };
}

template!(BOOTSTRAP, "envoy.yaml.tmpl");
template!(STATIC_RESOURCES, "static-resources.yaml.tmpl");
template!(DYNAMIC_RESOURCES, "dynamic-resources.yaml.tmpl");
template!(XDS_RESOURCES, "xds-resources.yaml.tmpl");
template!(LISTENER_TLS, "listener-tls.yaml.tmpl");
template!(LISTENER_PLAIN, "listener-plain.yaml.tmpl");
template!(FILTER_CHAIN_TLS, "filter-chain-tls.yaml.tmpl");
template!(CLIENT_VALIDATION_HTTP, "client-validation-http.yaml.tmpl");
template!(
    CLIENT_VALIDATION_HASHES,
    "client-validation-hashes.yaml.tmpl"
);
template!(CLIENT_VALIDATION_CA, "client-validation-ca.yaml.tmpl");
template!(HTTP_CONNECTION_MANAGER, "http-connection-manager.yaml.tmpl");
// The HCM's `{{GATE_FILTER}}`: one of these two. The wasm block carries no comment of its
// own (and the HCM keeps its header), because comments are rendered: without
// `--native-module` the output stays byte-for-byte what it was before the block moved out,
// so an upgraded shim rewrites no LDS file.
template!(HTTP_FILTER_WASM, "http-filter-wasm.yaml.tmpl");
template!(HTTP_FILTER_NATIVE, "http-filter-native.yaml.tmpl");
template!(ROUTE_DEFAULT_CLUSTER, "route-default-cluster.yaml.tmpl");
template!(ROUTE_DEFAULT_404, "route-default-404.yaml.tmpl");
template!(CLUSTER_PLAIN, "cluster-plain.yaml.tmpl");
template!(CLUSTER_TLS, "cluster-tls.yaml.tmpl");
template!(UPSTREAM_VALIDATION, "upstream-validation.yaml.tmpl");
template!(
    UPSTREAM_VALIDATION_SPKI,
    "upstream-validation-spki.yaml.tmpl"
);
template!(UPSTREAM_TLS_PARAMS, "upstream-tls-params.yaml.tmpl");
template!(CLIENT_CERT_NONE, "client-cert-none.yaml.tmpl");
template!(CLIENT_CERT_FILES, "client-cert-files.yaml.tmpl");
template!(CLIENT_CERT_SDS, "client-cert-sds.yaml.tmpl");
template!(SECRET, "secret.yaml.tmpl");

/// A template that cannot be filled as asked: a bug in the renderer, not in user input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{template}: no placeholder {{{{{key}}}}}")]
    UnknownKey { template: String, key: String },
    #[error("{template}: placeholder left unfilled in line: {line}")]
    Unfilled { template: String, line: String },
}

impl Template {
    /// Fills every placeholder. Comment lines (`#`) may name placeholders as documentation.
    pub fn fill(&self, values: &[(&str, &str)]) -> Result<String, TemplateError> {
        fill_text(self.name, self.text, values)
    }
}

/// [`Template::fill`] for any text (the e2e builder's tests use it directly).
pub fn fill_text(name: &str, text: &str, values: &[(&str, &str)]) -> Result<String, TemplateError> {
    for (key, _) in values {
        if !text.contains(&format!("{{{{{key}}}}}")) {
            return Err(TemplateError::UnknownKey {
                template: name.to_owned(),
                key: (*key).to_owned(),
            });
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let block = values.iter().find(|(key, _)| {
            trimmed
                .strip_prefix("{{")
                .and_then(|rest| rest.strip_prefix(*key))
                == Some("}}")
        });
        match block {
            Some((_, value)) => {
                for value_line in value.lines() {
                    if !value_line.is_empty() {
                        out.extend(std::iter::repeat_n(' ', indent));
                        out.push_str(value_line);
                    }
                    out.push('\n');
                }
            }
            None => {
                let mut filled = line.to_owned();
                for (key, value) in values {
                    filled = filled.replace(&format!("{{{{{key}}}}}"), value);
                }
                out.push_str(&filled);
                out.push('\n');
            }
        }
    }
    for line in out.lines() {
        let code = line.split('#').next().unwrap_or("");
        if let Some(start) = code.find("{{") {
            return Err(TemplateError::Unfilled {
                template: name.to_owned(),
                line: line.get(start..).unwrap_or(line).to_owned(),
            });
        }
    }
    Ok(out)
}

/// A string as a YAML double-quoted scalar (JSON string syntax is valid YAML).
pub fn yaml_string(value: &str) -> String {
    serde_json::Value::String(value.to_owned()).to_string()
}

/// Inserts `"@type": type_url` as the first key of the first list item of `block`, which
/// turns a rendered resource into an item of a file-based xDS `resources` list.
pub fn with_type_url(block: &str, type_url: &str) -> String {
    let mut out = String::with_capacity(block.len() + 100);
    let mut done = false;
    for line in block.lines() {
        if !done && let Some(rest) = line.strip_prefix("- ") {
            out.push_str(&format!("- \"@type\": {type_url}\n  {rest}\n"));
            done = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_inline_and_indents_blocks() {
        let out = fill_text(
            "t",
            "a: {{X}}\n  {{B}}\n",
            &[("X", "1"), ("B", "- b\n  c: 2")],
        )
        .unwrap();
        assert_eq!(out, "a: 1\n  - b\n    c: 2\n");
    }

    #[test]
    fn refuses_unknown_keys_and_leftovers_but_not_comments() {
        assert!(matches!(
            fill_text("t", "a", &[("X", "1")]),
            Err(TemplateError::UnknownKey { .. })
        ));
        assert!(matches!(
            fill_text("t", "{{X}} {{Y}}", &[("X", "1")]),
            Err(TemplateError::Unfilled { .. })
        ));
        assert_eq!(
            fill_text("t", "# {{Y}}\n{{X}}", &[("X", "1")]).unwrap(),
            "# {{Y}}\n1\n"
        );
    }

    #[test]
    fn type_url_goes_into_the_first_item() {
        assert_eq!(
            with_type_url("# c\n- name: a\n  x: 1\n", "T"),
            "# c\n- \"@type\": T\n  name: a\n  x: 1\n"
        );
    }
}
