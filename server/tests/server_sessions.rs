//! Full console sessions against a real monitor, over memory, TCP and Unix
//! sockets.

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

use monitor_core::{
    Spawner, TaskIntrospect, TaskRegistry, TaskState,
    dispatch::{Arg, Command},
    transport::MemoryTransport,
};
use monitor_server::MonitorBuilder;
use support::{Client, TinyPool, eventually};

const PROMPT: &str = "monitor >>> ";

struct App {
    spawner: Spawner,
    _monitor: monitor_server::Monitor,
    connector: monitor_core::transport::MemoryConnector,
}

fn app_with(configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder) -> App {
    let registry = TaskRegistry::new();
    let pool = TinyPool::new(2);
    let spawner = Spawner::new(pool.clone(), Arc::clone(&registry));
    let (transport, connector) = MemoryTransport::new();
    let builder = MonitorBuilder::new(registry)
        .no_tcp()
        .transport(transport)
        .executor(Arc::new(pool));
    let monitor = configure(builder).start().unwrap();
    App {
        spawner,
        _monitor: monitor,
        connector,
    }
}

fn client(app: &App) -> Client<monitor_core::transport::MemoryStream> {
    Client::new(app.connector.connect().unwrap(), PROMPT).0
}

#[test]
fn intro_prompt_and_every_builtin_over_memory() {
    let app = app_with(|b| b);
    let sleeper = app
        .spawner
        .task()
        .name("sleeper-cancel-me")
        .spawn(std::future::pending::<()>());
    let id = sleeper.id();
    let (mut c, intro) = Client::new(app.connector.connect().unwrap(), PROMPT);
    assert!(intro.contains("1 task running"), "{intro}");

    let help = c.cmd("help");
    for name in [
        "ps",
        "ps-terminated",
        "where",
        "where-terminated",
        "cancel",
        "signal",
        "stacktrace",
        "exit",
        "help",
    ] {
        assert!(help.contains(name), "help lacks {name}: {help}");
    }
    assert_eq!(c.cmd("h"), help);
    assert_eq!(c.cmd("?"), help);

    let ps = c.cmd("ps");
    assert!(ps.starts_with("1 task running\n"), "{ps}");
    assert!(
        ps.contains("sleeper-cancel-me") && ps.contains(&id.to_string()),
        "{ps}"
    );
    assert!(ps.contains("server_sessions.rs"), "{ps}");
    assert_eq!(c.cmd("p").lines().next(), ps.lines().next());

    let json: serde_json::Value = serde_json::from_str(c.cmd("ps --json").trim()).unwrap();
    assert_eq!(json[0]["id"], id.as_u64());
    assert_eq!(json[0]["name"], "sleeper-cancel-me");

    let filtered = c.cmd("ps -f nomatch");
    assert!(
        filtered.starts_with("1 task running (showing 0)"),
        "{filtered}"
    );

    let trace = c.cmd(&format!("where {id}"));
    assert!(
        trace.contains("sleeper-cancel-me") && trace.contains("server_sessions.rs"),
        "{trace}"
    );
    assert_eq!(c.cmd(&format!("w {id}")), trace);
    assert!(c.cmd("where 999999999").contains("No task 999999999"));
    assert!(c.cmd("where abc").contains("invalid task id \"abc\""));

    assert!(c.cmd("stacktrace").contains("No thread is inside"));

    let cancelled = c.cmd(&format!("cancel {id}"));
    assert!(
        cancelled.contains(&format!("Cancelled task {id}")),
        "{cancelled}"
    );
    assert!(
        futures_lite::future::block_on(sleeper)
            .unwrap_err()
            .is_cancelled()
    );
    assert!(c.cmd(&format!("ca {id}")).contains("already ended"));

    let pt = c.cmd("pt");
    assert!(pt.starts_with("1 task terminated"), "{pt}");
    assert!(pt.contains("cancelled on request"), "{pt}");
    let pt_json: serde_json::Value = serde_json::from_str(c.cmd("pst --json").trim()).unwrap();
    assert_eq!(pt_json[0]["ended"]["reason"], "cancelled");
    assert!(c.cmd(&format!("wt {id}")).contains("cancelled"));

    assert!(c.cmd("signal NOPE").contains("unknown signal"));
    assert!(c.cmd("signal term").contains("--confirm"));
    // USR1 and USR2 end the process unless it handles them: confirmed too.
    for name in ["USR1", "SIGUSR2"] {
        let refused = c.cmd(&format!("signal {name}"));
        assert!(refused.contains("--confirm"), "{name}: {refused}");
    }
    assert!(c.cmd("signal SIGCHLD").contains("Sent SIGCHLD"));

    assert!(c.cmd("pz").contains("Did you mean \"ps\""));

    let bye = c.cmd("exit");
    assert!(bye.contains("Bye"), "{bye}");
    assert_eq!(c.read_to_end(), "");
}

#[test]
fn custom_sync_and_async_commands_run_and_time_out() {
    let app = app_with(|b| {
        b.command(
            Command::new("double")
                .about("Doubles a number.")
                .arg(Arg::int("N"))
                .run(|_, args, out| {
                    out.line(format!("{}", args.get::<i64>("N").unwrap() * 2));
                    Ok(())
                }),
        )
        .command(
            Command::new("nap")
                .about("Sleeps on the application's runtime.")
                .arg(Arg::duration("FOR"))
                .run_async(|_, args| {
                    let nap: Duration = args.get("FOR").unwrap();
                    async move {
                        std::thread::sleep(nap);
                        Ok(format!(
                            "slept {nap:?} on {}",
                            std::thread::current().name().unwrap_or("?")
                        ))
                    }
                }),
        )
        .command(
            Command::new("hang")
                .about("Never finishes.")
                .run_async(|_, _| std::future::pending()),
        )
        .command(
            Command::new("boom")
                .about("Panics.")
                .run(|_, _, _| panic!("kaboom")),
        )
        // Long enough for `boom`'s panic to be reported even when
        // RUST_BACKTRACE=1 makes the panic hook symbolize a debug build's
        // stack (hundreds of milliseconds on a loaded machine).
        .command_timeout(Duration::from_secs(1))
    });
    let mut c = client(&app);
    assert_eq!(c.cmd("double 21"), "42\n");
    assert!(c.cmd("double x").contains("usage: double N"));
    assert!(
        c.cmd("nap 10ms").contains("tiny-worker"),
        "async command ran off the app runtime"
    );
    let started = Instant::now();
    assert!(c.cmd("hang").contains("timed out"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(c.cmd("boom").contains("kaboom"));
    // The session survives all of it.
    assert!(c.cmd("ps").contains("task"));
}

#[test]
fn telnet_bytes_long_lines_and_bad_utf8_are_answered() {
    let app = app_with(|b| b.max_line(64));
    let mut c = client(&app);
    // IAC DO ECHO is refused with IAC WONT ECHO and never read as a command.
    c.send_raw(&[255, 253, 1]);
    let ps = c.cmd("ps");
    assert!(
        ps.contains("tasks running") || ps.contains("task running"),
        "{ps:?}"
    );
    c.send_raw(&[b'x'; 200]);
    assert!(c.cmd("").contains("longer than 64 bytes"));
    c.send_raw(&[0xff, 0xff, 0xc3, 0x28, b'\n']);
    assert!(c.read_until_prompt().contains("not valid UTF-8"));
    c.send_raw(&[3]);
    assert!(c.read_until_prompt().contains("Ctrl-D"));
    assert!(c.cmd("ps").contains("running"));
}

#[test]
fn sessions_over_the_limit_are_refused_politely() {
    let app = app_with(|b| b.max_sessions(2));
    let _a = client(&app);
    let _b = client(&app);
    let mut third = app.connector.connect().unwrap();
    let mut text = Vec::new();
    futures_lite::future::block_on(futures_lite::AsyncReadExt::read_to_end(
        &mut third, &mut text,
    ))
    .unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("limit of 2 sessions"), "{text}");
    drop(_a);
    // The freed place is reusable.
    eventually("slot to free up", || {
        let stream = app.connector.connect().ok()?;
        let (mut c, intro) = Client::new(stream, PROMPT);
        (!intro.contains("limit")).then(|| c.cmd("ps"))
    });
}

#[test]
fn ps_answers_while_every_worker_is_blocked() {
    let app = app_with(|b| b);
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Arc::new(std::sync::Mutex::new(blocked));
    let mut stuck = Vec::new();
    for n in 0..2 {
        let blocked = Arc::clone(&blocked);
        stuck.push(
            app.spawner
                .task()
                .name(format!("hog-{n}"))
                .spawn(async move {
                    // Each hog blocks one worker thread inside its poll.
                    let _ = blocked
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(20));
                }),
        );
    }
    let registry = Arc::clone(app.spawner.registry());
    eventually("both workers blocked", || {
        let running = registry
            .live_tasks()
            .iter()
            .filter(|t| t.state == TaskState::Running)
            .count();
        // One hog holds the mutex, the other waits for it: both block.
        (running == 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(50));
    let mut c = client(&app);
    let started = Instant::now();
    let ps = c.cmd("ps --sort poll");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "ps took {:?}",
        started.elapsed()
    );
    assert!(ps.contains("hog-0") && ps.contains("hog-1"), "{ps}");
    assert!(ps.contains("running") && ps.contains("tiny-worker"), "{ps}");
    let st = c.cmd("stacktrace");
    assert_eq!(
        st.lines().filter(|l| l.contains("polling task")).count(),
        2,
        "{st}"
    );
    release.send(()).unwrap();
    release.send(()).unwrap();
}

#[test]
fn tcp_session_and_close_releases_the_port() {
    let registry = TaskRegistry::new();
    let mut monitor = MonitorBuilder::new(Arc::clone(&registry))
        .port(0)
        .start()
        .unwrap();
    let addr = monitor.tcp_addr().unwrap();
    assert!(addr.ip().is_loopback());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"ps\r\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while !seen.contains("0 tasks running") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("\r\n"), "telnet wants CRLF line ends");

    // A second monitor on the same port fails at once with a clear error.
    let started = Instant::now();
    let err = MonitorBuilder::new(Arc::clone(&registry))
        .port(addr.port())
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("in use"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));

    monitor.close();
    monitor.close(); // idempotent
    assert!(monitor.is_closed());
    // The open session was closed with the monitor...
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    // ...and the port is free again.
    let again = MonitorBuilder::new(registry)
        .port(addr.port())
        .start()
        .unwrap();
    assert_eq!(again.tcp_addr().unwrap().port(), addr.port());
}

#[test]
fn non_loopback_hosts_need_explicit_permission() {
    let err = MonitorBuilder::new(TaskRegistry::new())
        .host("0.0.0.0".parse().unwrap())
        .port(0)
        .start()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("non-loopback") && err.contains("allow_remote"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn unix_socket_sessions_with_private_permissions() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("monitor-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.sock");
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .unix_socket(&path)
        .start()
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"ps\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while !seen.contains("0 tasks running") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // A live socket cannot be taken over by a second monitor.
    let err = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .unix_socket(&path)
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("in use") || err.contains("live"), "{err}");
    drop(monitor);
    assert!(!path.exists(), "socket file left behind");
    let _ = std::fs::remove_dir_all(&dir);
}
