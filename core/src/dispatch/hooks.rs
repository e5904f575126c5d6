//! Overridable steps of line handling, after Python's `cmd` module.

use super::{args::Args, dispatcher::Dispatcher, error::CommandError, session::Reply};

/// What [`Hooks::precmd`] decided to do with a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precmd {
    /// Run the command with this canonical name (or alias) on these words.
    Run {
        /// The command's name or alias.
        command: String,
        /// The words after the command name.
        args: Vec<String>,
    },
    /// The first word names no command; [`Hooks::unknown_command`] answers.
    Unknown {
        /// The word as typed.
        word: String,
        /// The words after it.
        args: Vec<String>,
    },
    /// Answer directly without running anything (an ambiguous prefix, a
    /// quoting error, a command the hook refuses...).
    Reply(Reply),
}

/// What [`Hooks::postcmd`] learns about a command that was dispatched.
#[derive(Debug, Clone, Copy)]
pub struct Completed<'a> {
    /// The command's canonical name.
    pub command: &'a str,
    /// The words after the command name, as split.
    pub words: &'a [String],
    /// The typed arguments; `None` when they did not parse (then `result`
    /// is a [`CommandError::Usage`]) or when `--help` was asked for.
    pub args: Option<&'a Args>,
    /// How the command ended.
    pub result: Result<(), &'a CommandError>,
}

/// Customisation points of a [`Dispatcher`], one per hook of Python's
/// `cmd` / aiomonitor: every method has the documented default, so an
/// implementation overrides only what it needs.
///
/// ```
/// use monitor_core::dispatch::{Dispatcher, Hooks, Precmd};
///
/// /// Treats `ls` as `ps`, the way a user from a shell might type it.
/// struct LsIsPs;
///
/// impl<C> Hooks<C> for LsIsPs {
///     fn precmd(&self, _ctx: &mut C, dispatcher: &Dispatcher<C>, line: &str) -> Precmd {
///         match line.strip_prefix("ls") {
///             Some(rest) => dispatcher.resolve_line(&format!("ps{rest}")),
///             None => dispatcher.resolve_line(line),
///         }
///     }
/// }
///
/// let mut dispatcher = Dispatcher::<()>::new();
/// dispatcher.set_hooks(LsIsPs);
/// ```
pub trait Hooks<C>: Send + Sync + 'static {
    /// Turns a non-empty, trimmed line into a decision. This is where a line
    /// can be rewritten or refused. The default splits it shell-style and
    /// resolves the command name with [`Dispatcher::resolve_line`].
    fn precmd(&self, ctx: &mut C, dispatcher: &Dispatcher<C>, line: &str) -> Precmd {
        let _ = ctx;
        dispatcher.resolve_line(line)
    }

    /// Runs after every command that [`Hooks::precmd`] resolved, whether it
    /// succeeded, failed, timed out, panicked or had bad arguments, and may
    /// change the reply. The default returns `reply` unchanged.
    fn postcmd(&self, ctx: &mut C, completed: &Completed<'_>, reply: Reply) -> Reply {
        let _ = (ctx, completed);
        reply
    }

    /// Decides what an empty line (or one of only whitespace) does: the line
    /// to run instead, or `None` to answer nothing. The default repeats the
    /// last command, like Python's `cmd`.
    fn emptyline(&self, ctx: &mut C, lastcmd: Option<&str>) -> Option<String> {
        let _ = ctx;
        lastcmd.map(str::to_owned)
    }

    /// Answers a line whose first word names no command. The default says
    /// so, suggests the closest command name when there is a plausible one
    /// and points to `help`.
    fn unknown_command(
        &self,
        ctx: &mut C,
        dispatcher: &Dispatcher<C>,
        word: &str,
        args: &[String],
    ) -> Reply {
        let _ = (ctx, args);
        let suggestion = dispatcher
            .catalog()
            .suggest(word)
            .map(|name| format!(" Did you mean {name:?}?"))
            .unwrap_or_default();
        Reply::error(format!(
            "Unknown command {word:?}.{suggestion} Type \"help\" for the list of commands."
        ))
    }
}

/// The hooks a [`Dispatcher`] starts with: every default.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHooks;

impl<C> Hooks<C> for DefaultHooks {}
