//! The suite on tokio's multi-thread runtime, through the `monitor-tokio`
//! adapter: its `TokioExecutor`, and `monitor_tokio::task()` as the native
//! spawn function.

mod tokio_native;

use std::{sync::Arc, time::Duration};

use conformance_tests::{LocalFuture, NativeSpawn, RuntimeUnderTest, conformance_suite};
use monitor_core::Executor;
use monitor_tokio::TokioExecutor;
use tokio::runtime::{Builder, Runtime};

const WORKERS: usize = 2;
const THREAD_NAME: &str = "tokio-mt-worker";

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
        Arc::new(TokioExecutor::from_handle(self.runtime().handle().clone()))
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
    fn native_spawn(&self) -> Option<Arc<dyn NativeSpawn>> {
        Some(Arc::new(tokio_native::NativeTokio(
            self.runtime().handle().clone(),
        )))
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
