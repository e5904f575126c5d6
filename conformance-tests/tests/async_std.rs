//! The suite on async-std's runtime.
//!
//! async-std has one process-wide pool, so every test here shares it; the
//! contracts use a registry each, so they do not see each other's tasks,
//! and they only block workers for a bounded time.

use std::sync::Arc;

use conformance_tests::{LocalFuture, RuntimeUnderTest, conformance_suite};
use monitor_core::{BoxedFuture, Executor};

/// The runtime glue: swap for the `monitor_async_std` adapter's executor
/// once it lands.
fn executor() -> Arc<dyn Executor> {
    struct Glue;
    impl Executor for Glue {
        fn spawn(&self, future: BoxedFuture) {
            // Dropping async-std's JoinHandle detaches the task.
            drop(::async_std::task::spawn(future));
        }
    }
    Arc::new(Glue)
}

struct AsyncStd;

impl RuntimeUnderTest for AsyncStd {
    fn name(&self) -> &str {
        "async-std"
    }
    fn executor(&self) -> Arc<dyn Executor> {
        executor()
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
}

conformance_suite!(async_std, || AsyncStd);
