//! Calls from the filter to the shim (the change feed and the session lookup, see
//! [`crate::feed`]): the one place their header set is built and their answer is read.

use crate::config::StoreLink;
use crate::host::{Host, HostError};
use std::time::Duration;

/// Starts a `GET` of `path` on the shim. Envoy needs `:method`, `:path` and `:authority` on
/// every callout (ARCHITECTURE "Callouts"); the feed token goes as a bearer token (SPEC §2).
pub fn dispatch(host: &dyn Host, link: &StoreLink, path: &str) -> Result<u32, HostError> {
    let authorization = format!("Bearer {}", link.token);
    let headers = [
        (":method", "GET"),
        (":path", path),
        (":authority", link.authority.as_str()),
        ("authorization", authorization.as_str()),
    ];
    host.dispatch_http_call(
        &link.cluster,
        &headers,
        Duration::from_millis(link.timeout_ms),
    )
}

/// A callout's answer as the host announces it (`on_http_call_response`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallResponse {
    pub token: u32,
    pub num_headers: usize,
    pub body_size: usize,
}

impl CallResponse {
    /// The `:status`. A failed or timed-out callout has no headers, and Envoy then refuses
    /// the header map with BadArgument, on which the SDK panics: never ask.
    pub fn status(&self, host: &dyn Host) -> Option<Vec<u8>> {
        if self.num_headers == 0 {
            return None;
        }
        host.callout_response_header(":status")
    }

    pub fn body(&self, host: &dyn Host) -> Option<Vec<u8>> {
        host.callout_response_body(self.body_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock_host::MockHost;
    use crate::test_support::store_link;

    #[test]
    fn every_call_carries_method_path_authority_and_the_feed_token() {
        let host = MockHost::new();
        let token = dispatch(&host, &store_link(), "/mtls-gate/v1/changes?since=0").unwrap();
        let calls = host.callouts();
        let [call] = calls.as_slice() else {
            panic!("one call expected: {calls:?}");
        };
        assert_eq!(call.token, token);
        assert_eq!(call.cluster, "shim");
        assert_eq!(call.timeout, Duration::from_millis(250));
        assert_eq!(call.header(":method"), Some("GET"));
        assert_eq!(call.header(":path"), Some("/mtls-gate/v1/changes?since=0"));
        assert_eq!(call.header(":authority"), Some("shim.local"));
        assert_eq!(call.header("authorization"), Some("Bearer feed-token"));
        assert_eq!(call.headers.len(), 4);
    }

    #[test]
    fn an_answer_without_headers_is_never_asked_for_its_status() {
        let host = MockHost::new();
        let failed = host.answer_call(1, None, b"");
        assert_eq!(failed.num_headers, 0);
        assert_eq!(failed.status(&host), None);
        assert_eq!(host.journal_count("callout_response_header"), 0);

        let answered = host.answer_call(1, Some("200"), b"{}");
        assert_eq!(answered.status(&host).as_deref(), Some(&b"200"[..]));
        assert_eq!(answered.body(&host).as_deref(), Some(&b"{}"[..]));
    }
}
