//! The suite on async-std's runtime through the `monitor-async-std`
//! adapter (`AsyncStdExecutor`, and `monitor_async_std::task()` as the
//! native spawn function).
//!
//! async-std has one process-wide pool, so every test here shares it; the
//! contracts use a registry each, so they do not see each other's tasks,
//! and they only block workers for a bounded time.

use std::sync::Arc;

use conformance_tests::{
    LocalFuture, NativeOutcome, NativeSpawn, NativeTask, RuntimeUnderTest, conformance_suite,
};
use monitor_async_std::{AsyncStdExecutor, JoinError};
use monitor_core::{BoxedFuture, Executor, TaskRegistry};

struct AsyncStd;

impl RuntimeUnderTest for AsyncStd {
    fn name(&self) -> &str {
        "async-std"
    }
    fn executor(&self) -> Arc<dyn Executor> {
        Arc::new(AsyncStdExecutor::new())
    }
    fn block_on(&self, future: LocalFuture<'_>) {
        ::async_std::task::block_on(future);
    }
    fn workers(&self) -> Option<usize> {
        // How async-std sizes its pool (async-global-executor's rule).
        let threads = std::env::var("ASYNC_STD_THREAD_COUNT")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        Some(threads.max(1))
    }
    fn worker_thread_name(&self) -> Option<String> {
        Some(
            std::env::var("ASYNC_STD_THREAD_NAME")
                .unwrap_or_else(|_| "async-std/runtime".to_owned()),
        )
    }
    fn native_spawn(&self) -> Option<Arc<dyn NativeSpawn>> {
        Some(Arc::new(NativeAsyncStd))
    }
}

/// `monitor_async_std::task()`, the adapter's replacement for
/// `async_std::task::spawn`.
struct NativeAsyncStd;

impl NativeSpawn for NativeAsyncStd {
    fn spawn(&self, registry: Arc<TaskRegistry>, name: &str, future: BoxedFuture) -> NativeTask {
        let handle = monitor_async_std::task()
            .registry(registry)
            .name(name)
            .spawn(future)
            .expect("async-std spawns the task");
        NativeTask::new(async move {
            match handle.await {
                Ok(()) => NativeOutcome::Completed,
                Err(JoinError::Cancelled(_)) => NativeOutcome::Cancelled,
                Err(err) => NativeOutcome::Failed(err.to_string()),
            }
        })
    }
}

conformance_suite!(async_std, || AsyncStd);
