//! The task registry: live tasks and a bounded history of ended ones.

use std::{
    fmt,
    future::Future,
    panic::Location,
    ptr::NonNull,
    sync::{Arc, OnceLock, atomic::Ordering},
};

use slab::Slab;

use crate::{
    CancelRequested, DEFAULT_MAX_SITES, ExternalTask, Instrumented, RegistryError, SiteTable,
    TaskId, TaskIntrospect, TaskSnapshot, Thresholds,
    clock::{self, coarse_now_ns, precise_now_ns},
    diagnose::{EndReason, SiteRef},
    sync::{AtomicU64, CacheLine, Mutex, MutexGuard, lock},
    task::{
        CancelledBy, TaskEnd, TaskState, canceller::Canceller, current_task, record::LiveRecord,
    },
};

/// Number of independently locked shards of the live tasks. Spawn, first
/// poll and task end lock one shard (chosen by id), so threads spawning at
/// once rarely meet; the monitor visits the shards one by one. (One under loom:
/// ids come from a process-wide counter, so the shard a model's task lands
/// in would differ between loom's runs of the same model.)
#[cfg(not(monitor_loom))]
const SHARDS: usize = 64;
#[cfg(monitor_loom)]
const SHARDS: usize = 1;

/// The default number of ended tasks kept for `ps-terminated`.
pub const DEFAULT_HISTORY_CAPACITY: usize = 1000;

static GLOBAL: OnceLock<Arc<TaskRegistry>> = OnceLock::new();

/// The live tasks of one shard, in a slab: a task keeps the index of its
/// entry ([`TaskKey`]), so spawn, first poll and end reach it with an index
/// instead of hashing its id; lookups by id alone (console commands) scan
/// the shard.
type Tasks = Slab<Entry>;
/// Each shard on its own cache lines: consecutive ids go to consecutive
/// shards, so without padding a spawn on one worker and an end on another
/// would write the same line through neighbouring shards.
type Shard = CacheLine<Mutex<Tasks>>;

/// A slot index no entry has: the key of a task known only by its id.
const NO_SLOT: u32 = u32::MAX;

/// A live task's id together with where its entry is in the registry, so
/// that reaching it costs an index rather than a search.
///
/// [`Instrumented::key`], [`RuntimeCancelled::key`](crate::RuntimeCancelled::key)
/// and [`CatchPanics::key`](crate::CatchPanics::key) hand it out;
/// [`TaskRegistry::set_canceller`] takes it (or a bare [`TaskId`], which
/// converts into a key that makes the registry search the task's shard).
/// A key stays safe to use after its task has ended: the entry is checked
/// to still belong to the same id, and ids are never reused.
///
/// ```
/// use monitor_core::{TaskKey, TaskOptions, TaskRegistry};
///
/// let registry = TaskRegistry::new();
/// let task = registry.instrument(async {}, TaskOptions::new());
/// let key: TaskKey = task.key();
/// assert_eq!(key.id(), task.id());
/// assert_eq!(TaskKey::from(task.id()).id(), task.id());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskKey {
    id: TaskId,
    slot: u32,
}

impl TaskKey {
    /// The task's id.
    #[inline]
    pub fn id(self) -> TaskId {
        self.id
    }

    /// The key again from its two halves, which a task's wrapper keeps
    /// apart so that the slot packs with the other 4-byte field.
    #[inline]
    pub(crate) fn from_parts(id: TaskId, slot: u32) -> Self {
        Self { id, slot }
    }

    /// Where the entry is in its shard ([`from_parts`](Self::from_parts)).
    #[inline]
    pub(crate) fn slot(self) -> u32 {
        self.slot
    }
}

impl From<TaskId> for TaskKey {
    /// A key that knows only the id: the registry finds the entry by
    /// scanning the task's shard (about 1/64 of the live tasks).
    #[inline]
    fn from(id: TaskId) -> Self {
        Self { id, slot: NO_SLOT }
    }
}

/// The index of `key`'s entry in `tasks`, if the task is still live.
#[inline]
fn find(tasks: &Tasks, key: TaskKey) -> Option<usize> {
    if key.slot != NO_SLOT {
        let slot = key.slot as usize;
        // The id check makes a stale key (its task ended, the slot reused)
        // miss instead of hitting another task.
        return tasks
            .get(slot)
            .filter(|entry| entry.id == key.id)
            .map(|_| slot);
    }
    tasks
        .iter()
        .find(|(_, entry)| entry.id == key.id)
        .map(|(slot, _)| slot)
}

/// What is fixed when a task is spawned.
#[derive(Debug)]
pub(crate) struct TaskInfo {
    name: Option<Box<str>>,
    location: &'static Location<'static>,
    parent: Option<TaskId>,
    spawned_at_ns: u64,
    persistent: bool,
    /// `false` makes `cancel` answer `RegistryError::NotCancellable` instead
    /// of setting a flag nobody would act on.
    cancellable: bool,
    /// `size_of` the wrapped future, [`UNKNOWN_SIZE`] for hook-tracked
    /// tasks. A `u32` fits in the padding after the two flags, so knowing
    /// it costs no memory per task.
    future_size: u32,
}

/// [`TaskInfo::future_size`] of a task whose future the registry did not
/// wrap; larger futures are recorded as `u32::MAX - 1` bytes.
const UNKNOWN_SIZE: u32 = u32::MAX;

impl TaskInfo {
    fn future_size(&self) -> Option<u64> {
        (self.future_size != UNKNOWN_SIZE).then_some(u64::from(self.future_size))
    }
}

/// A live task in its shard.
///
/// The fixed facts are kept here by value (moved from the spawn's options,
/// not copied); what changes while the task runs is in its [`LiveRecord`],
/// inside the task's own future. Before the first poll the future may still
/// move (from the spawn call into the runtime), so `live` is `None` and a
/// cancel request waits in `cancel_requested`; the first poll, which has the
/// future pinned, links the record.
///
/// # The pointer's validity
///
/// `live` is only dereferenced while the shard lock is held. Whoever links
/// a record (`TaskRegistry::link`, unsafe) promises that the record stays
/// where it is and alive until it has called `TaskRegistry::retire` for the
/// task, which removes the entry under the same lock. So a reader holding
/// the lock either finds no entry or a record that cannot go away before it
/// unlocks. `Instrumented` retires in its `Drop` at the latest — which runs
/// before a pinned value's memory is reused — also when the user's future
/// panics while being dropped.
struct Entry {
    id: TaskId,
    info: TaskInfo,
    /// The task's row in the site statistics, found once at spawn.
    site: SiteRef,
    live: Option<NonNull<LiveRecord>>,
    /// A cancel requested before `live` was linked.
    cancel_requested: bool,
    /// The runtime's own way to stop the task, if the adapter gave one.
    canceller: Option<Canceller>,
}

// SAFETY: the only non-`Send` part is the `live` pointer, which is followed
// only under the shard lock to a `LiveRecord` (itself `Sync`) that stays
// valid while the entry exists (see "The pointer's validity" above).
unsafe impl Send for Entry {}

impl Entry {
    /// The task's changing state, if it has been polled.
    fn live(&self) -> Option<&LiveRecord> {
        // SAFETY: an entry is only reachable under its shard lock, and the
        // record outlives the entry (see "The pointer's validity").
        self.live.map(|live| unsafe { live.as_ref() })
    }

    fn snapshot(&self, now: u64) -> TaskSnapshot {
        let id = self.id;
        let (state, polls, timing) = match self.live() {
            Some(live) => (live.state(), live.polls(), live.timing(now)),
            None => (
                TaskState::Idle,
                0,
                crate::task::record::Timing {
                    busy_ns: 0,
                    poll_ns: None,
                    thread: None,
                },
            ),
        };
        TaskSnapshot {
            id,
            name: self.info.name.as_deref().map(str::to_owned),
            state,
            location: location_text(self.info.location),
            parent: self.info.parent,
            polls,
            busy_ns: timing.busy_ns,
            age_ns: clock::since(self.info.spawned_at_ns, now),
            poll_ns: timing.poll_ns,
            thread: timing.thread.map(crate::task::record::thread_name),
            persistent: self.info.persistent,
            future_size: self.info.future_size(),
            ended: None,
            ended_ago_ns: None,
        }
    }
}

/// An ended task, kept by value in the history.
#[derive(Debug)]
struct Ended {
    id: TaskId,
    info: TaskInfo,
    polls: u64,
    busy_ns: u64,
    how: TaskEnd,
    at_ns: u64,
}

impl Ended {
    fn snapshot(&self, now: u64) -> TaskSnapshot {
        TaskSnapshot {
            id: self.id,
            name: self.info.name.as_deref().map(str::to_owned),
            state: self.how.state(),
            location: location_text(self.info.location),
            parent: self.info.parent,
            polls: self.polls,
            busy_ns: self.busy_ns,
            age_ns: clock::since(self.info.spawned_at_ns, self.at_ns),
            poll_ns: None,
            thread: None,
            persistent: self.info.persistent,
            future_size: self.info.future_size(),
            ended: Some(self.how.clone()),
            ended_ago_ns: Some(clock::since(self.at_ns, now)),
        }
    }
}

fn location_text(location: &Location<'_>) -> String {
    format!(
        "{}:{}:{}",
        location.file(),
        location.line(),
        location.column()
    )
}

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
// Aligned to a cache-line pair: the `Arc` around it keeps its reference
// counts right before it, and every task end decrements one of them, on
// whichever worker it ends; without the alignment that write would evict
// the fields below, which every spawn and end reads.
#[repr(align(128))]
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
    pub(crate) name: Option<Box<str>>,
    persistent: bool,
    location: Option<&'static Location<'static>>,
    parent: Option<Option<TaskId>>,
    // Stored negated so the derived `Default` means "cancellable".
    not_cancellable: bool,
}

impl TaskOptions {
    /// No name, not persistent, cancellable, location and parent taken from
    /// the caller.
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task; `ps -f` filters on it.
    #[inline]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Keeps the task's record in the terminated history forever once it
    /// ends, instead of letting newer tasks push it out (aiomonitor's
    /// `preserve_termination_log`). Meant for the few long-lived tasks whose
    /// end matters.
    #[inline]
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    /// Overrides the spawn location, for adapters whose spawn call site is
    /// known some other way (for example a runtime hook). Normally the
    /// location comes from `#[track_caller]`.
    #[inline]
    pub fn location(mut self, location: &'static Location<'static>) -> Self {
        self.location = Some(location);
        self
    }

    /// Overrides the parent task, which is otherwise the tracked task being
    /// polled on the spawning thread.
    #[inline]
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
            live: (0..SHARDS)
                .map(|_| CacheLine(Mutex::new(Tasks::new())))
                .collect(),
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
        Arc::clone(self).instrument_owned(future, options)
    }

    /// [`instrument`](Self::instrument) for a caller that owns an `Arc` it
    /// would drop afterwards (a task builder's registry): the task takes
    /// that reference instead of adding one, which saves two atomic
    /// operations on the registry's shared count per spawn.
    #[track_caller]
    pub(crate) fn instrument_owned<F: Future>(
        self: Arc<Self>,
        future: F,
        options: TaskOptions,
    ) -> Instrumented<F> {
        // diagnostics hook: the future's size, free to know here.
        let (key, site) = self.add(options, Location::caller(), Some(size_of::<F>()));
        Instrumented::new(key, site, self, future)
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
        let (key, site) = self.add(options, Location::caller(), None);
        ExternalTask::new(key, site, Arc::clone(self))
    }

    /// Makes a task live from `options`. `caller` is the location of the
    /// public `#[track_caller]` entry point, used when `options` name none;
    /// `future_size` is the wrapped future's size, when there is one.
    /// Returns the task's key and its site.
    fn add(
        &self,
        options: TaskOptions,
        caller: &'static Location<'static>,
        future_size: Option<usize>,
    ) -> (TaskKey, SiteRef) {
        let id = TaskId::next();
        let location = options.location.unwrap_or(caller);
        // diagnostics hook: count the spawn in its site, which the task
        // keeps for its long polls and its end.
        let site = self
            .sites
            .task_spawned(location, options.name.as_deref(), future_size);
        let entry = Entry {
            id,
            info: TaskInfo {
                name: options.name,
                location,
                parent: options.parent.unwrap_or_else(current_task),
                spawned_at_ns: coarse_now_ns(),
                persistent: options.persistent,
                cancellable: !options.not_cancellable,
                future_size: future_size.map_or(UNKNOWN_SIZE, |size| {
                    u32::try_from(size)
                        .unwrap_or(UNKNOWN_SIZE - 1)
                        .min(UNKNOWN_SIZE - 1)
                }),
            },
            site,
            live: None,
            cancel_requested: false,
            canceller: None,
        };
        let slot = self.shard(id).insert(entry);
        let slot = u32::try_from(slot).unwrap_or(NO_SLOT);
        (TaskKey { id, slot }, site)
    }

    /// Whether tasks read the precise clock on every poll.
    pub(crate) fn precise_timing(&self) -> bool {
        self.precise_timing
    }

    fn shard(&self, id: TaskId) -> MutexGuard<'_, Tasks> {
        lock(&self.live[id.as_u64() as usize % SHARDS])
    }

    /// Points the live entry of `key` at its record, which the task's first
    /// poll has pinned. Returns whether a cancel was requested before.
    ///
    /// # Safety
    ///
    /// `live` must stay valid and at the same address until the caller has
    /// called [`retire`](Self::retire) for `key` (which unlinks it); calling
    /// `link` again for the same task with another record is not allowed.
    pub(crate) unsafe fn link(&self, key: TaskKey, live: NonNull<LiveRecord>) -> bool {
        let mut shard = self.shard(key.id);
        match find(&shard, key) {
            Some(slot) => {
                let entry = &mut shard[slot];
                entry.live = Some(live);
                entry.cancel_requested
            }
            // Only the task itself removes its entry, and it has not.
            None => false,
        }
    }

    /// Moves an ending task from the live map into the history: unlinks its
    /// record (after this, nothing reads `live` any more) and copies what
    /// the history keeps. Does nothing if the task has already retired.
    pub(crate) fn retire(&self, key: TaskKey, live: Option<&LiveRecord>, mut how: TaskEnd) {
        let id = key.id;
        let (canceller, evicted, site_totals) = {
            let mut shard = self.shard(id);
            let Some(slot) = find(&shard, key) else {
                return;
            };
            let entry = shard.remove(slot);
            // A cancel the runtime carried out (tokio's abort) reaches the
            // task as a drop; the request is what stopped it.
            if how
                == (TaskEnd::Cancelled {
                    by: CancelledBy::Dropped,
                })
                && (entry.cancel_requested || live.is_some_and(LiveRecord::cancel_requested))
            {
                how = TaskEnd::Cancelled {
                    by: CancelledBy::Request,
                };
            }
            let Entry {
                info,
                canceller,
                site,
                ..
            } = entry;
            let ended = Ended {
                id,
                info,
                polls: live.map_or(0, LiveRecord::polls),
                busy_ns: live.map_or(0, LiveRecord::busy_ns),
                how,
                // The coarse clock unless asked for precision: ~100
                // instructions less per task, and end times in the history
                // to the millisecond.
                at_ns: if self.precise_timing {
                    precise_now_ns()
                } else {
                    coarse_now_ns()
                },
            };
            // diagnostics hook: what the task's site needs, folded in below
            // outside the shard lock.
            let site_totals = (
                site,
                EndReason::of(&ended.how),
                ended.polls,
                ended.busy_ns,
                clock::since(ended.info.spawned_at_ns, ended.at_ns),
            );
            // Into the history before the shard lock is released, so a
            // reader that misses the task among the live ones finds it
            // there: a task never vanishes from view while it ends.
            (canceller, self.history.push(ended), site_totals)
        };
        let (site, reason, polls, busy_ns, lifetime_ns) = site_totals;
        self.sites
            .task_ended(site, reason, polls, busy_ns, lifetime_ns);
        // The canceller (it may hold a reference to the runtime's task) and
        // the entry the history evicted are dropped outside every lock.
        drop((canceller, evicted));
    }

    /// Installs the runtime's own way to stop task `task`, run (once, on the
    /// thread that asked) by the first [`cancel`](TaskIntrospect::cancel)
    /// in addition to setting the flag the task's wrapper checks.
    ///
    /// Adapters call it right after spawning, when the runtime's handle
    /// exists, with the [`TaskKey`] the wrapper handed out before it was
    /// spawned (a bare [`TaskId`] works too, at the cost of searching the
    /// task's shard): the tokio adapter passes `AbortHandle::abort`, so a monitor
    /// cancel makes tokio's `JoinHandle` report `is_cancelled()`. A closure
    /// of at most one pointer, like that one, is kept without an allocation.
    /// If the task has already ended, or a cancel is already pending, the
    /// closure runs at once (a runtime asked to stop a task that is gone
    /// does nothing); otherwise it is dropped when the task ends. It should
    /// only signal the runtime, not wait.
    pub fn set_canceller(&self, task: impl Into<TaskKey>, cancel: impl FnOnce() + Send + 'static) {
        self.install_canceller(task.into(), Canceller::new(cancel));
    }

    pub(crate) fn install_canceller(&self, key: TaskKey, canceller: Canceller) {
        let run_now = {
            let mut shard = self.shard(key.id);
            match find(&shard, key).map(|slot| &mut shard[slot]) {
                Some(entry)
                    if !entry.cancel_requested
                        && !entry.live().is_some_and(LiveRecord::cancel_requested) =>
                {
                    entry.canceller = Some(canceller);
                    None
                }
                _ => Some(canceller),
            }
        };
        if let Some(canceller) = run_now {
            canceller.call();
        }
    }

    /// `true` while task `key` has not retired (O(1) with a key from its
    /// wrapper: one slot of one shard).
    pub(crate) fn is_live(&self, key: TaskKey) -> bool {
        find(&self.shard(key.id), key).is_some()
    }

    /// Per-spawn-site statistics and the lints' thresholds.
    pub fn sites(&self) -> &SiteTable {
        &self.sites
    }

    /// A poll of a task of `site` took `spent_ns` (diagnostics hook of the
    /// poll path: one comparison unless the poll took a millisecond or
    /// more; the task keeps its site, so no lock and no lookup then either).
    #[inline]
    pub(crate) fn poll_took(&self, site: SiteRef, spent_ns: u64) {
        // Under loom the clock is outside the model (a real ticker thread),
        // and loom requires the same operations in every replay of a
        // schedule, so loom builds leave the site histograms alone.
        if !cfg!(monitor_loom) {
            self.sites.poll_took(site, spent_ns);
        }
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
            // Snapshots are taken under the shard lock (the records may go
            // the moment it is released) and visited after unlocking, so a
            // slow visitor never holds up spawns.
            batch.clear();
            batch.extend(lock(shard).iter().map(|(_, entry)| entry.snapshot(now)));
            for task in batch.drain(..) {
                visit(task);
            }
        }
    }

    fn sites(&self) -> Option<&SiteTable> {
        Some(&self.sites)
    }

    fn live_count(&self) -> usize {
        self.live.iter().map(|shard| lock(shard).len()).sum()
    }

    fn terminated(&self) -> Vec<TaskSnapshot> {
        let now = precise_now_ns();
        let mut tasks = Vec::new();
        self.history
            .for_each(&mut |ended| tasks.push((ended.at_ns, ended.snapshot(now))));
        tasks.sort_by_key(|(at, task)| std::cmp::Reverse((*at, task.id)));
        tasks.into_iter().map(|(_, task)| task).collect()
    }

    fn task(&self, id: TaskId) -> Option<TaskSnapshot> {
        let now = precise_now_ns();
        {
            let shard = self.shard(id);
            if let Some(slot) = find(&shard, id.into()) {
                return Some(shard[slot].snapshot(now));
            }
        }
        let mut found = None;
        self.history.for_each(&mut |ended| {
            if ended.id == id {
                found = Some(ended.snapshot(now));
            }
        });
        found
    }

    fn cancel(&self, id: TaskId) -> Result<CancelRequested, RegistryError> {
        let (requested, canceller, waker) = {
            let mut shard = self.shard(id);
            let Some(entry) = find(&shard, id.into()).map(|slot| &mut shard[slot]) else {
                drop(shard);
                return Err(match self.task(id) {
                    Some(ended) => RegistryError::AlreadyEnded {
                        id,
                        state: ended.state,
                    },
                    None => RegistryError::NoSuchTask(id),
                });
            };
            if !entry.info.cancellable {
                return Err(RegistryError::NotCancellable(id));
            }
            entry.cancel_requested = true;
            let (requested, waker) = match entry.live() {
                Some(live) => {
                    let requested = match live.timing(precise_now_ns()).poll_ns {
                        Some(poll_ns) => CancelRequested::WasRunning { poll_ns },
                        None => CancelRequested::WasIdle,
                    };
                    (requested, live.request_cancel())
                }
                // Not polled yet: the first poll finds the request.
                None => (CancelRequested::WasIdle, None),
            };
            (requested, entry.canceller.take(), waker)
        };
        // Runtime code, run outside the shard lock: it may end the task,
        // whose retirement takes that lock.
        if let Some(canceller) = canceller {
            canceller.call();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(requested)
    }
}

/// Ended tasks: a fixed ring where each slot has its own lock, so tasks
/// ending on different threads contend on nothing but the ring's cursor;
/// persistent tasks go to a separate list that is never trimmed. Entries are
/// kept by value: ending a task allocates nothing here.
struct History {
    ring: Box<[Mutex<Option<Ended>>]>,
    /// Written by every task end, on any thread: on lines of its own so
    /// the ring's pointer, read by the same ends, stays in every cache.
    cursor: CacheLine<AtomicU64>,
    persistent: Mutex<Vec<Ended>>,
}

impl History {
    fn new(capacity: usize) -> Self {
        Self {
            ring: (0..capacity).map(|_| Mutex::new(None)).collect(),
            cursor: CacheLine(AtomicU64::new(0)),
            persistent: Mutex::new(Vec::new()),
        }
    }

    /// Keeps `ended`; returns the entry it pushed out (or `ended` itself
    /// with no room at all), for the caller to free outside its locks.
    #[must_use = "dropped by the caller once it holds no lock"]
    fn push(&self, ended: Ended) -> Option<Ended> {
        if ended.info.persistent {
            lock(&self.persistent).push(ended);
            return None;
        }
        if self.ring.is_empty() {
            return Some(ended);
        }
        let slot = self.cursor.fetch_add(1, Ordering::Relaxed) as usize % self.ring.len();
        lock(&self.ring[slot]).replace(ended)
    }

    fn for_each(&self, visit: &mut dyn FnMut(&Ended)) {
        for slot in self.ring.iter() {
            if let Some(ended) = &*lock(slot) {
                visit(ended);
            }
        }
        for ended in lock(&self.persistent).iter() {
            visit(ended);
        }
    }
}

/// The unsafe parts of the registry — records inside the tasks' futures
/// that the shards point at, slots reused by later tasks, waker slots —
/// exercised in the ways Miri can check (see docs/ARCHITECTURE.md, "Miri").
#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        pin::pin,
        sync::atomic::{AtomicUsize, Ordering},
        task::{Context, Poll, Waker},
    };

    use super::*;

    /// Pending once, then ready.
    fn yield_once() -> impl Future<Output = ()> {
        let mut yielded = false;
        std::future::poll_fn(move |cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    #[test]
    fn a_linked_record_is_read_in_place_and_unlinked_before_its_memory_goes() {
        let registry = TaskRegistry::builder().history_capacity(2).build();
        let task = registry.instrument(yield_once(), TaskOptions::new().name("in-place"));
        let id = task.id();
        let mut cx = Context::from_waker(Waker::noop());
        {
            let mut task = pin!(task);
            assert!(task.as_mut().poll(&mut cx).is_pending());
            // Read through the shard's pointer into the pinned future.
            let seen = registry.task(id).unwrap();
            assert_eq!((seen.polls, seen.state), (1, TaskState::Idle));
            assert_eq!(registry.live_tasks().len(), 1);
            assert_eq!(task.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        }
        // The future's memory is gone; only the history's copy is read.
        assert_eq!(registry.live_count(), 0);
        let ended = registry.task(id).unwrap();
        assert_eq!((ended.polls, ended.state), (2, TaskState::Completed));
    }

    #[test]
    fn a_stale_key_misses_the_task_that_reuses_its_slot() {
        let registry = TaskRegistry::new();
        let first = registry.instrument(async {}, TaskOptions::new());
        let stale = first.key();
        drop(first);
        let second = registry.instrument(std::future::pending::<()>(), TaskOptions::new());
        assert!(!registry.is_live(stale));
        assert!(registry.is_live(second.key()));
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        registry.set_canceller(stale, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "run at once: its task is gone"
        );
        registry.cancel(second.id()).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        drop(second);
        assert_eq!(registry.live_count(), 0);
    }

    #[test]
    fn cancel_clones_the_waker_of_an_idle_task_and_the_next_poll_ends_it() {
        let registry = TaskRegistry::new();
        let task = registry.instrument(std::future::pending::<()>(), TaskOptions::new());
        let id = task.id();
        let mut task = Box::pin(task);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(task.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            registry.cancel(id).unwrap(),
            CancelRequested::WasIdle,
            "polled and waiting"
        );
        assert_eq!(
            task.as_mut().poll(&mut cx),
            Poll::Ready(Err(crate::Cancelled(id)))
        );
        drop(task);
        assert_eq!(registry.task(id).unwrap().state, TaskState::Cancelled);
    }

    #[test]
    fn a_future_panicking_in_drop_still_retires_its_task() {
        struct PanicsOnDrop;
        impl Drop for PanicsOnDrop {
            fn drop(&mut self) {
                panic!("boom in drop");
            }
        }
        let registry = TaskRegistry::new();
        let guard = PanicsOnDrop;
        let task = registry.instrument(
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            },
            TaskOptions::new(),
        );
        let id = task.id();
        let mut task = Box::pin(task);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(task.as_mut().poll(&mut cx).is_pending());
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(task)));
        assert!(dropped.is_err(), "the panic is resumed");
        assert_eq!(registry.live_count(), 0);
        assert_eq!(registry.task(id).unwrap().state, TaskState::Panicked);
    }

    #[test]
    fn an_external_record_is_linked_from_registration_to_finish() {
        let registry = TaskRegistry::new();
        let task = registry.register(TaskOptions::new().cancellable(false));
        let id = task.id();
        let poll = task.poll_started();
        assert_eq!(registry.task(id).unwrap().state, TaskState::Running);
        task.poll_ended(poll);
        task.finish(TaskEnd::Ended);
        assert_eq!(registry.live_count(), 0);
        assert_eq!(registry.task(id).unwrap().polls, 1);
    }

    /// The future's size sits in the padding after the two flags: recording
    /// it made no task record larger.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_future_size_costs_no_memory_per_task() {
        assert_eq!(size_of::<TaskInfo>(), 48);
    }

    /// What tracking adds to every task the runtime allocates: the record
    /// and the keys (see `TaskCell`). A zero-sized future shows it alone.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn tracking_adds_72_bytes_to_a_task() {
        let registry = TaskRegistry::new();
        let task = registry.instrument(std::future::pending::<()>(), TaskOptions::new());
        assert_eq!(size_of_val(&task), 72);
        assert_eq!(size_of::<LiveRecord>(), 48);
    }

    #[test]
    fn snapshots_carry_the_future_size_when_the_future_was_wrapped() {
        let registry = TaskRegistry::new();
        let wrapped = registry.instrument(
            async {
                let buffer = [0u8; 2048];
                std::future::ready(()).await;
                buffer.len()
            },
            TaskOptions::new(),
        );
        let size = registry.task(wrapped.id()).unwrap().future_size;
        assert!(size.is_some_and(|bytes| bytes >= 2048), "{size:?}");
        let hooked = registry.register(TaskOptions::new());
        assert_eq!(registry.task(hooked.id()).unwrap().future_size, None);
        drop(wrapped);
        drop(hooked);
    }
}
