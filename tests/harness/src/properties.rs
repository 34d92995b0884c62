//! Host properties (`proxy_get_property` / `proxy_set_property`).
//!
//! The plugin sends a path as its segments, each followed by a NUL byte
//! (`connection\0mtls\0`). Tests name a path with dots (`connection.mtls`), or with
//! explicit segments when a segment itself holds a dot (`filter_state`, `my.key`).
//! Values are raw bytes in Envoy's encoding: strings as-is, bools as one byte `01`/`00`,
//! integers as 8 bytes little endian. A property nobody set is `NotFound`, as in Envoy.

use std::collections::BTreeMap;

/// A property path as its segments.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PropertyPath(Vec<String>);

impl PropertyPath {
    /// `"connection.mtls"` -> `["connection", "mtls"]`.
    pub fn dotted(path: &str) -> Self {
        PropertyPath(path.split('.').map(str::to_string).collect())
    }

    pub fn segments<S: AsRef<str>>(segments: &[S]) -> Self {
        PropertyPath(segments.iter().map(|s| s.as_ref().to_string()).collect())
    }

    /// Decodes the plugin's NUL-separated form; one trailing NUL is optional.
    pub(crate) fn from_wire(bytes: &[u8]) -> Self {
        let trimmed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        PropertyPath(
            trimmed
                .split(|b| *b == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        )
    }

    /// The dotted display form, used to count reads.
    pub fn to_dotted(&self) -> String {
        self.0.join(".")
    }
}

impl From<&str> for PropertyPath {
    fn from(path: &str) -> Self {
        PropertyPath::dotted(path)
    }
}

/// A set of property values.
#[derive(Clone, Debug, Default)]
pub(crate) struct Properties {
    values: BTreeMap<PropertyPath, Vec<u8>>,
}

impl Properties {
    pub(crate) fn set(&mut self, path: PropertyPath, value: Vec<u8>) {
        self.values.insert(path, value);
    }

    pub(crate) fn get(&self, path: &PropertyPath) -> Option<&[u8]> {
        self.values.get(path).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_paths_match_dotted_paths() {
        let wire = b"connection\0sha256_peer_certificate_digest\0";
        assert_eq!(
            PropertyPath::from_wire(wire),
            PropertyPath::dotted("connection.sha256_peer_certificate_digest")
        );
        assert_eq!(
            PropertyPath::from_wire(b"filter_state\0a.b"),
            PropertyPath::segments(&["filter_state", "a.b"])
        );
    }
}
