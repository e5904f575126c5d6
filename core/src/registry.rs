//! The task registry: live tasks and a bounded history of ended ones.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    panic::Location,
    sync::{
        Arc, Mutex, MutexGuard, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use rustc_hash::FxBuildHasher;

use crate::{
    CancelRequested, DEFAULT_MAX_SITES, ExternalTask, Instrumented, RegistryError, SiteTable,
    TaskId, TaskIntrospect, TaskSnapshot, Thresholds,
    clock::{self, precise_now_ns},
    diagnose::EndReason,
    task::{TaskEnd, current_task, record::TaskRecord},
};

/// Number of independently locked shards of the live-task map. Spawn and
/// task end lock one shard (chosen by id), so threads spawning at once
/// rarely meet; the monitor visits the shards one by one.
const SHARDS: usize = 64;

/// The default number of ended tasks kept for `ps-terminated`.
pub const DEFAULT_HISTORY_CAPACITY: usize = 1000;

static GLOBAL: OnceLock<Arc<TaskRegistry>> = OnceLock::new();

type Shard = Mutex<HashMap<u64, Arc<TaskRecord>, FxBuildHasher>>;

/// Every task tracked by the monitor: the live ones and a bounded history of
/// those that ended.
///
/// One registry normally serves a whole process ([`TaskRegistry::global`]);
/// separate registries are useful in tests and for monitoring separate
/// subsystems separately. Task ids are unique across all registries.
///
/// The registry is written by spawns and task ends (each locking one of 64
/// shards) and by polls (touching only the task's own record); it is read by
/// the monitor through [`TaskIntrospect`], which never needs the
/// application's runtime.
///
/// ```
/// use monitor_core::{TaskIntrospect, TaskOptions, TaskRegistry};
///
/// let registry = TaskRegistry::new();
/// let task = registry.instrument(async { 1 + 1 }, TaskOptions::new().name("adder"));
/// let id = task.id();
/// assert_eq!(registry.task(id).unwrap().name.as_deref(), Some("adder"));
///
/// assert_eq!(futures_lite::future::block_on(task).unwrap(), 2);
/// assert!(registry.task(id).unwrap().state.is_terminal());
/// ```
pub struct TaskRegistry {
    live: Box<[Shard]>,
    history: History,
    precise_timing: bool,
    sites: Arc<SiteTable>,
}

impl fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRegistry")
            .field("live", &self.live_count())
            .field("history_capacity", &self.history.ring.len())
            .field("precise_timing", &self.precise_timing)
            .finish()
    }
}

/// Options for one tracked task: its name, whether its record outlives the
/// history bound and whether the console may cancel it.
///
/// ```
/// use monitor_core::TaskOptions;
///
/// let options = TaskOptions::new().name("flusher").persistent(true);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
pub struct TaskOptions {
    name: Option<Box<str>>,
    persistent: bool,
    location: Option<&'static Location<'static>>,
    parent: Option<Option<TaskId>>,
    // Stored negated so the derived `Default` means "cancellable".
    not_cancellable: bool,
}

impl TaskOptions {
    /// No name, not persistent, cancellable, location and parent taken from
    /// the caller.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task; `ps -f` filters on it.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Keeps the task's record in the terminated history forever once it
    /// ends, instead of letting newer tasks push it out (aiomonitor's
    /// `preserve_termination_log`). Meant for the few long-lived tasks whose
    /// end matters.
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// Overrides the spawn location, for adapters whose spawn call site is
    /// known some other way (for example a runtime hook). Normally the
    /// location comes from `#[track_caller]`.
    pub fn location(mut self, location: &'static Location<'static>) -> Self {
        self.location = Some(location);
        self
    }

    /// Overrides the parent task, which is otherwise the tracked task being
    /// polled on the spawning thread.
    pub fn parent(mut self, parent: Option<TaskId>) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Whether the console's `cancel` may stop the task (default `true`).
    ///
    /// With `false`, [`TaskIntrospect::cancel`] answers
    /// [`RegistryError::NotCancellable`] and leaves the task alone. Meant for
    /// tasks [registered](TaskRegistry::register) without a way to stop them
    /// — the tokio adapter's runtime hooks see plain `tokio::spawn` tasks but
    /// get no handle to abort them — so that the console says so instead of
    /// reporting a cancel that nothing carries out.
    pub fn cancellable(mut self, cancellable: bool) -> Self {
        self.not_cancellable = !cancellable;
        self
    }
}

/// Builds a [`TaskRegistry`] with non-default settings.
#[derive(Debug, Clone)]
pub struct TaskRegistryBuilder {
    history_capacity: usize,
    precise_timing: bool,
    max_sites: usize,
    thresholds: Thresholds,
}

impl TaskRegistryBuilder {
    /// How many ended tasks to keep (default 1000); the oldest is dropped
    /// first. Persistent tasks are kept in addition to these.
    pub fn history_capacity(mut self, capacity: usize) -> Self {
        self.history_capacity = capacity;
        self
    }

    /// Reads the precise clock at the start and end of every poll instead
    /// of the 1 ms coarse clock. Gives exact busy times for short polls at
    /// the cost of roughly doubling the per-poll overhead (see
    /// docs/PERFORMANCE.md). Off by default.
    pub fn precise_timing(mut self, precise: bool) -> Self {
        self.precise_timing = precise;
        self
    }

    /// How many distinct spawn sites get their own statistics (default
    /// [`DEFAULT_MAX_SITES`]); tasks of further sites share one overflow
    /// row. Each site costs about 600 bytes.
    pub fn max_sites(mut self, max_sites: usize) -> Self {
        self.max_sites = max_sites;
        self
    }

    /// The thresholds the lints start with; they can be changed at run time
    /// through [`TaskRegistry::sites`].
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Creates the registry.
    pub fn build(self) -> Arc<TaskRegistry> {
        clock::start_ticker();
        Arc::new(TaskRegistry {
            live: (0..SHARDS).map(|_| Shard::default()).collect(),
            history: History::new(self.history_capacity),
            precise_timing: self.precise_timing,
            sites: SiteTable::new(self.max_sites, self.thresholds),
        })
    }
}

impl TaskRegistry {
    /// A registry with the default settings.
    pub fn new() -> Arc<Self> {
        Self::builder().build()
    }

    /// Starts configuring a registry.
    pub fn builder() -> TaskRegistryBuilder {
        TaskRegistryBuilder {
            history_capacity: DEFAULT_HISTORY_CAPACITY,
            precise_timing: false,
            max_sites: DEFAULT_MAX_SITES,
            thresholds: Thresholds::default(),
        }
    }

    /// The process-wide registry adapters use unless told otherwise.
    pub fn global() -> &'static Arc<TaskRegistry> {
        GLOBAL.get_or_init(TaskRegistry::new)
    }

    /// Creates the process-wide registry with non-default settings.
    ///
    /// Call it early in `main`, before anything is spawned through the
    /// global registry.
    ///
    /// # Errors
    ///
    /// [`RegistryError::AlreadyConfigured`] if the global registry already exists with
    /// different settings.
    pub fn configure_global(
        builder: TaskRegistryBuilder,
    ) -> Result<&'static Arc<TaskRegistry>, RegistryError> {
        let wanted = (builder.history_capacity, builder.precise_timing);
        let global = GLOBAL.get_or_init(|| builder.build());
        if (global.history_capacity(), global.precise_timing) == wanted {
            Ok(global)
        } else {
            Err(RegistryError::AlreadyConfigured {
                history_capacity: global.history_capacity(),
                precise_timing: global.precise_timing,
            })
        }
    }

    /// Wraps `future` so this registry tracks it, and registers it as live.
    ///
    /// The spawn location is the caller's (this function and the adapters'
    /// spawn functions are `#[track_caller]`), and the parent is the tracked
    /// task currently being polled on this thread, unless `options` say
    /// otherwise. The returned future must be handed to a runtime; dropping
    /// it unpolled records the task as cancelled.
    #[track_caller]
    pub fn instrument<F: Future>(
        self: &Arc<Self>,
        future: F,
        options: TaskOptions,
    ) -> Instrumented<F> {
        // diagnostics hook: the future's size, free to know here.
        let record = self.add(options, Location::caller(), Some(size_of::<F>()));
        Instrumented::new(record, Arc::clone(self), future)
    }

    /// Registers a live task that the monitor does not wrap, for runtimes
    /// that report task events through hooks instead.
    ///
    /// The caller keeps the returned [`ExternalTask`] for as long as the task
    /// lives, reports each poll with [`ExternalTask::poll_started`] and
    /// [`ExternalTask::poll_ended`], and its end with
    /// [`ExternalTask::finish`] (dropping it records a cancellation). Name,
    /// persistence, spawn location (by default the caller's; hooks usually
    /// know the real one, see [`TaskOptions::location`]) and parent (by
    /// default the tracked task being polled on this thread) come from
    /// `options`, as for [`instrument`](Self::instrument).
    ///
    /// Nothing stops such a task unless the caller provides a way, so
    /// register it with [`TaskOptions::cancellable`]`(false)` or install a
    /// canceller with [`ExternalTask::set_canceller`].
    ///
    /// ```
    /// use monitor_core::{TaskEnd, TaskIntrospect, TaskOptions, TaskRegistry, TaskState};
    ///
    /// let registry = TaskRegistry::new();
    /// let task = registry.register(TaskOptions::new().name("hooked").cancellable(false));
    /// let id = task.id();
    ///
    /// let poll = task.poll_started(); // from the runtime's "before poll" hook
    /// assert_eq!(registry.task(id).unwrap().state, TaskState::Running);
    /// task.poll_ended(poll); // from its "after poll" hook
    /// assert_eq!(registry.task(id).unwrap().polls, 1);
    ///
    /// task.finish(TaskEnd::Ended); // from its "terminated" hook
    /// assert_eq!(registry.terminated()[0].ended, Some(TaskEnd::Ended));
    /// ```
    #[track_caller]
    pub fn register(self: &Arc<Self>, options: TaskOptions) -> ExternalTask {
        let record = self.add(options, Location::caller(), None);
        ExternalTask::new(record, Arc::clone(self))
    }

    /// Creates a record from `options` and makes it live. `caller` is the
    /// location of the public `#[track_caller]` entry point, used when
    /// `options` name none.
    fn add(
        &self,
        options: TaskOptions,
        caller: &'static Location<'static>,
        future_size: Option<usize>,
    ) -> Arc<TaskRecord> {
        let record = Arc::new(TaskRecord::new(
            options.name,
            options.location.unwrap_or(caller),
            options.parent.unwrap_or_else(current_task),
            options.persistent,
            self.precise_timing,
            !options.not_cancellable,
        ));
        // diagnostics hook: count the spawn in its site.
        self.sites
            .task_spawned(record.location, record.name.as_deref(), future_size);
        self.shard(record.id)
            .insert(record.id.as_u64(), Arc::clone(&record));
        record
    }

    fn shard(&self, id: TaskId) -> MutexGuard<'_, HashMap<u64, Arc<TaskRecord>, FxBuildHasher>> {
        // A panic while holding a shard lock cannot leave the map
        // inconsistent (insert/remove are atomic from our side), so a
        // poisoned lock is safe to keep using.
        self.live[id.as_u64() as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Moves an ending task from the live map into the history.
    pub(crate) fn retire(&self, record: &Arc<TaskRecord>, how: TaskEnd) {
        let reason = EndReason::of(&how);
        if !record.finish(how) {
            return;
        }
        // diagnostics hook: fold the task's totals into its site.
        let ended_at = record.ending().map_or_else(precise_now_ns, |end| end.at_ns);
        self.sites.task_ended(
            record.location,
            reason,
            record.polls(),
            record.timing(ended_at).busy_ns,
            clock::since(record.spawned_at_ns, ended_at),
        );
        let removed = self.shard(record.id).remove(&record.id.as_u64());
        if let Some(record) = removed {
            self.history.push(record);
        }
    }

    fn find(&self, id: TaskId) -> Option<Arc<TaskRecord>> {
        if let Some(record) = self.shard(id).get(&id.as_u64()) {
            return Some(Arc::clone(record));
        }
        self.history.find(id)
    }

    /// Per-spawn-site statistics and the lints' thresholds.
    pub fn sites(&self) -> &SiteTable {
        &self.sites
    }

    /// A poll of `record` took `spent_ns` (diagnostics hook of the poll
    /// path: one comparison unless the poll took a millisecond or more).
    #[inline]
    pub(crate) fn poll_took(&self, record: &TaskRecord, spent_ns: u64) {
        self.sites.poll_took(record.location, spent_ns);
    }

    /// The number of ended tasks kept (not counting persistent ones).
    pub fn history_capacity(&self) -> usize {
        self.history.ring.len()
    }
}

impl TaskIntrospect for TaskRegistry {
    fn for_each_live(&self, visit: &mut dyn FnMut(TaskSnapshot)) {
        let now = precise_now_ns();
        let mut batch = Vec::new();
        for shard in self.live.iter() {
            // Copy the shard's records out and build snapshots after
            // unlocking, so a slow visitor never holds up spawns.
            batch.clear();
            batch.extend(
                shard
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned(),
            );
            for record in &batch {
                visit(snapshot(record, now));
            }
        }
    }

    fn sites(&self) -> Option<&SiteTable> {
        Some(&self.sites)
    }

    fn live_count(&self) -> usize {
        self.live
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    fn terminated(&self) -> Vec<TaskSnapshot> {
        let now = precise_now_ns();
        let mut records = self.history.all();
        records.sort_by_key(|record| {
            let at = record.ending().map_or(0, |ending| ending.at_ns);
            std::cmp::Reverse((at, record.id))
        });
        records.iter().map(|record| snapshot(record, now)).collect()
    }

    fn task(&self, id: TaskId) -> Option<TaskSnapshot> {
        self.find(id)
            .map(|record| snapshot(&record, precise_now_ns()))
    }

    fn cancel(&self, id: TaskId) -> Result<CancelRequested, RegistryError> {
        let record = self
            .shard(id)
            .get(&id.as_u64())
            .cloned()
            .or_else(|| self.history.find(id))
            .ok_or(RegistryError::NoSuchTask(id))?;
        let state = record.state();
        if state.is_terminal() {
            return Err(RegistryError::AlreadyEnded { id, state });
        }
        if !record.cancellable {
            return Err(RegistryError::NotCancellable(id));
        }
        let timing = record.timing(precise_now_ns());
        record.request_cancel();
        Ok(match timing.poll_ns {
            Some(poll_ns) => CancelRequested::WasRunning { poll_ns },
            None => CancelRequested::WasIdle,
        })
    }
}

fn snapshot(record: &TaskRecord, now: u64) -> TaskSnapshot {
    let timing = record.timing(now);
    let ending = record.ending();
    let age_end = ending.map_or(now, |ending| ending.at_ns);
    TaskSnapshot {
        id: record.id,
        name: record.name.as_deref().map(str::to_owned),
        state: record.state(),
        location: format!(
            "{}:{}:{}",
            record.location.file(),
            record.location.line(),
            record.location.column()
        ),
        parent: record.parent,
        polls: record.polls(),
        busy_ns: timing.busy_ns,
        age_ns: clock::since(record.spawned_at_ns, age_end),
        poll_ns: timing.poll_ns,
        thread: timing.thread.map(crate::task::record::thread_name),
        persistent: record.persistent,
        ended: ending.map(|ending| ending.how.clone()),
        ended_ago_ns: ending.map(|ending| clock::since(ending.at_ns, now)),
    }
}

/// Ended tasks: a fixed ring where each slot has its own lock, so tasks
/// ending on different threads contend on nothing but the ring's cursor;
/// persistent tasks go to a separate list that is never trimmed.
struct History {
    ring: Box<[Mutex<Option<Arc<TaskRecord>>>]>,
    cursor: AtomicU64,
    persistent: Mutex<Vec<Arc<TaskRecord>>>,
}

impl History {
    fn new(capacity: usize) -> Self {
        Self {
            ring: (0..capacity).map(|_| Mutex::new(None)).collect(),
            cursor: AtomicU64::new(0),
            persistent: Mutex::new(Vec::new()),
        }
    }

    fn push(&self, record: Arc<TaskRecord>) {
        if record.persistent {
            self.persistent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(record);
            return;
        }
        if self.ring.is_empty() {
            return;
        }
        let slot = self.cursor.fetch_add(1, Ordering::Relaxed) as usize % self.ring.len();
        let evicted = self.ring[slot]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(record);
        // The oldest record is freed outside the slot lock.
        drop(evicted);
    }

    fn all(&self) -> Vec<Arc<TaskRecord>> {
        let mut records: Vec<_> = self
            .ring
            .iter()
            .filter_map(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect();
        records.extend(
            self.persistent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        records
    }

    fn find(&self, id: TaskId) -> Option<Arc<TaskRecord>> {
        self.all().into_iter().find(|record| record.id == id)
    }
}
