//! Await stacks on every runtime: frames recorded by marked async functions.
//!
//! Mark an async function with [`#[frame]`](crate::frame) (or wrap any
//! future with [`framed`]) and, while it is pending inside a tracked task,
//! `where TASK_ID` lists it with its location, nested under the marked
//! functions that awaited it:
//!
//! ```text
//! Await stack (from #[frame] marks, innermost last):
//!   demo::reporter at adapters/tokio/examples/demo.rs:120:10
//!     demo::wait_for_reports at adapters/tokio/examples/demo.rs:131:10
//! ```
//!
//! It works the same on tokio, smol, async-std and custom executors, on
//! stable Rust, and it never needs the application's runtime to answer: the
//! monitor reads the tree under a small per-task lock.
//!
//! # What it costs
//!
//! Unmarked code pays nothing. A marked call costs, on its first poll, one
//! uncontended lock of its task's tree (plus, for the outermost marked
//! call of a task, one lock of a shard of a side table) and the same again
//! when it completes; every poll of it swaps a thread-local pointer in and
//! out. Nothing is allocated per poll; a task's tree entry (one small
//! allocation) exists while it has a pending marked call.
//! `docs/PERFORMANCE.md` compares it with `async-backtrace`.
//!
//! # Where frames go
//!
//! A marked future polled for the first time inside another marked future
//! of the same task becomes its child (a `join!` gives a parent several
//! children); otherwise it becomes a root of the task being polled
//! ([`current_task`](crate::current_task)). Marked futures polled outside
//! any tracked task are not recorded. A marked future leaves the tree when
//! it completes or is dropped, so the tree shows pending calls only.
//!
//! When a task ends while marked calls were pending (it was cancelled,
//! panicked, or its runtime dropped it), the tree it had is kept for
//! `where-terminated` ([`FrameTree::at_end`]), for the last
//! [`KEPT_TREES`] such tasks. A task that completes normally has no pending
//! calls left, so nothing is kept for it: keeping costs one allocation and
//! one global lock per abnormally ended task, and nothing otherwise.

mod node;
pub(crate) mod sync;

use std::{
    collections::VecDeque,
    fmt,
    future::{Future, IntoFuture},
    panic::Location,
    pin::Pin,
    sync::Mutex,
    task::{Context, Poll},
};

use pin_project_lite::pin_project;
use serde::Serialize;

use crate::{TaskId, TaskTrace};
use node::{FlatFrame, Frame};

pin_project! {
    /// A future recorded as a frame of its task's await stack.
    ///
    /// Made by [`framed`] or by the [`#[frame]`](crate::frame) attribute;
    /// polls the inner future unchanged and resolves to its output.
    ///
    /// The frame is linked into its task's tree on the first poll and
    /// unlinked when the future completes or is dropped.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Framed<F> {
        #[pin]
        frame: Frame,
        #[pin]
        inner: F,
    }
}

impl<F> Framed<F> {
    /// Wraps `future` in a frame called `name`, located at the caller.
    ///
    /// The [`#[frame]`](crate::frame) attribute calls this with the
    /// function's path, located at the function's name.
    #[track_caller]
    pub fn new(name: &'static str, future: F) -> Self {
        Self {
            frame: Frame::new(name, Location::caller()),
            inner: future,
        }
    }
}

impl<F> fmt::Debug for Framed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framed").finish_non_exhaustive()
    }
}

impl<F: Future> Future for Framed<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let frame = this.frame.into_ref().get_ref();
        // SAFETY: `frame` is a pinned field of a pinned future.
        let active = unsafe { frame.enter() };
        let output = this.inner.poll(cx);
        drop(active);
        if output.is_ready() {
            frame.complete();
        }
        output
    }
}

/// Records `future` as a frame called `name` of the awaiting task's stack,
/// located where `framed` is called.
///
/// The function form of [`#[frame]`](crate::frame), for futures that are
/// not an `async fn` of your own: a channel receive, a future from another
/// crate, an `async` block.
///
/// ```
/// use std::future::Future as _;
///
/// use monitor_core::{FrameTree, TaskOptions, TaskRegistry, framed};
///
/// let registry = TaskRegistry::new();
/// let (sender, receiver) = futures_channel::oneshot::channel::<u32>();
/// let task = registry.instrument(
///     framed("wait for the answer", receiver),
///     TaskOptions::new(),
/// );
/// let id = task.id();
/// let mut task = Box::pin(task);
/// let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// assert!(task.as_mut().poll(&mut cx).is_pending());
///
/// let tree = FrameTree::of_live_task(id);
/// assert_eq!(tree.roots[0].name, "wait for the answer");
/// # drop(sender);
/// ```
#[track_caller]
pub fn framed<F: IntoFuture>(name: &'static str, future: F) -> Framed<F::IntoFuture> {
    Framed::new(name, future.into_future())
}

/// One pending frame, with the frames it is awaiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FrameNode {
    /// The marked function's path (`my_app::handlers::fetch`) or the name
    /// given to [`framed`].
    pub name: String,
    /// Where it was marked, as `file:line:column`.
    pub location: String,
    /// Marked calls it is awaiting, oldest first.
    pub children: Vec<FrameNode>,
}

/// The pending frames of one task: a forest, since a task whose outermost
/// future is not marked may await several marked calls at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FrameTree {
    /// Outermost frames, oldest first.
    pub roots: Vec<FrameNode>,
    /// More than [`MAX_FRAMES`] frames were pending; the rest are left out.
    pub truncated: bool,
}

/// The most frames one [`FrameTree`] holds.
pub const MAX_FRAMES: usize = node::MAX_FRAMES_PER_READ;

/// How many ended tasks' last trees [`FrameTree::at_end`] remembers.
pub const KEPT_TREES: usize = 1000;

impl FrameTree {
    /// The frames task `id` is awaiting right now; empty when it has no
    /// marked call pending (or has ended).
    ///
    /// Never waits for the task's runtime: it takes the task's tree lock
    /// just long enough to copy a pointer pair per frame, so it answers
    /// while every worker is blocked and delays the task's own frame
    /// bookkeeping by at most that copy.
    pub fn of_live_task(id: TaskId) -> Self {
        let mut flat = Vec::new();
        let truncated = node::read_task(id, &mut flat);
        Self::from_flat(&flat, truncated)
    }

    /// The frames task `id` was awaiting when it ended, if it ended with
    /// marked calls pending (cancelled, panicked, dropped by its runtime)
    /// and is among the last [`KEPT_TREES`] such tasks; empty otherwise.
    pub fn at_end(id: TaskId) -> Self {
        match ended::find(id) {
            Some(flat) => Self::from_flat(&flat, false),
            None => Self::default(),
        }
    }

    /// No frame is pending.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Builds the tree from a depth-first list whose siblings come newest
    /// first, as the intrusive lists hold them.
    fn from_flat(flat: &[FlatFrame], truncated: bool) -> Self {
        fn reverse(nodes: &mut [FrameNode]) {
            nodes.reverse();
            for node in nodes {
                reverse(&mut node.children);
            }
        }
        // A frame at depth `d` is a child of the latest frame at `d - 1`.
        let mut roots: Vec<FrameNode> = Vec::new();
        for &(depth, name, location) in flat {
            let node = FrameNode {
                name: name.to_owned(),
                location: location.to_string(),
                children: Vec::new(),
            };
            let mut siblings = &mut roots;
            for _ in 0..depth {
                // Depth-first order guarantees a parent one level up.
                if siblings.is_empty() {
                    break;
                }
                siblings = &mut siblings.last_mut().expect("checked above").children;
            }
            siblings.push(node);
        }
        reverse(&mut roots);
        Self { roots, truncated }
    }
}

/// Indented lines, outermost first, innermost last:
/// `name at file:line:column`.
impl fmt::Display for FrameTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write_node(f: &mut fmt::Formatter<'_>, node: &FrameNode, depth: usize) -> fmt::Result {
            writeln!(
                f,
                "{:indent$}{} at {}",
                "",
                node.name,
                node.location,
                indent = depth * 2
            )?;
            node.children
                .iter()
                .try_for_each(|child| write_node(f, child, depth + 1))
        }
        self.roots
            .iter()
            .try_for_each(|root| write_node(f, root, 0))?;
        if self.truncated {
            writeln!(
                f,
                "(more than {MAX_FRAMES} frames pending; the rest left out)"
            )?;
        }
        Ok(())
    }
}

impl TaskTrace {
    /// Writes the await-stack part of `where`: the pending
    /// [`#[frame]`](macro@crate::frame) calls, then the runtime's own dump,
    /// each under a heading that names its source; or a line saying why
    /// there is none and how to get one.
    ///
    /// ```text
    /// Await stack (from #[frame] marks, innermost last):
    ///   my_app::serve at src/main.rs:40:1
    ///     my_app::read_request at src/main.rs:52:1
    /// ```
    ///
    /// # Errors
    ///
    /// Only those of `out`.
    pub fn write_await_stacks(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let ended = self.task.ended.is_some();
        if !self.frames.is_empty() {
            writeln!(
                out,
                "{} (from #[frame] marks, innermost last):",
                if ended {
                    "Await stack when it ended"
                } else {
                    "Await stack"
                }
            )?;
            let tree = FrameTree {
                roots: self.frames.clone(),
                truncated: self.frames_truncated,
            };
            for line in tree.to_string().lines() {
                writeln!(out, "  {line}")?;
            }
        }
        if let Some(stack) = &self.stack {
            writeln!(
                out,
                "Await stack (from {}):",
                self.stack_source.as_deref().unwrap_or("runtime adapter")
            )?;
            for line in stack.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        if self.frames.is_empty() && self.stack.is_none() {
            if ended {
                writeln!(
                    out,
                    "(no await stack kept: no #[frame]-marked call was pending when it ended)"
                )?;
            } else {
                writeln!(
                    out,
                    "(no await stack: no #[frame]-marked call is pending; mark async functions \
                     with #[frame] to record one)"
                )?;
            }
        }
        Ok(())
    }
}

/// The trees of tasks that ended with marked calls pending.
mod ended {
    use super::*;

    struct Kept {
        id: TaskId,
        frames: Vec<FlatFrame>,
        /// Taken by the innermost frame while a panic unwound the task:
        /// complete, unlike what the drops after the unwinding still see.
        at_panic: bool,
    }

    // A plain std mutex even under loom: only the ending path takes it.
    static KEPT: Mutex<VecDeque<Kept>> = Mutex::new(VecDeque::new());

    fn lock() -> std::sync::MutexGuard<'static, VecDeque<Kept>> {
        KEPT.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn find(id: TaskId) -> Option<Vec<FlatFrame>> {
        lock()
            .iter()
            .rev()
            .find(|kept| kept.id == id)
            .map(|kept| kept.frames.clone())
    }

    fn push(kept: &mut VecDeque<Kept>, entry: Kept) {
        if kept.len() >= KEPT_TREES {
            kept.pop_front();
        }
        kept.push_back(entry);
    }

    /// Remembers `frames` (one root's subtree, dropped with the task) as
    /// part of task `id`'s last tree; several roots of one task ending
    /// together are merged. A tree kept at a panic is complete already.
    pub(crate) fn keep(id: TaskId, mut frames: Vec<FlatFrame>) {
        let mut kept = lock();
        if let Some(last) = kept.back_mut()
            && last.id == id
        {
            if !last.at_panic {
                // Roots are listed newest first; this one was dropped later.
                frames.append(&mut last.frames);
                last.frames = frames;
            }
            return;
        }
        push(
            &mut kept,
            Kept {
                id,
                frames,
                at_panic: false,
            },
        );
    }

    /// Remembers task `id`'s whole tree as a panic unwinds it.
    pub(crate) fn keep_at_panic(id: TaskId, frames: Vec<FlatFrame>) {
        let mut kept = lock();
        kept.retain(|kept| kept.id != id);
        push(
            &mut kept,
            Kept {
                id,
                frames,
                at_panic: true,
            },
        );
    }
}
