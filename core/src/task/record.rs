//! The per-task record the poll path writes and the monitor reads.

use std::{
    cell::{Cell, UnsafeCell},
    fmt,
    panic::Location,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering, fence},
    },
    task::Waker,
};

use super::{TaskEnd, TaskState};
use crate::{
    TaskId,
    clock::{self, coarse_now_ns, precise_now_ns},
};

/// Everything known about one task.
///
/// Written by whichever thread polls the task (a single writer at a time, so
/// counters use load + store instead of read-modify-write instructions) and
/// read by the monitor thread. Every field the poll path touches is an atomic
/// of this record alone: no global lock, no allocation, no shared cache line
/// with other tasks.
pub(crate) struct TaskRecord {
    pub(crate) id: TaskId,
    pub(crate) name: Option<Box<str>>,
    pub(crate) location: &'static Location<'static>,
    pub(crate) parent: Option<TaskId>,
    pub(crate) spawned_at_ns: u64,
    pub(crate) persistent: bool,
    pub(crate) precise_timing: bool,
    /// `false` makes `cancel` answer `RegistryError::NotCancellable` instead
    /// of setting a flag nobody would act on.
    pub(crate) cancellable: bool,

    state: AtomicU8,
    cancel_requested: AtomicBool,
    polls: AtomicU64,
    busy_ns: AtomicU64,
    poll_started_ns: AtomicU64,
    poll_thread: AtomicU32,
    waker: WakerSlot,

    end: OnceLock<Ending>,
    canceller: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

pub(crate) struct Ending {
    pub(crate) how: TaskEnd,
    pub(crate) at_ns: u64,
}

impl fmt::Debug for TaskRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl TaskRecord {
    pub(crate) fn new(
        name: Option<Box<str>>,
        location: &'static Location<'static>,
        parent: Option<TaskId>,
        persistent: bool,
        precise_timing: bool,
        cancellable: bool,
    ) -> Self {
        Self {
            id: TaskId::next(),
            name,
            location,
            parent,
            spawned_at_ns: coarse_now_ns(),
            persistent,
            precise_timing,
            cancellable,
            state: AtomicU8::new(TaskState::Idle.to_u8()),
            cancel_requested: AtomicBool::new(false),
            polls: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            poll_started_ns: AtomicU64::new(0),
            poll_thread: AtomicU32::new(0),
            waker: WakerSlot::new(),
            end: OnceLock::new(),
            canceller: Mutex::new(None),
        }
    }

    #[inline]
    pub(crate) fn state(&self) -> TaskState {
        TaskState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    pub(crate) fn ending(&self) -> Option<&Ending> {
        self.end.get()
    }

    #[inline]
    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel_requested.load(Ordering::Relaxed)
    }

    /// Busy time so far and, while a poll is in progress, how long it has
    /// lasted and which thread runs it. Read with the precise clock.
    pub(crate) fn timing(&self, now_ns: u64) -> Timing {
        let busy = self.busy_ns.load(Ordering::Relaxed);
        if self.state() != TaskState::Running {
            return Timing {
                busy_ns: busy,
                poll_ns: None,
                thread: None,
            };
        }
        // Acquire on `state` (above) orders this load after the poll's
        // Release store of `state`, so the start belongs to this poll.
        let started = self.poll_started_ns.load(Ordering::Relaxed);
        let in_poll = clock::since(started, now_ns);
        Timing {
            busy_ns: busy + in_poll,
            poll_ns: Some(in_poll),
            thread: Some(self.poll_thread.load(Ordering::Relaxed)),
        }
    }

    /// Installs a runtime-specific way to stop the task (e.g. tokio's
    /// `AbortHandle::abort`), used by [`TaskRecord::request_cancel`] in
    /// addition to the flag the wrapper checks.
    pub(crate) fn set_canceller(&self, cancel: Box<dyn Fn() + Send + Sync>) {
        if self.end.get().is_none() {
            *self.canceller.lock().unwrap_or_else(|e| e.into_inner()) = Some(cancel);
        }
    }

    /// Asks the task to stop: runs the runtime's canceller if one is
    /// installed, sets the flag the wrapper checks at its next poll and wakes
    /// the task so that poll happens soon.
    pub(crate) fn request_cancel(&self) {
        // SeqCst pairs with the fence in `WakerSlot::store`: either we see
        // the newly stored waker below, or the poller sees this flag.
        self.cancel_requested.store(true, Ordering::SeqCst);
        let canceller = self
            .canceller
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(cancel) = canceller {
            cancel();
        }
        if let Some(waker) = self.waker.cloned() {
            waker.wake();
        }
    }

    // ---- poll path: only the thread currently polling the task calls these.

    #[inline]
    pub(crate) fn poll_started(&self) -> u64 {
        let now = if self.precise_timing {
            precise_now_ns()
        } else {
            coarse_now_ns()
        };
        self.poll_started_ns.store(now, Ordering::Relaxed);
        self.poll_thread
            .store(current_thread_no(), Ordering::Relaxed);
        // Single writer: a plain load + store avoids a locked instruction.
        let polls = self.polls.load(Ordering::Relaxed);
        self.polls.store(polls + 1, Ordering::Relaxed);
        self.state
            .store(TaskState::Running.to_u8(), Ordering::Release);
        now
    }

    /// Ends a poll of the wrapper: `waker` is `Some` when the future
    /// returned `Pending` (the task goes back to `Idle` and the waker is kept
    /// for `cancel`), `None` when it is about to be retired, which sets the
    /// terminal state itself.
    /// Returns the poll's duration (diagnostics hook: the caller hands it
    /// to the registry's site statistics).
    #[inline]
    pub(crate) fn poll_ended(&self, started: u64, waker: Option<&Waker>) -> u64 {
        let spent = self.add_busy_since(started);
        if let Some(waker) = waker {
            self.waker.store(waker, &self.cancel_requested);
            self.set_idle();
        }
        spent
    }

    /// Ends a poll reported by a runtime hook: no waker is known (so there
    /// is none to keep), and whether the task will be polled again is only
    /// learnt later, so it goes back to `Idle` until told otherwise.
    #[inline]
    pub(crate) fn poll_ended_without_waker(&self, started: u64) -> u64 {
        let spent = self.add_busy_since(started);
        self.set_idle();
        spent
    }

    #[inline]
    fn add_busy_since(&self, started: u64) -> u64 {
        let now = if self.precise_timing {
            precise_now_ns()
        } else {
            coarse_now_ns()
        };
        let spent = now.saturating_sub(started);
        if spent != 0 {
            let busy = self.busy_ns.load(Ordering::Relaxed);
            self.busy_ns.store(busy + spent, Ordering::Relaxed);
        }
        spent
    }

    #[inline]
    fn set_idle(&self) {
        self.state.store(TaskState::Idle.to_u8(), Ordering::Release);
    }

    /// Records how the task ended. Returns `false` if it had already ended.
    pub(crate) fn finish(&self, how: TaskEnd) -> bool {
        let state = how.state();
        if self
            .end
            .set(Ending {
                how,
                at_ns: precise_now_ns(),
            })
            .is_err()
        {
            return false;
        }
        self.state.store(state.to_u8(), Ordering::Release);
        // A finished record may sit in the history for a long time: let go of
        // anything that keeps the runtime's task memory alive.
        self.waker.clear();
        self.canceller
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        true
    }
}

/// Busy time and poll-in-progress information read by the monitor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) busy_ns: u64,
    pub(crate) poll_ns: Option<u64>,
    pub(crate) thread: Option<u32>,
}

/// The waker of the task's last `Pending` poll, kept so `cancel` can wake an
/// idle task.
///
/// `atomic-waker`/`futures::task::AtomicWaker` take two locked instructions
/// on every registration. Here the common case — the runtime hands the same
/// waker as last time — costs one `will_wake` comparison and no atomic RMW:
/// the slot is written only by the polling thread, so that thread may read it
/// without the lock; the lock only guards writes against the monitor's
/// clones, and writes happen when the waker actually changes.
struct WakerSlot {
    locked: AtomicBool,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: `waker` is written only while `locked` is held and only by the
// thread polling the task; other threads read (clone) it only while holding
// `locked`, and the polling thread's unlocked read cannot race with a write
// because it is the only writer.
unsafe impl Sync for WakerSlot {}

impl WakerSlot {
    fn new() -> Self {
        Self {
            locked: AtomicBool::new(false),
            waker: UnsafeCell::new(None),
        }
    }

    fn lock(&self) {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
    }

    fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    /// Poller only.
    #[inline]
    fn store(&self, waker: &Waker, cancel_requested: &AtomicBool) {
        // SAFETY: we are the only writer (see the `Sync` impl), so reading
        // without the lock cannot observe a write in progress.
        let same = unsafe { &*self.waker.get() }
            .as_ref()
            .is_some_and(|old| old.will_wake(waker));
        if same {
            return;
        }
        self.lock();
        // SAFETY: the lock excludes readers; we are the only writer.
        let old = unsafe { (*self.waker.get()).replace(waker.clone()) };
        self.unlock();
        drop(old);
        // A cancel request that cloned the previous (or no) waker would be
        // lost; the fence pairs with the SeqCst store in `request_cancel`.
        fence(Ordering::SeqCst);
        if cancel_requested.load(Ordering::Relaxed) {
            waker.wake_by_ref();
        }
    }

    fn cloned(&self) -> Option<Waker> {
        self.lock();
        // SAFETY: the lock excludes the writer.
        let waker = unsafe { (*self.waker.get()).clone() };
        self.unlock();
        waker
    }

    fn clear(&self) {
        self.lock();
        // SAFETY: the lock excludes readers; after `finish` nobody polls.
        let old = unsafe { (*self.waker.get()).take() };
        self.unlock();
        drop(old);
    }
}

// ---- per-thread context: the task being polled and a small thread number.

struct ThreadContext {
    current_task: Cell<u64>,
    thread_no: Cell<u32>,
}

thread_local! {
    static CONTEXT: ThreadContext = const {
        ThreadContext { current_task: Cell::new(0), thread_no: Cell::new(0) }
    };
}

static NEXT_THREAD_NO: AtomicU32 = AtomicU32::new(1);
static THREAD_NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A small number naming the current thread, assigned on first use. The
/// monitor maps it back to the thread's name with [`thread_name`].
#[inline]
fn current_thread_no() -> u32 {
    let no = CONTEXT.with(|ctx| ctx.thread_no.get());
    if no != 0 {
        return no;
    }
    register_thread()
}

/// First use on a thread: number it and remember its name. Kept out of line
/// so the poll path inlines to a thread-local load and a compare (measured:
/// the combined version cost an out-of-line call on every poll).
#[cold]
#[inline(never)]
fn register_thread() -> u32 {
    let no = NEXT_THREAD_NO.fetch_add(1, Ordering::Relaxed);
    let current = std::thread::current();
    let name = match current.name() {
        Some(name) => format!("{name} ({:?})", current.id()),
        None => format!("{:?}", current.id()),
    };
    let mut names = THREAD_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let index = no as usize - 1;
    if names.len() <= index {
        names.resize(index + 1, String::new());
    }
    names[index] = name;
    CONTEXT.with(|ctx| ctx.thread_no.set(no));
    no
}

/// The name of a thread numbered by `current_thread_no`.
pub(crate) fn thread_name(no: u32) -> String {
    let names = THREAD_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    names
        .get((no as usize).wrapping_sub(1))
        .cloned()
        .unwrap_or_else(|| format!("thread #{no}"))
}

/// Marks `id` as the task being polled on this thread until the returned
/// value is passed to [`leave_task`].
#[inline]
pub(crate) fn enter_task(id: TaskId) -> u64 {
    CONTEXT.with(|ctx| ctx.current_task.replace(id.as_u64()))
}

/// Restores what [`enter_task`] replaced.
#[inline]
pub(crate) fn leave_task(previous: u64) {
    CONTEXT.with(|ctx| ctx.current_task.set(previous));
}

/// The tracked task whose `poll` is running on this thread, if any.
///
/// Tasks spawned from inside a tracked task record it as their parent.
pub fn current_task() -> Option<TaskId> {
    CONTEXT
        .try_with(|ctx| TaskId::from_u64(ctx.current_task.get()))
        .ok()
        .flatten()
}
