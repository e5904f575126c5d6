//! Task records, states and the instrumenting future wrapper.

mod instrumented;
pub(crate) mod record;
mod state;

pub(crate) use instrumented::panic_message;
pub use instrumented::{Cancelled, Instrumented};
pub use record::current_task;
pub use state::{CancelledBy, TaskEnd, TaskState};
