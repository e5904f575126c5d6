//! `monitor-cli` against a monitor with an auth token: the client answers
//! the challenge before anything else, and says clearly (without the
//! token) when it has no token or the wrong one.

mod support;

use std::time::{Duration, Instant};

use support::App;

const TOKEN: &str = "0123456789abcdef-conformance";

/// Short, so the refusals below do not each cost the default second; the
/// client must wait for the answer however long the delay is.
const AUTH_DELAY: Duration = Duration::from_millis(200);

fn guarded(names: &[&str]) -> App {
    App::start_with(names, |b| {
        b.port(0).auth_token(TOKEN).auth_delay(AUTH_DELAY)
    })
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

#[test]
fn the_right_token_runs_one_command() {
    let app = guarded(&["guarded-task"]);
    // From the environment, as the docs recommend...
    let output = app
        .cli()
        .env("MONITOR_TOKEN", TOKEN)
        .arg("ps")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.starts_with("1 task running\n"), "{text}");
    assert!(text.contains("guarded-task"), "{text}");
    assert!(!text.contains("Authentication"), "{text}");
    assert_eq!(stderr(&output), "");

    // ...or the option, with a known prompt (another path to the intro).
    let output = app
        .cli()
        .args(["--token", TOKEN, "--prompt", "monitor >>> ", "ps", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let tasks: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(tasks[0]["name"], "guarded-task", "{output:?}");
}

#[test]
fn the_right_token_runs_commands_from_stdin() {
    let app = guarded(&["piped"]);
    let output = app
        .cli()
        .env("MONITOR_TOKEN", TOKEN)
        .write_stdin("ps\nwhere 999999\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stdout(&output).starts_with("1 task running"), "{output:?}");
    assert!(
        stderr(&output).starts_with("where: No task 999999"),
        "{output:?}"
    );
}

#[test]
fn a_wrong_token_fails_with_a_message_that_does_not_show_it() {
    let app = guarded(&["t"]);
    let wrong = "fedcba9876543210-wrong";
    let started = Instant::now();
    let output = app.cli().args(["--token", wrong, "ps"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert_eq!(stdout(&output), "", "{output:?}");
    let err = stderr(&output);
    assert_eq!(
        err,
        "monitor-cli: authentication failed: the monitor refused the token (check --token or \
         MONITOR_TOKEN)\n"
    );
    assert!(!err.contains(wrong) && !err.contains(TOKEN), "{err}");
    // The client waited for the server's (delayed) verdict rather than
    // guessing from silence.
    assert!(started.elapsed() >= AUTH_DELAY, "{:?}", started.elapsed());
}

#[test]
fn a_missing_token_is_explained() {
    let app = guarded(&["t"]);
    let output = app.cli().arg("ps").output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert_eq!(stdout(&output), "", "{output:?}");
    assert_eq!(
        stderr(&output),
        "monitor-cli: the monitor requires a token: pass --token or set MONITOR_TOKEN\n"
    );
    // An empty MONITOR_TOKEN is no token either; it is refused before
    // anything is sent.
    let output = app
        .cli()
        .env("MONITOR_TOKEN", "")
        .arg("ps")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(
        stderr(&output).starts_with("monitor-cli: authentication failed: the token is empty"),
        "{output:?}"
    );
}
