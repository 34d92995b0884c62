//! What each certificate should get, and when that changed: its [`Timeline`] of changes
//! around admin calls, and the judgement of each answer against it.

use super::{LIVENESS_BOUND, REVOCATION_BOUND};
use anyhow::Result;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One change of a certificate's state, around one admin call.
#[derive(Debug, Clone)]
pub(super) struct Change {
    pub(super) allowed: bool,
    /// Taken under the timeline's lock just before the admin call.
    pub(super) started: Instant,
    /// When the admin API answered; `None` while the call runs (or if it failed).
    pub(super) acked: Option<Instant>,
    /// For a revocation: the answer to the last request sent after `started` that passed.
    pub(super) last_pass: Option<Instant>,
    /// For a revocation: a request sent after `acked` was refused (the connection watched).
    pub(super) refusal_seen: bool,
}

/// A certificate's changes, oldest first; the first is its state when the soak set it up.
#[derive(Debug)]
pub(super) struct Timeline {
    pub(super) changes: Vec<Change>,
}

pub(super) type SharedTimeline = Arc<Mutex<Timeline>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Judged {
    Fine,
    WronglyAllowed { after_ack: Duration },
    WronglyRefused { after_ack: Duration },
}

impl Timeline {
    pub(super) fn shared(allowed: bool) -> SharedTimeline {
        let now = Instant::now();
        Arc::new(Mutex::new(Timeline {
            changes: vec![Change {
                allowed,
                started: now,
                acked: Some(now),
                last_pass: None,
                refusal_seen: false,
            }],
        }))
    }

    /// Judges one answer against the change in force when it was answered: the latest one
    /// started by then. A change started while the request was in flight may or may not have
    /// applied to it, and so makes either answer right until its own bound has passed.
    ///
    /// Why this sees every such change: the churn takes `started` and pushes the change
    /// under this lock, and the client took `answered` before asking for it. A change pushed
    /// after this call has `started` later than `answered`.
    pub(super) fn judge(&mut self, sent: Instant, answered: Instant, passed: bool) -> Judged {
        let Some(change) = self
            .changes
            .iter_mut()
            .rev()
            .find(|c| c.started <= answered)
        else {
            return Judged::Fine;
        };
        let Some(acked) = change.acked else {
            return Judged::Fine;
        };
        let after_ack = sent.saturating_duration_since(acked);
        match (passed, change.allowed) {
            (true, false) => {
                if sent >= change.started {
                    change.last_pass = change.last_pass.max(Some(answered));
                }
                if sent > acked + REVOCATION_BOUND {
                    return Judged::WronglyAllowed { after_ack };
                }
            }
            (false, false) => change.refusal_seen |= sent >= acked,
            (false, true) if sent > acked + LIVENESS_BOUND => {
                return Judged::WronglyRefused { after_ack };
            }
            _ => {}
        }
        Judged::Fine
    }
}

/// Runs one admin call as a change to `allowed` of every timeline in `timelines` (a CA's
/// deletion changes all its leaves).
pub(super) fn change<T>(
    timelines: &[&SharedTimeline],
    allowed: bool,
    call: impl FnOnce() -> Result<T>,
) -> Result<T> {
    for timeline in timelines {
        let mut timeline = lock(timeline);
        let started = Instant::now();
        timeline.changes.push(Change {
            allowed,
            started,
            acked: None,
            last_pass: None,
            refusal_seen: false,
        });
    }
    // A failed call leaves `acked` unset: its effect is unknown, so nothing after it is
    // judged, and the churn stops with the error.
    let out = call()?;
    for timeline in timelines {
        let mut timeline = lock(timeline);
        if let Some(last) = timeline.changes.last_mut() {
            last.acked = Some(Instant::now());
        }
    }
    Ok(out)
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking client thread fails the test anyway; its data is still worth reading.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every revocation of the run and, for those whose refusal was observed, how long after
/// the acknowledgement the certificate still passed.
pub(super) struct Revocations {
    pub(super) total: usize,
    pub(super) observed: Vec<Duration>,
}

impl Revocations {
    pub(super) fn of(timelines: &[SharedTimeline]) -> Self {
        let mut total = 0;
        let mut observed = Vec::new();
        for timeline in timelines {
            let timeline = lock(timeline);
            for change in timeline.changes.iter().skip(1).filter(|c| !c.allowed) {
                total += 1;
                if let (Some(acked), true) = (change.acked, change.refusal_seen) {
                    observed.push(
                        change
                            .last_pass
                            .map_or(Duration::ZERO, |p| p.saturating_duration_since(acked)),
                    );
                }
            }
        }
        observed.sort();
        Revocations { total, observed }
    }

    pub(super) fn quantile(&self, q: f64) -> Option<Duration> {
        let last = self.observed.len().checked_sub(1)?;
        let index = ((last as f64) * q).round() as usize;
        self.observed.get(index.min(last)).copied()
    }
}

/// The judgement itself, on hand-made timelines: the soak's zeros mean something only if
/// these cases are told apart.
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Allowed at `t0`, then one change to `allowed` started at `started` and acknowledged
    /// at `acked` (`None`: still running), in ms after `t0`.
    fn timeline(t0: Instant, allowed: bool, started: u64, acked: Option<u64>) -> Timeline {
        let initial = Change {
            allowed: !allowed,
            started: t0,
            acked: Some(t0),
            last_pass: None,
            refusal_seen: false,
        };
        let change = Change {
            allowed,
            started: t0 + ms(started),
            acked: acked.map(|a| t0 + ms(a)),
            last_pass: None,
            refusal_seen: false,
        };
        Timeline {
            changes: vec![initial, change],
        }
    }

    #[test]
    fn a_pass_sent_past_the_bound_after_an_acknowledged_revocation_is_wrongly_allowed() {
        let t0 = Instant::now();
        let mut revoked = timeline(t0, false, 100, Some(150));
        // Within the bound it is the sync still on its way, and counts towards the delay.
        let early = t0 + ms(150) + REVOCATION_BOUND - ms(1);
        assert_eq!(revoked.judge(early, early + ms(2), true), Judged::Fine);
        assert_eq!(revoked.changes[1].last_pass, Some(early + ms(2)));
        let sent = t0 + ms(150) + REVOCATION_BOUND + ms(1);
        assert_eq!(
            revoked.judge(sent, sent + ms(2), true),
            Judged::WronglyAllowed {
                after_ack: REVOCATION_BOUND + ms(1)
            }
        );
    }

    #[test]
    fn a_change_still_running_or_started_while_the_request_was_in_flight_excuses_the_answer() {
        let t0 = Instant::now();
        // The revocation's call has not answered: either answer may be right.
        let mut running = timeline(t0, false, 100, None);
        let late = t0 + ms(100) + REVOCATION_BOUND * 5;
        assert_eq!(running.judge(late, late + ms(1), true), Judged::Fine);
        // An admission started while the request was in flight, long after a revocation:
        // the pass may be the admission's.
        let mut readmitted = timeline(t0, false, 0, Some(0));
        let sent = t0 + REVOCATION_BOUND * 3;
        readmitted.changes.push(Change {
            allowed: true,
            started: sent + ms(1),
            acked: Some(sent + ms(2)),
            last_pass: None,
            refusal_seen: false,
        });
        assert_eq!(readmitted.judge(sent, sent + ms(3), true), Judged::Fine);
        // The same pass answered before the admission started is wrong.
        assert!(matches!(
            readmitted.judge(sent, sent + ms(1) - Duration::from_nanos(1), true),
            Judged::WronglyAllowed { .. }
        ));
    }

    #[test]
    fn a_refusal_sent_past_the_liveness_bound_after_an_admission_is_wrongly_refused() {
        let t0 = Instant::now();
        let mut admitted = timeline(t0, true, 100, Some(150));
        let within = t0 + ms(150) + LIVENESS_BOUND;
        assert_eq!(admitted.judge(within, within + ms(1), false), Judged::Fine);
        let past = within + ms(1);
        assert_eq!(
            admitted.judge(past, past + ms(1), false),
            Judged::WronglyRefused {
                after_ack: LIVENESS_BOUND + ms(1)
            }
        );
        // Passes and refusals that match the state are fine at any time.
        assert_eq!(admitted.judge(past, past + ms(1), true), Judged::Fine);
        let mut revoked = timeline(t0, false, 100, Some(150));
        assert_eq!(revoked.judge(past, past + ms(1), false), Judged::Fine);
    }

    #[test]
    fn revocation_delay_runs_from_the_acknowledgement_to_the_last_pass_once_a_refusal_is_seen() {
        let t0 = Instant::now();
        let mut revoked = timeline(t0, false, 100, Some(150));
        for (sent, passed) in [(120, true), (300, true), (400, false), (450, false)] {
            let sent = t0 + ms(sent);
            assert_eq!(revoked.judge(sent, sent + ms(5), passed), Judged::Fine);
        }
        let watched = Arc::new(Mutex::new(revoked));
        // Never refused after its revocation: not counted (nobody watched it take effect).
        let unwatched = Arc::new(Mutex::new(timeline(t0, false, 100, Some(150))));
        let revocations = Revocations::of(&[watched, unwatched]);
        assert_eq!(revocations.total, 2);
        assert_eq!(revocations.observed, vec![ms(305 - 150)]);
        assert_eq!(revocations.quantile(1.0), Some(ms(155)));
    }
}
