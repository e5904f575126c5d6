//! Line handling of the dispatcher: resolution, typed arguments, help,
//! hooks and registration.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_lite::future::block_on;
use monitor_core::{
    TaskId,
    dispatch::{
        Arg, Command, CommandError, Completed, Dispatcher, Hooks, Precmd, RegisterError, Reply,
        Session, TemplateError,
    },
};

/// The per-session context of these tests: a log of what commands did.
#[derive(Debug, Default)]
struct Ctx {
    log: Vec<String>,
}

fn commands() -> Vec<Command<Ctx>> {
    vec![
        Command::<Ctx>::new("ps")
            .alias("p")
            .about("Show task table")
            .arg(Arg::flag("json").short('j').help("machine-readable output"))
            .arg(
                Arg::option("filter", "TEXT")
                    .short('f')
                    .help("only matching tasks"),
            )
            .run(|ctx: &mut Ctx, args, out| {
                ctx.log.push("ps".into());
                let filter: Option<String> = args.get("filter");
                out.line(format!("ps json={} filter={filter:?}", args.flag("json")));
                Ok(())
            }),
        Command::new("ps-terminated")
            .about("Show terminated tasks")
            .run(|_, _, out| {
                out.line("terminated");
                Ok(())
            }),
        Command::new("where")
            .alias("w")
            .about("Show stack frames for a task")
            .arg(Arg::task_id("TASK_ID"))
            .run(|_, args, out| {
                let id: TaskId = args.get("TASK_ID").unwrap();
                out.line(format!("where {id}"));
                Ok(())
            }),
        Command::new("cancel")
            .alias("ca")
            .about("Cancel a task.\n\nThe task stops at its next await point.")
            .arg(Arg::task_id("TASK_ID").help("the task to cancel"))
            .run(|ctx: &mut Ctx, args, out| {
                let id: TaskId = args.get("TASK_ID").unwrap();
                ctx.log.push(format!("cancel {id}"));
                out.line(format!("cancelled {id}"));
                Ok(())
            }),
        Command::new("sleep")
            .about("Wait")
            .arg(Arg::duration("FOR"))
            .run(|_, args, out| {
                let d: Duration = args.get("FOR").unwrap();
                out.line(format!("{}ms", d.as_millis()));
                Ok(())
            }),
        Command::new("add")
            .about("Add two numbers")
            .arg(Arg::int("A"))
            .arg(Arg::int("B").optional())
            .run(|_, args, out| {
                let a: i64 = args.get("A").unwrap();
                let b: i64 = args.get("B").unwrap_or(0);
                out.line((a + b).to_string());
                Ok(())
            }),
        Command::new("say")
            .about("Repeat words")
            .arg(Arg::string("WORDS").optional().variadic())
            .run(|_, args, out| {
                out.line(args.get_all::<String>("WORDS").join("|"));
                Ok(())
            }),
        Command::new("exit")
            .alias("quit")
            .alias("q")
            .about("Leave the monitor")
            .run(|_, _, out| {
                out.line("bye");
                out.exit();
                Ok(())
            }),
        Command::new("fail")
            .about("Always fails")
            .run(|_, _, _| Err("nope".into())),
        Command::new("boom")
            .about("Panics")
            .run(|_, _, _| panic!("boom")),
    ]
}

fn dispatcher() -> Dispatcher<Ctx> {
    let mut d = Dispatcher::new();
    for c in commands() {
        d.register(c).unwrap();
    }
    d
}

fn session_with(d: Dispatcher<Ctx>) -> Session<Ctx> {
    Session::new(Arc::new(d), Ctx::default())
}

fn session() -> Session<Ctx> {
    session_with(dispatcher())
}

fn run(s: &mut Session<Ctx>, line: &str) -> Reply {
    block_on(s.handle_line(line))
}

fn ok(s: &mut Session<Ctx>, line: &str) -> String {
    let reply = run(s, line);
    assert!(!reply.is_error, "{line:?} failed: {}", reply.text);
    reply.text
}

/// Asserts that `line` fails with exactly `expected` as its one-line answer.
fn err(s: &mut Session<Ctx>, line: &str, expected: &str) {
    let reply = run(s, line);
    assert!(
        reply.is_error,
        "{line:?} should fail but said {:?}",
        reply.text
    );
    assert_eq!(reply.text, format!("{expected}\n"), "for {line:?}");
    assert!(!reply.exit);
}

#[test]
fn resolves_names_aliases_and_unique_prefixes() {
    let mut s = session();
    assert_eq!(ok(&mut s, "where 3"), "where 3\n");
    assert_eq!(ok(&mut s, "w 3"), "where 3\n");
    assert_eq!(ok(&mut s, "wh 3"), "where 3\n");
    assert_eq!(ok(&mut s, "ca 4"), "cancelled 4\n");
    assert_eq!(ok(&mut s, "canc 4"), "cancelled 4\n");
    // An alias is an exact match and beats the prefix of `ps-terminated`.
    assert_eq!(ok(&mut s, "p"), "ps json=false filter=None\n");
    // So is a full name that is also a prefix of another.
    assert_eq!(ok(&mut s, "ps"), "ps json=false filter=None\n");
    assert_eq!(ok(&mut s, "ps-"), "terminated\n");
    // Prefixes of aliases count too: `qu` only fits `quit`.
    assert!(run(&mut s, "qu").exit);
}

#[test]
fn ambiguous_prefixes_list_the_candidates() {
    let mut s = session();
    err(&mut s, "s", "Ambiguous command \"s\": could be say, sleep");
    // Without the `p` alias, `p` is a prefix of two commands.
    let mut d = Dispatcher::<Ctx>::new();
    for c in commands() {
        let c = if c.name() == "ps" {
            Command::new("ps").run(|_, _, _| Ok(()))
        } else {
            c
        };
        d.register(c).unwrap();
    }
    let mut s = session_with(d);
    err(
        &mut s,
        "p",
        "Ambiguous command \"p\": could be ps, ps-terminated",
    );
}

#[test]
fn unknown_commands_suggest_a_close_name() {
    let mut s = session();
    err(
        &mut s,
        "pz",
        "Unknown command \"pz\". Did you mean \"ps\"? Type \"help\" for the list of commands.",
    );
    err(
        &mut s,
        "cancle 3",
        "Unknown command \"cancle\". Did you mean \"cancel\"? Type \"help\" for the list of commands.",
    );
    err(
        &mut s,
        "xyzzy",
        "Unknown command \"xyzzy\". Type \"help\" for the list of commands.",
    );
}

#[test]
fn typed_arguments_are_converted() {
    let mut s = session();
    assert_eq!(ok(&mut s, "add 2 -3"), "-1\n");
    assert_eq!(ok(&mut s, "add 40"), "40\n");
    assert_eq!(ok(&mut s, "where #12"), "where 12\n");
    assert_eq!(ok(&mut s, "sleep 500ms"), "500ms\n");
    assert_eq!(ok(&mut s, "sleep 2s"), "2000ms\n");
    assert_eq!(ok(&mut s, "sleep 1m"), "60000ms\n");
    assert_eq!(ok(&mut s, "ps --json"), "ps json=true filter=None\n");
    assert_eq!(
        ok(&mut s, "ps -j -f web"),
        "ps json=true filter=Some(\"web\")\n"
    );
    assert_eq!(
        ok(&mut s, "ps --filter='a b'"),
        "ps json=false filter=Some(\"a b\")\n"
    );
    assert_eq!(ok(&mut s, "say"), "\n");
    assert_eq!(ok(&mut s, "say a b c"), "a|b|c\n");
}

#[test]
fn bad_arguments_answer_one_line_with_usage() {
    let mut s = session();
    err(
        &mut s,
        "cancel abc",
        "cancel: invalid task id \"abc\" (expected a positive integer such as 42). usage: cancel TASK_ID",
    );
    err(
        &mut s,
        "cancel 0",
        "cancel: invalid task id \"0\" (expected a positive integer such as 42). usage: cancel TASK_ID",
    );
    err(
        &mut s,
        "cancel",
        "cancel: missing TASK_ID. usage: cancel TASK_ID",
    );
    err(
        &mut s,
        "cancel 1 2",
        "cancel: unexpected extra argument \"2\". usage: cancel TASK_ID",
    );
    err(
        &mut s,
        "add one",
        "add: invalid integer \"one\" (expected a whole number such as 10). usage: add A [B]",
    );
    err(
        &mut s,
        "sleep 5x",
        "sleep: invalid duration \"5x\" (expected a number with a unit such as 500ms, 2s or 1m). usage: sleep FOR",
    );
    err(
        &mut s,
        "sleep 5",
        "sleep: invalid duration \"5\" (expected a number with a unit such as 500ms, 2s or 1m). usage: sleep FOR",
    );
    err(
        &mut s,
        "ps --nope",
        "ps: unknown option --nope. usage: ps [--json] [--filter TEXT]",
    );
    err(
        &mut s,
        "ps -x",
        "ps: unknown option -x. usage: ps [--json] [--filter TEXT]",
    );
    err(
        &mut s,
        "ps extra",
        "ps: unexpected extra argument \"extra\". usage: ps [--json] [--filter TEXT]",
    );
    err(
        &mut s,
        "ps --filter",
        "ps: --filter TEXT needs a value. usage: ps [--json] [--filter TEXT]",
    );
}

#[test]
fn custom_parsed_arguments_work_and_their_errors_are_condensed() {
    let mut d = Dispatcher::<Ctx>::new();
    d.register(
        Command::new("level")
            .arg(Arg::parsed("LEVEL", |text: &str| {
                text.parse::<u8>()
                    .map_err(|_| "expected a level from 0 to 255".to_owned())
            }))
            .run(|_, args, out| {
                out.line(args.get::<u8>("LEVEL").unwrap().to_string());
                Ok(())
            }),
    )
    .unwrap();
    let mut s = session_with(d);
    assert_eq!(ok(&mut s, "level 7"), "7\n");
    let reply = run(&mut s, "level 300");
    assert!(reply.is_error);
    assert_eq!(reply.text.lines().count(), 1, "{}", reply.text);
    assert!(
        reply
            .text
            .starts_with("level: invalid value \"300\" for LEVEL: "),
        "{}",
        reply.text
    );
    assert!(
        reply.text.ends_with(". usage: level LEVEL\n"),
        "{}",
        reply.text
    );
}

#[test]
fn lines_are_split_shell_style() {
    let mut s = session();
    assert_eq!(
        ok(&mut s, r#"say "two words" 'single quoted' plain"#),
        "two words|single quoted|plain\n"
    );
    assert_eq!(
        ok(&mut s, r#"say "a \"quoted\" word""#),
        "a \"quoted\" word\n"
    );
    assert_eq!(ok(&mut s, r"say back\ slash"), "back slash\n");
    assert_eq!(ok(&mut s, "say ''"), "\n");
    err(
        &mut s,
        r#"say "never closed"#,
        "Cannot read the line: a quote is not closed (close it with a matching ' or \")",
    );
    err(
        &mut s,
        "say 'never closed",
        "Cannot read the line: a quote is not closed (close it with a matching ' or \")",
    );
    // `#` is not a comment: task ids are written `#12` in tables.
    assert_eq!(ok(&mut s, "say #12 '#x'"), "#12|#x\n");
}

#[test]
fn whitespace_around_lines_is_ignored() {
    let mut s = session();
    assert_eq!(ok(&mut s, "  \tadd 1 2  \r"), "3\n");
    assert_eq!(s.lastcmd(), Some("add 1 2"));
}

#[test]
fn empty_line_repeats_the_last_command() {
    let mut s = session();
    // Nothing to repeat yet: no answer, no error.
    assert_eq!(run(&mut s, ""), Reply::default());
    assert_eq!(run(&mut s, "    "), Reply::default());
    ok(&mut s, "cancel 5");
    assert_eq!(ok(&mut s, ""), "cancelled 5\n");
    assert_eq!(ok(&mut s, "   "), "cancelled 5\n");
    assert_eq!(s.context().log, ["cancel 5", "cancel 5", "cancel 5"]);
}

#[test]
fn lastcmd_records_failed_lines_too() {
    let mut s = session();
    run(&mut s, "cancel nope");
    assert_eq!(s.lastcmd(), Some("cancel nope"));
    run(&mut s, "nosuchcommand 1");
    assert_eq!(s.lastcmd(), Some("nosuchcommand 1"));
    // Repeating it fails the same way.
    let reply = run(&mut s, "");
    assert!(reply.text.starts_with("Unknown command \"nosuchcommand\""));
    s.set_lastcmd(None);
    assert_eq!(run(&mut s, ""), Reply::default());
}

#[test]
fn command_errors_and_panics_answer_one_line_and_the_session_goes_on() {
    let mut s = session();
    err(&mut s, "fail", "fail: nope");
    err(&mut s, "boom", "boom: command panicked: boom");
    assert_eq!(ok(&mut s, "add 1 1"), "2\n");
}

#[test]
fn multi_line_error_messages_are_folded_onto_one_line() {
    let mut d = Dispatcher::<Ctx>::new();
    d.register(Command::new("x").run(|_, _, _| Err("first\nsecond".into())))
        .unwrap();
    let mut s = session_with(d);
    err(&mut s, "x", "x: first second");
}

#[test]
fn output_written_before_a_failure_is_kept() {
    let mut d = Dispatcher::<Ctx>::new();
    d.register(Command::new("partial").run(|_, _, out| {
        use std::fmt::Write as _;
        write!(out, "row 1").unwrap();
        Err(CommandError::new("then it broke"))
    }))
    .unwrap();
    let mut s = session_with(d);
    let reply = run(&mut s, "partial");
    assert!(reply.is_error);
    assert_eq!(reply.text, "row 1\npartial: then it broke\n");
}

#[test]
fn exit_ends_the_session() {
    let mut s = session();
    let reply = run(&mut s, "exit");
    assert_eq!(reply.text, "bye\n");
    assert!(reply.exit && !reply.is_error);
    assert!(run(&mut s, "q").exit);
    assert!(!run(&mut s, "add 1").exit);
}

const HELP_LIST: &str = "\
Available commands:
    add A [B]: Add two numbers
    boom: Panics
    cancel TASK_ID: Cancel a task. (aliases: ca)
    exit: Leave the monitor (aliases: quit, q)
    fail: Always fails
    help [COMMAND...]: Show the commands, or help for the named ones. (aliases: h, ?)
    ps [--json] [--filter TEXT]: Show task table (aliases: p)
    ps-terminated: Show terminated tasks
    say [WORDS...]: Repeat words
    sleep FOR: Wait
    where TASK_ID: Show stack frames for a task (aliases: w)
";

const HELP_CANCEL: &str = "\
usage: cancel TASK_ID
aliases: ca
Cancel a task.

The task stops at its next await point.

arguments:
  TASK_ID  the task to cancel
";

#[test]
fn help_lists_every_command_with_aliases() {
    let mut s = session();
    assert_eq!(ok(&mut s, "help"), HELP_LIST);
    assert_eq!(ok(&mut s, "h"), HELP_LIST);
    assert_eq!(ok(&mut s, "?"), HELP_LIST);
}

#[test]
fn help_for_one_command_uses_the_help_template() {
    let mut s = session();
    assert_eq!(ok(&mut s, "help cancel"), HELP_CANCEL);
    assert_eq!(ok(&mut s, "help ca"), HELP_CANCEL);
    assert_eq!(ok(&mut s, "cancel --help"), HELP_CANCEL);
    assert_eq!(ok(&mut s, "ca -h"), HELP_CANCEL);
    // `--help` wins over otherwise bad arguments.
    assert_eq!(ok(&mut s, "cancel abc --help"), HELP_CANCEL);
    assert_eq!(
        ok(&mut s, "help ps"),
        "usage: ps [--json] [--filter TEXT]\naliases: p\nShow task table\n\narguments:\n  \
         -j, --json         machine-readable output\n  \
         -f, --filter TEXT  only matching tasks\n"
    );
    assert_eq!(
        ok(&mut s, "help ps-terminated"),
        "usage: ps-terminated\nShow terminated tasks\n"
    );
    err(
        &mut s,
        "help nope",
        "help: no command \"nope\" (type \"help\" for the list of commands)",
    );
}

#[test]
fn help_without_description_has_no_blank_line_runs() {
    let mut d = Dispatcher::<Ctx>::new();
    d.register(
        Command::new("bare")
            .arg(Arg::int("N"))
            .run(|_, _, _| Ok(())),
    )
    .unwrap();
    let mut s = session_with(d);
    assert_eq!(
        ok(&mut s, "help bare"),
        "usage: bare N\n\narguments:\n  N\n"
    );
    // Several names: each one's help, in order; unknown ones are named.
    let reply = run(&mut s, "help bare nope help");
    assert!(reply.is_error);
    assert!(reply.text.starts_with("usage: bare N\n"), "{}", reply.text);
    assert!(
        reply.text.contains("usage: help [COMMAND...]\n"),
        "{}",
        reply.text
    );
    assert!(
        reply
            .text
            .ends_with("\nhelp: no command \"nope\" (type \"help\" for the list of commands)\n"),
        "{}",
        reply.text
    );
}

#[test]
fn custom_help_templates() {
    let mut d = dispatcher();
    d.set_help_template("{cmd_name}|{arg_list}|{doc_firstline}|{{literal}}")
        .unwrap();
    d.set_help_short_template("* {usage}{alias_note}").unwrap();
    let mut s = session_with(d);
    assert_eq!(
        ok(&mut s, "help where"),
        "where|TASK_ID|Show stack frames for a task|{literal}\n"
    );
    assert_eq!(
        ok(&mut s, "where --help"),
        "where|TASK_ID|Show stack frames for a task|{literal}\n"
    );
    let list = ok(&mut s, "help");
    assert!(
        list.starts_with("Available commands:\n* add A [B]\n"),
        "{list}"
    );
    assert!(list.contains("\n* where TASK_ID (aliases: w)\n"), "{list}");
}

#[test]
fn bad_templates_are_refused_when_configured() {
    let mut d = Dispatcher::<Ctx>::new();
    assert!(matches!(
        d.set_help_template("{cmd_nmae}"),
        Err(TemplateError::UnknownField { .. })
    ));
    assert!(matches!(
        d.set_help_short_template("{cmd_name"),
        Err(TemplateError::UnmatchedBrace { .. })
    ));
    assert!(matches!(
        d.set_intro("} {tasknum}"),
        Err(TemplateError::UnmatchedBrace { brace: '}', .. })
    ));
    // The previous templates stay in force.
    let mut s = session_with(d);
    assert!(ok(&mut s, "help help").starts_with("usage: help [COMMAND...]\n"));
}

#[test]
fn intro_and_prompt() {
    let mut d = Dispatcher::<Ctx>::new();
    assert_eq!(d.prompt(), "monitor >>> ");
    assert_eq!(
        d.intro(1),
        "Async Rust monitor: 1 task running\nType help for available commands\n"
    );
    assert_eq!(
        d.intro(0),
        "Async Rust monitor: 0 tasks running\nType help for available commands\n"
    );
    d.set_intro("{tasknum} job{s} {{ok}}").unwrap();
    d.set_prompt("> ");
    let s = session_with(d);
    assert_eq!(s.intro(3), "3 jobs {ok}");
    assert_eq!(s.prompt(), "> ");
}

#[test]
fn registration_refuses_clashes_and_bad_definitions() {
    let mut d = dispatcher();
    let noop = |name: &str| Command::<Ctx>::new(name).run(|_, _, _| Ok(()));
    assert_eq!(
        d.register(noop("ps")).unwrap_err(),
        RegisterError::Duplicate {
            name: "ps".into(),
            existing: "ps".into()
        }
    );
    assert_eq!(
        d.register(noop("stack").alias("w")).unwrap_err(),
        RegisterError::Duplicate {
            name: "w".into(),
            existing: "where".into()
        }
    );
    // The built-in help is registered like any other command.
    assert_eq!(
        d.register(noop("hist").alias("h")).unwrap_err(),
        RegisterError::Duplicate {
            name: "h".into(),
            existing: "help".into()
        }
    );
    assert!(matches!(
        d.register(noop("x").alias("x")),
        Err(RegisterError::Duplicate { .. })
    ));
    for bad in ["", "two words", "quo\"te", "--flag"] {
        assert_eq!(
            d.register(noop(bad)).unwrap_err(),
            RegisterError::InvalidName(bad.into())
        );
    }
    assert_eq!(
        d.register(Command::new("nothing")).unwrap_err(),
        RegisterError::MissingHandler("nothing".into())
    );
    // A refused command leaves nothing behind.
    assert!(d.catalog().get("stack").is_none());
    assert!(d.catalog().get("x").is_none());
    assert!(d.register(noop("stack")).is_ok());
}

#[test]
#[cfg(debug_assertions)]
fn clap_definition_errors_become_register_errors() {
    let mut d = Dispatcher::<Ctx>::new();
    let err = d
        .register(
            Command::new("dup")
                .arg(Arg::flag("json").short('j'))
                .arg(Arg::flag("jay").short('j'))
                .run(|_, _, _| Ok(())),
        )
        .unwrap_err();
    assert!(
        matches!(err, RegisterError::InvalidArgs { ref name, .. } if name == "dup"),
        "{err}"
    );
}

/// Records what the hooks saw, to check when and with what they run.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
}

impl Hooks<Ctx> for Arc<Recorder> {
    fn precmd(&self, ctx: &mut Ctx, dispatcher: &Dispatcher<Ctx>, line: &str) -> Precmd {
        self.seen.lock().unwrap().push(format!("pre {line}"));
        ctx.log.push("precmd".into());
        if line.starts_with("cancel") {
            return Precmd::Reply(Reply::error("read-only console: cancel is disabled"));
        }
        // A macro: `top` means `ps --json`.
        let line = if line == "top" { "ps --json" } else { line };
        dispatcher.resolve_line(line)
    }

    fn postcmd(&self, _ctx: &mut Ctx, done: &Completed<'_>, mut reply: Reply) -> Reply {
        let result = match done.result {
            Ok(()) => "ok".to_owned(),
            Err(CommandError::Usage { .. }) => "usage".to_owned(),
            Err(e) => format!("err({e})"),
        };
        self.seen.lock().unwrap().push(format!(
            "post {} {:?} args={} {result}",
            done.command,
            done.words,
            done.args.is_some()
        ));
        if let Some(args) = done.args
            && args.words().first().map(String::as_str) == Some("1")
        {
            reply.text.push_str("(postcmd was here)\n");
        }
        reply
    }

    fn emptyline(&self, _ctx: &mut Ctx, lastcmd: Option<&str>) -> Option<String> {
        self.seen.lock().unwrap().push(format!("empty {lastcmd:?}"));
        // Repeating is dangerous for some commands: do nothing instead.
        None
    }

    fn unknown_command(
        &self,
        _ctx: &mut Ctx,
        _d: &Dispatcher<Ctx>,
        word: &str,
        args: &[String],
    ) -> Reply {
        Reply::error(format!("what is {word} {args:?}?"))
    }
}

fn hooked() -> (Session<Ctx>, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut d = dispatcher();
    d.set_hooks(Arc::clone(&recorder));
    (session_with(d), recorder)
}

#[test]
fn precmd_can_rewrite_and_refuse_lines() {
    let (mut s, recorder) = hooked();
    assert_eq!(ok(&mut s, "top"), "ps json=true filter=None\n");
    err(&mut s, "cancel 1", "read-only console: cancel is disabled");
    assert_eq!(s.context().log, ["precmd", "ps", "precmd"]);
    let seen = recorder.seen.lock().unwrap();
    assert_eq!(seen[0], "pre top");
    // postcmd sees the resolved command, not the typed macro.
    assert_eq!(seen[1], "post ps [\"--json\"] args=true ok");
    assert_eq!(seen[2], "pre cancel 1");
    assert_eq!(seen.len(), 3, "postcmd does not run for refused lines");
}

#[test]
fn postcmd_sees_every_outcome_and_can_change_the_reply() {
    let (mut s, recorder) = hooked();
    assert_eq!(ok(&mut s, "add 1 2"), "3\n(postcmd was here)\n");
    run(&mut s, "where x");
    run(&mut s, "fail");
    run(&mut s, "boom");
    ok(&mut s, "where --help");
    let seen = recorder.seen.lock().unwrap();
    let posts: Vec<&str> = seen
        .iter()
        .filter(|l| l.starts_with("post"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        posts,
        [
            "post add [\"1\", \"2\"] args=true ok",
            "post where [\"x\"] args=false usage",
            "post fail [] args=true err(nope)",
            "post boom [] args=true err(command panicked: boom)",
            "post where [\"--help\"] args=false ok",
        ]
    );
}

#[test]
fn overridden_emptyline_and_default() {
    let (mut s, recorder) = hooked();
    ok(&mut s, "add 2 2");
    assert_eq!(run(&mut s, ""), Reply::default());
    err(&mut s, "pz 1 2", "what is pz [\"1\", \"2\"]?");
    let seen = recorder.seen.lock().unwrap();
    assert!(
        seen.contains(&"empty Some(\"add 2 2\")".to_owned()),
        "{seen:?}"
    );
}

/// A hook that panics must not take the console down.
struct PanickyHooks;

impl Hooks<Ctx> for PanickyHooks {
    fn precmd(&self, _: &mut Ctx, d: &Dispatcher<Ctx>, line: &str) -> Precmd {
        if line == "explode" {
            panic!("precmd bug");
        }
        d.resolve_line(line)
    }

    fn postcmd(&self, _: &mut Ctx, done: &Completed<'_>, reply: Reply) -> Reply {
        if done.command == "fail" {
            panic!("postcmd bug");
        }
        reply
    }
}

#[test]
fn panicking_hooks_answer_an_error() {
    let mut d = dispatcher();
    d.set_hooks(PanickyHooks);
    let mut s = session_with(d);
    err(&mut s, "explode", "precmd hook panicked: precmd bug");
    err(&mut s, "fail", "postcmd hook panicked: postcmd bug");
    assert_eq!(ok(&mut s, "add 1 2"), "3\n");
}

#[test]
fn catalog_is_available_to_commands() {
    let mut d = dispatcher();
    d.register(Command::new("names").run(|_, _, out| {
        let names: Vec<&str> = out.catalog().commands().map(|c| c.name()).collect();
        out.line(names.join(","));
        Ok(())
    }))
    .unwrap();
    let mut s = session_with(d);
    assert_eq!(
        ok(&mut s, "names"),
        "help,ps,ps-terminated,where,cancel,sleep,add,say,exit,fail,boom,names\n"
    );
}

#[test]
fn dispatcher_and_sessions_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let d = dispatcher();
    send_sync(&d);
    let mut s = session_with(d);
    let fut = s.handle_line("ps");
    send(&fut);
    drop(fut);
    let handle = std::thread::spawn(move || ok(&mut s, "add 1 2"));
    assert_eq!(handle.join().unwrap(), "3\n");
}

#[test]
fn every_missing_argument_is_named() {
    let mut d = Dispatcher::<Ctx>::new();
    d.register(
        Command::new("pause")
            .arg(Arg::task_id("TASK_ID"))
            .arg(Arg::duration("FOR"))
            .run(|_, _, _| Ok(())),
    )
    .unwrap();
    let mut s = session_with(d);
    err(
        &mut s,
        "pause",
        "pause: missing TASK_ID and FOR. usage: pause TASK_ID FOR",
    );
    err(
        &mut s,
        "pause 3",
        "pause: missing FOR. usage: pause TASK_ID FOR",
    );
}
