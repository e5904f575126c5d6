//! Runtime-wide numbers from tokio's stable `RuntimeMetrics`.

use std::fmt;

use serde::Serialize;
use tokio::runtime::{Handle, RuntimeFlavor};

/// A snapshot of a tokio runtime's stable metrics, for the console's `stats`
/// command.
///
/// Serializes to JSON with durations in nanoseconds, like
/// [`TaskSnapshot`](monitor_core::TaskSnapshot); [`Display`](fmt::Display)
/// prints a small table.
///
/// # Example
///
/// ```
/// let runtime = tokio::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .build()
///     .unwrap();
/// let stats = monitor_tokio::runtime_stats(runtime.handle());
/// assert_eq!(stats.workers, 2);
/// println!("{stats}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RuntimeStats {
    /// `"current_thread"` or `"multi_thread"`.
    pub flavor: &'static str,
    /// The number of worker threads (1 for a current-thread runtime).
    pub workers: usize,
    /// Tasks spawned on the runtime that have not finished yet, tracked or
    /// not.
    pub alive_tasks: usize,
    /// Tasks waiting in the runtime's global (injection) queue: a steadily
    /// high number means the workers cannot keep up.
    pub global_queue_depth: usize,
    /// Per-worker counters. Empty on targets without 64-bit atomics, where
    /// tokio does not collect them.
    pub worker_stats: Vec<WorkerStats>,
}

/// One worker's counters in [`RuntimeStats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WorkerStats {
    /// The worker's index, `0..workers`.
    pub worker: usize,
    /// Total time the worker has spent running tasks.
    pub busy_ns: u64,
    /// How many times the worker parked (ran out of work).
    pub park_count: u64,
    /// How many times the worker parked or unparked; odd while it is
    /// parked.
    pub park_unpark_count: u64,
}

/// Reads the stable runtime metrics of the runtime behind `handle`.
///
/// Cheap (a few atomic loads per worker) and safe to call from any thread,
/// including while every worker is blocked.
pub fn runtime_stats(handle: &Handle) -> RuntimeStats {
    let metrics = handle.metrics();
    let workers = metrics.num_workers();
    let flavor = match handle.runtime_flavor() {
        RuntimeFlavor::CurrentThread => "current_thread",
        RuntimeFlavor::MultiThread => "multi_thread",
        _ => "other",
    };
    RuntimeStats {
        flavor,
        workers,
        alive_tasks: metrics.num_alive_tasks(),
        global_queue_depth: metrics.global_queue_depth(),
        worker_stats: worker_stats(&metrics, workers),
    }
}

#[cfg(target_has_atomic = "64")]
fn worker_stats(metrics: &tokio::runtime::RuntimeMetrics, workers: usize) -> Vec<WorkerStats> {
    (0..workers)
        .map(|worker| WorkerStats {
            worker,
            busy_ns: u64::try_from(metrics.worker_total_busy_duration(worker).as_nanos())
                .unwrap_or(u64::MAX),
            park_count: metrics.worker_park_count(worker),
            park_unpark_count: metrics.worker_park_unpark_count(worker),
        })
        .collect()
}

#[cfg(not(target_has_atomic = "64"))]
fn worker_stats(_: &tokio::runtime::RuntimeMetrics, _: usize) -> Vec<WorkerStats> {
    Vec::new()
}

impl fmt::Display for RuntimeStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "runtime            {}", self.flavor)?;
        writeln!(f, "workers            {}", self.workers)?;
        writeln!(f, "alive tasks        {}", self.alive_tasks)?;
        writeln!(f, "global queue depth {}", self.global_queue_depth)?;
        if self.worker_stats.is_empty() {
            return Ok(());
        }
        writeln!(f)?;
        writeln!(f, "{:>6}  {:>10}  {:>8}", "worker", "busy", "parks")?;
        for worker in &self.worker_stats {
            writeln!(
                f,
                "{:>6}  {:>10}  {:>8}",
                worker.worker,
                // Whole milliseconds: `{:?}` then prints `1.234s` or `56ms`.
                format!(
                    "{:?}",
                    std::time::Duration::from_millis(worker.busy_ns / 1_000_000)
                ),
                worker.park_count
            )?;
        }
        Ok(())
    }
}
