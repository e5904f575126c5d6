//! The console under load: `ps --json` over many live tasks, and `ps` while
//! every worker of the application's runtime is blocked.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc, Barrier,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use demo_support::client::ConsoleClient;
use monitor_core::{TaskIntrospect, TaskRegistry, TaskSnapshot, dispatch::DEFAULT_PROMPT};
use monitor_server::{Monitor, MonitorBuilder};
use serde::{Deserialize, Serialize};

use crate::{
    ALLOC,
    summary::median,
    systems::{System, Tokio, TokioKind, WORKERS, tokio_runtime},
    workloads::wait_until,
};

/// `ps --json` (or the `ps` table) over `tasks` live tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ScaleResult {
    /// The console command measured: `ps --json`, or `ps` (the table,
    /// streamed the same way since issue 15 #5).
    #[serde(default = "ps_json")]
    pub(crate) command: String,
    pub(crate) tasks: usize,
    pub(crate) repetitions: usize,
    /// From sending the command to the first byte of the reply, over
    /// loopback. The server builds the whole reply before writing any of
    /// it, so this is the server's time to answer plus one round trip.
    pub(crate) ps_json_first_byte_ms: f64,
    /// From sending the command to the prompt after the reply.
    pub(crate) ps_json_total_ms: f64,
    /// What `ps --json` does (collect snapshots, sort, serialize) called
    /// directly in this process, with no session, dispatcher or socket.
    pub(crate) in_process_ms: f64,
    pub(crate) reply_bytes: usize,
    /// Highest heap growth of the whole process while the command ran (the
    /// application is idle meanwhile, and the client discards what it
    /// reads, so this is the monitor's).
    pub(crate) peak_growth_bytes: i64,
    pub(crate) peak_growth_bytes_per_task: f64,
    /// Heap growth still there once the reply has been read: what the
    /// command leaves behind (0 means its memory is all transient).
    pub(crate) retained_bytes: i64,
    /// Heap per live tracked task before the command (runtime + tracking).
    pub(crate) live_bytes_per_task: f64,
}

/// `ps` over a console session with the runtime free, and with every
/// worker blocked inside a poll. The `ps*_ms` figures are whole replies
/// over loopback read by a streaming reader; the `console_client_*` ones
/// are the same command through `demo_support::client::ConsoleClient`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WedgedResult {
    pub(crate) idle_tasks: usize,
    pub(crate) blocked_workers: usize,
    pub(crate) repetitions: usize,
    pub(crate) ps_free_ms: f64,
    pub(crate) ps_wedged_ms: f64,
    pub(crate) ps_json_wedged_ms: f64,
    pub(crate) console_client_ps_free_ms: f64,
    pub(crate) console_client_ps_wedged_ms: f64,
    /// Whether `ps` showed every blocked task as `running`.
    pub(crate) blocked_tasks_shown_running: bool,
}

/// Spawns `tasks` tracked tasks that are polled once and then wait
/// forever, on their own runtime, and starts a monitor over them.
fn populated(tasks: usize) -> (Arc<tokio::runtime::Runtime>, Arc<TaskRegistry>, Monitor) {
    let runtime = tokio_runtime();
    let registry = TaskRegistry::new();
    let system = Arc::new(Tokio::new(&runtime, TokioKind::Tracked(registry.clone())));
    let spawner = Arc::clone(&system);
    let polled = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&polled);
    system.run(async move {
        for _ in 0..tasks {
            let seen = Arc::clone(&seen);
            // The handle is dropped: the task is stopped with its runtime.
            drop(spawner.spawn(async move {
                seen.fetch_add(1, Ordering::Relaxed);
                std::future::pending::<()>().await;
            }));
        }
    });
    wait_until(|| polled.load(Ordering::Relaxed) == tasks);
    let monitor = MonitorBuilder::new(registry.clone())
        .port(0)
        .start()
        .expect("monitor starts");
    (runtime, registry, monitor)
}

fn ps_json() -> String {
    "ps --json".to_owned()
}

/// `command` over `tasks` live tasks. With `flag_every_task`, the
/// `large-future` threshold is lowered to one byte first, so every task's
/// site fires it and every row is marked `!LF` (`lints` in JSON): the
/// worst case of the per-row lint check.
pub(crate) fn scale(
    tasks: usize,
    repetitions: usize,
    command: &str,
    flag_every_task: bool,
) -> ScaleResult {
    let counting = ALLOC.counting();
    let before_tasks = ALLOC.live();
    let (runtime, registry, monitor) = populated(tasks);
    let live_bytes_per_task = (ALLOC.live() - before_tasks) as f64 / tasks as f64;
    drop(counting);
    if flag_every_task {
        let mut thresholds = registry.sites().thresholds();
        thresholds.large_future = 1;
        registry.sites().set_thresholds(thresholds);
        let check = monitor_core::TaskLints::new(&*registry);
        let mut flagged = 0;
        registry.for_each_live(&mut |task| flagged += usize::from(!check.of(&task).is_empty()));
        assert_eq!(flagged, tasks, "every task is flagged");
    }

    let addr = monitor.tcp_addr().expect("monitor listens on TCP");
    let mut console = StreamingConsole::connect(addr).expect("console connects");

    let mut first_byte = Vec::new();
    let mut total = Vec::new();
    let mut in_process = Vec::new();
    let mut peak_growth = 0i64;
    let mut retained = 0i64;
    let mut reply_bytes = 0;
    for _ in 0..repetitions {
        let counting = ALLOC.counting();
        ALLOC.reset_peak();
        let before = ALLOC.live();
        let reply = console.command(command).expect("ps answers");
        peak_growth = peak_growth.max((ALLOC.peak() - before) as i64);
        // The monitor frees the reply after sending the prompt we just read.
        std::thread::sleep(Duration::from_millis(50));
        retained = retained.max((ALLOC.live() - before) as i64);
        drop(counting);
        first_byte.push(ms(reply.first_byte));
        total.push(ms(reply.total));
        reply_bytes = reply.bytes;

        let start = Instant::now();
        let json = ps_json_in_process(&registry);
        in_process.push(ms(start.elapsed()));
        assert!(json.len() > tasks, "every task serialized");
    }
    drop(console);
    drop(monitor);
    drop(runtime);
    ScaleResult {
        command: if flag_every_task {
            format!("{command}, every row flagged")
        } else {
            command.to_owned()
        },
        tasks,
        repetitions,
        ps_json_first_byte_ms: median(&first_byte),
        ps_json_total_ms: median(&total),
        in_process_ms: median(&in_process),
        reply_bytes,
        peak_growth_bytes: peak_growth,
        peak_growth_bytes_per_task: peak_growth as f64 / tasks as f64,
        retained_bytes: retained,
        live_bytes_per_task,
    }
}

/// The work of `ps --json` without the console around it.
fn ps_json_in_process(registry: &TaskRegistry) -> String {
    let mut tasks: Vec<TaskSnapshot> = Vec::new();
    registry.for_each_live(&mut |task| tasks.push(task));
    tasks.sort_by_key(|task| task.id);
    serde_json::to_string(&tasks).expect("snapshots serialize")
}

pub(crate) fn wedged(idle_tasks: usize, repetitions: usize) -> WedgedResult {
    let (runtime, registry, monitor) = populated(idle_tasks);
    let addr = monitor.tcp_addr().expect("monitor listens on TCP");
    let mut client = ConsoleClient::connect(addr).expect("console connects");
    let mut streaming = StreamingConsole::connect(addr).expect("console connects");
    let mut rounds = |into: &mut Timings| {
        for _ in 0..repetitions {
            let reply = streaming.command("ps").expect("ps answers");
            into.ps.push(ms(reply.total));
            let reply = streaming.command("ps --json").expect("ps --json answers");
            into.ps_json.push(ms(reply.total));
            let start = Instant::now();
            let text = client.command("ps").expect("ps answers");
            into.client_ps.push(ms(start.elapsed()));
            into.last_ps = text;
        }
    };

    let mut free = Timings::default();
    rounds(&mut free);

    // Every worker enters a tracked task's poll and blocks there until its
    // sender is dropped; the barrier tells us they all have.
    let barrier = Arc::new(Barrier::new(WORKERS + 1));
    let system = Tokio::new(&runtime, TokioKind::Tracked(registry.clone()));
    let mut releases = Vec::new();
    for _ in 0..WORKERS {
        let (release, blocked) = mpsc::channel::<()>();
        let barrier = Arc::clone(&barrier);
        drop(system.spawn(async move {
            barrier.wait();
            let _ = blocked.recv();
        }));
        releases.push(release);
    }
    barrier.wait();
    let mut wedged = Timings::default();
    rounds(&mut wedged);
    drop(releases);

    // The header line says "N tasks running"; each blocked task adds a row
    // in state `running`.
    let running_rows = wedged
        .last_ps
        .lines()
        .skip(1)
        .filter(|line| line.contains("running"))
        .count();
    drop((client, streaming, monitor, runtime));
    WedgedResult {
        idle_tasks,
        blocked_workers: WORKERS,
        repetitions,
        ps_free_ms: median(&free.ps),
        ps_wedged_ms: median(&wedged.ps),
        ps_json_wedged_ms: median(&wedged.ps_json),
        console_client_ps_free_ms: median(&free.client_ps),
        console_client_ps_wedged_ms: median(&wedged.client_ps),
        blocked_tasks_shown_running: running_rows == WORKERS,
    }
}

#[derive(Debug, Default)]
struct Timings {
    ps: Vec<f64>,
    ps_json: Vec<f64>,
    client_ps: Vec<f64>,
    last_ps: String,
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// One timed reply.
#[derive(Debug)]
struct Reply {
    first_byte: Duration,
    total: Duration,
    bytes: usize,
}

/// A console client that times replies and throws their bytes away.
///
/// `ConsoleClient` keeps the whole reply and searches all of it for the
/// prompt after every read, which is quadratic in the reply's size: over a
/// reply of tens of megabytes the client, not the monitor, would be what
/// is measured (and it would count its buffer as the monitor's memory).
#[derive(Debug)]
struct StreamingConsole {
    stream: TcpStream,
    buf: Box<[u8]>,
    tail: Vec<u8>,
}

impl StreamingConsole {
    fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut console = Self {
            stream,
            buf: vec![0; 1 << 16].into_boxed_slice(),
            tail: Vec::with_capacity(2 * DEFAULT_PROMPT.len()),
        };
        console.read_reply(Instant::now())?;
        Ok(console)
    }

    fn command(&mut self, line: &str) -> io::Result<Reply> {
        self.stream.write_all(format!("{line}\r\n").as_bytes())?;
        self.read_reply(Instant::now())
    }

    /// Reads up to and including the next prompt. The prompt is the last
    /// thing the server sends before it waits for input, so a read that
    /// ends with it ends the reply.
    fn read_reply(&mut self, sent: Instant) -> io::Result<Reply> {
        let prompt = DEFAULT_PROMPT.as_bytes();
        let mut first_byte = None;
        let mut bytes = 0;
        self.tail.clear();
        loop {
            let n = self.stream.read(&mut self.buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            first_byte.get_or_insert_with(|| sent.elapsed());
            bytes += n;
            self.tail
                .extend_from_slice(&self.buf[n.saturating_sub(prompt.len())..n]);
            let keep = self.tail.len().saturating_sub(prompt.len());
            self.tail.drain(..keep);
            if self.tail == prompt {
                return Ok(Reply {
                    first_byte: first_byte.unwrap_or_default(),
                    total: sent.elapsed(),
                    bytes: bytes - prompt.len(),
                });
            }
        }
    }
}
