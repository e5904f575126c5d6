//! Task tracking through the public API, on a custom executor.

mod support;

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::Duration,
};

use futures_lite::future::block_on;
use monitor_core::{
    CancelRequested, CancelledBy, JoinError, RegistryError, Spawner, TaskEnd, TaskIntrospect,
    TaskOptions, TaskRegistry, TaskState, current_task,
};
use support::{ThreadPerTask, eventually};

fn spawner() -> Spawner {
    Spawner::new(ThreadPerTask, TaskRegistry::new())
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn ids_never_repeat_across_100k_spawns() {
    let registry = TaskRegistry::new();
    let mut seen = HashSet::new();
    for _ in 0..100_000 {
        let task = registry.instrument(async {}, TaskOptions::new());
        assert!(seen.insert(task.id()), "id {} reused", task.id());
        block_on(task).unwrap();
    }
    assert_eq!(registry.live_count(), 0);
}

#[test]
fn spawned_task_is_visible_with_name_location_and_state() {
    let spawner = spawner();
    let handle = spawner
        .task()
        .name("sleeper")
        .spawn(std::future::pending::<()>());
    let id = handle.id();
    let task = spawner.registry().task(id).unwrap();
    assert_eq!(task.name.as_deref(), Some("sleeper"));
    assert!(task.location.starts_with(file!()), "{}", task.location);
    assert_eq!(task.parent, None);
    eventually("first poll", || {
        let task = spawner.registry().task(id)?;
        (task.polls == 1 && task.state == TaskState::Idle).then_some(())
    });
    assert_eq!(spawner.registry().live_tasks().len(), 1);
    handle.cancel();
    assert!(block_on(handle).unwrap_err().is_cancelled());
}

#[test]
fn state_is_running_inside_poll_and_completed_after() {
    let spawner = spawner();
    let registry = Arc::clone(spawner.registry());
    let handle = spawner.spawn(async move {
        let me = current_task().expect("inside a tracked task");
        registry.task(me).unwrap().state
    });
    let id = handle.id();
    assert_eq!(block_on(handle).unwrap(), TaskState::Running);
    let task = eventually("retired", || spawner.registry().task(id));
    assert_eq!(task.state, TaskState::Completed);
    assert_eq!(task.ended, Some(TaskEnd::Completed));
    assert!(task.ended_ago_ns.is_some());
    assert_eq!(spawner.registry().live_count(), 0);
}

#[test]
fn a_poll_in_progress_is_visible_with_growing_time() {
    let spawner = spawner();
    let (release, blocked) = mpsc::channel::<()>();
    let handle = spawner.task().name("stuck").spawn(async move {
        // Blocks its worker thread inside one poll, as a buggy task would.
        blocked.recv().unwrap();
    });
    let id = handle.id();
    let first = eventually("poll to start", || {
        let task = spawner.registry().task(id)?;
        (task.state == TaskState::Running).then_some(task)
    });
    std::thread::sleep(Duration::from_millis(30));
    let later = spawner.registry().task(id).unwrap();
    assert_eq!(later.state, TaskState::Running);
    let (a, b) = (first.poll_ns.unwrap(), later.poll_ns.unwrap());
    assert!(b >= a + 25_000_000, "poll time did not grow: {a} -> {b}");
    assert!(later.busy_ns >= b);
    assert!(later.thread.as_deref().unwrap().contains("tiny-worker"));
    let outcome = spawner.registry().cancel(id).unwrap();
    assert!(matches!(outcome, CancelRequested::WasRunning { .. }));
    release.send(()).unwrap();
    // The poll completed the future before the cancel could take effect.
    block_on(handle).unwrap();
}

#[test]
fn busy_time_accumulates_across_polls() {
    let spawner = spawner();
    let handle = spawner.spawn(async {
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(10));
            futures_lite::future::yield_now().await;
        }
    });
    let id = handle.id();
    block_on(handle).unwrap();
    let task = eventually("retired", || spawner.registry().task(id));
    assert_eq!(task.polls, 6);
    // Five polls of >= 10 ms each; the coarse clock has 1 ms ticks.
    assert!(task.busy_ns >= 40_000_000, "busy {}", task.busy_ns);
}

#[test]
fn cancel_drops_the_future_and_the_joiner_sees_cancelled() {
    let spawner = spawner();
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = SetOnDrop(Arc::clone(&dropped));
    let handle = spawner.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let id = handle.id();
    eventually("first poll", || {
        (spawner.registry().task(id)?.polls == 1).then_some(())
    });
    assert_eq!(
        spawner.registry().cancel(id).unwrap(),
        CancelRequested::WasIdle
    );
    let err = block_on(handle).unwrap_err();
    assert_eq!(err, JoinError::Cancelled(id));
    assert!(dropped.load(Ordering::SeqCst), "future's Drop did not run");
    let task = spawner.registry().task(id).unwrap();
    assert_eq!(task.state, TaskState::Cancelled);
    assert_eq!(
        task.ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Request
        })
    );
    // A second cancel is an error that says the task already ended.
    let err = spawner.registry().cancel(id).unwrap_err();
    assert!(matches!(err, RegistryError::AlreadyEnded { .. }), "{err}");
    assert!(err.to_string().contains("already ended"));
}

#[test]
fn cancel_before_first_poll_never_polls() {
    let registry = TaskRegistry::new();
    let polled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&polled);
    let task = registry.instrument(
        async move { flag.store(true, Ordering::SeqCst) },
        TaskOptions::new(),
    );
    registry.cancel(task.id()).unwrap();
    assert!(block_on(task).is_err());
    assert!(!polled.load(Ordering::SeqCst));
}

#[test]
fn cancel_of_unknown_id_is_a_clear_error() {
    let registry = TaskRegistry::new();
    let id = monitor_core::TaskId::from_u64(u64::MAX).unwrap();
    let err = registry.cancel(id).unwrap_err();
    assert!(matches!(err, RegistryError::NoSuchTask(i) if i == id));
    assert!(err.to_string().starts_with(&format!("No task {id}")));
}

#[test]
fn dropping_an_unfinished_task_records_it_as_dropped() {
    let registry = TaskRegistry::new();
    let task = registry.instrument(std::future::pending::<()>(), TaskOptions::new());
    let id = task.id();
    drop(task);
    let snapshot = registry.task(id).unwrap();
    assert_eq!(
        snapshot.ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Dropped
        })
    );
}

#[test]
fn panics_are_recorded_with_their_message() {
    let spawner = spawner();
    let handle = spawner.task().name("doomed").spawn(async {
        if true {
            panic!("disk on fire");
        }
    });
    let id = handle.id();
    let err = block_on(handle).unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("disk on fire"));
    let task = spawner.registry().task(id).unwrap();
    assert_eq!(task.state, TaskState::Panicked);
    assert_eq!(
        task.ended,
        Some(TaskEnd::Panicked {
            message: "disk on fire".into()
        })
    );
}

#[test]
fn history_is_bounded_newest_first_and_keeps_persistent_tasks() {
    let registry = TaskRegistry::builder().history_capacity(3).build();
    let keep = registry.instrument(async {}, TaskOptions::new().name("keep").persistent(true));
    let keep_id = keep.id();
    block_on(keep).unwrap();
    let mut ids = Vec::new();
    for n in 0..10 {
        let task = registry.instrument(async {}, TaskOptions::new().name(format!("t{n}")));
        ids.push(task.id());
        block_on(task).unwrap();
    }
    let history = registry.terminated();
    let listed: Vec<_> = history.iter().map(|task| task.id).collect();
    // The three newest in order, then the persistent one that ended first.
    assert_eq!(listed, vec![ids[9], ids[8], ids[7], keep_id]);
    assert!(registry.task(ids[0]).is_none(), "oldest was not dropped");
}

#[test]
fn parent_chains_follow_spawns_from_inside_tasks() {
    let spawner = spawner();
    let inner = spawner.clone();
    let root = spawner.task().name("root").spawn(async move {
        let again = inner.clone();
        let child = inner.task().name("child").spawn(async move {
            again
                .task()
                .name("grandchild")
                .spawn(std::future::pending::<()>())
                .id()
        });
        let grandchild = child.await.unwrap();
        std::future::pending::<()>().await;
        grandchild
    });
    let root_id = root.id();
    let grandchild = eventually("grandchild", || {
        spawner
            .registry()
            .live_tasks()
            .into_iter()
            .find(|task| task.name.as_deref() == Some("grandchild"))
    });
    let trace = spawner.registry().trace(grandchild.id).unwrap();
    let names: Vec<_> = trace
        .ancestors
        .iter()
        .map(|frame| frame.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["root", "child"]);
    assert_eq!(trace.ancestors[0].id, root_id);
    assert_eq!(trace.task.name.as_deref(), Some("grandchild"));
    for frame in &trace.ancestors {
        let location = frame.location.as_ref().map(ToString::to_string);
        assert!(
            location.as_deref().is_some_and(|at| at.contains(file!())),
            "{location:?}"
        );
    }
}

#[test]
fn snapshots_serialize_with_the_documented_fields() {
    let registry = TaskRegistry::new();
    let task = registry.instrument(async {}, TaskOptions::new().name("json"));
    let id = task.id();
    let live = serde_json::to_value(registry.task(id).unwrap()).unwrap();
    for field in [
        "id", "name", "state", "location", "parent", "polls", "busy_ns", "age_ns",
    ] {
        assert!(live.get(field).is_some(), "missing {field} in {live}");
    }
    assert_eq!(live["state"], "idle");
    block_on(task).unwrap();
    let ended = serde_json::to_value(registry.task(id).unwrap()).unwrap();
    assert_eq!(ended["ended"]["reason"], "completed");
    assert!(ended["ended_ago_ns"].is_u64());
}

#[test]
fn instrument_records_the_callers_location() {
    let registry = TaskRegistry::new();
    let task = registry.instrument(async {}, TaskOptions::new());
    let line = line!() - 1;
    let location = registry.task(task.id()).unwrap().location;
    assert!(
        location.starts_with(&format!("{}:{line}:", file!())),
        "{location}"
    );
}
