//! Records of tasks the monitor does not wrap, kept up to date by a
//! runtime's hooks.

use std::{fmt, ptr::NonNull, sync::Arc};

use super::{
    CancelledBy, TaskEnd,
    canceller::Canceller,
    record::{LiveRecord, enter_task, leave_task},
};
use crate::{
    TaskId,
    diagnose::SiteRef,
    registry::{TaskKey, TaskRegistry},
};

/// A live task tracked without the monitor's future wrapper.
///
/// [`Instrumented`](crate::Instrumented) only sees the futures it wraps, so
/// tasks that libraries spawn straight on the runtime stay invisible. Some
/// runtimes report every task's spawn, polls and end through hooks (tokio
/// under `--cfg tokio_unstable`); an `ExternalTask`, made by
/// [`TaskRegistry::register`], is what those hooks update instead. The
/// console sees no difference: the task is listed, its polls counted and
/// timed, and it moves to the terminated history when it ends.
///
/// The poll path costs what the wrapper's does — a few relaxed atomic stores
/// in the task's own record and one thread-local write, no allocation, no
/// lock — with the same single-writer assumption: report one poll at a time
/// per task.
///
/// Dropping the handle without calling [`finish`](Self::finish) records
/// the task as cancelled ([`CancelledBy::Request`] if a cancel had been
/// requested, [`CancelledBy::Dropped`] otherwise), so a forgotten task
/// never stays "live" in the console.
#[must_use = "dropping an ExternalTask records its task as ended; keep it for the task's lifetime"]
pub struct ExternalTask {
    key: TaskKey,
    site: SiteRef,
    /// Boxed (the hooks' caller moves the handle around), linked into the
    /// registry from the start and freed by `Drop` after retiring.
    live: NonNull<LiveRecord>,
    registry: Arc<TaskRegistry>,
    finished: bool,
}

// SAFETY: `live` is owned like a `Box<LiveRecord>` (freed only by `Drop`),
// and `LiveRecord` is `Send + Sync`: every field is atomic or behind its
// own lock, with poll-path writes left to one thread at a time (the
// documented contract of `poll_started`/`poll_ended`).
unsafe impl Send for ExternalTask {}
// SAFETY: as above; `&ExternalTask` only gives `&LiveRecord`.
unsafe impl Sync for ExternalTask {}

/// Proof that a poll of an [`ExternalTask`] is in progress, from
/// [`ExternalTask::poll_started`] to [`ExternalTask::poll_ended`].
///
/// It carries the poll's start time and the task that was current on this
/// thread before (see [`current_task`](crate::current_task)). Dropping it —
/// normally inside `poll_ended` — restores that previous task, so even a
/// poll abandoned without `poll_ended` (say, the task was
/// [finished](ExternalTask::finish) from inside it) does not leave the
/// thread claiming to run a task that has ended.
///
/// Hand it back on the thread that started the poll: the token is `Send` so
/// hook implementations can park it in a shared map between their "before
/// poll" and "after poll" callbacks, but dropping it on another thread
/// would set *that* thread's current task.
#[must_use = "pass the token to ExternalTask::poll_ended when the poll returns"]
pub struct PollToken {
    started_ns: u64,
    previous_task: u64,
}

impl fmt::Debug for PollToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollToken")
            .field("started_ns", &self.started_ns)
            .field("previous_task", &TaskId::from_u64(self.previous_task))
            .finish()
    }
}

impl Drop for PollToken {
    fn drop(&mut self) {
        leave_task(self.previous_task);
    }
}

impl ExternalTask {
    pub(crate) fn new(key: TaskKey, site: SiteRef, registry: Arc<TaskRegistry>) -> Self {
        let live = NonNull::from(Box::leak(Box::new(LiveRecord::new(
            registry.precise_timing(),
        ))));
        // SAFETY: the box is freed only in `Drop`, after `retire`.
        let cancelled = unsafe { registry.link(key, live) };
        let task = Self {
            key,
            site,
            live,
            registry,
            finished: false,
        };
        if cancelled {
            task.record().set_cancel_requested();
        }
        task
    }

    fn record(&self) -> &LiveRecord {
        // SAFETY: owned by `self`, freed only in `Drop`.
        unsafe { self.live.as_ref() }
    }

    /// The task's id in the monitor (not the runtime's own id).
    pub fn id(&self) -> TaskId {
        self.key.id()
    }

    /// Reports that a poll of the task begins on this thread.
    ///
    /// The task shows as `Running` in the console from now on, its poll
    /// count goes up, and until the returned token is dropped
    /// [`current_task`](crate::current_task) on this thread is this task, so
    /// tasks spawned during the poll record it as their parent.
    #[inline]
    pub fn poll_started(&self) -> PollToken {
        let started_ns = self.record().poll_started();
        let previous_task = enter_task(self.key.id());
        PollToken {
            started_ns,
            previous_task,
        }
    }

    /// Reports that the poll `token` stands for has returned: the task is
    /// `Idle` again, the poll's duration is added to its busy time and this
    /// thread's current task is restored.
    #[inline]
    pub fn poll_ended(&self, token: PollToken) {
        let spent = self.record().poll_ended_without_waker(token.started_ns);
        self.registry.poll_took(self.site, spent); // diagnostics hook
        // Dropping the token restores the thread's previous current task.
        drop(token);
    }

    /// Records how the task ended and moves it from the live tasks to the
    /// terminated history.
    ///
    /// Pass [`TaskEnd::Ended`] when the runtime does not say how.
    pub fn finish(mut self, how: TaskEnd) {
        self.registry.retire(self.key, Some(self.record()), how);
        // `Drop` runs next, finds the task finished and frees the record.
        self.finished = true;
    }

    /// Installs the way to stop this task that the console's `cancel` uses.
    ///
    /// Runs at most once, on the first cancel request (at once if one is
    /// already pending), on the thread that asked (the monitor's, for the console), so it should only signal the
    /// runtime (an abort handle, a flag), not wait. The closure is dropped
    /// when the task ends. Useless on a task registered with
    /// [`TaskOptions::cancellable`](crate::TaskOptions::cancellable)`(false)`,
    /// whose cancel requests are refused before any closure would run.
    pub fn set_canceller(&self, cancel: impl FnOnce() + Send + 'static) {
        self.registry
            .install_canceller(self.key, Canceller::new(cancel));
    }

    /// Whether a cancel has been requested, for runtimes that stop tasks by
    /// checking a flag rather than through a canceller.
    pub fn cancel_requested(&self) -> bool {
        self.record().cancel_requested()
    }
}

impl Drop for ExternalTask {
    fn drop(&mut self) {
        if !self.finished {
            let by = if self.record().cancel_requested() {
                CancelledBy::Request
            } else {
                CancelledBy::Dropped
            };
            self.registry
                .retire(self.key, Some(self.record()), TaskEnd::Cancelled { by });
        }
        // SAFETY: retired above or in `finish`: the registry no longer
        // points at the record, and it came from `Box::leak` in `new`.
        drop(unsafe { Box::from_raw(self.live.as_ptr()) });
    }
}

impl fmt::Debug for ExternalTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalTask")
            .field("id", &self.key.id())
            .field("state", &self.record().state())
            .finish_non_exhaustive()
    }
}
