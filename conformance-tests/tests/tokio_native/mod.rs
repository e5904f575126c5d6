//! The tokio adapter's native spawn, shared by both tokio flavours' suites.

use std::sync::Arc;

use conformance_tests::{NativeOutcome, NativeSpawn, NativeTask};
use monitor_core::{BoxedFuture, TaskRegistry};
use tokio::runtime::Handle;

/// `monitor_tokio::task()`, the adapter's replacement for `tokio::spawn`.
pub(crate) struct NativeTokio(pub(crate) Handle);

impl NativeSpawn for NativeTokio {
    fn spawn(&self, registry: Arc<TaskRegistry>, name: &str, future: BoxedFuture) -> NativeTask {
        let handle = monitor_tokio::task()
            .registry(registry)
            .name(name)
            // Contracts spawn from the test thread, outside the runtime.
            .handle(self.0.clone())
            .spawn(future);
        NativeTask::new(async move {
            match handle.await {
                Ok(()) => NativeOutcome::Completed,
                // How a monitor cancel must reach tokio code.
                Err(err) if err.is_cancelled() => NativeOutcome::Cancelled,
                Err(err) => NativeOutcome::Failed(err.to_string()),
            }
        })
    }
}
