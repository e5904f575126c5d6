//! Command definitions: name, aliases, help text, arguments and handler.

use std::{fmt, future::Future, pin::Pin, time::Duration};

use super::{
    args::{Arg, Args},
    catalog::Catalog,
    error::CommandError,
};

/// The boxed future an asynchronous command returns.
pub(crate) type CommandFuture = Pin<Box<dyn Future<Output = Result<String, CommandError>> + Send>>;

type SyncHandler<C> =
    Box<dyn Fn(&mut C, &Args, &mut Output<'_>) -> Result<(), CommandError> + Send + Sync>;
type AsyncHandler<C> = Box<dyn Fn(&mut C, &Args) -> CommandFuture + Send + Sync>;

/// How a command runs.
pub(crate) enum Handler<C> {
    /// On the console's thread, writing into an [`Output`].
    Sync(SyncHandler<C>),
    /// As a future on the application's runtime (or the console's loop).
    Async(AsyncHandler<C>),
}

/// A console command, built step by step and handed to
/// [`Dispatcher::register`](super::Dispatcher::register).
///
/// `C` is the per-session context chosen by the embedder; handlers get it as
/// `&mut C`.
///
/// ```
/// use monitor_core::dispatch::{Arg, Command, CommandError};
///
/// struct Ctx { cancelled: Vec<monitor_core::TaskId> }
///
/// let cancel = Command::<Ctx>::new("cancel")
///     .alias("ca")
///     .about("Cancel a task.\n\nThe task stops at its next await point.")
///     .arg(Arg::task_id("TASK_ID"))
///     .run(|ctx, args, out| {
///         let id = args.get("TASK_ID").ok_or("no task id")?;
///         ctx.cancelled.push(id);
///         out.line(format!("cancelled task {id}"));
///         Ok(())
///     });
/// ```
pub struct Command<C> {
    pub(crate) name: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) about: String,
    pub(crate) args: Vec<Arg>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) local: bool,
    pub(crate) handler: Option<Handler<C>>,
}

impl<C> Command<C> {
    /// Starts a command called `name` with no arguments and no handler.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            aliases: Vec::new(),
            about: String::new(),
            args: Vec::new(),
            timeout: None,
            local: false,
            handler: None,
        }
    }

    /// Adds another name the command answers to (`h` and `?` for `help`).
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.push(alias.into());
        self
    }

    /// Sets the help text. The first line is the summary shown by `help`;
    /// the whole text is shown by `help CMD`.
    pub fn about(mut self, about: impl Into<String>) -> Self {
        self.about = about.into();
        self
    }

    /// Appends an argument; positionals are filled in the order they are
    /// added.
    pub fn arg(mut self, arg: Arg) -> Self {
        self.args.push(arg);
        self
    }

    /// Overrides the dispatcher's timeout for this asynchronous command.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs this command on the console's own thread: an asynchronous one's
    /// future even when the dispatcher has an executor, a synchronous one
    /// inline even when the dispatcher runs synchronous commands on threads
    /// ([`Dispatcher::run_sync_on_threads`](super::Dispatcher::run_sync_on_threads)).
    ///
    /// For commands that only read or wait on the monitor's own data (such
    /// as `ps`, or `cancel` waiting for a task to stop), that must keep
    /// working when the application's runtime is blocked and never block
    /// themselves. The timeout still applies to asynchronous ones.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Makes this a synchronous command: `f` runs on the console's thread
    /// and writes its answer into the [`Output`]. The command is done when
    /// `f` returns.
    ///
    /// A synchronous command cannot be interrupted. Unless the dispatcher
    /// runs synchronous commands on threads
    /// ([`Dispatcher::run_sync_on_threads`](super::Dispatcher::run_sync_on_threads),
    /// as the monitor's server does), it must not block; anything that
    /// waits is better written with [`Command::run_async`].
    pub fn run<F>(mut self, f: F) -> Self
    where
        F: Fn(&mut C, &Args, &mut Output<'_>) -> Result<(), CommandError> + Send + Sync + 'static,
    {
        self.handler = Some(Handler::Sync(Box::new(f)));
        self
    }

    /// Makes this an asynchronous command. `f` runs on the console's thread,
    /// takes what it needs out of the context and the arguments, and returns
    /// a future whose text becomes the answer.
    ///
    /// The future runs on the dispatcher's [`Executor`](crate::Executor)
    /// when it has one, otherwise inside
    /// [`Session::handle_line`](super::Session::handle_line). If it does not
    /// finish within the timeout it is dropped, which cancels it.
    pub fn run_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(&mut C, &Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, CommandError>> + Send + 'static,
    {
        self.handler = Some(Handler::Async(Box::new(move |ctx, args| {
            Box::pin(f(ctx, args)) as CommandFuture
        })));
        self
    }

    /// The canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<C> fmt::Debug for Command<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name)
            .field("aliases", &self.aliases)
            .field("about", &self.about)
            .field("args", &self.args)
            .field("timeout", &self.timeout)
            .field("local", &self.local)
            .field(
                "handler",
                &match self.handler {
                    None => "none",
                    Some(Handler::Sync(_)) => "sync",
                    Some(Handler::Async(_)) => "async",
                },
            )
            .finish()
    }
}

/// The rest of a streamed reply: chunks of text produced on demand; see
/// [`Output::stream`].
pub type ReplyStream = Box<dyn Iterator<Item = String> + Send>;

/// Where a synchronous command writes its answer.
///
/// Implements [`fmt::Write`], so `writeln!(out, ...)` works.
pub struct Output<'a> {
    text: String,
    exit: bool,
    stream: Option<ReplyStream>,
    catalog: &'a Catalog,
}

impl<'a> Output<'a> {
    pub(crate) fn new(catalog: &'a Catalog) -> Self {
        Self {
            text: String::new(),
            exit: false,
            stream: None,
            catalog,
        }
    }

    /// Appends text as is.
    pub fn write(&mut self, text: impl AsRef<str>) {
        self.text.push_str(text.as_ref());
    }

    /// Appends text and a newline.
    pub fn line(&mut self, text: impl AsRef<str>) {
        self.text.push_str(text.as_ref());
        self.text.push('\n');
    }

    /// Asks the server to end the session once this answer is written.
    pub fn exit(&mut self) {
        self.exit = true;
    }

    /// The registered commands, e.g. to list or describe them.
    pub fn catalog(&self) -> &'a Catalog {
        self.catalog
    }

    /// Continues the reply with `chunks`, written one at a time after the
    /// text, so a reply of any size (`ps --json` over a million tasks) is
    /// never held in memory whole. Each chunk is produced when the previous
    /// one has been written, on the console's thread, so it should be quick
    /// to make (a few thousand lines at most). Ignored if the command
    /// returns an error.
    pub fn stream(&mut self, chunks: impl Iterator<Item = String> + Send + 'static) {
        self.stream = Some(Box::new(chunks));
    }

    pub(crate) fn finish(self) -> (String, bool, Option<ReplyStream>) {
        (self.text, self.exit, self.stream)
    }
}

impl fmt::Write for Output<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.text.push_str(s);
        Ok(())
    }
}

impl fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("text", &self.text)
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}
