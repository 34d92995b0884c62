//! Header maps with Envoy's semantics, and the proxy-wasm wire format for them.
//!
//! Envoy header names are lower case (`Http::LowerCaseString`) and a name may repeat.
//! The wire format (proxy-wasm-cpp-host `exports.cc`, the SDK's `utils::serialize_map`):
//! `u32 count`, then `count` pairs of `(u32 key_len, u32 value_len)`, then every key and
//! value in order, each followed by a NUL byte. All integers little endian.

use std::fmt;

/// An ordered multimap of lower-case header names to values, as Envoy keeps it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    entries: Vec<(String, Vec<u8>)>,
}

impl HeaderMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_pairs<K: AsRef<str>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Self {
        let mut map = Self::new();
        for (k, v) in pairs {
            map.add(k.as_ref(), v.as_ref());
        }
        map
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first value for `name` (Envoy's `getHeaderMapValue` returns the first entry).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Appends an entry (Envoy `addCopy`).
    pub fn add(&mut self, name: &str, value: &[u8]) {
        self.entries
            .push((name.to_ascii_lowercase(), value.to_vec()));
    }

    /// Sets `name` to exactly one value (Envoy `setCopy`): the first entry keeps its
    /// position and takes the value, later entries of that name go; a new name is appended.
    pub fn replace(&mut self, name: &str, value: &[u8]) {
        let name = name.to_ascii_lowercase();
        match self.entries.iter().position(|(k, _)| *k == name) {
            Some(first) => {
                let mut index = 0;
                self.entries.retain(|(k, _)| {
                    let keep = index <= first || *k != name;
                    index += 1;
                    keep
                });
                if let Some(entry) = self.entries.get_mut(first) {
                    entry.1 = value.to_vec();
                }
            }
            None => self.entries.push((name, value.to_vec())),
        }
    }

    /// Removes every entry of `name`; removing an absent name is not an error.
    pub fn remove(&mut self, name: &str) {
        let name = name.to_ascii_lowercase();
        self.entries.retain(|(k, _)| *k != name);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The entries as strings (values decoded lossily; header values are ASCII in practice).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    /// Serializes in the proxy-wasm map format.
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&len_u32(self.entries.len()).to_le_bytes());
        for (k, v) in &self.entries {
            out.extend_from_slice(&len_u32(k.len()).to_le_bytes());
            out.extend_from_slice(&len_u32(v.len()).to_le_bytes());
        }
        for (k, v) in &self.entries {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v);
            out.push(0);
        }
        out
    }

    /// Parses the proxy-wasm map format, as the host does for `proxy_set_header_map_pairs`,
    /// `proxy_send_local_response` and `proxy_http_call`. An empty buffer is an empty map.
    pub fn deserialize(bytes: &[u8]) -> Result<HeaderMap, MapFormatError> {
        if bytes.is_empty() {
            return Ok(HeaderMap::new());
        }
        let mut reader = Reader { bytes, at: 0 };
        let count = reader.u32()? as usize;
        // Each pair needs at least 8 bytes of sizes and 2 NULs: refuse absurd counts early.
        if count > bytes.len() / 10 + 1 {
            return Err(MapFormatError("pair count exceeds the buffer"));
        }
        let mut sizes = Vec::with_capacity(count);
        for _ in 0..count {
            sizes.push((reader.u32()? as usize, reader.u32()? as usize));
        }
        let mut map = HeaderMap::new();
        for (key_len, value_len) in sizes {
            let key = reader.take(key_len)?;
            reader.nul()?;
            let value = reader.take(value_len)?;
            reader.nul()?;
            let key =
                std::str::from_utf8(key).map_err(|_| MapFormatError("header name is not UTF-8"))?;
            map.add(key, value);
        }
        Ok(map)
    }
}

impl fmt::Debug for HeaderMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_pairs()).finish()
    }
}

fn len_u32(len: usize) -> u32 {
    // Lengths come from wasm32 memory or test data; both fit.
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A malformed serialized header map from the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapFormatError(pub &'static str);

impl fmt::Display for MapFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed header map: {}", self.0)
    }
}

impl std::error::Error for MapFormatError {}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MapFormatError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(MapFormatError("size overflow"))?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(MapFormatError("truncated"))?;
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, MapFormatError> {
        let raw = self.take(4)?;
        let raw: [u8; 4] = raw.try_into().map_err(|_| MapFormatError("truncated"))?;
        Ok(u32::from_le_bytes(raw))
    }

    fn nul(&mut self) -> Result<(), MapFormatError> {
        match self.take(1)? {
            [0] => Ok(()),
            _ => Err(MapFormatError("missing NUL terminator")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_matches_the_sdk_layout() {
        let map = HeaderMap::from_pairs(&[(":path", "/x"), ("A", "")]);
        let expected: Vec<u8> = [
            &2u32.to_le_bytes()[..],
            &5u32.to_le_bytes(),
            &2u32.to_le_bytes(),
            &1u32.to_le_bytes(),
            &0u32.to_le_bytes(),
            b":path\0/x\0a\0\0",
        ]
        .concat();
        assert_eq!(map.serialize(), expected);
        assert_eq!(HeaderMap::deserialize(&expected), Ok(map));
    }

    #[test]
    fn truncated_or_unterminated_maps_are_refused() {
        let good = HeaderMap::from_pairs(&[("k", "v")]).serialize();
        assert!(HeaderMap::deserialize(&good[..good.len() - 1]).is_err());
        let mut no_nul = good.clone();
        let last = no_nul.len() - 1;
        no_nul[last] = b'x';
        assert!(HeaderMap::deserialize(&no_nul).is_err());
        assert!(HeaderMap::deserialize(&u32::MAX.to_le_bytes()).is_err());
    }

    #[test]
    fn replace_keeps_the_first_position_and_drops_duplicates() {
        let mut map = HeaderMap::from_pairs(&[("a", "1"), ("b", "2"), ("a", "3")]);
        map.replace("A", b"new");
        assert_eq!(
            map.to_pairs(),
            vec![("a".into(), "new".into()), ("b".into(), "2".into())]
        );
        map.replace("c", b"4");
        assert_eq!(map.get("C"), Some(&b"4"[..]));
        map.remove("a");
        assert_eq!(map.get("a"), None);
    }
}
