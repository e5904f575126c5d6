//! `monitor-cli top` in a pseudo-terminal: full-screen refreshes until `q`,
//! the terminal put back, and errors printed like any failed command.

#![cfg(unix)]

mod support;

use std::{
    future::Future,
    pin::Pin,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use rexpect::{
    process::WaitStatus,
    session::{PtySession, spawn_command},
};
use support::App;

const ENTER_SCREEN: &str = "\x1b[?1049h";
const LEAVE_SCREEN: &str = "\x1b[?1049l";

/// Busy for a millisecond in each poll, then wakes itself: a task `top`
/// must rank first. Ends when `stop` is set.
struct Spinner(Arc<AtomicBool>);

impl Future for Spinner {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.load(Ordering::Relaxed) {
            return Poll::Ready(());
        }
        std::thread::sleep(Duration::from_millis(1));
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn top(app: &App, args: &[&str]) -> PtySession {
    let mut cmd = Command::new(support::BIN);
    cmd.env("XDG_STATE_HOME", app.state.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env_remove("MONITOR_TOKEN")
        .args(["--port", &app.port().to_string(), "top"])
        .args(args);
    spawn_command(cmd, Some(10_000)).expect("spawn monitor-cli top in a pty")
}

fn exit_code(session: &mut PtySession) -> i32 {
    match session.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("monitor-cli did not exit normally: {other:?}"),
    }
}

#[test]
fn top_refreshes_full_screen_until_q() {
    let app = App::start(&["idle"]);
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = app
        .spawner
        .task()
        .name("spinner")
        .spawn(Spinner(Arc::clone(&stop)));
    let mut session = top(&app, &["-i", "100ms", "-n", "3"]);
    session
        .exp_string(ENTER_SCREEN)
        .expect("the alternate screen");
    for refresh in 0..2 {
        session
            .exp_string("(q to quit)")
            .unwrap_or_else(|err| panic!("refresh {refresh}: {err}"));
        session
            .exp_string("spinner")
            .unwrap_or_else(|err| panic!("refresh {refresh} names the busy task: {err}"));
    }
    session.send("q").unwrap();
    session.flush().unwrap();
    session
        .exp_string(LEAVE_SCREEN)
        .expect("the screen is left");
    assert_eq!(exit_code(&mut session), 0);
    stop.store(true, Ordering::Relaxed);
    drop(spinner);
}

#[test]
fn top_with_a_bad_interval_leaves_the_screen_and_fails() {
    let app = App::start(&[]);
    let mut session = top(&app, &["--interval", "5m"]);
    session
        .exp_string(LEAVE_SCREEN)
        .expect("the screen is left");
    session
        .exp_string("10ms to 60s")
        .expect("the error says what is accepted");
    assert_eq!(exit_code(&mut session), 1);
}

#[test]
fn top_without_a_terminal_prints_one_report() {
    let app = App::start(&["idle"]);
    let output = app
        .cli()
        .args(["top", "-i", "50ms", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report["interval_ns"].as_u64().unwrap() >= 50_000_000,
        "{report}"
    );
}
