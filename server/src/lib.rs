//! # monitor-server
//!
//! How people reach the async runtime monitor: a thread of its own with a
//! small event loop, the console over TCP, Unix sockets and telnet, sessions
//! with authentication and limits, the built-in commands (`ps`, `where`,
//! `cancel`, …) and the console namespace of the application's values.
//!
//! `monitor-core` tracks tasks (spawn → poll → end); this crate looks at
//! them and acts on them (look → act), through
//! [`TaskIntrospect`](monitor_core::TaskIntrospect) only, so it answers
//! while every worker of the application is blocked.
//!
//! Applications get it through their adapter (`monitor_tokio::start_monitor()`).
//! A home-grown runtime implements [`Executor`](monitor_core::Executor) and
//! starts a monitor over its registry:
//!
//! ```
//! use monitor_core::TaskRegistry;
//! use monitor_server::MonitorBuilder;
//!
//! let monitor = MonitorBuilder::new(TaskRegistry::new())
//!     .port(0) // any free port
//!     .start()
//!     .expect("monitor started");
//! println!("connect with: nc {}", monitor.tcp_addr().unwrap());
//! ```
//!
//! See `docs/ARCHITECTURE.md` for how the pieces fit together and
//! `docs/SECURITY.md` for what each listener withstands.
#![deny(missing_docs)]

mod auth;
pub mod commands;
pub mod console;
pub mod env;
mod error;
mod format;
#[cfg(feature = "http")]
pub mod http;
mod monitor;
mod pace;
mod session;
#[cfg(feature = "tokio-console")]
pub mod tokio_console;
pub mod transport;

pub use error::MonitorError;
pub use monitor::{
    CONSOLE_PORT, DEFAULT_AUTH_DELAY, DEFAULT_IDLE_TIMEOUT, DEFAULT_LINE_RATE, DEFAULT_MAX_LINE,
    DEFAULT_MAX_SESSIONS, DEFAULT_OUTPUT_RATE, DEFAULT_WRITE_TIMEOUT, MONITOR_HOST, MONITOR_PORT,
    Monitor, MonitorBuilder, start_monitor,
};
