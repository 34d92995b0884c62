//! A header map as proxy-wasm serializes it (ABI 0.2.1, `proxy_get_header_map_pairs`), read
//! in place: one buffer per request instead of an allocation per header name and value.
//! Measured on the static allow path: the SDK's per-header copies were a third of the
//! filter's own wasm instructions.
//!
//! The layout: the number of pairs `n` (u32, little-endian), then `n` pairs of lengths
//! (name, value; u32 each), then each name and each value in order, each followed by a NUL.

use crate::bytes_eq::bytes_eq;
use std::ops::Range;

/// Header pairs over one buffer. Names and values are bytes as the host holds them; the
/// caller decides what invalid UTF-8 means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    bytes: Vec<u8>,
    /// Each pair's name and value, as ranges of `bytes`, in the host's order.
    pairs: Vec<(Range<usize>, Range<usize>)>,
}

impl HeaderMap {
    /// Reads proxy-wasm's serialization. `None` when the buffer is not one: a length that
    /// runs past the end, or a missing NUL (never from Envoy; a host bug is not trusted).
    /// An empty buffer is an empty map.
    pub fn parse(bytes: Vec<u8>) -> Option<HeaderMap> {
        if bytes.is_empty() {
            return Some(HeaderMap::default());
        }
        let u32_at = |at: usize| -> Option<usize> {
            let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
            usize::try_from(u32::from_le_bytes(word)).ok()
        };
        let count = u32_at(0)?;
        let mut data = count.checked_mul(8)?.checked_add(4)?;
        if data > bytes.len() {
            return None;
        }
        let mut pairs = Vec::with_capacity(count);
        for n in 0..count {
            let lengths = 4 + n * 8;
            let mut field = |len: usize| -> Option<Range<usize>> {
                let end = data.checked_add(len)?;
                if bytes.get(end) != Some(&0) {
                    return None;
                }
                let range = data..end;
                data = end + 1;
                Some(range)
            };
            let name = field(u32_at(lengths)?)?;
            let value = field(u32_at(lengths + 4)?)?;
            pairs.push((name, value));
        }
        Some(HeaderMap { bytes, pairs })
    }

    /// A map of `pairs`, for hosts that hold them apart (tests, hosts without the call).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> HeaderMap {
        let mut map = HeaderMap::default();
        for (name, value) in pairs {
            let name = map.append(name.as_bytes());
            let value = map.append(value);
            map.pairs.push((name, value));
        }
        map
    }

    fn append(&mut self, field: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(field);
        start..self.bytes.len()
    }

    /// The pairs, in the host's order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(name, value)| {
            (
                self.bytes.get(name.clone()).unwrap_or_default(),
                self.bytes.get(value.clone()).unwrap_or_default(),
            )
        })
    }

    /// The first value of `name` (exact bytes: the host's names are lower-case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let (_, value) = self
            .pairs
            .iter()
            .find(|(n, _)| is_named(&self.bytes, n, name))?;
        self.bytes.get(value.clone())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Drops every pair named `name`.
    pub fn remove(&mut self, name: &str) {
        let bytes = &self.bytes;
        self.pairs.retain(|(n, _)| !is_named(bytes, n, name));
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Is the name at `range` of `bytes` exactly `name`? Lengths first: most names differ in
/// length, and then no bytes are compared.
fn is_named(bytes: &[u8], range: &Range<usize>, name: &str) -> bool {
    range.len() == name.len()
        && bytes
            .get(range.clone())
            .is_some_and(|field| bytes_eq(field, name.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// proxy-wasm's serialization of `pairs`, as the host writes it.
    fn serialized(pairs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (name, value) in pairs {
            out.extend((name.len() as u32).to_le_bytes());
            out.extend((value.len() as u32).to_le_bytes());
        }
        for (name, value) in pairs {
            out.extend(name.as_bytes());
            out.push(0);
            out.extend(*value);
            out.push(0);
        }
        out
    }

    #[test]
    fn reads_the_hosts_serialization_in_place() {
        let pairs: &[(&str, &[u8])] = &[
            (":authority", b"api.example.test"),
            (":path", b"/x"),
            ("cookie", b"a=1"),
            ("cookie", b"b=2"),
            ("x-empty", b""),
            ("x-bytes", b"\xff\x00\xfe"),
        ];
        let map = HeaderMap::parse(serialized(pairs)).unwrap();
        let read: Vec<(&[u8], &[u8])> = map.iter().collect();
        let want: Vec<(&[u8], &[u8])> = pairs.iter().map(|(n, v)| (n.as_bytes(), *v)).collect();
        assert_eq!(read, want);
        let built = HeaderMap::from_pairs(pairs.iter().copied());
        assert_eq!(built.iter().collect::<Vec<_>>(), want);
        assert_eq!(map.get("cookie"), Some(&b"a=1"[..]), "the first value");
        assert_eq!(map.get("x-bytes"), Some(&b"\xff\x00\xfe"[..]));
        assert_eq!(map.get("missing"), None);

        let mut map = map;
        map.remove("cookie");
        assert!(!map.contains("cookie") && map.contains(":path"));
        assert_eq!(map.len(), 4);
        assert!(HeaderMap::parse(Vec::new()).unwrap().is_empty());
        assert!(HeaderMap::parse(serialized(&[])).unwrap().is_empty());
    }

    #[test]
    fn a_buffer_that_is_not_a_map_is_refused_not_trusted() {
        let good = serialized(&[("a", b"1"), ("bb", b"22")]);
        // Every truncation, and every flipped NUL or length, is refused or reads within bounds.
        for cut in 1..good.len() {
            assert_eq!(HeaderMap::parse(good[..cut].to_vec()), None, "cut at {cut}");
        }
        let mut no_nul = good.clone();
        let last = no_nul.len() - 1;
        no_nul[last] = b'x';
        assert_eq!(HeaderMap::parse(no_nul), None);
        let mut too_many = good.clone();
        too_many[0] = 0xff;
        too_many[3] = 0xff;
        assert_eq!(HeaderMap::parse(too_many), None);
        let mut long_name = good;
        long_name[4] = 0xff;
        assert_eq!(HeaderMap::parse(long_name), None);
    }
}
