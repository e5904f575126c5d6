//! Tracked spawning on top of any [`Executor`].

use std::{
    fmt,
    future::Future,
    panic::Location,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures_channel::oneshot;

use crate::{Executor, TaskId, TaskIntrospect, TaskOptions, TaskRegistry};

/// A runtime's [`Executor`] together with the [`TaskRegistry`] that records
/// what it spawns.
///
/// This is how tasks get tracked on any runtime, including a home-grown one:
/// every future spawned through it is wrapped in an
/// [`Instrumented`](crate::Instrumented) future, registered with its name,
/// spawn location and parent, and returns a [`JoinHandle`] that tells a
/// completed value from a cancellation or a panic.
///
/// Adapters for tokio, smol and async-std offer the same API returning their
/// runtime's own join handles; `Spawner` is the runtime-agnostic version.
///
/// ```
/// use monitor_core::{BoxedFuture, Executor, JoinError, Spawner, TaskRegistry};
///
/// #[derive(Debug)]
/// struct ThreadPerTask;
/// impl Executor for ThreadPerTask {
///     fn spawn(&self, future: BoxedFuture) {
///         std::thread::spawn(move || futures_lite::future::block_on(future));
///     }
/// }
///
/// let spawner = Spawner::new(ThreadPerTask, TaskRegistry::new());
/// let stuck = spawner.task().name("stuck").spawn(std::future::pending::<()>());
/// stuck.cancel();
/// let outcome = futures_lite::future::block_on(stuck);
/// assert!(matches!(outcome, Err(JoinError::Cancelled(_))));
/// ```
#[derive(Clone)]
pub struct Spawner {
    executor: Arc<dyn Executor>,
    registry: Arc<TaskRegistry>,
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Spawner {
    /// Tracks tasks spawned on `executor` in `registry`.
    pub fn new(executor: impl Executor, registry: Arc<TaskRegistry>) -> Self {
        Self {
            executor: Arc::new(executor),
            registry,
        }
    }

    /// Like [`Spawner::new`], for an executor that is already shared.
    pub fn from_arc(executor: Arc<dyn Executor>, registry: Arc<TaskRegistry>) -> Self {
        Self { executor, registry }
    }

    /// Spawns an unnamed tracked task.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(future, TaskOptions::new().location(Location::caller()))
    }

    /// Starts building a task with a name or other options.
    pub fn task(&self) -> TaskBuilder<'_> {
        TaskBuilder {
            spawner: self,
            options: TaskOptions::new(),
        }
    }

    /// Spawns a tracked task with explicit options.
    #[track_caller]
    pub fn spawn_with<F>(&self, future: F, options: TaskOptions) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.registry.instrument(future, options).catch_panics();
        let id = task.id();
        let (sender, receiver) = oneshot::channel();
        self.executor.spawn(Box::pin(async move {
            let outcome = task.await;
            // The joiner may be gone (detached task); that is fine.
            let _ = sender.send(outcome);
        }));
        JoinHandle {
            id,
            registry: Arc::clone(&self.registry),
            receiver,
        }
    }

    /// The registry tasks are recorded in.
    pub fn registry(&self) -> &Arc<TaskRegistry> {
        &self.registry
    }

    /// The executor tasks run on.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.executor
    }
}

/// Configures one task before spawning it; made by [`Spawner::task`].
#[derive(Debug)]
#[must_use = "a TaskBuilder does nothing until .spawn() is called"]
pub struct TaskBuilder<'a> {
    spawner: &'a Spawner,
    options: TaskOptions,
}

impl TaskBuilder<'_> {
    /// Names the task.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options = self.options.name(name);
        self
    }

    /// Keeps the task's record after it ends regardless of the history
    /// bound; see [`TaskOptions::persistent`].
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.options = self.options.persistent(persistent);
        self
    }

    /// Spawns the task.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let options = self.options.location(Location::caller());
        self.spawner.spawn_with(future, options)
    }
}

/// Why a tracked task produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was cancelled (by the monitor, by [`JoinHandle::cancel`]) or
    /// the runtime dropped it before it completed.
    #[error("task {0} was cancelled")]
    Cancelled(TaskId),
    /// The task panicked.
    #[error("task {id} panicked: {message}")]
    Panicked {
        /// The task.
        id: TaskId,
        /// The panic message.
        message: String,
    },
}

impl JoinError {
    /// `true` if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled(_))
    }

    /// `true` if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked { .. })
    }
}

/// Awaits a task spawned through [`Spawner`].
///
/// Resolves to the task's output, or a [`JoinError`] saying it was
/// cancelled or panicked; it never hangs on a cancelled task, because the
/// sending half is dropped with the task's future. Dropping the handle
/// detaches the task (it keeps running).
#[must_use = "dropping a JoinHandle detaches the task; await it or call .cancel()"]
pub struct JoinHandle<T> {
    id: TaskId,
    registry: Arc<TaskRegistry>,
    receiver: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    /// The task's id, as shown by `ps`.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Requests cancellation, exactly like the console's `cancel`. Does
    /// nothing if the task has already ended.
    pub fn cancel(&self) {
        let _ = self.registry.cancel(self.id);
    }

    /// `true` once the task has ended: its future has been dropped and its
    /// outcome is decided (awaiting the handle then waits at most for the
    /// few instructions that hand the outcome over). One lookup in the
    /// registry's live map, whatever the number of tasks.
    pub fn is_finished(&self) -> bool {
        !self.registry.is_live(self.id)
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.id;
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|received| received.unwrap_or(Err(JoinError::Cancelled(id))))
    }
}
