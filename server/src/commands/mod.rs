//! The built-in console commands, registered through the same public
//! [`Dispatcher::register`](monitor_core::dispatch::Dispatcher::register) path as
//! a user's own commands.

mod diagnose;
mod render;
mod signal;

pub use signal::signal_names;

use std::{fmt::Write as _, sync::Arc, time::Duration};

use monitor_core::{
    RegistryError, TaskId, TaskIntrospect, TaskSnapshot,
    dispatch::{Arg, Args, Command, CommandError},
};

use crate::format::duration_ns;

/// What every command of a monitor session can reach.
///
/// Custom commands registered with
/// [`MonitorBuilder::command`](crate::MonitorBuilder::command) receive it as
/// their `&mut` context.
pub struct MonitorContext {
    introspect: Arc<dyn TaskIntrospect>,
    peer: String,
    console_available: bool,
    console_requested: bool,
}

impl std::fmt::Debug for MonitorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorContext")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl MonitorContext {
    pub(crate) fn new(
        introspect: Arc<dyn TaskIntrospect>,
        peer: String,
        console_available: bool,
    ) -> Self {
        Self {
            introspect,
            peer,
            console_available,
            console_requested: false,
        }
    }

    /// Asks the session to enter the console after this command; `false`
    /// when the application exposed no namespace.
    pub fn request_console(&mut self) -> bool {
        self.console_requested = self.console_available;
        self.console_available
    }

    /// Takes a pending console request (used by the session loop).
    pub(crate) fn take_console_request(&mut self) -> bool {
        std::mem::take(&mut self.console_requested)
    }

    /// The application's tasks.
    pub fn introspect(&self) -> &Arc<dyn TaskIntrospect> {
        &self.introspect
    }

    /// Who is connected (`127.0.0.1:51234`, `unix:/run/app.sock`, …).
    pub fn peer(&self) -> &str {
        &self.peer
    }
}

/// How long `cancel` waits for the task to stop before reporting that it
/// has not (yet).
const CANCEL_WAIT: Duration = Duration::from_secs(1);

/// Every built-in command.
pub(crate) fn builtin() -> Vec<Command<MonitorContext>> {
    vec![
        ps(),
        ps_terminated(),
        where_(),
        where_terminated(),
        cancel(),
        stacktrace(),
        signal::command(),
        console(),
        exit(),
    ]
    .into_iter()
    .chain(diagnose::commands())
    .collect()
}

fn json_flag() -> Arg {
    Arg::flag("json").help("print JSON instead of a table")
}

fn filter_option() -> Arg {
    Arg::option("filter", "TEXT")
        .short('f')
        .help("only tasks whose name or location contains TEXT")
}

/// Whether `task`'s name or spawn location contains `filter` (`ps
/// --filter`, the web UI's filter box).
pub(crate) fn matches_filter(task: &TaskSnapshot, filter: Option<&str>) -> bool {
    filter.is_none_or(|needle| {
        task.name
            .as_deref()
            .is_some_and(|name| name.contains(needle))
            || task.location.contains(needle)
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, CommandError> {
    serde_json::to_string(value)
        .map_err(|err| CommandError::new(format!("JSON encoding failed: {err}")))
}

fn ps() -> Command<MonitorContext> {
    Command::new("ps")
        .alias("p")
        .about(
            "List the live tasks.\n\n\
             Columns: task id, state (idle, or running when a worker is inside its poll right \
             now), name, spawn location, age, number of polls, total busy time, and for a \
             running task how long its current poll has lasted and on which thread. \
             A long 'in poll' time means the task is blocking its worker.",
        )
        .arg(filter_option())
        .arg(
            Arg::choice("sort", SORT_KEYS)
                .long("sort")
                .short('s')
                .value_name("KEY")
                .help(
                    "order by id (default), age, busy, polls or poll (longest current poll first)",
                ),
        )
        .arg(
            Arg::int("limit")
                .long("limit")
                .short('n')
                .value_name("N")
                .help("show at most N tasks (0 = all; default all)"),
        )
        .arg(json_flag())
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let filter = args.get::<String>("filter");
            let limit = args.get::<i64>("limit").unwrap_or(0);
            if limit < 0 {
                return Err(CommandError::new(format!(
                    "invalid limit {limit} (expected 0 for all, or a positive count)"
                )));
            }
            if args.flag("json") {
                let sort = args.get::<String>("sort");
                out.stream(live_json_stream(
                    &ctx.introspect,
                    filter.as_deref(),
                    sort.as_deref(),
                    limit as usize,
                ));
                return Ok(());
            }
            let mut tasks = Vec::new();
            let mut total = 0usize;
            ctx.introspect.for_each_live(&mut |task| {
                total += 1;
                if matches_filter(&task, filter.as_deref()) {
                    tasks.push(task);
                }
            });
            sort_tasks(&mut tasks, args);
            let shown_matching = tasks.len();
            if limit > 0 {
                tasks.truncate(limit as usize);
            }
            let plural = if total == 1 { "" } else { "s" };
            if filter.is_some() || tasks.len() != total {
                out.line(format!(
                    "{total} task{plural} running (showing {})",
                    tasks.len()
                ));
            } else {
                out.line(format!("{total} task{plural} running"));
            }
            if shown_matching > tasks.len() {
                let _ = writeln!(
                    out,
                    "({} more match; use --limit 0 to show all)",
                    shown_matching - tasks.len()
                );
            }
            if !tasks.is_empty() {
                out.write(render::live_table(&tasks));
            }
            out.write(diagnose::flagged_tasks_note(&*ctx.introspect, &tasks));
            Ok(())
        })
}

/// The orders `ps --sort` (and the web UI) accept.
pub(crate) const SORT_KEYS: &[&str] = &["id", "age", "busy", "polls", "poll"];

/// The sort key `ps --sort` orders by, smallest first: descending keys are
/// stored inverted so every order is one ascending sort on `(key, id)`.
pub(crate) fn sort_key(task: &TaskSnapshot, sort: Option<&str>) -> u64 {
    match sort {
        Some("age") => u64::MAX - task.age_ns,
        Some("busy") => u64::MAX - task.busy_ns,
        Some("polls") => u64::MAX - task.polls,
        Some("poll") => u64::MAX - task.poll_ns.unwrap_or(0),
        _ => 0,
    }
}

/// `ps --json` (and the HTTP API's `GET /api/tasks`) as a stream: the live
/// tasks' ids are listed and sorted first (16 bytes a task), then each
/// chunk reads up to [`JSON_CHUNK`] tasks again and serializes them, so the
/// reply for a million tasks is never held in memory whole. Tasks that end
/// in between are left out. `limit` 0 means all.
pub(crate) fn live_json_stream(
    introspect: &Arc<dyn TaskIntrospect>,
    filter: Option<&str>,
    sort: Option<&str>,
    limit: usize,
) -> impl Iterator<Item = String> + Send + 'static {
    let mut keys: Vec<(u64, TaskId)> = Vec::new();
    introspect.for_each_live(&mut |task| {
        if matches_filter(&task, filter) {
            keys.push((sort_key(&task, sort), task.id));
        }
    });
    keys.sort_unstable();
    if limit > 0 {
        keys.truncate(limit);
    }
    let introspect = Arc::clone(introspect);
    let mut ids = keys.into_iter().map(|(_, id)| id).peekable();
    let mut opened = false;
    let mut wrote_any = false;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut chunk = String::new();
        if !opened {
            chunk.push('[');
            opened = true;
        }
        for id in ids.by_ref().take(JSON_CHUNK) {
            let Some(task) = introspect.task(id).filter(|task| task.ended.is_none()) else {
                continue;
            };
            // A snapshot always serializes; were it ever not to, leaving the
            // task out beats breaking the array.
            if let Ok(json) = serde_json::to_string(&task) {
                if wrote_any {
                    chunk.push(',');
                }
                chunk.push_str(&json);
                wrote_any = true;
            }
        }
        if ids.peek().is_none() {
            chunk.push_str("]\n");
            done = true;
        }
        Some(chunk)
    })
}

/// Tasks serialized per chunk of a streamed `ps --json`.
const JSON_CHUNK: usize = 1024;

fn sort_tasks(tasks: &mut [TaskSnapshot], args: &Args) {
    match args.get::<String>("sort").as_deref() {
        Some("age") => tasks.sort_unstable_by_key(|t| (std::cmp::Reverse(t.age_ns), t.id)),
        Some("busy") => tasks.sort_unstable_by_key(|t| (std::cmp::Reverse(t.busy_ns), t.id)),
        Some("polls") => tasks.sort_unstable_by_key(|t| (std::cmp::Reverse(t.polls), t.id)),
        Some("poll") => {
            tasks.sort_unstable_by_key(|t| (std::cmp::Reverse(t.poll_ns.unwrap_or(0)), t.id))
        }
        // Ids are unique, so an unstable sort gives the same order.
        _ => tasks.sort_unstable_by_key(|t| t.id),
    }
}

fn ps_terminated() -> Command<MonitorContext> {
    Command::new("ps-terminated")
        .alias("pt")
        .alias("pst")
        .about(
            "List recently ended tasks, newest first.\n\n\
             The history is bounded (1000 by default); the oldest entries are dropped first, \
             except tasks spawned as persistent, which are always kept.",
        )
        .arg(filter_option())
        .arg(json_flag())
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let filter = args.get::<String>("filter");
            let all = ctx.introspect.terminated();
            let total = all.len();
            let tasks: Vec<_> = all
                .into_iter()
                .filter(|task| matches_filter(task, filter.as_deref()))
                .collect();
            if args.flag("json") {
                out.line(to_json(&tasks)?);
                return Ok(());
            }
            let plural = if total == 1 { "" } else { "s" };
            if filter.is_some() {
                out.line(format!(
                    "{total} task{plural} terminated (showing {}; old ones may be stripped)",
                    tasks.len()
                ));
            } else {
                out.line(format!(
                    "{total} task{plural} terminated (old ones may be stripped)"
                ));
            }
            if !tasks.is_empty() {
                out.write(render::terminated_table(&tasks));
            }
            Ok(())
        })
}

fn trace_text(
    ctx: &MonitorContext,
    id: TaskId,
    json: bool,
    want_terminated: bool,
) -> Result<String, CommandError> {
    let trace = ctx.introspect.trace(id).map_err(error)?;
    let ended = trace.task.state.is_terminal();
    if want_terminated && !ended {
        return Err(CommandError::new(format!(
            "task {id} is still live; use: where {id}"
        )));
    }
    if json {
        return to_json(&trace);
    }
    Ok(render::trace(&trace))
}

fn where_() -> Command<MonitorContext> {
    Command::new("where")
        .alias("w")
        .about(
            "Show where a task is: its state, how long its current poll has lasted, the chain \
             of tasks that spawned it with their spawn locations, and its await stack when the \
             runtime adapter can take one.",
        )
        .arg(Arg::task_id("TASK_ID").help("the task, as listed by ps"))
        .arg(json_flag())
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let id: TaskId = args.get("TASK_ID").ok_or("missing TASK_ID")?;
            out.write(trace_text(ctx, id, args.flag("json"), false)?);
            Ok(())
        })
}

fn where_terminated() -> Command<MonitorContext> {
    Command::new("where-terminated")
        .alias("wt")
        .about("Show how an ended task ended and the chain of tasks that spawned it.")
        .arg(Arg::task_id("TASK_ID").help("the task, as listed by ps-terminated"))
        .arg(json_flag())
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let id: TaskId = args.get("TASK_ID").ok_or("missing TASK_ID")?;
            out.write(trace_text(ctx, id, args.flag("json"), true)?);
            Ok(())
        })
}

fn error(err: RegistryError) -> CommandError {
    CommandError::new(err.to_string())
}

fn cancel() -> Command<MonitorContext> {
    Command::new("cancel")
        .alias("ca")
        .about(
            "Cancel a task: its future is dropped at its next poll, running its destructors.\n\n\
             Waits up to one second for the task to stop and says whether it did. A task stuck \
             inside a poll cannot be interrupted from outside; it stops when that poll returns.",
        )
        .arg(Arg::task_id("TASK_ID").help("the task, as listed by ps"))
        .local()
        .run_async(|ctx: &mut MonitorContext, args: &Args| {
            let introspect = Arc::clone(&ctx.introspect);
            let id: Option<TaskId> = args.get("TASK_ID");
            async move {
                let id = id.ok_or("missing TASK_ID")?;
                let outcome = cancel_and_wait(&introspect, id).await.map_err(error)?;
                Ok(outcome.message())
            }
        })
}

/// What came of a cancel request, after waiting up to [`CANCEL_WAIT`].
#[derive(Debug)]
pub(crate) enum CancelOutcome {
    /// The task stopped (`task` is its record in the history, if still there).
    Stopped {
        /// The task's id.
        id: TaskId,
        /// Its final snapshot, unless it already left the history.
        task: Option<TaskSnapshot>,
    },
    /// A worker is still inside the task's poll; it stops when that returns.
    StuckInPoll {
        /// The task as it is now.
        task: TaskSnapshot,
    },
    /// The task has not been polled since (its runtime may be busy).
    NotYetStopped {
        /// The task as it is now.
        task: TaskSnapshot,
    },
}

impl CancelOutcome {
    /// The one-line answer the console prints (and the web UI shows).
    pub(crate) fn message(&self) -> String {
        match self {
            CancelOutcome::Stopped { id, task } => {
                let name = task
                    .as_ref()
                    .and_then(|task| task.name.clone())
                    .map(|name| format!(" ({name})"))
                    .unwrap_or_default();
                format!("Cancelled task {id}{name}\n")
            }
            CancelOutcome::StuckInPoll { task } => format!(
                "Cancel requested for task {}, but it is stuck inside a poll ({} so far on {}); \
                 it will stop when that poll returns\n",
                task.id,
                duration_ns(task.poll_ns.unwrap_or(0)),
                task.thread.as_deref().unwrap_or("its worker")
            ),
            CancelOutcome::NotYetStopped { task } => format!(
                "Cancel requested for task {}; it has not stopped within {}s (its runtime may be \
                 busy or blocked); check with: ps\n",
                task.id,
                CANCEL_WAIT.as_secs()
            ),
        }
    }
}

/// Requests cancellation of `id` and waits (on the monitor's loop, never
/// the application's runtime) up to [`CANCEL_WAIT`] for it to stop: the
/// one implementation behind the console's `cancel` and the web UI's.
pub(crate) async fn cancel_and_wait(
    introspect: &Arc<dyn TaskIntrospect>,
    id: TaskId,
) -> Result<CancelOutcome, RegistryError> {
    introspect.cancel(id)?;
    let deadline = std::time::Instant::now() + CANCEL_WAIT;
    loop {
        let task = introspect.task(id);
        match task {
            None => return Ok(CancelOutcome::Stopped { id, task: None }),
            Some(task) if task.state.is_terminal() => {
                return Ok(CancelOutcome::Stopped {
                    id,
                    task: Some(task),
                });
            }
            Some(task) if std::time::Instant::now() >= deadline => {
                return Ok(if task.poll_ns.is_some() {
                    CancelOutcome::StuckInPoll { task }
                } else {
                    CancelOutcome::NotYetStopped { task }
                });
            }
            Some(_) => {
                async_io::Timer::after(Duration::from_millis(2)).await;
            }
        }
    }
}

fn stacktrace() -> Command<MonitorContext> {
    Command::new("stacktrace")
        .alias("st")
        .alias("stack")
        .about(
            "Show which task each thread is polling right now, and for how long.\n\n\
             The counterpart of aiomonitor's event-loop stack: when the application is stuck, \
             this names the tasks that hold its worker threads.",
        )
        .arg(json_flag())
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let mut running = Vec::new();
            ctx.introspect.for_each_live(&mut |task| {
                if task.poll_ns.is_some() {
                    running.push(task);
                }
            });
            running.sort_by_key(|task| std::cmp::Reverse(task.poll_ns));
            if args.flag("json") {
                out.line(to_json(&running)?);
                return Ok(());
            }
            if running.is_empty() {
                out.line(
                    "No thread is inside a tracked task's poll right now (workers are idle or \
                     running untracked code).",
                );
                return Ok(());
            }
            for task in &running {
                out.line(format!(
                    "thread {}: polling task {} ({}) for {}, spawned at {}",
                    task.thread.as_deref().unwrap_or("?"),
                    task.id,
                    task.display_name(),
                    duration_ns(task.poll_ns.unwrap_or(0)),
                    task.location
                ));
            }
            Ok(())
        })
}

fn console() -> Command<MonitorContext> {
    Command::new("console")
        .about(
            "Enter the console: the values, tunables and actions the application exposed \
             (ls, get NAME, set NAME VALUE, call NAME ARGS...). exit returns here.",
        )
        .run(|ctx: &mut MonitorContext, _: &Args, _| {
            if ctx.request_console() {
                Ok(())
            } else {
                Err(CommandError::new(
                    "this application exposes no console namespace (it is set with \
                     MonitorBuilder::namespace)",
                ))
            }
        })
}

fn exit() -> Command<MonitorContext> {
    Command::new("exit")
        .alias("quit")
        .alias("q")
        .about("Leave the monitor (the application keeps running). Ctrl-D does the same.")
        .run(|_, _, out| {
            out.line("Leaving the monitor. Bye.");
            out.exit();
            Ok(())
        })
}
