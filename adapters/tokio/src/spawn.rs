//! Tracked spawning that returns tokio's own `JoinHandle`.

use std::{future::Future, panic::Location};

use monitor_core::{TaskRegistry, TaskSpec};
use tokio::{runtime::Handle, task::JoinHandle};

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
    spec: TaskSpec,
    handle: Option<Handle>,
}

impl TaskBuilder {
    /// An unnamed task in the global registry, on the current runtime.
    pub fn new() -> Self {
        Self::default()
    }

    monitor_core::task_builder_methods!(spec);

    /// Spawns on the runtime of `handle` instead of the current one, which
    /// also allows spawning from outside any runtime.
    pub fn handle(mut self, handle: Handle) -> Self {
        self.handle = Some(handle);
        self
    }

    /// Spawns the task and returns tokio's own handle to it.
    ///
    /// A monitor `cancel` aborts the task through its
    /// [`AbortHandle`](tokio::task::AbortHandle), so the handle resolves to a `JoinError` with
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
        let (options, own_registry) = self.spec.into_parts(Location::caller());
        // Borrowed, not cloned: the task takes the one reference it needs,
        // and a clone here would add two atomic operations per spawn on a
        // count that every worker ending a task also writes.
        let registry = own_registry
            .as_ref()
            .unwrap_or_else(|| TaskRegistry::global());
        // The wrapper is spawned as it is: no future layer and no allocation
        // of the adapter's own. A monitor cancel runs the abort handle
        // installed below, so tokio drops the task and the `JoinHandle`
        // reports `is_cancelled()`; the wrapper, if it sees the request
        // first, drops the user's future and waits for that abort.
        let task = registry.instrument(future, options).cancelled_by_runtime();
        let key = task.key();
        #[cfg(all(feature = "taskdump", tokio_unstable))]
        let id = key.id();

        // With the `hooks` feature, keeps the spawn hook from registering
        // this already-tracked task a second time.
        #[cfg(all(feature = "hooks", tokio_unstable))]
        let _tracked = TrackedSpawn::begin();
        // Lets `TokioIntrospect::stack` find this task in a task dump (only
        // with that feature: it costs a layer).
        #[cfg(all(feature = "taskdump", tokio_unstable))]
        let task = async move {
            let _mapping = crate::introspect::map_current_task(id);
            task.await
        };
        let join = runtime.spawn(task);
        // `AbortHandle` is one pointer: the registry keeps it inline. If a
        // cancel came first, this aborts at once.
        let abort = join.abort_handle();
        registry.set_canceller(key, move || abort.abort());
        join
    }
}

#[cfg(all(feature = "hooks", tokio_unstable))]
pub(crate) use tracked_spawn::{TrackedSpawn, take_tracked_spawn};

/// The flag that tells `RuntimeHooks::on_task_spawn` a spawn comes from this
/// crate. tokio runs the spawn hook synchronously, on the spawning thread,
/// inside `spawn`, so a thread-local set around the call is seen by exactly
/// that hook invocation.
#[cfg(all(feature = "hooks", tokio_unstable))]
mod tracked_spawn {
    use std::cell::Cell;

    thread_local! {
        static TRACKED_SPAWN: Cell<bool> = const { Cell::new(false) };
    }

    /// Marks the spawns made while it lives as already tracked.
    pub(crate) struct TrackedSpawn {
        previous: bool,
    }

    impl TrackedSpawn {
        pub(crate) fn begin() -> Self {
            Self {
                previous: TRACKED_SPAWN.with(|flag| flag.replace(true)),
            }
        }
    }

    impl Drop for TrackedSpawn {
        fn drop(&mut self) {
            // Also runs when `spawn` panics (no runtime), so the flag never
            // leaks onto the thread's next, untracked, spawn.
            TRACKED_SPAWN.with(|flag| flag.set(self.previous));
        }
    }

    /// Whether the spawn being hooked is one of ours. Clears the flag, so a
    /// spawn made from inside another hook during our spawn is not skipped.
    pub(crate) fn take_tracked_spawn() -> bool {
        TRACKED_SPAWN.with(|flag| flag.replace(false))
    }
}
