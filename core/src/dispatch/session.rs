//! One console connection: its context, its last command and line handling.

use std::{
    fmt,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use clap::error::ErrorKind;
use futures_lite::FutureExt as _;

use super::{
    args::{Args, condense_clap_error},
    command::{CommandFuture, Handler, Output, ReplyStream},
    dispatcher::Dispatcher,
    error::CommandError,
    hooks::{Completed, Precmd},
};
use crate::{Executor, panic_message};

/// The answer to one line: the server writes `text`, then the prompt, unless
/// `exit` asks it to end the session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// What to show; ends with a newline unless empty.
    pub text: String,
    /// Whether the line failed (unknown command, bad arguments, command
    /// error...), e.g. for a server that colours errors.
    pub is_error: bool,
    /// Whether the session should end after `text` is written.
    pub exit: bool,
}

impl Reply {
    /// A successful answer.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
        .normalized()
    }

    /// A failure; the text is shown as is.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            is_error: true,
            exit: false,
        }
        .normalized()
    }

    /// The same answer, ending the session afterwards.
    pub fn with_exit(mut self) -> Self {
        self.exit = true;
        self
    }

    /// Makes sure non-empty text ends with a newline, so the prompt starts
    /// on a line of its own.
    fn normalized(mut self) -> Self {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self
    }
}

/// One console connection: the embedder's context `C`, the last command
/// line, and a shared [`Dispatcher`].
///
/// ```
/// use std::sync::Arc;
/// use monitor_core::dispatch::{Command, Dispatcher, Session};
///
/// let mut dispatcher = Dispatcher::<u32>::new();
/// dispatcher
///     .register(Command::new("count").run(|hits, _args, out| {
///         *hits += 1;
///         out.line(format!("{hits} so far"));
///         Ok(())
///     }))
///     .unwrap();
/// let mut session = Session::new(Arc::new(dispatcher), 0);
/// let reply = futures_lite::future::block_on(session.handle_line("count"));
/// assert_eq!(reply.text, "1 so far\n");
/// // An empty line repeats the last command.
/// let reply = futures_lite::future::block_on(session.handle_line(""));
/// assert_eq!(reply.text, "2 so far\n");
/// ```
pub struct Session<C> {
    dispatcher: Arc<Dispatcher<C>>,
    ctx: C,
    lastcmd: Option<String>,
    stream: Option<ReplyStream>,
}

impl<C: Send + 'static> Session<C> {
    /// A session with context `ctx`.
    pub fn new(dispatcher: Arc<Dispatcher<C>>, ctx: C) -> Self {
        Self {
            dispatcher,
            ctx,
            lastcmd: None,
            stream: None,
        }
    }

    /// The shared dispatcher.
    pub fn dispatcher(&self) -> &Arc<Dispatcher<C>> {
        &self.dispatcher
    }

    /// The session's context.
    pub fn context(&self) -> &C {
        &self.ctx
    }

    /// The session's context, mutably.
    pub fn context_mut(&mut self) -> &mut C {
        &mut self.ctx
    }

    /// Ends the session, giving the context back.
    pub fn into_context(self) -> C {
        self.ctx
    }

    /// Takes the rest of the last reply when its command streamed it (see
    /// [`Output::stream`]): the server writes these chunks after the
    /// reply's text, one at a time.
    pub fn take_stream(&mut self) -> Option<ReplyStream> {
        self.stream.take()
    }

    /// The last non-empty line dispatched, whether it succeeded or not.
    pub fn lastcmd(&self) -> Option<&str> {
        self.lastcmd.as_deref()
    }

    /// Replaces the last command, e.g. to stop an empty line from repeating
    /// a destructive one.
    pub fn set_lastcmd(&mut self, line: Option<String>) {
        self.lastcmd = line;
    }

    /// The prompt to show before each line.
    pub fn prompt(&self) -> &str {
        self.dispatcher.prompt()
    }

    /// The intro for a console that currently sees `tasknum` tasks.
    pub fn intro(&self, tasknum: usize) -> String {
        self.dispatcher.intro(tasknum)
    }

    /// Handles one line typed by the user and returns the answer.
    ///
    /// Never panics: panics in commands and hooks become error replies. The
    /// returned future finishes within the command's timeout plus the time
    /// synchronous code run inline (hooks, local commands, and every
    /// synchronous command unless the dispatcher
    /// [runs them on threads](Dispatcher::run_sync_on_threads)) takes;
    /// dropping it cancels an asynchronous command that is still running.
    pub async fn handle_line(&mut self, line: &str) -> Reply {
        let dispatcher = &*self.dispatcher;
        let ctx = &mut self.ctx;
        let stream = &mut self.stream;
        // A stream the server never collected belongs to an older reply.
        *stream = None;
        let line = line.trim();
        let reply = if line.is_empty() {
            let lastcmd = self.lastcmd.as_deref();
            match guard(|| dispatcher.hooks().emptyline(ctx, lastcmd)) {
                Ok(Some(line)) if !line.trim().is_empty() => {
                    dispatch(
                        &self.dispatcher,
                        ctx,
                        &mut self.lastcmd,
                        stream,
                        line.trim(),
                    )
                    .await
                }
                Ok(_) => Reply::default(),
                Err(message) => hook_panicked("emptyline", &message),
            }
        } else {
            dispatch(&self.dispatcher, ctx, &mut self.lastcmd, stream, line).await
        };
        reply.normalized()
    }
}

impl<C: fmt::Debug> fmt::Debug for Session<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("ctx", &self.ctx)
            .field("lastcmd", &self.lastcmd)
            .finish_non_exhaustive()
    }
}

/// Runs a non-empty, trimmed line through `precmd`, the command (or
/// `unknown_command`) and `postcmd`.
async fn dispatch<C: Send + 'static>(
    dispatcher: &Arc<Dispatcher<C>>,
    ctx: &mut C,
    lastcmd: &mut Option<String>,
    stream: &mut Option<ReplyStream>,
    line: &str,
) -> Reply {
    *lastcmd = Some(line.to_owned());
    let hooks = dispatcher.hooks();
    let (command, words) = match guard(|| hooks.precmd(ctx, dispatcher, line)) {
        Ok(Precmd::Run { command, args }) => (command, args),
        Ok(Precmd::Unknown { word, args }) => return unknown(dispatcher, ctx, &word, &args),
        Ok(Precmd::Reply(reply)) => return reply,
        Err(message) => return hook_panicked("precmd", &message),
    };
    let Some(index) = dispatcher.catalog().position(&command) else {
        return unknown(dispatcher, ctx, &command, &words);
    };
    let info = &dispatcher.catalog().commands[index];
    let name = info.name();
    // `--help` anywhere before `--` asks for help, even when other words
    // would not parse (clap stops at the first bad value).
    let wants_help = words
        .iter()
        .take_while(|w| *w != "--")
        .any(|w| w == "--help" || w == "-h");
    let parsed = if wants_help {
        Ok(Err(clap::Error::new(ErrorKind::DisplayHelp)))
    } else {
        guard(|| info.clap.clone().try_get_matches_from(&words))
    };
    let (args, result, reply) = match parsed {
        Ok(Ok(matches)) => {
            let args = Args::new(matches, words.clone());
            let (result, reply) = execute(dispatcher, index, ctx, &args, stream).await;
            (Some(args), result, reply)
        }
        Ok(Err(err)) if err.kind() == ErrorKind::DisplayHelp => {
            let help = dispatcher.catalog().help(name).unwrap_or_default();
            (None, Ok(()), Reply::text(help))
        }
        Ok(Err(err)) => {
            let error = CommandError::Usage {
                message: condense_clap_error(&err),
                usage: info.usage(),
            };
            let reply = error_reply(name, &error, String::new(), false);
            (None, Err(error), reply)
        }
        Err(message) => {
            let error = CommandError::Panicked(message);
            let reply = error_reply(name, &error, String::new(), false);
            (None, Err(error), reply)
        }
    };
    let completed = Completed {
        command: name,
        words: &words,
        args: args.as_ref(),
        result: result.as_ref().map(|_| ()),
    };
    match guard(move || hooks.postcmd(ctx, &completed, reply)) {
        Ok(reply) => reply,
        Err(message) => hook_panicked("postcmd", &message),
    }
}

/// Runs the handler of command `index` with parsed arguments.
async fn execute<C: Send + 'static>(
    dispatcher: &Arc<Dispatcher<C>>,
    index: usize,
    ctx: &mut C,
    args: &Args,
    stream: &mut Option<ReplyStream>,
) -> (Result<(), CommandError>, Reply) {
    let name = dispatcher.catalog().commands[index].name();
    let (handler, timeout, local) = dispatcher.handler(index);
    let (result, text, exit) = match handler {
        Handler::Sync(_) if !local && dispatcher.sync_threads().is_some() => {
            run_on_thread(dispatcher, index, ctx, args, timeout, stream).await
        }
        Handler::Sync(f) => {
            let mut out = Output::new(dispatcher.catalog());
            let result = guard(|| f(ctx, args, &mut out))
                .unwrap_or_else(|message| Err(CommandError::Panicked(message)));
            let (text, exit, rest) = out.finish();
            if result.is_ok() {
                *stream = rest;
            }
            (result, text, exit)
        }
        Handler::Async(f) => {
            let result = match guard(|| f(ctx, args)) {
                Ok(future) => {
                    let executor = if local { None } else { dispatcher.executor() };
                    run_future(future, timeout, executor).await
                }
                Err(message) => Err(CommandError::Panicked(message)),
            };
            match result {
                Ok(text) => (Ok(()), text, false),
                Err(error) => (Err(error), String::new(), false),
            }
        }
    };
    let reply = match &result {
        Ok(()) => Reply {
            text,
            is_error: false,
            exit,
        }
        .normalized(),
        Err(error) => error_reply(name, error, text, exit),
    };
    (result, reply)
}

/// Runs synchronous command `index` on a thread of its own, on a clone of
/// the context, and waits for it on the caller's loop for up to `timeout`;
/// see [`Dispatcher::run_sync_on_threads`].
async fn run_on_thread<C: Send + 'static>(
    dispatcher: &Arc<Dispatcher<C>>,
    index: usize,
    ctx: &mut C,
    args: &Args,
    timeout: Duration,
    stream: &mut Option<ReplyStream>,
) -> (Result<(), CommandError>, String, bool) {
    let threads = dispatcher
        .sync_threads()
        .expect("the caller checked that commands run on threads");
    let running = Running::reserve(&threads.running, threads.max);
    let Some(running) = running else {
        let refused = CommandError::new(format!(
            "{} commands are still running on their threads (timed out ones included); \
             try again when one has finished",
            threads.max
        ));
        return (Err(refused), String::new(), false);
    };
    let mut owned = (threads.clone)(ctx);
    let args = args.clone();
    let shared = Arc::clone(dispatcher);
    let (done, finished) = async_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("monitor-command".into())
        .spawn(move || {
            // Given back when the command returns, however late.
            let _running = running;
            let Handler::Sync(f) = shared.handler(index).0 else {
                unreachable!("command {index} is synchronous");
            };
            let mut out = Output::new(shared.catalog());
            let result = guard(|| f(&mut owned, &args, &mut out))
                .unwrap_or_else(|message| Err(CommandError::Panicked(message)));
            let (text, exit, rest) = out.finish();
            // The session may have stopped waiting; then nobody listens.
            let _ = done.try_send((owned, result, text, exit, rest));
        });
    if let Err(err) = spawned {
        let error = CommandError::new(format!("could not start a thread for the command: {err}"));
        return (Err(error), String::new(), false);
    }
    let received = async { Some(finished.recv().await) };
    let timer = async {
        futures_timer::Delay::new(timeout).await;
        None
    };
    match received.or(timer).await {
        Some(Ok((owned, result, text, exit, rest))) => {
            *ctx = owned;
            if result.is_ok() {
                *stream = rest;
            }
            (result, text, exit)
        }
        // The thread ended without an answer: a panic escaped the guard
        // (one raised while dropping the panic's payload).
        Some(Err(_)) => (
            Err(CommandError::Panicked(
                "the command's thread ended without an answer".into(),
            )),
            String::new(),
            false,
        ),
        None => (Err(CommandError::TimedOut(timeout)), String::new(), false),
    }
}

/// One of the [`Dispatcher::run_sync_on_threads`] places, given back when
/// dropped.
struct Running(Arc<AtomicUsize>);

impl Running {
    fn reserve(running: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now < max).then_some(now + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(running)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Drives an asynchronous command's future to its end, a panic, or the
/// timeout, whichever comes first. In every case but completion the future
/// is dropped, which is how Rust cancels it.
async fn run_future(
    future: CommandFuture,
    timeout: Duration,
    executor: Option<&Arc<dyn Executor>>,
) -> Result<String, CommandError> {
    let guarded = async move {
        AssertUnwindSafe(future)
            .catch_unwind()
            .await
            .unwrap_or_else(|payload| Err(CommandError::Panicked(panic_message(payload.as_ref()))))
    };
    let timer = async {
        futures_timer::Delay::new(timeout).await;
        Err(CommandError::TimedOut(timeout))
    };
    let Some(executor) = executor else {
        return guarded.or(timer).await;
    };
    let (result_tx, result_rx) = async_channel::bounded(1);
    // Nothing is ever sent on `cancel`: the console side dropping its end
    // (on return, on timeout, or because this future itself was dropped)
    // wakes the spawned task, which then drops the command's future.
    let (cancel_tx, cancel_rx) = async_channel::bounded::<()>(1);
    executor.spawn(Box::pin(async move {
        let work = async { Some(guarded.await) };
        let cancelled = async {
            let _ = cancel_rx.recv().await;
            None
        };
        if let Some(result) = work.or(cancelled).await {
            // The console may have given up already; then nobody listens.
            let _ = result_tx.try_send(result);
        }
    }));
    let received = async {
        // A closed channel without a result means the executor dropped the
        // task (e.g. its runtime is shutting down).
        result_rx
            .recv()
            .await
            .unwrap_or(Err(CommandError::Abandoned))
    };
    let result = received.or(timer).await;
    drop(cancel_tx);
    result
}

fn unknown<C: 'static>(
    dispatcher: &Dispatcher<C>,
    ctx: &mut C,
    word: &str,
    args: &[String],
) -> Reply {
    guard(|| {
        dispatcher
            .hooks()
            .unknown_command(ctx, dispatcher, word, args)
    })
    .unwrap_or_else(|message| hook_panicked("default", &message))
}

/// `name: error` on one line, after whatever the command wrote before it
/// failed.
fn error_reply(name: &str, error: &CommandError, mut text: String, exit: bool) -> Reply {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let message = error.to_string();
    text.push_str(name);
    text.push_str(": ");
    text.push_str(&one_line(&message));
    text.push('\n');
    Reply {
        text,
        is_error: true,
        exit,
    }
}

fn hook_panicked(hook: &str, message: &str) -> Reply {
    Reply::error(format!("{hook} hook panicked: {}", one_line(message)))
}

/// Folds a multi-line message onto one line so that an error never spreads
/// over several.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs `f`, turning a panic into its message.
fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    // The context may be left half-updated by a panicking command; that is
    // the command's business, the console itself holds no broken invariant.
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}
