//! What the poll path's clock costs: the monitor's coarse clock (a relaxed
//! load of a global that a 1 kHz ticker thread refreshes) against the
//! kernel's `CLOCK_MONOTONIC_COARSE` (read through the vDSO, no thread of
//! ours) and the precise `Instant::now()`, plus the ticker thread's own CPU
//! time — the figures behind keeping the ticker (docs/PERFORMANCE.md).

use std::{
    hint::black_box,
    sync::atomic::{AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::summary::median;

/// Nanoseconds per clock read, and the ticker's cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClockResult {
    /// A relaxed load of a shared `AtomicU64`: what `coarse_now_ns` is.
    pub(crate) coarse_ticker_read_ns: f64,
    /// `clock_gettime(CLOCK_MONOTONIC_COARSE)`.
    pub(crate) monotonic_coarse_read_ns: f64,
    /// Its resolution (`clock_getres`): how stale a reading can be.
    pub(crate) monotonic_coarse_resolution_ns: u64,
    /// `Instant::now()` (`CLOCK_MONOTONIC`).
    pub(crate) instant_now_read_ns: f64,
    /// CPU time of the `monitor-clock` ticker thread, in percent of one
    /// core (`None` when it could not be read from /proc).
    pub(crate) ticker_cpu_percent: Option<f64>,
}

static SHARED: AtomicU64 = AtomicU64::new(0);

fn monotonic_coarse() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE
    // exists on every Linux since 2.6.32.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC_COARSE)");
    ts
}

/// Median nanoseconds per call of `read` over `rounds` rounds.
fn per_read(rounds: usize, mut read: impl FnMut() -> u64) -> f64 {
    const READS: u32 = 2_000_000;
    let samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let mut sum = 0u64;
            for _ in 0..READS {
                sum = sum.wrapping_add(read());
            }
            black_box(sum);
            start.elapsed().as_nanos() as f64 / f64::from(READS)
        })
        .collect();
    median(&samples)
}

/// The ticker thread's CPU time over `window`, from
/// `/proc/self/task/*/schedstat` (nanoseconds on CPU).
fn ticker_cpu_percent(window: Duration) -> Option<f64> {
    let task = std::fs::read_dir("/proc/self/task")
        .ok()?
        .find_map(|entry| {
            let path = entry.ok()?.path();
            let comm = std::fs::read_to_string(path.join("comm")).ok()?;
            (comm.trim() == "monitor-clock").then_some(path)
        })?;
    let on_cpu = || -> Option<u64> {
        std::fs::read_to_string(task.join("schedstat"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let before = on_cpu()?;
    thread::sleep(window);
    let after = on_cpu()?;
    Some((after - before) as f64 / window.as_nanos() as f64 * 100.0)
}

pub(crate) fn measure(quick: bool) -> ClockResult {
    // Any registry starts the ticker (once per process).
    drop(monitor_core::TaskRegistry::new());
    let rounds = if quick { 5 } else { 15 };
    let coarse_ticker_read_ns = per_read(rounds, || SHARED.load(Ordering::Relaxed));
    let monotonic_coarse_read_ns = per_read(rounds, || {
        let ts = monotonic_coarse();
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    });
    let epoch = Instant::now();
    let instant_now_read_ns = per_read(rounds, || epoch.elapsed().as_nanos() as u64);
    let mut res = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as in `monotonic_coarse`.
    let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) };
    assert_eq!(rc, 0, "clock_getres(CLOCK_MONOTONIC_COARSE)");
    ClockResult {
        coarse_ticker_read_ns,
        monotonic_coarse_read_ns,
        monotonic_coarse_resolution_ns: res.tv_sec as u64 * 1_000_000_000 + res.tv_nsec as u64,
        instant_now_read_ns,
        ticker_cpu_percent: ticker_cpu_percent(Duration::from_secs(if quick { 2 } else { 5 })),
    }
}
