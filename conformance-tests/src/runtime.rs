//! The [`RuntimeUnderTest`] trait: what the suite needs to know about a
//! runtime, and helpers to run futures on it with a deadline.

use std::{
    fmt,
    future::Future,
    panic::Location,
    pin::Pin,
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
    thread,
    time::Duration,
};

use futures_lite::FutureExt as _;
use monitor_core::{BoxedFuture, Executor, TaskRegistry};

/// A future handed to [`RuntimeUnderTest::block_on`]. It may borrow from the
/// caller's stack (the contracts use that to hand results back) and need not
/// be `Send`, because `block_on` runs it on the calling thread.
pub type LocalFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// What a runtime genuinely cannot do, so that a contract depending on it
/// can say so instead of failing, or passing without testing anything.
///
/// The defaults describe a general-purpose runtime: no limit on live tasks.
/// Worker threads are declared separately with
/// [`RuntimeUnderTest::workers`], because every runtime must answer that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The most tasks the runtime can hold alive at once, for runtimes with
    /// fixed task pools (embedded executors). `None` means no fixed limit;
    /// the large-listing contract then uses 10 000 tasks.
    pub task_capacity: Option<usize>,
}

impl Capabilities {
    /// A general-purpose runtime: no limit on live tasks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a fixed limit on live tasks.
    pub fn task_capacity(mut self, capacity: usize) -> Self {
        self.task_capacity = Some(capacity);
        self
    }
}

/// A runtime the conformance suite runs its contracts against.
///
/// Implement it for your runtime (a few lines, see the crate docs), then
/// let [`conformance_suite!`](crate::conformance_suite) turn every contract
/// into a test. The suite calls your factory once per test, so each
/// contract gets a fresh runtime where the runtime allows it; runtimes with
/// one process-wide pool (async-std) simply return a view of it.
///
/// The trait is object safe: contracts take `&dyn RuntimeUnderTest`.
pub trait RuntimeUnderTest: Send + Sync {
    /// A short name for messages, e.g. `tokio-multi-thread`.
    fn name(&self) -> &str;

    /// The runtime's [`Executor`]: contracts build a
    /// [`Spawner`](monitor_core::Spawner) on it and hand it to the monitor
    /// for asynchronous commands.
    fn executor(&self) -> Arc<dyn Executor>;

    /// Runs `future` to completion on the calling (test) thread, the way
    /// the runtime's own `block_on` does.
    ///
    /// Tasks spawned through [`executor`](Self::executor) must keep making
    /// progress on the runtime's workers while this runs, and while it does
    /// not: contracts also wait for tasks by polling the registry from the
    /// test thread.
    fn block_on(&self, future: LocalFuture<'_>);

    /// How many worker threads poll the runtime's tasks, or `None` for a
    /// runtime that has no fixed set of workers (a thread per task, or a
    /// runtime that only runs inside `block_on`). Used by the contract that
    /// blocks every worker and checks the console still answers.
    fn workers(&self) -> Option<usize>;

    /// Text contained in the name of every worker thread (e.g.
    /// `tokio-runtime-worker`), when the workers can be recognised by name.
    /// Lets contracts check that tasks and asynchronous commands run on the
    /// runtime's own threads. `None` when worker threads are unnamed.
    fn worker_thread_name(&self) -> Option<String> {
        None
    }

    /// What the runtime cannot do; see [`Capabilities`].
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// The runtime adapter's own tracked spawn function (such as
    /// `monitor_tokio::task()`), which applications call instead of going
    /// through the [`Executor`]. `None` (the default) when the runtime has
    /// none; the contracts about it then say they do not apply.
    fn native_spawn(&self) -> Option<Arc<dyn NativeSpawn>> {
        None
    }
}

/// A runtime adapter's own tracked spawn function, for the contracts that
/// check what it records and how its handle reports a monitor cancel.
///
/// The adapters' spawn functions differ in what they return (tokio's
/// `JoinHandle`, smol's `Task`, ...), so an implementation translates the
/// handle's outcome into a [`NativeTask`]. It must be `'static` and
/// shareable: contracts spawn from inside tasks too, to check parents.
///
/// ```
/// use std::sync::Arc;
///
/// use conformance_tests::{NativeOutcome, NativeSpawn, NativeTask};
/// use monitor_core::{BoxedFuture, JoinError, Spawner, TaskRegistry};
///
/// /// `Spawner` stands in for a runtime adapter's spawn function here.
/// struct ViaSpawner(conformance_tests::custom::ThreadPool);
///
/// impl NativeSpawn for ViaSpawner {
///     fn spawn(&self, registry: Arc<TaskRegistry>, name: &str, future: BoxedFuture) -> NativeTask {
///         let spawner = Spawner::new(self.0.clone(), registry);
///         // This line is the spawn location the registry must record.
///         let handle = spawner.task().name(name).spawn(future);
///         NativeTask::new(async move {
///             match handle.await {
///                 Ok(()) => NativeOutcome::Completed,
///                 Err(JoinError::Cancelled(_)) => NativeOutcome::Cancelled,
///                 Err(err) => NativeOutcome::Failed(err.to_string()),
///             }
///         })
///     }
/// }
/// ```
pub trait NativeSpawn: Send + Sync {
    /// Spawns `future` as a task named `name`, recorded in `registry`,
    /// through the adapter's own spawn function, called in the
    /// implementation itself: the registry must record that call as the
    /// task's spawn location, and the tracked task (if any) calling this
    /// method as its parent.
    ///
    /// Return [`NativeTask::new`] from the same source file, which is how
    /// the contracts know what location to expect.
    fn spawn(&self, registry: Arc<TaskRegistry>, name: &str, future: BoxedFuture) -> NativeTask;
}

/// How a task spawned through [`NativeSpawn`] ended, as its own handle
/// (tokio's `JoinHandle`, smol's `Task`, ...) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeOutcome {
    /// The future ran to completion.
    Completed,
    /// The task was cancelled: its handle says so in the runtime's own way
    /// (for tokio, a `JoinError` with `is_cancelled()`).
    Cancelled,
    /// Anything else (a panic), described for assertion messages.
    Failed(String),
}

/// The handle of a task spawned through [`NativeSpawn`]: a future resolving
/// to its [`NativeOutcome`].
///
/// Dropping it does what dropping the runtime's own handle does (detach for
/// tokio and async-std, cancel for smol), so the contracts keep it until the
/// task has ended.
#[must_use = "await the task's outcome; dropping the handle may cancel the task"]
pub struct NativeTask {
    outcome: Pin<Box<dyn Future<Output = NativeOutcome> + Send>>,
    built_in: &'static str,
}

impl NativeTask {
    /// Wraps the future that awaits the runtime's own handle. Call it in
    /// the file that calls the adapter's spawn function: that file is where
    /// the contracts expect the recorded spawn location.
    #[track_caller]
    pub fn new(outcome: impl Future<Output = NativeOutcome> + Send + 'static) -> Self {
        Self {
            outcome: Box::pin(outcome),
            built_in: Location::caller().file(),
        }
    }

    /// The source file [`NativeTask::new`] was called from.
    pub fn spawned_in(&self) -> &'static str {
        self.built_in
    }
}

impl fmt::Debug for NativeTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeTask")
            .field("spawned_in", &self.built_in)
            .finish_non_exhaustive()
    }
}

impl Future for NativeTask {
    type Output = NativeOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<NativeOutcome> {
        self.outcome.as_mut().poll(cx)
    }
}

impl<R: RuntimeUnderTest + ?Sized> RuntimeUnderTest for Box<R> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn executor(&self) -> Arc<dyn Executor> {
        (**self).executor()
    }
    fn block_on(&self, future: LocalFuture<'_>) {
        (**self).block_on(future);
    }
    fn workers(&self) -> Option<usize> {
        (**self).workers()
    }
    fn worker_thread_name(&self) -> Option<String> {
        (**self).worker_thread_name()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn native_spawn(&self) -> Option<Arc<dyn NativeSpawn>> {
        (**self).native_spawn()
    }
}

impl<R: RuntimeUnderTest + ?Sized> RuntimeUnderTest for Arc<R> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn executor(&self) -> Arc<dyn Executor> {
        (**self).executor()
    }
    fn block_on(&self, future: LocalFuture<'_>) {
        (**self).block_on(future);
    }
    fn workers(&self) -> Option<usize> {
        (**self).workers()
    }
    fn worker_thread_name(&self) -> Option<String> {
        (**self).worker_thread_name()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn native_spawn(&self) -> Option<Arc<dyn NativeSpawn>> {
        (**self).native_spawn()
    }
}

impl fmt::Debug for dyn RuntimeUnderTest + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeUnderTest")
            .field("name", &self.name())
            .field("workers", &self.workers())
            .finish_non_exhaustive()
    }
}

/// Runs `future` on `rt` through [`RuntimeUnderTest::block_on`] and returns
/// its output, panicking with `what` if it takes longer than `timeout`.
///
/// Every wait in the contracts is bounded like this, so a broken runtime
/// (one that never polls a task again, say) fails a contract instead of
/// hanging the test run.
#[track_caller]
pub fn block_on_within<T>(
    rt: &dyn RuntimeUnderTest,
    timeout: Duration,
    what: &str,
    future: impl Future<Output = T>,
) -> T {
    let mut output = None;
    let slot = &mut output;
    rt.block_on(Box::pin(async move {
        let timed = async { Some(future.await) }.or(async {
            Timer::new(timeout).await;
            None
        });
        *slot = Some(timed.await);
    }));
    match output {
        Some(Some(value)) => value,
        Some(None) => panic!(
            "[{}] timed out after {timeout:?} waiting for {what}",
            rt.name()
        ),
        None => panic!(
            "[{}] block_on returned before the future completed ({what})",
            rt.name()
        ),
    }
}

/// A runtime-independent timer: a helper thread wakes the future once the
/// duration has passed, and leaves early when the timer is dropped.
///
/// The suite cannot use a runtime's own timer (it tests any runtime), and
/// one short-lived thread per bounded wait is cheap at test scale.
#[derive(Debug)]
pub struct Timer {
    duration: Duration,
    shared: Arc<TimerShared>,
    started: bool,
}

#[derive(Debug, Default)]
struct TimerShared {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
    dropped: Mutex<bool>,
    wake_thread: Condvar,
}

impl Timer {
    /// A timer that fires `duration` after it is first polled.
    pub fn new(duration: Duration) -> Self {
        Self {
            duration,
            shared: Arc::default(),
            started: false,
        }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *self.shared.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        if !self.started {
            self.started = true;
            let shared = Arc::clone(&self.shared);
            let duration = self.duration;
            thread::Builder::new()
                .name("conformance-timer".into())
                .spawn(move || {
                    let dropped = shared.dropped.lock().unwrap_or_else(|e| e.into_inner());
                    let (dropped, _) = shared
                        .wake_thread
                        .wait_timeout_while(dropped, duration, |dropped| !*dropped)
                        .unwrap_or_else(|e| e.into_inner());
                    if *dropped {
                        return;
                    }
                    drop(dropped);
                    shared.fired.store(true, Ordering::Release);
                    if let Some(waker) = shared
                        .waker
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take()
                    {
                        waker.wake();
                    }
                })
                .expect("could not start a timer thread");
        }
        // Checked again: the thread may have fired between the first check
        // and the waker being stored.
        if self.shared.fired.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        *self
            .shared
            .dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake_thread.notify_all();
    }
}
