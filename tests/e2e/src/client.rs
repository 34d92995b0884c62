//! An HTTPS client for tests: real curl, so TLS behaves as it does for users.
//!
//! It can present a client certificate, set the TLS SNI independently of the `Host` header
//! (domain-fronting tests: `--resolve` + `-H Host:`), and returns status, headers and body.
//! A failed connection or handshake is an `Err` (curl's message), not a status.

use anyhow::{Context, Result, bail};
use mtls_gate_testkit::pki::CertFiles;
use std::path::PathBuf;
use std::process::Command;

const MAX_TIME_SECS: &str = "15";

/// Connection settings shared by requests: trusted CA and optional client certificate.
#[derive(Debug, Clone, Default)]
pub struct Client {
    ca: Option<PathBuf>,
    cert: Option<(PathBuf, PathBuf)>,
}

impl Client {
    /// A client that trusts `ca` for the server's certificate.
    pub fn new(ca: &CertFiles) -> Self {
        Self {
            ca: Some(ca.cert_path.clone()),
            cert: None,
        }
    }

    /// Presents `cert` as the client certificate.
    pub fn cert(mut self, cert: &CertFiles) -> Self {
        self.cert = Some((cert.cert_path.clone(), cert.key_path.clone()));
        self
    }

    pub fn get(&self, url: &str) -> Request {
        self.request("GET", url)
    }

    pub fn post(&self, url: &str, body: &str) -> Request {
        let mut r = self.request("POST", url);
        r.body = Some(body.to_string());
        r
    }

    pub fn request(&self, method: &str, url: &str) -> Request {
        Request {
            client: self.clone(),
            method: method.to_string(),
            url: url.to_string(),
            sni: None,
            host: None,
            headers: Vec::new(),
            body: None,
            path_as_is: false,
            extra_args: Vec::new(),
        }
    }
}

/// One request. `url` is `http(s)://127.0.0.1:PORT/path` (or `localhost`).
#[derive(Debug, Clone)]
pub struct Request {
    client: Client,
    method: String,
    url: String,
    sni: Option<String>,
    host: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    path_as_is: bool,
    extra_args: Vec<String>,
}

impl Request {
    /// Passes `arg` to curl as is, before the URL (e.g. `--http2`, `--tls-max 1.2`).
    pub fn curl_arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_string());
        self
    }

    /// Sends the path exactly as written (`..`, `//` and all), as an attacker's client would;
    /// curl otherwise resolves dot segments itself.
    pub fn path_as_is(mut self) -> Self {
        self.path_as_is = true;
        self
    }

    /// The TLS SNI (and, unless [`Request::host`] is set, the `Host` header). The connection
    /// still goes to the URL's address.
    pub fn sni(mut self, sni: &str) -> Self {
        self.sni = Some(sni.to_string());
        self
    }

    /// The `Host` header, independent of the SNI.
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The curl arguments (without the program name); public so a failing test can print them.
    pub fn curl_args(&self) -> Result<Vec<String>> {
        let (scheme, rest) = self.url.split_once("://").context("URL without scheme")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let (addr, port) = authority
            .rsplit_once(':')
            .with_context(|| format!("URL {} needs an explicit port", self.url))?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let mut args: Vec<String> = ["-sS", "--max-time", MAX_TIME_SECS, "-X", &self.method]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let url = match &self.sni {
            Some(sni) => {
                // curl takes the SNI from the URL host; --resolve pins that name to the real address.
                args.extend(["--resolve".to_string(), format!("{sni}:{port}:{addr}")]);
                format!("{scheme}://{sni}:{port}{path}")
            }
            None => self.url.clone(),
        };
        if let Some(ca) = &self.client.ca {
            args.extend(["--cacert".to_string(), ca.display().to_string()]);
        }
        if let Some((cert, key)) = &self.client.cert {
            args.extend(["--cert".to_string(), cert.display().to_string()]);
            args.extend(["--key".to_string(), key.display().to_string()]);
        }
        if let Some(host) = &self.host {
            args.extend(["-H".to_string(), format!("Host: {host}")]);
        }
        for (k, v) in &self.headers {
            args.extend(["-H".to_string(), format!("{k}: {v}")]);
        }
        if let Some(body) = &self.body {
            args.extend(["--data-binary".to_string(), body.clone()]);
        }
        if self.path_as_is {
            args.push("--path-as-is".to_string());
        }
        args.extend(self.extra_args.iter().cloned());
        args.push(url);
        Ok(args)
    }

    pub fn send(&self) -> Result<Response> {
        let dir = tempfile::tempdir()?;
        let headers_path = dir.path().join("headers");
        let body_path = dir.path().join("body");
        let mut args = self.curl_args()?;
        let url = args.pop().unwrap_or_default();
        args.extend([
            "-D".to_string(),
            headers_path.display().to_string(),
            "-o".to_string(),
            body_path.display().to_string(),
            "-w".to_string(),
            "%{http_code}".to_string(),
            url,
        ]);
        let out = Command::new("curl")
            .args(&args)
            .output()
            .context("running curl (is it installed?)")?;
        if !out.status.success() {
            bail!(
                "curl failed ({}): {}\n  curl {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                args.join(" ")
            );
        }
        let status = String::from_utf8_lossy(&out.stdout).trim().parse()?;
        let raw_headers = std::fs::read_to_string(&headers_path).unwrap_or_default();
        let body = std::fs::read(&body_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        Ok(Response {
            status,
            headers: parse_last_header_block(&raw_headers),
            body,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Lowercase names, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).with_context(|| format!("body is not JSON: {}", self.body))
    }

    /// The echo upstream's view of the request (fails if the body is not an echo reply).
    pub fn echo(&self) -> Result<crate::EchoReply> {
        crate::EchoReply::parse(&self.body)
    }
}

/// curl's `-D` file holds one block per response (`100 Continue` first, for instance).
fn parse_last_header_block(raw: &str) -> Vec<(String, String)> {
    let block = raw
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .last()
        .unwrap_or("");
    block
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// Asserts a refusal in Tyk's error template: exact status, exact JSON body
/// `{"error": "<message>"}`, and `content-type: application/json`.
pub fn assert_denied(resp: &Response, status: u16, message: &str) {
    assert_eq!(resp.status, status, "body: {}", resp.body);
    let body: serde_json::Value = serde_json::from_str(&resp.body)
        .unwrap_or_else(|e| panic!("denial body is not JSON ({e}): {:?}", resp.body));
    assert_eq!(
        body,
        serde_json::json!({ "error": message }),
        "raw body: {}",
        resp.body
    );
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "{:?}",
        resp.headers
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_and_host_are_independent_in_curl_args() {
        let args = Client::default()
            .get("https://127.0.0.1:8443/p?q=1")
            .sni("a.example.test")
            .host("b.example.test")
            .curl_args()
            .unwrap();
        let joined = args.join(" ");
        assert!(
            joined.contains("--resolve a.example.test:8443:127.0.0.1"),
            "{joined}"
        );
        assert!(joined.contains("-H Host: b.example.test"), "{joined}");
        assert_eq!(args.last().unwrap(), "https://a.example.test:8443/p?q=1");
    }

    #[test]
    fn header_parsing_keeps_the_final_response() {
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nX-A: 1\r\n\r\n";
        let h = parse_last_header_block(raw);
        assert_eq!(
            h,
            vec![
                ("content-type".into(), "application/json".into()),
                ("x-a".into(), "1".into())
            ]
        );
    }
}
