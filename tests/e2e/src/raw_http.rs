//! Requests no well-behaved client sends, byte for byte: HTTP/1.1 written by hand (over TLS
//! through `openssl s_client`, which also presents client certificates that curl's OpenSSL
//! refuses to load, such as one with a duplicated extension), and HTTP/2 frames written by
//! hand over cleartext (h2c prior knowledge: repeated `:authority`, `:authority` with a
//! different `host`, header names in upper case), which curl normalises away.
//!
//! The HTTP/2 side is a minimal client: one stream per connection, request headers as HPACK
//! literals without indexing or Huffman coding, and of the response only what the tests
//! assert: the `:status`, the body, or the `RST_STREAM`/`GOAWAY` that ended the stream.

use anyhow::{Context, Result, bail};
use mtls_gate_testkit::pki::CertFiles;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

/// An HTTP/1.1 response as read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Lowercase names, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// As the curl client's response, for `assert_denied` and `echo()`.
    pub fn into_response(self) -> crate::Response {
        crate::Response {
            status: self.status,
            headers: self.headers,
            body: self.body,
        }
    }

    fn parse(raw: &[u8]) -> Result<Self> {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .with_context(|| format!("no complete HTTP/1 response in {text:?}"))?;
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(RawResponse {
            status,
            headers,
            body: body.to_owned(),
        })
    }
}

/// Sends `request` over TLS to `127.0.0.1:port` with `openssl s_client`, presenting `cert`
/// if given (its first certificate only; add `-cert_chain FILE` for intermediates), and
/// reads one response. A connection closed without an answer is an `Err` holding s_client's
/// diagnostics.
pub fn http1_tls(port: u16, cert: Option<&CertFiles>, request: &[u8]) -> Result<RawResponse> {
    http1_tls_with(port, cert, request, &[])
}

/// [`http1_tls`] with more `s_client` arguments (e.g. `-tls1_2`, `-cert_chain FILE`).
pub fn http1_tls_with(
    port: u16,
    cert: Option<&CertFiles>,
    request: &[u8],
    s_client_args: &[&str],
) -> Result<RawResponse> {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-quiet",
        "-connect",
        &format!("127.0.0.1:{port}"),
    ]);
    cmd.args(s_client_args);
    if let Some(cert) = cert {
        cmd.arg("-cert")
            .arg(&cert.cert_path)
            .arg("-key")
            .arg(&cert.key_path);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running openssl s_client (is openssl installed?)")?;
    // -quiet implies -ign_eof: s_client keeps the connection after stdin ends.
    child
        .stdin
        .take()
        .context("s_client stdin")?
        .write_all(request)?;
    let stdout = child.stdout.take().context("s_client stdout")?;
    // Read on a thread so a silent server cannot block the test past TIMEOUT.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read_response(stdout));
    });
    let raw = rx.recv_timeout(TIMEOUT);
    // Envoy holds a `Connection: close` socket open for its delayed-close timeout (1 s)
    // after answering; the answer is complete, so s_client (our own child) can go now.
    let _ = child.kill();
    let out = child.wait_with_output()?;
    let raw = match raw {
        Ok(raw) => raw?,
        Err(_) => bail!("no answer over TLS within {TIMEOUT:?}"),
    };
    if raw.is_empty() {
        bail!(
            "no HTTP response over TLS: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    RawResponse::parse(&raw)
}

/// Sends `request` over plain TCP to `127.0.0.1:port` and reads one response.
pub fn http1_plain(port: u16, request: &[u8]) -> Result<RawResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.write_all(request)?;
    RawResponse::parse(&read_response(stream)?)
}

/// Reads one HTTP/1.1 response: up to its `content-length`, the last chunk of a chunked
/// body, or else the end of the stream.
fn read_response(mut reader: impl Read) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).to_lowercase();
            let value = |name: &str| {
                head.lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.trim() == name)
                    .map(|(_, v)| v.trim().to_owned())
            };
            let body = raw.len() - (end + 4);
            if let Some(length) = value("content-length").and_then(|v| v.parse::<usize>().ok()) {
                if body >= length {
                    return Ok(raw);
                }
            } else if value("transfer-encoding").is_some_and(|v| v.contains("chunked"))
                && raw.ends_with(b"0\r\n\r\n")
            {
                return Ok(raw);
            }
        }
        match reader.read(&mut chunk) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend(chunk.get(..n).unwrap_or_default()),
            Err(e) if raw.is_empty() => return Err(e.into()),
            Err(_) => return Ok(raw),
        }
    }
}

/// How Envoy ended an HTTP/2 stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H2Outcome {
    /// A complete response.
    Response { status: u16, body: String },
    /// `RST_STREAM` with this error code (1: PROTOCOL_ERROR).
    Reset(u32),
    /// `GOAWAY` with this error code, before any response.
    GoAway(u32),
}

const FRAME_DATA: u8 = 0;
const FRAME_HEADERS: u8 = 1;
const FRAME_RST_STREAM: u8 = 3;
const FRAME_SETTINGS: u8 = 4;
const FRAME_GOAWAY: u8 = 7;
const FRAME_CONTINUATION: u8 = 9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_ACK: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const MAX_FRAME: usize = 16_384;

/// One HTTP/2 request over cleartext to `127.0.0.1:port` (prior knowledge): `headers` in
/// order, exactly as given (pseudo-headers included, nothing added, names not lowercased).
pub fn h2c(port: u16, headers: &[(&str, &str)]) -> Result<H2Outcome> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(FRAME_SETTINGS, 0, 0, &[]));
    let block: Vec<u8> = headers
        .iter()
        .flat_map(|(name, value)| literal(name, value))
        .collect();
    let chunks: Vec<&[u8]> = block.chunks(MAX_FRAME).collect();
    let last = chunks.len().saturating_sub(1);
    for (i, chunk) in chunks.iter().enumerate() {
        let end_headers = if i == last { FLAG_END_HEADERS } else { 0 };
        let (kind, flags) = match i {
            0 => (FRAME_HEADERS, FLAG_END_STREAM | end_headers),
            _ => (FRAME_CONTINUATION, end_headers),
        };
        out.extend(frame(kind, flags, 1, chunk));
    }
    stream.write_all(&out)?;

    let mut status = None;
    let mut body = Vec::new();
    loop {
        let mut head = [0u8; 9];
        if let Err(e) = stream.read_exact(&mut head) {
            bail!("HTTP/2 connection ended without an answer for stream 1: {e}");
        }
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload)?;
        let end_stream = flags & FLAG_END_STREAM != 0;
        match (kind, id) {
            (FRAME_SETTINGS, 0) if flags & FLAG_ACK == 0 => {
                stream.write_all(&frame(FRAME_SETTINGS, FLAG_ACK, 0, &[]))?;
            }
            (FRAME_GOAWAY, 0) if status.is_none() => {
                let code = payload.get(4..8).context("short GOAWAY")?;
                return Ok(H2Outcome::GoAway(u32::from_be_bytes(code.try_into()?)));
            }
            (FRAME_RST_STREAM, 1) => {
                let code = payload.get(0..4).context("short RST_STREAM")?;
                return Ok(H2Outcome::Reset(u32::from_be_bytes(code.try_into()?)));
            }
            (FRAME_HEADERS, 1) if status.is_none() => {
                status = Some(response_status(&payload, flags)?);
            }
            (FRAME_DATA, 1) => body.extend(payload),
            _ => {}
        }
        if id == 1 && end_stream {
            let status = status.context("stream ended before its :status")?;
            return Ok(H2Outcome::Response {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
    }
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len().to_be_bytes();
    let mut out = len[len.len() - 3..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// HPACK "literal header field without indexing, new name", no Huffman coding.
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00];
    for s in [name, value] {
        out.extend(integer(s.len(), 7, 0x00));
        out.extend(s.as_bytes());
    }
    out
}

/// An HPACK integer with an `prefix`-bit prefix, `high` the bits above it.
fn integer(mut n: usize, prefix: u32, high: u8) -> Vec<u8> {
    let max = (1usize << prefix) - 1;
    if n < max {
        return vec![high | n as u8];
    }
    let mut out = vec![high | max as u8];
    n -= max;
    while n >= 0x80 {
        out.push((n % 0x80) as u8 | 0x80);
        n /= 0x80;
    }
    out.push(n as u8);
    out
}

/// The `:status` of a response HEADERS frame: its first header field, which HPACK encodes
/// as a static-table index (200, 204, 206, 304, 400, 404, 500) or a literal with the
/// `:status` name index and a three-digit value (raw, or Huffman-coded digits).
fn response_status(payload: &[u8], flags: u8) -> Result<u16> {
    const PADDED: u8 = 0x8;
    const PRIORITY: u8 = 0x20;
    let mut at = 0;
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = usize::from(*payload.first().context("padded HEADERS")?);
        at += 1;
    }
    if flags & PRIORITY != 0 {
        at += 5;
    }
    let block = payload
        .get(at..payload.len().saturating_sub(pad))
        .context("HEADERS frame too short")?;
    // A dynamic table size update may come first.
    let mut rest = block;
    while let Some(&first) = rest.first()
        && first & 0xe0 == 0x20
    {
        let (_, used) = read_integer(rest, 5)?;
        rest = rest.get(used..).context("truncated size update")?;
    }
    let first = *rest.first().context("empty header block")?;
    if first & 0x80 != 0 {
        let (index, _) = read_integer(rest, 7)?;
        return match index {
            8 => Ok(200),
            9 => Ok(204),
            10 => Ok(206),
            11 => Ok(304),
            12 => Ok(400),
            13 => Ok(404),
            14 => Ok(500),
            other => bail!("first header field is static index {other}, not :status"),
        };
    }
    let prefix = if first & 0xc0 == 0x40 { 6 } else { 4 };
    let (name_index, used) = read_integer(rest, prefix)?;
    anyhow::ensure!(
        (8..=14).contains(&name_index),
        "first header field is not :status"
    );
    let value = rest.get(used..).context("truncated :status")?;
    let huffman = value.first().is_some_and(|b| b & 0x80 != 0);
    let (len, used) = read_integer(value, 7)?;
    let bytes = value
        .get(used..used + len)
        .context("truncated :status value")?;
    let digits = match huffman {
        false => String::from_utf8_lossy(bytes).into_owned(),
        true => huffman_digits(bytes)?,
    };
    digits
        .parse()
        .with_context(|| format!(":status {digits:?}"))
}

fn read_integer(bytes: &[u8], prefix: u32) -> Result<(usize, usize)> {
    let max = (1usize << prefix) - 1;
    let first = usize::from(*bytes.first().context("truncated integer")?) & max;
    if first < max {
        return Ok((first, 1));
    }
    let mut n = max;
    let mut shift = 0;
    for (i, b) in bytes.iter().enumerate().skip(1) {
        n += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok((n, i + 1));
        }
    }
    bail!("truncated integer")
}

/// Huffman-decodes a string of ASCII digits (RFC 7541 Appendix B: `0`-`2` are 5-bit codes
/// `00000`-`00010`, `3`-`9` are 6-bit codes `011001`-`011111`; padding is all ones).
fn huffman_digits(bytes: &[u8]) -> Result<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i < bits.len() {
        let rest = bits.get(i..).unwrap_or_default();
        if rest.iter().all(|b| *b == 1) && rest.len() < 8 {
            break;
        }
        let code = |n: usize| -> Option<u8> {
            rest.get(..n)
                .map(|b| b.iter().fold(0u8, |acc, bit| acc << 1 | bit))
        };
        match code(5) {
            Some(c @ 0..=2) => {
                out.push(char::from(b'0' + c));
                i += 5;
            }
            _ => match code(6) {
                Some(c @ 0b011001..=0b011111) => {
                    out.push(char::from(b'3' + (c - 0b011001)));
                    i += 6;
                }
                _ => bail!("not a Huffman-coded digit string: {bytes:02x?}"),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpack_integers_and_digits_round_trip() {
        assert_eq!(integer(10, 5, 0), vec![10]);
        // RFC 7541 C.1.2: 1337 with a 5-bit prefix.
        assert_eq!(integer(1337, 5, 0), vec![31, 154, 10]);
        assert_eq!(read_integer(&[31, 154, 10], 5).unwrap(), (1337, 3));
        // "401": 011010 00000 00001, padded with ones.
        assert_eq!(huffman_digits(&[0x68, 0x01]).unwrap(), "401");
        // RFC 7541 C.6.1: ":status: 302" is Huffman `6402`.
        assert_eq!(huffman_digits(&[0x64, 0x02]).unwrap(), "302");
        // A literal `:status: 403` (name index 8), raw.
        assert_eq!(
            response_status(&[0x48, 0x03, b'4', b'0', b'3'], FLAG_END_HEADERS).unwrap(),
            403
        );
        assert_eq!(response_status(&[0x88], FLAG_END_HEADERS).unwrap(), 200);
    }

    #[test]
    fn http1_responses_parse() {
        let r = RawResponse::parse(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 2\r\nX-A: b\r\n\r\nok").unwrap();
        assert_eq!(r.status, 431);
        assert_eq!(r.header("x-a"), Some("b"));
        assert_eq!(r.body, "ok");
    }
}
