//! # monitor-tokio
//!
//! The tokio adapter of the async runtime monitor: tracked spawning that
//! returns tokio's own [`JoinHandle`](tokio::task::JoinHandle), the
//! [`TokioExecutor`] the monitor runs its commands on, [`TokioIntrospect`]
//! (task dumps for `where` with the `taskdump` feature) and
//! [`runtime_stats`] from tokio's stable runtime metrics.
//!
//! Replace `tokio::spawn` with [`monitor_tokio::spawn`](spawn), or name
//! tasks with [`task`]:
//!
//! ```
//! use monitor_core::{TaskIntrospect, TaskRegistry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let worker = monitor_tokio::task()
//!     .name("worker")
//!     .spawn(async { tokio::task::yield_now().await });
//! worker.await.unwrap();
//!
//! let ended = TaskRegistry::global().terminated();
//! assert_eq!(ended[0].name.as_deref(), Some("worker"));
//! # }
//! ```
//!
//! A `cancel` from the monitor aborts the task the tokio way: its
//! `JoinHandle` resolves to a `JoinError` with `is_cancelled() == true`.
//!
//! Only tasks spawned through this crate are tracked: tasks that libraries
//! spawn with plain `tokio::spawn` do not appear in the monitor.
//!
//! ## Cargo features
//!
//! None is needed for the above.
//!
//! - `taskdump`: [`TokioIntrospect`] answers `where` with the task's real
//!   await stack from [`Handle::dump`](tokio::runtime::Handle). Needs
//!   tokio's unstable APIs (`RUSTFLAGS="--cfg tokio_unstable"`; enabling
//!   the feature without it is a compile error rather than a silent no-op)
//!   and Linux on x86, x86_64, aarch64 or s390x (tokio's restriction).
#![deny(missing_docs)]

#[cfg(all(feature = "taskdump", not(tokio_unstable)))]
compile_error!(
    "monitor-tokio's `taskdump` feature needs tokio's unstable APIs: \
     build with RUSTFLAGS=\"--cfg tokio_unstable\""
);

mod executor;
mod introspect;
mod monitor;
mod spawn;
mod stats;

pub use executor::TokioExecutor;
pub use introspect::{DEFAULT_DUMP_TIMEOUT, TokioIntrospect};
pub use monitor::{monitor_builder, start_monitor, stats_command};
pub use spawn::{TaskBuilder, spawn, task};
pub use stats::{RuntimeStats, WorkerStats, runtime_stats};
