//! The terminated-task history behind `ps-terminated`.

use monitor_core::{TaskId, TaskIntrospect};

use super::{join_ok, on};
use crate::{RuntimeUnderTest, support::spawner_with_history};

/// Runs `count` named tasks one after the other, so they end in order.
fn run_in_order(
    rt: &dyn RuntimeUnderTest,
    spawner: &monitor_core::Spawner,
    count: usize,
) -> Vec<TaskId> {
    (0..count)
        .map(|n| {
            let handle = spawner.task().name(format!("t{n}")).spawn(async {});
            let id = handle.id();
            join_ok(rt, handle);
            id
        })
        .collect()
}

/// Ended tasks are listed newest first.
pub fn terminated_history_is_newest_first(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner_with_history(rt, 100);
    let mut ids = run_in_order(rt, &spawner, 5);
    ids.reverse();
    let listed: Vec<_> = spawner
        .registry()
        .terminated()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, ids, "{at} newest first");
}

/// The history keeps only the configured number of ended tasks, dropping
/// the oldest first; a dropped task is no longer found.
pub fn terminated_history_is_bounded(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner_with_history(rt, 3);
    let ids = run_in_order(rt, &spawner, 10);
    let listed: Vec<_> = spawner
        .registry()
        .terminated()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, vec![ids[9], ids[8], ids[7]], "{at}");
    assert!(
        spawner.registry().task(ids[0]).is_none(),
        "{at} the oldest ended task is still recorded"
    );
}

/// Persistent tasks stay in the history regardless of its bound, after the
/// bounded entries.
pub fn persistent_tasks_outlive_the_history_bound(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let spawner = spawner_with_history(rt, 2);
    let keep = spawner.task().name("keep").persistent(true).spawn(async {});
    let keep_id = keep.id();
    join_ok(rt, keep);
    let ids = run_in_order(rt, &spawner, 5);
    let history = spawner.registry().terminated();
    let listed: Vec<_> = history.iter().map(|t| t.id).collect();
    assert_eq!(listed, vec![ids[4], ids[3], keep_id], "{at}");
    let kept = spawner
        .registry()
        .task(keep_id)
        .expect("persistent task kept");
    assert!(kept.persistent, "{at}");
    assert_eq!(kept.name.as_deref(), Some("keep"), "{at}");
}
