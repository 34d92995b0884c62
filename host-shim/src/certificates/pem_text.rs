//! Writing PEM (the core crate reads it): 64-column base64 lines, as openssl writes them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoded_pem_parses_back_to_the_same_der() {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = super::encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|line| line.len() <= 64));
        let blocks = mtls_gate_core::pem::parse_blocks(&pem).unwrap();
        assert_eq!(blocks[0].der, der);
    }
}
