//! Tracked spawning on smol: what the registry records and what the `Task`
//! handle reports.

#[path = "../../test-common/mod.rs"]
mod common;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{find, pending_with_drop_flag, wait_until};
use futures_lite::future::block_on;
use monitor_core::{
    Cancelled, CancelledBy, Spawner, TaskEnd, TaskIntrospect, TaskOptions, TaskRegistry, TaskState,
};
use monitor_smol::{MonitoredExecutor, SmolExecutor};

/// A monitored executor run by a background thread until the returned
/// guard is dropped.
struct Running {
    ex: Arc<MonitoredExecutor<'static>>,
    stop: Option<async_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn new(registry: &Arc<TaskRegistry>) -> Self {
        let ex = Arc::new(MonitoredExecutor::with_registry(registry.clone()));
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let runner = Arc::clone(&ex);
        let thread = std::thread::Builder::new()
            .name("smol-runner".into())
            .spawn(move || {
                let _ = block_on(runner.run(stopped.recv()));
            })
            .unwrap();
        Self {
            ex,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stop.take());
        let _ = self.thread.take().unwrap().join();
    }
}

#[test]
fn spawned_task_records_name_caller_location_and_parent() {
    let registry = TaskRegistry::new();
    let ex = Arc::new(MonitoredExecutor::with_registry(registry.clone()));
    let inner = Arc::clone(&ex);
    let (parent, line) = (
        ex.spawn_with(
            async move {
                inner
                    .spawn_with(async {}, TaskOptions::new().name("child"))
                    .await
            },
            TaskOptions::new().name("parent"),
        ),
        line!() - 8,
    );
    block_on(ex.run(parent));

    let parent = find(&registry, "parent").unwrap();
    let child = find(&registry, "child").unwrap();
    assert_eq!(parent.location, format!("{}:{line}:12", file!()));
    assert!(child.location.starts_with(file!()), "{}", child.location);
    assert_eq!(parent.parent, None);
    assert_eq!(child.parent, Some(parent.id));
}

#[test]
fn global_executor_spawn_records_the_callers_line() {
    let registry = TaskRegistry::new();
    let (task, line) = (
        monitor_smol::task()
            .name("global")
            .persistent(true)
            .registry(registry.clone())
            .spawn(async { 7 }),
        line!() - 1,
    );
    assert_eq!(smol::block_on(task), 7);
    let global = find(&registry, "global").unwrap();
    assert_eq!(global.location, format!("{}:{line}:14", file!()));
    assert!(global.persistent);
    assert_eq!(global.state, TaskState::Completed);

    let (free, line) = (monitor_smol::spawn(async {}), line!());
    let id = free.id();
    smol::block_on(free);
    let task = TaskRegistry::global().task(id).unwrap();
    assert_eq!(task.location, format!("{}:{line}:25", file!()));
}

#[test]
fn builder_spawns_on_a_given_executor() {
    let registry = TaskRegistry::new();
    let ex = Arc::new(async_executor::Executor::new());
    let task = monitor_smol::task()
        .name("on-ex")
        .registry(registry.clone())
        .executor(&ex)
        .spawn(async { monitor_core::current_task() });
    let id = task.id();
    assert_eq!(block_on(ex.run(task)), Some(id));
}

#[test]
fn task_goes_from_idle_to_completed() {
    let registry = TaskRegistry::new();
    let running = Running::new(&registry);
    let (send, receive) = async_channel::bounded::<u32>(1);
    let task = running.ex.spawn_with(
        async move { receive.recv().await.unwrap() * 2 },
        TaskOptions::new().name("waiter"),
    );
    wait_until("the task waits", || {
        let waiter = find(&registry, "waiter").unwrap();
        waiter.polls > 0 && waiter.state == TaskState::Idle
    });
    send.try_send(21).unwrap();
    assert_eq!(block_on(task), 42);
    assert_eq!(
        find(&registry, "waiter").unwrap().ended,
        Some(TaskEnd::Completed)
    );
}

#[test]
fn panic_is_recorded_and_resumed_in_the_awaiting_task() {
    let registry = TaskRegistry::new();
    let ex = MonitoredExecutor::with_registry(registry.clone());
    let task = ex.spawn_with(
        async { panic!("the disk is on fire") },
        TaskOptions::new().name("doomed"),
    );
    let payload = catch_unwind(AssertUnwindSafe(|| block_on(ex.run(task)))).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"the disk is on fire"));
    assert_eq!(
        find(&registry, "doomed").unwrap().ended,
        Some(TaskEnd::Panicked {
            message: "the disk is on fire".to_owned()
        })
    );
}

#[test]
fn monitor_cancel_drops_the_future_and_fallible_reports_it() {
    let registry = TaskRegistry::new();
    let running = Running::new(&registry);
    let (future, dropped) = pending_with_drop_flag();
    let task = running.ex.spawn(future).fallible();
    let id = task.id();
    wait_until("the task is polled", || {
        registry.task(id).unwrap().polls > 0
    });

    let started = Instant::now();
    registry.cancel(id).unwrap();
    let outcome = block_on(futures_lite::future::or(task, async {
        async_io::Timer::after(Duration::from_secs(1)).await;
        panic!("awaiting a cancelled task must not hang")
    }));
    assert_eq!(outcome, Err(Cancelled(id)));
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
fn awaiting_a_monitor_cancelled_task_panics_with_its_id() {
    let registry = TaskRegistry::new();
    let ex = MonitoredExecutor::with_registry(registry.clone());
    let task = ex.spawn(std::future::pending::<()>());
    let id = task.id();
    registry.cancel(id).unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| block_on(ex.run(task)))).unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.contains(&format!("task {id} was cancelled through the monitor")),
        "{message}"
    );
}

#[test]
fn dropping_a_task_cancels_it() {
    let registry = TaskRegistry::new();
    let running = Running::new(&registry);
    let (future, dropped) = pending_with_drop_flag();
    let task = running.ex.spawn(future);
    let id = task.id();
    wait_until("the task is polled", || {
        registry.task(id).unwrap().polls > 0
    });
    drop(task);
    wait_until("the future is dropped", || dropped.load(Ordering::SeqCst));
    assert_eq!(
        registry.task(id).unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Dropped
        })
    );
}

#[test]
fn cancel_and_detach_behave_like_smol() {
    let registry = TaskRegistry::new();
    let running = Running::new(&registry);

    let (future, dropped) = pending_with_drop_flag();
    let task = running.ex.spawn(future);
    assert_eq!(block_on(task.cancel()), None);
    assert!(dropped.load(Ordering::SeqCst));

    let done = running.ex.spawn(async { 5 });
    wait_until("the task completes", || done.is_finished());
    assert_eq!(block_on(done.cancel()), Some(5));

    let (send, receive) = async_channel::bounded::<()>(1);
    let detached = running
        .ex
        .spawn(async move { send.send(()).await.unwrap() });
    let id = detached.id();
    detached.detach();
    block_on(receive.recv()).unwrap();
    wait_until("the detached task ends", || {
        registry.task(id).unwrap().state == TaskState::Completed
    });
}

#[test]
fn task_blocking_its_thread_shows_running_with_a_growing_poll_time() {
    let registry = TaskRegistry::new();
    let running = Running::new(&registry);
    let release = Arc::new(AtomicBool::new(false));
    let blocked = Arc::clone(&release);
    let task = running.ex.spawn_with(
        async move {
            while !blocked.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        },
        TaskOptions::new().name("blocker"),
    );
    wait_until("the task runs", || {
        find(&registry, "blocker").unwrap().state == TaskState::Running
    });
    let first = find(&registry, "blocker").unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let second = find(&registry, "blocker").unwrap();
    // Release before asserting, so a failure cannot leave the runner stuck.
    release.store(true, Ordering::SeqCst);
    assert_eq!(second.state, TaskState::Running);
    assert!(
        second.poll_ns.unwrap() >= first.poll_ns.unwrap() + 20_000_000,
        "{:?} then {:?}",
        first.poll_ns,
        second.poll_ns
    );
    assert!(
        second.thread.as_deref().unwrap().contains("smol-runner"),
        "{:?}",
        second.thread
    );
    block_on(task);
}

#[test]
fn dropping_the_executor_records_live_tasks_as_dropped() {
    let registry = TaskRegistry::new();
    let ex = MonitoredExecutor::with_registry(registry.clone());
    let (future, dropped) = pending_with_drop_flag();
    ex.spawn_with(future, TaskOptions::new().name("forever"))
        .detach();
    assert!(ex.try_tick());
    drop(ex);
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(registry.live_count(), 0);
    assert_eq!(
        find(&registry, "forever").unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Dropped
        })
    );
}

#[test]
fn smol_executor_runs_core_spawner_tasks() {
    let registry = TaskRegistry::new();
    let global = Spawner::new(SmolExecutor::new(), registry.clone());
    assert_eq!(smol::block_on(global.spawn(async { 1 })).unwrap(), 1);

    let ex = Arc::new(MonitoredExecutor::with_registry(registry.clone()));
    let spawner = Spawner::new(ex.to_executor(), registry.clone());
    let stuck = spawner.spawn(std::future::pending::<()>());
    stuck.cancel();
    assert!(block_on(ex.run(stuck)).unwrap_err().is_cancelled());
    assert!(SmolExecutor::new().executor().is_none());
}
