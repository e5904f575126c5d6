//! The suite on smol: an `Executor` run by worker threads of our own, which
//! is how smol applications build their runtime (and what `smol::spawn`'s
//! global executor does with `SMOL_THREADS` threads). A fresh one per test
//! lets each contract shut its runtime down.

use std::{sync::Arc, thread};

use conformance_tests::{LocalFuture, RuntimeUnderTest, conformance_suite};
use monitor_core::{BoxedFuture, Executor};

const WORKERS: usize = 2;
const THREAD_NAME: &str = "smol-worker";

/// The runtime glue: swap for `monitor_smol::SmolExecutor` once the smol
/// adapter lands.
fn executor(executor: &Arc<::smol::Executor<'static>>) -> Arc<dyn Executor> {
    struct Glue(Arc<::smol::Executor<'static>>);
    impl Executor for Glue {
        fn spawn(&self, future: BoxedFuture) {
            self.0.spawn(future).detach();
        }
    }
    Arc::new(Glue(Arc::clone(executor)))
}

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
        executor(&self.executor)
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
