//! The console's commands: `ls`, `get`, `set`, `call`, `help`, `exit`.

use std::{fmt::Write as _, sync::Arc, time::Duration};

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};

use super::{Entry, Namespace};
use monitor_core::{
    Executor,
    dispatch::{Arg, Args, Command, CommandError, Dispatcher, Hooks, Precmd, RegisterError},
};

/// The prompt of the console.
pub const CONSOLE_PROMPT: &str = "console >>> ";

/// What the console's commands can reach: the application's namespace.
#[derive(Clone)]
pub struct ConsoleContext {
    namespace: Arc<Namespace>,
}

impl std::fmt::Debug for ConsoleContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleContext")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl ConsoleContext {
    /// A context over `namespace`.
    pub fn new(namespace: Arc<Namespace>) -> Self {
        Self { namespace }
    }

    /// The application's namespace.
    pub fn namespace(&self) -> &Arc<Namespace> {
        &self.namespace
    }
}

/// Routes `call NAME …` to the action and a bare value name to `get`.
struct ConsoleHooks {
    namespace: Arc<Namespace>,
}

impl Hooks<ConsoleContext> for ConsoleHooks {
    fn precmd(
        &self,
        _ctx: &mut ConsoleContext,
        dispatcher: &Dispatcher<ConsoleContext>,
        line: &str,
    ) -> Precmd {
        match dispatcher.resolve_line(line) {
            Precmd::Run { command, args } if command == "call" => {
                let mut args = args.into_iter();
                match args.next() {
                    Some(name) if self.is_action(&name) => Precmd::Run {
                        command: name,
                        args: args.collect(),
                    },
                    Some(name) => Precmd::Reply(monitor_core::dispatch::Reply::error(format!(
                        "call: {name:?} is not an action; actions: {}",
                        self.actions().join(", ")
                    ))),
                    None => Precmd::Reply(monitor_core::dispatch::Reply::error(format!(
                        "call: missing NAME. usage: call NAME [ARGS...]; actions: {}",
                        self.actions().join(", ")
                    ))),
                }
            }
            // `NAME` alone reads a value or tunable, like typing a variable's
            // name in a REPL.
            Precmd::Unknown { word, args } if self.namespace.items.contains_key(&word) => {
                let mut words = vec![word];
                words.extend(args);
                Precmd::Run {
                    command: "get".to_owned(),
                    args: words,
                }
            }
            other => other,
        }
    }
}

impl ConsoleHooks {
    fn is_action(&self, name: &str) -> bool {
        matches!(
            self.namespace.items.get(name).map(|item| &item.entry),
            Some(Entry::Action { .. })
        )
    }

    fn actions(&self) -> Vec<&str> {
        self.namespace
            .items
            .iter()
            .filter(|(_, item)| matches!(item.entry, Entry::Action { .. }))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

fn unknown_name(namespace: &Namespace, name: &str) -> CommandError {
    let names: Vec<&str> = namespace.names().collect();
    let known = if names.is_empty() {
        "the namespace is empty".to_owned()
    } else {
        format!("known names: {}", names.join(", "))
    };
    CommandError::new(format!("no name {name:?} in the namespace; {known}"))
}

/// Builds the console's dispatcher over `namespace`.
pub(crate) fn dispatcher(
    namespace: Arc<Namespace>,
    executor: Option<Arc<dyn Executor>>,
    timeout: Option<Duration>,
) -> Result<Dispatcher<ConsoleContext>, RegisterError> {
    let mut dispatcher = Dispatcher::new();
    dispatcher.set_prompt(CONSOLE_PROMPT);
    dispatcher
        .set_intro(
            "Console: {tasknum} name{s} in the namespace\n\
             Type ls to list them, help for commands, exit to leave\n",
        )
        .expect("the console intro is a valid template");
    if let Some(executor) = executor {
        dispatcher.set_executor(executor);
    }
    if let Some(timeout) = timeout {
        dispatcher.set_timeout(timeout);
    }
    // `ls`, `get` and `set` run the application's own code (renderers,
    // parsers, setters), which may block on the application's locks.
    dispatcher.run_sync_on_threads(crate::monitor::COMMAND_THREADS);
    dispatcher.register(ls())?;
    dispatcher.register(get())?;
    dispatcher.register(set())?;
    dispatcher.register(
        Command::new("call")
            .about("Call an action: call NAME [ARGS...] (typing NAME ARGS... works too).")
            .arg(Arg::string("NAME"))
            .arg(Arg::string("ARGS").optional().variadic())
            // Only reached when the hook could not route the line, which it
            // always answers itself; kept so `help call` documents it.
            .run(|_: &mut ConsoleContext, _: &Args, _| Err("call: unknown action".into())),
    )?;
    dispatcher.register(
        Command::new("exit")
            .alias("quit")
            .alias("q")
            .about("Leave the console.")
            .local()
            .run(|_: &mut ConsoleContext, _: &Args, out| {
                out.line("Leaving the console.");
                out.exit();
                Ok(())
            }),
    )?;
    for (name, item) in &namespace.items {
        if let Entry::Action { args, run } = &item.entry {
            let run = Arc::clone(run);
            let mut command = Command::new(name.clone()).about(item.doc.clone());
            for arg in args {
                command = command.arg(arg.clone());
            }
            dispatcher.register(
                command.run_async(move |_: &mut ConsoleContext, args: &Args| run(args)),
            )?;
        }
    }
    dispatcher.set_hooks(ConsoleHooks {
        namespace: Arc::clone(&namespace),
    });
    Ok(dispatcher)
}

fn ls() -> Command<ConsoleContext> {
    Command::new("ls")
        .alias("vars")
        .about(
            "List the namespace: every value, tunable and action with its current value and doc.",
        )
        .run(|ctx: &mut ConsoleContext, _: &Args, out| {
            if ctx.namespace.is_empty() {
                out.line("The namespace is empty: the application exposed nothing.");
                return Ok(());
            }
            let mut table = Table::new();
            table
                .load_preset(UTF8_BORDERS_ONLY)
                .set_header(["Name", "Kind", "Value", "Doc"]);
            for (name, item) in &ctx.namespace.items {
                let (kind, value) = match &item.entry {
                    Entry::Value(render) => ("value".to_owned(), one_line(&render().text)),
                    Entry::Tunable(tunable) => {
                        (format!("tunable ({})", tunable.type_name()), tunable.get())
                    }
                    Entry::Action { .. } => ("action".to_owned(), "-".to_owned()),
                };
                table.add_row([name.as_str(), &kind, &value, &item.doc]);
            }
            let _ = writeln!(out, "{table}");
            Ok(())
        })
}

/// Shortens a multi-line rendering for the `ls` table.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 60 {
        let mut short: String = joined.chars().take(59).collect();
        short.push('…');
        short
    } else {
        joined
    }
}

fn get() -> Command<ConsoleContext> {
    Command::new("get")
        .about("Show a value or tunable (typing its NAME alone works too).")
        .arg(Arg::string("NAME"))
        .arg(Arg::flag("json").help("print the value as JSON"))
        .run(|ctx: &mut ConsoleContext, args: &Args, out| {
            let name: String = args.get("NAME").ok_or("missing NAME")?;
            let item = ctx
                .namespace
                .items
                .get(&name)
                .ok_or_else(|| unknown_name(&ctx.namespace, &name))?;
            let json = args.flag("json");
            match &item.entry {
                Entry::Value(render) => {
                    let rendered = render();
                    if json {
                        match rendered.json {
                            Some(Ok(text)) => out.line(text),
                            Some(Err(err)) => {
                                return Err(CommandError::new(format!(
                                    "{name} could not be encoded as JSON: {err}"
                                )));
                            }
                            None => {
                                return Err(CommandError::new(format!(
                                    "{name} has no JSON form (it is exposed as Debug only)"
                                )));
                            }
                        }
                    } else {
                        out.line(rendered.text);
                    }
                }
                Entry::Tunable(tunable) => {
                    let value = tunable.get();
                    if json {
                        out.line(serde_json::to_string(&value).unwrap_or_default());
                    } else {
                        out.line(format!("{name} = {value}"));
                    }
                }
                Entry::Action { .. } => {
                    return Err(CommandError::new(format!(
                        "{name} is an action; run it with: call {name} [ARGS...]"
                    )));
                }
            }
            Ok(())
        })
}

fn set() -> Command<ConsoleContext> {
    Command::new("set")
        .about(
            "Change a tunable: set NAME VALUE.\n\n\
             A value that does not parse is refused and the old value stays. Tunables are \
             shared by every session; the last set wins.",
        )
        .arg(Arg::string("NAME"))
        .arg(Arg::string("VALUE"))
        .run(|ctx: &mut ConsoleContext, args: &Args, out| {
            let name: String = args.get("NAME").ok_or("missing NAME")?;
            let value: String = args.get("VALUE").ok_or("missing VALUE")?;
            let item = ctx
                .namespace
                .items
                .get(&name)
                .ok_or_else(|| unknown_name(&ctx.namespace, &name))?;
            let Entry::Tunable(tunable) = &item.entry else {
                return Err(CommandError::new(format!(
                    "{name} is not a tunable and cannot be set"
                )));
            };
            let old = tunable.get();
            tunable.set(&value).map_err(|err| {
                CommandError::new(format!(
                    "invalid value {value:?} for {name} (a {}): {err}; {name} is still {old}",
                    tunable.type_name()
                ))
            })?;
            out.line(format!("{name} = {} (was {old})", tunable.get()));
            Ok(())
        })
}
