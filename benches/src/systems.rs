//! The systems compared: a runtime, bare or with one kind of task
//! instrumentation. Each workload is written once, generic over [`System`],
//! so every system runs exactly the same task bodies.

use std::{future::Future, sync::Arc, thread, time::Duration};

use monitor_core::{Cancelled, TaskIntrospect as _, TaskOptions, TaskRegistry};

/// A runtime plus the way tasks are spawned on it.
pub(crate) trait System: Send + Sync + 'static {
    /// What `spawn` returns; awaiting it waits for the task.
    type Handle: Future + Send + 'static;

    /// `runtime/system`, e.g. `tokio/tracked`.
    fn label(&self) -> Label;

    /// Spawns `future` the way this system spawns every task.
    fn spawn<F>(&self, future: F) -> Self::Handle
    where
        F: Future<Output = ()> + Send + 'static;

    /// Runs `future` as a task of the runtime and blocks the calling thread
    /// until it finishes, so that spawns inside it come from a worker, as
    /// they do in an application.
    fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// The runtime's own `yield_now`.
    fn yield_now() -> impl Future<Output = ()> + Send;

    /// The runtime's own timer.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;

    /// Stops tasks that would otherwise never finish, and returns once
    /// they are gone (so their memory is not freed during the next
    /// measurement).
    fn cancel(&self, handles: Vec<Self::Handle>);
}

/// Which runtime and which instrumentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label {
    pub(crate) runtime: &'static str,
    pub(crate) system: &'static str,
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.runtime, self.system)
    }
}

pub(crate) const BARE: &str = "bare";
pub(crate) const TRACKED: &str = "tracked";
pub(crate) const TRACKED_CORE: &str = "tracked-core";
pub(crate) const TRACKED_PRECISE: &str = "tracked-precise";
pub(crate) const BACKTRACE: &str = "async-backtrace";
pub(crate) const TOKIO_METRICS: &str = "tokio-metrics";
#[cfg(feature = "console")]
pub(crate) const CONSOLE: &str = "console-subscriber";

/// Worker threads of every runtime: the machine's two cores.
pub(crate) const WORKERS: usize = 2;

// ---- tokio -----------------------------------------------------------------

/// A multi-thread tokio runtime with [`WORKERS`] workers.
pub(crate) fn tokio_runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_time()
            .build()
            .expect("tokio runtime"),
    )
}

/// How tasks are wrapped before `tokio::spawn`.
#[derive(Debug, Clone)]
pub(crate) enum TokioKind {
    /// `tokio::spawn(future)`.
    Bare,
    /// `monitor_tokio::task().registry(registry).spawn(future)`: what an
    /// application writes.
    Tracked(Arc<TaskRegistry>),
    /// The same with a registry built with `precise_timing(true)`.
    TrackedPrecise(Arc<TaskRegistry>),
    /// `tokio::spawn(registry.instrument(future, TaskOptions::new()))`: the
    /// core's part of `Tracked` alone, without the adapter's canceller and
    /// abort handle, to tell the two costs apart.
    TrackedCore(Arc<TaskRegistry>),
    /// `tokio::spawn(framed(future))` with an `#[async_backtrace::framed]`
    /// root frame.
    Backtrace,
    /// `tokio::spawn(task_monitor.instrument(future))`.
    Metrics(tokio_metrics::TaskMonitor),
}

/// tokio with one [`TokioKind`].
#[derive(Debug)]
pub(crate) struct Tokio {
    pub(crate) runtime: Arc<tokio::runtime::Runtime>,
    pub(crate) kind: TokioKind,
    pub(crate) name: &'static str,
}

impl Tokio {
    pub(crate) fn new(runtime: &Arc<tokio::runtime::Runtime>, kind: TokioKind) -> Self {
        let name = match &kind {
            TokioKind::Bare => BARE,
            TokioKind::Tracked(_) => TRACKED,
            TokioKind::TrackedPrecise(_) => TRACKED_PRECISE,
            TokioKind::TrackedCore(_) => TRACKED_CORE,
            TokioKind::Backtrace => BACKTRACE,
            TokioKind::Metrics(_) => TOKIO_METRICS,
        };
        Self {
            runtime: Arc::clone(runtime),
            kind,
            name,
        }
    }
}

#[async_backtrace::framed]
async fn framed<F: Future<Output = ()>>(future: F) {
    future.await
}

/// The join handles of the different tokio systems, which differ only in
/// their output type.
#[derive(Debug)]
pub(crate) enum TokioHandle {
    Unit(tokio::task::JoinHandle<()>),
    Tracked(tokio::task::JoinHandle<Result<(), Cancelled>>),
}

impl Future for TokioHandle {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        // Both handle types are Unpin; the result is not needed.
        match self.get_mut() {
            TokioHandle::Unit(handle) => std::pin::Pin::new(handle).poll(cx).map(drop),
            TokioHandle::Tracked(handle) => std::pin::Pin::new(handle).poll(cx).map(drop),
        }
    }
}

impl System for Tokio {
    type Handle = TokioHandle;

    fn label(&self) -> Label {
        Label {
            runtime: "tokio",
            system: self.name,
        }
    }

    fn spawn<F>(&self, future: F) -> TokioHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.runtime.handle();
        match &self.kind {
            TokioKind::Bare => TokioHandle::Unit(handle.spawn(future)),
            TokioKind::Tracked(registry) | TokioKind::TrackedPrecise(registry) => {
                TokioHandle::Unit(
                    monitor_tokio::task()
                        .registry(Arc::clone(registry))
                        .handle(handle.clone())
                        .spawn(future),
                )
            }
            TokioKind::TrackedCore(registry) => {
                TokioHandle::Tracked(handle.spawn(registry.instrument(future, TaskOptions::new())))
            }
            TokioKind::Backtrace => TokioHandle::Unit(handle.spawn(framed(future))),
            TokioKind::Metrics(monitor) => {
                TokioHandle::Unit(handle.spawn(monitor.instrument(future)))
            }
        }
    }

    fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.runtime.spawn(future);
        self.runtime.block_on(task).expect("benchmark driver task")
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }

    fn cancel(&self, handles: Vec<TokioHandle>) {
        for handle in &handles {
            match handle {
                TokioHandle::Unit(handle) => handle.abort(),
                TokioHandle::Tracked(handle) => handle.abort(),
            }
        }
        // An aborted task's handle resolves once its future is dropped.
        self.run(async move {
            for handle in handles {
                handle.await;
            }
        });
    }
}

// ---- smol ------------------------------------------------------------------

/// A `smol::Executor` run by [`WORKERS`] threads, the usual way to get a
/// multi-threaded smol (its global `smol::spawn` defaults to one thread).
#[derive(Debug)]
pub(crate) struct SmolRuntime {
    pub(crate) executor: Arc<smol::Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl SmolRuntime {
    pub(crate) fn new() -> Arc<Self> {
        let executor = Arc::new(smol::Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let threads = (0..WORKERS)
            .map(|i| {
                let executor = Arc::clone(&executor);
                let stopped = stopped.clone();
                thread::Builder::new()
                    .name(format!("smol-worker-{i}"))
                    .spawn(move || {
                        smol::block_on(executor.run(async {
                            let _ = stopped.recv().await;
                        }));
                    })
                    .expect("smol worker thread")
            })
            .collect();
        Arc::new(Self {
            executor,
            stop: Some(stop),
            threads,
        })
    }
}

impl Drop for SmolRuntime {
    fn drop(&mut self) {
        // Closing the channel ends every worker's `run`.
        self.stop.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// smol, bare or tracked.
#[derive(Debug)]
pub(crate) struct Smol {
    pub(crate) runtime: Arc<SmolRuntime>,
    pub(crate) registry: Option<Arc<TaskRegistry>>,
}

/// smol's task handle for either variant.
pub(crate) enum SmolHandle {
    Unit(smol::Task<()>),
    Tracked(monitor_smol::FallibleTask<()>),
}

impl std::fmt::Debug for SmolHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmolHandle")
    }
}

impl Future for SmolHandle {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        match self.get_mut() {
            SmolHandle::Unit(task) => std::pin::Pin::new(task).poll(cx),
            SmolHandle::Tracked(task) => std::pin::Pin::new(task).poll(cx).map(drop),
        }
    }
}

impl System for Smol {
    type Handle = SmolHandle;

    fn label(&self) -> Label {
        Label {
            runtime: "smol",
            system: if self.registry.is_some() {
                TRACKED
            } else {
                BARE
            },
        }
    }

    fn spawn<F>(&self, future: F) -> SmolHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.registry {
            None => SmolHandle::Unit(self.runtime.executor.spawn(future)),
            Some(registry) => SmolHandle::Tracked(
                monitor_smol::task()
                    .registry(Arc::clone(registry))
                    .executor(&self.runtime.executor)
                    .spawn(future)
                    .fallible(),
            ),
        }
    }

    fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        smol::block_on(self.runtime.executor.spawn(future))
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        smol::future::yield_now()
    }

    async fn sleep(duration: Duration) {
        smol::Timer::after(duration).await;
    }

    fn cancel(&self, handles: Vec<SmolHandle>) {
        smol::block_on(async {
            for handle in handles {
                match handle {
                    SmolHandle::Unit(task) => drop(task.cancel().await),
                    SmolHandle::Tracked(task) => {
                        // The adapter's handle cancels on drop without
                        // waiting; a monitor cancel resolves it once the
                        // future is gone.
                        if let Some(registry) = &self.registry {
                            let _ = registry.cancel(task.id());
                        }
                        let _ = task.await;
                    }
                }
            }
        });
    }
}

// ---- async-std -------------------------------------------------------------

/// async-std's global runtime (its thread count is pinned to [`WORKERS`] by
/// `ASYNC_STD_THREAD_COUNT` at start-up), bare or tracked.
#[derive(Debug)]
pub(crate) struct AsyncStd {
    pub(crate) registry: Option<Arc<TaskRegistry>>,
}

/// async-std's task handle for either variant.
#[derive(Debug)]
pub(crate) enum AsyncStdHandle {
    Unit(async_std::task::JoinHandle<()>),
    Tracked(monitor_async_std::JoinHandle<()>),
}

impl Future for AsyncStdHandle {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        match self.get_mut() {
            AsyncStdHandle::Unit(task) => std::pin::Pin::new(task).poll(cx),
            AsyncStdHandle::Tracked(task) => std::pin::Pin::new(task).poll(cx).map(drop),
        }
    }
}

impl System for AsyncStd {
    type Handle = AsyncStdHandle;

    fn label(&self) -> Label {
        Label {
            runtime: "async-std",
            system: if self.registry.is_some() {
                TRACKED
            } else {
                BARE
            },
        }
    }

    fn spawn<F>(&self, future: F) -> AsyncStdHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.registry {
            None => AsyncStdHandle::Unit(async_std::task::spawn(future)),
            Some(registry) => AsyncStdHandle::Tracked(
                monitor_async_std::task()
                    .registry(Arc::clone(registry))
                    .spawn(future)
                    .expect("async-std spawns"),
            ),
        }
    }

    fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        async_std::task::block_on(async_std::task::spawn(future))
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        async_std::task::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        async_std::task::sleep(duration)
    }

    fn cancel(&self, handles: Vec<AsyncStdHandle>) {
        async_std::task::block_on(async {
            for handle in handles {
                match handle {
                    AsyncStdHandle::Unit(task) => drop(task.cancel().await),
                    AsyncStdHandle::Tracked(task) => drop(task.cancel().await),
                }
            }
        });
    }
}
