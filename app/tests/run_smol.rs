//! The app scenarios on smol's global executor.

mod support;

use monitor_core::{MonitorBuilder, Spawner, TaskRegistry};
use monitor_smol::SmolExecutor;

struct Smol;

impl support::TestRuntime for Smol {
    fn spawner(&self) -> Spawner {
        Spawner::new(SmolExecutor::new(), TaskRegistry::global().clone())
    }

    fn monitor(&self) -> MonitorBuilder {
        monitor_smol::monitor_builder()
    }
}

scenarios!(Smol);
