//! The future wrappers that keep a task's record up to date, with the record
//! inside them.

use std::{
    any::Any,
    fmt,
    future::Future,
    marker::PhantomPinned,
    mem::ManuallyDrop,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    pin::Pin,
    ptr::NonNull,
    sync::Arc,
    task::{Context, Poll},
};

use super::{
    CancelledBy, TaskEnd,
    canceller::Canceller,
    record::{LiveRecord, enter_task, leave_task},
};
use crate::{
    JoinError, TaskId,
    diagnose::SiteRef,
    registry::{TaskKey, TaskRegistry},
};

/// The error an [`Instrumented`] future resolves to when its task was
/// cancelled through the monitor before the inner future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("task {0} was cancelled")]
pub struct Cancelled(pub TaskId);

/// How a poll of a [`TaskCell`] ended the task.
enum Outcome<T> {
    Ready(T),
    Cancelled,
    Panicked(Box<dyn Any + Send>),
}

/// The one implementation behind [`Instrumented`], [`CatchPanics`] and
/// [`RuntimeCancelled`]: the user's future and its task's [`LiveRecord`],
/// in the memory the runtime allocated for the task.
///
/// The record is linked into the registry at the first poll, when the cell
/// is pinned, and unlinked by [`TaskCell::end`], which runs at the latest in
/// `Drop` — before the pinned memory can be reused, as `Pin` guarantees —
/// and also when the user's future panics while being dropped.
///
/// Every byte here is a byte more in every task the runtime allocates (and
/// on tokio, whose task cells come in 128-byte steps, a few bytes can double
/// a small task), so the cell is 72 bytes plus the future: the record (48),
/// the id, the slot and site indices side by side, and the registry. Whether
/// the record is linked is not kept: it is linked at the first poll, so a
/// record with no polls counted and not ended is not linked yet.
struct TaskCell<F> {
    live: LiveRecord,
    /// The task's id; with `slot`, its [`TaskKey`].
    id: TaskId,
    /// The slot of its entry in the registry's shard.
    slot: u32,
    /// Its row in the site statistics (diagnostics hook).
    site: SiteRef,
    registry: Arc<TaskRegistry>,
    inner: ManuallyDrop<F>,
    /// The registry holds a pointer into the cell once it is pinned, so it
    /// must never be `Unpin`. This also makes the `&mut TaskCell` that
    /// `poll` creates non-unique for the aliasing model, as the registry's
    /// shared reads of `live` (all through atomics) require.
    _pinned: PhantomPinned,
}

impl<F> TaskCell<F> {
    fn new(key: TaskKey, site: SiteRef, registry: Arc<TaskRegistry>, inner: F) -> Self {
        Self {
            live: LiveRecord::new(registry.precise_timing()),
            id: key.id(),
            slot: key.slot(),
            site,
            registry,
            inner: ManuallyDrop::new(inner),
            _pinned: PhantomPinned,
        }
    }

    fn key(&self) -> TaskKey {
        TaskKey::from_parts(self.id, self.slot)
    }

    /// Drops the user's future (its destructor runs while the task still
    /// reads as live) and retires the task — also when that destructor
    /// panics, in which case the task is recorded as panicked and the panic
    /// resumed.
    fn end(&mut self, how: TaskEnd) {
        // Marked first: a panicking destructor must not be run a second time.
        let already = self.live.mark_ended();
        debug_assert!(!already, "a task ends once");
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: it was not ended, so `inner` was not dropped yet, and
            // it is never touched again. Dropping in place keeps `Pin`'s
            // promise for a pinned `inner`.
            unsafe { ManuallyDrop::drop(&mut self.inner) }
        }));
        let how = match (&dropped, how) {
            (Err(payload), TaskEnd::Completed | TaskEnd::Cancelled { .. } | TaskEnd::Ended) => {
                TaskEnd::Panicked {
                    message: format!("{} (while being dropped)", panic_message(&**payload)),
                }
            }
            (_, how) => how,
        };
        // A record that was never linked reads as no polls, no busy time
        // and no cancel request, which is what the registry assumes then.
        self.registry.retire(self.key(), Some(&self.live), how);
        if let Err(payload) = dropped {
            resume_unwind(payload);
        }
    }
}

impl<F: Future> TaskCell<F> {
    fn poll_cell(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<F::Output>> {
        // SAFETY: nothing below moves out of the cell: `inner` is re-pinned
        // and dropped in place, `live` is only used through `&`.
        let this = unsafe { self.get_unchecked_mut() };
        if this.live.is_ended() {
            // Polled again after it ended: a contract violation by the
            // caller, answered like `Fuse` would rather than panicking here.
            return Poll::Pending;
        }
        // Not ended and no poll counted yet: this is the first poll (every
        // later one follows a `poll_started`).
        if this.live.polls() == 0 {
            // SAFETY: the cell is pinned from now on, so `live` keeps its
            // address, and `end` (run by `Drop` at the latest) retires the
            // task before the memory can go. Linked once: the poll below
            // counts, or the task ends.
            let cancelled = unsafe { this.registry.link(this.key(), NonNull::from(&this.live)) };
            if cancelled {
                this.live.set_cancel_requested();
            }
        }
        if this.live.cancel_requested() {
            this.end(TaskEnd::Cancelled {
                by: CancelledBy::Request,
            });
            return Poll::Ready(Outcome::Cancelled);
        }

        let started = this.live.poll_started();
        let previous = enter_task(this.id);
        // SAFETY: `inner` is structurally pinned: never moved, dropped in
        // place by `end`.
        let inner = unsafe { Pin::new_unchecked(&mut *this.inner) };
        let result = catch_unwind(AssertUnwindSafe(|| inner.poll(cx)));
        leave_task(previous);

        match result {
            Ok(Poll::Pending) => {
                // SAFETY: the runtime polls a task on one thread at a time,
                // and this is that thread.
                let spent = unsafe { this.live.poll_pending(started, cx.waker()) };
                this.registry.poll_took(this.site, spent); // diagnostics hook
                Poll::Pending
            }
            Ok(Poll::Ready(output)) => {
                let spent = this.live.poll_finished(started);
                this.registry.poll_took(this.site, spent); // diagnostics hook
                this.end(TaskEnd::Completed);
                Poll::Ready(Outcome::Ready(output))
            }
            Err(payload) => {
                let spent = this.live.poll_finished(started);
                this.registry.poll_took(this.site, spent); // diagnostics hook
                let message = panic_message(&*payload);
                // Dropping a future that panicked mid-poll is what the
                // runtime would do next anyway.
                this.end(TaskEnd::Panicked { message });
                Poll::Ready(Outcome::Panicked(payload))
            }
        }
    }
}

impl<F> Drop for TaskCell<F> {
    fn drop(&mut self) {
        if !self.live.is_ended() {
            // `retire` records `CancelledBy::Request` instead when a cancel
            // had been requested (the runtime carried it out by dropping).
            self.end(TaskEnd::Cancelled {
                by: CancelledBy::Dropped,
            });
        }
    }
}

/// A future wrapped so the [`TaskRegistry`] can see it.
///
/// Created by [`TaskRegistry::instrument`]. Adapters hand it to their
/// runtime in place of the user's future; [`Spawner`](crate::Spawner)
/// does that for any [`Executor`](crate::Executor).
///
/// The task's record lives inside this future — in the memory the runtime
/// allocates for the task anyway — so tracking a task allocates nothing of
/// its own. Each poll records, in that record, that a poll is in progress,
/// counts it, accumulates busy time from the coarse clock and keeps the
/// waker so `cancel` can wake an idle task. When a cancel has been
/// requested, the next poll drops the inner future (running its `Drop`) and
/// resolves to `Err(Cancelled)` instead of polling it.
///
/// Panics from the inner future are recorded with their message and then
/// resumed, so the runtime reports them exactly as it would without the
/// monitor. Dropping the wrapper before it completes records the task as
/// cancelled ([`CancelledBy::Dropped`]). However the task ends — even when
/// the inner future panics in its `Drop` — it leaves the live tasks for the
/// terminated history.
///
/// Two variants resolve differently, for runtimes whose handles need it:
/// [`catch_panics`](Self::catch_panics) and
/// [`cancelled_by_runtime`](Self::cancelled_by_runtime).
pub struct Instrumented<F> {
    cell: TaskCell<F>,
}

impl<F> Instrumented<F> {
    pub(crate) fn new(key: TaskKey, site: SiteRef, registry: Arc<TaskRegistry>, inner: F) -> Self {
        Self {
            cell: TaskCell::new(key, site, registry, inner),
        }
    }

    /// The id of the task this future is tracked as.
    pub fn id(&self) -> TaskId {
        self.cell.id
    }

    /// The task's id and where the registry keeps it: what
    /// [`TaskRegistry::set_canceller`] needs to reach the task without a
    /// search once this future has been handed to the runtime.
    pub fn key(&self) -> TaskKey {
        self.cell.key()
    }

    /// Installs a runtime-specific way to stop this task, run (once) by
    /// the first `cancel` in addition to setting the flag the wrapper
    /// checks.
    ///
    /// A closure of at most one pointer (tokio's `AbortHandle::abort`) is
    /// kept without an allocation. The closure is dropped when the task
    /// ends. See [`TaskRegistry::set_canceller`], which does the same by id
    /// after the future has been spawned.
    pub fn set_canceller(&self, cancel: impl FnOnce() + Send + 'static) {
        self.cell
            .registry
            .install_canceller(self.cell.key(), Canceller::new(cancel));
    }

    /// Resolves to `Err(JoinError)` for a panic too, instead of resuming it:
    /// for runtimes that would otherwise lose the panic or take the worker
    /// down with it (async-std), and for [`Spawner`](crate::Spawner). The
    /// panic is recorded with its message either way.
    pub fn catch_panics(self) -> CatchPanics<F> {
        CatchPanics { cell: self.cell }
    }

    /// Resolves to the inner future's output directly, for runtimes that
    /// stop a cancelled task themselves (tokio's `abort`): the adapter
    /// installs that with [`TaskRegistry::set_canceller`] right after
    /// spawning. When the wrapper sees a cancel request first, it drops the
    /// inner future, records the task as cancelled and stays `Pending`
    /// until the runtime's canceller ends it.
    pub fn cancelled_by_runtime(self) -> RuntimeCancelled<F> {
        RuntimeCancelled { cell: self.cell }
    }

    fn cell(self: Pin<&mut Self>) -> Pin<&mut TaskCell<F>> {
        // SAFETY: structural pinning of the only field.
        unsafe { self.map_unchecked_mut(|this| &mut this.cell) }
    }
}

impl<F> fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("id", &self.cell.id)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.cell.id;
        self.cell().poll_cell(cx).map(|outcome| match outcome {
            Outcome::Ready(output) => Ok(output),
            Outcome::Cancelled => Err(Cancelled(id)),
            Outcome::Panicked(payload) => resume_unwind(payload),
        })
    }
}

/// An [`Instrumented`] future that resolves to `Result<T, JoinError>`,
/// panics included; made by [`Instrumented::catch_panics`].
pub struct CatchPanics<F> {
    cell: TaskCell<F>,
}

impl<F> CatchPanics<F> {
    /// The id of the task this future is tracked as.
    pub fn id(&self) -> TaskId {
        self.cell.id
    }

    /// The task's id and where the registry keeps it; see
    /// [`Instrumented::key`].
    pub fn key(&self) -> TaskKey {
        self.cell.key()
    }
}

impl<F> fmt::Debug for CatchPanics<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatchPanics")
            .field("id", &self.cell.id)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for CatchPanics<F> {
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.cell.id;
        // SAFETY: structural pinning of the only field.
        let cell = unsafe { self.map_unchecked_mut(|this| &mut this.cell) };
        cell.poll_cell(cx).map(|outcome| match outcome {
            Outcome::Ready(output) => Ok(output),
            Outcome::Cancelled => Err(JoinError::Cancelled(id)),
            Outcome::Panicked(payload) => Err(JoinError::Panicked {
                id,
                message: panic_message(&*payload),
            }),
        })
    }
}

/// An [`Instrumented`] future that resolves to the inner future's output
/// and leaves stopping a cancelled task to the runtime; made by
/// [`Instrumented::cancelled_by_runtime`].
pub struct RuntimeCancelled<F> {
    cell: TaskCell<F>,
}

impl<F> RuntimeCancelled<F> {
    /// The id of the task this future is tracked as.
    pub fn id(&self) -> TaskId {
        self.cell.id
    }

    /// The task's id and where the registry keeps it; see
    /// [`Instrumented::key`].
    pub fn key(&self) -> TaskKey {
        self.cell.key()
    }
}

impl<F> fmt::Debug for RuntimeCancelled<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeCancelled")
            .field("id", &self.cell.id)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for RuntimeCancelled<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field.
        let cell = unsafe { self.map_unchecked_mut(|this| &mut this.cell) };
        match cell.poll_cell(cx) {
            Poll::Ready(Outcome::Ready(output)) => Poll::Ready(output),
            // The runtime's canceller has run or runs when installed
            // (`TaskRegistry::set_canceller` runs it at once for a task
            // with a pending request), and ends the task.
            Poll::Ready(Outcome::Cancelled) | Poll::Pending => Poll::Pending,
            Poll::Ready(Outcome::Panicked(payload)) => resume_unwind(payload),
        }
    }
}

/// The text of a panic payload: `panic!("boom")` gives `boom`, a payload
/// that is not text gives `<non-string panic payload>`.
///
/// This is how [`TaskEnd::Panicked`] messages are made; runtimes and
/// commands that catch panics of their own use it to report them the same
/// way.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
/// assert_eq!(monitor_core::panic_message(&*payload), "boom");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
