//! The contracts: one public function per behaviour a runtime must show
//! with the monitor.
//!
//! Each takes the runtime under test, builds its own registry (so contracts
//! can run in parallel on a shared runtime) and panics with a message that
//! names the runtime when the behaviour is wrong. Every wait is bounded.
//! Tasks are spawned directly from the contract functions, so their spawn
//! location is the contracts' own source file, which the contracts check.

mod cancel;
mod console;
mod diagnostics;
mod frames;
mod history;
mod native;
mod tasks;
mod tcp;

pub use cancel::*;
pub use console::*;
pub use diagnostics::*;
pub use frames::*;
pub use history::*;
pub use native::*;
pub use tasks::*;
pub use tcp::*;

use std::time::Duration;

use monitor_core::{JoinError, JoinHandle};

use crate::{RuntimeUnderTest, block_on_within, support::PATIENCE};

/// Awaits a tracked task on the runtime, within [`PATIENCE`].
#[track_caller]
fn join<T>(rt: &dyn RuntimeUnderTest, handle: JoinHandle<T>) -> Result<T, JoinError> {
    let what = format!("task {} to end", handle.id());
    block_on_within(rt, PATIENCE, &what, handle)
}

/// Awaits a tracked task that must complete, within [`PATIENCE`].
#[track_caller]
fn join_ok<T>(rt: &dyn RuntimeUnderTest, handle: JoinHandle<T>) -> T {
    let id = handle.id();
    join(rt, handle)
        .unwrap_or_else(|err| panic!("[{}] task {id} did not complete: {err}", rt.name()))
}

/// Prefixes assertion messages with the runtime's name.
fn on(rt: &dyn RuntimeUnderTest) -> String {
    format!("[{}]", rt.name())
}

/// Whether `location` (`file:line:column`) is in `file`: the `file!()` of
/// the contract modules, or wherever a runtime calls its native spawn.
fn is_contract_location(location: &str, file: &str) -> bool {
    location.starts_with(file) && location[file.len()..].starts_with(':')
}

/// How long a contract keeps a worker blocked to see time pass in a poll.
const SHORT: Duration = Duration::from_millis(30);
