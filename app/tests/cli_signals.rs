//! `run` until SIGTERM / SIGINT, then a graceful shutdown: the real
//! signals, delivered to this test process (its own binary, so no other
//! test shares the process). The handlers are installed before anything
//! starts, and the signal is only sent once `run` has printed its monitor
//! address, so it can never kill the test.

use std::{
    io::{self, Write},
    net::{SocketAddr, TcpStream},
    process::ExitCode,
    sync::mpsc,
    thread,
    time::Duration,
};

use demo_support::client::ConsoleClient;
use monitor_app::{App, AppContext, Connection};
use monitor_core::{Spawner, TaskIntrospect as _, TaskRegistry, TaskState};
use monitor_tokio::TokioExecutor;

/// Hands what `run` prints to the test, line by line.
struct Lines(mpsc::Sender<String>, String);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.1.push_str(&String::from_utf8_lossy(buf));
        while let Some(end) = self.1.find('\n') {
            let line: String = self.1.drain(..=end).collect();
            let _ = self.0.send(line.trim_end().to_owned());
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn app() -> App {
    App::builder()
        .name("sig")
        .scheduler("t.tick", |_: AppContext, _: String| async {})
        .protocol("t.stuck", |_: AppContext, conn: Connection| async move {
            let _conn = conn;
            std::future::pending::<()>().await;
        })
        .build()
}

fn send(signal: &str) {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {}", std::process::id()))
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs the app, waits for it to be up, holds a connection that ignores
/// shutdown, sends `signal`, and returns the exit code, stderr and the
/// connection's task name.
fn run_until(signal: &str, runtime: &tokio::runtime::Runtime) -> (ExitCode, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.toml");
    std::fs::write(
        &file,
        "[app]\ngrace = \"200ms\"\n\
         [schedule.tick]\nevery = \"10ms\"\nfunc = \"t.tick\"\n\
         [server.stuck]\nprotocol = \"t.stuck\"\nport = 0\n\
         [monitor]\nport = 0\n",
    )
    .unwrap();
    let (lines, printed) = mpsc::channel();
    let handle = runtime.handle().clone();
    let run = thread::spawn(move || {
        let spawner = Spawner::new(
            TokioExecutor::from_handle(handle.clone()),
            TaskRegistry::global().clone(),
        );
        let mut out = Lines(lines, String::new());
        let mut err = Vec::new();
        let code = app().main_with(
            ["sig", "-c", file.to_str().unwrap(), "run"],
            spawner,
            Some(monitor_tokio::monitor_builder(handle)),
            &mut out,
            &mut err,
        );
        (code, String::from_utf8(err).unwrap())
    });

    let mut server = None;
    let monitor: SocketAddr = loop {
        let line = printed
            .recv_timeout(Duration::from_secs(10))
            .expect("`run` reports what it started");
        if let Some(addr) = line.strip_prefix("server stuck on ") {
            server = Some(addr.parse::<SocketAddr>().unwrap());
        }
        if let Some(rest) = line.strip_prefix("monitor: nc ") {
            let (host, port) = rest.split_once(' ').unwrap();
            break format!("{host}:{port}").parse().unwrap();
        }
    };
    let stuck = TcpStream::connect(server.expect("the server's address is printed")).unwrap();
    let conn_name = format!("server:stuck/{}", stuck.local_addr().unwrap());
    let mut console = ConsoleClient::connect(monitor).unwrap();
    // The monitor answers, and the connection's task is live before the
    // signal arrives.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !console.command("ps").unwrap().contains(&conn_name) {
        assert!(
            std::time::Instant::now() < deadline,
            "{conn_name} never showed up"
        );
    }
    assert!(console.command("app").unwrap().contains("tick"));
    drop(console);

    send(signal);
    let (code, err) = run.join().unwrap();
    drop(stuck);
    (code, err, conn_name)
}

#[test]
fn sigterm_and_sigint_shut_down_gracefully() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for (signal, name) in [("TERM", "SIGTERM"), ("INT", "SIGINT")] {
        let (code, err, conn_name) = run_until(signal, &runtime);
        assert_eq!(code, ExitCode::SUCCESS, "{err}");
        assert!(
            err.starts_with(&format!("sig: {name} received; stopping (grace 200ms)\n")),
            "{err}"
        );
        assert!(
            err.contains("cancelled after the grace period: ") && err.contains(&conn_name),
            "{err}"
        );
        let ended = TaskRegistry::global()
            .terminated()
            .into_iter()
            .find(|t| t.name.as_deref() == Some(conn_name.as_str()))
            .expect("the connection is in the terminated history");
        assert_eq!(ended.state, TaskState::Cancelled);
        assert!(
            !TaskRegistry::global().live_tasks().iter().any(|t| t
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("schedule:tick"))),
            "the schedule stopped"
        );
    }
}
