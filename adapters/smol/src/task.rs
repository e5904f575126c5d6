//! [`Task`]: smol's task handle semantics for tracked tasks.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use monitor_core::{Cancelled, TaskId};

/// A spawned tracked task: smol's [`Task`](smol::Task) semantics, plus the
/// task's monitor [`id`](Task::id).
///
/// - Awaiting it gives the task's output.
/// - Dropping it cancels the task (the executor drops the future the next
///   time it runs), which the registry records as "cancelled (dropped)";
///   [`detach`](Task::detach) lets the task run on instead.
/// - [`cancel`](Task::cancel) cancels and waits for the task to stop.
///
/// # Cancellation through the monitor
///
/// When the console's `cancel` (or [`TaskIntrospect::cancel`]) stops the
/// task, its future is dropped and awaiting the `Task` **panics**, with a
/// message naming the task. That is what smol's own `Task` does when the
/// executor drops a task, and it keeps `Task<T>` a drop-in replacement that
/// resolves to `T`. Code that must survive a cancel awaits
/// [`fallible`](Task::fallible) instead, which resolves to
/// `Result<T, Cancelled>`. Either way, awaiting never hangs.
///
/// A panic inside the task is recorded by the monitor and then resumed in
/// the task awaiting the `Task`, as with smol.
///
/// [`TaskIntrospect::cancel`]: monitor_core::TaskIntrospect::cancel
///
/// # Example
///
/// ```
/// use monitor_core::{TaskIntrospect, TaskRegistry};
/// use monitor_smol::MonitoredExecutor;
///
/// let registry = TaskRegistry::new();
/// let ex = MonitoredExecutor::with_registry(registry.clone());
/// let stuck = ex.spawn(std::future::pending::<()>()).fallible();
/// let id = stuck.id();
///
/// registry.cancel(id).unwrap();
/// let outcome = futures_lite::future::block_on(ex.run(stuck));
/// assert_eq!(outcome, Err(monitor_core::Cancelled(id)));
/// ```
#[must_use = "dropping a Task cancels it; call .detach() to let it run in the background"]
pub struct Task<T> {
    inner: async_task::FallibleTask<Result<T, Cancelled>>,
    id: TaskId,
}

impl<T> Task<T> {
    pub(crate) fn new(inner: async_task::Task<Result<T, Cancelled>>, id: TaskId) -> Self {
        // The fallible form tells "the executor dropped the task" (None)
        // apart from a completed one without panicking, so both handle types
        // can build on it.
        Self {
            inner: inner.fallible(),
            id,
        }
    }

    /// The task's id, as the console's `ps` shows it.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Lets the task run in the background; its output is dropped.
    pub fn detach(self) {
        self.inner.detach();
    }

    /// Cancels the task and waits until its future has been dropped.
    ///
    /// Returns the output if the task had already completed, `None`
    /// otherwise (including when the monitor cancelled it).
    pub async fn cancel(self) -> Option<T> {
        self.inner.cancel().await.and_then(Result::ok)
    }

    /// Converts into a handle that resolves to `Err(Cancelled)` instead of
    /// panicking when the task was cancelled through the monitor or dropped
    /// by its executor.
    pub fn fallible(self) -> FallibleTask<T> {
        FallibleTask {
            inner: self.inner,
            id: self.id,
        }
    }

    /// `true` once the task has completed or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let id = self.id;
        match ready!(Pin::new(&mut self.inner).poll(cx)) {
            Some(Ok(output)) => Poll::Ready(output),
            Some(Err(cancelled)) => {
                panic!("{cancelled} through the monitor (await Task::fallible() to handle this)")
            }
            None => panic!("task {id} was cancelled: its executor dropped it"),
        }
    }
}

/// A [`Task`] whose cancellation is an error value rather than a panic;
/// made by [`Task::fallible`].
///
/// Dropping it cancels the task, like dropping a [`Task`].
#[must_use = "dropping a FallibleTask cancels it; call .detach() to let it run in the background"]
pub struct FallibleTask<T> {
    inner: async_task::FallibleTask<Result<T, Cancelled>>,
    id: TaskId,
}

impl<T> FallibleTask<T> {
    /// The task's id, as the console's `ps` shows it.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Lets the task run in the background; its output is dropped.
    pub fn detach(self) {
        self.inner.detach();
    }

    /// Cancels the task and waits until its future has been dropped;
    /// returns the output if it had already completed.
    pub async fn cancel(self) -> Option<T> {
        self.inner.cancel().await.and_then(Result::ok)
    }

    /// `true` once the task has completed or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> fmt::Debug for FallibleTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallibleTask")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<T> Future for FallibleTask<T> {
    type Output = Result<T, Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.id;
        Pin::new(&mut self.inner)
            .poll(cx)
            .map(|outcome| outcome.unwrap_or(Err(Cancelled(id))))
    }
}
