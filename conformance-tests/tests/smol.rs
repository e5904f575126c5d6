//! The suite on smol through the `monitor-smol` adapter (`SmolExecutor`,
//! and `monitor_smol::task().executor(..)` as the native spawn function):
//! an `Executor` run by worker threads of our own, which
//! is how smol applications build their runtime (and what `smol::spawn`'s
//! global executor does with `SMOL_THREADS` threads). A fresh one per test
//! lets each contract shut its runtime down.

use std::{sync::Arc, thread};

use conformance_tests::{
    LocalFuture, NativeOutcome, NativeSpawn, NativeTask, RuntimeUnderTest, conformance_suite,
};
use monitor_core::{BoxedFuture, Executor, TaskRegistry};
use monitor_smol::SmolExecutor;

const WORKERS: usize = 2;
const THREAD_NAME: &str = "smol-worker";

struct Smol {
    executor: Arc<::smol::Executor<'static>>,
    stop: Option<::smol::channel::Sender<()>>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl Smol {
    fn new() -> Self {
        let executor = Arc::new(::smol::Executor::new());
        let (stop, stopped) = ::smol::channel::bounded::<()>(1);
        let workers = (0..WORKERS)
            .map(|n| {
                let executor = Arc::clone(&executor);
                let stopped = stopped.clone();
                thread::Builder::new()
                    .name(format!("{THREAD_NAME}-{n}"))
                    .spawn(move || {
                        let _ = ::smol::block_on(executor.run(stopped.recv()));
                    })
                    .expect("worker thread")
            })
            .collect();
        Self {
            executor,
            stop: Some(stop),
            workers,
        }
    }
}

impl RuntimeUnderTest for Smol {
    fn name(&self) -> &str {
        "smol"
    }
    fn executor(&self) -> Arc<dyn Executor> {
        Arc::new(SmolExecutor::from_executor(Arc::clone(&self.executor)))
    }
    fn block_on(&self, future: LocalFuture<'_>) {
        ::smol::block_on(future);
    }
    fn workers(&self) -> Option<usize> {
        Some(WORKERS)
    }
    fn worker_thread_name(&self) -> Option<String> {
        Some(THREAD_NAME.to_owned())
    }
    fn native_spawn(&self) -> Option<Arc<dyn NativeSpawn>> {
        Some(Arc::new(NativeSmol(Arc::clone(&self.executor))))
    }
}

/// `monitor_smol::task()` on this runtime's executor, the adapter's
/// replacement for `ex.spawn(..)`.
struct NativeSmol(Arc<::smol::Executor<'static>>);

impl NativeSpawn for NativeSmol {
    fn spawn(&self, registry: Arc<TaskRegistry>, name: &str, future: BoxedFuture) -> NativeTask {
        let task = monitor_smol::task()
            .registry(registry)
            .name(name)
            .executor(&self.0)
            .spawn(future);
        // `fallible()`: awaiting the plain `Task` of a cancelled task panics,
        // as smol's own does; the fallible one reports `Err(Cancelled)`.
        let task = task.fallible();
        NativeTask::new(async move {
            match task.await {
                Ok(()) => NativeOutcome::Completed,
                Err(_cancelled) => NativeOutcome::Cancelled,
            }
        })
    }
}

impl Drop for Smol {
    fn drop(&mut self) {
        // Closing the channel ends every worker's `run`.
        drop(self.stop.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

conformance_suite!(smol, Smol::new);
