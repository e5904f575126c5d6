//! The app scenarios on tokio: a multi-thread runtime (2 workers) of its
//! own per test, so a slow test — a panic printing its backtrace — never
//! holds up another test's tasks.

mod support;

use support::tokio_runtime::tokio;

scenarios!(tokio());
