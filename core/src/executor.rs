//! The one thing a runtime must provide: spawning a future.

use std::{future::Future, pin::Pin, sync::Arc};

/// A boxed, type-erased future as handed to [`Executor::spawn`].
pub type BoxedFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs futures on an async runtime.
///
/// This is the whole contract a runtime has to fulfil to get the monitor:
/// take a boxed `Send + 'static` future and drive it to completion on the
/// runtime's own threads, without blocking the caller. Everything else —
/// task records, names, join handles, cancellation, the console — is built on
/// top of it by [`Spawner`](crate::Spawner), so a home-grown executor gets the
/// same features as tokio or smol.
///
/// The trait is object safe: the monitor stores it as `Arc<dyn Executor>` and
/// uses it to run asynchronous console commands on the application's runtime.
///
/// # Example
///
/// A minimal executor that runs every future on a thread of its own. Real
/// runtimes multiplex tasks onto a few threads, but the contract is the same.
///
/// ```
/// use monitor_core::{BoxedFuture, Executor, Spawner, TaskRegistry};
///
/// #[derive(Debug)]
/// struct ThreadPerTask;
///
/// impl Executor for ThreadPerTask {
///     fn spawn(&self, future: BoxedFuture) {
///         std::thread::spawn(move || futures_lite::future::block_on(future));
///     }
/// }
///
/// let spawner = Spawner::new(ThreadPerTask, TaskRegistry::new());
/// let handle = spawner.task().name("answer").spawn(async { 6 * 7 });
/// assert_eq!(futures_lite::future::block_on(handle).unwrap(), 42);
/// ```
pub trait Executor: Send + Sync + 'static {
    /// Starts running `future` in the background.
    ///
    /// Must not block and must not poll the future on the caller's stack
    /// before returning: the caller may hold locks. If the runtime has shut
    /// down, dropping the future is the right thing to do; the monitor then
    /// records the task as cancelled.
    fn spawn(&self, future: BoxedFuture);
}

impl<E: Executor + ?Sized> Executor for Arc<E> {
    fn spawn(&self, future: BoxedFuture) {
        (**self).spawn(future);
    }
}

impl<E: Executor + ?Sized> Executor for Box<E> {
    fn spawn(&self, future: BoxedFuture) {
        (**self).spawn(future);
    }
}
