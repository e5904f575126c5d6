//! `TokioExecutor`, `TokioIntrospect` and `runtime_stats`.

#[path = "../../test-common/mod.rs"]
mod common;

use std::time::Duration;

use common::find;
use monitor_core::{Spawner, TaskIntrospect, TaskRegistry, TaskState};
use monitor_tokio::{TokioExecutor, TokioIntrospect, runtime_stats};

#[test]
fn executor_runs_tracked_tasks_from_outside_the_runtime() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert!(TokioExecutor::try_current().is_none());
    let executor = TokioExecutor::from_handle(runtime.handle().clone());
    let registry = TaskRegistry::new();
    let spawner = Spawner::new(executor.clone(), registry.clone());

    let handle = spawner.task().name("via-core").spawn(async { "done" });
    assert_eq!(futures_lite::future::block_on(handle).unwrap(), "done");
    assert_eq!(
        find(&registry, "via-core").unwrap().state,
        TaskState::Completed
    );

    let stuck = spawner.spawn(std::future::pending::<()>());
    stuck.cancel();
    let outcome =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(1), stuck).await });
    assert!(outcome.expect("hung").unwrap_err().is_cancelled());
}

#[tokio::test]
async fn executor_new_uses_the_current_runtime() {
    let executor = TokioExecutor::new();
    assert_eq!(
        executor.handle().id(),
        tokio::runtime::Handle::current().id()
    );
}

#[test]
fn introspect_delegates_to_the_registry() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = TaskRegistry::new();
    let introspect = TokioIntrospect::new(registry.clone(), runtime.handle().clone())
        .dump_timeout(Duration::from_millis(500));
    let handle = monitor_tokio::task()
        .name("watched")
        .registry(registry.clone())
        .handle(runtime.handle().clone())
        .spawn(std::future::pending::<()>());

    assert_eq!(introspect.live_count(), 1);
    let watched = introspect.live_tasks().remove(0);
    assert_eq!(introspect.task(watched.id).unwrap().name, watched.name);
    let trace = introspect.trace(watched.id).unwrap();
    assert_eq!(trace.task.id, watched.id);

    introspect.cancel(watched.id).unwrap();
    assert!(runtime.block_on(handle).unwrap_err().is_cancelled());
    assert_eq!(introspect.terminated()[0].id, watched.id);
}

#[test]
fn runtime_stats_reports_workers_and_alive_tasks() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| runtime.spawn(std::future::pending::<()>()))
        .collect();

    let stats = runtime_stats(runtime.handle());
    assert_eq!(stats.flavor, "multi_thread");
    assert_eq!(stats.workers, 2);
    assert!(stats.alive_tasks >= 3, "{stats:?}");
    assert_eq!(stats.worker_stats.len(), 2);

    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["workers"], 2);
    assert!(json["worker_stats"][1]["busy_ns"].is_u64());
    let table = stats.to_string();
    assert!(table.contains("workers            2"), "{table}");
    assert!(
        table.contains("worker") && table.contains("busy"),
        "{table}"
    );

    for handle in handles {
        handle.abort();
    }
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let stats = runtime_stats(current.handle());
    assert_eq!((stats.flavor, stats.workers), ("current_thread", 1));
}
