//! Typos in an OAS definition (see [`crate::config::unknown_fields`] for why they matter). Every
//! key inside `x-tyk-api-gateway` is checked against Tyk's strict schema
//! (`x-tyk-api-gateway.strict.json`, which refuses unknown fields), read out of it into
//! [`super::schema_table`]: at each object, the property names the schema allows there.
//! Keys the user chooses (scheme names, operation IDs, header names) are not checked, nor
//! objects the schema leaves open. The entry's own top level is checked against OpenAPI's
//! root fields, beside which `x-` extensions are free.

use super::EXTENSION;
use super::schema_table::{NODES, ROOT};
use crate::config::unknown_fields::{UnknownField, closest};
use serde_json::{Map, Value};

/// What Tyk's schema says about an object. Indices are into [`NODES`]; an array holds
/// elements of its node.
pub(super) enum Node {
    /// These properties (sorted), each with the node of its value; `None`: nothing to check
    /// inside (a scalar, or an object the schema leaves open).
    Object(&'static [(&'static str, Option<u16>)]),
    /// Keys the user chooses; every value is of the node.
    Map(u16),
    /// The properties of any of these objects (`anyOf`).
    AnyOf(&'static [u16]),
}

/// OpenAPI's root fields (3.0 and 3.1).
const OPENAPI_ROOT: &[&str] = &[
    "openapi",
    "info",
    "jsonSchemaDialect",
    "servers",
    "paths",
    "webhooks",
    "components",
    "security",
    "tags",
    "externalDocs",
];

/// Every unknown field of one OAS `apis[]` entry; `prefix` is its path with a dot (`apis[1].`).
pub(in crate::config) fn find_unknown(
    entry: &Map<String, Value>,
    prefix: &str,
    found: &mut Vec<UnknownField>,
) {
    for name in entry.keys() {
        if !name.starts_with("x-") && !OPENAPI_ROOT.contains(&name.as_str()) {
            found.push(UnknownField {
                path: format!("{prefix}{name}"),
                suggestion: closest(name, OPENAPI_ROOT.iter().copied()),
            });
        }
    }
    if let Some(tyk) = entry.get(EXTENSION) {
        check(tyk, ROOT, &format!("{prefix}{EXTENSION}"), found);
    }
}

fn check(value: &Value, node: u16, path: &str, found: &mut Vec<UnknownField>) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(item, node, &format!("{path}[{i}]"), found);
            }
        }
        Value::Object(fields) => {
            let Some(node) = NODES.get(usize::from(node)) else {
                return;
            };
            for (name, value) in fields {
                let at = format!("{path}.{name}");
                match child(node, name) {
                    Some(Some(child)) => check(value, child, &at, found),
                    Some(None) => {}
                    None => found.push(UnknownField {
                        suggestion: closest(name, names(node)),
                        path: at,
                    }),
                }
            }
        }
        _ => {}
    }
}

/// `None`: `name` is not a property here; `Some(child)`: it is, with its value's node.
fn child(node: &Node, name: &str) -> Option<Option<u16>> {
    match node {
        Node::Object(properties) => properties
            .binary_search_by(|(property, _)| (*property).cmp(name))
            .ok()
            .and_then(|i| properties.get(i))
            .map(|(_, child)| *child),
        Node::Map(child) => Some(Some(*child)),
        Node::AnyOf(options) => options
            .iter()
            .filter_map(|i| NODES.get(usize::from(*i)))
            .find_map(|option| child(option, name)),
    }
}

/// The property names allowed in `node`, for "did you mean".
fn names(node: &Node) -> Vec<&'static str> {
    match node {
        Node::Object(properties) => properties.iter().map(|(name, _)| *name).collect(),
        Node::Map(_) => Vec::new(),
        Node::AnyOf(options) => options
            .iter()
            .filter_map(|i| NODES.get(usize::from(*i)))
            .flat_map(names)
            .collect(),
    }
}
