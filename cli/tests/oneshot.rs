//! `monitor-cli COMMAND...` against a real monitor: output, exit codes and
//! error messages.

mod support;

use std::net::TcpListener;

use support::App;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

#[test]
fn ps_prints_the_task_table() {
    let app = App::start(&["alpha-task", "beta-task", "gamma-task"]);
    let output = app.cli().arg("ps").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.starts_with("3 tasks running\n"), "{text}");
    for name in ["alpha-task", "beta-task", "gamma-task"] {
        assert!(text.contains(name), "{name} missing: {text}");
    }
    // Telnet line ends are the client's business, not the user's.
    assert!(!text.contains('\r'), "{text:?}");
    assert!(!text.contains("monitor >>>"), "{text}");
    assert_eq!(stderr(&output), "");
}

#[test]
fn ps_json_is_machine_readable() {
    let app = App::start(&["alpha-task", "beta-task"]);
    let output = app.cli().args(["ps", "--json"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let tasks: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let tasks = tasks.as_array().expect("an array");
    let ids: Vec<u64> = tasks.iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        app.ids.iter().map(|id| id.as_u64()).collect::<Vec<_>>()
    );
    assert_eq!(tasks[0]["name"], "alpha-task");
}

#[test]
fn quoted_arguments_survive_the_trip() {
    let app = App::start(&["my task", "other"]);
    let output = app.cli().args(["ps", "-f", "my task"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.starts_with("2 tasks running (showing 1)"), "{text}");
    assert!(
        text.contains("my task") && !text.contains("other"),
        "{text}"
    );
}

#[test]
fn where_shows_a_task() {
    let app = App::start(&["alpha-task", "beta-task"]);
    let id = app.ids[1].to_string();
    let output = app.cli().args(["where", &id]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("beta-task"), "{text}");
    assert!(text.contains("support/mod.rs"), "{text}");
}

#[test]
fn cancel_then_ps_terminated() {
    let app = App::start(&["victim", "bystander"]);
    let id = app.ids[0].to_string();
    let output = app.cli().args(["cancel", &id]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).starts_with(&format!("Cancelled task {id} (victim)")),
        "{output:?}"
    );

    let output = app.cli().args(["pt", "--json"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let ended: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(ended[0]["id"].as_u64(), Some(app.ids[0].as_u64()));
    assert_eq!(ended[0]["name"], "victim");

    // Cancelling it again fails: it has ended.
    let output = app.cli().args(["ca", &id]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).starts_with("cancel: "), "{output:?}");
}

#[test]
fn unknown_task_is_an_error_on_stderr() {
    let app = App::start(&["alpha-task"]);
    let output = app.cli().args(["where", "424242"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert!(err.starts_with("where: No task 424242"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let output = app.cli().args(["cancel", "x"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("invalid task id \"x\""),
        "{output:?}"
    );
}

#[test]
fn unknown_and_ambiguous_commands_fail() {
    let app = App::start(&[]);
    let output = app.cli().arg("bogus").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).starts_with("Unknown command \"bogus\""),
        "{output:?}"
    );
    let output = app.cli().arg("s").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).starts_with("Ambiguous command \"s\""),
        "{output:?}"
    );
}

#[test]
fn exit_is_a_success() {
    let app = App::start(&[]);
    let output = app.cli().arg("exit").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "Leaving the monitor. Bye.\n");
}

#[test]
fn refused_connection_names_the_address() {
    // A port that was free a moment ago: nothing listens there now.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = assert_cmd::Command::new(support::BIN)
        .env("NO_COLOR", "1")
        .args(["--port", &port.to_string(), "ps"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!(
            "monitor-cli: cannot connect to 127.0.0.1:{port}: connection refused — is the \
             monitor running?"
        )),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("monitor.sock");
    let app = App::start_with(&["over-unix"], |b| b.no_tcp().unix_socket(&path));
    assert!(app.unix_path().is_some());
    let output = assert_cmd::Command::new(support::BIN)
        .env("NO_COLOR", "1")
        .arg("--unix")
        .arg(&path)
        .arg("ps")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("over-unix"), "{output:?}");

    let missing = dir.path().join("nobody.sock");
    let output = assert_cmd::Command::new(support::BIN)
        .arg("--unix")
        .arg(&missing)
        .arg("ps")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(
        stderr(&output).contains(&format!("cannot connect to unix:{}", missing.display())),
        "{output:?}"
    );
}

#[test]
fn custom_prompts_are_detected() {
    // `>>> ` starts with `>>`, which looks like a doubled `>`.
    for prompt in [">>> ", "app$ ", "x"] {
        let app = App::start_with(&["t"], |b| b.port(0).prompt(prompt));
        let output = app.cli().arg("ps").output().unwrap();
        assert!(output.status.success(), "{prompt:?}: {output:?}");
        assert!(
            stdout(&output).starts_with("1 task running"),
            "{prompt:?}: {output:?}"
        );
    }
    // Or given explicitly.
    let app = App::start_with(&["t"], |b| b.port(0).prompt("app> "));
    let output = app
        .cli()
        .args(["--prompt", "app> ", "ps"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn a_token_is_not_sent_to_a_monitor_that_does_not_ask_for_one() {
    let app = App::start(&["t"]);
    let output = app
        .cli()
        .env("MONITOR_TOKEN", "s3cret-but-not-asked-for")
        .arg("ps")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).starts_with("1 task running"), "{output:?}");
    let err = stderr(&output);
    assert!(
        err.contains("does not ask for a token; --token/MONITOR_TOKEN was not sent"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn commands_from_stdin_run_in_order() {
    let app = App::start(&["piped"]);
    let output = app
        .cli()
        .write_stdin("ps\n\n# a comment\nwhere 999999\nstacktrace\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    assert!(text.starts_with("1 task running"), "{text}");
    assert!(text.contains("No thread is inside"), "{text}");
    assert!(
        stderr(&output).starts_with("where: No task 999999"),
        "{output:?}"
    );
}

#[test]
fn a_silent_server_times_out() {
    // Accepts but never speaks: not a monitor.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let output = assert_cmd::Command::new(support::BIN)
        .args(["--timeout", "0.3", "--port", &port.to_string(), "ps"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(stderr(&output).contains("no prompt"), "{output:?}");
    drop(listener);
}

#[test]
fn session_controls_are_refused_without_stalling_the_client() {
    let app = App::start(&["piped"]);
    let started = std::time::Instant::now();
    let output = app.cli().write_stdin(".mode json\nps\n").output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr(&output).contains("session control"), "{output:?}");
    // The next line still runs, with the normal text framing.
    assert!(stdout(&output).starts_with("1 task running"), "{output:?}");
}

/// Success and failure come from the server's `.mode json` status, never
/// from the wording: a command that prints `echo: …` succeeds, and one
/// whose hook words its error unusually fails.
#[test]
fn errors_are_the_servers_status_not_a_guess_from_the_text() {
    use monitor_core::dispatch::{Arg, Command, CommandError};
    let app = App::start_with(&[], |builder| {
        builder
            .port(0)
            .command(
                Command::new("echo")
                    .arg(Arg::string("TEXT"))
                    .run(|_, args, out| {
                        let text: String = args.get("TEXT").unwrap_or_default();
                        out.line(format!("echo: {text}"));
                        Ok(())
                    }),
            )
            .command(Command::new("fail").run(|_, _, out| {
                out.line("partial output");
                Err(CommandError::new("it went wrong"))
            }))
    });
    let output = app.cli().args(["echo", "hello"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output), "echo: hello\n");

    let output = app.cli().arg("fail").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stdout(&output), "partial output\n");
    assert!(
        stderr(&output).contains("fail: it went wrong"),
        "{output:?}"
    );

    // A --json reply arrives as the value itself, printed on one line.
    let output = app.cli().args(["ps", "--json"]).output().unwrap();
    assert_eq!(stdout(&output), "[]\n", "{output:?}");
}

/// `--hosts`: one command against several monitors, merged with a host
/// column; an unreachable one is reported without hiding the others.
#[test]
fn hosts_merges_the_answers_of_several_monitors() {
    let a = App::start(&["alpha"]);
    let b = App::start(&["beta"]);
    // A bare port means 127.0.0.1.
    let hosts = format!("127.0.0.1:{},{}", a.port(), b.port());
    let label_a = format!("127.0.0.1:{}", a.port());
    let label_b = format!("127.0.0.1:{}", b.port());
    let cli = || {
        let mut cmd = assert_cmd::Command::new(support::BIN);
        cmd.env("XDG_STATE_HOME", a.state.path())
            .env("NO_COLOR", "1")
            .env_remove("MONITOR_TOKEN")
            .args(["--timeout", "10"]);
        cmd
    };

    let output = cli().args(["--hosts", &hosts, "ps"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.lines()
            .any(|l| l.starts_with(&label_a) && l.contains("alpha")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with(&label_b) && l.contains("beta")),
        "{text}"
    );

    let output = cli()
        .args(["--hosts", &hosts, "ps", "--json"])
        .output()
        .unwrap();
    let merged: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    let pairs: Vec<(String, String)> = merged
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["host"].as_str().unwrap().to_owned(),
                t["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [(label_a.clone(), "alpha".into()), (label_b, "beta".into())]
    );

    // A host nobody listens on: the others still answer; exit 3.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let output = cli()
        .args([
            "--hosts",
            &format!("{label_a},127.0.0.1:{closed_port}"),
            "ps",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(stdout(&output).contains("alpha"), "{output:?}");
    assert!(
        stderr(&output).contains(&format!(
            "127.0.0.1:{closed_port}: monitor-cli: cannot connect"
        )),
        "{output:?}"
    );
    let output = cli().args(["--hosts", "db1", "ps"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(stderr(&output).contains("HOST:PORT"), "{output:?}");
}
