//! Reading the registry: the [`TaskIntrospect`] trait and its snapshots.

use serde::Serialize;

use crate::{
    FrameNode, FrameTree, RegistryError, SiteTable, TaskId,
    task::{TaskEnd, TaskState},
};

/// A point-in-time copy of one task's record.
///
/// Serializes to the JSON object the console's `--json` output uses:
///
/// ```json
/// {"id":7,"name":"ticker","state":"idle","location":"src/main.rs:12:5",
///  "parent":3,"polls":41,"busy_ns":120000,"age_ns":9000000000,
///  "poll_ns":null,"thread":null,"persistent":false,"future_size":48}
/// ```
///
/// Terminated tasks also carry `ended` (`{"reason":"panicked","message":"…"}`
/// or `{"reason":"cancelled","by":"request"}` or `{"reason":"completed"}`,
/// or `{"reason":"ended"}` when runtime hooks saw the end but not how)
/// and `ended_ago_ns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TaskSnapshot {
    /// The task's id.
    pub id: TaskId,
    /// The name given at spawn, if any.
    pub name: Option<String>,
    /// Where the task is in its life.
    pub state: TaskState,
    /// Where the task was spawned, as `file:line:column`.
    pub location: String,
    /// The tracked task that spawned this one, if any.
    pub parent: Option<TaskId>,
    /// How many times the task has been polled.
    pub polls: u64,
    /// Total time spent inside `poll`, including a poll in progress.
    pub busy_ns: u64,
    /// Time since the task was spawned (for terminated tasks: its lifetime).
    pub age_ns: u64,
    /// While the task is `Running`: how long the current poll has lasted.
    pub poll_ns: Option<u64>,
    /// While the task is `Running`: the thread polling it.
    pub thread: Option<String>,
    /// Whether the task stays in the terminated history regardless of its
    /// bound.
    pub persistent: bool,
    /// `size_of` the task's future in bytes, recorded at spawn (free: it is
    /// known at compile time); `None` for tasks tracked through a runtime's
    /// hooks, whose futures the monitor never sees.
    pub future_size: Option<u64>,
    /// How the task ended; `None` while it is live.
    pub ended: Option<TaskEnd>,
    /// Time since the task ended; `None` while it is live.
    pub ended_ago_ns: Option<u64>,
}

impl TaskSnapshot {
    /// The name, or `-` for an unnamed task, for tables.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("-")
    }
}

/// The outcome of a successful cancel request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelRequested {
    /// The task was idle: it has been woken and its future will be dropped
    /// as soon as the runtime polls it.
    WasIdle,
    /// A worker is inside the task's `poll` right now; the future is dropped
    /// when that poll returns. A poll that never returns cannot be
    /// interrupted from outside in Rust.
    WasRunning {
        /// How long the current poll had lasted.
        poll_ns: u64,
    },
}

/// One task in a [`TaskTrace`]'s creation chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TraceFrame {
    /// The task's id.
    pub id: TaskId,
    /// Its name, if it had one.
    pub name: Option<String>,
    /// Where it was spawned; `None` when the task has left the history.
    pub location: Option<String>,
    /// Its state when the trace was taken; `None` when it left the history.
    pub state: Option<TaskState>,
}

/// What `where` shows for a task.
///
/// Its await stack can come from two sources, kept apart: `frames`, the
/// pending calls of functions marked with [`#[frame]`](macro@crate::frame)
/// (any runtime), and `stack`, a dump taken by the runtime adapter (tokio's
/// task dumps), named by `stack_source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TaskTrace {
    /// The task itself.
    pub task: TaskSnapshot,
    /// Who spawned whom, from the root down to the task's parent.
    pub ancestors: Vec<TraceFrame>,
    /// The pending marked calls, outermost first: for a live task what it
    /// awaits now (for a task inside a poll, the calls entered so far); for
    /// an ended one what it was awaiting when it ended, if kept (see
    /// [`FrameTree::at_end`]).
    pub frames: Vec<FrameNode>,
    /// `frames` hit [`MAX_FRAMES`](crate::MAX_FRAMES) and leaves some out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub frames_truncated: bool,
    /// A real await stack from the runtime adapter (e.g. tokio's task
    /// dumps). `None` when not available.
    pub stack: Option<String>,
    /// Where `stack` came from ([`TaskIntrospect::stack_source`]); `None`
    /// when there is no `stack`.
    pub stack_source: Option<String>,
}

impl TaskTrace {
    /// Assembles a trace from a snapshot and its creation chain.
    pub fn new(task: TaskSnapshot, ancestors: Vec<TraceFrame>, stack: Option<String>) -> Self {
        Self {
            task,
            ancestors,
            frames: Vec::new(),
            frames_truncated: false,
            stack_source: stack.as_ref().map(|_| "runtime adapter".to_owned()),
            stack,
        }
    }

    /// Adds the pending marked calls.
    pub fn with_frames(mut self, frames: FrameTree) -> Self {
        self.frames = frames.roots;
        self.frames_truncated = frames.truncated;
        self
    }

    /// Names where `stack` came from.
    pub fn with_stack_source(mut self, source: impl Into<String>) -> Self {
        if self.stack.is_some() {
            self.stack_source = Some(source.into());
        }
        self
    }
}

/// Work a runtime runs outside the monitor's view; see
/// [`TaskIntrospect::untracked`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UntrackedTasks {
    /// How many alive tasks the runtime counts beyond the tracked ones.
    pub count: usize,
    /// What to do to see them, for the person reading `ps`.
    pub how_to_see: &'static str,
}

impl UntrackedTasks {
    /// `count` untracked tasks, and the advice to show with them.
    pub fn new(count: usize, how_to_see: &'static str) -> Self {
        Self { count, how_to_see }
    }
}

/// Read access to the tasks of an application, plus cancellation.
///
/// The console's commands see tasks only through this trait, and call it
/// from the monitor's own thread: implementations must not need the
/// application's runtime to answer, so `ps` and `where` keep working when
/// every worker is blocked. [`TaskRegistry`](crate::TaskRegistry)
/// implements it; an adapter can wrap the registry to add what its runtime
/// knows, typically by overriding [`stack`](TaskIntrospect::stack).
///
/// # Example
///
/// An introspector that adds a (fake) stack to every trace while delegating
/// everything else to a registry:
///
/// ```
/// use std::sync::Arc;
///
/// use monitor_core::{
///     CancelRequested, RegistryError, TaskId, TaskIntrospect, TaskRegistry, TaskSnapshot,
/// };
///
/// struct WithStacks(Arc<TaskRegistry>);
///
/// impl TaskIntrospect for WithStacks {
///     fn for_each_live(&self, visit: &mut dyn FnMut(TaskSnapshot)) {
///         self.0.for_each_live(visit)
///     }
///     fn live_count(&self) -> usize {
///         self.0.live_count()
///     }
///     fn terminated(&self) -> Vec<TaskSnapshot> {
///         self.0.terminated()
///     }
///     fn task(&self, id: TaskId) -> Option<TaskSnapshot> {
///         self.0.task(id)
///     }
///     fn cancel(&self, id: TaskId) -> Result<CancelRequested, RegistryError> {
///         self.0.cancel(id)
///     }
///     fn stack(&self, id: TaskId) -> Option<String> {
///         Some(format!("<stack of task {id}>"))
///     }
///     // Forwarded so `sites` and the site lints keep working.
///     fn sites(&self) -> Option<&monitor_core::SiteTable> {
///         Some(self.0.sites())
///     }
/// }
///
/// let introspect = WithStacks(TaskRegistry::new());
/// assert_eq!(introspect.live_count(), 0);
/// ```
pub trait TaskIntrospect: Send + Sync + 'static {
    /// Calls `visit` with a snapshot of every live task, in no particular
    /// order, without collecting them first (so a million tasks can be
    /// streamed in bounded memory).
    fn for_each_live(&self, visit: &mut dyn FnMut(TaskSnapshot));

    /// How many tasks are live.
    fn live_count(&self) -> usize;

    /// The terminated-task history, newest first.
    fn terminated(&self) -> Vec<TaskSnapshot>;

    /// One task, live or still in the terminated history.
    fn task(&self, id: TaskId) -> Option<TaskSnapshot>;

    /// Requests cancellation of a live task.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NoSuchTask`] for an unknown id,
    /// [`RegistryError::AlreadyEnded`] for a task that has ended and
    /// [`RegistryError::NotCancellable`] for a task tracked through runtime
    /// hooks that give no way to stop it.
    fn cancel(&self, id: TaskId) -> Result<CancelRequested, RegistryError>;

    /// A real await stack for the task, when the runtime can produce one.
    /// The default has none.
    fn stack(&self, id: TaskId) -> Option<String> {
        let _ = id;
        None
    }

    /// Tasks the runtime is running that the monitor does not track, when
    /// the runtime can count its own (tokio's alive-task count): `ps` and
    /// `stats` then say how many there are and how to see them. The
    /// default knows of none.
    fn untracked(&self) -> Option<UntrackedTasks> {
        None
    }

    /// The per-spawn-site statistics and lint thresholds, when the
    /// introspector has them. [`TaskRegistry`](crate::TaskRegistry) does;
    /// a wrapper around a registry should return the registry's. The
    /// default has none, which leaves `sites` empty and the site lints off.
    fn sites(&self) -> Option<&SiteTable> {
        None
    }

    /// Names where [`stack`](TaskIntrospect::stack) comes from, for the
    /// reader of `where` (`"tokio task dump"`).
    fn stack_source(&self) -> &'static str {
        "runtime adapter"
    }

    /// The pending [`#[frame]`](macro@crate::frame)-marked calls of `task`:
    /// the live tree, or for an ended task the one kept when it ended. The
    /// default reads the process-wide frame table, which every runtime
    /// feeds; override only to add frames from elsewhere.
    fn frames(&self, task: &TaskSnapshot) -> FrameTree {
        if task.state.is_terminal() {
            FrameTree::at_end(task.id)
        } else {
            FrameTree::of_live_task(task.id)
        }
    }

    /// Every live task, sorted by id.
    fn live_tasks(&self) -> Vec<TaskSnapshot> {
        let mut tasks = Vec::with_capacity(self.live_count());
        self.for_each_live(&mut |task| tasks.push(task));
        tasks.sort_by_key(|task| task.id);
        tasks
    }

    /// What `where` shows: the task, the chain of tasks that spawned it,
    /// its pending marked calls and, if available, the runtime's stack.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NoSuchTask`] when the id is unknown.
    fn trace(&self, id: TaskId) -> Result<TaskTrace, RegistryError> {
        let task = self.task(id).ok_or(RegistryError::NoSuchTask(id))?;
        let mut ancestors = Vec::new();
        let mut next = task.parent;
        // Ids only ever point to older tasks, so the chain ends; the bound
        // is a guard against a misbehaving implementation.
        while let Some(parent) = next {
            if ancestors.len() >= 1024 {
                break;
            }
            match self.task(parent) {
                Some(snapshot) => {
                    next = snapshot.parent;
                    ancestors.push(TraceFrame {
                        id: snapshot.id,
                        name: snapshot.name,
                        location: Some(snapshot.location),
                        state: Some(snapshot.state),
                    });
                }
                None => {
                    next = None;
                    ancestors.push(TraceFrame {
                        id: parent,
                        name: None,
                        location: None,
                        state: None,
                    });
                }
            }
        }
        ancestors.reverse();
        let frames = self.frames(&task);
        let stack = self.stack(id);
        Ok(TaskTrace::new(task, ancestors, stack)
            .with_frames(frames)
            .with_stack_source(self.stack_source()))
    }
}
