//! The future wrapper that keeps a task's record up to date.

use std::{
    any::Any,
    fmt,
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;

use super::{
    CancelledBy, TaskEnd,
    record::{TaskRecord, enter_task, leave_task},
};
use crate::{TaskId, registry::TaskRegistry};

/// The error an [`Instrumented`] future resolves to when its task was
/// cancelled through the monitor before the inner future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("task {0} was cancelled")]
pub struct Cancelled(pub TaskId);

pin_project! {
    /// A future wrapped so the [`TaskRegistry`] can see it.
    ///
    /// Created by [`TaskRegistry::instrument`]. Adapters hand it to their
    /// runtime in place of the user's future; [`Spawner`](crate::Spawner)
    /// does that for any [`Executor`](crate::Executor).
    ///
    /// Each poll records, in the task's own record, that a poll is in
    /// progress, counts it, accumulates busy time from the coarse clock and
    /// keeps the waker so `cancel` can wake an idle task. When a cancel has
    /// been requested, the next poll drops the inner future (running its
    /// `Drop`) and resolves to `Err(Cancelled)` instead of polling it.
    ///
    /// Panics from the inner future are recorded with their message and then
    /// resumed, so the runtime reports them exactly as it would without the
    /// monitor. Dropping the wrapper before it completes records the task as
    /// cancelled ([`CancelledBy::Dropped`]).
    pub struct Instrumented<F> {
        record: Arc<TaskRecord>,
        registry: Arc<TaskRegistry>,
        #[pin]
        inner: Option<F>,
    }

    impl<F> PinnedDrop for Instrumented<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.inner.is_some() {
                // Drop the future first so its destructor runs while the task
                // still reads as live, then record the end.
                this.inner.set(None);
                let by = if this.record.cancel_requested() {
                    CancelledBy::Request
                } else {
                    CancelledBy::Dropped
                };
                this.registry.retire(this.record, TaskEnd::Cancelled { by });
            }
        }
    }
}

impl<F> Instrumented<F> {
    pub(crate) fn new(record: Arc<TaskRecord>, registry: Arc<TaskRegistry>, inner: F) -> Self {
        Self {
            record,
            registry,
            inner: Some(inner),
        }
    }

    /// The id of the task this future is tracked as.
    pub fn id(&self) -> TaskId {
        self.record.id
    }

    /// Installs a runtime-specific way to stop this task, called by
    /// `cancel` in addition to the flag the wrapper checks.
    ///
    /// Adapters use it so a cancel looks native to the runtime: the tokio
    /// adapter passes `AbortHandle::abort`, so the `JoinHandle` reports
    /// `JoinError::is_cancelled()`. The closure is dropped when the task
    /// ends, and is never called after that.
    pub fn set_canceller(&self, cancel: impl Fn() + Send + Sync + 'static) {
        self.record.set_canceller(Box::new(cancel));
    }
}

impl<F> fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("id", &self.record.id)
            .field("name", &self.record.name)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let record = &**this.record;
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            // Polled again after completion: a contract violation by the
            // caller, answered like `Fuse` would rather than panicking here.
            return Poll::Pending;
        };
        if record.cancel_requested() {
            this.inner.set(None);
            this.registry.retire(
                this.record,
                TaskEnd::Cancelled {
                    by: CancelledBy::Request,
                },
            );
            return Poll::Ready(Err(Cancelled(record.id)));
        }

        let started = record.poll_started();
        let previous = enter_task(record.id);
        let result = catch_unwind(AssertUnwindSafe(|| inner.poll(cx)));
        leave_task(previous);

        match result {
            Ok(Poll::Pending) => {
                let spent = record.poll_ended(started, Some(cx.waker()));
                this.registry.poll_took(record, spent); // diagnostics hook
                Poll::Pending
            }
            Ok(Poll::Ready(output)) => {
                let spent = record.poll_ended(started, None);
                this.registry.poll_took(record, spent); // diagnostics hook
                this.inner.set(None);
                this.registry.retire(this.record, TaskEnd::Completed);
                Poll::Ready(Ok(output))
            }
            Err(payload) => {
                let spent = record.poll_ended(started, None);
                this.registry.poll_took(record, spent); // diagnostics hook
                let message = panic_message(&*payload);
                // Dropping a future that panicked mid-poll is what the
                // runtime would do next anyway.
                this.inner.set(None);
                this.registry
                    .retire(this.record, TaskEnd::Panicked { message });
                resume_unwind(payload)
            }
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
