//! 2 000 console sessions over real TCP on loopback, a quarter of them
//! dropped abruptly mid-command: no file descriptor leaks, memory comes
//! back to its baseline, and the application's tasks keep running.
//!
//! The only test in its binary, so that no other test's sockets or
//! allocations blur the counts.

mod support;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use monitor_core::{Spawner, TaskRegistry};
use monitor_server::MonitorBuilder;
use support::TinyPool;

const PROMPT: &[u8] = b"monitor >>> ";
const SESSIONS: usize = 2000;
const CLIENT_THREADS: usize = 4;

/// Open file descriptors of this process.
#[cfg(target_os = "linux")]
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
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

fn read_until(stream: &mut TcpStream, marker: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while !seen.windows(marker.len()).any(|w| w == marker) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    seen
}

/// One session, ended one of four ways chosen by `n`.
fn session(addr: SocketAddr, n: usize) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    read_until(&mut stream, PROMPT);
    match n % 4 {
        // A whole command, then a polite exit.
        0 => {
            stream.write_all(b"ps\r\n").unwrap();
            read_until(&mut stream, PROMPT);
            stream.write_all(b"exit\r\n").unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        }
        // A command, then gone without reading the answer.
        1 => stream.write_all(b"ps --sort age\r\n").unwrap(),
        // Gone in the middle of typing a line.
        2 => stream.write_all(b"where 1").unwrap(),
        // Gone with a reset instead of a FIN, after a command.
        _ => {
            stream.write_all(b"help\r\n").unwrap();
            read_until(&mut stream, PROMPT);
            stream.write_all(b"ps\r\n").unwrap();
            let _ = stream.set_linger_zero();
        }
    }
}

trait LingerZero {
    fn set_linger_zero(&self) -> std::io::Result<()>;
}

impl LingerZero for TcpStream {
    /// Makes closing send RST, as a crashed client or a middlebox would.
    #[cfg(unix)]
    fn set_linger_zero(&self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket, and a pointer to a `linger` of the size
        // given, alive for the call.
        let rc = unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                std::ptr::from_ref(&linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    #[cfg(not(unix))]
    fn set_linger_zero(&self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn two_thousand_sessions_leak_nothing_and_the_app_runs_on() {
    let registry = TaskRegistry::new();
    let pool = TinyPool::new(2);
    let spawner = Spawner::new(pool.clone(), Arc::clone(&registry));
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&ticks);
    let _ticker = spawner.task().name("ticker").spawn(async move {
        loop {
            async_io::Timer::after(Duration::from_millis(1)).await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    for n in 0..20 {
        drop(
            spawner
                .task()
                .name(format!("app-task-{n}"))
                .spawn(std::future::pending::<()>()),
        );
    }
    let monitor = MonitorBuilder::new(registry)
        .port(0)
        .executor(Arc::new(pool))
        .max_sessions(64)
        .start()
        .unwrap();
    let addr = monitor.tcp_addr().unwrap();

    // Warm up (allocator arenas, lazily built tables), then measure.
    for n in 0..100 {
        session(addr, n);
    }
    thread::sleep(Duration::from_millis(200));
    #[cfg(target_os = "linux")]
    let (fds_before, rss_before) = (open_fds(), rss());
    let ticks_before = ticks.load(Ordering::Relaxed);

    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            thread::spawn(move || {
                for n in (t..SESSIONS).step_by(CLIENT_THREADS) {
                    session(addr, n);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let took = started.elapsed();
    let ticks_during = ticks.load(Ordering::Relaxed) - ticks_before;
    // The ticker sleeps 1 ms a turn; under load it may run late, but it
    // must keep going, not stall while the monitor is busy.
    assert!(
        ticks_during as f64 > took.as_millis() as f64 * 0.2,
        "{ticks_during} ticks in {took:?}"
    );
    assert!(
        took < Duration::from_secs(20),
        "{SESSIONS} sessions took {took:?}"
    );

    #[cfg(target_os = "linux")]
    {
        // The server closes its side asynchronously: give it a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut fds_after = open_fds();
        while fds_after > fds_before + 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
            fds_after = open_fds();
        }
        assert!(
            fds_after <= fds_before + 2,
            "file descriptors: {fds_before} before, {fds_after} after {SESSIONS} sessions"
        );
        let rss_after = rss();
        // A guard against growth per session, not a measurement: 2 000
        // leaked sessions would hold far more than this.
        assert!(
            rss_after < rss_before + 24 * 1024 * 1024,
            "resident memory: {} KiB before, {} KiB after",
            rss_before / 1024,
            rss_after / 1024
        );
        eprintln!(
            "{SESSIONS} sessions in {took:?}; fds {fds_before} -> {fds_after}; rss {} -> {} KiB; \
             {ticks_during} ticks",
            rss_before / 1024,
            rss_after / 1024
        );
    }

    // The monitor still serves, and the application still ticks.
    let mut last = TcpStream::connect(addr).unwrap();
    last.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    read_until(&mut last, PROMPT);
    last.write_all(b"ps -f ticker\r\n").unwrap();
    let reply = read_until(&mut last, PROMPT);
    assert!(String::from_utf8_lossy(&reply).contains("ticker"));
    let before = ticks.load(Ordering::Relaxed);
    thread::sleep(Duration::from_millis(50));
    assert!(ticks.load(Ordering::Relaxed) > before);
}
