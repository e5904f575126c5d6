//! `where` stacks from tokio task dumps. Needs the `taskdump` feature and
//! `RUSTFLAGS="--cfg tokio_unstable"`; see the crate README.
#![cfg(all(feature = "taskdump", tokio_unstable))]

#[path = "../../test-common/mod.rs"]
mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{find, wait_until};
use monitor_core::{TaskIntrospect, TaskRegistry};
use monitor_tokio::TokioIntrospect;

#[inline(never)]
async fn waits_for_the_database() {
    waits_for_a_reply().await;
}

#[inline(never)]
async fn waits_for_a_reply() {
    // Task dumps see tokio's own resources (here a `Notify`), not arbitrary
    // futures such as `std::future::pending`.
    tokio::sync::Notify::new().notified().await;
}

/// A runtime that shuts down with a deadline instead of waiting forever.
///
/// Dropping a tokio runtime on which a task dump ran sometimes never
/// returns (tokio 1.54: a worker stays parked on the dump's barrier; seen in
/// about half of the runs of these tests). The adapter's README documents
/// the same advice for applications: `shutdown_timeout`.
struct TestRuntime(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for TestRuntime {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("runtime present until drop")
    }
}

impl Drop for TestRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

fn multi_thread() -> TestRuntime {
    TestRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap(),
    ))
}

#[test]
fn where_shows_the_await_stack_of_a_tracked_task() {
    let runtime = multi_thread();
    let registry = TaskRegistry::new();
    let introspect = TokioIntrospect::new(registry.clone(), runtime.handle().clone());
    let _handle = monitor_tokio::task()
        .name("db")
        .registry(registry.clone())
        .handle(runtime.handle().clone())
        .spawn(waits_for_the_database());
    wait_until("the task is polled", || {
        find(&registry, "db").unwrap().polls > 0
    });

    let id = find(&registry, "db").unwrap().id;
    let stack = introspect.stack(id).expect("a stack for a tracked task");
    assert!(stack.contains("waits_for_the_database"), "{stack}");
    assert!(stack.contains("waits_for_a_reply"), "{stack}");
    let trace = introspect.trace(id).unwrap();
    let traced = trace.stack.as_deref().unwrap_or_default();
    assert!(traced.contains("waits_for_the_database"), "{traced}");
}

#[monitor_tokio::frame]
async fn marked_database_call() {
    waits_for_the_database().await;
}

#[test]
fn where_shows_frames_and_the_task_dump_each_labelled_with_its_source() {
    let runtime = multi_thread();
    let registry = TaskRegistry::new();
    let introspect = TokioIntrospect::new(registry.clone(), runtime.handle().clone());
    let _handle = monitor_tokio::task()
        .name("marked")
        .registry(registry.clone())
        .handle(runtime.handle().clone())
        .spawn(marked_database_call());
    wait_until("the task is polled", || {
        find(&registry, "marked").unwrap().polls > 0
    });

    let id = find(&registry, "marked").unwrap().id;
    let trace = introspect.trace(id).unwrap();
    let mut text = String::new();
    trace.write_await_stacks(&mut text).unwrap();
    let frames = text
        .find(
            "Await stack (from #[frame] marks, innermost last):\n  \
             taskdump::marked_database_call at adapters/tokio/tests/taskdump.rs:",
        )
        .unwrap_or_else(|| panic!("no frames: {text}"));
    let dump = text
        .find("Await stack (from tokio task dump: tokio's own leaf futures):")
        .unwrap_or_else(|| panic!("no task dump: {text}"));
    assert!(frames < dump, "{text}");
    let json = serde_json::to_value(&trace).unwrap();
    assert_eq!(json["frames"][0]["name"], "taskdump::marked_database_call");
    assert_eq!(
        json["stack_source"],
        "tokio task dump: tokio's own leaf futures"
    );
    assert!(
        json["stack"]
            .as_str()
            .unwrap()
            .contains("waits_for_a_reply")
    );
}

#[test]
fn where_gives_up_with_an_explanation_when_a_worker_is_blocked() {
    let runtime = multi_thread();
    let registry = TaskRegistry::new();
    let introspect = TokioIntrospect::new(registry.clone(), runtime.handle().clone())
        .dump_timeout(Duration::from_millis(300));
    let _idle = monitor_tokio::task()
        .name("idle")
        .registry(registry.clone())
        .handle(runtime.handle().clone())
        .spawn(waits_for_the_database());
    let release = Arc::new(AtomicBool::new(false));
    let blocked = Arc::clone(&release);
    let _blocker = runtime.spawn(async move {
        while !blocked.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    wait_until("the idle task is polled", || {
        find(&registry, "idle").unwrap().polls > 0
    });

    let started = Instant::now();
    let stack = introspect.stack(find(&registry, "idle").unwrap().id);
    release.store(true, Ordering::SeqCst);
    let stack = stack.unwrap();
    assert!(stack.contains("probably blocked"), "{stack}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_task_waiting_on_no_tokio_resource_gets_an_explanation() {
    let runtime = multi_thread();
    let registry = TaskRegistry::new();
    let introspect = TokioIntrospect::new(registry.clone(), runtime.handle().clone());
    let _handle = monitor_tokio::task()
        .name("opaque")
        .registry(registry.clone())
        .handle(runtime.handle().clone())
        .spawn(std::future::pending::<()>());
    wait_until("the task is polled", || {
        find(&registry, "opaque").unwrap().polls > 0
    });
    let stack = introspect
        .stack(find(&registry, "opaque").unwrap().id)
        .unwrap();
    assert!(stack.contains("no tokio resource"), "{stack}");
}

#[test]
fn untracked_and_ended_tasks_have_no_stack() {
    let runtime = multi_thread();
    let registry = TaskRegistry::new();
    let introspect = TokioIntrospect::new(registry.clone(), runtime.handle().clone());
    let handle = monitor_tokio::task()
        .name("quick")
        .registry(registry.clone())
        .handle(runtime.handle().clone())
        .spawn(async {});
    runtime.block_on(handle).unwrap();
    assert_eq!(introspect.stack(find(&registry, "quick").unwrap().id), None);
}
