//! # monitor-core
//!
//! The runtime-agnostic heart of the async runtime monitor: task ids, the
//! task registry and its instrumenting future wrapper, the [`Executor`],
//! [`TaskIntrospect`] and [`Transport`] traits, the command dispatcher, the
//! console server and its built-in commands.
//!
//! Applications normally depend on an adapter (`monitor-tokio`,
//! `monitor-smol`, `monitor-async-std`); someone with a home-grown runtime
//! implements [`Executor`] and uses this crate directly:
//!
//! ```
//! use monitor_core::{BoxedFuture, Executor, Spawner, TaskIntrospect, TaskRegistry};
//!
//! #[derive(Debug)]
//! struct ThreadPerTask;
//! impl Executor for ThreadPerTask {
//!     fn spawn(&self, future: BoxedFuture) {
//!         std::thread::spawn(move || futures_lite::future::block_on(future));
//!     }
//! }
//!
//! let registry = TaskRegistry::new();
//! let spawner = Spawner::new(ThreadPerTask, registry.clone());
//! let sleeper = spawner.task().name("sleeper").spawn(std::future::pending::<()>());
//! assert_eq!(registry.task(sleeper.id()).unwrap().name.as_deref(), Some("sleeper"));
//! ```
//!
//! See `docs/ARCHITECTURE.md` for how the pieces fit together.
#![deny(missing_docs)]

pub mod client;
mod clock;
pub mod commands;
pub mod console;
pub mod dispatch;
mod error;
mod executor;
pub mod format;
mod frame;
mod id;
mod introspect;
mod registry;
pub mod server;
mod spawn;
mod task;
pub mod transport;

pub use error::MonitorError;
pub use executor::{BoxedFuture, Executor};
pub use frame::{FrameNode, FrameTree, Framed, KEPT_TREES, MAX_FRAMES, framed};
pub use id::{ParseTaskIdError, TaskId};
pub use introspect::{CancelRequested, TaskIntrospect, TaskSnapshot, TaskTrace, TraceFrame};
pub use monitor_macros::frame;
pub use registry::{DEFAULT_HISTORY_CAPACITY, TaskOptions, TaskRegistry, TaskRegistryBuilder};
pub use server::{
    CONSOLE_PORT, MONITOR_HOST, MONITOR_PORT, Monitor, MonitorBuilder, start_monitor,
};
pub use spawn::{JoinError, JoinHandle, Spawner, TaskBuilder};
pub use task::{
    Cancelled, CancelledBy, ExternalTask, Instrumented, PollToken, TaskEnd, TaskState, current_task,
};
pub use transport::Transport;
