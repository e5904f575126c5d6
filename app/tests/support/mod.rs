//! The app scenarios, written once and run on every runtime (see
//! `run_tokio.rs` and `run_smol.rs`): each takes a [`TestRuntime`].

#![allow(dead_code, unreachable_pub)]

use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::{SocketAddr, TcpStream},
    path::Path,
    time::Duration,
};

use demo_support::client::ConsoleClient;
use futures_lite::{
    AsyncBufReadExt as _, AsyncWriteExt as _, FutureExt as _, io::BufReader as AsyncBufReader,
};
use monitor_app::{App, AppContext, AppError, Config, Connection, RunOutcome, Running};
use monitor_core::{Spawner, TaskIntrospect as _, TaskRegistry, TaskState};
use monitor_server::MonitorBuilder;

pub mod tokio_runtime;

/// What a runtime gives the app.
pub trait TestRuntime {
    /// Spawns on the runtime, tracked in the global registry.
    fn spawner(&self) -> Spawner;
    /// A monitor builder wired to the runtime.
    fn monitor(&self) -> MonitorBuilder;
}

/// Generous bound for anything that should happen "soon".
pub const SOON: Duration = Duration::from_secs(10);

/// Awaits `future` for at most [`SOON`].
#[track_caller]
pub fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    let bounded = async { Some(future.await) }.or(async {
        async_io::Timer::after(SOON).await;
        None
    });
    async_io::block_on(bounded).unwrap_or_else(|| panic!("timed out after {SOON:?}: {what}"))
}

/// Events the test functions report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Ran(String),
    Heard { signal: String, message: String },
}

/// The functions every scenario's configuration can name.
pub fn test_app(events: async_channel::Sender<Event>) -> App {
    let ran = events.clone();
    let heard = events;
    App::builder()
        .name("test-app")
        .scheduler("t.count", move |_ctx: AppContext, name: String| {
            let ran = ran.clone();
            async move {
                let _ = ran.send(Event::Ran(name)).await;
            }
        })
        .scheduler("t.fail", |_ctx: AppContext, _name: String| async {
            Err::<(), _>("scheduler says no")
        })
        .scheduler("t.slow", |_ctx: AppContext, _name: String| {
            std::future::pending::<()>()
        })
        .listener(
            "t.hear",
            move |_ctx: AppContext, signal: String, message: String| {
                let heard = heard.clone();
                async move {
                    let _ = heard.send(Event::Heard { signal, message }).await;
                }
            },
        )
        .listener("t.fail", |_ctx: AppContext, _s: String, _m: String| async {
            Err::<(), _>("listener refused the message")
        })
        .listener(
            "t.panic",
            |_ctx: AppContext, _s: String, m: String| async move {
                if !m.is_empty() {
                    panic!("listener exploded on {m}");
                }
            },
        )
        .protocol("t.echo", echo)
        .protocol("t.stuck", |_ctx: AppContext, conn: Connection| async move {
            // Ignores shutdown: only cancellation ends it.
            let _conn = conn;
            std::future::pending::<()>().await;
        })
        .protocol(
            "t.polite",
            |ctx: AppContext, mut conn: Connection| async move {
                ctx.stopping().await;
                conn.write_all(b"bye\n").await
            },
        )
        .factory(
            "t.factory",
            |_ctx: AppContext, _name: String, address: String, port: u16| async move {
                let socket = std::net::TcpListener::bind((address.as_str(), port))?;
                Ok::<_, std::io::Error>(monitor_app::BoundServer::new(
                    monitor_app::Listener::tcp(socket)?,
                    |ctx, conn| async move {
                        let mut conn = conn;
                        conn.write_all(b"made by the factory\n").await?;
                        echo(ctx, conn).await
                    },
                ))
            },
        )
        .factory(
            "t.never",
            |_ctx: AppContext, _name: String, _address: String, _port: u16| {
                std::future::pending::<std::io::Result<monitor_app::BoundServer>>()
            },
        )
        .build()
}

async fn echo(_ctx: AppContext, conn: Connection) -> std::io::Result<()> {
    let mut reader = AsyncBufReader::new(conn);
    let mut line = String::new();
    while reader.read_line(&mut line).await? > 0 {
        reader.get_mut().write_all(line.as_bytes()).await?;
        line.clear();
    }
    Ok(())
}

pub fn parse(text: &str) -> Config {
    Config::parse(text, Path::new("test.toml")).expect("valid test configuration")
}

pub fn start(rt: &dyn TestRuntime, app: &App, text: &str) -> Result<Running, AppError> {
    async_io::block_on(app.start(parse(text), rt.spawner(), Some(rt.monitor())))
}

fn console(running: &Running) -> ConsoleClient {
    let addr = running.monitor().unwrap().tcp_addr().unwrap();
    ConsoleClient::connect(addr).expect("monitor accepts a session")
}

fn task_named(name: &str) -> Option<monitor_core::TaskSnapshot> {
    TaskRegistry::global()
        .live_tasks()
        .into_iter()
        .find(|t| t.name.as_deref() == Some(name))
}

fn terminated_named(name: &str) -> Vec<monitor_core::TaskSnapshot> {
    TaskRegistry::global()
        .terminated()
        .into_iter()
        .filter(|t| t.name.as_deref() == Some(name))
        .collect()
}

fn connect(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect_timeout(&addr, SOON).unwrap();
    stream.set_read_timeout(Some(SOON)).unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

fn read_line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line
}

const MONITOR: &str = "[monitor]\nport = 0\n";

/// A schedule runs periodically as child tasks of `schedule:NAME`, its
/// runs are counted, a failing scheduler keeps its schedule alive, and
/// `schedule pause|run|resume` work from a console session.
pub fn schedules_fire(rt: &dyn TestRuntime) {
    let (events, heard) = async_channel::unbounded();
    let app = test_app(events);
    let running = start(
        rt,
        &app,
        &format!(
            "[schedule.fast]\nevery = \"20ms\"\nfunc = \"t.count\"\n\
             [schedule.broken]\nevery = \"20ms\"\nfunc = \"t.fail\"\n{MONITOR}"
        ),
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            within("a scheduled run", heard.recv()).unwrap(),
            Event::Ran("fast".into())
        );
    }
    let parent = task_named("schedule:fast").expect("the schedule is a live task");
    let run = TaskRegistry::global()
        .terminated()
        .into_iter()
        .find(|t| {
            t.name
                .as_deref()
                .is_some_and(|n| n.starts_with("schedule:fast run "))
        })
        .expect("runs are tasks of their own");
    assert_eq!(
        run.parent,
        Some(parent.id),
        "a run is a child of its schedule"
    );

    let status = running.status();
    let fast = status.schedules.iter().find(|s| s.name == "fast").unwrap();
    assert!(fast.runs >= 3, "{fast:?}");
    assert_eq!(fast.every, "20ms");
    let broken = loop {
        let status = running.status();
        let broken = status
            .schedules
            .iter()
            .find(|s| s.name == "broken")
            .unwrap()
            .clone();
        if broken.runs >= 2 && broken.last_outcome.is_some() {
            break broken;
        }
        within(
            "a failing run",
            async_io::Timer::after(Duration::from_millis(20)),
        );
    };
    assert_eq!(
        broken.last_outcome,
        Some(RunOutcome::Failed("scheduler says no".into()))
    );
    assert!(broken.failures >= 1);
    assert!(
        task_named("schedule:broken").is_some(),
        "a failing run does not stop the schedule"
    );

    let mut console = console(&running);
    assert_eq!(
        console.command("schedule pause fast").unwrap(),
        "schedule fast: paused\n"
    );
    let status = running.status();
    let fast = status.schedules.iter().find(|s| s.name == "fast").unwrap();
    assert!(fast.paused);
    // A run already under way when pausing may still report; then nothing.
    while heard.try_recv().is_ok() {}
    let paused_runs = running
        .status()
        .schedules
        .iter()
        .find(|s| s.name == "fast")
        .unwrap()
        .runs;
    assert_eq!(
        console.command("schedule run fast").unwrap(),
        "schedule fast: run requested\n"
    );
    assert_eq!(
        within("a run on request", heard.recv()).unwrap(),
        Event::Ran("fast".into())
    );
    let after = running
        .status()
        .schedules
        .iter()
        .find(|s| s.name == "fast")
        .unwrap()
        .runs;
    assert_eq!(after, paused_runs + 1, "paused: only the requested run");
    assert_eq!(
        console.command("schedule resume fast").unwrap(),
        "schedule fast: resumed\n"
    );
    within("runs after resume", heard.recv()).unwrap();
    let reply = console.command("schedule run nope").unwrap();
    assert!(
        reply.contains("no schedule named `nope`; schedules: broken, fast"),
        "{reply}"
    );
    let reply = console.command("schedule stop fast").unwrap();
    assert!(
        reply.contains("unknown action `stop`; expected run, pause or resume"),
        "{reply}"
    );

    within("shutdown", running.shutdown(Duration::from_secs(5)));
    assert!(
        task_named("schedule:fast").is_none(),
        "the schedule stops at shutdown"
    );
}

/// A `protocol =` server echoes over TCP, each connection a task named with
/// the peer's address; a factory server binds itself and works the same.
pub fn tcp_echo(rt: &dyn TestRuntime) {
    let (events, _heard) = async_channel::unbounded();
    let app = test_app(events);
    let running = start(
        rt,
        &app,
        &format!(
            "[server.echo]\nprotocol = \"t.echo\"\nport = 0\n\
             [server.made]\nfactory = \"t.factory\"\naddress = \"127.0.0.1\"\nport = 0\n{MONITOR}"
        ),
    )
    .unwrap();
    let addr = running.server_addr("echo").unwrap();
    let (mut stream, mut reader) = connect(addr);
    stream.write_all(b"hello\n").unwrap();
    assert_eq!(read_line(&mut reader), "hello\n");
    stream.write_all(b"two words\n").unwrap();
    assert_eq!(read_line(&mut reader), "two words\n");
    let conn_name = format!("server:echo/{}", stream.local_addr().unwrap());
    let conn = task_named(&conn_name).expect("one task per connection, named with the peer");
    let server = task_named("server:echo").unwrap();
    assert_eq!(conn.parent, Some(server.id));

    let status = running.status();
    let echo = status.servers.iter().find(|s| s.name == "echo").unwrap();
    assert_eq!((echo.live_connections, echo.total_connections), (1, 1));
    assert_eq!(echo.address, addr.to_string());

    drop(reader);
    drop(stream);
    let ended = loop {
        let ended = terminated_named(&conn_name);
        if !ended.is_empty() {
            break ended;
        }
        within(
            "the connection task ends",
            async_io::Timer::after(Duration::from_millis(10)),
        );
    };
    assert_eq!(ended[0].state, TaskState::Completed);

    let made = running.server_addr("made").unwrap();
    let (mut stream, mut reader) = connect(made);
    assert_eq!(read_line(&mut reader), "made by the factory\n");
    stream.write_all(b"ping\n").unwrap();
    assert_eq!(read_line(&mut reader), "ping\n");
    drop(reader);
    drop(stream);
    while running
        .status()
        .servers
        .iter()
        .any(|s| s.live_connections > 0)
    {
        within(
            "the connection closes",
            async_io::Timer::after(Duration::from_millis(5)),
        );
    }

    let report = within("shutdown", running.shutdown(Duration::from_secs(5)));
    assert!(report.cancelled.is_empty(), "{report}");
    assert!(
        TcpStream::connect_timeout(&addr, SOON).is_err(),
        "a stopped server no longer accepts"
    );
}

/// `emit` calls every subscriber as a `listen:NAME/SIGNAL` task; an error
/// and a panic are contained, reported and counted, and the bus keeps
/// working.
pub fn emit_reaches_listeners(rt: &dyn TestRuntime) {
    let (events, heard) = async_channel::unbounded();
    let app = test_app(events);
    let running = start(
        rt,
        &app,
        &format!(
            "[listen.ears]\nboom = [\"t.hear\", \"t.fail\", \"t.panic\"]\n\
             [listen.more]\nboom = \"t.hear\"\nquiet = \"t.hear\"\n{MONITOR}"
        ),
    )
    .unwrap();
    let emitted = within("emit", running.signals().emit("boom", "BOOM!"));
    let outcomes: Vec<(&str, &str, &RunOutcome)> = emitted
        .deliveries
        .iter()
        .map(|d| (d.listener.as_str(), d.func.as_str(), &d.outcome))
        .collect();
    assert_eq!(outcomes.len(), 4);
    assert_eq!(outcomes[0], ("ears", "t.hear", &RunOutcome::Ok));
    assert_eq!(
        outcomes[1],
        (
            "ears",
            "t.fail",
            &RunOutcome::Failed("listener refused the message".into())
        )
    );
    assert!(
        matches!(outcomes[2], ("ears", "t.panic", RunOutcome::Panicked(m)) if m.contains("listener exploded on BOOM!")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[3], ("more", "t.hear", &RunOutcome::Ok));
    for _ in 0..2 {
        assert_eq!(
            within("a listener heard it", heard.recv()).unwrap(),
            Event::Heard {
                signal: "boom".into(),
                message: "BOOM!".into()
            }
        );
    }
    let panicked = TaskRegistry::global()
        .terminated()
        .into_iter()
        .any(|t| t.name.as_deref() == Some("listen:ears/boom") && t.state == TaskState::Panicked);
    assert!(
        panicked,
        "the panicking delivery is recorded as a panicked task"
    );

    let status = running.status();
    let boom = status.signals.iter().find(|s| s.signal == "boom").unwrap();
    assert_eq!(boom.emits, 1);
    assert_eq!(boom.subscribers.iter().map(|s| s.failed).sum::<u64>(), 2);

    // The bus still works, and a signal nobody hears delivers nothing.
    let again = within("emit again", running.signals().emit("quiet", "psst"));
    assert_eq!(again.deliveries.len(), 1);
    assert!(again.deliveries[0].outcome.is_ok());
    assert!(
        within("emit unheard", running.signals().emit("nobody", "x"))
            .deliveries
            .is_empty()
    );

    within("shutdown", running.shutdown(Duration::from_secs(5)));
    let refused = within(
        "emit after shutdown",
        running.signals().emit("quiet", "late"),
    );
    assert_eq!(refused.deliveries[0].outcome, RunOutcome::Refused);
}

/// Shutdown: schedules stop, servers stop accepting, a task that finishes
/// within the grace period is not cancelled, one that does not is, and the
/// monitor's `ps-terminated` shows it cancelled.
pub fn graceful_shutdown(rt: &dyn TestRuntime) {
    let (events, _heard) = async_channel::unbounded();
    let app = test_app(events);
    let running = start(
        rt,
        &app,
        &format!(
            "[server.stuck]\nprotocol = \"t.stuck\"\nport = 0\n\
             [server.polite]\nprotocol = \"t.polite\"\nport = 0\n\
             [schedule.slow]\nevery = \"10ms\"\nfunc = \"t.slow\"\n{MONITOR}"
        ),
    )
    .unwrap();
    let (stuck_stream, _r) = connect(running.server_addr("stuck").unwrap());
    let stuck_name = format!("server:stuck/{}", stuck_stream.local_addr().unwrap());
    let (polite_stream, mut polite_reader) = connect(running.server_addr("polite").unwrap());
    let polite_name = format!("server:polite/{}", polite_stream.local_addr().unwrap());
    for name in [&stuck_name, &polite_name, &"schedule:slow run 1".to_owned()] {
        while task_named(name).is_none() {
            within(
                "the task starts",
                async_io::Timer::after(Duration::from_millis(5)),
            );
        }
    }

    let report = within("shutdown", running.shutdown(Duration::from_secs(1)));
    let cancelled: Vec<&str> = report.cancelled.iter().map(|(_, n)| n.as_str()).collect();
    assert!(cancelled.contains(&stuck_name.as_str()), "{report}");
    assert!(cancelled.contains(&"schedule:slow run 1"), "{report}");
    assert!(!cancelled.contains(&polite_name.as_str()), "{report}");
    assert!(report.stuck.is_empty(), "{report}");
    assert_eq!(
        read_line(&mut polite_reader),
        "bye\n",
        "the polite protocol saw the stop"
    );
    assert!(report.took >= Duration::from_secs(1));

    let status = running.status();
    assert!(status.stopping);
    assert!(status.servers.iter().all(|s| !s.accepting));
    assert!(status.schedules.iter().all(|s| s.next_run_in_ms.is_none()));

    let mut console = console(&running);
    let reply = console
        .command(&format!("ps-terminated --filter {stuck_name} --json"))
        .unwrap();
    let tasks: serde_json::Value = serde_json::from_str(reply.trim()).unwrap();
    assert_eq!(tasks[0]["name"], stuck_name.as_str(), "{reply}");
    assert_eq!(tasks[0]["state"], "cancelled", "{reply}");
    let reply = console
        .command("ps-terminated --filter server:polite/")
        .unwrap();
    assert!(reply.contains("completed"), "{reply}");
}

/// The monitor commands through a real console session: `app`, `app
/// --json`, `emit`, and `config` in the console namespace.
pub fn monitor_commands(rt: &dyn TestRuntime) {
    let (events, heard) = async_channel::unbounded();
    let app = test_app(events);
    let running = start(
        rt,
        &app,
        &format!(
            "[schedule.hourly]\nevery = \"1h\"\nfunc = \"t.count\"\n\
             [server.echo-cmd]\nprotocol = \"t.echo\"\nport = 0\n\
             [listen.ears]\nboom = [\"t.hear\", \"t.panic\"]\n{MONITOR}"
        ),
    )
    .unwrap();
    let mut console = console(&running);
    let text = console.command("app").unwrap();
    assert!(text.contains("config    test.toml"), "{text}");
    assert!(
        text.contains("hourly") && text.contains("every 1h"),
        "{text}"
    );
    assert!(text.contains("never ran"), "{text}");
    assert!(text.contains("protocol t.echo"), "{text}");
    assert!(text.contains("ears:t.hear"), "{text}");

    let reply = console.command("emit boom \"two words\"").unwrap();
    assert!(
        reply.starts_with("boom delivered to 2 listener(s)"),
        "{reply}"
    );
    assert!(reply.contains("t.hear: ok"), "{reply}");
    assert!(
        reply.contains("t.panic: panicked: listener exploded on two words"),
        "{reply}"
    );
    assert_eq!(
        within("the listener", heard.recv()).unwrap(),
        Event::Heard {
            signal: "boom".into(),
            message: "two words".into()
        }
    );
    let reply = console.command("emit nope").unwrap();
    assert_eq!(
        reply,
        "emit: no listener subscribes to `nope`; subscribed signals: boom\n"
    );

    let json: serde_json::Value =
        serde_json::from_str(console.command("app --json").unwrap().trim()).unwrap();
    assert_eq!(json["config_file"], "test.toml");
    assert_eq!(json["schedules"][0]["name"], "hourly");
    assert!(json["schedules"][0]["next_run_in_ms"].as_u64().unwrap() > 3_000_000);
    assert_eq!(json["signals"][0]["emits"], 1);
    assert_eq!(json["signals"][0]["subscribers"][1]["failed"], 1);
    assert_eq!(
        json["servers"][0]["address"],
        running.server_addr("echo-cmd").unwrap().to_string()
    );

    console.set_prompt("console >>> ");
    console.command("console").unwrap();
    let config: serde_json::Value =
        serde_json::from_str(console.command("get config --json").unwrap().trim()).unwrap();
    assert_eq!(config["schedules"]["hourly"]["every"], "1h");
    assert_eq!(config["schedules"]["hourly"]["func"], "t.count");
    assert_eq!(config["listeners"]["ears"]["boom"][1], "t.panic");
    let app_value = console.command("get app").unwrap();
    assert!(app_value.contains("hourly"), "{app_value}");

    within("shutdown", running.shutdown(Duration::from_secs(5)));
}

/// Nothing starts when a port is taken: not the schedules, not the other
/// servers (their sockets are closed again), not the monitor.
/// A factory that never returns fails the start after `[app]
/// start_timeout`, naming the server, the factory and the setting, and the
/// servers bound before it are released.
pub fn a_factory_that_never_returns_fails_the_start(rt: &dyn TestRuntime) {
    let (events, _heard) = async_channel::unbounded();
    let app = test_app(events);
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let err = start(
        rt,
        &app,
        &format!(
            "[app]\nstart_timeout = \"200ms\"\n\
             [server.a-first]\nprotocol = \"t.echo\"\nport = {free_port}\n\
             [server.b-never]\nfactory = \"t.never\"\nport = 0\n{MONITOR}"
        ),
    )
    .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, AppError::FactoryTimeout { .. }), "{err}");
    assert!(
        err.to_string().starts_with(
            "server `b-never`: factory `t.never` did not return within 200ms ([app] start_timeout)"
        ),
        "{err}"
    );
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    std::net::TcpListener::bind(("127.0.0.1", free_port))
        .expect("the server bound before the factory released its port");
}

pub fn port_in_use_starts_nothing(rt: &dyn TestRuntime) {
    let (events, _heard) = async_channel::unbounded();
    let app = test_app(events);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unique = format!("in-use-{taken_port}");
    let err = start(
        rt,
        &app,
        &format!(
            "[server.a-first]\nprotocol = \"t.echo\"\nport = {free_port}\n\
             [server.b-taken]\nprotocol = \"t.echo\"\nport = {taken_port}\n\
             [schedule.{unique}]\nevery = \"10ms\"\nfunc = \"t.count\"\n{MONITOR}"
        ),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "server `b-taken` (test.toml [server.b-taken]): cannot listen on 127.0.0.1:{taken_port}: "
        )),
        "{message}"
    );
    assert!(
        message.contains("another process holds this port"),
        "{message}"
    );
    assert!(task_named(&format!("schedule:{unique}")).is_none());
    std::net::TcpListener::bind(("127.0.0.1", free_port))
        .expect("the server bound before the failure released its port");

    // The monitor's own port taken: the servers bound before it close again.
    let err = start(
        rt,
        &app,
        &format!(
            "[server.a-first]\nprotocol = \"t.echo\"\nport = {free_port}\n\
             [monitor]\nport = {taken_port}\n"
        ),
    )
    .unwrap_err();
    assert!(matches!(err, AppError::Monitor(_)), "{err}");
    std::net::TcpListener::bind(("127.0.0.1", free_port)).expect("released again");

    // A Unix socket bound before the failure: its file is removed too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("early.sock");
    let err = start(
        rt,
        &app,
        &format!(
            "[server.a-unix]\nprotocol = \"t.echo\"\nunix = \"{}\"\n\
             [server.b-taken]\nprotocol = \"t.echo\"\nport = {taken_port}\n{MONITOR}",
            path.display()
        ),
    )
    .unwrap_err();
    assert!(matches!(err, AppError::Bind { .. }), "{err}");
    assert!(!path.exists(), "the Unix socket file is removed again");
    drop(taken);
}

/// A server on a Unix socket echoes too, and removes its socket file when
/// it stops.
pub fn unix_echo(rt: &dyn TestRuntime) {
    let (events, _heard) = async_channel::unbounded();
    let app = test_app(events);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let running = start(
        rt,
        &app,
        &format!(
            "[server.sock]\nprotocol = \"t.echo\"\nunix = \"{}\"\n{MONITOR}",
            path.display()
        ),
    )
    .unwrap();
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(SOON)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream.write_all(b"over unix\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "over unix\n");
    assert_eq!(
        running.status().servers[0].address,
        format!("unix:{}", path.display())
    );
    drop(reader);
    drop(stream);
    within("shutdown", running.shutdown(Duration::from_secs(5)));
    assert!(!path.exists(), "the socket file is removed");
}

/// `[monitor] token_env` naming an unset variable stops the start with a
/// message saying so.
pub fn token_env_must_be_set(rt: &dyn TestRuntime) {
    let (events, _heard) = async_channel::unbounded();
    let app = test_app(events);
    let err = start(
        rt,
        &app,
        "[monitor]\nport = 0\ntoken_env = \"MONITOR_APP_TEST_SURELY_UNSET\"\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "monitor: [monitor] token_env = \"MONITOR_APP_TEST_SURELY_UNSET\" but the environment \
         variable MONITOR_APP_TEST_SURELY_UNSET is not set (or not UTF-8); export it, or remove \
         token_env to run without a token"
    );
}

/// `[monitor] http_port` is the web UI's port, not a key accepted and then
/// ignored.
pub fn http_port_is_applied(rt: &dyn TestRuntime) {
    let (events, _heard) = async_channel::unbounded();
    let app = test_app(events);
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let running = start(
        rt,
        &app,
        &format!("[monitor]\nport = 0\nhttp_port = {port}\n"),
    )
    .unwrap();
    let web = running
        .monitor()
        .unwrap()
        .http_addr()
        .expect("the web UI listens");
    assert_eq!(web.port(), port);
    within("shutdown", running.shutdown(Duration::from_secs(5)));
}

/// Every scenario, for a runtime, as one `#[test]` each.
#[macro_export]
macro_rules! scenarios {
    ($runtime:expr) => {
        #[test]
        fn schedules_fire() {
            support::schedules_fire(&$runtime);
        }
        #[test]
        fn tcp_echo() {
            support::tcp_echo(&$runtime);
        }
        #[test]
        fn emit_reaches_listeners() {
            support::emit_reaches_listeners(&$runtime);
        }
        #[test]
        fn graceful_shutdown() {
            support::graceful_shutdown(&$runtime);
        }
        #[test]
        fn monitor_commands() {
            support::monitor_commands(&$runtime);
        }
        #[test]
        fn unix_echo() {
            support::unix_echo(&$runtime);
        }
        #[test]
        fn token_env_must_be_set() {
            support::token_env_must_be_set(&$runtime);
        }
        #[test]
        fn http_port_is_applied() {
            support::http_port_is_applied(&$runtime);
        }
        #[test]
        fn a_factory_that_never_returns_fails_the_start() {
            support::a_factory_that_never_returns_fails_the_start(&$runtime);
        }
        #[test]
        fn port_in_use_starts_nothing() {
            support::port_in_use_starts_nothing(&$runtime);
        }
    };
}
