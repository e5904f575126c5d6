//! # monitor-smol
//!
//! The smol adapter of the async runtime monitor: tracked spawning on
//! smol's global executor ([`spawn`], [`task`]) or on an
//! [`async_executor::Executor`] ([`MonitoredExecutor`]), returning a
//! [`Task`] with smol's semantics, and the [`SmolExecutor`] the monitor runs
//! its commands on.
//!
//! Replace `smol::spawn` with [`monitor_smol::spawn`](spawn), or name tasks
//! with [`task`]:
//!
//! ```
//! use monitor_core::{TaskIntrospect, TaskRegistry};
//!
//! smol::block_on(async {
//!     let worker = monitor_smol::task().name("worker").spawn(async {
//!         smol::future::yield_now().await;
//!         "done"
//!     });
//!     assert_eq!(worker.await, "done");
//! });
//! let ended = TaskRegistry::global().terminated();
//! assert_eq!(ended[0].name.as_deref(), Some("worker"));
//! ```
//!
//! As with smol, dropping a [`Task`] cancels it and
//! [`detach`](Task::detach) lets it run. A `cancel` from the monitor drops
//! the task's future; awaiting its [`Task`] then panics like awaiting a smol
//! task its executor dropped, while [`Task::fallible`] reports it as
//! `Err(Cancelled)` (see [`Task`]).
//!
//! smol is also the recommended successor of async-std, which is no longer
//! maintained upstream.
//!
//! ## Await stacks on `where`
//!
//! Mark async functions with [`#[frame]`](macro@frame) (or wrap any future
//! with [`framed`]) and `where TASK_ID` shows the marked calls a task is
//! awaiting, innermost last, with their locations:
//!
//! ```
//! #[monitor_smol::frame]
//! async fn fetch_report(id: u64) -> u64 {
//!     id * 2
//! }
//!
//! # smol::block_on(async {
//! assert_eq!(fetch_report(21).await, 42);
//! # });
//! ```
//!
//! Unmarked code pays nothing; see `monitor_core::Framed` for the cost.
#![deny(missing_docs)]

mod executor;
mod monitor;
mod spawn;
mod task;

pub use executor::{MonitoredExecutor, SmolExecutor};
pub use monitor::{monitor_builder, monitor_builder_for, start_monitor};
/// Re-exported from `monitor-core`: await-stack frames for `where`.
pub use monitor_core::{Framed, frame, framed};
pub use spawn::{TaskBuilder, spawn, task};
pub use task::{FallibleTask, Task};

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
