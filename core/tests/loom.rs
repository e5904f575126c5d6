//! Model-checked interleavings of the task hot path: a task being polled,
//! cancelled, snapshotted and retired from different threads at once.
//!
//! loom runs each scenario under every interleaving of the shared-memory
//! operations of the record, its waker slot and the registry's shard locks
//! (up to a preemption bound), and checks the `UnsafeCell` accesses for data
//! races. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg monitor_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p monitor-core --release --test loom
//! ```
#![cfg(monitor_loom)]

use std::{
    future::Future,
    sync::Arc,
    task::{Context, Poll, Wake, Waker},
};

use loom::{
    sync::atomic::{AtomicUsize, Ordering},
    thread,
};
use monitor_core::{Cancelled, TaskIntrospect, TaskOptions, TaskRegistry, TaskState};

/// Counts wake-ups, with a loom atomic so loom sees them.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let count = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (Arc::clone(&count), Waker::from(Arc::clone(&count)))
}

/// Pending `pending` times, then ready.
fn yields(mut pending: usize) -> impl Future<Output = ()> + Send {
    std::future::poll_fn(move |_| {
        if pending == 0 {
            return Poll::Ready(());
        }
        pending -= 1;
        Poll::Pending
    })
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

fn registry() -> Arc<TaskRegistry> {
    TaskRegistry::builder().history_capacity(1).build()
}

/// A cancel racing with a poll is never lost: either that poll sees it and
/// ends the task, or the task is woken so its next poll does.
#[test]
fn poll_vs_cancel_never_loses_the_request() {
    model(|| {
        let registry = registry();
        let task = registry.instrument(std::future::pending::<()>(), TaskOptions::new());
        let id = task.id();
        let (wakes, waker) = counting_waker();

        let canceller = {
            let registry = Arc::clone(&registry);
            thread::spawn(move || registry.cancel(id).is_ok())
        };
        let mut task = Box::pin(task);
        let mut cx = Context::from_waker(&waker);
        let first = task.as_mut().poll(&mut cx);
        assert!(canceller.join().unwrap(), "the task was live");

        match first {
            Poll::Ready(outcome) => assert_eq!(outcome, Err(Cancelled(id))),
            Poll::Pending => {
                assert!(
                    wakes.0.load(Ordering::SeqCst) >= 1,
                    "cancel requested but the idle task was never woken"
                );
                assert_eq!(task.as_mut().poll(&mut cx), Poll::Ready(Err(Cancelled(id))));
            }
        }
        assert_eq!(registry.live_count(), 0);
        assert_eq!(registry.task(id).unwrap().state, TaskState::Cancelled);
    });
}

/// A snapshot taken while the task is first polled (linked), completes
/// (unlinked) and is freed reads either the live record or the history,
/// never freed memory; the task ends up in the history exactly once.
#[test]
fn snapshot_vs_poll_and_retire() {
    model(|| {
        let registry = registry();
        let task = registry.instrument(yields(1), TaskOptions::new());
        let id = task.id();

        let reader = {
            let registry = Arc::clone(&registry);
            thread::spawn(move || {
                let live = registry.live_tasks();
                assert!(live.len() <= 1);
                let seen = registry.task(id).expect("live or in the history");
                assert!(seen.polls <= 2, "{seen:?}");
            })
        };
        let (_wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut task = Box::pin(task);
        assert!(task.as_mut().poll(&mut cx).is_pending());
        assert_eq!(task.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        drop(task);
        reader.join().unwrap();

        assert_eq!(registry.live_count(), 0);
        let ended = registry.task(id).unwrap();
        assert_eq!(ended.state, TaskState::Completed);
        assert_eq!(ended.polls, 2);
    });
}

/// A cancel arriving while the task completes and its memory is freed: the
/// cancel either reaches the live task (whose waker it clones under the
/// slot lock) or finds it ended, and the waker slot is never read while the
/// task's thread drops it.
#[test]
fn cancel_vs_retire_and_free() {
    model(|| {
        let registry = registry();
        let task = registry.instrument(yields(1), TaskOptions::new());
        let id = task.id();
        let (_wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut task = Box::pin(task);
        assert!(task.as_mut().poll(&mut cx).is_pending());

        let canceller = {
            let registry = Arc::clone(&registry);
            thread::spawn(move || {
                let _ = registry.cancel(id);
            })
        };
        let outcome = task.as_mut().poll(&mut cx);
        drop(task);
        canceller.join().unwrap();

        let ended = registry.task(id).unwrap();
        match outcome {
            Poll::Ready(Ok(())) => assert_eq!(ended.state, TaskState::Completed),
            Poll::Ready(Err(Cancelled(_))) => assert_eq!(ended.state, TaskState::Cancelled),
            Poll::Pending => panic!("the second poll always ends the task"),
        }
        assert_eq!(registry.live_count(), 0);
    });
}

/// A task dropped by its runtime on one thread while another cancels it
/// and installs the runtime's canceller: the canceller runs at most once
/// and is never leaked.
#[test]
fn drop_vs_cancel_vs_set_canceller() {
    model(|| {
        let registry = registry();
        let task = registry
            .instrument(std::future::pending::<()>(), TaskOptions::new())
            .cancelled_by_runtime();
        let id = task.id();
        let calls = Arc::new(AtomicUsize::new(0));

        let canceller = {
            let registry = Arc::clone(&registry);
            thread::spawn(move || {
                let _ = registry.cancel(id);
            })
        };
        let counter = Arc::clone(&calls);
        registry.set_canceller(id, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        drop(task);
        canceller.join().unwrap();

        assert!(calls.load(Ordering::SeqCst) <= 1);
        assert_eq!(Arc::strong_count(&calls), 1, "the canceller leaked");
        assert_eq!(registry.task(id).unwrap().state, TaskState::Cancelled);
    });
}

/// A key whose task has ended never reaches the task that reuses its slot
/// in the shard: a runtime canceller installed through it is kept by its
/// own task (and dropped with it), or run at once because that task is
/// gone, but never handed to the newcomer, whatever the interleaving of
/// the first task's end, the second's spawn and the install.
#[test]
fn stale_key_vs_slot_reuse() {
    model(|| {
        let registry = registry();
        let first = registry
            .instrument(async {}, TaskOptions::new())
            .cancelled_by_runtime();
        let key = first.key();
        let calls = Arc::new(AtomicUsize::new(0));

        let installer = {
            let registry = Arc::clone(&registry);
            let calls = Arc::clone(&calls);
            thread::spawn(move || {
                registry.set_canceller(key, move || {
                    calls.fetch_add(1, Ordering::SeqCst);
                });
            })
        };
        let (_wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut first = Box::pin(first);
        assert_eq!(first.as_mut().poll(&mut cx), Poll::Ready(()));
        drop(first);
        // Takes the slot the first task left, when the install is late.
        let second = registry
            .instrument(std::future::pending::<()>(), TaskOptions::new())
            .cancelled_by_runtime();
        let second_id = second.id();
        installer.join().unwrap();

        let before = calls.load(Ordering::SeqCst);
        assert!(before <= 1);
        registry.cancel(second_id).unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            before,
            "a stale key reached the task that reused its slot"
        );
        drop(second);
        assert_eq!(Arc::strong_count(&calls), 1, "the canceller leaked");
        assert_eq!(registry.live_count(), 0);
    });
}
