//! The session lookup (SPEC §4 "New keys"): on a cache miss the request pauses, one callout
//! asks the shim for that key, and the answer decides the request and is cached (a session
//! in shared data for every worker, "no session" briefly in this worker's
//! [`crate::negative_cache::NegativeCache`]; see [`crate::store_view::SharedDataStore`]).
//!
//! Fail closed: no answer, a non-200, a malformed body or an answer about another key is an
//! unavailable store, never a pass.

use crate::config::StoreLink;
use crate::feed::{LookupAnswer, lookup_path};
use crate::host::{Host, LogLevel};
use crate::ids::SessionKey;
use crate::lookup_budget::LookupPermit;
use crate::store_call::{self, CallResponse};

/// A lookup one request waits for.
#[derive(Debug)]
pub struct PendingLookup {
    token: u32,
    key: SessionKey,
    /// The shared-data generation when it was asked: an answer is cached only there.
    generation: u64,
    /// Its place in the worker's budget, given back when the answer arrives (or the
    /// request goes away first).
    permit: LookupPermit,
}

impl PendingLookup {
    /// Calls the shim for `key`; `None` (logged) when the callout cannot start.
    pub fn start(
        host: &dyn Host,
        link: &StoreLink,
        key: SessionKey,
        generation: u64,
        permit: LookupPermit,
    ) -> Option<PendingLookup> {
        match store_call::dispatch(host, link, &lookup_path(key.as_str())) {
            Ok(token) => Some(PendingLookup {
                token,
                key,
                generation,
                permit,
            }),
            Err(status) => {
                host.log(
                    LogLevel::Warn,
                    format_args!("mtls-gate: session lookup could not start: {status:?}"),
                );
                None
            }
        }
    }

    pub fn token(&self) -> u32 {
        self.token
    }

    /// The answer is in: the permit goes back to the budget, and what was asked remains.
    pub fn finish(self) -> AskedLookup {
        drop(self.permit);
        AskedLookup {
            key: self.key,
            generation: self.generation,
        }
    }
}

/// What a finished lookup asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedLookup {
    pub key: SessionKey,
    pub generation: u64,
}

impl AskedLookup {
    /// The shim's answer, only if it is a 200 with a well-formed body about the key asked.
    /// An answer about another key is no answer: it would be cached for every worker under
    /// that key, and this request would ask again.
    pub fn read_answer(&self, host: &dyn Host, response: &CallResponse) -> Option<LookupAnswer> {
        let Some(status) = response.status(host) else {
            host.log(
                LogLevel::Warn,
                format_args!("mtls-gate: session lookup failed (no answer from the store)"),
            );
            return None;
        };
        if status != b"200" {
            host.log(
                LogLevel::Warn,
                format_args!(
                    "mtls-gate: session lookup answered {:?}",
                    String::from_utf8_lossy(&status)
                ),
            );
            return None;
        }
        let body = response.body(host)?;
        let answer = LookupAnswer::decode(&body)
            .map_err(|e| {
                host.log(
                    LogLevel::Warn,
                    format_args!("mtls-gate: malformed session lookup answer: {e}"),
                );
            })
            .ok()?;
        if answer.key != self.key {
            host.log(
                LogLevel::Warn,
                format_args!("mtls-gate: session lookup answered for another key; ignored"),
            );
            return None;
        }
        Some(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup_budget::LookupBudget;
    use crate::mock_host::MockHost;
    use crate::test_support::{grant, store_link};

    fn asked(key: &str) -> AskedLookup {
        AskedLookup {
            key: SessionKey::verbatim(key),
            generation: 0,
        }
    }

    #[test]
    fn a_lookup_asks_for_the_percent_encoded_key_and_holds_a_permit() {
        let host = MockHost::new();
        let budget = LookupBudget::new(1);
        let permit = budget.try_acquire().unwrap();
        let pending = PendingLookup::start(
            &host,
            &store_link(),
            SessionKey::verbatim("org/key"),
            4,
            permit,
        )
        .unwrap();
        let calls = host.callouts();
        let call = calls.first().unwrap();
        assert_eq!(call.token, pending.token());
        assert_eq!(call.header(":path"), Some("/mtls-gate/v1/lookup/org%2Fkey"));
        assert_eq!(call.header("authorization"), Some("Bearer feed-token"));
        assert!(budget.try_acquire().is_none(), "the budget is spent");
        let asked = pending.finish();
        assert_eq!(asked.generation, 4);
        assert_eq!(budget.in_flight(), 0, "the answer gives the permit back");
    }

    #[test]
    fn a_lookup_that_cannot_start_is_logged_and_gives_its_permit_back() {
        let host = MockHost::new();
        host.fail_dispatch(Some(crate::host::HostError::BadArgument));
        let budget = LookupBudget::new(1);
        let permit = budget.try_acquire().unwrap();
        assert!(
            PendingLookup::start(&host, &store_link(), SessionKey::verbatim("k"), 0, permit)
                .is_none()
        );
        assert_eq!(budget.in_flight(), 0);
        assert!(host.logged(
            LogLevel::Warn,
            "session lookup could not start: BadArgument"
        ));
    }

    #[test]
    fn only_a_200_about_the_key_asked_is_an_answer() {
        let host = MockHost::new();
        let good = LookupAnswer {
            key: SessionKey::verbatim("k"),
            session: Some(grant()),
            cert: None,
        }
        .encode();
        let response = host.answer_call(1, Some("200"), &good);
        assert_eq!(
            asked("k")
                .read_answer(&host, &response)
                .and_then(|a| a.session),
            Some(grant())
        );

        let cases: [(&str, Option<&str>, &[u8], &str); 4] = [
            ("failed call", None, b"", "no answer from the store"),
            (
                "refused",
                Some("401"),
                b"",
                "session lookup answered \"401\"",
            ),
            (
                "garbled",
                Some("200"),
                b"{",
                "malformed session lookup answer",
            ),
            (
                "another key",
                Some("200"),
                &good,
                "answered for another key",
            ),
        ];
        for (name, status, body, logged) in cases {
            let host = MockHost::new();
            let response = host.answer_call(1, status, body);
            let wanted = if name == "another key" { "other" } else { "k" };
            assert_eq!(asked(wanted).read_answer(&host, &response), None, "{name}");
            assert!(
                host.logged(LogLevel::Warn, logged),
                "{name}: {:?}",
                host.logs()
            );
        }
    }
}
