//! [`SmolExecutor`] and [`MonitoredExecutor`].

use std::{fmt, future::Future, ops::Deref, panic::Location, sync::Arc};

use monitor_core::{BoxedFuture, Executor, TaskOptions, TaskRegistry};

use crate::{Task, spawn::spawn_instrumented};

/// Runs the monitor's futures on smol: on smol's global executor
/// ([`smol::spawn`]) or on an [`async_executor::Executor`] of your own.
///
/// Give it to [`monitor_core::Spawner`] for runtime-agnostic tracked
/// spawning, or to the monitor so it can run asynchronous console commands
/// on the application's executor. An executor of your own must be run
/// (`ex.run(..)`) for those futures to make progress.
///
/// # Example
///
/// ```
/// use monitor_core::{Spawner, TaskRegistry};
/// use monitor_smol::SmolExecutor;
///
/// let spawner = Spawner::new(SmolExecutor::new(), TaskRegistry::new());
/// let answer = spawner.task().name("answer").spawn(async { 6 * 7 });
/// assert_eq!(smol::block_on(answer).unwrap(), 42);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct SmolExecutor {
    /// `None` means smol's global executor.
    executor: Option<Arc<async_executor::Executor<'static>>>,
}

impl SmolExecutor {
    /// Spawns on smol's global executor, like [`smol::spawn`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns on `executor`.
    pub fn from_executor(executor: Arc<async_executor::Executor<'static>>) -> Self {
        Self {
            executor: Some(executor),
        }
    }

    /// The executor spawned on, or `None` for smol's global executor.
    pub fn executor(&self) -> Option<&Arc<async_executor::Executor<'static>>> {
        self.executor.as_ref()
    }
}

impl From<Arc<async_executor::Executor<'static>>> for SmolExecutor {
    fn from(executor: Arc<async_executor::Executor<'static>>) -> Self {
        Self::from_executor(executor)
    }
}

impl Executor for SmolExecutor {
    fn spawn(&self, future: BoxedFuture) {
        // Detached: the monitor follows the task through the registry, and
        // dropping the handle would cancel it.
        match &self.executor {
            Some(executor) => executor.spawn(future).detach(),
            None => smol::spawn(future).detach(),
        }
    }
}

/// An [`async_executor::Executor`] whose [`spawn`](Self::spawn) tracks
/// every task in a [`TaskRegistry`].
///
/// Everything else (`run`, `tick`, `try_tick`, `is_empty`) is the wrapped
/// executor's, through [`Deref`]. Note that `(*ex).spawn(..)` reaches the
/// wrapped executor's own, untracked `spawn`.
///
/// Dropping the executor drops the futures of its unfinished tasks, which
/// the registry records as cancelled (dropped). A cancel from the monitor
/// takes effect the next time the executor runs the task, so the executor
/// must be running (`ex.run(..)` on some thread) for it to happen.
///
/// # Example
///
/// ```
/// use monitor_core::{TaskIntrospect, TaskOptions, TaskRegistry};
/// use monitor_smol::MonitoredExecutor;
///
/// let registry = TaskRegistry::new();
/// let ex = MonitoredExecutor::with_registry(registry.clone());
/// let task = ex.spawn_with(async { 1 + 1 }, TaskOptions::new().name("adder"));
/// assert_eq!(registry.live_tasks()[0].name.as_deref(), Some("adder"));
///
/// assert_eq!(futures_lite::future::block_on(ex.run(task)), 2);
/// assert_eq!(registry.live_count(), 0);
/// ```
pub struct MonitoredExecutor<'a> {
    executor: Arc<async_executor::Executor<'a>>,
    registry: Arc<TaskRegistry>,
}

impl fmt::Debug for MonitoredExecutor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitoredExecutor")
            .field("executor", &self.executor)
            .field("registry", &self.registry)
            .finish()
    }
}

impl Default for MonitoredExecutor<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> MonitoredExecutor<'a> {
    /// A new executor tracking its tasks in the global registry.
    pub fn new() -> Self {
        Self::with_registry(Arc::clone(TaskRegistry::global()))
    }

    /// A new executor tracking its tasks in `registry`.
    pub fn with_registry(registry: Arc<TaskRegistry>) -> Self {
        Self::from_executor(Arc::new(async_executor::Executor::new()), registry)
    }

    /// Tracks the tasks spawned on an existing executor through this
    /// wrapper in `registry`.
    pub fn from_executor(
        executor: Arc<async_executor::Executor<'a>>,
        registry: Arc<TaskRegistry>,
    ) -> Self {
        Self { executor, registry }
    }

    /// Spawns an unnamed tracked task; its recorded location is the caller's
    /// line.
    #[track_caller]
    pub fn spawn<T: Send + 'a>(&self, future: impl Future<Output = T> + Send + 'a) -> Task<T> {
        self.spawn_with(future, TaskOptions::new())
    }

    /// Spawns a tracked task with a name or other options.
    ///
    /// The recorded spawn location is always the caller's line, even if
    /// `options` set one.
    #[track_caller]
    pub fn spawn_with<T: Send + 'a>(
        &self,
        future: impl Future<Output = T> + Send + 'a,
        options: TaskOptions,
    ) -> Task<T> {
        // Captured here, in the `#[track_caller]` frame: the helper below
        // is not `#[track_caller]` and would record its own line.
        let options = options.location(Location::caller());
        spawn_instrumented(&self.executor, &self.registry, future, options)
    }

    /// The registry tasks are recorded in.
    pub fn registry(&self) -> &Arc<TaskRegistry> {
        &self.registry
    }

    /// The wrapped executor.
    pub fn executor(&self) -> &Arc<async_executor::Executor<'a>> {
        &self.executor
    }
}

impl MonitoredExecutor<'static> {
    /// The [`Executor`] the monitor runs its console commands on.
    pub fn to_executor(&self) -> SmolExecutor {
        SmolExecutor::from_executor(Arc::clone(&self.executor))
    }
}

impl<'a> Deref for MonitoredExecutor<'a> {
    type Target = async_executor::Executor<'a>;

    fn deref(&self) -> &Self::Target {
        &self.executor
    }
}
