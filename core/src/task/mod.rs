//! Task records, states, the instrumenting future wrapper and records kept
//! up to date by runtime hooks.

mod external;
mod instrumented;
pub(crate) mod record;
mod state;

pub use external::{ExternalTask, PollToken};
pub use instrumented::{Cancelled, Instrumented, panic_message};
pub use record::current_task;
pub use state::{CancelledBy, TaskEnd, TaskState};
