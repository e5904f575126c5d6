//! Rates with a burst: how many token guesses, lines or output bytes may
//! go per second, for the limits that bound what one client (or all of
//! them together) can make the monitor do.

use std::time::{Duration, Instant};

/// A rate of `per_second` units with room for a burst of `burst` units at
/// once, as the generic cell rate algorithm keeps it: one instant (when
/// the budget would be back to full) instead of a counter that needs a
/// refill tick.
///
/// Units are charged after the fact ([`Pace::charge`]), so one large unit
/// of work (a reply of several megabytes) goes through whole and it is the
/// next one that waits for it to be paid off.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    /// Nanoseconds one unit costs.
    unit_ns: u128,
    /// How far ahead of now the budget may be spent.
    burst: Duration,
    /// When everything charged so far is paid off.
    paid_off: Instant,
}

impl Pace {
    /// `per_second` units a second (at least one), `burst` at once.
    pub(crate) fn new(per_second: u64, burst: u64) -> Self {
        Self::with_unit_ns(1_000_000_000 / u128::from(per_second.max(1)), burst)
    }

    /// One unit per `interval`, `burst` at once.
    pub(crate) fn per_interval(interval: Duration, burst: u64) -> Self {
        Self::with_unit_ns(interval.as_nanos().max(1), burst)
    }

    fn with_unit_ns(unit_ns: u128, burst: u64) -> Self {
        Self {
            unit_ns,
            // The first unit of a burst goes at once: the tolerance is for
            // the others.
            burst: nanos(unit_ns * u128::from(burst.saturating_sub(1))),
            paid_off: Instant::now(),
        }
    }

    /// How long from `now` until the next unit may go.
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        self.paid_off
            .saturating_duration_since(now)
            .saturating_sub(self.burst)
    }

    /// Charges `units` that went at `now`.
    pub(crate) fn charge(&mut self, units: u64, now: Instant) {
        // Capped so that the instant cannot overflow, whatever is charged.
        let cost = nanos(self.unit_ns * u128::from(units)).min(MAX_DEBT);
        self.paid_off = self.paid_off.max(now) + cost;
    }

    /// Waits (on the monitor's loop, without blocking it) until the next
    /// unit may go.
    pub(crate) async fn ready(&self) {
        let wait = self.wait(Instant::now());
        if !wait.is_zero() {
            async_io::Timer::after(wait).await;
        }
    }
}

/// The most one charge can put the budget behind by: a day.
const MAX_DEBT: Duration = Duration::from_secs(24 * 60 * 60);

/// A duration of `ns` nanoseconds, saturating at about 584 years.
fn nanos(ns: u128) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_the_rate_holds() {
        let mut pace = Pace::per_interval(Duration::from_millis(100), 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(pace.wait(start), Duration::ZERO);
            pace.charge(1, start);
        }
        // The burst of three is spent: the fourth waits a tenth of a second.
        assert_eq!(pace.wait(start), Duration::from_millis(100));
        assert_eq!(
            pace.wait(start + Duration::from_millis(100)),
            Duration::ZERO
        );
        // An idle spell refills the burst, never more.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(pace.wait(later), Duration::ZERO);
            pace.charge(1, later);
        }
        assert_eq!(pace.wait(later), Duration::from_millis(100));
    }

    #[test]
    fn a_large_unit_goes_whole_and_the_next_one_pays_for_it() {
        let mut pace = Pace::per_interval(Duration::from_millis(1), 100);
        let start = Instant::now();
        assert_eq!(pace.wait(start), Duration::ZERO);
        pace.charge(5000, start);
        assert_eq!(pace.wait(start), Duration::from_millis(4901));
    }
}
