//! The suite on tokio's current-thread runtime, through the `monitor-tokio`
//! adapter (`TokioExecutor`, and `monitor_tokio::task()` as the native
//! spawn function).
//!
//! A current-thread runtime only runs its tasks while some thread is inside
//! `Runtime::block_on`, so the test gives it one thread that does nothing
//! else: that thread is the runtime's single worker. Blocking it blocks
//! every task, which is exactly what the "every worker blocked" contract
//! wants to see the console survive.

mod tokio_native;

use std::{sync::Arc, thread, time::Duration};

use conformance_tests::{LocalFuture, NativeSpawn, RuntimeUnderTest, conformance_suite};
use monitor_core::Executor;
use monitor_tokio::TokioExecutor;
use tokio::{
    runtime::{Builder, Handle},
    sync::oneshot,
};

const THREAD_NAME: &str = "tokio-current-thread";

struct TokioCurrentThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    driver: Option<thread::JoinHandle<()>>,
}

impl TokioCurrentThread {
    fn new() -> Self {
        let runtime = Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let driver = thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .expect("driver thread");
        Self {
            handle,
            stop: Some(stop),
            driver: Some(driver),
        }
    }
}

impl RuntimeUnderTest for TokioCurrentThread {
    fn name(&self) -> &str {
        "tokio-current-thread"
    }
    fn executor(&self) -> Arc<dyn Executor> {
        Arc::new(TokioExecutor::from_handle(self.handle.clone()))
    }
    fn block_on(&self, future: LocalFuture<'_>) {
        // Polls `future` on the test thread; spawned tasks keep running on
        // the driver thread.
        self.handle.block_on(future);
    }
    fn workers(&self) -> Option<usize> {
        Some(1)
    }
    fn worker_thread_name(&self) -> Option<String> {
        Some(THREAD_NAME.to_owned())
    }
    fn native_spawn(&self) -> Option<Arc<dyn NativeSpawn>> {
        Some(Arc::new(tokio_native::NativeTokio(self.handle.clone())))
    }
}

impl Drop for TokioCurrentThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}

conformance_suite!(tokio_current_thread, TokioCurrentThread::new);
