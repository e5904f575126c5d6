//! Deliberately broken runtimes, to prove the suite catches them.
//!
//! A conformance suite that passes everything is worthless; the crate's
//! `tests/broken.rs` runs contracts against these with `#[should_panic]`.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use monitor_core::{BoxedFuture, Executor};

use crate::{
    custom::{self, ThreadPool},
    runtime::{LocalFuture, RuntimeUnderTest},
};

/// How a [`BrokenRuntime`] mistreats the futures it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Breakage {
    /// Drops every future without polling it, as a runtime that has shut
    /// down does, while pretending to be running.
    NeverPolls,
    /// Polls every future once with a waker that does nothing, then keeps
    /// it forever: wake-ups (including a cancel's) are lost, so tasks never
    /// finish and cancelled futures are never dropped.
    PollsOnce,
    /// Runs futures on a pool whose workers are never named, and claims a
    /// worker name anyway: checks of where tasks run must fail.
    WrongThreads,
}

/// A [`ThreadPool`] whose executor is broken as [`Breakage`] says.
#[derive(Debug)]
pub struct BrokenRuntime {
    pool: ThreadPool,
    breakage: Breakage,
}

impl BrokenRuntime {
    /// A two-worker pool broken as `breakage` says.
    pub fn new(breakage: Breakage) -> Self {
        Self {
            pool: ThreadPool::new("broken-pool", 2),
            breakage,
        }
    }
}

#[derive(Debug)]
struct BrokenExecutor {
    pool: ThreadPool,
    breakage: Breakage,
}

/// Polls its future once, then never again, and never drops it.
struct PollOnce(Option<BoxedFuture>);

impl Future for PollOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if let Some(mut future) = self.0.take() {
            let _ = future
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
            // Leaked on purpose: this is the bug being simulated.
            std::mem::forget(future);
        }
        Poll::Ready(())
    }
}

impl Executor for BrokenExecutor {
    fn spawn(&self, future: BoxedFuture) {
        match self.breakage {
            Breakage::NeverPolls => drop(future),
            Breakage::PollsOnce => self.pool.spawn(Box::pin(PollOnce(Some(future)))),
            Breakage::WrongThreads => {
                // A plain thread per future, unnamed: works, but not on the
                // threads the runtime claims.
                std::thread::spawn(move || custom::block_on(future));
            }
        }
    }
}

impl RuntimeUnderTest for BrokenRuntime {
    fn name(&self) -> &str {
        match self.breakage {
            Breakage::NeverPolls => "broken-never-polls",
            Breakage::PollsOnce => "broken-polls-once",
            Breakage::WrongThreads => "broken-wrong-threads",
        }
    }

    fn executor(&self) -> Arc<dyn Executor> {
        Arc::new(BrokenExecutor {
            pool: self.pool.clone(),
            breakage: self.breakage,
        })
    }

    fn block_on(&self, future: LocalFuture<'_>) {
        custom::block_on(future);
    }

    fn workers(&self) -> Option<usize> {
        Some(self.pool.workers())
    }

    fn worker_thread_name(&self) -> Option<String> {
        Some(self.pool.thread_name())
    }
}

impl Drop for BrokenRuntime {
    fn drop(&mut self) {
        self.pool.shutdown();
    }
}
