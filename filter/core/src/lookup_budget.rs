//! A cap on the session lookups one worker has in flight.
//!
//! The negative cache stops one unknown certificate from causing more than one lookup a
//! second, but a client that presents a fresh certificate on every connection would still turn
//! each request into a callout to the shim. The budget bounds that: past it, a miss is
//! answered as an unavailable store (503) at once, without a callout, and requests whose
//! session is already cached are unaffected.
//!
//! A worker is single-threaded, so a `Cell` is enough; each worker has its own budget.

use std::cell::Cell;
use std::rc::Rc;

/// The lookups in flight on one worker, and how many may be.
#[derive(Debug, Clone)]
pub struct LookupBudget {
    in_flight: Rc<Cell<u32>>,
    limit: u32,
}

/// One lookup's place in the budget, given back when dropped: when its answer arrives, or
/// when the request goes away first (Envoy then cancels the callout and never answers).
#[derive(Debug)]
pub struct LookupPermit {
    in_flight: Rc<Cell<u32>>,
}

impl LookupBudget {
    pub fn new(limit: u32) -> Self {
        LookupBudget {
            in_flight: Rc::new(Cell::new(0)),
            limit,
        }
    }

    /// A permit, or `None` when `limit` lookups are already in flight.
    pub fn try_acquire(&self) -> Option<LookupPermit> {
        let in_flight = self.in_flight.get();
        if in_flight >= self.limit {
            return None;
        }
        self.in_flight.set(in_flight + 1);
        Some(LookupPermit {
            in_flight: Rc::clone(&self.in_flight),
        })
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.get()
    }
}

impl Drop for LookupPermit {
    fn drop(&mut self) {
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_up_to_the_limit_then_none() {
        let budget = LookupBudget::new(2);
        let first = budget.try_acquire();
        let second = budget.try_acquire();
        assert!(first.is_some() && second.is_some());
        assert!(budget.try_acquire().is_none());
        assert_eq!(budget.in_flight(), 2);
    }

    #[test]
    fn a_dropped_permit_frees_its_place() {
        let budget = LookupBudget::new(1);
        let permit = budget.try_acquire();
        assert!(budget.try_acquire().is_none());
        drop(permit);
        assert_eq!(budget.in_flight(), 0);
        assert!(budget.try_acquire().is_some());
    }

    #[test]
    fn clones_share_one_count() {
        // The root hands a clone to every request; they must all draw on one budget.
        let budget = LookupBudget::new(1);
        let for_request = budget.clone();
        let _permit = for_request.try_acquire();
        assert!(budget.try_acquire().is_none());
    }
}
