//! Await stacks from `#[frame]`-marked calls, shown by `where` on every
//! runtime.

use std::time::{Duration, Instant};

use monitor_core::{TaskIntrospect as _, TaskState, frame, framed};

use super::{is_contract_location, join, join_ok, on};
use crate::{
    RuntimeUnderTest,
    support::{Gate, Harness, Signalled, eventually, json, not_applicable, signal},
};

/// The outermost marked call of the contracts' framed task.
#[frame]
async fn serve(first: Signalled, second: Signalled) -> &'static str {
    handle_request(first, second).await
}

#[frame("handle request")]
async fn handle_request(first: Signalled, second: Signalled) -> &'static str {
    // Two pending branches: the frame tree forks.
    futures_lite::future::zip(
        framed("read the body", first),
        framed("ask the database", second),
    )
    .await;
    "served"
}

/// Positions of `needles` in `text`, panicking if one is missing.
#[track_caller]
fn positions(at: &str, text: &str, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|needle| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{at} `where` lacks {needle:?}:\n{text}"))
        })
        .collect()
}

/// `where ID` of an idle task awaiting marked calls lists them outermost
/// first, innermost last, indented by depth and with their locations (the
/// marking attribute, or the `framed` call); a `join` shows both pending
/// branches. `where ID --json` gives the same as a `frames` tree. Frames
/// leave as calls complete; a completed task keeps none, a cancelled one
/// keeps its last tree for `where-terminated`.
pub fn where_shows_the_pending_frames_of_a_framed_task(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let (first_trigger, first) = signal();
    let (second_trigger, second) = signal();
    let handle = h.spawner.task().name("server").spawn(serve(first, second));
    let id = handle.id();
    eventually(format!("{at} the framed task's first poll"), || {
        let task = h.registry.task(id)?;
        (task.polls >= 1 && task.state == TaskState::Idle).then_some(())
    });

    let mut console = h.console();
    let text = console.cmd(&format!("where {id}"));
    let serve_name = format!("{}::serve", module_path!());
    let lines = [
        "Await stack (from #[frame] marks, innermost last):".to_owned(),
        format!("\n  {serve_name} at {}:", file!()),
        format!("\n    handle request at {}:", file!()),
        format!("\n      read the body at {}:", file!()),
        format!("\n      ask the database at {}:", file!()),
    ];
    let needles: Vec<&str> = lines.iter().map(String::as_str).collect();
    let found = positions(&at, &text, &needles);
    assert!(
        found.windows(2).all(|pair| pair[0] < pair[1]),
        "{at} frames out of order (outermost first, branches oldest first):\n{text}"
    );
    assert!(!text.contains("no await stack"), "{at} {text}");

    let trace = json(&console.cmd(&format!("where {id} --json")));
    let frames = &trace["frames"];
    assert_eq!(frames.as_array().map(Vec::len), Some(1), "{at} {trace}");
    assert_eq!(frames[0]["name"], serve_name.as_str(), "{at} {trace}");
    let location = frames[0]["location"].as_str().unwrap_or_default();
    assert!(is_contract_location(location, file!()), "{at} {location}");
    let request = &frames[0]["children"][0];
    assert_eq!(request["name"], "handle request", "{at} {trace}");
    let branches: Vec<_> = request["children"]
        .as_array()
        .unwrap_or_else(|| panic!("{at} no branches: {trace}"))
        .iter()
        .map(|branch| branch["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(branches, ["read the body", "ask the database"], "{at}");

    // One branch completes: it leaves the tree, the other stays.
    first_trigger.fire();
    eventually(
        format!("{at} the finished branch to leave the tree"),
        || {
            let text = console.cmd(&format!("where {id}"));
            (!text.contains("read the body")).then_some(())
        },
    );
    let text = console.cmd(&format!("where {id}"));
    assert!(text.contains("      ask the database at"), "{at} {text}");

    second_trigger.fire();
    assert_eq!(join_ok(rt, handle), "served", "{at}");
    let ended = console.cmd(&format!("where-terminated {id}"));
    assert!(
        ended.contains("no #[frame]-marked call was pending when it ended"),
        "{at} a completed task has no pending calls: {ended}"
    );

    // A task cancelled while awaiting keeps the tree it had.
    let (_keep_a, a) = signal();
    let (_keep_b, b) = signal();
    let doomed = h.spawner.task().name("doomed").spawn(serve(a, b));
    let doomed_id = doomed.id();
    eventually(format!("{at} the doomed task's first poll"), || {
        (h.registry.task(doomed_id)?.polls >= 1).then_some(())
    });
    let reply = console.cmd(&format!("cancel {doomed_id}"));
    assert!(reply.contains("Cancelled task"), "{at} {reply}");
    assert!(join(rt, doomed).is_err(), "{at}");
    let ended = console.cmd(&format!("where-terminated {doomed_id}"));
    positions(
        &at,
        &ended,
        &[
            "Await stack when it ended (from #[frame] marks, innermost last):",
            &format!("\n  {serve_name} at "),
            "\n    handle request at ",
            "\n      read the body at ",
        ],
    );
}

/// While a worker is blocked inside the innermost marked call, `where`
/// still answers within a second and shows the task running with the calls
/// it has entered so far: reading frames never waits for the runtime.
pub fn where_shows_frames_while_the_task_blocks_its_worker(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    if rt.workers().is_none() {
        not_applicable(
            rt,
            "where_shows_frames_while_the_task_blocks_its_worker",
            "the runtime declares no fixed worker threads to block",
        );
        return;
    }
    let h = Harness::new(rt, |b| b);
    let (gate, key) = Gate::new();
    let handle = h.spawner.task().name("stuck").spawn(framed(
        "outer call",
        framed("blocking call", async move { gate.wait() }),
    ));
    let id = handle.id();
    eventually(format!("{at} the task to block its worker"), || {
        (h.registry.task(id)?.state == TaskState::Running).then_some(())
    });
    let mut console = h.console();
    let started = Instant::now();
    let text = console.cmd(&format!("where {id}"));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "{at} where took {took:?} while the task blocked its worker"
    );
    assert!(text.contains("is running"), "{at} {text}");
    positions(
        &at,
        &text,
        &["\n  outer call at ", "\n    blocking call at "],
    );
    key.open();
    join_ok(rt, handle);
}
