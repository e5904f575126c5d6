//! The crate's error type.

use crate::{TaskId, task::TaskState};

/// What went wrong in a monitor operation.
///
/// Messages are written for the person at the console: they say what
/// happened and, where there is one, what to do instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// No live or recently terminated task has this id.
    #[error("No task {0} (it never existed, or ended long enough ago to leave the history)")]
    NoSuchTask(TaskId),
    /// The task has already ended, so there is nothing to cancel.
    #[error("task {id} has already ended ({state}); nothing to cancel")]
    AlreadyEnded {
        /// The task.
        id: TaskId,
        /// How it ended.
        state: TaskState,
    },
    /// The task cannot be cancelled from the monitor: it was registered
    /// without the monitor's wrapper and without a way to stop it
    /// ([`TaskOptions::cancellable`](crate::TaskOptions::cancellable)), as
    /// tasks the tokio adapter sees through runtime hooks are.
    #[error(
        "task {0} was spawned outside the monitor (e.g. a plain tokio::spawn) and cannot be \
         cancelled from the console; stop it through the code that owns its handle, or spawn \
         it through the monitor's adapter to make it cancellable"
    )]
    NotCancellable(TaskId),
    /// A monitor could not start listening.
    #[error(transparent)]
    Bind(#[from] crate::transport::BindError),
    /// A configuration value was refused.
    #[error("invalid monitor configuration: {0}")]
    Config(String),
    /// The monitor's thread could not be started.
    #[error("could not start the monitor thread: {0}")]
    Thread(#[source] std::io::Error),
}
