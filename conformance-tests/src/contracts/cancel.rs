//! Cancellation through the registry (what the console's `cancel` uses).

use std::time::{Duration, Instant};

use monitor_core::{
    CancelRequested, CancelledBy, JoinError, RegistryError, TaskEnd, TaskId, TaskIntrospect,
    TaskState,
};

use super::{join, join_ok, on};
use crate::{
    RuntimeUnderTest,
    support::{Gate, drop_probe, eventually, spawner},
};

/// How soon a cancelled idle task's future must be dropped.
const CANCEL_WITHIN: Duration = Duration::from_millis(100);

/// Cancelling an idle task drops its future (its `Drop` runs) within
/// 100 ms, the joiner sees the cancellation, and the task is recorded as
/// cancelled on request.
pub fn cancel_drops_the_future_within_100ms(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let (probe, guard) = drop_probe();
    let handle = spawner.task().name("cancel-me").spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let id = handle.id();
    eventually(format!("{at} first poll"), || {
        let task = spawner.registry().task(id)?;
        (task.polls == 1 && task.state == TaskState::Idle).then_some(())
    });
    let requested = Instant::now();
    let outcome = spawner.registry().cancel(id).unwrap();
    assert_eq!(outcome, CancelRequested::WasIdle, "{at}");
    let dropped = probe.wait(CANCEL_WITHIN * 20).unwrap_or_else(|| {
        panic!("{at} the cancelled task's future was never dropped (its Drop did not run)")
    });
    let took = dropped.saturating_duration_since(requested);
    assert!(
        took <= CANCEL_WITHIN,
        "{at} the future was dropped {took:?} after cancel, more than {CANCEL_WITHIN:?}"
    );
    assert_eq!(
        join(rt, handle).unwrap_err(),
        JoinError::Cancelled(id),
        "{at}"
    );
    let task = spawner.registry().task(id).unwrap();
    assert_eq!(
        task.ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Request
        }),
        "{at}"
    );
}

/// Cancelling a task while a worker is inside its poll is accepted as
/// "was running"; the future is dropped once that poll returns, which
/// needs the runtime to poll a task again when it is woken during a poll.
pub fn cancel_during_a_poll_takes_effect_when_it_returns(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let (probe, guard) = drop_probe();
    let (gate, key) = Gate::new();
    let handle = spawner.task().name("busy").spawn(async move {
        let _guard = guard;
        gate.wait();
        std::future::pending::<()>().await;
    });
    let id = handle.id();
    eventually(format!("{at} the poll to start"), || {
        (spawner.registry().task(id)?.state == TaskState::Running).then_some(())
    });
    let outcome = spawner.registry().cancel(id).unwrap();
    assert!(
        matches!(outcome, CancelRequested::WasRunning { .. }),
        "{at} {outcome:?}"
    );
    assert!(
        !probe.dropped(),
        "{at} a poll in progress cannot be interrupted"
    );
    assert_eq!(
        spawner.registry().task(id).unwrap().state,
        TaskState::Running,
        "{at}"
    );
    key.open();
    assert!(
        probe.wait(Duration::from_secs(2)).is_some(),
        "{at} the future was not dropped after its poll returned: the runtime lost the \
         wake-up that arrived during the poll"
    );
    assert!(join(rt, handle).unwrap_err().is_cancelled(), "{at}");
}

/// Cancelling an id no task ever had is a `NoSuchTask` error.
pub fn cancel_of_unknown_id_is_an_error(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    // The counter is far from reaching this: no task has it.
    let unknown = TaskId::from_u64(u64::MAX).unwrap();
    let err = spawner.registry().cancel(unknown).unwrap_err();
    assert!(
        matches!(err, RegistryError::NoSuchTask(id) if id == unknown),
        "{at} {err}"
    );
    assert!(
        err.to_string().starts_with(&format!("No task {unknown}")),
        "{at} {err}"
    );
}

/// Cancelling a task that has ended is an `AlreadyEnded` error naming its
/// final state, and changes nothing.
pub fn cancel_of_finished_task_is_an_error(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner(rt);
    let handle = spawner.spawn(async {});
    let id = handle.id();
    join_ok(rt, handle);
    let err = spawner.registry().cancel(id).unwrap_err();
    assert!(
        matches!(err, RegistryError::AlreadyEnded { id: ended, state: TaskState::Completed } if ended == id),
        "{at} {err}"
    );
    assert!(err.to_string().contains("already ended"), "{at} {err}");
    assert_eq!(
        spawner.registry().task(id).unwrap().state,
        TaskState::Completed,
        "{at}"
    );
}
