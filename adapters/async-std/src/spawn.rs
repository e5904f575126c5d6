//! Tracked spawning through async-std's task builder.

use std::{
    fmt,
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use monitor_core::{JoinError, TaskId, TaskSpec};

/// Spawns a tracked task on async-std's runtime, recorded in the global
/// registry ([`TaskRegistry::global`](monitor_core::TaskRegistry::global)).
///
/// Like [`async_std::task::spawn`], but the returned [`JoinHandle`]
/// resolves to `Result<T, JoinError>` so that a cancel from the monitor
/// reaches the awaiting code (see the [crate docs](crate)). The recorded
/// spawn location is the line that called this function, and the parent is
/// the tracked task (if any) that called it.
///
/// # Panics
///
/// If async-std cannot spawn the task, like [`async_std::task::spawn`].
///
/// # Example
///
/// ```
/// async_std::task::block_on(async {
///     let handle = monitor_async_std::spawn(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    TaskBuilder::new().spawn(future).expect("cannot spawn task")
}

/// Starts building a tracked task: a name (given to async-std's task as
/// well), persistence, or a registry other than the global one.
///
/// ```
/// use monitor_core::{TaskIntrospect, TaskRegistry};
///
/// async_std::task::block_on(async {
///     let registry = TaskRegistry::new();
///     let handle = monitor_async_std::task()
///         .name("flusher")
///         .registry(registry.clone())
///         .spawn(std::future::pending::<()>())
///         .unwrap();
///     assert_eq!(handle.task().name(), Some("flusher"));
///
///     registry.cancel(handle.id()).unwrap();
///     assert!(handle.await.unwrap_err().is_cancelled());
/// });
/// ```
pub fn task() -> TaskBuilder {
    TaskBuilder::new()
}

/// Configures one tracked task before spawning it; made by [`task`].
///
/// The name is given to async-std's task as well
/// (`async_std::task::current().name()`).
#[derive(Debug, Clone, Default)]
#[must_use = "a TaskBuilder does nothing until .spawn() is called"]
pub struct TaskBuilder {
    spec: TaskSpec,
}

impl TaskBuilder {
    /// An unnamed task in the global registry.
    pub fn new() -> Self {
        Self::default()
    }

    monitor_core::task_builder_methods!(spec);

    /// Spawns the task.
    ///
    /// # Errors
    ///
    /// When async-std's [`Builder::spawn`](async_std::task::Builder::spawn)
    /// fails; the task is then recorded as cancelled (dropped).
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut builder = async_std::task::Builder::new();
        if let Some(name) = self.spec.task_name() {
            builder = builder.name(name.to_owned());
        }
        // The wrapper resolves to `Result<T, JoinError>` itself, panics
        // included (async-std would otherwise lose the panic with its
        // worker), so it is spawned without a layer of the adapter's own.
        let task = self.spec.instrument(future).catch_panics();
        let id = task.id();
        // No runtime canceller: async-std cannot abort a task from outside
        // without its JoinHandle. A cancel sets the wrapper's flag and wakes
        // the task, whose next poll drops the future and resolves to
        // `Err(JoinError::Cancelled)`.
        let inner = builder.spawn(task)?;
        Ok(JoinHandle { inner, id })
    }
}

/// Awaits a tracked async-std task.
///
/// Resolves to the task's output, or a [`JoinError`] when the task was
/// cancelled through the monitor or panicked; it never hangs on a cancelled
/// task. Dropping it detaches the task, as with async-std.
#[must_use = "dropping a JoinHandle detaches the task; await it or call .cancel()"]
pub struct JoinHandle<T> {
    inner: async_std::task::JoinHandle<Result<T, JoinError>>,
    id: TaskId,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("task", self.inner.task())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// The task's monitor id, as the console's `ps` shows it.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// async-std's view of the task: its own id and name.
    pub fn task(&self) -> &async_std::task::Task {
        self.inner.task()
    }

    /// Cancels the task and waits until its future has been dropped, like
    /// async-std's `JoinHandle::cancel`.
    ///
    /// Returns the output if the task had already completed, `None`
    /// otherwise.
    pub async fn cancel(self) -> Option<T> {
        self.inner.cancel().await.and_then(Result::ok)
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}
