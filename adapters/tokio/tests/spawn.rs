//! Tracked spawning on tokio: what the registry records and what the
//! native `JoinHandle` reports.

#[path = "../../test-common/mod.rs"]
mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{find, pending_with_drop_flag, wait_until};
use monitor_core::{CancelledBy, TaskEnd, TaskIntrospect, TaskRegistry, TaskState};
use tokio::sync::oneshot;

#[tokio::test]
async fn spawned_task_records_name_caller_location_and_parent() {
    let registry = TaskRegistry::new();
    let child_registry = registry.clone();
    let builder = monitor_tokio::task()
        .name("parent")
        .registry(registry.clone());
    let (parent, spawn_line) = (
        builder.spawn(async move {
            monitor_tokio::task()
                .name("child")
                .registry(child_registry)
                .spawn(async {})
                .await
                .unwrap();
        }),
        line!() - 8,
    );
    parent.await.unwrap();

    let parent = find(&registry, "parent").unwrap();
    let child = find(&registry, "child").unwrap();
    assert_eq!(
        parent.location,
        format!("{}:{spawn_line}:17", file!()),
        "the location must be the user's spawn call"
    );
    assert!(child.location.starts_with(file!()), "{}", child.location);
    assert_eq!(parent.parent, None);
    assert_eq!(child.parent, Some(parent.id));
    let trace = registry.trace(child.id).unwrap();
    assert_eq!(trace.ancestors[0].id, parent.id);
}

#[tokio::test]
async fn free_spawn_uses_the_global_registry_and_the_callers_line() {
    let handle = monitor_tokio::spawn(async { monitor_core::current_task().unwrap() });
    let line = line!() - 1;
    let id = handle.await.unwrap();
    let task = TaskRegistry::global().task(id).unwrap();
    assert_eq!(task.location, format!("{}:{line}:18", file!()));
    assert_eq!(task.state, TaskState::Completed);
}

#[tokio::test]
async fn task_goes_from_idle_to_completed_and_returns_its_output() {
    let registry = TaskRegistry::new();
    let (send, receive) = oneshot::channel::<u32>();
    let handle = monitor_tokio::task()
        .name("waiter")
        .persistent(true)
        .registry(registry.clone())
        .spawn(async move { receive.await.unwrap() * 2 });

    // Let it run until it waits on the channel.
    while find(&registry, "waiter").unwrap().polls == 0 {
        tokio::task::yield_now().await;
    }
    let waiting = find(&registry, "waiter").unwrap();
    assert_eq!(waiting.state, TaskState::Idle);
    assert!(waiting.persistent);

    send.send(21).unwrap();
    assert_eq!(handle.await.unwrap(), 42);
    let done = find(&registry, "waiter").unwrap();
    assert_eq!(done.state, TaskState::Completed);
    assert_eq!(done.ended, Some(TaskEnd::Completed));
}

#[tokio::test]
async fn panic_is_recorded_and_reported_through_the_join_handle() {
    let registry = TaskRegistry::new();
    let handle = monitor_tokio::task()
        .name("doomed")
        .registry(registry.clone())
        .spawn(async {
            tokio::task::yield_now().await;
            panic!("the disk is on fire");
        });
    let error = handle.await.unwrap_err();
    assert!(error.is_panic(), "{error:?}");

    let doomed = find(&registry, "doomed").unwrap();
    assert_eq!(doomed.state, TaskState::Panicked);
    assert_eq!(
        doomed.ended,
        Some(TaskEnd::Panicked {
            message: "the disk is on fire".to_owned()
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_cancel_drops_the_future_and_the_handle_reports_cancelled() {
    let registry = TaskRegistry::new();
    let (future, dropped) = pending_with_drop_flag();
    let handle = monitor_tokio::task()
        .name("idle")
        .registry(registry.clone())
        .spawn(future);
    while find(&registry, "idle").unwrap().polls == 0 {
        tokio::task::yield_now().await;
    }

    let id = find(&registry, "idle").unwrap().id;
    let started = Instant::now();
    registry.cancel(id).unwrap();
    let error = tokio::time::timeout(Duration::from_secs(1), handle)
        .await
        .expect("awaiting a cancelled task must not hang")
        .unwrap_err();
    assert!(error.is_cancelled(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "cancel took {:?}",
        started.elapsed()
    );
    assert!(dropped.load(Ordering::SeqCst), "the future's Drop must run");
    assert_eq!(
        registry.task(id).unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Request
        })
    );
}

#[test]
fn cancel_racing_the_spawn_still_resolves_as_cancelled() {
    // A cancel can land between the spawn and the installation of the abort
    // handle; the task must then abort itself rather than hang.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let registry = TaskRegistry::new();
    for _ in 0..200 {
        let handle = monitor_tokio::task()
            .registry(registry.clone())
            .handle(runtime.handle().clone())
            .spawn(std::future::pending::<()>());
        for task in registry.live_tasks() {
            let _ = registry.cancel(task.id);
        }
        let outcome =
            runtime.block_on(async { tokio::time::timeout(Duration::from_secs(1), handle).await });
        assert!(outcome.expect("hung").unwrap_err().is_cancelled());
    }
    assert_eq!(registry.live_count(), 0);
}

#[tokio::test]
async fn aborting_through_tokio_records_a_dropped_task() {
    let registry = TaskRegistry::new();
    let (future, dropped) = pending_with_drop_flag();
    let handle = monitor_tokio::task()
        .name("aborted")
        .registry(registry.clone())
        .spawn(future);
    tokio::task::yield_now().await;
    handle.abort();
    assert!(handle.await.unwrap_err().is_cancelled());
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(
        find(&registry, "aborted").unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Dropped
        })
    );
}

#[test]
fn task_blocking_its_worker_shows_running_with_a_growing_poll_time() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let registry = TaskRegistry::new();
    let release = Arc::new(AtomicBool::new(false));
    // Releases the worker even when an assertion fails, or dropping the
    // runtime would wait for it forever.
    let _release_on_exit = ReleaseOnDrop(Arc::clone(&release));
    let blocked = Arc::clone(&release);
    let handle = monitor_tokio::task()
        .name("blocker")
        .registry(registry.clone())
        .handle(runtime.handle().clone())
        .spawn(async move {
            // Blocks the worker thread, as a mistaken synchronous call would.
            while !blocked.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        });

    wait_until("the task runs", || {
        find(&registry, "blocker").unwrap().state == TaskState::Running
    });
    let first = find(&registry, "blocker").unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let second = find(&registry, "blocker").unwrap();
    assert_eq!(second.state, TaskState::Running);
    assert!(
        second.poll_ns.unwrap() >= first.poll_ns.unwrap() + 20_000_000,
        "poll time must grow while the poll blocks: {:?} then {:?}",
        first.poll_ns,
        second.poll_ns
    );
    assert!(
        second
            .thread
            .as_deref()
            .unwrap()
            .contains("tokio-rt-worker"),
        "{:?}",
        second.thread
    );

    release.store(true, Ordering::SeqCst);
    runtime.block_on(handle).unwrap();
}

struct ReleaseOnDrop(Arc<AtomicBool>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn runtime_shutdown_records_live_tasks_as_dropped() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = TaskRegistry::new();
    let (future, dropped) = pending_with_drop_flag();
    let _handle = monitor_tokio::task()
        .name("forever")
        .registry(registry.clone())
        .handle(runtime.handle().clone())
        .spawn(future);
    let handle = runtime.handle().clone();
    drop(runtime);

    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(registry.live_count(), 0);
    assert_eq!(
        find(&registry, "forever").unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Dropped
        })
    );

    // Spawning on a runtime that is gone records the task as dropped too,
    // instead of leaving a live record nobody will ever poll.
    let late = monitor_tokio::task()
        .name("late")
        .registry(registry.clone())
        .handle(handle)
        .spawn(async {});
    drop(late);
    assert_eq!(find(&registry, "late").unwrap().state, TaskState::Cancelled);
    assert_eq!(registry.live_count(), 0);
}

#[test]
fn spawning_outside_a_runtime_panics_at_the_callers_line() {
    let panic = std::panic::catch_unwind(|| monitor_tokio::spawn(async {})).unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap();
    assert!(message.contains("runtime"), "{message}");
}
