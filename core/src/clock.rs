//! Process-wide clocks for task timing.
//!
//! Reading `Instant::now()` twice per poll would double the cost of a poll
//! (see docs/PERFORMANCE.md), so by default the poll path reads a *coarse*
//! clock instead: one relaxed load of a global that a background thread
//! refreshes every millisecond. Durations measured with it are quantised to
//! the tick, but because a tick is equally likely to fall anywhere inside a
//! poll, the expected value of `end_tick - start_tick` equals the true poll
//! duration, so summed busy time stays unbiased. Time *in* a poll that has
//! not ended is computed by the reader with a precise clock.

use std::{
    sync::{
        Once, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use crate::sync::CacheLine;

/// How often the coarse clock is refreshed.
pub(crate) const TICK: Duration = Duration::from_millis(1);

static EPOCH: OnceLock<Instant> = OnceLock::new();
/// Read by every poll, written once a millisecond: on lines of its own, so
/// that writes to neighbouring statics (the task id counter) do not evict it
/// from every core's cache.
static COARSE_NS: CacheLine<AtomicU64> = CacheLine(AtomicU64::new(0));
static TICKER: Once = Once::new();

fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since the process epoch, read from the precise clock.
pub(crate) fn precise_now_ns() -> u64 {
    // u64 nanoseconds last 584 years.
    epoch().elapsed().as_nanos() as u64
}

/// Nanoseconds since the process epoch, at most one tick stale.
#[inline]
pub(crate) fn coarse_now_ns() -> u64 {
    COARSE_NS.load(Ordering::Relaxed)
}

/// Starts the thread that keeps the coarse clock fresh (once per process).
pub(crate) fn start_ticker() {
    TICKER.call_once(|| {
        COARSE_NS.store(precise_now_ns(), Ordering::Relaxed);
        let spawned = thread::Builder::new()
            .name("monitor-clock".into())
            .spawn(|| {
                loop {
                    thread::sleep(TICK);
                    COARSE_NS.store(precise_now_ns(), Ordering::Relaxed);
                }
            });
        // Without the ticker the coarse clock stands still: busy times read
        // as zero but nothing else breaks, so the app must not fail for it.
        if let Err(err) = spawned {
            eprintln!("monitor: could not start the clock thread ({err}); busy times will read 0");
        }
    });
}

/// Converts a process-epoch timestamp into an `Instant`-free age.
pub(crate) fn since(then_ns: u64, now_ns: u64) -> u64 {
    now_ns.saturating_sub(then_ns)
}
