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
//! By default only tasks spawned through this crate are tracked: tasks
//! that libraries spawn with plain `tokio::spawn` do not appear in the
//! monitor. The `hooks` feature (below) tracks those too.
//!
//! ## One line: `#[monitor_tokio::main]`
//!
//! Swap `#[tokio::main]` for `#[monitor_tokio::main]` (same options) and
//! the application starts with the monitor, configured from the environment
//! (`MONITOR_PORT`, `MONITOR_TOKEN`, `MONITOR=off`, …; see
//! [`monitor_server::env`]). Built with `RUSTFLAGS="--cfg tokio_unstable"`
//! and the `hooks` feature, it also tracks every plain `tokio::spawn`:
//!
//! ```no_run
//! #[monitor_tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! async fn main() {
//!     tokio::spawn(async { /* … */ });
//! }
//! ```
//!
//! ## Cargo features
//!
//! - `macros` (default): `#[monitor_tokio::main]`.
//!
//! None other is needed for the above.
//!
//! - `taskdump`: [`TokioIntrospect`] answers `where` with the task's real
//!   await stack from [`Handle::dump`](tokio::runtime::Handle). Needs
//!   tokio's unstable APIs (`RUSTFLAGS="--cfg tokio_unstable"`; enabling
//!   the feature without it is a compile error rather than a silent no-op)
//!   and Linux on x86, x86_64, aarch64 or s390x (tokio's restriction).
//! - `hooks`: `install_hooks(&mut builder, registry)` (or `RuntimeHooks`,
//!   to combine with hooks of your own) makes a runtime report every
//!   task spawned on it — plain `tokio::spawn` in libraries included —
//!   through tokio's task hooks (`on_task_spawn`, `on_before_task_poll`,
//!   `on_after_task_poll`, `on_task_terminate`). Such tasks are listed as
//!   `tokio::spawn` with their real spawn location and parent, their polls
//!   counted and timed; they end as `ended` (the hook does not say how)
//!   and cannot be cancelled from the console (tokio gives the hooks an id,
//!   not an `AbortHandle`). Costs two shard-lock lookups per poll of every
//!   task on the runtime (tens of nanoseconds; see `RuntimeHooks`). Needs
//!   `RUSTFLAGS="--cfg tokio_unstable"`, any platform; like `taskdump`,
//!   enabling it without the cfg is a compile error.
//!   (The items only exist with the feature, so their documentation is
//!   only built with it.)
//!
//! Testing the unstable features:
//!
//! ```sh
//! RUSTFLAGS="--cfg tokio_unstable" RUSTDOCFLAGS="--cfg tokio_unstable" \
//!     CARGO_TARGET_DIR=target/unstable \
//!     cargo test -p monitor-tokio --features hooks,taskdump
//! ```
//!
//! ## Await stacks on `where`
//!
//! Mark async functions with [`#[frame]`](macro@frame) (or wrap any future
//! with [`framed`]) and `where TASK_ID` shows the marked calls a task is
//! awaiting, innermost last, with their locations:
//!
//! ```
//! #[monitor_tokio::frame]
//! async fn fetch_report(id: u64) -> u64 {
//!     id * 2
//! }
//!
//! # futures_lite::future::block_on(async {
//! assert_eq!(fetch_report(21).await, 42);
//! # });
//! ```
//!
//! Unmarked code pays nothing; see `monitor_core::Framed` for the cost.
#![deny(missing_docs)]

#[cfg(all(feature = "hooks", not(tokio_unstable)))]
compile_error!(
    "monitor-tokio's `hooks` feature needs tokio's unstable runtime hooks: \
     build with RUSTFLAGS=\"--cfg tokio_unstable\""
);

#[cfg(all(feature = "taskdump", not(tokio_unstable)))]
compile_error!(
    "monitor-tokio's `taskdump` feature needs tokio's unstable APIs: \
     build with RUSTFLAGS=\"--cfg tokio_unstable\""
);

mod executor;
#[cfg(all(feature = "hooks", tokio_unstable))]
mod hooks;
mod introspect;
mod monitor;
mod spawn;
mod stats;
#[cfg(feature = "http")]
mod web;

pub use executor::TokioExecutor;
#[cfg(all(feature = "hooks", tokio_unstable))]
pub use hooks::{RuntimeHooks, install_hooks};
pub use introspect::{DEFAULT_DUMP_TIMEOUT, TokioIntrospect};
pub use monitor::{monitor_builder, start_monitor, stats_command};
/// Re-exported from `monitor-core`: await-stack frames for `where`.
pub use monitor_core::{Framed, frame, framed};
#[cfg(feature = "macros")]
pub use monitor_tokio_macros::main;
pub use spawn::{TaskBuilder, spawn, task};
pub use stats::{RuntimeStats, WorkerStats, runtime_stats};

// What an application names, re-exported so that this crate is its only
// monitor dependency: the task model from `monitor-core`, the monitor and
// its extension points (custom commands, the console namespace) from
// `monitor-server`, and both crates whole for everything else.
#[doc(no_inline)]
pub use monitor_core::{
    self as core, RegistryError, TaskEnd, TaskId, TaskIntrospect, TaskRegistry, TaskSnapshot,
    TaskState, current_task, dispatch,
};
#[doc(no_inline)]
pub use monitor_server::{
    self as server, Monitor, MonitorBuilder, MonitorError, commands::MonitorContext, console,
};

/// What `#[monitor_tokio::main]` expands to calls; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use tokio;

    use crate::Monitor;

    /// Makes the runtime track plain `tokio::spawn` tasks into the global
    /// registry, when built with the `hooks` feature and `tokio_unstable`.
    pub fn prepare(builder: &mut tokio::runtime::Builder) {
        #[cfg(all(feature = "hooks", tokio_unstable))]
        crate::install_hooks(
            builder,
            std::sync::Arc::clone(monitor_core::TaskRegistry::global()),
        );
        #[cfg(not(all(feature = "hooks", tokio_unstable)))]
        let _ = builder;
    }

    /// Starts the monitor for `handle`'s runtime, configured from the
    /// environment only. The application must run whatever happens to its
    /// monitor, so a failure (a bad variable, a port in use) is reported on
    /// stderr and the application runs without one.
    pub fn start(handle: &tokio::runtime::Handle) -> Option<Monitor> {
        match crate::monitor_builder(handle.clone()).start() {
            Ok(monitor) if monitor.is_closed() => None,
            Ok(monitor) => Some(monitor),
            Err(err) => {
                eprintln!("monitor: not started: {err}");
                None
            }
        }
    }
}
