//! The suite on tokio's multi-thread runtime.

use std::{sync::Arc, time::Duration};

use conformance_tests::{LocalFuture, RuntimeUnderTest, conformance_suite};
use monitor_core::{BoxedFuture, Executor};
use tokio::runtime::{Builder, Handle, Runtime};

const WORKERS: usize = 2;
const THREAD_NAME: &str = "tokio-mt-worker";

/// The runtime glue: swap for `monitor_tokio::TokioExecutor::from_handle`
/// once the tokio adapter lands.
fn executor(handle: &Handle) -> Arc<dyn Executor> {
    struct Glue(Handle);
    impl Executor for Glue {
        fn spawn(&self, future: BoxedFuture) {
            // Detached: the monitor tracks the task through its registry.
            drop(self.0.spawn(future));
        }
    }
    Arc::new(Glue(handle.clone()))
}

struct TokioMultiThread {
    runtime: Option<Runtime>,
}

impl TokioMultiThread {
    fn new() -> Self {
        let runtime = Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name(THREAD_NAME)
            .build()
            .expect("tokio runtime");
        Self {
            runtime: Some(runtime),
        }
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("running")
    }
}

impl RuntimeUnderTest for TokioMultiThread {
    fn name(&self) -> &str {
        "tokio-multi-thread"
    }
    fn executor(&self) -> Arc<dyn Executor> {
        executor(self.runtime().handle())
    }
    fn block_on(&self, future: LocalFuture<'_>) {
        self.runtime().block_on(future);
    }
    fn workers(&self) -> Option<usize> {
        Some(WORKERS)
    }
    fn worker_thread_name(&self) -> Option<String> {
        Some(THREAD_NAME.to_owned())
    }
}

impl Drop for TokioMultiThread {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Bounded: a contract that failed with a worker still blocked
            // must not hang the test run.
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

conformance_suite!(tokio_multi_thread, TokioMultiThread::new);
