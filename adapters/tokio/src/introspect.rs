//! [`TokioIntrospect`]: the registry plus tokio task dumps for `where`.

use std::{sync::Arc, time::Duration};

use monitor_core::RegistryError;
use monitor_core::{
    CancelRequested, SiteTable, TaskId, TaskIntrospect, TaskRegistry, TaskSnapshot, UntrackedTasks,
};
use tokio::runtime::Handle;

/// What `ps` advises about tasks tokio runs that the monitor does not see.
#[cfg(all(feature = "hooks", tokio_unstable))]
const HOW_TO_SEE_UNTRACKED: &str = "they were spawned with plain tokio::spawn on a runtime built \
     without the monitor's hooks (see monitor_tokio::hooks), or before they were installed; \
     monitor_tokio::spawn tracks a task on any runtime";
#[cfg(not(all(feature = "hooks", tokio_unstable)))]
const HOW_TO_SEE_UNTRACKED: &str = "they were spawned with plain tokio::spawn; spawn them with \
     monitor_tokio::spawn or monitor_tokio::task(), or build with RUSTFLAGS=\"--cfg \
     tokio_unstable\" and the hooks feature to track every tokio::spawn";

/// How long [`TokioIntrospect::stack`] waits for a task dump by default.
pub const DEFAULT_DUMP_TIMEOUT: Duration = Duration::from_secs(2);

/// What the console sees of a tokio application: everything from a
/// [`TaskRegistry`], plus real await stacks for `where` when the `taskdump`
/// feature is on.
///
/// With the `taskdump` feature (Linux, built with
/// `RUSTFLAGS="--cfg tokio_unstable"`), [`stack`](TaskIntrospect::stack)
/// takes a task dump (`Handle::dump`) of the runtime and returns the await stack of
/// the task, for tasks spawned through this crate ([`spawn`](crate::spawn),
/// [`task`](crate::task)). Without the feature it behaves exactly like the
/// registry.
///
/// A dump needs every worker to reach a safe point, so it never finishes
/// while a worker is blocked inside a poll. The dump is therefore bounded by
/// a timeout ([`DEFAULT_DUMP_TIMEOUT`], change it with
/// [`dump_timeout`](Self::dump_timeout)), after which `where` explains that
/// a worker is probably blocked instead of waiting forever; `ps` shows which
/// task is stuck in `Running`.
///
/// # Example
///
/// ```
/// use monitor_core::{TaskIntrospect, TaskRegistry};
/// use monitor_tokio::TokioIntrospect;
///
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// let registry = TaskRegistry::new();
/// let introspect = TokioIntrospect::new(registry.clone(), runtime.handle().clone());
///
/// let _ticker = monitor_tokio::task()
///     .name("ticker")
///     .registry(registry)
///     .handle(runtime.handle().clone())
///     .spawn(std::future::pending::<()>());
/// assert_eq!(introspect.live_tasks()[0].name.as_deref(), Some("ticker"));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct TokioIntrospect {
    registry: Arc<TaskRegistry>,
    handle: Handle,
    dump_timeout: Duration,
}

impl TokioIntrospect {
    /// Reads tasks from `registry`; takes task dumps of the runtime behind
    /// `handle`.
    pub fn new(registry: Arc<TaskRegistry>, handle: Handle) -> Self {
        Self {
            registry,
            handle,
            dump_timeout: DEFAULT_DUMP_TIMEOUT,
        }
    }

    /// How long `where` waits for a task dump before giving up (default
    /// [`DEFAULT_DUMP_TIMEOUT`]).
    pub fn dump_timeout(mut self, timeout: Duration) -> Self {
        self.dump_timeout = timeout;
        self
    }

    /// The registry tasks are read from.
    pub fn registry(&self) -> &Arc<TaskRegistry> {
        &self.registry
    }

    /// The runtime task dumps are taken of.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl TaskIntrospect for TokioIntrospect {
    fn for_each_live(&self, visit: &mut dyn FnMut(TaskSnapshot)) {
        self.registry.for_each_live(visit);
    }

    fn live_count(&self) -> usize {
        self.registry.live_count()
    }

    fn terminated(&self) -> Vec<TaskSnapshot> {
        self.registry.terminated()
    }

    fn task(&self, id: TaskId) -> Option<TaskSnapshot> {
        self.registry.task(id)
    }

    fn cancel(&self, id: TaskId) -> Result<CancelRequested, RegistryError> {
        self.registry.cancel(id)
    }

    fn untracked(&self) -> Option<UntrackedTasks> {
        let alive = self.handle.metrics().num_alive_tasks();
        // The registry may also hold tasks of other runtimes, and counts
        // move between the two reads: only a surplus on the runtime side
        // is reported.
        let untracked = alive.saturating_sub(self.registry.live_count());
        (untracked > 0).then(|| UntrackedTasks::new(untracked, HOW_TO_SEE_UNTRACKED))
    }

    fn sites(&self) -> Option<&SiteTable> {
        Some(self.registry.sites())
    }

    #[cfg(all(feature = "taskdump", tokio_unstable))]
    fn stack(&self, id: TaskId) -> Option<String> {
        dump::stack(&self.handle, id, self.dump_timeout)
    }

    fn stack_source(&self) -> &'static str {
        "tokio task dump: tokio's own leaf futures"
    }

    #[cfg(not(all(feature = "taskdump", tokio_unstable)))]
    fn stack(&self, id: TaskId) -> Option<String> {
        // Without task dumps there is nothing to add to the registry.
        let _ = (&self.handle, self.dump_timeout);
        self.registry.stack(id)
    }
}

#[cfg(all(feature = "taskdump", tokio_unstable))]
pub(crate) use dump::map_current_task;

#[cfg(all(feature = "taskdump", tokio_unstable))]
mod dump {
    use std::{
        collections::HashMap,
        sync::{LazyLock, Mutex, mpsc},
        time::Duration,
    };

    use monitor_core::TaskId;
    use tokio::runtime::Handle;

    /// Monitor task id → tokio task id, for the tasks this crate spawned
    /// that are still running. A task dump only knows tokio's ids.
    static TOKIO_IDS: LazyLock<Mutex<HashMap<TaskId, tokio::task::Id>>> =
        LazyLock::new(Mutex::default);

    fn ids() -> std::sync::MutexGuard<'static, HashMap<TaskId, tokio::task::Id>> {
        // Insert and remove cannot leave the map half-updated, so a lock
        // poisoned by an unrelated panic is still consistent.
        TOKIO_IDS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the mapping when the task's future is dropped.
    pub(crate) struct Mapping(TaskId);

    impl Drop for Mapping {
        fn drop(&mut self) {
            ids().remove(&self.0);
        }
    }

    /// Maps `id` to the tokio task being polled. Called on the task's first
    /// poll, where `tokio::task::id()` is known, rather than after spawning:
    /// a task that ends before the spawner returned would otherwise leave
    /// its mapping behind.
    pub(crate) fn map_current_task(id: TaskId) -> Mapping {
        ids().insert(id, tokio::task::id());
        Mapping(id)
    }

    pub(super) fn stack(handle: &Handle, id: TaskId, timeout: Duration) -> Option<String> {
        let tokio_id = *ids().get(&id)?;
        if Handle::try_current().is_ok() {
            // Blocking a runtime thread while waiting for a dump would stop
            // that very thread from taking part in the dump.
            return Some(
                "no task dump: `where` was called from inside a tokio runtime; \
                 run the monitor on its own thread"
                    .to_owned(),
            );
        }
        let (sender, receiver) = mpsc::sync_channel(1);
        let dumper = handle.clone();
        // The dump runs as a task on the runtime itself because a
        // current-thread runtime can only be dumped from within.
        let job = handle.spawn(async move {
            let dump = dumper.dump().await;
            let trace = dump
                .tasks()
                .iter()
                .find(|task| task.id() == tokio_id)
                .map(|task| task.trace().to_string())
                .map(|trace| {
                    if trace.trim().is_empty() {
                        // Dumps capture stacks at tokio's own leaf futures
                        // (timers, sync primitives, I/O, yield_now) only.
                        "(empty: the task is waiting on no tokio resource, e.g. on a \
                         channel or future from another crate, which task dumps \
                         cannot see)"
                            .to_owned()
                    } else {
                        trace
                    }
                });
            let _ = sender.send(trace);
        });
        match receiver.recv_timeout(timeout) {
            Ok(trace) => trace,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Do not leave a dump pending forever behind us.
                job.abort();
                Some(format!(
                    "no task dump: the runtime did not finish one within {timeout:?}; \
                     a worker thread is probably blocked inside a poll \
                     (look for a task that stays `running` in `ps`)"
                ))
            }
            // The runtime shut down and dropped the dump task.
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
        }
    }
}
