//! Task lifecycle states and how a task ended.

use std::fmt;

use serde::Serialize;

/// Where a task is in its life.
///
/// ```text
///            poll            returns Pending
///   Idle ───────────▶ Running ────────────▶ Idle
///                        │ returns Ready      │ cancel / dropped
///                        ├────────▶ Completed │
///                        ├────────▶ Panicked  ▼
///                        ├──────────────▶ Cancelled
///                        └────────▶ Ended   (outcome unknown)
/// ```
///
/// `Ended` is only reached by tasks the monitor sees through a runtime's
/// hooks rather than through its own wrapper
/// ([`TaskRegistry::register`](crate::TaskRegistry::register)): the runtime
/// says the task is gone but not whether it completed, panicked or was
/// aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TaskState {
    /// Not being polled: waiting to be woken, or woken and waiting for a
    /// worker (the "pending" state of asyncio).
    Idle,
    /// A worker thread is inside the task's `poll` right now. A task that
    /// stays `Running` for long is blocking its worker.
    Running,
    /// The future returned `Ready`.
    Completed,
    /// The task was stopped before completing: by the monitor's `cancel`, by
    /// its join handle, or because the runtime dropped it.
    Cancelled,
    /// The future panicked while being polled.
    Panicked,
    /// The task is gone, but how it ended is unknown: the runtime that
    /// reported its end (through a hook, see [`TaskEnd::Ended`]) does not
    /// say whether it completed, panicked or was aborted.
    Ended,
}

impl TaskState {
    pub(crate) const fn to_u8(self) -> u8 {
        match self {
            TaskState::Idle => 0,
            TaskState::Running => 1,
            TaskState::Completed => 2,
            TaskState::Cancelled => 3,
            TaskState::Panicked => 4,
            TaskState::Ended => 5,
        }
    }

    pub(crate) const fn from_u8(raw: u8) -> Self {
        match raw {
            0 => TaskState::Idle,
            1 => TaskState::Running,
            2 => TaskState::Completed,
            3 => TaskState::Cancelled,
            4 => TaskState::Panicked,
            _ => TaskState::Ended,
        }
    }

    /// `true` for the states a task never leaves.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Cancelled | TaskState::Panicked | TaskState::Ended
        )
    }

    /// The lowercase name used in tables and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskState::Idle => "idle",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Cancelled => "cancelled",
            TaskState::Panicked => "panicked",
            TaskState::Ended => "ended",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Who stopped a cancelled task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CancelledBy {
    /// A `cancel` request: the console's `cancel` command, `TaskIntrospect::cancel`
    /// or `JoinHandle::cancel`.
    Request,
    /// The future was dropped before it completed without a cancel request:
    /// an abort through the runtime's own handle, a dropped smol `Task`, or
    /// runtime shutdown.
    Dropped,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "lowercase")]
#[non_exhaustive]
pub enum TaskEnd {
    /// The future returned `Ready`.
    Completed,
    /// The task was stopped before it completed.
    Cancelled {
        /// What stopped it.
        by: CancelledBy,
    },
    /// The future panicked.
    Panicked {
        /// The panic message (`"<non-string panic payload>"` when the payload
        /// was neither `&str` nor `String`).
        message: String,
    },
    /// The task ended, but how is unknown.
    ///
    /// For tasks registered without the monitor's wrapper
    /// ([`TaskRegistry::register`](crate::TaskRegistry::register)) whose
    /// runtime reports only *that* a task terminated — tokio's
    /// `on_task_terminate` hook, for one, fires alike for completion, panic
    /// and abort. Recording `Completed` there would make the console claim
    /// something nobody observed.
    Ended,
}

impl TaskEnd {
    /// The terminal state that matches this ending.
    pub fn state(&self) -> TaskState {
        match self {
            TaskEnd::Completed => TaskState::Completed,
            TaskEnd::Cancelled { .. } => TaskState::Cancelled,
            TaskEnd::Panicked { .. } => TaskState::Panicked,
            TaskEnd::Ended => TaskState::Ended,
        }
    }
}

impl fmt::Display for TaskEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskEnd::Completed => f.write_str("completed"),
            TaskEnd::Cancelled {
                by: CancelledBy::Request,
            } => f.write_str("cancelled on request"),
            TaskEnd::Cancelled {
                by: CancelledBy::Dropped,
            } => f.write_str("cancelled (dropped before completion)"),
            TaskEnd::Panicked { message } => write!(f, "panicked: {message}"),
            TaskEnd::Ended => f.write_str("ended"),
        }
    }
}
