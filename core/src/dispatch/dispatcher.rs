//! The command set shared by all sessions.

use std::{
    borrow::Cow,
    fmt,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, atomic::AtomicUsize},
    time::Duration,
};

use super::{
    catalog::{Catalog, CommandInfo, HELP_FIELDS, Resolution},
    command::{Command, Handler},
    error::{RegisterError, TemplateError},
    help::help_command,
    hooks::{DefaultHooks, Hooks, Precmd},
    session::Reply,
    template::Template,
};
use crate::{Executor, panic_message};

/// The default prompt, as in aiomonitor.
pub const DEFAULT_PROMPT: &str = "monitor >>> ";

/// The default intro; see [`Dispatcher::set_intro`] for its fields.
pub const DEFAULT_INTRO: &str =
    "Async Rust monitor: {tasknum} task{s} running\nType help for available commands\n";

/// The default time an asynchronous command may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

const INTRO_FIELDS: &[&str] = &["tasknum", "s"];

/// The registered commands, hooks and settings of a console, shared by
/// every session through an `Arc` (it is `Send + Sync`).
///
/// It starts with the built-in `help` command (aliases `h` and `?`), which
/// is registered through [`Dispatcher::register`] like any other. Configure
/// it, wrap it in an `Arc`, and give each connection a
/// [`Session`](super::Session).
pub struct Dispatcher<C> {
    catalog: Catalog,
    /// Each command's handler, its own timeout and whether it runs locally.
    handlers: Vec<(Handler<C>, Option<Duration>, bool)>,
    hooks: Box<dyn Hooks<C>>,
    executor: Option<Arc<dyn Executor>>,
    timeout: Duration,
    prompt: String,
    intro: Template,
    sync_threads: Option<SyncThreads<C>>,
}

/// How synchronous commands leave the console's thread; see
/// [`Dispatcher::run_sync_on_threads`].
pub(crate) struct SyncThreads<C> {
    /// Makes the copy of the session's context the thread works on.
    pub(crate) clone: fn(&C) -> C,
    /// Commands running on a thread right now, timed out or not.
    pub(crate) running: Arc<AtomicUsize>,
    /// The most that may run at once.
    pub(crate) max: usize,
}

impl<C: 'static> Default for Dispatcher<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: 'static> Dispatcher<C> {
    /// A dispatcher with only the `help` command, default hooks, templates
    /// and timeout, and no executor.
    pub fn new() -> Self {
        let mut dispatcher = Self {
            catalog: Catalog::new(),
            handlers: Vec::new(),
            hooks: Box::new(DefaultHooks),
            executor: None,
            timeout: DEFAULT_TIMEOUT,
            prompt: DEFAULT_PROMPT.to_owned(),
            intro: Template::new(DEFAULT_INTRO, INTRO_FIELDS).expect("the default intro is valid"),
            sync_threads: None,
        };
        dispatcher
            .register(help_command())
            .expect("an empty dispatcher accepts the help command");
        dispatcher
    }

    /// Adds a command. Fails when its name or an alias is taken or cannot be
    /// typed as one word, when it has no handler, or when its arguments
    /// contradict each other (two with one name or one short flag).
    pub fn register(&mut self, command: Command<C>) -> Result<&mut Self, RegisterError> {
        let Command {
            name,
            aliases,
            about,
            args,
            timeout,
            local,
            handler,
        } = command;
        let mut new_names: Vec<&str> = Vec::new();
        for word in std::iter::once(&name).chain(&aliases) {
            let typable = !word.is_empty()
                && !word.starts_with('-')
                && shell_words::split(word).is_ok_and(|words| words == [word.as_str()]);
            if !typable {
                return Err(RegisterError::InvalidName(word.clone()));
            }
            if let Some(existing) = self.catalog.get(word) {
                return Err(RegisterError::Duplicate {
                    name: word.clone(),
                    existing: existing.name().to_owned(),
                });
            }
            if new_names.contains(&word.as_str()) {
                return Err(RegisterError::Duplicate {
                    name: word.clone(),
                    existing: name.clone(),
                });
            }
            new_names.push(word);
        }
        let Some(handler) = handler else {
            return Err(RegisterError::MissingHandler(name));
        };
        let mut clap = clap::Command::new(name.clone())
            .no_binary_name(true)
            .disable_version_flag(true)
            .args(args.into_iter().map(|arg| arg.into_clap()));
        // clap checks argument definitions with debug assertions that panic;
        // turn them into a registration error instead of a crash later.
        catch_unwind(AssertUnwindSafe(|| clap.build())).map_err(|payload| {
            RegisterError::InvalidArgs {
                name: name.clone(),
                reason: panic_message(payload.as_ref()),
            }
        })?;
        self.catalog
            .commands
            .push(CommandInfo::new(name, aliases, about, clap));
        self.handlers.push((handler, timeout, local));
        Ok(self)
    }

    /// Replaces the hooks.
    pub fn set_hooks(&mut self, hooks: impl Hooks<C>) -> &mut Self {
        self.hooks = Box::new(hooks);
        self
    }

    /// Runs asynchronous commands on the application's runtime instead of
    /// inside [`Session::handle_line`](super::Session::handle_line).
    pub fn set_executor(&mut self, executor: Arc<dyn Executor>) -> &mut Self {
        self.executor = Some(executor);
        self
    }

    /// How long a command may run before the session stops waiting for it,
    /// unless it sets its own with [`Command::timeout`]. An asynchronous
    /// command is then cancelled; a synchronous one run on a thread (see
    /// [`run_sync_on_threads`](Self::run_sync_on_threads)) is left to
    /// finish there, its answer dropped.
    pub fn set_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Runs every synchronous command not marked [`Command::local`] on a
    /// thread of its own, under the command timeout, instead of inside
    /// [`Session::handle_line`](super::Session::handle_line).
    ///
    /// A server that runs all its sessions on one thread needs this: a
    /// command that blocks (synchronous I/O, a lock the application holds,
    /// a runtime's task dump) would otherwise stop every session, and the
    /// server's shutdown, until it returns. The thread works on a clone of
    /// the session's context, which replaces the session's own when the
    /// command finishes in time; when it does not, the session is answered
    /// [`CommandError::TimedOut`](super::CommandError::TimedOut) and goes
    /// on, and the command runs to its end on its thread with its answer
    /// dropped. At most `max_running` such threads exist at once (timed out
    /// ones included); a command beyond that is refused with a message
    /// saying so.
    ///
    /// Cheap commands that only read the server's own data (`help`, `ps`)
    /// are marked [`Command::local`] and stay on the console's thread.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use monitor_core::dispatch::{Command, Dispatcher, Session};
    ///
    /// let mut dispatcher = Dispatcher::<u32>::new();
    /// dispatcher.run_sync_on_threads(8);
    /// dispatcher
    ///     .register(Command::new("count").run(|hits, _args, out| {
    ///         *hits += 1; // on a clone, written back when it returns
    ///         out.line(format!("{hits} so far"));
    ///         Ok(())
    ///     }))
    ///     .unwrap();
    /// let mut session = Session::new(Arc::new(dispatcher), 0);
    /// let reply = futures_lite::future::block_on(session.handle_line("count"));
    /// assert_eq!(reply.text, "1 so far\n");
    /// assert_eq!(*session.context(), 1);
    /// ```
    pub fn run_sync_on_threads(&mut self, max_running: usize) -> &mut Self
    where
        C: Clone,
    {
        self.sync_threads = Some(SyncThreads {
            clone: C::clone,
            running: Arc::new(AtomicUsize::new(0)),
            max: max_running.max(1),
        });
        self
    }

    /// The text the server shows before each line.
    pub fn set_prompt(&mut self, prompt: impl Into<String>) -> &mut Self {
        self.prompt = prompt.into();
        self
    }

    /// The text shown when a user connects. Fields: `{tasknum}`, the number
    /// of running tasks, and `{s}`, `s` unless there is exactly one.
    pub fn set_intro(&mut self, intro: &str) -> Result<&mut Self, TemplateError> {
        self.intro = Template::new(intro, INTRO_FIELDS)?;
        Ok(self)
    }

    /// The template of `help CMD` and `CMD --help`; fields are listed in
    /// [`HELP_FIELDS`].
    pub fn set_help_template(&mut self, template: &str) -> Result<&mut Self, TemplateError> {
        self.catalog.help_template = Template::new(template, HELP_FIELDS)?;
        Ok(self)
    }

    /// The template of each line of `help`; fields are listed in
    /// [`HELP_FIELDS`].
    pub fn set_help_short_template(&mut self, template: &str) -> Result<&mut Self, TemplateError> {
        self.catalog.help_short_template = Template::new(template, HELP_FIELDS)?;
        Ok(self)
    }
}

impl<C> Dispatcher<C> {
    /// The registered commands and help templates.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The prompt.
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// The intro for a console that currently sees `tasknum` tasks.
    pub fn intro(&self, tasknum: usize) -> String {
        let count = tasknum.to_string();
        let s = if tasknum == 1 { "" } else { "s" };
        self.intro.render(&[("tasknum", &count), ("s", s)])
    }

    /// The default timeout of asynchronous commands.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// What the default [`Hooks::precmd`] does: split `line` shell-style and
    /// resolve its first word with [`Catalog::resolve`].
    pub fn resolve_line(&self, line: &str) -> Precmd {
        let Ok(words) = shell_words::split(&escape_comment_marks(line)) else {
            return Precmd::Reply(Reply::error(
                "Cannot read the line: a quote is not closed (close it with a matching ' or \")",
            ));
        };
        let mut words = words.into_iter();
        let Some(first) = words.next() else {
            // Only a blank line splits to no words; precmd overrides may
            // pass one.
            return Precmd::Reply(Reply::default());
        };
        let args = words.collect();
        match self.catalog.resolve(&first) {
            Resolution::Found(info) => Precmd::Run {
                command: info.name().to_owned(),
                args,
            },
            Resolution::Ambiguous(names) => Precmd::Reply(Reply::error(format!(
                "Ambiguous command {first:?}: could be {}",
                names.join(", ")
            ))),
            Resolution::Unknown => Precmd::Unknown { word: first, args },
        }
    }

    pub(crate) fn hooks(&self) -> &dyn Hooks<C>
    where
        C: 'static,
    {
        &*self.hooks
    }

    pub(crate) fn executor(&self) -> Option<&Arc<dyn Executor>> {
        self.executor.as_ref()
    }

    pub(crate) fn sync_threads(&self) -> Option<&SyncThreads<C>> {
        self.sync_threads.as_ref()
    }

    pub(crate) fn handler(&self, index: usize) -> (&Handler<C>, Duration, bool) {
        let (handler, timeout, local) = &self.handlers[index];
        (handler, timeout.unwrap_or(self.timeout), *local)
    }
}

/// Escapes every `#` that would start a shell comment, so `where #12` keeps
/// its argument: task ids are written `#12` in tables, and a console has no
/// use for comments.
fn escape_comment_marks(line: &str) -> Cow<'_, str> {
    #[derive(PartialEq)]
    enum State {
        Normal,
        Single,
        Double,
    }
    if !line.contains('#') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 4);
    let mut state = State::Normal;
    let mut at_word_start = true;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (&state, c) {
            (State::Normal, '#') if at_word_start => out.push_str("\\#"),
            (State::Normal | State::Double, '\\') => {
                out.push(c);
                // The escaped character is copied as is, whatever it is.
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            (State::Normal, '\'') => {
                state = State::Single;
                out.push(c);
            }
            (State::Normal, '"') => {
                state = State::Double;
                out.push(c);
            }
            (State::Single, '\'') | (State::Double, '"') => {
                state = State::Normal;
                out.push(c);
            }
            _ => out.push(c),
        }
        at_word_start = state == State::Normal && c.is_whitespace();
    }
    Cow::Owned(out)
}

impl<C> fmt::Debug for Dispatcher<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("catalog", &self.catalog)
            .field("has_executor", &self.executor.is_some())
            .field("timeout", &self.timeout)
            .field("prompt", &self.prompt)
            .field("intro", &self.intro)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::escape_comment_marks;

    #[test]
    fn hash_marks_survive_splitting() {
        for (line, words) in [
            ("where #12", vec!["where", "#12"]),
            ("# alone", vec!["#", "alone"]),
            (
                "say '#x' \"#y\" a#b \\#c",
                vec!["say", "#x", "#y", "a#b", "#c"],
            ),
            ("say \"a \\\" #b\" #c", vec!["say", "a \" #b", "#c"]),
        ] {
            let split = shell_words::split(&escape_comment_marks(line)).unwrap();
            assert_eq!(split, words, "{line:?}");
        }
        assert!(shell_words::split(&escape_comment_marks("say \"#open")).is_err());
    }
}
