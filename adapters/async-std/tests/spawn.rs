//! Tracked spawning on async-std: what the registry records and what the
//! `JoinHandle` reports.

#[path = "../../test-common/mod.rs"]
mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_std::task::block_on;
use common::{find, pending_with_drop_flag, wait_until};
use monitor_async_std::AsyncStdExecutor;
use monitor_core::{
    CancelledBy, JoinError, Spawner, TaskEnd, TaskIntrospect, TaskRegistry, TaskState,
};

#[test]
fn spawned_task_records_name_caller_location_and_parent() {
    let registry = TaskRegistry::new();
    let child_registry = registry.clone();
    let builder = monitor_async_std::task()
        .name("parent")
        .registry(registry.clone());
    let (parent, line) = (
        builder.spawn(async move {
            let child = monitor_async_std::task()
                .name("child")
                .registry(child_registry)
                .spawn(async { async_std::task::current().name().map(str::to_owned) })
                .unwrap();
            child.await.unwrap()
        }),
        line!() - 8,
    );
    let child_name = block_on(parent.unwrap()).unwrap();
    assert_eq!(
        child_name.as_deref(),
        Some("child"),
        "async-std sees the name"
    );

    let parent = find(&registry, "parent").unwrap();
    let child = find(&registry, "child").unwrap();
    assert_eq!(parent.location, format!("{}:{line}:17", file!()));
    assert!(child.location.starts_with(file!()), "{}", child.location);
    assert_eq!(parent.parent, None);
    assert_eq!(child.parent, Some(parent.id));
}

#[test]
fn free_spawn_uses_the_global_registry_and_the_callers_line() {
    let (handle, line) = (monitor_async_std::spawn(async { 1 }), line!());
    let id = handle.id();
    assert_eq!(block_on(handle).unwrap(), 1);
    let task = TaskRegistry::global().task(id).unwrap();
    assert_eq!(task.location, format!("{}:{line}:27", file!()));
    assert_eq!(task.state, TaskState::Completed);
}

#[test]
fn task_goes_from_idle_to_completed() {
    let registry = TaskRegistry::new();
    let (send, receive) = async_channel::bounded::<u32>(1);
    let handle = monitor_async_std::task()
        .name("waiter")
        .persistent(true)
        .registry(registry.clone())
        .spawn(async move { receive.recv().await.unwrap() * 2 })
        .unwrap();
    wait_until("the task waits", || {
        let waiter = find(&registry, "waiter").unwrap();
        waiter.polls > 0 && waiter.state == TaskState::Idle
    });
    assert!(find(&registry, "waiter").unwrap().persistent);
    send.try_send(21).unwrap();
    assert_eq!(block_on(handle).unwrap(), 42);
    assert_eq!(
        find(&registry, "waiter").unwrap().ended,
        Some(TaskEnd::Completed)
    );
}

#[test]
fn panic_is_recorded_and_reported_as_a_join_error() {
    let registry = TaskRegistry::new();
    let handle = monitor_async_std::task()
        .name("doomed")
        .registry(registry.clone())
        .spawn(async { panic!("the disk is on fire") })
        .unwrap();
    let id = handle.id();
    assert_eq!(
        block_on(handle).unwrap_err(),
        JoinError::Panicked {
            id,
            message: "the disk is on fire".to_owned()
        }
    );
    assert_eq!(
        find(&registry, "doomed").unwrap().ended,
        Some(TaskEnd::Panicked {
            message: "the disk is on fire".to_owned()
        })
    );
}

#[test]
fn monitor_cancel_drops_the_future_and_the_handle_reports_cancelled() {
    let registry = TaskRegistry::new();
    let (future, dropped) = pending_with_drop_flag();
    let handle = monitor_async_std::task()
        .registry(registry.clone())
        .spawn(future)
        .unwrap();
    let id = handle.id();
    wait_until("the task is polled", || {
        registry.task(id).unwrap().polls > 0
    });

    let started = Instant::now();
    registry.cancel(id).unwrap();
    let outcome = block_on(async_std::future::timeout(Duration::from_secs(1), handle))
        .expect("awaiting a cancelled task must not hang");
    assert_eq!(outcome.unwrap_err(), JoinError::Cancelled(id));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
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
fn handle_cancel_stops_the_task_and_dropping_detaches() {
    let registry = TaskRegistry::new();
    let (future, dropped) = pending_with_drop_flag();
    let handle = monitor_async_std::task()
        .registry(registry.clone())
        .spawn(future)
        .unwrap();
    let id = handle.id();
    assert_eq!(block_on(handle.cancel()), None);
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(
        registry.task(id).unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Dropped
        })
    );

    let (send, receive) = async_channel::bounded::<()>(1);
    let detached = monitor_async_std::task()
        .registry(registry.clone())
        .spawn(async move { send.send(()).await.unwrap() })
        .unwrap();
    let id = detached.id();
    drop(detached);
    block_on(receive.recv()).unwrap();
    wait_until("the detached task completes", || {
        registry.task(id).unwrap().state == TaskState::Completed
    });
}

#[test]
fn task_blocking_its_thread_shows_running_with_a_growing_poll_time() {
    let registry = TaskRegistry::new();
    let release = Arc::new(AtomicBool::new(false));
    let blocked = Arc::clone(&release);
    let handle = monitor_async_std::task()
        .name("blocker")
        .registry(registry.clone())
        .spawn(async move {
            while !blocked.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .unwrap();
    wait_until("the task runs", || {
        find(&registry, "blocker").unwrap().state == TaskState::Running
    });
    let first = find(&registry, "blocker").unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let second = find(&registry, "blocker").unwrap();
    release.store(true, Ordering::SeqCst);
    assert_eq!(second.state, TaskState::Running);
    assert!(
        second.poll_ns.unwrap() >= first.poll_ns.unwrap() + 20_000_000,
        "{:?} then {:?}",
        first.poll_ns,
        second.poll_ns
    );
    assert!(second.thread.is_some());
    block_on(handle).unwrap();
}

#[test]
fn executor_runs_core_spawner_tasks() {
    let registry = TaskRegistry::new();
    let spawner = Spawner::new(AsyncStdExecutor::new(), registry.clone());
    assert_eq!(block_on(spawner.spawn(async { 1 })).unwrap(), 1);
    let stuck = spawner.spawn(std::future::pending::<()>());
    stuck.cancel();
    assert!(block_on(stuck).unwrap_err().is_cancelled());
    assert_eq!(registry.live_count(), 0);
}
