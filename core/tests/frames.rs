//! Frames: `#[frame]` and `framed` record pending calls per task, and
//! `where` shows them.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, mpsc},
    task::{Context, Poll, Waker},
    time::Duration,
};

use futures_channel::oneshot;
use monitor_core::{
    FrameNode, FrameTree, Instrumented, TaskId, TaskIntrospect, TaskOptions, TaskRegistry,
    TaskTrace, framed,
};

/// Polls a future by hand on the test thread: deterministic, no runtime.
struct Manual<F: Future> {
    future: Pin<Box<F>>,
}

impl<F: Future> Manual<F> {
    fn new(future: F) -> Self {
        Self {
            future: Box::pin(future),
        }
    }

    fn poll(&mut self) -> Poll<F::Output> {
        self.future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }
}

fn tracked<F: Future>(
    registry: &Arc<TaskRegistry>,
    future: F,
) -> (TaskId, Manual<Instrumented<F>>) {
    let task = registry.instrument(future, TaskOptions::new().name("framed"));
    (task.id(), Manual::new(task))
}

/// The await-stack part of `where` for `trace`.
fn stacks(trace: &TaskTrace) -> String {
    let mut text = String::new();
    trace.write_await_stacks(&mut text).unwrap();
    text
}

/// `name @ line` of every node, depth-first, with two spaces per level.
fn outline(tree: &FrameTree) -> Vec<String> {
    fn walk(node: &FrameNode, depth: usize, out: &mut Vec<String>) {
        out.push(format!("{:indent$}{}", "", node.name, indent = depth * 2));
        for child in &node.children {
            walk(child, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    for root in &tree.roots {
        walk(root, 0, &mut out);
    }
    out
}

#[monitor_core::frame]
async fn outer(reply: oneshot::Receiver<u32>) -> u32 {
    middle(reply).await + 1
}

#[monitor_core::frame]
async fn middle(reply: oneshot::Receiver<u32>) -> u32 {
    framed("wait for the reply", reply).await.unwrap_or(0)
}

#[test]
fn nested_marked_calls_show_as_a_chain_with_names_and_locations() {
    let registry = TaskRegistry::new();
    let (sender, receiver) = oneshot::channel();
    let (id, mut task) = tracked(&registry, outer(receiver));
    assert!(task.poll().is_pending());

    let tree = FrameTree::of_live_task(id);
    assert_eq!(
        outline(&tree),
        [
            "frames::outer",
            "  frames::middle",
            "    wait for the reply"
        ]
    );
    let outer = &tree.roots[0];
    // The attribute locates a frame at itself, right above the function.
    assert!(
        outer.location.starts_with("core/tests/frames.rs:"),
        "{}",
        outer.location
    );
    let line = |node: &FrameNode| {
        node.location
            .split(':')
            .nth(1)
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    let source = include_str!("frames.rs");
    let outer_line = source
        .lines()
        .position(|l| l.starts_with("async fn outer("))
        .unwrap() as u32;
    assert_eq!(line(outer), outer_line);
    // `framed` is located where it is called.
    let wait = &outer.children[0].children[0];
    let framed_line = source
        .lines()
        .position(|l| l.contains("framed(\"wait for the reply\", reply)"))
        .unwrap() as u32
        + 1;
    assert_eq!(line(wait), framed_line);

    sender.send(41).unwrap();
    assert_eq!(task.poll(), Poll::Ready(Ok(42)));
    assert!(FrameTree::of_live_task(id).is_empty());
}

#[monitor_core::frame("first leg")]
async fn leg(reply: oneshot::Receiver<()>) {
    let _ = reply.await;
}

#[test]
fn a_join_shows_every_pending_branch_oldest_first_and_drops_completed_ones() {
    let registry = TaskRegistry::new();
    let (first_tx, first_rx) = oneshot::channel();
    let (second_tx, second_rx) = oneshot::channel::<()>();
    let (id, mut task) = tracked(
        &registry,
        framed("both", async move {
            futures_lite::future::zip(leg(first_rx), framed("second leg", second_rx)).await
        }),
    );
    assert!(task.poll().is_pending());
    assert_eq!(
        outline(&FrameTree::of_live_task(id)),
        ["both", "  first leg", "  second leg"]
    );

    first_tx.send(()).unwrap();
    assert!(task.poll().is_pending());
    assert_eq!(
        outline(&FrameTree::of_live_task(id)),
        ["both", "  second leg"],
        "a completed call leaves the tree"
    );
    second_tx.send(()).unwrap();
    assert!(task.poll().is_ready());
    assert!(FrameTree::of_live_task(id).is_empty());
}

#[test]
fn several_outermost_calls_of_an_unmarked_task_are_several_roots() {
    let registry = TaskRegistry::new();
    let (_a_tx, a_rx) = oneshot::channel::<()>();
    let (_b_tx, b_rx) = oneshot::channel::<()>();
    let (id, mut task) = tracked(
        &registry,
        futures_lite::future::zip(framed("a", a_rx), framed("b", b_rx)),
    );
    assert!(task.poll().is_pending());
    assert_eq!(outline(&FrameTree::of_live_task(id)), ["a", "b"]);
}

#[test]
fn frames_outside_tracked_tasks_are_not_recorded_and_tasks_do_not_mix() {
    let registry = TaskRegistry::new();
    let (_tx, rx) = oneshot::channel::<()>();
    let mut untracked = Manual::new(framed("nobody's", rx));
    assert!(untracked.poll().is_pending());

    // A tracked task polled from inside a marked future of another task
    // (a nested executor) starts its own tree.
    let (_inner_tx, inner_rx) = oneshot::channel::<()>();
    let inner = registry.instrument(framed("inner task's", inner_rx), TaskOptions::new());
    let inner_id = inner.id();
    let mut inner = Box::pin(inner);
    let (outer_id, mut outer) = tracked(
        &registry,
        framed(
            "outer task's",
            std::future::poll_fn(move |cx| {
                let _ = inner.as_mut().poll(cx);
                Poll::<()>::Pending
            }),
        ),
    );
    assert!(outer.poll().is_pending());
    assert_eq!(
        outline(&FrameTree::of_live_task(outer_id)),
        ["outer task's"]
    );
    assert_eq!(
        outline(&FrameTree::of_live_task(inner_id)),
        ["inner task's"]
    );
}

#[test]
fn a_cancelled_task_keeps_the_tree_it_had_and_a_completed_one_keeps_none() {
    let registry = TaskRegistry::new();
    let (_sender, receiver) = oneshot::channel();
    let (id, mut task) = tracked(&registry, outer(receiver));
    assert!(task.poll().is_pending());
    registry.cancel(id).unwrap();
    assert!(task.poll().is_ready());
    assert!(FrameTree::of_live_task(id).is_empty());
    assert_eq!(
        outline(&FrameTree::at_end(id)),
        [
            "frames::outer",
            "  frames::middle",
            "    wait for the reply"
        ]
    );
    let trace = registry.trace(id).unwrap();
    assert_eq!(trace.frames[0].name, "frames::outer");
    let text = stacks(&trace);
    assert!(
        text.contains("Await stack when it ended (from #[frame] marks, innermost last):"),
        "{text}"
    );

    let (sender, receiver) = oneshot::channel();
    let (done, mut task) = tracked(&registry, outer(receiver));
    assert!(task.poll().is_pending());
    sender.send(1).unwrap();
    assert!(task.poll().is_ready());
    assert!(FrameTree::at_end(done).is_empty());
    assert!(
        stacks(&registry.trace(done).unwrap())
            .contains("no #[frame]-marked call was pending when it ended")
    );
}

#[monitor_core::frame]
async fn panics_inside(reply: oneshot::Receiver<()>) {
    let _ = reply.await;
    panic!("boom");
}

#[test]
fn a_panic_inside_a_frame_keeps_the_tree_and_leaves_the_thread_clean() {
    let registry = TaskRegistry::new();
    let (sender, receiver) = oneshot::channel();
    let (id, mut task) = tracked(
        &registry,
        framed("calls a panicker", panics_inside(receiver)),
    );
    assert!(task.poll().is_pending());
    sender.send(()).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.poll()));
    assert!(panicked.is_err());
    assert_eq!(
        outline(&FrameTree::at_end(id)),
        ["calls a panicker", "  frames::panics_inside"]
    );

    // The thread's active frame was restored on unwind: a new task's frame
    // is a root of that task, not a child of the dead one.
    let (_tx, rx) = oneshot::channel::<()>();
    let (next, mut next_task) = tracked(&registry, framed("next", rx));
    assert!(next_task.poll().is_pending());
    assert_eq!(outline(&FrameTree::of_live_task(next)), ["next"]);
}

#[test]
fn a_call_kept_alive_after_its_parent_is_dropped_is_detached_safely() {
    let registry = TaskRegistry::new();
    let (_tx, rx) = oneshot::channel::<()>();
    let mut child = Box::pin(framed("child", rx));
    let child_ptr: *mut Pin<Box<_>> = &mut child;
    let (id, mut parent) = tracked(
        &registry,
        framed(
            "parent",
            std::future::poll_fn(move |cx| {
                // SAFETY: `child` outlives this task, which is polled on this
                // thread only while `child` is not otherwise borrowed.
                let child = unsafe { &mut *child_ptr };
                let _ = child.as_mut().poll(cx);
                Poll::<()>::Pending
            }),
        ),
    );
    assert!(parent.poll().is_pending());
    assert_eq!(outline(&FrameTree::of_live_task(id)), ["parent", "  child"]);
    drop(parent);
    // The parent frame is gone; the child lives on, unreachable, and
    // unlinks from nothing when dropped.
    assert!(FrameTree::of_live_task(id).is_empty());
    drop(child);
    assert!(FrameTree::of_live_task(id).is_empty());
}

#[monitor_core::frame]
async fn blocks_its_worker(entered: mpsc::Sender<()>, release: mpsc::Receiver<()>) {
    framed("blocking call", async move {
        entered.send(()).unwrap();
        // A blocking call inside a poll: the worker is stuck here.
        release.recv().unwrap();
    })
    .await;
}

#[test]
fn where_answers_while_the_worker_is_blocked_inside_the_frames_poll() {
    let registry = TaskRegistry::new();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let task = registry.instrument(
        blocks_its_worker(entered_tx, release_rx),
        TaskOptions::new(),
    );
    let id = task.id();
    let worker = std::thread::spawn(move || futures_lite::future::block_on(task));
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();

    let trace = registry.trace(id).unwrap();
    assert_eq!(trace.task.state.to_string(), "running");
    let text = stacks(&trace);
    assert!(
        text.contains("frames::blocks_its_worker at core/tests/frames.rs:"),
        "{text}"
    );
    assert!(
        text.contains("    blocking call at core/tests/frames.rs:"),
        "{text}"
    );

    release_tx.send(()).unwrap();
    worker.join().unwrap().unwrap();
}

#[test]
fn where_json_gives_the_frames_as_a_tree_and_names_sources() {
    let registry = TaskRegistry::new();
    let (_sender, receiver) = oneshot::channel();
    let (id, mut task) = tracked(&registry, outer(receiver));
    assert!(task.poll().is_pending());

    let json = serde_json::to_value(registry.trace(id).unwrap()).unwrap();
    let frames = &json["frames"];
    assert_eq!(frames[0]["name"], "frames::outer");
    assert_eq!(frames[0]["children"][0]["name"], "frames::middle");
    assert_eq!(
        frames[0]["children"][0]["children"][0]["name"],
        "wait for the reply"
    );
    assert!(
        frames[0]["location"]
            .as_str()
            .unwrap()
            .starts_with("core/tests/frames.rs:")
    );
    assert_eq!(json["stack"], serde_json::Value::Null);
    assert_eq!(json["stack_source"], serde_json::Value::Null);
    assert!(json.get("frames_truncated").is_none());
}

#[test]
fn a_task_without_marks_says_how_to_get_a_stack() {
    let registry = TaskRegistry::new();
    let (id, mut task) = tracked(&registry, std::future::pending::<()>());
    assert!(task.poll().is_pending());
    let text = stacks(&registry.trace(id).unwrap());
    assert!(
        text.contains("mark async functions with #[frame] to record one"),
        "{text}"
    );
}

struct Service;

impl Service {
    #[monitor_core::frame]
    async fn handle(&self, reply: oneshot::Receiver<()>) -> &'static str {
        let _ = reply.await;
        "handled"
    }
}

#[test]
fn methods_generic_bounds_and_early_returns_keep_working() {
    #[monitor_core::frame]
    async fn early<T: Clone + Send>(value: T, skip: bool) -> Result<T, String> {
        if skip {
            return Err("skipped".to_owned());
        }
        let parsed: u8 = "7".parse().map_err(|_| "bad".to_owned())?;
        assert_eq!(parsed, 7);
        Ok(value.clone())
    }
    assert_eq!(
        futures_lite::future::block_on(early(3, true)),
        Err("skipped".into())
    );
    assert_eq!(futures_lite::future::block_on(early(3, false)), Ok(3));

    let registry = TaskRegistry::new();
    let service = Service;
    let (tx, rx) = oneshot::channel();
    let (id, mut task) = tracked(&registry, service.handle(rx));
    assert!(task.poll().is_pending());
    assert_eq!(outline(&FrameTree::of_live_task(id)), ["frames::handle"]);
    tx.send(()).unwrap();
    assert_eq!(task.poll(), Poll::Ready(Ok("handled")));
}
