//! Byte-string equality for the request path's hot comparisons (header names, the Host
//! against the SNI, a listen path's prefix).
//!
//! Slice equality ends in wasi-libc's `memcmp` on wasm32, which compares one byte at a time
//! at 17 wasm instructions a byte: an equal `x-forwarded-client-cert` costs about 400, and
//! the harness's fuel count is per instruction. Eight bytes at a time costs a fraction.

/// `a == b`, compared eight bytes at a time.
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_tail) = a.as_chunks::<8>();
    let (b_words, b_tail) = b.as_chunks::<8>();
    a_words
        .iter()
        .zip(b_words)
        .all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
        && a_tail.iter().zip(b_tail).all(|(x, y)| x == y)
}

/// `text.starts_with(prefix)`, compared as [`bytes_eq`] does.
pub fn starts_with(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| bytes_eq(head, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_slice_equality() {
        let base: Vec<u8> = (0u8..40).collect();
        for len in 0..=base.len() {
            let a = &base[..len];
            assert!(bytes_eq(a, a));
            assert!(starts_with(&base, a));
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!bytes_eq(a, &b), "{len} {at}");
                assert!(!starts_with(&base, &b), "{len} {at}");
            }
            assert!(!bytes_eq(a, &base[..len.saturating_sub(1)]) || len == 0);
        }
        assert!(!starts_with(b"ab", b"abc"));
        assert!(starts_with(b"abc", b""));
    }
}
