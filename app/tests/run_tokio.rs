//! The app scenarios on tokio (a multi-thread runtime, 2 workers).

mod support;

use std::sync::OnceLock;

use monitor_core::{MonitorBuilder, Spawner, TaskRegistry};
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
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    Tokio(RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
    }))
}

scenarios!(tokio());
