//! The task record lives inside the wrapper future: every way a task can end
//! must take it out of the live tasks (and into the history) before that
//! memory goes, including the awkward ones.

use std::{
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind},
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
};

use futures_lite::future::block_on;
use monitor_core::{
    Cancelled, CancelledBy, JoinError, TaskEnd, TaskIntrospect, TaskOptions, TaskRegistry,
    TaskState,
};

/// A future that never completes and panics when dropped.
struct PanicsOnDrop;
impl Future for PanicsOnDrop {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("drop went wrong");
    }
}

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_future_that_panics_in_drop_still_leaves_the_live_tasks() {
    let registry = TaskRegistry::new();
    let task = registry.instrument(PanicsOnDrop, TaskOptions::new().name("ghost"));
    let id = task.id();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut task = Box::pin(task);
        assert!(poll_once(task.as_mut()).is_pending());
        assert_eq!(registry.task(id).unwrap().state, TaskState::Idle);
        drop(task);
    }));
    assert!(outcome.is_err(), "the user's panic is not swallowed");
    assert_eq!(registry.live_count(), 0, "the task stays listed as live");
    let ended = registry.task(id).unwrap();
    assert_eq!(ended.state, TaskState::Panicked);
    assert_eq!(ended.polls, 1);
    match ended.ended {
        Some(TaskEnd::Panicked { message }) => {
            assert!(message.contains("drop went wrong"), "{message}");
            assert!(message.contains("while being dropped"), "{message}");
        }
        other => panic!("recorded as {other:?}"),
    }
}

#[test]
fn a_future_that_panics_in_drop_after_a_cancel_is_retired_too() {
    let registry = TaskRegistry::new();
    let mut task = Box::pin(registry.instrument(PanicsOnDrop, TaskOptions::new()));
    let id = task.id();
    assert!(poll_once(task.as_mut()).is_pending());
    registry.cancel(id).unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| poll_once(task.as_mut())));
    assert!(outcome.is_err());
    assert_eq!(registry.live_count(), 0);
    assert_eq!(registry.task(id).unwrap().state, TaskState::Panicked);
    // Polling or dropping the ended wrapper again does nothing.
    assert!(poll_once(task.as_mut()).is_pending());
    drop(task);
    assert_eq!(registry.terminated().len(), 1);
}

#[test]
fn a_task_dropped_before_its_first_poll_is_cancelled_dropped() {
    let registry = TaskRegistry::new();
    let task = registry.instrument(async {}, TaskOptions::new().name("never"));
    let id = task.id();
    assert_eq!(registry.task(id).unwrap().state, TaskState::Idle);
    drop(task);
    let ended = registry.task(id).unwrap();
    assert_eq!(ended.name.as_deref(), Some("never"));
    assert_eq!(ended.polls, 0);
    assert_eq!(
        ended.ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Dropped
        })
    );
}

#[test]
fn a_cancel_before_the_first_poll_ends_the_task_at_that_poll() {
    let registry = TaskRegistry::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let task = registry.instrument(
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
        },
        TaskOptions::new(),
    );
    let id = task.id();
    registry.cancel(id).unwrap();
    // The future moves after the cancel: the request waits in the registry.
    let moved = Box::pin(task);
    assert_eq!(block_on(moved), Err(Cancelled(id)));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the user's future ran");
    assert_eq!(
        registry.task(id).unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Request
        })
    );
}

#[test]
fn a_runtime_canceller_runs_once_and_at_once_when_the_request_came_first() {
    let registry = TaskRegistry::new();
    let calls = Arc::new(AtomicUsize::new(0));

    // Installed before the cancel: run by it, once.
    let task = registry.instrument(std::future::pending::<()>(), TaskOptions::new());
    let counter = Arc::clone(&calls);
    registry.set_canceller(task.id(), move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    registry.cancel(task.id()).unwrap();
    registry.cancel(task.id()).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(task);

    // Installed after the cancel (the runtime's handle exists only after
    // spawning): run at once.
    let task = registry
        .instrument(std::future::pending::<()>(), TaskOptions::new())
        .cancelled_by_runtime();
    registry.cancel(task.id()).unwrap();
    let counter = Arc::clone(&calls);
    registry.set_canceller(task.id(), move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A task that has ended: run at once (a runtime ignores it), and the
    // closure is not kept.
    let id = task.id();
    let mut task = Box::pin(task);
    // This variant waits for the runtime's canceller instead of resolving.
    assert!(poll_once(task.as_mut()).is_pending());
    assert_eq!(registry.task(id).unwrap().state, TaskState::Cancelled);
    let counter = Arc::clone(&calls);
    registry.set_canceller(id, move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    drop(task);
    assert_eq!(Arc::strong_count(&calls), 1, "a canceller was leaked");
}

#[test]
fn catch_panics_resolves_to_a_join_error_and_records_the_message() {
    let registry = TaskRegistry::new();
    let task = registry
        .instrument(async { panic!("kaboom") }, TaskOptions::new())
        .catch_panics();
    let id = task.id();
    let outcome = block_on(task);
    assert_eq!(
        outcome,
        Err(JoinError::Panicked {
            id,
            message: "kaboom".to_owned()
        })
    );
    assert_eq!(registry.task(id).unwrap().state, TaskState::Panicked);
}

#[test]
fn history_keeps_ended_tasks_by_value_up_to_its_bound() {
    let registry = TaskRegistry::builder().history_capacity(3).build();
    let keep = registry.instrument(async {}, TaskOptions::new().name("keep").persistent(true));
    block_on(keep).unwrap();
    for n in 0..10 {
        let task = registry.instrument(async {}, TaskOptions::new().name(format!("t{n}")));
        block_on(task).unwrap();
    }
    let names: Vec<_> = registry
        .terminated()
        .into_iter()
        .map(|task| task.name.unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.contains(&"keep".to_owned()), "{names:?}");
    for newest in ["t7", "t8", "t9"] {
        assert!(names.contains(&newest.to_owned()), "{names:?}");
    }
}

#[test]
fn a_pinned_wrapper_polled_in_place_counts_its_polls() {
    let registry = TaskRegistry::new();
    let mut yields = 3;
    let task = registry.instrument(
        std::future::poll_fn(move |cx| {
            if yields == 0 {
                return Poll::Ready(7);
            }
            yields -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }),
        TaskOptions::new(),
    );
    let id = task.id();
    let mut task = pin!(task);
    while poll_once(task.as_mut()).is_pending() {
        assert_eq!(registry.task(id).unwrap().state, TaskState::Idle);
    }
    let ended = registry.task(id).unwrap();
    assert_eq!(ended.polls, 4);
    assert_eq!(ended.state, TaskState::Completed);
}
