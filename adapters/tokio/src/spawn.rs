//! Tracked spawning that returns tokio's own `JoinHandle`.

use std::{
    future::Future,
    panic::Location,
    sync::{Arc, OnceLock},
};

use monitor_core::{Cancelled, TaskOptions, TaskRegistry};
use tokio::{
    runtime::Handle,
    task::{AbortHandle, JoinHandle},
};

/// Spawns a tracked task on the current tokio runtime, recorded in the
/// global registry ([`TaskRegistry::global`]).
///
/// A drop-in replacement for [`tokio::spawn`]: the returned
/// [`JoinHandle`] behaves as tokio's always does, and a `cancel` from the
/// monitor makes it resolve to a [`JoinError`](tokio::task::JoinError) with
/// `is_cancelled() == true`. The task's recorded spawn location is the line
/// that called this function, and its parent is the tracked task (if any)
/// that called it.
///
/// Use [`task`] to name the task or pick another registry or runtime.
///
/// # Panics
///
/// Outside a tokio runtime, like [`tokio::spawn`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handle = monitor_tokio::spawn(async { 6 * 7 });
/// assert_eq!(handle.await.unwrap(), 42);
/// # }
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    TaskBuilder::new().spawn(future)
}

/// Starts building a tracked task: a name, persistence, a registry other
/// than the global one, or a runtime other than the current one.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use monitor_core::{TaskIntrospect, TaskRegistry};
///
/// let registry = TaskRegistry::new();
/// let handle = monitor_tokio::task()
///     .name("flusher")
///     .registry(registry.clone())
///     .spawn(std::future::pending::<()>());
///
/// let flusher = &registry.live_tasks()[0];
/// assert_eq!(flusher.name.as_deref(), Some("flusher"));
///
/// registry.cancel(flusher.id).unwrap();
/// assert!(handle.await.unwrap_err().is_cancelled());
/// # }
/// ```
pub fn task() -> TaskBuilder {
    TaskBuilder::new()
}

/// Configures one tracked task before spawning it; made by [`task`].
#[derive(Debug, Clone, Default)]
#[must_use = "a TaskBuilder does nothing until .spawn() is called"]
pub struct TaskBuilder {
    options: TaskOptions,
    registry: Option<Arc<TaskRegistry>>,
    handle: Option<Handle>,
}

impl TaskBuilder {
    /// An unnamed task in the global registry, on the current runtime.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task; the console's `ps` shows and filters on it.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options = self.options.name(name);
        self
    }

    /// Keeps the task's record in the terminated history however many tasks
    /// end after it; see [`TaskOptions::persistent`].
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.options = self.options.persistent(persistent);
        self
    }

    /// Records the task in `registry` instead of the global one.
    pub fn registry(mut self, registry: Arc<TaskRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Spawns on the runtime of `handle` instead of the current one, which
    /// also allows spawning from outside any runtime.
    pub fn handle(mut self, handle: Handle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// Spawns the task and returns tokio's own handle to it.
    ///
    /// A monitor `cancel` aborts the task through its
    /// [`AbortHandle`], so the handle resolves to a `JoinError` with
    /// `is_cancelled() == true`; a panic resolves to one with
    /// `is_panic() == true`, after the registry recorded its message.
    ///
    /// # Panics
    ///
    /// When no [`handle`](Self::handle) was given and this is called
    /// outside a tokio runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // Resolve the runtime first so that calling outside a runtime panics
        // before anything is registered (and at the caller's line).
        let runtime = match self.handle {
            Some(handle) => handle,
            None => Handle::current(),
        };
        let registry = self
            .registry
            .unwrap_or_else(|| Arc::clone(TaskRegistry::global()));
        let task = registry.instrument(future, self.options.location(Location::caller()));

        // The abort handle only exists once the task is spawned, but the
        // canceller has to be installed on the wrapper before it moves into
        // the runtime. So the canceller reads the handle from a slot filled
        // right after spawning. A cancel that lands in between (the task is
        // already spawned, the slot still empty) finds no handle; it still
        // sets the wrapper's flag, so the next poll resolves to
        // `Err(Cancelled)` and the task aborts itself below. Either way the
        // JoinHandle reports a cancellation, never a hang.
        let abort: Arc<OnceLock<AbortHandle>> = Arc::default();
        let canceller_slot = Arc::clone(&abort);
        task.set_canceller(move || {
            if let Some(handle) = canceller_slot.get() {
                handle.abort();
            }
        });
        let own_slot = Arc::clone(&abort);
        #[cfg(all(feature = "taskdump", tokio_unstable))]
        let monitor_id = task.id();

        let join = runtime.spawn(async move {
            // Lets `TokioIntrospect::stack` find this task in a task dump.
            #[cfg(all(feature = "taskdump", tokio_unstable))]
            let _mapping = crate::introspect::map_current_task(monitor_id);
            match task.await {
                Ok(output) => output,
                Err(Cancelled(_)) => abort_self(&own_slot).await,
            }
        });
        // Only fails if already set, and nothing else sets it.
        let _ = abort.set(join.abort_handle());
        join
    }
}

/// Ends the current task as aborted, which is the only way to resolve its
/// `JoinHandle` without an output value.
async fn abort_self<T>(slot: &OnceLock<AbortHandle>) -> T {
    loop {
        // Aborting a running task makes tokio cancel it as soon as this poll
        // returns `Pending`. The slot is empty only in the short window
        // before the spawning thread fills it; yielding lets it do so.
        if let Some(handle) = slot.get() {
            handle.abort();
        }
        tokio::task::yield_now().await;
    }
}
