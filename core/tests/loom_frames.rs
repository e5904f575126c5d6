//! Model checking of the frame trees: linking, completing, unlinking and
//! detaching frames on the application's thread while the monitor reads the
//! tree on another, in every interleaving loom can find.
//!
//! ```sh
//! RUSTFLAGS="--cfg monitor_loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p monitor-core --release --test loom_frames
//! ```
//!
//! Besides data races on the links, loom reports a read of a frame the
//! monitor could still reach after the frame's `Drop` (each frame writes its
//! links one last time there, under loom): that is how a use-after-free
//! would show. Frames are dropped in place (`Pin::set(None)`) so the memory
//! itself stays valid for the checker to look at.
#![cfg(monitor_loom)]

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use loom::thread;
use monitor_core::{FrameNode, FrameTree, TaskId, TaskOptions, TaskRegistry, framed};

fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

fn outline(tree: &FrameTree) -> Vec<String> {
    fn walk(node: &FrameNode, depth: usize, out: &mut Vec<String>) {
        out.push(format!("{}{}", ">".repeat(depth), node.name));
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

/// Pending on its first poll, ready on the second.
#[derive(Default)]
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Runs `app` as the body of a tracked task's polls on one thread while
/// another reads the task's tree, and checks every read against `allowed`.
fn model(app: fn(&dyn Fn() -> Guard), allowed: &'static [&'static [&'static str]]) {
    loom::model(move || {
        let registry = TaskRegistry::new();
        let task = Arc::new(registry.register(TaskOptions::new()));
        let id: TaskId = task.id();
        let reader = thread::spawn(move || {
            let seen = outline(&FrameTree::of_live_task(id));
            assert!(
                allowed.iter().any(|ok| *ok == seen.as_slice()),
                "the monitor read an impossible tree: {seen:?}"
            );
        });
        let in_task = {
            let task = Arc::clone(&task);
            move || Guard(Some(task.poll_started()))
        };
        app(&in_task);
        reader.join().unwrap();
        assert!(FrameTree::of_live_task(id).is_empty());
    });
}

/// A poll of the tracked task in progress.
struct Guard(#[allow(dead_code)] Option<monitor_core::PollToken>);

#[test]
fn link_nested_then_drop_while_read() {
    model(
        |in_task| {
            let mut slot = Box::pin(Some(framed("outer", framed("inner", YieldOnce::default()))));
            {
                let _poll = in_task();
                assert!(poll(slot.as_mut().as_pin_mut().unwrap()).is_pending());
            }
            // Dropped outside the task's poll: the task ends with it.
            slot.as_mut().set(None);
        },
        &[&[], &["outer"], &["outer", ">inner"]],
    );
}

#[test]
fn complete_a_child_and_link_the_next_while_read() {
    model(
        |in_task| {
            let mut slot = Box::pin(Some(framed("outer", async {
                framed("a", YieldOnce::default()).await;
                framed("b", std::future::pending::<()>()).await;
            })));
            for _ in 0..2 {
                let _poll = in_task();
                assert!(poll(slot.as_mut().as_pin_mut().unwrap()).is_pending());
            }
            let _poll = in_task();
            // Dropped inside the task's poll, like a `select!` loser.
            slot.as_mut().set(None);
        },
        &[&[], &["outer"], &["outer", ">a"], &["outer", ">b"]],
    );
}

#[test]
fn parent_dropped_before_a_child_it_no_longer_owns_while_read() {
    model(
        |in_task| {
            let mut child = Box::pin(Some(framed("child", YieldOnce::default())));
            let child_ptr: *mut Pin<Box<Option<_>>> = &mut child;
            let mut parent = Box::pin(Some(framed(
                "parent",
                std::future::poll_fn(move |_| {
                    // SAFETY: `child` outlives `parent` and is not otherwise
                    // borrowed while `parent` is polled.
                    let child = unsafe { &mut *child_ptr };
                    let _ = poll(child.as_mut().as_pin_mut().unwrap());
                    Poll::<()>::Pending
                }),
            )));
            {
                let _poll = in_task();
                assert!(poll(parent.as_mut().as_pin_mut().unwrap()).is_pending());
            }
            parent.as_mut().set(None);
            child.as_mut().set(None);
        },
        &[&[], &["parent"], &["parent", ">child"]],
    );
}
