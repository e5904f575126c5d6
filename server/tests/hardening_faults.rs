//! Faults inside the monitor: panics in commands, hooks, the session code,
//! a transport, and the monitor thread's own teardown. Each stays where it
//! happened; the application's tasks and the other sessions go on, and
//! dropping or closing the monitor always returns promptly.

mod support;

use std::{
    io::{self, Read, Write},
    net::TcpStream,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    thread,
    time::{Duration, Instant},
};

use futures_lite::{AsyncRead, AsyncWrite};
use monitor_core::RegistryError;
use monitor_core::{
    CancelRequested, Spawner, TaskId, TaskIntrospect, TaskRegistry, TaskSnapshot,
    dispatch::{Command, Completed, Dispatcher, Hooks, Precmd, Reply},
    transport::{AcceptFuture, Connection, MemoryTransport, Transport},
};
use monitor_server::MonitorBuilder;
use support::{Client, TinyPool, eventually};

const PROMPT: &str = "monitor >>> ";

/// An application task that counts milliseconds: the proof that the
/// application keeps running whatever happens to the monitor.
fn ticker(spawner: &Spawner) -> Arc<AtomicU64> {
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&ticks);
    drop(spawner.task().name("ticker").spawn(async move {
        loop {
            async_io::Timer::after(Duration::from_millis(1)).await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }));
    ticks
}

#[track_caller]
fn assert_ticking(ticks: &AtomicU64) {
    let before = ticks.load(Ordering::Relaxed);
    eventually("the application's ticker to advance", || {
        (ticks.load(Ordering::Relaxed) > before + 5).then_some(())
    });
}

/// The registry, with a switch that makes `live_count` (used for the
/// intro, outside any command) panic.
struct Fragile {
    registry: Arc<TaskRegistry>,
    broken: AtomicBool,
}

impl TaskIntrospect for Fragile {
    fn for_each_live(&self, visit: &mut dyn FnMut(TaskSnapshot)) {
        self.registry.for_each_live(visit);
    }
    fn live_count(&self) -> usize {
        assert!(!self.broken.load(Ordering::Relaxed), "introspection broke");
        self.registry.live_count()
    }
    fn terminated(&self) -> Vec<TaskSnapshot> {
        self.registry.terminated()
    }
    fn task(&self, id: TaskId) -> Option<TaskSnapshot> {
        self.registry.task(id)
    }
    fn cancel(&self, id: TaskId) -> Result<CancelRequested, RegistryError> {
        self.registry.cancel(id)
    }
}

/// A panic payload that panics again when it is dropped.
struct ExplodingPayload;

impl Drop for ExplodingPayload {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("the panic payload exploded too");
        }
    }
}

/// Hooks that panic on cue.
struct PanickyHooks;

impl<C> Hooks<C> for PanickyHooks {
    fn precmd(&self, _: &mut C, dispatcher: &Dispatcher<C>, line: &str) -> Precmd {
        if line == "precmd-boom" {
            panic!("precmd hook exploded");
        }
        dispatcher.resolve_line(line)
    }
    fn postcmd(&self, _: &mut C, completed: &Completed<'_>, reply: Reply) -> Reply {
        if completed.command == "post-boom" {
            panic!("postcmd hook exploded");
        }
        reply
    }
    fn emptyline(&self, _: &mut C, _: Option<&str>) -> Option<String> {
        panic!("emptyline hook exploded")
    }
    fn unknown_command(&self, _: &mut C, _: &Dispatcher<C>, word: &str, _: &[String]) -> Reply {
        panic!("default hook exploded on {word}")
    }
}

#[test]
fn panics_in_commands_hooks_and_sessions_stay_in_their_session() {
    let registry = TaskRegistry::new();
    let pool = TinyPool::new(2);
    let spawner = Spawner::new(pool.clone(), Arc::clone(&registry));
    let ticks = ticker(&spawner);
    let fragile = Arc::new(Fragile {
        registry,
        broken: AtomicBool::new(false),
    });
    let (transport, connector) = MemoryTransport::new();
    let _monitor = MonitorBuilder::new(Arc::clone(&fragile))
        .no_tcp()
        .transport(transport)
        .executor(Arc::new(pool))
        .hooks(PanickyHooks)
        .command(Command::new("boom").run(|_, _, _| panic!("sync command exploded")))
        .command(
            Command::new("async-boom").run_async(|_, _| async { panic!("async command exploded") }),
        )
        .command(
            Command::new("payload-boom").run(|_, _, _| std::panic::panic_any(ExplodingPayload)),
        )
        .command(Command::new("post-boom").run(|_, _, out| {
            out.line("ran");
            Ok(())
        }))
        .start()
        .unwrap();
    let (mut victim, _) = Client::new(connector.connect().unwrap(), PROMPT);
    let (mut bystander, _) = Client::new(connector.connect().unwrap(), PROMPT);

    for (line, expected) in [
        ("boom", "boom: command panicked: sync command exploded"),
        (
            "async-boom",
            "async-boom: command panicked: async command exploded",
        ),
        ("precmd-boom", "precmd hook panicked: precmd hook exploded"),
        ("post-boom", "postcmd hook panicked: postcmd hook exploded"),
        ("", "emptyline hook panicked: emptyline hook exploded"),
        (
            "nosuch",
            "default hook panicked: default hook exploded on nosuch",
        ),
    ] {
        let reply = victim.cmd(line);
        assert!(reply.contains(expected), "{line:?}: {reply:?}");
        assert!(bystander.cmd("ps").contains("ticker"));
    }
    assert!(
        victim.cmd("ps").contains("ticker"),
        "the victim goes on too"
    );

    // A panic whose payload panics again when dropped gets past the
    // dispatcher's guard; the command runs on a thread of its own, so it
    // ends only that thread, and the session says so and goes on.
    let reply = victim.cmd("payload-boom");
    assert!(
        reply.contains("payload-boom: command panicked: the command's thread ended"),
        "{reply:?}"
    );
    assert!(victim.cmd("ps").contains("ticker"));
    assert!(bystander.cmd("ps").contains("ticker"));

    // A panic in the session's own code (here: computing the intro) ends
    // that session only.
    fragile.broken.store(true, Ordering::Relaxed);
    let mut doomed = connector.connect().unwrap();
    let mut said = Vec::new();
    futures_lite::future::block_on(futures_lite::AsyncReadExt::read_to_end(
        &mut doomed,
        &mut said,
    ))
    .unwrap();
    assert!(said.is_empty(), "{:?}", String::from_utf8_lossy(&said));
    fragile.broken.store(false, Ordering::Relaxed);
    assert!(bystander.cmd("ps").contains("ticker"));
    let (mut after, intro) = Client::new(connector.connect().unwrap(), PROMPT);
    assert!(intro.contains("running"), "{intro}");
    assert!(after.cmd("ps").contains("ticker"));
    assert_ticking(&ticks);
}

fn read_until_closed(stream: &mut TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(err) => return Err(err),
        }
    }
}

#[test]
fn dropping_the_monitor_closes_every_open_session_within_a_second() {
    let registry = TaskRegistry::new();
    let pool = TinyPool::new(2);
    let spawner = Spawner::new(pool.clone(), Arc::clone(&registry));
    let ticks = ticker(&spawner);
    for n in 0..2000 {
        drop(
            spawner
                .task()
                .name(format!("filler-{n}"))
                .spawn(std::future::pending::<()>()),
        );
    }
    let (transport, connector) = MemoryTransport::new();
    let monitor = MonitorBuilder::new(registry)
        .port(0)
        .transport(transport)
        .executor(Arc::new(pool))
        .command_timeout(Duration::from_secs(30))
        .command(
            Command::new("hang")
                .about("Waits on the application's runtime for a long time.")
                .run_async(|_, _| async {
                    async_io::Timer::after(Duration::from_secs(30)).await;
                    Ok(String::new())
                }),
        )
        .start()
        .unwrap();
    let addr = monitor.tcp_addr().unwrap();
    let connect = || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut seen = Vec::new();
        while !seen.ends_with(PROMPT.as_bytes()) {
            let mut byte = [0u8; 1];
            assert_eq!(stream.read(&mut byte).unwrap(), 1);
            seen.push(byte[0]);
        }
        stream
    };
    let mut idle = connect();
    let mut typing = connect();
    typing.write_all(b"ps --so").unwrap();
    let mut waiting = connect();
    waiting.write_all(b"hang\r\n").unwrap();
    // Never reads its replies: the session is stuck writing.
    let mut stalled = connect();
    stalled.write_all("ps\r\n".repeat(40).as_bytes()).unwrap();
    let (memory, _) = Client::new(connector.connect().unwrap(), PROMPT);
    thread::sleep(Duration::from_millis(300));

    let started = Instant::now();
    drop(monitor);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "dropping took {took:?}");
    for stream in [&mut idle, &mut typing, &mut waiting, &mut stalled] {
        read_until_closed(stream).expect("the session is closed within a second");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    let mut memory = memory;
    let _ = memory.read_to_end();
    assert_ticking(&ticks);
}

/// Serves a connection or two, then panics in `accept`.
struct ExplodingTransport {
    inner: MemoryTransport,
    accepted: AtomicU64,
}

impl Transport for ExplodingTransport {
    fn accept(&self) -> AcceptFuture<'_> {
        let n = self.accepted.fetch_add(1, Ordering::Relaxed);
        assert!(n < 1, "transport exploded in accept");
        self.inner.accept()
    }
    fn local_addr(&self) -> String {
        "exploding".to_owned()
    }
}

#[test]
fn a_panicking_transport_stops_only_itself() {
    let registry = TaskRegistry::new();
    let pool = TinyPool::new(1);
    let spawner = Spawner::new(pool.clone(), Arc::clone(&registry));
    let ticks = ticker(&spawner);
    let (inner, connector) = MemoryTransport::new();
    let mut monitor = MonitorBuilder::new(registry)
        .port(0)
        .transport(ExplodingTransport {
            inner,
            accepted: AtomicU64::new(0),
        })
        .start()
        .unwrap();
    // The first connection is served, then the transport's next accept
    // panics.
    let (mut first, _) = Client::new(connector.connect().unwrap(), PROMPT);
    assert!(first.cmd("ps").contains("ticker"));
    // Its open session and the TCP listener go on.
    let mut tcp = TcpStream::connect(monitor.tcp_addr().unwrap()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"ps\r\n").unwrap();
    let mut seen = String::new();
    while !seen.contains("1 task running") {
        let mut buf = [0u8; 4096];
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(first.cmd("ps").contains("ticker"));
    assert_ticking(&ticks);
    let started = Instant::now();
    monitor.close();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_ticking(&ticks);
}

/// Serves memory connections through booby-trapped streams.
struct TrappedTransport(MemoryTransport);

impl Transport for TrappedTransport {
    fn accept(&self) -> AcceptFuture<'_> {
        Box::pin(async {
            let connection = self.0.accept().await?;
            Ok(Connection {
                stream: Box::new(Trapped(connection.stream)),
                peer: connection.peer,
            })
        })
    }
    fn local_addr(&self) -> String {
        "trapped".to_owned()
    }
}

/// A stream whose destructor panics: the monitor thread meets the panic
/// while it tears its sessions down, outside any session's safety net.
struct Trapped(Box<dyn monitor_core::transport::Stream>);

impl Drop for Trapped {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic!("stream destructor exploded");
        }
    }
}

impl AsyncRead for Trapped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Trapped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_close(cx)
    }
}

#[test]
fn a_destructor_that_panics_while_closing_is_contained() {
    let registry = TaskRegistry::new();
    let pool = TinyPool::new(1);
    let spawner = Spawner::new(pool.clone(), Arc::clone(&registry));
    let ticks = ticker(&spawner);
    let (inner, connector) = MemoryTransport::new();
    let mut monitor = MonitorBuilder::new(registry)
        .no_tcp()
        .transport(TrappedTransport(inner))
        .start()
        .unwrap();
    let (mut client, _) = Client::new(connector.connect().unwrap(), PROMPT);
    assert!(client.cmd("ps").contains("ticker"));
    // Closing ends the open session on the monitor thread; its stream's
    // destructor panics there. Left to the executor, that drop would run
    // under async-task's abort-on-panic guard and kill the application.
    let started = Instant::now();
    monitor.close();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(monitor.is_closed());
    monitor.close();
    assert_ticking(&ticks);
    // The application can start a new monitor.
    let again = MonitorBuilder::new(Arc::clone(spawner.registry()))
        .port(0)
        .start()
        .unwrap();
    drop(again);
    assert_ticking(&ticks);
}
