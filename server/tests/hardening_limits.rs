//! Resource limits under hostile clients, over real TCP on loopback: slow
//! writers, clients that stop reading, idle and endless lines, floods of
//! connections. Each test is bounded to a few seconds.

mod support;

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use monitor_core::{Spawner, TaskRegistry};
use monitor_server::{Monitor, MonitorBuilder};
use support::{TinyPool, eventually};

const PROMPT: &str = "monitor >>> ";

fn monitor(
    tasks: usize,
    configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder,
) -> (Monitor, Spawner) {
    let registry = TaskRegistry::new();
    let spawner = Spawner::new(TinyPool::new(2), Arc::clone(&registry));
    for n in 0..tasks {
        drop(
            spawner
                .task()
                .name(format!("app-task-{n}"))
                .spawn(std::future::pending::<()>()),
        );
    }
    let monitor = configure(MonitorBuilder::new(registry).port(0))
        .start()
        .unwrap();
    (monitor, spawner)
}

/// A blocking TCP console client.
struct Tcp {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Tcp {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Self {
            stream,
            pending: Vec::new(),
        }
    }

    /// Reads until `marker` and returns the text before it.
    fn read_until(&mut self, marker: &str) -> String {
        loop {
            if let Some(at) = self
                .pending
                .windows(marker.len())
                .position(|w| w == marker.as_bytes())
            {
                let text = String::from_utf8_lossy(&self.pending[..at]).replace("\r\n", "\n");
                self.pending.drain(..at + marker.len());
                return text;
            }
            let mut buf = [0u8; 64 * 1024];
            let n = self.stream.read(&mut buf).unwrap_or_else(|err| {
                panic!("{err} waiting for {marker:?} after {:?}", self.tail())
            });
            assert!(
                n > 0,
                "closed while waiting for {marker:?}: {:?}",
                self.tail()
            );
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    fn tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.pending);
        text.chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    }

    fn cmd(&mut self, line: &str) -> String {
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.read_until(PROMPT)
    }

    /// Reads until the server hangs up; returns what came.
    fn read_to_end(&mut self) -> String {
        let mut rest = Vec::new();
        let _ = self.stream.read_to_end(&mut rest);
        self.pending.extend_from_slice(&rest);
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).replace("\r\n", "\n")
    }
}

/// Resident memory of this process, in bytes.
#[cfg(target_os = "linux")]
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: `sysconf` only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

#[test]
fn a_byte_a_second_client_never_delays_other_sessions() {
    let (monitor, _spawner) = monitor(3, |b| b);
    let addr = monitor.tcp_addr().unwrap();
    let slow = thread::spawn(move || {
        let mut slow = Tcp::connect(addr);
        slow.read_until(PROMPT);
        for &byte in b"ps\n" {
            slow.stream.write_all(&[byte]).unwrap();
            thread::sleep(Duration::from_secs(1));
        }
        slow.read_until(PROMPT)
    });
    let mut fast = Tcp::connect(addr);
    fast.read_until(PROMPT);
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    let mut answered = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        let asked = Instant::now();
        assert!(fast.cmd("ps").contains("3 tasks running"));
        worst = worst.max(asked.elapsed());
        answered += 1;
    }
    // The slow client holds nothing up; the bound leaves room for a loaded CI machine.
    assert!(worst < Duration::from_millis(750), "a ps took {worst:?}");
    assert!(answered > 20, "only {answered} answers in 2.5 s");
    // The slow client is served too, once its line is complete.
    assert!(slow.join().unwrap().contains("3 tasks running"));
}

#[test]
fn a_client_that_stops_reading_a_big_reply_is_dropped() {
    let write_timeout = Duration::from_millis(500);
    let (monitor, _spawner) = monitor(3000, |b| b.write_timeout(write_timeout).max_sessions(1));
    let addr = monitor.tcp_addr().unwrap();
    let mut stuck = Tcp::connect(addr);
    stuck.read_until(PROMPT);
    let reply_size = stuck.cmd("ps").len();
    assert!(reply_size > 100_000, "ps is only {reply_size} bytes");
    #[cfg(target_os = "linux")]
    let rss_before = rss();
    // Ask for far more than the socket buffers of both ends hold, and
    // never read it.
    let asked = Instant::now();
    let requests = "ps\r\n".repeat(64);
    stuck.stream.write_all(requests.as_bytes()).unwrap();

    // The server gives up on it: its single session place frees up.
    // Loopback socket buffers absorb megabytes (dozens of replies, each
    // rendered in a debug build) before the writes stall, so the deadline
    // is generous; what matters is that the session is dropped at all and
    // that memory stays flat meanwhile.
    let deadline = asked + Duration::from_secs(30);
    let fresh = loop {
        thread::sleep(Duration::from_millis(50));
        let mut client = Tcp::connect(addr);
        let first = client.read_until("\n");
        if !first.contains("limit") {
            break client;
        }
        assert!(
            Instant::now() < deadline,
            "the stuck session was not dropped within 30 s"
        );
    };
    let dropped_after = asked.elapsed();
    assert!(dropped_after < Duration::from_secs(30), "{dropped_after:?}");
    // The server held one reply at a time, never the backlog (64 replies
    // would be tens of MiB). Generous: other tests share the process.
    #[cfg(target_os = "linux")]
    {
        let grown = rss().saturating_sub(rss_before);
        assert!(
            grown < 16 * reply_size as u64,
            "resident memory grew by {} KiB while the client was stuck",
            grown / 1024
        );
    }
    drop(fresh);
    // What the stuck client can still read is what was in flight, and then
    // the connection ends: the server does not keep writing.
    stuck
        .stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match stuck.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(err) if err.kind() == ErrorKind::ConnectionReset => break,
            Err(err) => panic!("connection not closed: {err}"),
        }
    }
    assert!(
        total < 64 * reply_size,
        "the whole {}-byte backlog was sent",
        64 * reply_size
    );
}

#[test]
fn idle_sessions_and_endless_lines_are_closed() {
    let (monitor, _spawner) = monitor(0, |b| b.idle_timeout(Duration::from_millis(400)));
    let addr = monitor.tcp_addr().unwrap();
    let mut idle = Tcp::connect(addr);
    idle.read_until(PROMPT);
    let started = Instant::now();
    let rest = idle.read_to_end();
    assert!(
        rest.contains("session closed after 400.0ms without input"),
        "{rest:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // A line that never ends does not keep a session alive: the idle
    // timeout counts from the last complete line, not the last byte.
    let mut dribble = Tcp::connect(addr);
    dribble.read_until(PROMPT);
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(3) {
        if dribble.stream.write_all(b"x").is_err() {
            closed = true;
            break;
        }
        thread::sleep(Duration::from_millis(50));
        let _ = dribble.stream.set_nonblocking(true);
        let mut buf = [0u8; 256];
        let read = dribble.stream.read(&mut buf);
        let _ = dribble.stream.set_nonblocking(false);
        if let Ok(n) = read {
            dribble.pending.extend_from_slice(&buf[..n]);
            if n == 0 {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "a never-ending line kept the session open");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_huge_line_is_refused_once_and_never_buffered() {
    let (monitor, _spawner) = monitor(1, |b| b);
    let mut client = Tcp::connect(monitor.tcp_addr().unwrap());
    client.read_until(PROMPT);
    // 8 MiB without a line end, written while the server answers.
    let writer = client.stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut writer = writer;
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..128 {
            writer.write_all(&chunk).unwrap();
        }
        writer.write_all(b"\r\nps\r\n").unwrap();
    });
    let refusal = client.read_until(PROMPT);
    assert!(refusal.contains("longer than 4096 bytes"), "{refusal:?}");
    let ps = client.read_until(PROMPT);
    assert!(ps.contains("1 task running"), "{ps:?}");
    sender.join().unwrap();
}

#[test]
fn a_connection_flood_is_refused_and_the_limit_recovers() {
    let (monitor, _spawner) = monitor(0, |b| b.max_sessions(4));
    let addr = monitor.tcp_addr().unwrap();
    let mut served: Vec<Tcp> = (0..4)
        .map(|_| {
            let mut c = Tcp::connect(addr);
            c.read_until(PROMPT);
            c
        })
        .collect();
    let flood: Vec<Tcp> = (0..100).map(|_| Tcp::connect(addr)).collect();
    for mut extra in flood {
        let text = extra.read_to_end();
        assert!(text.contains("limit of 4 sessions"), "{text:?}");
    }
    for client in &mut served {
        assert!(client.cmd("ps").contains("0 tasks running"));
    }
    served.clear();
    eventually("the places to free up", || {
        thread::sleep(Duration::from_millis(20));
        let mut c = Tcp::connect(addr);
        let intro = c.read_until("\n");
        (!intro.contains("limit")).then(|| c.cmd("ps"))
    });
}
