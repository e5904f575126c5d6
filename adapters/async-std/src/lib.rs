//! # monitor-async-std
//!
//! The async-std adapter of the async runtime monitor: tracked spawning
//! through async-std's task builder ([`spawn`], [`task`]) and the
//! [`AsyncStdExecutor`] the monitor runs its commands on.
//!
//! **async-std is discontinued upstream**; its maintainers recommend
//! [smol](https://docs.rs/smol), whose adapter is `monitor-smol`. This
//! crate keeps existing async-std applications observable while they
//! migrate.
//!
//! Replace `async_std::task::spawn` with
//! [`monitor_async_std::spawn`](spawn), or name tasks with [`task`]:
//!
//! ```
//! use monitor_core::{TaskIntrospect, TaskRegistry};
//!
//! async_std::task::block_on(async {
//!     let worker = monitor_async_std::task()
//!         .name("worker")
//!         .spawn(async { "done" })
//!         .unwrap();
//!     assert_eq!(worker.await.unwrap(), "done");
//! });
//! let ended = TaskRegistry::global().terminated();
//! assert_eq!(ended[0].name.as_deref(), Some("worker"));
//! ```
//!
//! ## How the handle differs from async-std's
//!
//! async-std's `JoinHandle<T>` resolves to `T` and has no way to say that a
//! task was stopped from outside. A `cancel` from the monitor must reach the
//! awaiting code without hanging it, so this crate's [`JoinHandle<T>`]
//! resolves to `Result<T, JoinError>`: `Err(JoinError::Cancelled)` after a
//! monitor cancel, `Err(JoinError::Panicked)` when the task panicked (async-std
//! would resume the panic in the awaiting task instead). Dropping it detaches
//! the task, as with async-std.
//!
//! ## Await stacks on `where`
//!
//! Mark async functions with [`#[frame]`](macro@frame) (or wrap any future
//! with [`framed`]) and `where TASK_ID` shows the marked calls a task is
//! awaiting, innermost last, with their locations:
//!
//! ```
//! #[monitor_async_std::frame]
//! async fn fetch_report(id: u64) -> u64 {
//!     id * 2
//! }
//!
//! # async_std::task::block_on(async {
//! assert_eq!(fetch_report(21).await, 42);
//! # });
//! ```
//!
//! Unmarked code pays nothing; see `monitor_core::Framed` for the cost.
#![deny(missing_docs)]

mod executor;
mod monitor;
mod spawn;

pub use executor::AsyncStdExecutor;
pub use monitor::{monitor_builder, start_monitor};
pub use monitor_core::JoinError;
/// Re-exported from `monitor-core`: await-stack frames for `where`.
pub use monitor_core::{Framed, frame, framed};
pub use spawn::{JoinHandle, TaskBuilder, spawn, task};

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
