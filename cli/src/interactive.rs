//! The interactive console: rustyline for editing, history and completion.

use std::{
    cell::RefCell,
    io,
    path::{Path, PathBuf},
    process::ExitCode,
    rc::Rc,
    time::{Duration, Instant},
};

use rustyline::{
    CompletionType, Config, Context, Editor, Helper,
    completion::{Completer, Pair},
    error::ReadlineError,
    highlight::Highlighter,
    hint::Hinter,
    history::DefaultHistory,
    validate::Validator,
};

use crate::{
    EXIT_CONNECTION,
    catalog::{Catalog, Outcome},
    conn::{self, Connection},
    fetch_catalog, is_exit, print_stdout,
    style::{ColorChoice, Style},
};

/// How long Tab may wait for the task list. Completion blocks the editor,
/// so a slow monitor must not freeze typing for the whole `--timeout`.
const COMPLETION_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a fetched task list is reused: pressing Tab twice (complete,
/// then list) should not ask the server twice.
const TASK_LIST_TTL: Duration = Duration::from_secs(1);

/// Signal names accepted by the server's `signal` command. The server has
/// no way to list them (it only names them in an error message), so they
/// are repeated from `monitor_server::commands::signal_names`.
const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ABRT", "KILL", "TERM", "ALRM", "PIPE", "STOP", "TSTP", "USR1", "USR2",
    "CHLD", "CONT", "WINCH", "URG",
];

/// Runs the console until Ctrl-D, `exit`, or the server hangs up.
pub(crate) fn run(
    conn: Connection,
    intro: &str,
    color: ColorChoice,
) -> Result<ExitCode, conn::Error> {
    let out = Style::stdout(color);
    let err = Style::stderr(color);
    let mut prompt = conn.prompt();
    let conn = Rc::new(RefCell::new(conn));
    let catalog = fetch_catalog(&mut conn.borrow_mut())?;
    print_stdout(intro);

    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_space(true)
        .history_ignore_dups(true)
        .and_then(|b| b.max_history_size(1000))
        .map(|b| b.completion_type(CompletionType::List).build())
        .map_err(readline_error)?;
    let mut editor: Editor<ConsoleHelper, DefaultHistory> =
        Editor::with_config(config).map_err(readline_error)?;
    editor.set_helper(Some(ConsoleHelper::new(Rc::clone(&conn), catalog.clone())));
    let mut history = HistoryFile::open(history_path(), &mut editor, err);

    loop {
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            // Ctrl-C abandons the line being typed, like a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(ExitCode::SUCCESS),
            Err(other) => return Err(readline_error(other)),
        };
        let raw = line;
        let line = raw.trim();
        // The server repeats the previous command on an empty line (like
        // Python's cmd). With history one key away that is only a trap for
        // `cancel`, so an empty line just shows the prompt again.
        if line.is_empty() {
            continue;
        }
        // Untrimmed at the start: a line typed with a leading space stays
        // out of history, as in shells.
        history.add(&mut editor, raw.trim_end());
        let reply = match conn.borrow_mut().request(line) {
            Ok(reply) => reply,
            Err(error @ conn::Error::SessionControl(_)) => {
                eprintln!("{}", err.error(&format!("monitor-cli: {error}")));
                continue;
            }
            Err(error @ conn::Error::Timeout { .. }) => {
                // The reply is still owed and will be skipped before the
                // next request; the session itself may recover.
                eprintln!("{}", err.error(&format!("monitor-cli: {error}")));
                continue;
            }
            Err(error @ conn::Error::Closed { .. }) => {
                eprintln!("{}", err.error(&format!("monitor-cli: {error}")));
                return Ok(ExitCode::from(EXIT_CONNECTION));
            }
            Err(other) => return Err(other),
        };
        show(&reply, out);
        if let Some(next) = &reply.prompt {
            // The console has a prompt of its own.
            prompt.clone_from(next);
        }
        if reply.closed {
            if is_exit(&catalog, line) {
                return Ok(ExitCode::SUCCESS);
            }
            let closed = conn::Error::Closed {
                text: String::new(),
            };
            eprintln!("{}", err.error(&format!("monitor-cli: {closed}")));
            return Ok(ExitCode::from(EXIT_CONNECTION));
        }
    }
}

/// Prints a reply; the error line, if any, in red.
fn show(reply: &conn::Reply, style: Style) {
    match reply.outcome() {
        Outcome::Success => print_stdout(&reply.text),
        Outcome::Failure { output, error } => {
            print_stdout(&output);
            print_stdout(&format!("{}\n", style.error(&error)));
        }
    }
}

fn readline_error(err: ReadlineError) -> conn::Error {
    match err {
        ReadlineError::Io(err) => conn::Error::Io(err),
        other => conn::Error::Io(io::Error::other(other)),
    }
}

/// `$XDG_STATE_HOME/monitor-cli/history`, else
/// `~/.local/state/monitor-cli/history` (the XDG default).
fn history_path() -> Option<PathBuf> {
    // The spec says a relative XDG_STATE_HOME is invalid and to be ignored.
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| std::env::home_dir().map(|home| home.join(".local").join("state")))?;
    Some(state.join("monitor-cli").join("history"))
}

/// The persistent history. Any failure is a warning, shown once: a
/// read-only home must not stop anyone from inspecting a stuck process.
struct HistoryFile {
    path: Option<PathBuf>,
    style: Style,
    warned: bool,
}

impl HistoryFile {
    fn open(
        path: Option<PathBuf>,
        editor: &mut Editor<ConsoleHelper, DefaultHistory>,
        style: Style,
    ) -> Self {
        let mut file = Self {
            path,
            style,
            warned: false,
        };
        let Some(path) = file.path.clone() else {
            file.warn("no home directory; history is not saved");
            return file;
        };
        match editor.load_history(&path) {
            Ok(()) => {}
            Err(ReadlineError::Io(err)) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => file.warn(&format!("cannot read history {}: {err}", path.display())),
        }
        file
    }

    /// Adds `line` and appends it to the file at once, so that history
    /// survives the client being killed and concurrent consoles merge.
    fn add(&mut self, editor: &mut Editor<ConsoleHelper, DefaultHistory>, line: &str) {
        // Only fails for a history backed by a database; ours is memory.
        let _ = editor.add_history_entry(line);
        let Some(path) = self.path.clone() else {
            return;
        };
        if let Err(err) = save(editor, &path) {
            self.warn(&format!("cannot save history to {}: {err}", path.display()));
        }
    }

    fn warn(&mut self, message: &str) {
        if !self.warned {
            self.warned = true;
            eprintln!(
                "{}",
                self.style.note(&format!("monitor-cli: warning: {message}"))
            );
        }
    }
}

fn save(editor: &mut Editor<ConsoleHelper, DefaultHistory>, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|err| err.to_string())?;
    }
    editor.append_history(path).map_err(|err| err.to_string())
}

/// A task as offered for completion.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TaskChoice {
    id: u64,
    name: Option<String>,
}

struct TaskList {
    fetched: Instant,
    terminated: bool,
    tasks: Vec<TaskChoice>,
}

/// Completion for rustyline; shares the session with the main loop (the
/// editor only calls it while the loop waits in `readline`).
struct ConsoleHelper {
    conn: Rc<RefCell<Connection>>,
    catalog: Catalog,
    cache: RefCell<Option<TaskList>>,
}

impl ConsoleHelper {
    fn new(conn: Rc<RefCell<Connection>>, catalog: Catalog) -> Self {
        Self {
            conn,
            catalog,
            cache: RefCell::new(None),
        }
    }

    /// Live tasks, or recently ended ones, from the server; empty when it
    /// cannot answer quickly.
    fn tasks(&self, terminated: bool) -> Vec<TaskChoice> {
        if let Some(list) = &*self.cache.borrow()
            && list.terminated == terminated
            && list.fetched.elapsed() < TASK_LIST_TTL
        {
            return list.tasks.clone();
        }
        let command = if terminated {
            "ps-terminated --json"
        } else {
            "ps --json"
        };
        let Ok(mut conn) = self.conn.try_borrow_mut() else {
            return Vec::new();
        };
        let tasks = match conn.request_within(command, COMPLETION_TIMEOUT) {
            Ok(reply) if !reply.closed => parse_tasks(&reply.text),
            _ => Vec::new(),
        };
        *self.cache.borrow_mut() = Some(TaskList {
            fetched: Instant::now(),
            terminated,
            tasks: tasks.clone(),
        });
        tasks
    }
}

/// The tasks in `ps --json` output: a JSON array of objects with `id` and
/// `name`.
fn parse_tasks(text: &str) -> Vec<TaskChoice> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str(text.trim()) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            Some(TaskChoice {
                id: item.get("id")?.as_u64()?,
                name: item.get("name").and_then(|n| n.as_str()).map(str::to_owned),
            })
        })
        .collect()
}

/// What to complete at the cursor: the start of the word and the choices.
fn complete_line(
    catalog: &Catalog,
    line: &str,
    pos: usize,
    tasks: impl FnOnce(bool) -> Vec<TaskChoice>,
) -> (usize, Vec<Pair>) {
    let before = &line[..pos];
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    let mut earlier = before[..start].split_whitespace();
    let Some(command) = earlier.next() else {
        let pairs = catalog
            .complete_command(word)
            .into_iter()
            .map(|name| Pair {
                replacement: format!("{name} "),
                display: name,
            })
            .collect();
        return (start, pairs);
    };
    let Some(info) = catalog.resolve(command) else {
        return (start, Vec::new());
    };
    let plain = |words: Vec<String>| -> Vec<Pair> {
        words
            .into_iter()
            .map(|w| Pair {
                replacement: format!("{w} "),
                display: w,
            })
            .collect()
    };
    if word.starts_with('-') {
        let options = info
            .options()
            .filter(|o| o.starts_with(word))
            .map(str::to_owned)
            .collect();
        return (start, plain(options));
    }
    // Task ids and signal names are each the command's one positional
    // argument: offer them until it is given.
    if earlier.any(|w| !w.starts_with('-')) {
        return (start, Vec::new());
    }
    if info.takes("TASK_ID") {
        // Tables show ids as `#12`; both forms work on the server.
        let (hash, digits) = word
            .strip_prefix('#')
            .map_or(("", word), |rest| ("#", rest));
        let terminated = info.name.ends_with("-terminated");
        let pairs = tasks(terminated)
            .into_iter()
            .filter(|task| task.id.to_string().starts_with(digits))
            .map(|task| Pair {
                display: match &task.name {
                    Some(name) => format!("{} ({name})", task.id),
                    None => task.id.to_string(),
                },
                replacement: format!("{hash}{} ", task.id),
            })
            .collect();
        return (start, pairs);
    }
    if info.takes("SIGNAME") {
        let upper = word.to_ascii_uppercase();
        let (sig, bare) = upper
            .strip_prefix("SIG")
            .map_or(("", upper.as_str()), |rest| ("SIG", rest));
        let names = SIGNALS
            .iter()
            .filter(|name| name.starts_with(bare))
            .map(|name| format!("{sig}{name}"))
            .collect();
        return (start, plain(names));
    }
    (start, Vec::new())
}

impl Completer for ConsoleHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(complete_line(&self.catalog, line, pos, |terminated| {
            self.tasks(terminated)
        }))
    }
}

impl Hinter for ConsoleHelper {
    type Hint = String;
}

impl Highlighter for ConsoleHelper {}

impl Validator for ConsoleHelper {}

impl Helper for ConsoleHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::parse_help(
            "Available commands:\n    \
             cancel TASK_ID: Cancel a task. (aliases: ca)\n    \
             ps [-f TEXT] [-s KEY] [-n N] [--json]: List. (aliases: p)\n    \
             ps-terminated [-f TEXT] [--json]: Ended. (aliases: pt, pst)\n    \
             signal [--confirm] SIGNAME: Send a signal.\n    \
             where [--json] TASK_ID: Where. (aliases: w)\n    \
             where-terminated [--json] TASK_ID: How. (aliases: wt)\n",
        )
    }

    fn choices(line: &str, tasks: &[(u64, Option<&str>)]) -> (usize, Vec<String>, Option<bool>) {
        let asked = std::cell::Cell::new(None);
        let (start, pairs) = complete_line(&catalog(), line, line.len(), |terminated| {
            asked.set(Some(terminated));
            tasks
                .iter()
                .map(|(id, name)| TaskChoice {
                    id: *id,
                    name: name.map(str::to_owned),
                })
                .collect()
        });
        let words = pairs.into_iter().map(|p| p.replacement).collect();
        (start, words, asked.get())
    }

    #[test]
    fn completes_commands_then_their_arguments() {
        assert_eq!(choices("wh", &[]).1, ["where ", "where-terminated "]);
        assert_eq!(choices("  ca", &[]), (2, vec!["cancel ".to_owned()], None));
        let tasks = [(7, Some("worker")), (12, None), (71, None)];
        assert_eq!(
            choices("where 7", &tasks),
            (6, vec!["7 ".to_owned(), "71 ".to_owned()], Some(false))
        );
        assert_eq!(choices("w --json #1", &tasks).1, ["#12 "]);
        assert_eq!(choices("wt ", &tasks).2, Some(true));
        // The id is already there.
        assert_eq!(choices("cancel 7 ", &tasks).1, Vec::<String>::new());
        assert_eq!(choices("signal us", &[]).1, ["USR1 ", "USR2 "]);
        assert_eq!(choices("signal sigte", &[]).1, ["SIGTERM "]);
        assert_eq!(choices("ps --j", &[]).1, ["--json "]);
        assert_eq!(choices("nope ", &[]).1, Vec::<String>::new());
    }

    #[test]
    fn task_lists_come_from_ps_json() {
        let tasks = parse_tasks(r#"[{"id":3,"name":"a","state":"idle"},{"id":4,"name":null}]"#);
        assert_eq!(
            tasks,
            [
                TaskChoice {
                    id: 3,
                    name: Some("a".into())
                },
                TaskChoice { id: 4, name: None }
            ]
        );
        assert!(parse_tasks("ps: boom").is_empty());
    }
}
