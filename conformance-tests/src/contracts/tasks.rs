//! Task visibility, states, ids and timing.

use std::{collections::HashSet, sync::Arc, thread, time::Duration};

use monitor_core::{
    CancelledBy, Spawner, TaskEnd, TaskIntrospect, TaskRegistry, TaskState, current_task,
};

use super::{SHORT, is_contract_location, join, join_ok, on};
use crate::{
    RuntimeUnderTest,
    custom::ThreadPool,
    support::{Gate, eventually, precise_spawner, signal, spawner},
};

/// A task spawned through the runtime's executor is in the registry at
/// once, with its name, the caller's file as spawn location and no parent,
/// and is polled by the runtime (shows as idle with one poll).
pub fn spawned_task_is_visible(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let registry = spawner.registry();
    let handle = spawner
        .task()
        .name("visible")
        .spawn(std::future::pending::<()>());
    let id = handle.id();
    let task = registry
        .task(id)
        .unwrap_or_else(|| panic!("{at} task {id} is not in the registry after spawn"));
    assert_eq!(task.id, id, "{at}");
    assert_eq!(task.name.as_deref(), Some("visible"), "{at}");
    assert!(
        is_contract_location(&task.location, file!()),
        "{at} spawn location {:?} is not the caller's file {}",
        task.location,
        file!()
    );
    assert_eq!(
        task.parent, None,
        "{at} a task spawned outside tasks has no parent"
    );
    let polled = eventually(format!("{at} the runtime to poll task {id} once"), || {
        let task = registry.task(id)?;
        (task.polls >= 1 && task.state == TaskState::Idle).then_some(task)
    });
    assert_eq!(polled.polls, 1, "{at} a pending future is polled once");
    let live: Vec<_> = registry.live_tasks().iter().map(|t| t.id).collect();
    assert_eq!(live, vec![id], "{at}");
    handle.cancel();
    assert!(join(rt, handle).unwrap_err().is_cancelled(), "{at}");
}

/// A task spawned from inside a tracked task records that task as its
/// parent, and the trace shows the creation chain.
pub fn child_task_records_its_parent(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let inner = spawner.clone();
    let parent = spawner.task().name("parent").spawn(async move {
        let child = inner
            .task()
            .name("child")
            .spawn(std::future::pending::<()>());
        let id = child.id();
        // Detach: the child keeps running after the parent returns.
        drop(child);
        id
    });
    let parent_id = parent.id();
    let child_id = join(rt, parent).expect("the parent completes");
    let child = spawner.registry().task(child_id).expect("child recorded");
    assert_eq!(child.parent, Some(parent_id), "{at} parent of the child");
    assert_eq!(child.name.as_deref(), Some("child"), "{at}");
    assert!(
        is_contract_location(&child.location, file!()),
        "{at} {}",
        child.location
    );
    let trace = spawner.registry().trace(child_id).unwrap();
    let chain: Vec<_> = trace.ancestors.iter().map(|frame| frame.id).collect();
    assert_eq!(chain, vec![parent_id], "{at} creation chain");
    assert_eq!(trace.ancestors[0].name.as_deref(), Some("parent"), "{at}");
    spawner.registry().cancel(child_id).unwrap();
    eventually(format!("{at} child to be cancelled"), || {
        (spawner.registry().live_count() == 0).then_some(())
    });
}

/// A task waiting for a wake-up is idle: no poll in progress, no thread;
/// once woken it is polled again and completes.
pub fn task_is_idle_between_polls(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let (trigger, signalled) = signal();
    let handle = spawner.task().name("waiter").spawn(async move {
        signalled.await;
        "woken"
    });
    let id = handle.id();
    let idle = eventually(format!("{at} first poll of the waiter"), || {
        let task = spawner.registry().task(id)?;
        (task.polls == 1 && task.state == TaskState::Idle).then_some(task)
    });
    assert_eq!(idle.poll_ns, None, "{at} idle tasks have no poll time");
    assert_eq!(idle.thread, None, "{at} idle tasks have no thread");
    trigger.fire();
    assert_eq!(join_ok(rt, handle), "woken", "{at}");
    let done = spawner.registry().task(id).unwrap();
    assert_eq!(done.polls, 2, "{at} woken once, polled once more");
    assert_eq!(done.state, TaskState::Completed, "{at}");
}

/// Inside its own poll a task reads as running, on a worker thread of the
/// runtime that the snapshot names, and `current_task` is its id.
pub fn task_is_running_inside_its_poll(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let registry = Arc::clone(spawner.registry());
    let handle = spawner.task().name("introspective").spawn(async move {
        let me = current_task().expect("current_task inside a tracked poll");
        let snapshot = registry.task(me).expect("own record");
        let thread = thread::current().name().map(str::to_owned);
        (me, snapshot, thread)
    });
    let id = handle.id();
    let (me, snapshot, thread) = join_ok(rt, handle);
    assert_eq!(me, id, "{at} current_task()");
    assert_eq!(snapshot.state, TaskState::Running, "{at}");
    assert!(snapshot.poll_ns.is_some(), "{at} poll time while running");
    let shown = snapshot.thread.expect("a running task names its thread");
    if let Some(name) = &thread {
        assert!(
            shown.contains(name.as_str()),
            "{at} snapshot thread {shown:?} is not {name:?}"
        );
    }
    match rt.worker_thread_name() {
        Some(worker) => assert!(
            thread.as_deref().is_some_and(|t| t.contains(&worker)),
            "{at} task polled on {thread:?}, not a worker named *{worker}*"
        ),
        None => crate::support::not_applicable(
            rt,
            "task_is_running_inside_its_poll (worker thread check)",
            "the runtime declares no worker thread name",
        ),
    }
    assert_ne!(
        thread.as_deref(),
        thread::current().name(),
        "{at} the task ran on the test thread"
    );
}

/// A task whose future returns is recorded as completed with its end time,
/// leaves the live set, and its joiner gets the value.
pub fn completed_task_is_recorded(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let handle = spawner.task().name("answer").spawn(async { 6 * 7 });
    let id = handle.id();
    assert_eq!(join_ok(rt, handle), 42, "{at}");
    let task = spawner.registry().task(id).unwrap();
    assert_eq!(task.state, TaskState::Completed, "{at}");
    assert_eq!(task.ended, Some(TaskEnd::Completed), "{at}");
    assert!(task.ended_ago_ns.is_some(), "{at}");
    assert_eq!(spawner.registry().live_count(), 0, "{at}");
    assert_eq!(spawner.registry().terminated().len(), 1, "{at}");
}

/// A task cancelled through its handle is recorded as cancelled on
/// request, and its joiner sees the cancellation.
pub fn cancelled_task_is_recorded(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let handle = spawner
        .task()
        .name("doomed")
        .spawn(std::future::pending::<()>());
    let id = handle.id();
    eventually(format!("{at} first poll"), || {
        (spawner.registry().task(id)?.polls == 1).then_some(())
    });
    handle.cancel();
    let err = join(rt, handle).unwrap_err();
    assert!(err.is_cancelled(), "{at} {err}");
    let task = spawner.registry().task(id).unwrap();
    assert_eq!(task.state, TaskState::Cancelled, "{at}");
    assert_eq!(
        task.ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Request
        }),
        "{at}"
    );
}

/// A panicking task is recorded as panicked with its message, its joiner
/// sees the panic, and the runtime keeps running tasks afterwards.
pub fn panicked_task_is_recorded_and_the_runtime_survives(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let workers = rt.workers().unwrap_or(1);
    // One panic per worker: a runtime that loses the worker a panic
    // happened on has none left afterwards.
    let handles: Vec<_> = (0..workers)
        .map(|n| {
            spawner
                .task()
                .name(format!("panicker-{n}"))
                .spawn(async move {
                    if n < usize::MAX {
                        panic!("conformance panic {n}");
                    }
                })
        })
        .collect();
    for (n, handle) in handles.into_iter().enumerate() {
        let id = handle.id();
        let err = join(rt, handle).unwrap_err();
        assert!(err.is_panic(), "{at} {err}");
        assert!(
            err.to_string().contains(&format!("conformance panic {n}")),
            "{at} {err}"
        );
        let task = spawner.registry().task(id).unwrap();
        assert_eq!(task.state, TaskState::Panicked, "{at}");
        assert_eq!(
            task.ended,
            Some(TaskEnd::Panicked {
                message: format!("conformance panic {n}")
            }),
            "{at}"
        );
    }
    let after = spawner.spawn(async { "still running" });
    assert_eq!(join_ok(rt, after), "still running", "{at}");
}

/// Task ids are unique across registries and runtimes in one process:
/// tasks spawned at the same time on the runtime under test (two
/// registries) and on a second runtime never share an id.
pub fn ids_are_unique_across_runtimes(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let first = spawner(rt);
    let second = spawner(rt);
    let other_pool = ThreadPool::new("conformance-other", 1);
    let other = Spawner::new(other_pool.clone(), TaskRegistry::new());
    let mut handles = Vec::new();
    for _ in 0..200 {
        handles.push(first.spawn(async { current_task() }));
        handles.push(second.spawn(async { current_task() }));
        handles.push(other.spawn(async { current_task() }));
    }
    let mut seen = HashSet::new();
    for handle in handles {
        let id = handle.id();
        assert!(seen.insert(id), "{at} id {id} handed out twice");
        assert_eq!(join_ok(rt, handle), Some(id), "{at}");
    }
    assert_eq!(seen.len(), 600, "{at}");
    // A task spawned after them, through another registry, gets a larger id.
    let next = TaskRegistry::new()
        .instrument(async {}, monitor_core::TaskOptions::new())
        .id();
    assert!(
        seen.iter().all(|id| *id < next),
        "{at} ids come from one increasing counter"
    );
    other_pool.shutdown();
}

/// Busy time adds up the time spent inside every poll, and polls are
/// counted one by one.
pub fn busy_time_accumulates_across_polls(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    // Precise timing makes the bound below exact; see `precise_spawner`.
    let spawner = precise_spawner(rt);
    let handle = spawner.task().name("worker").spawn(async {
        for _ in 0..3 {
            // Deliberate work inside a poll, then a yield.
            thread::sleep(Duration::from_millis(10));
            futures_lite::future::yield_now().await;
        }
    });
    let id = handle.id();
    join_ok(rt, handle);
    let task = spawner.registry().task(id).unwrap();
    assert_eq!(task.polls, 4, "{at} three yields make four polls");
    assert!(
        task.busy_ns >= 30_000_000,
        "{at} busy {} ns after 30 ms of polling",
        task.busy_ns
    );
    assert!(task.age_ns >= task.busy_ns, "{at} age covers busy time");
}

/// A task stuck inside one poll (blocking its worker) shows as running,
/// with a time-in-poll that keeps growing and the thread it blocks.
pub fn stuck_task_shows_running_with_growing_poll_time(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    // Precise timing makes the final bound exact; see `precise_spawner`.
    let spawner = precise_spawner(rt);
    let (gate, key) = Gate::new();
    let handle = spawner.task().name("stuck").spawn(async move {
        gate.wait();
        thread::current().name().map(str::to_owned)
    });
    let id = handle.id();
    let first = eventually(format!("{at} the stuck task's poll to start"), || {
        let task = spawner.registry().task(id)?;
        (task.state == TaskState::Running).then_some(task)
    });
    let first_poll = first.poll_ns.expect("a running task has a poll time");
    let later = eventually(format!("{at} the poll time to grow"), || {
        let task = spawner.registry().task(id)?;
        (task.poll_ns? >= first_poll + SHORT.as_nanos() as u64).then_some(task)
    });
    assert_eq!(later.state, TaskState::Running, "{at}");
    assert_eq!(later.polls, 1, "{at} still the first poll");
    assert!(later.busy_ns >= later.poll_ns.unwrap(), "{at}");
    let shown = later
        .thread
        .clone()
        .expect("a running task names its thread");
    key.open();
    let thread = join_ok(rt, handle);
    if let Some(name) = thread {
        assert!(
            shown.contains(&name),
            "{at} shown {shown:?}, ran on {name:?}"
        );
    }
    let done = spawner.registry().task(id).unwrap();
    assert_eq!(done.poll_ns, None, "{at}");
    // The poll went on after `later` was taken, so it counts at least the
    // time in poll seen then.
    let floor = later.poll_ns.unwrap();
    assert!(
        done.busy_ns >= floor,
        "{at} the long poll counts as busy time: {} ns",
        done.busy_ns
    );
}
