//! The interactive console in a pseudo-terminal, typed at like a person
//! would: completion, history, Ctrl-C, Ctrl-D, colours and a server that
//! goes away.

#![cfg(unix)]

mod support;

use std::process::Command;

use rexpect::{
    process::WaitStatus,
    session::{PtySession, spawn_command},
};
use support::App;

const PROMPT: &str = "monitor >>> ";
const UP: &str = "\x1b[A";

/// `monitor-cli` on a terminal, connected to `app`, intro read.
fn console(app: &App, color: bool) -> PtySession {
    console_with_token(app, color, None)
}

/// [`console`], with `MONITOR_TOKEN` set to `token`.
fn console_with_token(app: &App, color: bool, token: Option<&str>) -> PtySession {
    let mut cmd = Command::new(support::BIN);
    cmd.env("XDG_STATE_HOME", app.state.path())
        .env("TERM", "xterm")
        .args(["--port", &app.port().to_string()]);
    match token {
        Some(token) => cmd.env("MONITOR_TOKEN", token),
        None => cmd.env_remove("MONITOR_TOKEN"),
    };
    if color {
        cmd.env_remove("NO_COLOR");
    } else {
        cmd.env("NO_COLOR", "1");
    }
    let mut session = spawn_command(cmd, Some(10_000)).expect("spawn monitor-cli in a pty");
    session
        .exp_string("Type help for available commands")
        .expect("intro");
    session.exp_string(PROMPT).expect("first prompt");
    session
}

fn type_text(session: &mut PtySession, text: &str) {
    session.send(text).unwrap();
    session.flush().unwrap();
}

fn exit_code(session: &mut PtySession) -> i32 {
    match session.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("monitor-cli did not exit normally: {other:?}"),
    }
}

#[test]
fn tab_completes_commands_and_task_ids_and_ctrl_c_clears_the_line() {
    let app = App::start(&["lonely-task"]);
    let mut s = console(&app, false);

    // `stackt` + Tab becomes `stacktrace `: the completion writes the rest.
    type_text(&mut s, "stackt\t");
    s.exp_string("race").unwrap();
    type_text(&mut s, "\r");
    s.exp_string("No thread is inside").unwrap();
    s.exp_string(PROMPT).unwrap();

    // The only live task's id is completed from `ps --json`; without it
    // `where` would fail with a usage error.
    type_text(&mut s, "where \t");
    type_text(&mut s, "\r");
    let before = s.exp_string("lonely-task").unwrap();
    assert!(!before.contains("usage"), "{before}");
    s.exp_string(PROMPT).unwrap();

    // Ctrl-C drops what was typed; only `ps` is sent. (Typing ahead of the
    // new prompt would be lost: the editor flushes input when it starts.)
    type_text(&mut s, "bogus");
    s.send_control('c').unwrap();
    s.exp_string(PROMPT).unwrap();
    type_text(&mut s, "ps\r");
    let before = s.exp_string("1 task running").unwrap();
    assert!(!before.contains("Unknown command"), "{before}");
    s.exp_string(PROMPT).unwrap();

    // Ctrl-D leaves.
    s.send_control('d').unwrap();
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&mut s), 0);
}

#[test]
fn history_persists_and_up_arrow_recalls_it() {
    let app = App::start(&["lonely-task", "other-task"]);

    let mut first = console(&app, false);
    type_text(&mut first, "ps -f lonely\r");
    first.exp_string("(showing 1)").unwrap();
    first.exp_string(PROMPT).unwrap();
    // A leading space keeps a line out of history, as in shells.
    type_text(&mut first, " stacktrace\r");
    first.exp_string("No thread is inside").unwrap();
    first.exp_string(PROMPT).unwrap();
    type_text(&mut first, "exit\r");
    first.exp_string("Leaving the monitor. Bye.").unwrap();
    first.exp_eof().unwrap();
    assert_eq!(exit_code(&mut first), 0);
    let saved = std::fs::read_to_string(app.history_file()).expect("history written");
    assert!(saved.contains("ps -f lonely"), "{saved}");
    assert!(!saved.contains("stacktrace"), "{saved}");

    // A new console starts with that history: Up, Up, Enter runs the
    // command before `exit` again.
    let mut second = console(&app, false);
    type_text(&mut second, UP);
    second.exp_string("exit").unwrap();
    type_text(&mut second, UP);
    second.exp_string("ps -f lonely").unwrap();
    type_text(&mut second, "\r");
    second.exp_string("(showing 1)").unwrap();
    second.exp_string(PROMPT).unwrap();
    second.send_control('d').unwrap();
    second.exp_eof().unwrap();
}

#[test]
fn errors_are_red_on_a_terminal() {
    let app = App::start(&["t"]);
    let mut s = console(&app, true);
    type_text(&mut s, "where 424242\r");
    s.exp_string("\x1b[31mwhere: No task 424242").unwrap();
    s.exp_string(PROMPT).unwrap();
    s.send_control('d').unwrap();
    s.exp_eof().unwrap();
}

#[test]
fn a_server_that_goes_away_ends_the_console_with_a_message() {
    let mut app = App::start(&["t"]);
    let mut s = console(&app, false);
    app.monitor.close();
    type_text(&mut s, "ps\r");
    s.exp_string("monitor-cli: the monitor closed the connection")
        .unwrap();
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&mut s), 3);
}

#[test]
fn a_token_opens_the_console_of_a_guarded_monitor() {
    let token = "0123456789abcdef-interactive";
    let app = App::start_with(&["guarded-task"], |b| b.port(0).auth_token(token));
    let mut s = console_with_token(&app, false, Some(token));
    type_text(&mut s, "ps\r");
    s.exp_string("guarded-task").unwrap();
    s.exp_string(PROMPT).unwrap();
    s.send_control('d').unwrap();
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&mut s), 0);
}
