//! Starting a monitor wired to smol.

use std::sync::Arc;

use monitor_core::TaskRegistry;
use monitor_server::{Monitor, MonitorBuilder, MonitorError};

use crate::{MonitoredExecutor, SmolExecutor};

/// A [`MonitorBuilder`] for tasks spawned with [`spawn`](crate::spawn) /
/// [`task`](crate::task) on smol's global executor: it reads the
/// process-wide [`TaskRegistry`] and runs asynchronous commands on smol's
/// global executor. Set the port, namespace, … on the returned builder.
///
/// ```no_run
/// let monitor = monitor_smol::monitor_builder().port(0).start()?;
/// println!("nc {}", monitor.tcp_addr().unwrap());
/// # Ok::<(), monitor_smol::MonitorError>(())
/// ```
pub fn monitor_builder() -> MonitorBuilder {
    MonitorBuilder::new(Arc::clone(TaskRegistry::global())).executor(Arc::new(SmolExecutor::new()))
}

/// A [`MonitorBuilder`] for the tasks of one [`MonitoredExecutor`]: its
/// registry, and its executor for asynchronous commands.
pub fn monitor_builder_for(executor: &MonitoredExecutor<'static>) -> MonitorBuilder {
    MonitorBuilder::new(Arc::clone(executor.registry())).executor(Arc::new(executor.to_executor()))
}

/// Starts a monitor with every default (127.0.0.1:50101) for smol's global
/// executor and the process-wide registry.
///
/// # Errors
///
/// Every error of [`MonitorBuilder::start`] (port in use, …).
pub fn start_monitor() -> Result<Monitor, MonitorError> {
    monitor_builder().start()
}
