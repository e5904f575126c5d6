//! Plain `tokio::spawn` tasks tracked through tokio's runtime hooks. Needs
//! the `hooks` feature and `RUSTFLAGS="--cfg tokio_unstable"`; see the crate
//! README.
#![cfg(all(feature = "hooks", tokio_unstable))]

#[path = "../../test-common/mod.rs"]
mod common;

use std::{
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

use common::{find, wait_until};
use monitor_core::{
    CancelledBy, RegistryError, Spawner, TaskEnd, TaskId, TaskIntrospect, TaskRegistry,
    TaskSnapshot, TaskState,
};
use monitor_tokio::{RuntimeHooks, TokioExecutor, TokioIntrospect};
use tokio::{runtime::Runtime, sync::oneshot};

/// A two-worker runtime whose tasks `hooks` track.
fn multi_thread(hooks: &RuntimeHooks) -> Runtime {
    hooks
        .install(&mut tokio::runtime::Builder::new_multi_thread())
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn hooked() -> (Arc<TaskRegistry>, RuntimeHooks) {
    let registry = TaskRegistry::new();
    let hooks = RuntimeHooks::new(registry.clone());
    (registry, hooks)
}

/// The record of a live hook-tracked task, by tokio's id of it.
fn record(hooks: &RuntimeHooks, tokio_id: tokio::task::Id) -> TaskSnapshot {
    let id = hooks.task_id(tokio_id).expect("tracked by the hooks");
    hooks.registry().task(id).unwrap()
}

fn wait_for_end(registry: &TaskRegistry, id: TaskId) -> TaskSnapshot {
    wait_until("the task ends", || {
        registry.task(id).unwrap().state.is_terminal()
    });
    registry.task(id).unwrap()
}

#[test]
fn plain_spawn_in_a_tracked_task_is_recorded_with_location_and_parent() {
    let (registry, hooks) = hooked();
    let runtime = multi_thread(&hooks);
    let (release, released) = oneshot::channel::<()>();
    let (grandchild_tx, grandchild_rx) = mpsc::channel();

    let (child, line) = runtime
        .block_on(
            monitor_tokio::task()
                .name("parent")
                .registry(registry.clone())
                .handle(runtime.handle().clone())
                .spawn(async move {
                    let child = tokio::spawn(async move {
                        // Spawned while the hook-tracked child is being polled.
                        let grandchild = tokio::spawn(async {});
                        grandchild_tx.send(grandchild.id()).unwrap();
                        grandchild.await.unwrap();
                        released.await.unwrap();
                    });
                    (child, line!() - 7)
                }),
        )
        .unwrap();
    let parent = find(&registry, "parent").unwrap();

    let snapshot = record(&hooks, child.id());
    assert_eq!(snapshot.name.as_deref(), Some("tokio::spawn"));
    assert!(
        snapshot
            .location
            .starts_with(&format!("{}:{line}:", file!())),
        "{} should be the tokio::spawn call on line {line}",
        snapshot.location
    );
    assert_eq!(snapshot.parent, Some(parent.id));
    assert!(!snapshot.persistent);

    // The grandchild was spawned inside the child's poll: the poll hooks
    // make the child the current task, so it is the parent.
    let grandchild_tokio_id = grandchild_rx.recv().unwrap();
    let grandchild = wait_until_some(|| {
        let id = hooks.task_id(grandchild_tokio_id).or_else(|| {
            // It may have ended already; it is then in the history.
            registry
                .terminated()
                .into_iter()
                .find(|task| task.parent == Some(snapshot.id))
                .map(|task| task.id)
        })?;
        registry.task(id)
    });
    assert_eq!(grandchild.parent, Some(snapshot.id));
    let trace = registry.trace(grandchild.id).unwrap();
    let chain: Vec<_> = trace.ancestors.iter().map(|frame| frame.id).collect();
    assert_eq!(chain, [parent.id, snapshot.id]);

    release.send(()).unwrap();
    runtime.block_on(child).unwrap();
    let ended = wait_for_end(&registry, snapshot.id);
    assert_eq!(ended.state, TaskState::Ended);
    assert_eq!(ended.ended, Some(TaskEnd::Ended));
    assert!(registry.terminated().iter().any(|t| t.id == snapshot.id));
    wait_until("every record has left", || {
        registry.live_count() == 0 && hooks.tracked_count() == 0
    });
}

fn wait_until_some<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    wait_until("the task is recorded", || {
        found = probe();
        found.is_some()
    });
    found.unwrap()
}

#[test]
fn polls_are_counted_and_a_blocking_poll_shows_running() {
    let (registry, hooks) = hooked();
    let runtime = multi_thread(&hooks);
    let (unblock, blocked) = mpsc::channel::<()>();
    // Spawned from outside any task: no parent.
    let join = runtime.spawn(async move {
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        // Blocks a worker inside the sixth poll.
        blocked.recv().unwrap();
    });
    let id = hooks.task_id(join.id()).expect("registered at spawn");
    assert_eq!(registry.task(id).unwrap().parent, None);

    wait_until("the sixth poll is running", || {
        let task = registry.task(id).unwrap();
        task.polls == 6 && task.state == TaskState::Running
    });
    std::thread::sleep(Duration::from_millis(30));
    let running = registry.task(id).unwrap();
    assert!(running.poll_ns.unwrap() >= 30_000_000, "{running:?}");
    assert!(running.thread.is_some());

    unblock.send(()).unwrap();
    runtime.block_on(join).unwrap();
    let ended = wait_for_end(&registry, id);
    assert_eq!(ended.polls, 6);
    assert_eq!(ended.state, TaskState::Ended);
    // Busy time comes from the 1 ms coarse clock: allow for its ticks.
    assert!(ended.busy_ns >= 25_000_000, "{ended:?}");
}

#[test]
fn an_idle_task_between_polls_reads_idle() {
    let (registry, hooks) = hooked();
    let runtime = multi_thread(&hooks);
    let (wake, woken) = oneshot::channel::<()>();
    let join = runtime.spawn(async move { woken.await.unwrap() });
    let id = hooks.task_id(join.id()).unwrap();
    wait_until("first poll", || registry.task(id).unwrap().polls == 1);
    wait_until("back to idle", || {
        registry.task(id).unwrap().state == TaskState::Idle
    });
    assert_eq!(registry.task(id).unwrap().poll_ns, None);
    wake.send(()).unwrap();
    runtime.block_on(join).unwrap();
    assert_eq!(wait_for_end(&registry, id).polls, 2);
}

#[test]
fn panicked_and_aborted_tasks_end_as_ended() {
    let (registry, hooks) = hooked();
    let runtime = multi_thread(&hooks);

    let doomed = runtime.spawn(async { panic!("hooked boom") });
    let doomed_id = hooks.task_id(doomed.id()).unwrap();
    assert!(runtime.block_on(doomed).unwrap_err().is_panic());

    let stuck = runtime.spawn(std::future::pending::<()>());
    let stuck_id = hooks.task_id(stuck.id()).unwrap();
    wait_until("first poll", || registry.task(stuck_id).unwrap().polls == 1);
    stuck.abort();
    assert!(runtime.block_on(stuck).unwrap_err().is_cancelled());

    for id in [doomed_id, stuck_id] {
        let ended = wait_for_end(&registry, id);
        // The terminate hook does not say how: the console must not guess.
        assert_eq!(ended.ended, Some(TaskEnd::Ended), "{ended:?}");
    }
    assert_eq!(hooks.tracked_count(), 0);
}

#[test]
fn spawn_blocking_is_neither_listed_nor_mistaken_for_a_task() {
    let (registry, hooks) = hooked();
    let runtime = multi_thread(&hooks);
    let join = runtime.spawn(async {
        let mut sum = 0;
        for i in 0..20 {
            sum += tokio::task::spawn_blocking(move || i).await.unwrap();
        }
        sum
    });
    let id = hooks.task_id(join.id()).unwrap();
    for _ in 0..20 {
        runtime.block_on(runtime.spawn_blocking(|| ())).unwrap();
    }
    assert_eq!(runtime.block_on(join).unwrap(), 190);

    let ended = wait_for_end(&registry, id);
    assert_eq!(ended.ended, Some(TaskEnd::Ended));
    // At most one poll per await, plus the last (an await whose blocking
    // task already finished does not yield), whatever the blocking tasks'
    // own terminate hooks did meanwhile.
    assert!((1..=21).contains(&ended.polls), "{ended:?}");
    assert_eq!(ended.state, TaskState::Ended);
    drop(runtime);
    assert_eq!(registry.live_count(), 0);
    assert_eq!(registry.terminated().len(), 1, "only the async task");
    assert_eq!(hooks.tracked_count(), 0);
}

#[test]
fn tasks_spawned_through_the_adapter_are_not_counted_twice() {
    let (registry, hooks) = hooked();
    let runtime = multi_thread(&hooks);
    let spawner = Spawner::new(
        TokioExecutor::from_handle(runtime.handle().clone()),
        registry.clone(),
    );

    // From outside the runtime, through both of the adapter's ways.
    let outside = monitor_tokio::task()
        .name("outside")
        .registry(registry.clone())
        .handle(runtime.handle().clone())
        .spawn(std::future::pending::<()>());
    let via_core = spawner
        .task()
        .name("via-core")
        .spawn(std::future::pending::<()>());

    // From inside a hook-tracked task: still one record each, and the
    // hook-tracked task is the parent.
    let inner_registry = registry.clone();
    let plain = runtime.spawn(async move {
        let inside = monitor_tokio::task()
            .name("inside")
            .registry(inner_registry)
            .spawn(std::future::pending::<()>());
        // The adapter's marker does not outlive its own spawn.
        let after = tokio::spawn(std::future::pending::<()>());
        (inside, after)
    });
    let plain_id = hooks.task_id(plain.id()).unwrap();
    let (inside, after) = runtime.block_on(plain).unwrap();
    // tokio wakes the JoinHandle just before it runs the terminate hook.
    wait_for_end(&registry, plain_id);

    let live = registry.live_tasks();
    let names: Vec<_> = live.iter().map(|task| task.display_name()).collect();
    assert_eq!(
        names,
        ["outside", "via-core", "inside", "tokio::spawn"],
        "{live:#?}"
    );
    assert_eq!(hooks.tracked_count(), 1, "only `after`");
    assert!(hooks.task_id(after.id()).is_some());
    assert_eq!(find(&registry, "inside").unwrap().parent, Some(plain_id));
    assert_eq!(live[3].parent, Some(plain_id));

    // Wrapper-tracked tasks stay cancellable as ever.
    via_core.cancel();
    outside.abort();
    inside.abort();
    after.abort();
    drop(runtime);
    wait_until("all ended", || registry.live_count() == 0);
}

#[test]
fn cancel_of_a_hook_tracked_task_explains_why_it_cannot() {
    let (registry, hooks) = hooked();
    let runtime = multi_thread(&hooks);
    let join = runtime.spawn(std::future::pending::<()>());
    let id = hooks.task_id(join.id()).unwrap();
    let introspect = TokioIntrospect::new(registry.clone(), runtime.handle().clone());

    let err = introspect.cancel(id).unwrap_err();
    assert!(matches!(err, RegistryError::NotCancellable(refused) if refused == id));
    let message = err.to_string();
    assert!(message.contains("plain tokio::spawn"), "{message}");
    assert!(message.contains("cannot be cancelled"), "{message}");

    // Refused, not half-done: the task goes on.
    std::thread::sleep(Duration::from_millis(20));
    assert!(!join.is_finished());
    assert!(!registry.task(id).unwrap().state.is_terminal());
    join.abort();
}

#[test]
fn runtime_shutdown_ends_every_hook_tracked_task() {
    let (registry, hooks) = hooked();
    let runtime = multi_thread(&hooks);
    let ids: Vec<_> = (0..10)
        .map(|_| {
            let join = runtime.spawn(std::future::pending::<()>());
            hooks.task_id(join.id()).unwrap()
        })
        .collect();
    assert_eq!(registry.live_count(), 10);
    drop(runtime);
    for id in ids {
        assert_eq!(registry.task(id).unwrap().state, TaskState::Ended);
    }
    assert_eq!(hooks.tracked_count(), 0);
}

#[test]
fn a_task_spawned_after_shutdown_is_released_with_the_hooks() {
    let (registry, hooks) = hooked();
    let runtime = multi_thread(&hooks);
    let handle = runtime.handle().clone();
    drop(runtime);
    // tokio shuts such a task down — running the terminate hook — before
    // it runs the spawn hook, so the record outlives the task...
    let join = handle.spawn(std::future::pending::<()>());
    let id = hooks.task_id(join.id()).expect("registered after its end");
    assert!(!registry.task(id).unwrap().state.is_terminal());
    // ...until the last reference to the hooks goes.
    drop((join, handle, hooks));
    assert_eq!(
        registry.task(id).unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Dropped
        })
    );
}

#[test]
fn current_thread_runtimes_are_tracked_too() {
    let (registry, hooks) = hooked();
    let runtime = hooks
        .install(&mut tokio::runtime::Builder::new_current_thread())
        .build()
        .unwrap();
    let id = runtime.block_on(async {
        let join = tokio::spawn(async {
            tokio::task::yield_now().await;
            tokio::task::id()
        });
        let tokio_id = join.id();
        let id = hooks.task_id(tokio_id).unwrap();
        assert_eq!(join.await.unwrap(), tokio_id);
        id
    });
    let ended = registry.task(id).unwrap();
    assert_eq!(ended.state, TaskState::Ended);
    assert_eq!(ended.polls, 2);
    assert_eq!(ended.parent, None, "block_on's future is not a task");
}

/// Rough per-poll cost of the hooks; printed, not asserted (timings on a
/// shared CI machine are too noisy for that). For meaningful numbers:
///
/// ```sh
/// RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/unstable \
///     cargo test -p monitor-tokio --features hooks --release --test hooks \
///     hooks_per_poll_cost -- --nocapture
/// ```
#[test]
fn hooks_per_poll_cost() {
    // Debug builds are ten times slower and their numbers meaningless
    // anyway: keep the default test run short.
    const POLLS: u32 = if cfg!(debug_assertions) {
        20_000
    } else {
        500_000
    };
    const RUNS: usize = 5;

    fn per_poll(runtime: &Runtime, spawn: impl FnOnce() -> tokio::task::JoinHandle<()>) -> f64 {
        let _guard = runtime.enter();
        let join = spawn();
        let started = Instant::now();
        runtime.block_on(join).unwrap();
        started.elapsed().as_nanos() as f64 / f64::from(POLLS)
    }
    async fn yields() {
        for _ in 1..POLLS {
            tokio::task::yield_now().await;
        }
    }
    /// `None`: no hooks; `Some(None)`: empty hooks, i.e. what tokio's
    /// hook calls cost by themselves; `Some(Some(hooks))`: ours.
    fn measure(hooks: Option<Option<&RuntimeHooks>>, tracked: bool) -> f64 {
        let mut builder = tokio::runtime::Builder::new_current_thread();
        match hooks {
            None => {}
            Some(None) => {
                builder
                    .on_task_spawn(|_| {})
                    .on_before_task_poll(|_| {})
                    .on_after_task_poll(|_| {})
                    .on_task_terminate(|_| {});
            }
            Some(Some(hooks)) => {
                hooks.install(&mut builder);
            }
        }
        let runtime = builder.build().unwrap();
        let registry = TaskRegistry::new();
        let mut best = f64::INFINITY;
        // Best of several: the least disturbed run is closest to the cost.
        for _ in 0..RUNS {
            let ns = per_poll(&runtime, || {
                if tracked {
                    monitor_tokio::task()
                        .registry(registry.clone())
                        .spawn(yields())
                } else {
                    tokio::spawn(yields())
                }
            });
            best = best.min(ns);
        }
        best
    }

    let (_registry, hooks) = hooked();
    let bare = measure(None, false);
    let empty = measure(Some(None), false);
    let hooked_plain = measure(Some(Some(&hooks)), false);
    let wrapped = measure(None, true);
    let hooked_wrapped = measure(Some(Some(&hooks)), true);
    println!("per poll of a yield_now loop, current-thread runtime, best of {RUNS} × {POLLS}:");
    println!("  plain tokio::spawn, no hooks       {bare:7.1} ns");
    println!(
        "  plain tokio::spawn, empty hooks    {empty:7.1} ns  (+{:.1} ns: tokio calling hooks)",
        empty - bare
    );
    println!(
        "  plain tokio::spawn, hook-tracked   {hooked_plain:7.1} ns  (+{:.1} ns)",
        hooked_plain - bare
    );
    println!("  monitor_tokio::spawn, no hooks     {wrapped:7.1} ns");
    println!(
        "  monitor_tokio::spawn, hooks on     {hooked_wrapped:7.1} ns  (+{:.1} ns: two lookup misses)",
        hooked_wrapped - wrapped
    );
}
