//! The app scenarios on tokio: a multi-thread runtime (2 workers) of its
//! own per test, so a slow test — a panic printing its backtrace — never
//! holds up another test's tasks.

mod support;

use monitor_core::{Spawner, TaskRegistry};
use monitor_server::MonitorBuilder;
use monitor_tokio::TokioExecutor;
use tokio::runtime::Runtime;

struct Tokio(&'static Runtime);

impl support::TestRuntime for Tokio {
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

fn tokio() -> Tokio {
    // Leaked: the workers live until the test process ends.
    Tokio(Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap(),
    )))
}

scenarios!(tokio());
