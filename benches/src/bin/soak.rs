//! Soak run (not a test): a tokio application spawning tracked tasks at a
//! steady rate for minutes, while console sessions come and go running
//! `ps`, `where` and `cancel`. Reports, per interval, the spawn rate
//! reached, live tasks, the process's resident memory and open file
//! descriptors, and how long the monitor took to answer; then compares the
//! first interval with the last. Numbers go to `docs/SECURITY.md`.
//!
//! ```sh
//! cargo run --release -p benches --bin soak -- --minutes 10 --rate 10000 --sessions 4
//! ```

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use monitor_core::{TaskId, TaskIntrospect, TaskRegistry};

const PROMPT: &str = "monitor >>> ";
/// Long-lived tasks kept for `where` and `cancel` to aim at.
const TARGETS: usize = 256;

struct Options {
    minutes: f64,
    rate: u64,
    sessions: usize,
    report_every: Duration,
}

fn options() -> Options {
    let mut options = Options {
        minutes: 10.0,
        rate: 10_000,
        sessions: 4,
        report_every: Duration::from_secs(30),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--minutes" => options.minutes = value().parse().expect("--minutes: a number"),
            "--rate" => options.rate = value().parse().expect("--rate: spawns per second"),
            "--sessions" => options.sessions = value().parse().expect("--sessions: a count"),
            "--report-secs" => {
                options.report_every =
                    Duration::from_secs(value().parse().expect("--report-secs: seconds"));
            }
            other => panic!(
                "unknown argument {other:?}; accepted: --minutes M --rate N --sessions S \
                 --report-secs T"
            ),
        }
    }
    options
}

/// Answer times of one command over an interval, in microseconds.
#[derive(Default)]
struct Times(Vec<u64>);

impl Times {
    fn summary(&mut self) -> String {
        if self.0.is_empty() {
            return "-".to_owned();
        }
        self.0.sort_unstable();
        let at = |q: f64| self.0[((self.0.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        format!(
            "n={} p50={:.1}ms p99={:.1}ms max={:.1}ms",
            self.0.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        )
    }
}

#[derive(Default)]
struct Answers {
    ps: Times,
    where_: Times,
    cancel: Times,
    connect: Times,
    failures: u64,
}

/// Counts a live long-lived task; the count drops when its future does
/// (it ends or is cancelled).
struct LongLived(Arc<AtomicUsize>);

impl LongLived {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(count))
    }
}

impl Drop for LongLived {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One of the live long-lived tasks, a different one each round.
fn pick_target(round: usize) -> Option<TaskId> {
    let mut ids = Vec::new();
    TaskRegistry::global().for_each_live(&mut |task| {
        if task
            .name
            .as_deref()
            .is_some_and(|name| name.starts_with("long-"))
        {
            ids.push(task.id);
        }
    });
    (!ids.is_empty()).then(|| ids[round % ids.len()])
}

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    // SAFETY: `sysconf` only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    pages * page / (1024.0 * 1024.0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// A console client that reads until the prompt.
struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut client = Self {
            stream,
            pending: Vec::new(),
        };
        client.until_prompt()?;
        Ok(client)
    }

    fn until_prompt(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(at) = self
                .pending
                .windows(PROMPT.len())
                .position(|w| w == PROMPT.as_bytes())
            {
                let text = String::from_utf8_lossy(&self.pending[..at]).into_owned();
                self.pending.drain(..at + PROMPT.len());
                return Ok(text);
            }
            let mut buf = [0u8; 64 * 1024];
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    fn cmd(&mut self, line: &str) -> std::io::Result<(u64, String)> {
        let started = Instant::now();
        self.stream.write_all(format!("{line}\r\n").as_bytes())?;
        let reply = self.until_prompt()?;
        Ok((started.elapsed().as_micros() as u64, reply))
    }
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let monitor = monitor_tokio::monitor_builder(runtime.handle().clone())
        .port(0)
        .start()
        .expect("the monitor starts");
    let addr = monitor.tcp_addr().expect("TCP is on");
    let spawned = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let long_lived = Arc::new(AtomicUsize::new(0));

    // The application: short tasks at the requested rate, in batches every
    // 10 ms, and a pool of long-lived ones that `cancel` thins out.
    {
        let spawned = Arc::clone(&spawned);
        let stop = Arc::clone(&stop);
        let long_lived = Arc::clone(&long_lived);
        let rate = options.rate;
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let started = Instant::now();
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let due = started.elapsed().as_millis() as u64 * rate / 1000;
                while n < due {
                    n += 1;
                    let life = Duration::from_micros(n % 200 * 500);
                    drop(
                        monitor_tokio::task()
                            .name(format!("short-{n}"))
                            .spawn(tokio::time::sleep(life)),
                    );
                }
                spawned.store(n, Ordering::Relaxed);
                while long_lived.load(Ordering::Relaxed) < TARGETS {
                    let alive = LongLived::new(&long_lived);
                    drop(
                        monitor_tokio::task()
                            .name(format!("long-{n}"))
                            .spawn(async move {
                                let _alive = alive;
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                            }),
                    );
                }
            }
        });
    }

    // The operators: sessions that connect, look, cancel and leave.
    let answers = Arc::new(Mutex::new(Answers::default()));
    let sessions: Vec<_> = (0..options.sessions)
        .map(|s| {
            let answers = Arc::clone(&answers);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut round = s;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    let started = Instant::now();
                    let Ok(mut client) = Client::connect(addr) else {
                        answers.lock().unwrap().failures += 1;
                        continue;
                    };
                    let connected = started.elapsed().as_micros() as u64;
                    let target = pick_target(round);
                    let ps = client.cmd("ps");
                    let looked = target.map(|id| client.cmd(&format!("where {id}")));
                    let cancelled = target.map(|id| client.cmd(&format!("cancel {id}")));
                    let _ = client.cmd("exit");
                    let mut answers = answers.lock().unwrap();
                    answers.connect.0.push(connected);
                    match ps {
                        Ok((us, _)) => answers.ps.0.push(us),
                        Err(_) => answers.failures += 1,
                    }
                    match looked {
                        Some(Ok((us, _))) => answers.where_.0.push(us),
                        Some(Err(_)) => answers.failures += 1,
                        None => {}
                    }
                    match cancelled {
                        Some(Ok((us, _))) => answers.cancel.0.push(us),
                        Some(Err(_)) => answers.failures += 1,
                        None => {}
                    }
                }
            })
        })
        .collect();

    let started = Instant::now();
    let total = Duration::from_secs_f64(options.minutes * 60.0);
    let mut last_spawned = 0;
    let mut last_report = started;
    let mut reports = Vec::new();
    println!(
        "soak: {} min, {} spawns/s requested, {} churned sessions, monitor on {addr}",
        options.minutes, options.rate, options.sessions
    );
    while started.elapsed() < total {
        thread::sleep(
            options
                .report_every
                .min(total.saturating_sub(started.elapsed())),
        );
        let now = Instant::now();
        let spawned_now = spawned.load(Ordering::Relaxed);
        let rate =
            (spawned_now - last_spawned) as f64 / now.duration_since(last_report).as_secs_f64();
        last_spawned = spawned_now;
        last_report = now;
        let live = TaskRegistry::global().live_count();
        let mut window = std::mem::take(&mut *answers.lock().unwrap());
        let line = format!(
            "t={:>4.0}s spawned={spawned_now} rate={rate:.0}/s live={live} rss={:.1}MiB fds={} \
             | connect {} | ps {} | where {} | cancel {} | failures {}",
            started.elapsed().as_secs_f64(),
            rss_mib(),
            open_fds(),
            window.connect.summary(),
            window.ps.summary(),
            window.where_.summary(),
            window.cancel.summary(),
            window.failures,
        );
        println!("{line}");
        reports.push(line);
    }
    stop.store(true, Ordering::Relaxed);
    for session in sessions {
        let _ = session.join();
    }
    drop(monitor);
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let (Some(first), Some(last)) = (reports.first(), reports.last()) {
        println!("\nfirst interval: {first}\nlast interval:  {last}");
    }
}
