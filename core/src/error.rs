//! What the registry can fail at.

use crate::{TaskId, task::TaskState};

/// What went wrong when acting on tracked tasks or on the registry itself.
///
/// Messages are written for the person at the console: they say what
/// happened and, where there is one, what to do instead. Errors of the ways
/// in (binding a port, starting the monitor thread) belong to the server
/// crate, not here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
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
    /// [`TaskRegistry::configure_global`](crate::TaskRegistry::configure_global)
    /// came too late: the global registry already exists with other settings.
    #[error(
        "the global task registry was already created (history capacity {history_capacity}, \
         precise timing {precise_timing}) before it could be configured; configure it before \
         the first task is spawned"
    )]
    AlreadyConfigured {
        /// The history capacity the existing registry has.
        history_capacity: usize,
        /// Whether the existing registry times polls precisely.
        precise_timing: bool,
    },
}
