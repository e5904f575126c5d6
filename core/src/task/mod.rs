//! Task records, states, the instrumenting future wrappers and records kept
//! up to date by runtime hooks.

pub(crate) mod canceller;
mod external;
mod instrumented;
pub(crate) mod record;
mod state;

pub use external::{ExternalTask, PollToken};
pub use instrumented::{Cancelled, CatchPanics, Instrumented, RuntimeCancelled, panic_message};
pub use record::current_task;
pub use state::{CancelledBy, TaskEnd, TaskState};
