//! # monitor-core
//!
//! The runtime-agnostic heart of the async runtime monitor: task ids, the
//! task registry and its instrumenting future wrapper, the [`Executor`],
//! [`TaskIntrospect`] and [`Transport`] traits, the command dispatcher, the
//! console server and its built-in commands.
//!
//! Applications normally depend on an adapter (`monitor-tokio`,
//! `monitor-smol`, `monitor-async-std`); someone with a home-grown runtime
//! implements [`Executor`] and uses this crate directly.
#![deny(missing_docs)]

pub mod dispatch;
mod executor;
mod id;
pub mod transport;

pub use executor::{BoxedFuture, Executor};
pub use id::{ParseTaskIdError, TaskId};
pub use transport::Transport;
