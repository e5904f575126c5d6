//! Tasks registered without the wrapper (`TaskRegistry::register`), as a
//! runtime's hooks would drive them.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

use futures_lite::future::block_on;
use monitor_core::{
    CancelRequested, CancelledBy, ExternalTask, PollToken, RegistryError, TaskEnd, TaskIntrospect,
    TaskOptions, TaskRegistry, TaskState, current_task,
};

/// Counts busy time exactly, so a sleep inside a poll shows up in full.
fn precise_registry() -> Arc<TaskRegistry> {
    TaskRegistry::builder().precise_timing(true).build()
}

#[test]
fn external_task_and_poll_token_can_cross_threads() {
    // Hook implementations keep both in maps shared by every worker.
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ExternalTask>();
    assert_send_sync::<PollToken>();
}

#[test]
fn registered_task_is_live_with_name_location_and_no_parent() {
    let registry = TaskRegistry::new();
    let (task, line) = (
        registry.register(TaskOptions::new().name("hooked")),
        line!() - 1,
    );
    let snapshot = registry.task(task.id()).unwrap();
    assert_eq!(snapshot.name.as_deref(), Some("hooked"));
    assert_eq!(snapshot.location, format!("{}:{line}:18", file!()));
    assert_eq!(snapshot.parent, None);
    assert_eq!(snapshot.state, TaskState::Idle);
    assert_eq!(snapshot.polls, 0);
    assert_eq!(snapshot.ended, None);
    assert_eq!(registry.live_count(), 1);
    task.finish(TaskEnd::Completed);
    assert_eq!(registry.live_count(), 0);
}

#[test]
fn location_and_parent_can_come_from_the_runtime() {
    let registry = TaskRegistry::new();
    let parent = registry.register(TaskOptions::new());
    let elsewhere = std::panic::Location::caller();
    let task = registry.register(
        TaskOptions::new()
            .location(elsewhere)
            .parent(Some(parent.id())),
    );
    let snapshot = registry.task(task.id()).unwrap();
    assert_eq!(
        snapshot.location,
        format!(
            "{}:{}:{}",
            elsewhere.file(),
            elsewhere.line(),
            elsewhere.column()
        )
    );
    assert_eq!(snapshot.parent, Some(parent.id()));
}

#[test]
fn polls_show_running_then_idle_with_growing_busy_time() {
    let registry = precise_registry();
    let task = registry.register(TaskOptions::new());
    let id = task.id();

    let poll = task.poll_started();
    let running = registry.task(id).unwrap();
    assert_eq!(running.state, TaskState::Running);
    assert_eq!(running.polls, 1);
    assert!(running.poll_ns.is_some());
    assert!(running.thread.is_some());
    thread::sleep(Duration::from_millis(20));
    // Read by the monitor while the poll is still going on.
    assert!(registry.task(id).unwrap().poll_ns.unwrap() >= 20_000_000);
    task.poll_ended(poll);

    let idle = registry.task(id).unwrap();
    assert_eq!(idle.state, TaskState::Idle);
    assert_eq!(idle.poll_ns, None);
    assert_eq!(idle.thread, None);
    assert!(idle.busy_ns >= 20_000_000, "{}", idle.busy_ns);

    let poll = task.poll_started();
    thread::sleep(Duration::from_millis(10));
    task.poll_ended(poll);
    let after = registry.task(id).unwrap();
    assert_eq!(after.polls, 2);
    assert!(after.busy_ns >= idle.busy_ns + 10_000_000, "{after:?}");
}

#[test]
fn a_poll_is_the_current_task_and_parents_what_it_spawns() {
    let registry = TaskRegistry::new();
    let task = registry.register(TaskOptions::new().name("hooked"));
    assert_eq!(current_task(), None);

    let poll = task.poll_started();
    assert_eq!(current_task(), Some(task.id()));
    let child = registry.register(TaskOptions::new());
    let wrapped = registry.instrument(async { current_task() }, TaskOptions::new());
    let wrapped_id = wrapped.id();
    task.poll_ended(poll);
    assert_eq!(current_task(), None, "poll_ended restores the thread");

    assert_eq!(registry.task(child.id()).unwrap().parent, Some(task.id()));
    assert_eq!(registry.task(wrapped_id).unwrap().parent, Some(task.id()));
    assert_eq!(block_on(wrapped).unwrap(), Some(wrapped_id));
}

#[test]
fn polls_nest_inside_a_wrapped_task_and_restore_it() {
    let registry = TaskRegistry::new();
    let inner_registry = Arc::clone(&registry);
    let outer = registry.instrument(
        async move {
            let outer = current_task();
            let external = inner_registry.register(TaskOptions::new());
            let poll = external.poll_started();
            let during = current_task();
            external.poll_ended(poll);
            (outer, during == Some(external.id()), current_task())
        },
        TaskOptions::new(),
    );
    let outer_id = outer.id();
    let (seen, inside, restored) = block_on(outer).unwrap();
    assert_eq!(seen, Some(outer_id));
    assert!(inside);
    assert_eq!(restored, Some(outer_id));
}

#[test]
fn finishing_inside_a_poll_still_restores_the_current_task() {
    let registry = TaskRegistry::new();
    let task = registry.register(TaskOptions::new());
    let id = task.id();
    let poll = task.poll_started();
    task.finish(TaskEnd::Ended);
    assert_eq!(current_task(), Some(id), "the poll is not over yet");
    drop(poll);
    assert_eq!(current_task(), None);
    assert_eq!(registry.task(id).unwrap().state, TaskState::Ended);
}

#[test]
fn finish_records_each_kind_of_end() {
    let registry = TaskRegistry::new();
    let ends = [
        TaskEnd::Completed,
        TaskEnd::Cancelled {
            by: CancelledBy::Request,
        },
        TaskEnd::Cancelled {
            by: CancelledBy::Dropped,
        },
        TaskEnd::Panicked {
            message: "boom".to_owned(),
        },
        TaskEnd::Ended,
    ];
    for end in ends {
        let task = registry.register(TaskOptions::new());
        let id = task.id();
        let poll = task.poll_started();
        task.poll_ended(poll);
        task.finish(end.clone());

        let snapshot = registry.task(id).expect("kept in the history");
        assert_eq!(snapshot.state, end.state(), "{end:?}");
        assert!(snapshot.state.is_terminal(), "{end:?}");
        assert_eq!(snapshot.ended.as_ref(), Some(&end));
        assert_eq!(snapshot.polls, 1);
        assert!(snapshot.ended_ago_ns.is_some());
    }
    assert_eq!(registry.live_count(), 0);
    assert_eq!(registry.terminated().len(), 5);
}

#[test]
fn an_unknown_end_reads_as_ended() {
    assert_eq!(TaskEnd::Ended.to_string(), "ended");
    assert_eq!(TaskEnd::Ended.state(), TaskState::Ended);
    assert_eq!(TaskState::Ended.to_string(), "ended");
    assert!(TaskState::Ended.is_terminal());
    assert_eq!(
        serde_json::to_string(&TaskEnd::Ended).unwrap(),
        r#"{"reason":"ended"}"#
    );
    assert_eq!(
        serde_json::to_string(&TaskState::Ended).unwrap(),
        r#""ended""#
    );
}

#[test]
fn dropping_without_finish_records_a_dropped_cancellation() {
    let registry = TaskRegistry::new();
    let task = registry.register(TaskOptions::new());
    let id = task.id();
    drop(task);
    let snapshot = registry.task(id).unwrap();
    assert_eq!(snapshot.state, TaskState::Cancelled);
    assert_eq!(
        snapshot.ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Dropped
        })
    );
    assert_eq!(registry.live_count(), 0);
}

#[test]
fn dropping_after_a_cancel_request_records_the_request() {
    let registry = TaskRegistry::new();
    let task = registry.register(TaskOptions::new());
    let id = task.id();
    registry.cancel(id).unwrap();
    assert!(task.cancel_requested());
    drop(task);
    assert_eq!(
        registry.task(id).unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Request
        })
    );
}

#[test]
fn cancel_of_a_non_cancellable_task_is_refused_and_changes_nothing() {
    let registry = TaskRegistry::new();
    let task = registry.register(TaskOptions::new().cancellable(false));
    let id = task.id();
    let called = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&called);
    task.set_canceller(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });

    let err = registry.cancel(id).unwrap_err();
    assert!(
        matches!(err, RegistryError::NotCancellable(refused) if refused == id),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("task {id} was spawned outside the monitor")),
        "{message}"
    );
    assert!(message.contains("cannot be cancelled"), "{message}");
    assert_eq!(called.load(Ordering::SeqCst), 0);
    assert!(!task.cancel_requested());
    assert_eq!(registry.task(id).unwrap().state, TaskState::Idle);

    // Once it has ended, the usual answer comes first.
    task.finish(TaskEnd::Ended);
    assert!(matches!(
        registry.cancel(id),
        Err(RegistryError::AlreadyEnded {
            state: TaskState::Ended,
            ..
        })
    ));
}

#[test]
fn cancel_of_a_cancellable_task_calls_its_canceller_once() {
    let registry = TaskRegistry::new();
    let task = registry.register(TaskOptions::new());
    let id = task.id();
    let called = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&called);
    task.set_canceller(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });

    assert_eq!(registry.cancel(id).unwrap(), CancelRequested::WasIdle);
    assert_eq!(called.load(Ordering::SeqCst), 1);
    assert!(task.cancel_requested());
    // The runtime has not reported the end yet: the task is still live, and
    // a second request does not run the canceller again.
    assert_eq!(registry.task(id).unwrap().state, TaskState::Idle);
    registry.cancel(id).unwrap();
    assert_eq!(called.load(Ordering::SeqCst), 1);

    task.finish(TaskEnd::Cancelled {
        by: CancelledBy::Request,
    });
    assert_eq!(registry.task(id).unwrap().state, TaskState::Cancelled);
}

#[test]
fn cancel_during_a_poll_reports_it_was_running() {
    let registry = TaskRegistry::new();
    let task = registry.register(TaskOptions::new());
    let poll = task.poll_started();
    assert!(matches!(
        registry.cancel(task.id()),
        Ok(CancelRequested::WasRunning { .. })
    ));
    task.poll_ended(poll);
}

#[test]
fn wrapped_tasks_can_be_made_non_cancellable_too() {
    let registry = TaskRegistry::new();
    let task = registry.instrument(
        std::future::pending::<()>(),
        TaskOptions::new().cancellable(false),
    );
    assert!(matches!(
        registry.cancel(task.id()),
        Err(RegistryError::NotCancellable(_))
    ));
}

#[test]
fn persistent_external_tasks_outlive_the_history_bound() {
    let registry = TaskRegistry::builder().history_capacity(1).build();
    let keeper = registry.register(TaskOptions::new().persistent(true));
    let keeper_id = keeper.id();
    keeper.finish(TaskEnd::Ended);
    for _ in 0..3 {
        registry.register(TaskOptions::new()).finish(TaskEnd::Ended);
    }
    assert!(registry.task(keeper_id).unwrap().persistent);
    assert_eq!(registry.terminated().len(), 2);
}

#[test]
fn polls_from_many_threads_in_turn_are_all_counted() {
    // A multi-threaded runtime moves a task between workers; each poll is
    // reported from whichever thread runs it, one at a time.
    let registry = TaskRegistry::new();
    let task = Arc::new(registry.register(TaskOptions::new()));
    for _ in 0..4 {
        let task = Arc::clone(&task);
        thread::spawn(move || {
            for _ in 0..100 {
                let poll = task.poll_started();
                task.poll_ended(poll);
            }
        })
        .join()
        .unwrap();
    }
    assert_eq!(registry.task(task.id()).unwrap().polls, 400);
}
