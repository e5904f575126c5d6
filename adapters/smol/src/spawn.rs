//! Tracked spawning on smol's global executor or a given one.

use std::{future::Future, sync::Arc};

use monitor_core::{TaskOptions, TaskRegistry, TaskSpec};

use crate::Task;

/// Spawns a tracked task on smol's global executor, recorded in the global
/// registry ([`TaskRegistry::global`]).
///
/// A drop-in replacement for [`smol::spawn`], returning a [`Task`] with the
/// same semantics. The recorded spawn location is the line that called this
/// function, and the parent is the tracked task (if any) that called it.
///
/// # Example
///
/// ```
/// let task = monitor_smol::spawn(async { 6 * 7 });
/// assert_eq!(smol::block_on(task), 42);
/// ```
#[track_caller]
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    TaskBuilder::new().spawn(future)
}

/// Starts building a tracked task: a name, persistence, a registry other
/// than the global one, or an executor other than smol's global one.
///
/// ```
/// use std::sync::Arc;
///
/// use monitor_core::{TaskIntrospect, TaskRegistry};
///
/// let registry = TaskRegistry::new();
/// let ex = Arc::new(async_executor::Executor::new());
/// let task = monitor_smol::task()
///     .name("flusher")
///     .registry(registry.clone())
///     .executor(&ex)
///     .spawn(async { "flushed" });
/// assert_eq!(registry.live_tasks()[0].name.as_deref(), Some("flusher"));
/// assert_eq!(smol::block_on(ex.run(task)), "flushed");
/// ```
pub fn task() -> TaskBuilder<'static> {
    TaskBuilder::new()
}

/// Configures one tracked task before spawning it; made by [`task`].
#[derive(Debug, Clone, Default)]
#[must_use = "a TaskBuilder does nothing until .spawn() is called"]
pub struct TaskBuilder<'e> {
    spec: TaskSpec,
    executor: Option<&'e async_executor::Executor<'static>>,
}

impl TaskBuilder<'static> {
    /// An unnamed task in the global registry, on smol's global executor.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<'e> TaskBuilder<'e> {
    monitor_core::task_builder_methods!(spec);

    /// Spawns on `executor` instead of smol's global executor.
    pub fn executor<'x>(self, executor: &'x async_executor::Executor<'static>) -> TaskBuilder<'x> {
        TaskBuilder {
            spec: self.spec,
            executor: Some(executor),
        }
    }

    /// Spawns the task.
    #[track_caller]
    pub fn spawn<T: Send + 'static>(
        self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        // No runtime canceller is needed: a cancel sets the wrapper's flag
        // and wakes the task, and the next poll drops the future and
        // completes the task with `Err(Cancelled)`, which the `Task` handle
        // reports.
        let task = self.spec.instrument(future);
        let id = task.id();
        match self.executor {
            Some(executor) => Task::new(executor.spawn(task), id),
            None => Task::new(smol::spawn(task), id),
        }
    }
}

/// Wraps `future` for `registry` and spawns it on `executor`. `options`
/// must carry the spawn location.
pub(crate) fn spawn_instrumented<'a, T: Send + 'a>(
    executor: &async_executor::Executor<'a>,
    registry: &Arc<TaskRegistry>,
    future: impl Future<Output = T> + Send + 'a,
    options: TaskOptions,
) -> Task<T> {
    // No runtime canceller is needed: a cancel sets the wrapper's flag and
    // wakes the task, and the next poll drops the future and completes the
    // task with `Err(Cancelled)`, which the `Task` handle reports.
    let task = registry.instrument(future, options);
    let id = task.id();
    Task::new(executor.spawn(task), id)
}
