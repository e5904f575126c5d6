//! The app scenarios on smol: an `async_executor::Executor` of its own per
//! test (two threads), so a slow test — a panic printing its backtrace —
//! never holds up another test's tasks.

mod support;

use std::sync::Arc;

use monitor_core::{Spawner, TaskRegistry};
use monitor_server::MonitorBuilder;
use monitor_smol::SmolExecutor;

struct Smol(Arc<smol::Executor<'static>>);

impl support::TestRuntime for Smol {
    fn spawner(&self) -> Spawner {
        Spawner::new(
            SmolExecutor::from_executor(Arc::clone(&self.0)),
            TaskRegistry::global().clone(),
        )
    }

    fn monitor(&self) -> MonitorBuilder {
        MonitorBuilder::new(Arc::clone(TaskRegistry::global()))
            .executor(Arc::new(SmolExecutor::from_executor(Arc::clone(&self.0))))
    }
}

fn smol() -> Smol {
    let executor = Arc::new(smol::Executor::new());
    for n in 0..2 {
        let executor = Arc::clone(&executor);
        // Detached: the threads end with the test process.
        std::thread::Builder::new()
            .name(format!("smol-test-{n}"))
            .spawn(move || smol::block_on(executor.run(std::future::pending::<()>())))
            .unwrap();
    }
    Smol(executor)
}

scenarios!(smol());
