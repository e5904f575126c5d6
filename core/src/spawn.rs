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

use crate::{Executor, TaskId, TaskIntrospect, TaskKey, TaskOptions, TaskRegistry};

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
            spec: TaskSpec::new(),
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
        let key = task.key();
        let (sender, receiver) = oneshot::channel();
        self.executor.spawn(Box::pin(async move {
            let outcome = task.await;
            // The joiner may be gone (detached task); that is fine.
            let _ = sender.send(outcome);
        }));
        JoinHandle {
            key,
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
    spec: TaskSpec,
}

impl TaskBuilder<'_> {
    crate::task_builder_methods!(spec);

    /// Spawns the task.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (options, registry) = self.spec.into_parts(Location::caller());
        match registry {
            None => self.spawner.spawn_with(future, options),
            Some(registry) => Spawner {
                executor: Arc::clone(&self.spawner.executor),
                registry,
            }
            .spawn_with(future, options),
        }
    }
}

/// The runtime-independent half of every task builder — name, persistence,
/// registry, parent — so that the builders of [`Spawner`] and of each
/// adapter (`monitor_tokio::task()`, `monitor_smol::task()`,
/// `monitor_async_std::task()`) share one implementation and add only their
/// runtime's spawn.
///
/// An adapter's builder holds a `TaskSpec`, gets the option methods from
/// [`task_builder_methods!`](crate::task_builder_methods), and in its
/// `#[track_caller]` spawn calls [`TaskSpec::instrument`].
///
/// ```
/// use monitor_core::{TaskIntrospect, TaskRegistry, TaskSpec};
///
/// let registry = TaskRegistry::new();
/// let task = TaskSpec::new()
///     .name("flusher")
///     .registry(registry.clone())
///     .instrument(async { 7 });
/// assert_eq!(registry.task(task.id()).unwrap().name.as_deref(), Some("flusher"));
/// assert_eq!(futures_lite::future::block_on(task), Ok(7));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TaskSpec {
    options: TaskOptions,
    registry: Option<Arc<TaskRegistry>>,
}

impl TaskSpec {
    /// An unnamed, non-persistent task in the global registry (or the one
    /// the builder defaults to), whose parent is the tracked task spawning
    /// it.
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task; the console's `ps` shows and filters on it.
    #[inline]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options = self.options.name(name);
        self
    }

    /// Keeps the task's record in the terminated history however many tasks
    /// end after it; see [`TaskOptions::persistent`].
    #[inline]
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.options = self.options.persistent(persistent);
        self
    }

    /// Records the task in `registry` instead of the default one.
    #[inline]
    pub fn registry(mut self, registry: Arc<TaskRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Records `parent` as the task's parent instead of the tracked task
    /// being polled on the spawning thread; see [`TaskOptions::parent`].
    #[inline]
    pub fn parent(mut self, parent: Option<crate::TaskId>) -> Self {
        self.options = self.options.parent(parent);
        self
    }

    /// The name given with [`name`](Self::name), for runtimes that name
    /// their own tasks too (async-std).
    #[inline]
    pub fn task_name(&self) -> Option<&str> {
        self.options.name.as_deref()
    }

    /// The options, with `location` as the spawn location, and the registry
    /// if one was given.
    #[inline]
    pub fn into_parts(
        self,
        location: &'static Location<'static>,
    ) -> (TaskOptions, Option<Arc<TaskRegistry>>) {
        (self.options.location(location), self.registry)
    }

    /// Wraps `future` for the registry given, or the global one
    /// ([`TaskRegistry::global`]), with the caller's location as the spawn
    /// location (call it from a `#[track_caller]` spawn function).
    #[track_caller]
    pub fn instrument<F: Future>(self, future: F) -> crate::Instrumented<F> {
        let (options, registry) = self.into_parts(Location::caller());
        match registry {
            Some(registry) => registry.instrument_owned(future, options),
            None => TaskRegistry::global().instrument(future, options),
        }
    }
}

/// Defines the option methods of a task builder (`name`, `persistent`,
/// `registry`, `parent`) on a struct with a [`TaskSpec`] field, forwarding
/// to it: one implementation for the builders of every adapter.
///
/// ```
/// use monitor_core::{TaskSpec, task_builder_methods};
///
/// /// A builder for some runtime.
/// #[derive(Debug, Default)]
/// pub struct MyTaskBuilder {
///     spec: TaskSpec,
///     // ... where to spawn ...
/// }
///
/// impl MyTaskBuilder {
///     task_builder_methods!(spec);
/// }
///
/// let builder = MyTaskBuilder::default().name("worker").persistent(true);
/// assert_eq!(builder.spec.task_name(), Some("worker"));
/// ```
#[macro_export]
macro_rules! task_builder_methods {
    ($spec:ident) => {
        /// Names the task; the console's `ps` shows and filters on it.
        #[inline]
        pub fn name(mut self, name: impl ::std::convert::Into<::std::string::String>) -> Self {
            self.$spec = self.$spec.name(name);
            self
        }

        /// Keeps the task's record in the terminated history however many
        /// tasks end after it; see
        /// [`TaskOptions::persistent`]($crate::TaskOptions::persistent).
        #[inline]
        pub fn persistent(mut self, persistent: bool) -> Self {
            self.$spec = self.$spec.persistent(persistent);
            self
        }

        /// Records the task in `registry` instead of the default one (the
        /// global registry, or the spawner's).
        #[inline]
        pub fn registry(mut self, registry: ::std::sync::Arc<$crate::TaskRegistry>) -> Self {
            self.$spec = self.$spec.registry(registry);
            self
        }

        /// Records `parent` as the task's parent instead of the tracked
        /// task being polled on the spawning thread.
        #[inline]
        pub fn parent(mut self, parent: ::std::option::Option<$crate::TaskId>) -> Self {
            self.$spec = self.$spec.parent(parent);
            self
        }
    };
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
    key: TaskKey,
    registry: Arc<TaskRegistry>,
    receiver: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.key.id())
            .finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    /// The task's id, as shown by `ps`.
    pub fn id(&self) -> TaskId {
        self.key.id()
    }

    /// Requests cancellation, exactly like the console's `cancel`. Does
    /// nothing if the task has already ended.
    pub fn cancel(&self) {
        let _ = self.registry.cancel(self.key.id());
    }

    /// `true` once the task has ended: its future has been dropped and its
    /// outcome is decided (awaiting the handle then waits at most for the
    /// few instructions that hand the outcome over). One slot of the
    /// registry's live tasks is read, whatever their number.
    pub fn is_finished(&self) -> bool {
        !self.registry.is_live(self.key)
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.key.id();
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|received| received.unwrap_or(Err(JoinError::Cancelled(id))))
    }
}
