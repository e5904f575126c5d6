//! [`TokioExecutor`]: the [`Executor`] implementation for tokio.

use monitor_core::{BoxedFuture, Executor};
use tokio::runtime::Handle;

/// Runs the monitor's futures on a tokio runtime.
///
/// Holds a [`Handle`], so it can spawn from any thread, including the
/// monitor's own thread, which is outside the runtime. Give it to
/// [`monitor_core::Spawner`] for runtime-agnostic tracked spawning, or to
/// the monitor so it can run asynchronous console commands on the
/// application's runtime.
///
/// Spawning after the runtime has shut down drops the future, which the
/// registry records as a cancelled task.
///
/// # Example
///
/// ```
/// use monitor_core::{Spawner, TaskRegistry};
/// use monitor_tokio::TokioExecutor;
///
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// let executor = TokioExecutor::from_handle(runtime.handle().clone());
/// let spawner = Spawner::new(executor, TaskRegistry::new());
///
/// let answer = spawner.task().name("answer").spawn(async { 6 * 7 });
/// assert_eq!(runtime.block_on(answer).unwrap(), 42);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct TokioExecutor {
    handle: Handle,
}

impl TokioExecutor {
    /// An executor for the runtime this is called from.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like [`Handle::current`]; use
    /// [`TokioExecutor::try_current`] or [`TokioExecutor::from_handle`]
    /// there.
    #[track_caller]
    #[expect(
        clippy::new_without_default,
        reason = "a Default that panics outside a runtime would surprise generic code"
    )]
    pub fn new() -> Self {
        Self::from_handle(Handle::current())
    }

    /// An executor for the runtime this is called from, or `None` outside
    /// a tokio runtime.
    pub fn try_current() -> Option<Self> {
        Handle::try_current().ok().map(Self::from_handle)
    }

    /// An executor for the runtime `handle` belongs to.
    pub fn from_handle(handle: Handle) -> Self {
        Self { handle }
    }

    /// The runtime handle tasks are spawned on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl From<Handle> for TokioExecutor {
    fn from(handle: Handle) -> Self {
        Self::from_handle(handle)
    }
}

impl Executor for TokioExecutor {
    fn spawn(&self, future: BoxedFuture) {
        // The monitor keeps its own handle on the task (through the
        // registry), so tokio's JoinHandle is not needed: dropping it
        // detaches the task.
        drop(self.handle.spawn(future));
    }
}
