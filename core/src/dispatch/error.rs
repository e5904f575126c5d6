//! Error types of the dispatcher.

use std::time::Duration;

use super::args::format_duration;

/// Why a command did not succeed.
///
/// The console shows it as one line, prefixed with the command name:
/// `cancel: no task 42`. Commands usually build it from text:
///
/// ```
/// use monitor_core::dispatch::CommandError;
///
/// let err = CommandError::from(format!("no task {}", 42));
/// assert_eq!(err.to_string(), "no task 42");
/// let err: CommandError = "no such signal".into();
/// assert_eq!(err.to_string(), "no such signal");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command ran and reported a failure.
    #[error("{0}")]
    Failed(String),
    /// The line did not match the command's arguments.
    #[error("{message}. usage: {usage}")]
    Usage {
        /// What was wrong and what is accepted, without a final period.
        message: String,
        /// The usage line, e.g. `cancel TASK_ID`.
        usage: String,
    },
    /// A command did not finish in time: an asynchronous one was
    /// cancelled, a synchronous one run on a thread was left to finish
    /// there with its answer dropped.
    #[error("timed out after {}", format_duration(*.0))]
    TimedOut(Duration),
    /// The command panicked; the text is the panic message.
    #[error("command panicked: {0}")]
    Panicked(String),
    /// The executor dropped an asynchronous command before it finished,
    /// typically because the application's runtime is shutting down.
    #[error("the runtime dropped the command before it finished")]
    Abandoned,
}

impl CommandError {
    /// A failure with the given message, the same as `CommandError::from`.
    pub fn new(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }
}

impl From<String> for CommandError {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

impl From<&str> for CommandError {
    fn from(message: &str) -> Self {
        Self::Failed(message.to_owned())
    }
}

/// Why [`Dispatcher::register`](super::Dispatcher::register) refused a
/// command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The name or an alias is already taken by another command.
    #[error("command name or alias {name:?} is already used by command {existing:?}")]
    Duplicate {
        /// The name or alias that clashes.
        name: String,
        /// The canonical name of the command that already has it.
        existing: String,
    },
    /// The name or alias cannot be typed as one word on the console.
    #[error("invalid command name or alias {0:?} (expected one word without spaces or quotes)")]
    InvalidName(String),
    /// The command was built without [`Command::run`](super::Command::run)
    /// or [`Command::run_async`](super::Command::run_async).
    #[error("command {0:?} has no handler (call run or run_async)")]
    MissingHandler(String),
    /// The argument definitions contradict each other, e.g. two arguments share a
    /// name or a short flag.
    #[error("invalid arguments for command {name:?}: {reason}")]
    InvalidArgs {
        /// The command name.
        name: String,
        /// What the argument parser objected to.
        reason: String,
    },
}

/// Why a template was refused at configuration time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// `{name}` where `name` is not one of the fields the template offers.
    #[error("unknown field {{{field}}} in template (available: {available})")]
    UnknownField {
        /// The field name as written.
        field: String,
        /// The accepted field names, comma separated.
        available: String,
    },
    /// A `{` without its `}` or a lone `}`; write `{{` and `}}` for literal
    /// braces.
    #[error(
        "unmatched {brace:?} at byte {position} in template (write {{{{ or }}}} for a literal brace)"
    )]
    UnmatchedBrace {
        /// The offending brace.
        brace: char,
        /// Its byte offset in the template.
        position: usize,
    },
}
