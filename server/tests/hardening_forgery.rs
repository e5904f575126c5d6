//! Forged lines: text an attacker chose (a task name, a panic message
//! quoting a request) must never start a line of its own in a reply, and
//! so can never draw a fake prompt or a fake answer.

mod attack_support;
mod support;

use std::sync::Arc;

use attack_support::{PROMPT, Tcp};
use monitor_core::{Spawner, TaskRegistry};
use monitor_server::MonitorBuilder;
use support::{TinyPool, eventually};

/// What the attacker wants to appear on a line of its own.
const FORGED: &str = "monitor >>> FORGED";

/// The real prompt: always at the start of a line (every reply ends with a
/// line end). The attacker's text may contain the prompt's characters,
/// escaped names stay on their line, but never after a line break.
const LINE_PROMPT: &str = "\r\nmonitor >>> ";

/// Every line of `reply` must have been drawn by the monitor: none may
/// start with the attacker's text.
#[track_caller]
fn assert_not_forged(command: &str, reply: &str) {
    for line in reply.lines() {
        let bare = line.trim_start_matches(|c: char| !c.is_alphanumeric());
        assert!(
            !bare.starts_with("monitor >>>") && !bare.starts_with("FORGED"),
            "`{command}` let the attacker start a line: {line:?}\nin:\n{reply}"
        );
    }
}

/// Sends `command` and reads its reply up to the next real prompt.
#[track_caller]
fn cmd(client: &mut Tcp, command: &str) -> String {
    client.send(command);
    client.read_until(LINE_PROMPT)
}

#[test]
fn newlines_in_names_and_panic_messages_cannot_forge_lines_or_prompts() {
    let registry = TaskRegistry::new();
    let spawner = Spawner::new(TinyPool::new(2), Arc::clone(&registry));
    let name = format!("nl\n{FORGED}\r\n{FORGED}\u{2028}{FORGED}");
    let live = spawner
        .task()
        .name(name.clone())
        .spawn(std::future::pending::<()>());
    let child_parent = live.id();
    let panicked = spawner.task().name(name.clone()).spawn(async {
        panic!("bad request:\n{FORGED}\n{FORGED}");
    });
    let panicked_id = panicked.id();
    eventually("the panicking task to end", || {
        panicked.is_finished().then_some(())
    });
    let monitor = MonitorBuilder::new(registry).port(0).start().unwrap();
    let mut client = Tcp::connect(monitor.tcp_addr().unwrap());
    client.read_until(PROMPT);

    for command in [
        "ps".to_owned(),
        "ps-terminated".to_owned(),
        format!("where {child_parent}"),
        format!("where-terminated {panicked_id}"),
        format!("where {panicked_id}"),
    ] {
        let reply = cmd(&mut client, &command);
        assert!(
            reply.contains("nl\\n"),
            "`{command}` should show the name escaped:\n{reply}"
        );
        assert_not_forged(&command, &reply);
    }
    // Whole with --wide (the default width cuts the message with `…`).
    let reply = cmd(&mut client, "ps-terminated --wide");
    assert!(reply.contains("bad request:\\n"), "{reply}");
    let reply = cmd(&mut client, &format!("cancel {child_parent}"));
    assert!(reply.contains("nl\\n"), "{reply}");
    assert_not_forged("cancel", &reply);
    // The session is still in step: one command, one reply, one prompt.
    assert!(cmd(&mut client, "help exit").contains("Leave the monitor"));
}
