//! # monitor-core
//!
//! What the async runtime monitor tracks, and nothing that listens: task
//! ids, the task registry and its instrumenting future wrapper, the
//! [`Executor`], [`TaskIntrospect`] and [`Transport`] traits with an
//! in-memory transport, and the command dispatcher.
//!
//! A task's life is tracked here: **spawn** ([`Spawner`],
//! [`TaskRegistry::instrument`]) → **poll** ([`Instrumented`] updates the
//! task's own record) → **end** (the record moves to the bounded history).
//! Looking at tasks and acting on them from outside — the console, its
//! sockets, sessions and built-in commands — is `monitor-server`'s job.
//!
//! Applications normally depend on an adapter (`monitor-tokio`,
//! `monitor-smol`, `monitor-async-std`), which re-exports what they need.
//! Someone with a home-grown runtime implements [`Executor`] and uses this
//! crate (plus `monitor-server` to listen):
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

mod clock;
mod diagnose;
pub mod dispatch;
mod error;
mod executor;
mod frame;
mod id;
mod introspect;
mod registry;
mod spawn;
mod sync;
mod task;
pub mod transport;

pub use diagnose::{
    ActivitySample, DEFAULT_MAX_SITES, EndCounts, Histogram, HistogramBucket, Lint, LintId,
    LintSet, LintSubject, Severity, SiteActivity, SiteStats, SiteTable, THRESHOLD_NAMES,
    TaskActivity, TaskLints, ThresholdError, Thresholds, TopReport, lints,
};
pub use error::RegistryError;
pub use executor::{BoxedFuture, Executor};
pub use frame::{FrameNode, FrameTree, Framed, KEPT_TREES, MAX_FRAMES, framed};
pub use id::{ParseTaskIdError, TaskId};
pub use introspect::{
    CancelRequested, TaskIntrospect, TaskSnapshot, TaskTrace, TraceFrame, UntrackedTasks,
};
pub use monitor_macros::frame;
pub use registry::{
    DEFAULT_HISTORY_CAPACITY, TaskKey, TaskOptions, TaskRegistry, TaskRegistryBuilder,
};
pub use spawn::{JoinError, JoinHandle, Spawner, TaskBuilder, TaskSpec};
pub use task::{
    Cancelled, CancelledBy, CatchPanics, ExternalTask, Instrumented, PollToken, RuntimeCancelled,
    TaskEnd, TaskState, current_task, panic_message,
};
pub use transport::Transport;
