//! The monitor never stalls and never amplifies: what waits on the
//! application (a task dump, a slow custom command) runs off the monitor's
//! loop, a fast client cannot starve the others, and a few bytes in cannot
//! ask for an unbounded amount of work or output. Every wait here is
//! bounded and released by the test itself.

mod attack_support;
mod support;

use std::{
    io::{Read, Write},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use attack_support::{PROMPT, Tcp, timed};
use monitor_core::{
    CancelRequested, RegistryError, Spawner, TaskId, TaskIntrospect, TaskRegistry, TaskSnapshot,
    dispatch::Command,
};
use monitor_server::MonitorBuilder;
use support::TinyPool;

/// A registry whose `stack` blocks until the test lets it go, like a
/// tokio task dump with a worker wedged.
struct WedgedDumps {
    registry: Arc<TaskRegistry>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl TaskIntrospect for WedgedDumps {
    fn for_each_live(&self, visit: &mut dyn FnMut(TaskSnapshot)) {
        self.registry.for_each_live(visit);
    }
    fn live_count(&self) -> usize {
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
    fn stack(&self, _id: TaskId) -> Option<String> {
        let released = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        Some(format!("dump after the wedge: {released:?}"))
    }
}

#[test]
fn a_pending_task_dump_does_not_hold_up_other_sessions() {
    let registry = TaskRegistry::new();
    let spawner = Spawner::new(TinyPool::new(1), Arc::clone(&registry));
    let task = spawner
        .task()
        .name("wedged")
        .spawn(std::future::pending::<()>());
    let (release, released) = mpsc::channel();
    let introspect = Arc::new(WedgedDumps {
        registry,
        release: Mutex::new(released),
    });
    let monitor = MonitorBuilder::new(introspect).port(0).start().unwrap();
    let addr = monitor.tcp_addr().unwrap();
    let mut dumper = Tcp::connect(addr);
    dumper.read_until(PROMPT);
    let mut other = Tcp::connect(addr);
    other.read_until(PROMPT);

    dumper.send(&format!("where {}", task.id()));
    // Give the dump time to start; the other session must not notice it.
    thread::sleep(Duration::from_millis(100));
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let (took, reply) = timed(|| other.cmd("ps"));
        slowest = slowest.max(took);
        assert!(reply.contains("wedged"), "{reply}");
        assert!(
            took < Duration::from_secs(1),
            "ps took {took:?} while another session waited for a task dump"
        );
    }
    println!("measured: slowest ps while a dump was pending: {slowest:?}");
    release.send(()).unwrap();
    let reply = dumper.read_until(PROMPT);
    assert!(reply.contains("dump after the wedge: Ok(())"), "{reply}");
}

#[test]
fn a_slow_sync_command_is_timed_out_and_stalls_nobody() {
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let finished = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&finished);
    let mut monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .command_timeout(Duration::from_millis(500))
        .command(Command::new("sleepy").run(move |_, _, out| {
            // Blocks like a command doing synchronous I/O against a dead
            // server; bounded so the test always ends.
            let _ = released
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
            done.store(true, Ordering::SeqCst);
            out.line("slept");
            Ok(())
        }))
        .start()
        .unwrap();
    let addr = monitor.tcp_addr().unwrap();
    let mut sleeper = Tcp::connect(addr);
    sleeper.read_until(PROMPT);
    let mut other = Tcp::connect(addr);
    other.read_until(PROMPT);

    sleeper.send("sleepy");
    thread::sleep(Duration::from_millis(100));
    let (took, reply) = timed(|| other.cmd("help exit"));
    assert!(reply.contains("Leave the monitor"), "{reply}");
    assert!(
        took < Duration::from_secs(1),
        "help took {took:?} behind a sleeping sync command"
    );
    println!("measured: help in another session took {took:?} behind a sleeping command");
    // The sleeper is told, and its session is free again.
    let (took, reply) = timed(|| sleeper.read_until(PROMPT));
    assert!(reply.contains("timed out"), "{reply}");
    assert!(took < Duration::from_secs(5), "the timeout took {took:?}");
    println!("measured: the sleeper was answered 'timed out' after {took:?} more");
    assert!(sleeper.cmd("help exit").contains("Leave the monitor"));
    // A second call while the first still sleeps: answered too.
    assert!(sleeper.cmd("sleepy").contains("timed out"));
    assert!(!finished.load(Ordering::SeqCst));
    // close() is not held hostage by the command that still sleeps.
    let (took, ()) = timed(|| monitor.close());
    assert!(took < Duration::from_secs(2), "close took {took:?}");
    println!("measured: close() took {took:?} with the command still sleeping");
    drop(release);
}

#[test]
fn a_client_pipelining_lines_does_not_starve_the_others() {
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .start()
        .unwrap();
    let addr = monitor.tcp_addr().unwrap();
    let flood = Tcp::connect(addr).stream;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = flood.try_clone().unwrap();
    let writing = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let lines = "x\n".repeat(32 * 1024);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if writer.write_all(lines.as_bytes()).is_err() {
                    return;
                }
            }
        })
    };
    let mut reader = flood;
    let reading = thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0usize;
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            total += n;
        }
        total
    });
    thread::sleep(Duration::from_millis(200));
    let mut other = Tcp::connect(addr);
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    other.read_until(PROMPT);
    slowest = slowest.max(started.elapsed());
    for _ in 0..10 {
        let (took, reply) = timed(|| other.cmd("help exit"));
        assert!(reply.contains("Leave the monitor"), "{reply}");
        slowest = slowest.max(took);
        thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    // Closing the monitor closes the flooding connection, which ends the
    // writer (blocked on a full socket) and the reader.
    drop(monitor);
    writing.join().unwrap();
    let flooded = reading.join().unwrap();
    assert!(flooded > 0);
    println!(
        "measured: slowest help behind a pipelining client {slowest:?}; the flooder was sent \
         {flooded} bytes"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "another session waited {slowest:?} behind a pipelining client"
    );
}

/// `ps` followed by fifty empty lines: the repeat is bounded, so 53 bytes
/// in cannot ask for fifty tables.
#[test]
fn empty_lines_cannot_multiply_a_heavy_command() {
    let registry = TaskRegistry::new();
    let spawner = Spawner::new(TinyPool::new(1), Arc::clone(&registry));
    let tasks: Vec<_> = (0..2000)
        .map(|n| {
            spawner
                .task()
                .name(format!("task-{n}"))
                .spawn(std::future::pending::<()>())
        })
        .collect();
    let monitor = MonitorBuilder::new(registry).port(0).start().unwrap();
    let addr = monitor.tcp_addr().unwrap();
    let mut client = Tcp::connect(addr);
    client.read_until(PROMPT);
    let one = client.cmd("ps").len();
    assert!(one > 100_000, "{one}");

    let mut attack = String::from("ps\n");
    attack.push_str(&"\n".repeat(50));
    attack.push_str("help exit\n");
    client.stream.write_all(attack.as_bytes()).unwrap();
    let out = client.read_until("Leave the monitor");
    let tables = out.matches("2000 tasks running").count();
    println!(
        "measured: ps + 50 empty lines gave {tables} tables, {} bytes (one ps: {one} bytes)",
        out.len()
    );
    assert!(
        tables <= 3,
        "53 bytes in produced {tables} tables ({} bytes)",
        out.len()
    );
    drop(tasks);
}

/// Cheap requests for big replies: what one session is sent per second is
/// bounded, however it asks.
#[test]
fn output_per_session_is_bounded_per_second() {
    let registry = TaskRegistry::new();
    let spawner = Spawner::new(TinyPool::new(1), Arc::clone(&registry));
    let tasks: Vec<_> = (0..2000)
        .map(|n| {
            spawner
                .task()
                .name(format!("task-{n}"))
                .spawn(std::future::pending::<()>())
        })
        .collect();
    let rate = 256 * 1024;
    let monitor = MonitorBuilder::new(registry)
        .port(0)
        .max_output_rate(rate)
        .start()
        .unwrap();
    let mut client = Tcp::connect(monitor.tcp_addr().unwrap());
    client.read_until(PROMPT);
    let started = Instant::now();
    let mut sent = 0;
    for _ in 0..4 {
        sent += client.cmd("ps").len();
    }
    let took = started.elapsed();
    // The first second's worth goes at once; the rest at the rate. The
    // last reply goes whole before it is paid for, hence one reply less.
    let paced = (sent - sent / 4).saturating_sub(rate as usize);
    let floor = Duration::from_secs_f64(paced as f64 / rate as f64 * 0.9);
    println!("measured: {sent} bytes at max_output_rate({rate}) took {took:?}");
    assert!(
        took >= floor,
        "{sent} bytes in {took:?}; at {rate} bytes a second that takes at least {floor:?}"
    );
    drop(tasks);
}

/// Commands that never return keep their threads, but only so many: the
/// next one is refused with a message saying why, and the session goes on.
#[test]
fn blocked_command_threads_are_bounded() {
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .command_timeout(Duration::from_millis(50))
        .command(Command::new("stuck").run(move |_, _, _| {
            // Every call waits for the one release (or 30 s).
            let _ = released
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
            Ok(())
        }))
        .start()
        .unwrap();
    let mut client = Tcp::connect(monitor.tcp_addr().unwrap());
    client.read_until(PROMPT);
    for _ in 0..16 {
        let reply = client.cmd("stuck");
        assert!(reply.contains("timed out"), "{reply}");
    }
    let refused = client.cmd("stuck");
    assert!(
        refused.contains("16 commands are still running"),
        "{refused}"
    );
    assert!(client.cmd("help exit").contains("Leave the monitor"));
    // Rates below a floor are refused at start, naming what is accepted.
    let err = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .max_output_rate(10)
        .start()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("max_output_rate must be at least 1024"),
        "{err}"
    );
    let err = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .max_line_rate(0)
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_line_rate"), "{err}");
    drop(release);
    drop(monitor);
}
