//! The runtime adapter's own spawn function (`monitor_tokio::task()`,
//! `monitor_smol::task()`, ...): what it records, and how the handle it
//! returns reports a cancel from the monitor.
//!
//! The other contracts spawn through the runtime's [`Executor`] and the
//! runtime-agnostic `Spawner`; applications mostly call the adapter's spawn
//! function instead, whose handle and cancellation path are the adapter's
//! own. A runtime shows it through [`RuntimeUnderTest::native_spawn`].
//!
//! [`Executor`]: monitor_core::Executor

use std::sync::{Arc, Mutex};

use monitor_core::{
    CancelRequested, CancelledBy, TaskEnd, TaskIntrospect, TaskRegistry, TaskSnapshot, TaskState,
};

use super::{is_contract_location, on};
use crate::{
    NativeOutcome, NativeSpawn, NativeTask, RuntimeUnderTest, block_on_within,
    support::{Gate, PATIENCE, drop_probe, eventually, not_applicable},
};

/// The runtime's native spawn function, or `None` after saying why the
/// contract does not apply.
fn native(rt: &dyn RuntimeUnderTest, contract: &str) -> Option<Arc<dyn NativeSpawn>> {
    let native = rt.native_spawn();
    if native.is_none() {
        not_applicable(
            rt,
            contract,
            "the runtime declares no native spawn function",
        );
    }
    native
}

/// The task named `name`, live or ended. Each contract has a registry of
/// its own and names its tasks uniquely, and some adapters' handles (tokio's
/// `JoinHandle`) do not carry the monitor's task id.
fn named(registry: &TaskRegistry, name: &str) -> Option<TaskSnapshot> {
    registry
        .live_tasks()
        .into_iter()
        .chain(registry.terminated())
        .find(|task| task.name.as_deref() == Some(name))
}

/// Awaits a native task's outcome on the runtime, within [`PATIENCE`].
#[track_caller]
fn outcome(rt: &dyn RuntimeUnderTest, task: NativeTask, what: &str) -> NativeOutcome {
    block_on_within(rt, PATIENCE, what, task)
}

/// A task spawned with the adapter's own spawn function is recorded with
/// its name, the line that called the spawn function as its location (not
/// a line inside the adapter) and no parent; a task it spawns the same way
/// records it as parent. After a monitor cancel of the child, the parent,
/// awaiting the child's handle, sees the cancellation and completes.
pub fn native_spawn_records_name_location_and_parent(rt: &dyn RuntimeUnderTest) {
    let Some(native) = native(rt, "native_spawn_records_name_location_and_parent") else {
        return;
    };
    let at = on(rt);
    let registry = TaskRegistry::new();
    let child_outcome = Arc::new(Mutex::new(None));
    let parent = {
        let inner = Arc::clone(&native);
        let registry = Arc::clone(&registry);
        let child_outcome = Arc::clone(&child_outcome);
        native.spawn(
            Arc::clone(&registry),
            "native-parent",
            Box::pin(async move {
                let child = inner.spawn(
                    registry,
                    "native-child",
                    Box::pin(std::future::pending::<()>()),
                );
                let ended = child.await;
                *child_outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(ended);
            }),
        )
    };
    let file = parent.spawned_in();

    let child = eventually(format!("{at} the native child to be polled"), || {
        named(&registry, "native-child").filter(|task| task.polls >= 1)
    });
    let first = named(&registry, "native-parent").expect("the parent is recorded");
    assert_eq!(first.parent, None, "{at} a task spawned outside tasks");
    assert_eq!(
        child.parent,
        Some(first.id),
        "{at} parent of the native child"
    );
    for task in [&first, &child] {
        assert!(
            is_contract_location(&task.location, file),
            "{at} {:?} was recorded at {:?}, not where the adapter's spawn function was \
             called ({file})",
            task.name,
            task.location
        );
    }
    let trace = registry.trace(child.id).expect("the child has a trace");
    let chain: Vec<_> = trace.ancestors.iter().map(|frame| frame.id).collect();
    assert_eq!(chain, vec![first.id], "{at} creation chain");

    registry.cancel(child.id).expect("the child is live");
    assert_eq!(
        outcome(rt, parent, "the native parent to end"),
        NativeOutcome::Completed,
        "{at} the parent awaiting its cancelled child"
    );
    assert_eq!(
        child_outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        Some(NativeOutcome::Cancelled),
        "{at} the child's handle after a monitor cancel"
    );
    let parent = registry.task(first.id).unwrap();
    assert_eq!(parent.state, TaskState::Completed, "{at}");
    let child = registry.task(child.id).unwrap();
    assert_eq!(
        child.ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Request
        }),
        "{at}"
    );
}

/// A monitor cancel of an idle task spawned with the adapter's own spawn
/// function drops its future, and the task's own handle reports the
/// cancellation the runtime's way instead of hanging.
pub fn native_cancel_drops_the_future_and_reaches_the_handle(rt: &dyn RuntimeUnderTest) {
    let Some(native) = native(rt, "native_cancel_drops_the_future_and_reaches_the_handle") else {
        return;
    };
    let at = on(rt);
    let registry = TaskRegistry::new();
    let (probe, guard) = drop_probe();
    let task = native.spawn(
        Arc::clone(&registry),
        "native-cancel-me",
        Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }),
    );
    let id = eventually(format!("{at} the first poll of the native task"), || {
        let task = named(&registry, "native-cancel-me")?;
        (task.polls == 1 && task.state == TaskState::Idle).then_some(task.id)
    });
    assert_eq!(
        registry.cancel(id).unwrap(),
        CancelRequested::WasIdle,
        "{at}"
    );
    assert!(
        probe.wait(PATIENCE).is_some(),
        "{at} the cancelled native task's future was never dropped"
    );
    assert_eq!(
        outcome(rt, task, "the cancelled native task's handle"),
        NativeOutcome::Cancelled,
        "{at}"
    );
    assert_eq!(
        registry.task(id).unwrap().ended,
        Some(TaskEnd::Cancelled {
            by: CancelledBy::Request
        }),
        "{at}"
    );
}

/// A monitor cancel that arrives while the native task is inside a poll
/// takes effect once that poll returns, and its handle reports the
/// cancellation. (The tokio adapter aborts the task from outside here,
/// racing the poll; smol and async-std drop the future on the next poll.)
pub fn native_cancel_during_a_poll_reaches_the_handle(rt: &dyn RuntimeUnderTest) {
    let Some(native) = native(rt, "native_cancel_during_a_poll_reaches_the_handle") else {
        return;
    };
    let at = on(rt);
    let registry = TaskRegistry::new();
    let (probe, guard) = drop_probe();
    let (gate, key) = Gate::new();
    let task = native.spawn(
        Arc::clone(&registry),
        "native-busy",
        Box::pin(async move {
            let _guard = guard;
            gate.wait();
            std::future::pending::<()>().await;
        }),
    );
    let id = eventually(format!("{at} the native task's poll to start"), || {
        let task = named(&registry, "native-busy")?;
        (task.state == TaskState::Running).then_some(task.id)
    });
    let requested = registry.cancel(id).unwrap();
    assert!(
        matches!(requested, CancelRequested::WasRunning { .. }),
        "{at} {requested:?}"
    );
    key.open();
    assert!(
        probe.wait(PATIENCE).is_some(),
        "{at} the native task's future was not dropped after its poll returned"
    );
    assert_eq!(
        outcome(
            rt,
            task,
            "the native task's handle after a cancel in a poll"
        ),
        NativeOutcome::Cancelled,
        "{at}"
    );
    assert_eq!(
        registry.task(id).unwrap().state,
        TaskState::Cancelled,
        "{at}"
    );
}
