//! The tokio runtime of the app tests (`run_tokio.rs`, `web_page.rs`).

use monitor_core::{Spawner, TaskRegistry};
use monitor_server::MonitorBuilder;
use monitor_tokio::TokioExecutor;
use tokio::runtime::Runtime;

use super::TestRuntime;

/// A multi-thread runtime (2 workers, I/O and timers on) of the test's own,
/// so a slow test — a panic printing its backtrace — never holds up another
/// test's tasks.
pub struct Tokio(&'static Runtime);

impl TestRuntime for Tokio {
    fn spawner(&self) -> Spawner {
        Spawner::new(
            TokioExecutor::from_handle(self.0.handle().clone()),
            TaskRegistry::global().clone(),
        )
    }

    fn monitor(&self) -> MonitorBuilder {
        monitor_tokio::monitor_builder(self.0.handle().clone())
    }
}

/// A fresh runtime, leaked: its workers live until the test process ends.
pub fn tokio() -> Tokio {
    Tokio(Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    )))
}
