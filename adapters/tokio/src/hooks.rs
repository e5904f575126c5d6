//! Tracking every task of a runtime, including plain `tokio::spawn`s, with
//! tokio's runtime hooks (`hooks` feature, `--cfg tokio_unstable`).

use std::{
    collections::HashMap,
    fmt,
    hash::BuildHasher,
    sync::{Arc, Mutex, MutexGuard},
};

use monitor_core::{ExternalTask, PollToken, TaskEnd, TaskId, TaskOptions, TaskRegistry};
use rustc_hash::FxBuildHasher;
use tokio::runtime::{Builder, TaskMeta};

use crate::spawn::take_tracked_spawn;

/// The name hook-tracked tasks get in the console: tokio gives none, and
/// this says how the task was made (`tokio::spawn`, `Handle::spawn`,
/// `JoinSet::spawn`, … all look alike to the hook).
const TASK_NAME: &str = "tokio::spawn";

/// Independently locked shards of the tokio-id → record map. Every hook
/// locks exactly one, chosen by the task's id, so workers polling different
/// tasks almost never wait for each other (as in the registry itself).
const SHARDS: usize = 64;

/// Makes a runtime report every task spawned on it to `registry`, including
/// tasks spawned with plain [`tokio::spawn`] by libraries, which
/// [`spawn`](crate::spawn) cannot see.
///
/// Shorthand for [`RuntimeHooks::new`]`(registry).`[`install`](RuntimeHooks::install)`(builder)`;
/// see [`RuntimeHooks`] for what is recorded and what it costs.
///
/// ```
/// use monitor_core::{TaskIntrospect, TaskRegistry};
///
/// let registry = TaskRegistry::new();
/// let mut builder = tokio::runtime::Builder::new_multi_thread();
/// monitor_tokio::install_hooks(&mut builder, registry.clone());
/// let runtime = builder.build().unwrap();
///
/// runtime.block_on(async {
///     tokio::spawn(std::future::pending::<()>()); // a library's task
/// });
/// let task = &registry.live_tasks()[0];
/// assert_eq!(task.name.as_deref(), Some("tokio::spawn"));
/// assert!(task.location.starts_with(file!()));
/// ```
pub fn install_hooks(builder: &mut Builder, registry: Arc<TaskRegistry>) -> &mut Builder {
    RuntimeHooks::new(registry).install(builder)
}

/// Tracks the tasks of a tokio runtime through its task hooks
/// (`on_task_spawn`, `on_before_task_poll`, `on_after_task_poll`,
/// `on_task_terminate`), so that tasks spawned with plain [`tokio::spawn`]
/// appear in the console too.
///
/// # What the console shows
///
/// Each task spawned on the runtime is registered (with
/// [`TaskRegistry::register`]) when it is spawned, named `tokio::spawn`,
/// with the location tokio recorded for the spawn (the caller of
/// `tokio::spawn`, `Handle::spawn`, `JoinSet::spawn`, …) and, as its parent,
/// the tracked task being polled on the spawning thread — which, with the
/// hooks installed, may itself be a hook-tracked task. Its polls are counted
/// and timed like those of tasks spawned through [`spawn`](crate::spawn);
/// `ps` shows it `running` while a worker is inside its poll. When tokio
/// reports it terminated it moves to the history as `ended`: the hook does
/// not say whether the task completed, panicked or was aborted.
///
/// Not recorded twice or at all:
///
/// - tasks spawned through this crate ([`spawn`](crate::spawn),
///   [`task`](crate::task), [`TokioExecutor`](crate::TokioExecutor)) are
///   tracked by their wrapper already, which gives them names, exact
///   outcomes and cancellation; the adapter marks its own spawns so the
///   spawn hook skips them;
/// - `spawn_blocking` closures are not tasks the monitor lists (tokio fires
///   no spawn hook for them; their terminate hook is ignored);
/// - tasks spawned before the hooks were installed, and `LocalSet` tasks
///   (tokio runs no hooks for those).
///
/// # Cancelling
///
/// The console's `cancel` answers
/// [`MonitorError::NotCancellable`](monitor_core::RegistryError::NotCancellable)
/// for hook-tracked tasks: an abort needs the task's `AbortHandle`, which
/// only the code that spawned it holds — the hooks receive the task's id,
/// and tokio offers no way to abort a task by id. Spawn the task through
/// [`spawn`](crate::spawn) to make it cancellable.
///
/// # Cost
///
/// - **Per poll**, of every task on the runtime (tracked, hook-tracked or
///   not): each of the two poll hooks locks one of 64 shards and looks the
///   tokio id up in a small hash map; for a hook-tracked task it then writes
///   a few relaxed atomics in the task's record, as the wrapper does. No
///   allocation, no global lock. The shard lock is uncontended unless two
///   workers poll tasks of the same shard at the same instant. The test
///   `hooks_per_poll_cost` measures it (release build, `--nocapture`, see
///   the README): on a busy 2-core VM, a `yield_now` poll round trip of
///   ≈ 210–300 ns grew by ≈ 40–50 ns for tasks the hooks only look up
///   (tasks spawned through this crate) and ≈ 50–100 ns for hook-tracked
///   tasks, of which tokio's own calling of the hooks is under 10 ns.
/// - **Per spawn**: a thread-local read; for a hook-tracked task also one
///   record allocation plus its name, and one registry shard lock and one
///   hook shard lock (what [`spawn`](crate::spawn) costs).
/// - **Per task end**: one shard lock, plus moving the record to the
///   history for hook-tracked tasks.
///
/// # Composing with other hooks
///
/// tokio keeps one callback per hook, so [`install`](Self::install)
/// replaces hooks set earlier on the builder (and later ones replace it).
/// To combine with hooks of your own, call the `on_*` methods from your
/// callbacks instead:
///
/// ```
/// use monitor_core::TaskRegistry;
/// use monitor_tokio::RuntimeHooks;
///
/// let hooks = RuntimeHooks::new(TaskRegistry::new());
/// let (on_spawn, on_terminate) = (hooks.clone(), hooks.clone());
/// let (before, after) = (hooks.clone(), hooks.clone());
/// let runtime = tokio::runtime::Builder::new_current_thread()
///     .on_task_spawn(move |meta| {
///         // … your own bookkeeping …
///         on_spawn.on_task_spawn(meta);
///     })
///     .on_before_task_poll(move |meta| before.on_before_task_poll(meta))
///     .on_after_task_poll(move |meta| after.on_after_task_poll(meta))
///     .on_task_terminate(move |meta| on_terminate.on_task_terminate(meta))
///     .build()
///     .unwrap();
/// runtime.block_on(async { tokio::spawn(async {}).await.unwrap() });
/// assert_eq!(hooks.tracked_count(), 0);
/// ```
///
/// One `RuntimeHooks` may serve several runtimes: tokio task ids are unique
/// across the process.
///
/// # Shutdown
///
/// Shutting a runtime down ends its tasks, and tokio runs the terminate
/// hook for each, so they all move to the history. One case escapes: a
/// task spawned on a runtime that is already shutting down is shut down by
/// tokio *before* the spawn hook runs, and the hook cannot tell. Its record
/// stays live until the last clone of these hooks is dropped (the runtime,
/// its handles and its builder hold clones), which records it, like
/// anything else still tracked then, as cancelled.
#[derive(Clone)]
pub struct RuntimeHooks {
    shared: Arc<Shared>,
}

/// One hook-tracked task: its record, and its poll in progress, if any.
/// The token is kept here rather than in a thread-local because
/// `on_task_terminate` fires *inside* the task's last poll — before
/// `on_after_task_poll` — and has to end that poll itself.
struct Entry {
    task: ExternalTask,
    poll: Option<PollToken>,
}

type Shard = Mutex<HashMap<tokio::task::Id, Entry, FxBuildHasher>>;

struct Shared {
    registry: Arc<TaskRegistry>,
    shards: Box<[Shard]>,
}

impl RuntimeHooks {
    /// Hooks that record tasks in `registry`. Nothing happens until they are
    /// [installed](Self::install) on a runtime builder (or called from your
    /// own hooks).
    pub fn new(registry: Arc<TaskRegistry>) -> Self {
        Self {
            shared: Arc::new(Shared {
                registry,
                shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            }),
        }
    }

    /// Sets the four task hooks of `builder` to these, replacing any set
    /// before. Returns `builder` for chaining.
    pub fn install<'b>(&self, builder: &'b mut Builder) -> &'b mut Builder {
        let (spawn, before, after, terminate) =
            (self.clone(), self.clone(), self.clone(), self.clone());
        builder
            .on_task_spawn(move |meta| spawn.on_task_spawn(meta))
            .on_before_task_poll(move |meta| before.on_before_task_poll(meta))
            .on_after_task_poll(move |meta| after.on_after_task_poll(meta))
            .on_task_terminate(move |meta| terminate.on_task_terminate(meta))
    }

    /// The registry tasks are recorded in.
    pub fn registry(&self) -> &Arc<TaskRegistry> {
        &self.shared.registry
    }

    /// How many tasks these hooks track right now (spawned, not yet
    /// terminated); tasks tracked by their wrapper are not counted.
    pub fn tracked_count(&self) -> usize {
        self.shared
            .shards
            .iter()
            .map(|shard| lock(shard).len())
            .sum()
    }

    /// The monitor's id of a hook-tracked task, from tokio's id of it
    /// ([`JoinHandle::id`](tokio::task::JoinHandle::id),
    /// [`tokio::task::id`]). `None` for tasks these hooks do not track
    /// (ended, spawned through this crate, …).
    pub fn task_id(&self, tokio_id: tokio::task::Id) -> Option<TaskId> {
        self.shared
            .shard(tokio_id)
            .get(&tokio_id)
            .map(|entry| entry.task.id())
    }

    /// The spawn hook: registers the new task, unless this crate spawned
    /// it. Runs on the spawning thread, so the parent is the task being
    /// polled there.
    pub fn on_task_spawn(&self, meta: &TaskMeta<'_>) {
        if take_tracked_spawn() {
            return;
        }
        let task = self.shared.registry.register(
            TaskOptions::new()
                .name(TASK_NAME)
                .location(meta.spawned_at())
                .cancellable(false),
        );
        let entry = Entry { task, poll: None };
        let replaced = self.shared.shard(meta.id()).insert(meta.id(), entry);
        // tokio ids are never reused, so nothing is replaced; if something
        // were, it is dropped (recorded as cancelled) outside the lock.
        drop(replaced);
    }

    /// The before-poll hook: marks the task `Running` on this thread.
    pub fn on_before_task_poll(&self, meta: &TaskMeta<'_>) {
        let mut shard = self.shared.shard(meta.id());
        let Some(entry) = shard.get_mut(&meta.id()) else {
            return;
        };
        // A poll whose end was never reported would leave a token behind;
        // end it first so the thread's current task is restored in order.
        if let Some(stale) = entry.poll.take() {
            entry.task.poll_ended(stale);
        }
        entry.poll = Some(entry.task.poll_started());
    }

    /// The after-poll hook: the task is `Idle` again, its busy time updated.
    pub fn on_after_task_poll(&self, meta: &TaskMeta<'_>) {
        let mut shard = self.shared.shard(meta.id());
        // Absent after the task's last poll: the terminate hook, which runs
        // inside that poll, has already removed it.
        if let Some(entry) = shard.get_mut(&meta.id())
            && let Some(token) = entry.poll.take()
        {
            entry.task.poll_ended(token);
        }
    }

    /// The terminate hook: moves the task to the history as
    /// [`TaskEnd::Ended`]. Ignores ids it does not know (blocking tasks,
    /// tasks spawned through this crate or before the hooks).
    pub fn on_task_terminate(&self, meta: &TaskMeta<'_>) {
        let removed = self.shared.shard(meta.id()).remove(&meta.id());
        // Finish outside the shard lock: retiring takes the registry's locks.
        if let Some(Entry { task, poll }) = removed {
            // tokio reports the end from inside the task's last poll when it
            // completes (or panics, or sees an abort) there.
            if let Some(token) = poll {
                task.poll_ended(token);
            }
            task.finish(TaskEnd::Ended);
        }
    }
}

impl fmt::Debug for RuntimeHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeHooks")
            .field("registry", &self.shared.registry)
            .field("tracked", &self.tracked_count())
            .finish()
    }
}

impl Shared {
    fn shard(
        &self,
        id: tokio::task::Id,
    ) -> MutexGuard<'_, HashMap<tokio::task::Id, Entry, FxBuildHasher>> {
        // tokio's `Id` does not expose its number, but hashes as it.
        let index = FxBuildHasher.hash_one(id) as usize % SHARDS;
        lock(&self.shards[index])
    }
}

fn lock(shard: &Shard) -> MutexGuard<'_, HashMap<tokio::task::Id, Entry, FxBuildHasher>> {
    // Insert, lookup and remove cannot leave a map half-updated, so a lock
    // poisoned by a panic elsewhere is still consistent.
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Shared {
    fn drop(&mut self) {
        for shard in self.shards.iter_mut() {
            let map = shard.get_mut().unwrap_or_else(|e| e.into_inner());
            for (_, entry) in map.drain() {
                // A poll still open here was started on some other thread;
                // restoring that thread's current task from this one would
                // corrupt ours, so the token is forgotten (it owns no memory).
                if let Some(token) = entry.poll {
                    std::mem::forget(token);
                }
                // Dropping the record's handle retires it as cancelled.
                drop(entry.task);
            }
        }
    }
}
