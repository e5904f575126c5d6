//! The built-in console commands, registered through the same public
//! [`Dispatcher::register`](monitor_core::dispatch::Dispatcher::register) path as
//! a user's own commands.

mod diagnose;
mod render;
mod signal;

pub use signal::signal_names;
// The web UI's Sites page sorts and prints percentiles like `sites` does.
#[cfg(feature = "http")]
pub(crate) use diagnose::{SITE_KEYS, percentile, sort_sites};

use std::{fmt::Write as _, sync::Arc, time::Duration};

use monitor_core::{
    LintSet, RegistryError, TaskId, TaskIntrospect, TaskLints, TaskSnapshot,
    dispatch::{Arg, Args, Command, CommandError},
};

use crate::format::{duration_ns, single_line};

/// What every command of a monitor session can reach.
///
/// Custom commands registered with
/// [`MonitorBuilder::command`](crate::MonitorBuilder::command) receive it as
/// their `&mut` context. A synchronous custom command runs on a thread of
/// its own with a clone of it (see
/// [`MonitorBuilder::command`](crate::MonitorBuilder::command)).
#[derive(Clone)]
pub struct MonitorContext {
    introspect: Arc<dyn TaskIntrospect>,
    peer: String,
    console_available: bool,
    console_requested: bool,
    width: usize,
    json_reply: bool,
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
            width: DEFAULT_WIDTH,
            json_reply: false,
        }
    }

    /// Says that this command's reply is one JSON value (what `--json`
    /// prints), so a session in `.mode json` carries it as a JSON value
    /// rather than as a string holding JSON. Call it from a custom
    /// command's handler when it writes JSON; a reply that then does not
    /// parse as JSON is sent as text.
    pub fn reply_is_json(&mut self) {
        self.json_reply = true;
    }

    /// Takes the mark set by [`reply_is_json`](Self::reply_is_json) (used
    /// by the session loop after each command).
    pub(crate) fn take_json_reply(&mut self) -> bool {
        std::mem::take(&mut self.json_reply)
    }

    /// The session's width in columns, which tables are laid out for:
    /// [`DEFAULT_WIDTH`] until the client says otherwise (telnet's window
    /// size option, or the `.width N` session control that monitor-cli
    /// sends from its terminal's size).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Sets the session's width (see [`width`](Self::width)).
    pub(crate) fn set_width(&mut self, width: usize) {
        self.width = width;
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

/// The width tables are laid out for when the client has not told its own:
/// what `nc` in a modest terminal shows without wrapping.
pub const DEFAULT_WIDTH: usize = 100;

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
             A long 'in poll' time means the task is blocking its worker.\n\n\
             A task that a lint concerns is marked in its State cell with ! and the lints' \
             codes (running !BP): SW stuck-worker, BP blocking-poll, NY never-yielded, \
             LF large-future, LS leak-suspect; the Flagged: line under the table counts \
             them, and lints explains each. --json gives each task's lint ids as lints.",
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
        .arg(wide_flag())
        .arg(json_flag())
        .local()
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let filter = args.get::<String>("filter");
            let limit = args.get::<i64>("limit").unwrap_or(0);
            if limit < 0 {
                return Err(CommandError::new(format!(
                    "invalid limit {limit} (expected 0 for all, or a positive count)"
                )));
            }
            if args.flag("json") {
                ctx.reply_is_json();
                let sort = args.get::<String>("sort");
                out.stream(live_json_stream(
                    &ctx.introspect,
                    filter.as_deref(),
                    sort.as_deref(),
                    limit as usize,
                ));
                return Ok(());
            }
            let width = table_width(ctx, args);
            // Thresholds and flagged sites, read once for the whole table;
            // each row's own lints are checked when the row is written.
            let check = TaskLints::new(&*ctx.introspect);
            let (total, matching, ids, layout) =
                select_for_table(ctx, &check, filter.as_deref(), args, limit as usize, width);
            let plural = if total == 1 { "" } else { "s" };
            if filter.is_some() || ids.len() != total {
                out.line(format!(
                    "{total} task{plural} running (showing {})",
                    ids.len()
                ));
            } else {
                out.line(format!("{total} task{plural} running"));
            }
            if matching > ids.len() {
                let _ = writeln!(
                    out,
                    "({} more match; use --limit 0 to show all)",
                    matching - ids.len()
                );
            }
            if let Some(untracked) = ctx.introspect.untracked() {
                out.line(untracked_note(&untracked));
            }
            if !ids.is_empty() {
                out.stream(table_stream(ctx, ids, layout, check, width));
            }
            Ok(())
        })
}

/// `ps` and `stats` on work the monitor does not see: how much, and how to
/// see it.
pub fn untracked_note(untracked: &monitor_core::UntrackedTasks) -> String {
    let (count, plural) = match untracked.count {
        1 => (1, " is"),
        n => (n, "s are"),
    };
    format!(
        "({count} more task{plural} alive on the runtime but not tracked: {})",
        untracked.how_to_see
    )
}

/// The width a table is laid out for: the session's, or unbounded with
/// `--wide`.
fn table_width(ctx: &MonitorContext, args: &Args) -> Option<usize> {
    (!args.flag("wide")).then_some(ctx.width)
}

fn wide_flag() -> Arg {
    Arg::flag("wide")
        .help("do not shorten long names and paths to fit the session's width (see .width)")
}

/// The live tasks `ps` shows, in order, measured for the table: one pass
/// over the registry that keeps 16 bytes per task (its sort key and id)
/// and the widest cell of each column, never the rows themselves. Returns
/// the live count, the matching count, the ids to show and the layout.
fn select_for_table(
    ctx: &MonitorContext,
    check: &TaskLints,
    filter: Option<&str>,
    args: &Args,
    limit: usize,
    width: Option<usize>,
) -> (usize, usize, Vec<TaskId>, render::Layout) {
    let sort = args.get::<String>("sort");
    let mut keys: Vec<(u64, TaskId)> = Vec::new();
    let mut total = 0usize;
    let mut measure = render::Measure::new(&render::LIVE_COLUMNS);
    ctx.introspect.for_each_live(&mut |task| {
        total += 1;
        if matches_filter(&task, filter) {
            keys.push((sort_key(&task, sort.as_deref()), task.id));
            render::LiveRow::new(&task, check.of(&task)).with_cells(|cells| measure.row(cells));
        }
    });
    keys.sort_unstable();
    let matching = keys.len();
    let ids: Vec<TaskId> = keys
        .into_iter()
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|(_, id)| id)
        .collect();
    if ids.len() < matching {
        // Only the shown rows decide the widths.
        measure = render::Measure::new(&render::LIVE_COLUMNS);
        for task in ids.iter().filter_map(|&id| ctx.introspect.task(id)) {
            render::LiveRow::new(&task, check.of(&task)).with_cells(|cells| measure.row(cells));
        }
    }
    (total, matching, ids, measure.layout(width))
}

/// The `ps` table as a stream: the header, then [`TABLE_CHUNK`] rows per
/// chunk, each task read afresh when its chunk is made and marked with the
/// lints that concern it then; last, the `Flagged:` line counting the
/// marks, when there were any. Tasks that ended since they were counted
/// are left out.
fn table_stream(
    ctx: &MonitorContext,
    ids: Vec<TaskId>,
    layout: render::Layout,
    check: TaskLints,
    width: Option<usize>,
) -> impl Iterator<Item = String> + Send + 'static {
    let introspect = Arc::clone(&ctx.introspect);
    let mut ids = ids.into_iter().peekable();
    let mut first = true;
    let mut flagged = Some(diagnose::FlaggedCount::default());
    std::iter::from_fn(move || {
        if !first && ids.peek().is_none() {
            // The rows are done: the note, once, if anything was marked.
            let note = flagged.take()?.note(width);
            return (!note.is_empty()).then_some(note);
        }
        let mut chunk = String::new();
        if std::mem::take(&mut first) {
            layout.header(&mut chunk);
        }
        for id in ids.by_ref().take(TABLE_CHUNK) {
            let Some(task) = introspect.task(id).filter(|task| task.ended.is_none()) else {
                continue;
            };
            let lints = check.of(&task);
            if let Some(flagged) = flagged.as_mut() {
                flagged.add(lints);
            }
            render::LiveRow::new(&task, lints).with_cells(|cells| layout.row(cells, &mut chunk));
        }
        Some(chunk)
    })
}

/// Rows per chunk of a streamed `ps` table.
const TABLE_CHUNK: usize = 1024;

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
    let check = TaskLints::new(&**introspect);
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
            let row = LiveTaskJson {
                lints: check.of(&task),
                task: &task,
            };
            if let Ok(json) = serde_json::to_string(&row) {
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

/// One task of `ps --json` (and `GET /api/tasks`): the snapshot's fields
/// plus `lints`, the ids of the lints that concern it now.
#[derive(serde::Serialize)]
struct LiveTaskJson<'a> {
    #[serde(flatten)]
    task: &'a TaskSnapshot,
    lints: LintSet,
}

/// Tasks serialized per chunk of a streamed `ps --json`.
const JSON_CHUNK: usize = 1024;

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
        .arg(wide_flag())
        .arg(json_flag())
        .local()
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let filter = args.get::<String>("filter");
            let all = ctx.introspect.terminated();
            let total = all.len();
            let tasks: Vec<_> = all
                .into_iter()
                .filter(|task| matches_filter(task, filter.as_deref()))
                .collect();
            if args.flag("json") {
                ctx.reply_is_json();
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
                out.write(render::terminated_table(&tasks, table_width(ctx, args)));
            }
            Ok(())
        })
}

fn trace_text(
    ctx: &mut MonitorContext,
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
        ctx.reply_is_json();
        return to_json(&trace);
    }
    Ok(render::trace(&trace))
}

fn where_() -> Command<MonitorContext> {
    Command::new("where")
        .alias("w")
        .about(
            "Show where a task is: its state, how long its current poll has lasted, the chain \
             of tasks that spawned it with their spawn locations, and its await stack: the \
             pending calls of functions marked #[frame] (any runtime), plus tokio's task dump \
             where enabled.",
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
        .about(
            "Show how an ended task ended, the chain of tasks that spawned it, and the \
             #[frame]-marked calls it was awaiting if it ended before they completed \
             (cancelled, dropped, or by a panic).",
        )
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
                    .map(|name| format!(" ({})", single_line(&name)))
                    .unwrap_or_default();
                format!("Cancelled task {id}{name}\n")
            }
            CancelOutcome::StuckInPoll { task } => format!(
                "Cancel requested for task {}, but it is stuck inside a poll ({} so far on {}); \
                 it will stop when that poll returns\n",
                task.id,
                duration_ns(task.poll_ns.unwrap_or(0)),
                single_line(task.thread.as_deref().unwrap_or("its worker"))
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
        .local()
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let mut running = Vec::new();
            ctx.introspect.for_each_live(&mut |task| {
                if task.poll_ns.is_some() {
                    running.push(task);
                }
            });
            running.sort_by_key(|task| std::cmp::Reverse(task.poll_ns));
            if args.flag("json") {
                ctx.reply_is_json();
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
                    single_line(task.thread.as_deref().unwrap_or("?")),
                    task.id,
                    single_line(task.display_name()),
                    duration_ns(task.poll_ns.unwrap_or(0)),
                    single_line(&task.location)
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
        .local()
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
        .local()
        .run(|_, _, out| {
            out.line("Leaving the monitor. Bye.");
            out.exit();
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use monitor_core::{
        TaskOptions, TaskRegistry,
        dispatch::{Dispatcher, Session},
    };

    use super::{MonitorContext, builtin};

    fn session(registry: &Arc<TaskRegistry>) -> Session<MonitorContext> {
        let mut dispatcher = Dispatcher::new();
        for command in builtin() {
            dispatcher.register(command).unwrap();
        }
        let introspect: Arc<dyn monitor_core::TaskIntrospect> = registry.clone();
        Session::new(
            Arc::new(dispatcher),
            MonitorContext::new(introspect, "test".to_owned(), false),
        )
    }

    /// Issue 15, item 5: `ps` over 100 000 tasks built a 9 MB reply (and
    /// ~250 MB of table) in one piece on the monitor's thread. It must come
    /// as a stream of bounded chunks, like `ps --json`. (30 000 tasks here:
    /// enough for a reply of several chunks, light on a debug build.)
    #[test]
    fn ps_table_over_many_tasks_streams_in_bounded_chunks() {
        const TASKS: usize = 30_000;
        let registry = TaskRegistry::new();
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| registry.register(TaskOptions::new().name(format!("worker-{i}"))))
            .collect();
        let mut session = session(&registry);
        let reply = futures_lite::future::block_on(session.handle_line("ps"));
        assert!(!reply.is_error, "{}", reply.text);
        assert!(
            reply.text.len() < 1024,
            "{} bytes up front",
            reply.text.len()
        );
        let stream = session.take_stream().expect("the table is streamed");
        let (mut rows, mut largest) = (0, 0);
        for chunk in stream {
            largest = largest.max(chunk.len());
            rows += chunk.lines().filter(|l| l.contains("worker-")).count();
        }
        assert_eq!(rows, TASKS);
        assert!(largest < 256 * 1024, "a chunk of {largest} bytes");
        drop(tasks);
    }
}
