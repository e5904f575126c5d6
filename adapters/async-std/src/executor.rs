//! [`AsyncStdExecutor`]: the [`Executor`] implementation for async-std.

use monitor_core::{BoxedFuture, Executor};

/// Runs the monitor's futures on async-std's global runtime.
///
/// Give it to [`monitor_core::Spawner`] for runtime-agnostic tracked
/// spawning, or to the monitor so it can run asynchronous console commands
/// on the application's runtime.
///
/// # Example
///
/// ```
/// use monitor_core::{Spawner, TaskRegistry};
/// use monitor_async_std::AsyncStdExecutor;
///
/// let spawner = Spawner::new(AsyncStdExecutor::new(), TaskRegistry::new());
/// let answer = spawner.task().name("answer").spawn(async { 6 * 7 });
/// assert_eq!(async_std::task::block_on(answer).unwrap(), 42);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct AsyncStdExecutor {}

impl AsyncStdExecutor {
    /// The executor for async-std's global runtime.
    pub fn new() -> Self {
        Self {}
    }
}

impl Executor for AsyncStdExecutor {
    fn spawn(&self, future: BoxedFuture) {
        // Dropping async-std's JoinHandle detaches the task; the monitor
        // follows it through the registry.
        drop(async_std::task::spawn(future));
    }
}
