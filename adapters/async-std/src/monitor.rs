//! Starting a monitor wired to async-std.

use std::sync::Arc;

use monitor_core::TaskRegistry;
use monitor_server::{Monitor, MonitorBuilder, MonitorError};

use crate::AsyncStdExecutor;

/// A [`MonitorBuilder`] reading the process-wide [`TaskRegistry`] (where
/// [`spawn`](crate::spawn) and [`task`](crate::task) record tasks) and
/// running asynchronous commands on async-std's runtime.
///
/// ```no_run
/// let monitor = monitor_async_std::monitor_builder().port(0).start()?;
/// println!("nc {}", monitor.tcp_addr().unwrap());
/// # Ok::<(), monitor_async_std::MonitorError>(())
/// ```
pub fn monitor_builder() -> MonitorBuilder {
    MonitorBuilder::new(Arc::clone(TaskRegistry::global()))
        .executor(Arc::new(AsyncStdExecutor::new()))
}

/// Starts a monitor with every default (127.0.0.1:50101).
///
/// # Errors
///
/// Every error of [`MonitorBuilder::start`] (port in use, …).
pub fn start_monitor() -> Result<Monitor, MonitorError> {
    monitor_builder().start()
}
