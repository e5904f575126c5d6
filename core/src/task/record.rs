//! The per-task record the poll path writes and the monitor reads.

use std::{
    cell::Cell,
    fmt,
    sync::{Mutex, atomic::Ordering},
    task::Waker,
};

use super::TaskState;
use crate::{
    TaskId,
    clock::{self, coarse_now_ns, precise_now_ns},
    sync::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, UnsafeCell, fence},
};

/// What changes while a task lives: its state, poll count, busy time and
/// last waker.
///
/// It lives inside the task itself — in the [`Instrumented`] future, which
/// the runtime has allocated and pinned — so tracking a task allocates
/// nothing of its own. The registry's entry for the task points at it from
/// the first poll until the task retires; the pointer is only followed under
/// the entry's shard lock, and retiring removes it under that lock before the
/// memory can go (see `registry::Entry`).
///
/// Written by whichever thread polls the task (a single writer at a time, so
/// counters use load + store instead of read-modify-write instructions) and
/// read by the monitor thread. Every field the poll path touches is an atomic
/// of this record alone: no global lock, no allocation, no shared cache line
/// with other tasks.
///
/// [`Instrumented`]: super::Instrumented
pub(crate) struct LiveRecord {
    polls: AtomicU64,
    busy_ns: AtomicU64,
    poll_started_ns: AtomicU64,
    waker: WakerSlot,
    // The small fields share one 8-byte word (the compiler orders fields by
    // alignment): the record is 48 bytes, and every byte of it is a byte
    // more in every task the runtime allocates.
    poll_thread: AtomicU32,
    state: AtomicU8,
    cancel_requested: AtomicBool,
    /// Guards writes to `waker` against the monitor's clones (see
    /// [`WakerSlot`]); here rather than in the slot so that it fills the
    /// small-field word instead of padding the slot to 24 bytes.
    waker_locked: AtomicBool,
    /// [`PRECISE`] (fixed at creation) and [`ENDED`] (set by the task's
    /// owner; never read by the monitor, atomic only so that the monitor's
    /// shared reads of the record never overlap a plain write).
    flags: AtomicU8,
}

/// [`LiveRecord::flags`]: the poll path reads the precise clock.
const PRECISE: u8 = 1;
/// [`LiveRecord::flags`]: the task has started ending.
const ENDED: u8 = 2;

impl fmt::Debug for LiveRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveRecord")
            .field("state", &self.state())
            .field("polls", &self.polls())
            .finish_non_exhaustive()
    }
}

/// Busy time and poll-in-progress information read by the monitor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) busy_ns: u64,
    pub(crate) poll_ns: Option<u64>,
    pub(crate) thread: Option<u32>,
}

impl LiveRecord {
    pub(crate) fn new(precise_timing: bool) -> Self {
        Self {
            polls: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            poll_started_ns: AtomicU64::new(0),
            waker: WakerSlot::new(),
            poll_thread: AtomicU32::new(0),
            state: AtomicU8::new(TaskState::Idle.to_u8()),
            cancel_requested: AtomicBool::new(false),
            waker_locked: AtomicBool::new(false),
            flags: AtomicU8::new(if precise_timing { PRECISE } else { 0 }),
        }
    }

    /// Marks the task as ending; returns whether it already was. Only the
    /// task's owner (its wrapper) calls it.
    #[inline]
    pub(crate) fn mark_ended(&self) -> bool {
        // Single writer: a plain load + store, no locked instruction.
        let flags = self.flags.load(Ordering::Relaxed);
        self.flags.store(flags | ENDED, Ordering::Relaxed);
        flags & ENDED != 0
    }

    /// Whether [`mark_ended`](Self::mark_ended) has been called.
    #[inline]
    pub(crate) fn is_ended(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & ENDED != 0
    }

    /// Whether polls read the precise clock (the registry's
    /// `precise_timing`, copied at creation).
    #[inline]
    fn precise(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & PRECISE != 0
    }

    #[inline]
    pub(crate) fn state(&self) -> TaskState {
        TaskState::from_u8(self.state.load(Ordering::Acquire))
    }

    #[inline]
    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    pub(crate) fn busy_ns(&self) -> u64 {
        self.busy_ns.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel_requested.load(Ordering::Relaxed)
    }

    /// Busy time so far and, while a poll is in progress, how long it has
    /// lasted and which thread runs it. Read with the precise clock.
    pub(crate) fn timing(&self, now_ns: u64) -> Timing {
        let busy = self.busy_ns();
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

    /// Sets the flag the task checks at its next poll and returns the waker
    /// to wake so that poll happens soon. The caller wakes it after
    /// releasing its locks: waking may run the runtime's code, which may
    /// drop the task, whose retirement takes the shard lock.
    #[must_use = "wake the returned waker, or the request waits for an unrelated wake-up"]
    pub(crate) fn request_cancel(&self) -> Option<Waker> {
        // SeqCst pairs with the fence in `WakerSlot::store`: either we see
        // the newly stored waker below, or the poller sees this flag.
        self.cancel_requested.store(true, Ordering::SeqCst);
        self.waker.cloned(&self.waker_locked)
    }

    /// Marks a cancel that was requested before the task was first polled
    /// (kept in the registry's entry until then).
    pub(crate) fn set_cancel_requested(&self) {
        self.cancel_requested.store(true, Ordering::SeqCst);
    }

    // ---- poll path: only the thread currently polling the task calls these.

    #[inline]
    pub(crate) fn poll_started(&self) -> u64 {
        let now = if self.precise() {
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

    /// Ends a poll that returned `Pending`: the task goes back to `Idle` and
    /// the waker is kept for `cancel`. Returns the poll's duration, like the
    /// other `poll_*` endings (diagnostics hook: the caller hands it to the
    /// registry's site statistics).
    ///
    /// # Safety
    ///
    /// Only the thread currently polling the task may call it (the waker
    /// slot's single-writer rule, see [`WakerSlot::store`]).
    #[inline]
    pub(crate) unsafe fn poll_pending(&self, started: u64, waker: &Waker) -> u64 {
        let spent = self.add_busy_since(started);
        // SAFETY: forwarded from this function's contract.
        unsafe {
            self.waker
                .store(&self.waker_locked, waker, &self.cancel_requested)
        };
        self.set_idle();
        spent
    }

    /// Ends a poll after which the task retires (it completed, panicked or
    /// was cancelled): only the busy time is left to add.
    #[inline]
    pub(crate) fn poll_finished(&self, started: u64) -> u64 {
        self.add_busy_since(started)
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
        let now = if self.precise() {
            precise_now_ns()
        } else {
            coarse_now_ns()
        };
        let spent = now.saturating_sub(started);
        // Under loom the clock is outside the model (a real ticker thread),
        // so the branch must not depend on it: loom replays each schedule
        // and requires the same atomic operations every time.
        if spent != 0 || cfg!(monitor_loom) {
            let busy = self.busy_ns.load(Ordering::Relaxed);
            self.busy_ns.store(busy + spent, Ordering::Relaxed);
        }
        spent
    }

    #[inline]
    fn set_idle(&self) {
        self.state.store(TaskState::Idle.to_u8(), Ordering::Release);
    }
}

/// The waker of the task's last `Pending` poll, kept so `cancel` can wake an
/// idle task.
///
/// `atomic-waker`/`futures::task::AtomicWaker` take two locked instructions
/// on every registration. Here the common case — the runtime hands the same
/// waker as last time — costs one `will_wake` comparison and no atomic RMW:
/// the slot is written only by the polling thread, so that thread may read it
/// without the lock; the lock (the record's `waker_locked`, passed to every
/// method that needs it) only guards writes against the monitor's clones, and
/// writes happen when the waker actually changes.
struct WakerSlot {
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: `waker` is written only while its record's `waker_locked` is held
// and only by the thread polling the task (`store`'s contract); other threads
// read (clone) it only while holding that lock, and the polling thread's
// unlocked read cannot race with a write because it is the only writer. The
// slot is private to `LiveRecord`, which always passes its own lock.
unsafe impl Sync for WakerSlot {}

/// Releases the slot's spinlock when dropped, so a panicking
/// `Waker::clone` or `Waker::drop` (runtime code) cannot leave it held.
struct SlotGuard<'a>(&'a AtomicBool);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl WakerSlot {
    fn new() -> Self {
        Self {
            waker: UnsafeCell::new(None),
        }
    }

    fn lock(locked: &AtomicBool) -> SlotGuard<'_> {
        while locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            #[cfg(monitor_loom)]
            loom::thread::yield_now();
            #[cfg(not(monitor_loom))]
            std::hint::spin_loop();
        }
        SlotGuard(locked)
    }

    /// Keeps `waker` unless the slot already holds one that wakes the same
    /// task; wakes it at once if a cancel request may have missed it.
    ///
    /// # Safety
    ///
    /// Only one thread at a time may call `store` on a given slot — the one
    /// polling the task, which the runtime guarantees is a single thread at
    /// a time. The unlocked read of the current waker relies on there being
    /// no concurrent writer. `locked` is the slot's lock (its record's).
    #[inline]
    unsafe fn store(&self, locked: &AtomicBool, waker: &Waker, cancel_requested: &AtomicBool) {
        let same = self.waker.with(|slot| {
            // SAFETY: we are the only writer (this function's contract), so
            // reading without the lock cannot observe a write in progress.
            unsafe { &*slot }
                .as_ref()
                .is_some_and(|old| old.will_wake(waker))
        });
        if same {
            return;
        }
        // Cloned before locking: `Waker::clone` is runtime code and may be
        // slow or panic; neither must happen with the lock held.
        let new = waker.clone();
        let old = {
            let _guard = Self::lock(locked);
            // SAFETY: the lock excludes readers; we are the only writer.
            self.waker.with_mut(|slot| unsafe { (*slot).replace(new) })
        };
        // Dropped after unlocking, for the same reason as the clone.
        drop(old);
        // A cancel request that cloned the previous (or no) waker would be
        // lost; the fence pairs with the SeqCst store in `request_cancel`.
        fence(Ordering::SeqCst);
        if cancel_requested.load(Ordering::Relaxed) {
            waker.wake_by_ref();
        }
    }

    /// A clone of the kept waker, taken under `locked` (the slot's lock).
    fn cloned(&self, locked: &AtomicBool) -> Option<Waker> {
        let _guard = Self::lock(locked);
        // SAFETY: the lock excludes the writer. If `clone` panics, the
        // guard still unlocks.
        self.waker.with(|slot| unsafe { (*slot).clone() })
    }
}

impl Drop for WakerSlot {
    fn drop(&mut self) {
        // With loom's `UnsafeCell` the value must be dropped through it.
        // SAFETY: `&mut self`: nobody else can reach the slot.
        drop(self.waker.with_mut(|slot| unsafe { (*slot).take() }));
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

// Process-wide statics: plain `std` types even under loom.
static NEXT_THREAD_NO: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// How many thread names are kept. Thread numbers are never reused, so an
/// application that keeps starting threads (a blocking pool that shrinks
/// and grows) would otherwise grow the table forever; each number has a
/// fixed slot, shared with the numbers `THREAD_NAME_SLOTS` apart, and the
/// newest thread to use a slot keeps it.
const THREAD_NAME_SLOTS: usize = 1024;

/// `(thread number, name)` for the threads that last used each slot.
static THREAD_NAMES: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

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
    let slot = (no as usize - 1) % THREAD_NAME_SLOTS;
    if names.len() <= slot {
        names.resize(slot + 1, (0, String::new()));
    }
    names[slot] = (no, name);
    CONTEXT.with(|ctx| ctx.thread_no.set(no));
    no
}

/// The name of a thread numbered by `current_thread_no`; `thread #N` when
/// its slot has been taken over by a newer thread.
pub(crate) fn thread_name(no: u32) -> String {
    let names = THREAD_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    match names.get((no as usize).wrapping_sub(1) % THREAD_NAME_SLOTS) {
        Some((owner, name)) if *owner == no && no != 0 => name.clone(),
        _ => format!("thread #{no}"),
    }
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
