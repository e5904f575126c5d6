//! What the three adapter demos (`cargo run -p monitor-tokio --example
//! demo`, `-p monitor-smol --example smol-demo`, `-p monitor-async-std
//! --example async-std-demo`) share:
//! command-line options, the console namespace they expose, and the
//! scripted `--tour` that connects to the demo's own monitor like a user
//! would, the blocking [`client::ConsoleClient`] the tour, the benchmarks
//! and tests drive a console with, and the report archiver, a
//! runtime-agnostic task whose marked functions give `where` a real await
//! stack. The applications themselves
//! are written per runtime.
#![deny(missing_docs)]

pub mod client;

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use client::ConsoleClient;
use monitor_core::{dispatch::Arg, framed};
use monitor_server::{Monitor, MonitorBuilder, MonitorError, console::Namespace};

/// The reporter's end of the report channel.
#[derive(Debug, Clone)]
pub struct ReportSender(async_channel::Sender<u64>);

/// The archiver's end of the report channel.
#[derive(Debug)]
pub struct ReportReceiver(async_channel::Receiver<u64>);

/// A channel from the demo's reporter task to its report archiver.
pub fn report_channel() -> (ReportSender, ReportReceiver) {
    let (sender, receiver) = async_channel::bounded(16);
    (ReportSender(sender), ReportReceiver(receiver))
}

impl ReportSender {
    /// Hands a report to the archiver; drops it if the archiver is 16
    /// reports behind (a demo must not grow without bound).
    pub fn send(&self, report: u64) {
        let _ = self.0.try_send(report);
    }
}

/// The report archiver's body: keeps every report the reporter sends until
/// the reporter goes away. Marked with `#[frame]`, as is the call it spends
/// its life in, so `where` on the archiver shows a three-frame await stack
/// on every runtime.
#[monitor_core::frame]
pub async fn archive_reports(reports: ReportReceiver) -> u64 {
    let mut archived = 0;
    while let Some(report) = next_report(&reports).await {
        archived += report.min(1);
    }
    archived
}

#[monitor_core::frame]
async fn next_report(reports: &ReportReceiver) -> Option<u64> {
    framed("reports.recv()", reports.0.recv()).await.ok()
}

/// The demo's command-line options.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The monitor's port (`--port N`); unset, it comes from `MONITOR_PORT`
    /// or is 50101 (the tour uses any free port unless one is given).
    pub port: Option<u16>,
    /// The web UI's port (`--http-port N`); unset, it comes from
    /// `MONITOR_HTTP_PORT` or follows the monitor's port (+2: 50103; any
    /// free port when the monitor's is 0).
    pub http_port: Option<u16>,
    /// `--tour`: run a scripted session against the monitor, print it, exit.
    pub tour: bool,
    /// `--tokio-console [ADDR]`: also serve tokio-console's API, at `ADDR`
    /// or the default (`TOKIO_CONSOLE_BIND`, else 127.0.0.1:6669). Only
    /// accepted when the demo is built with the `tokio-console` feature;
    /// always `None` otherwise.
    pub tokio_console: Option<Option<SocketAddr>>,
}

const USAGE: &str = "usage: demo [--port N] [--http-port N] [--tour] [--tokio-console [ADDR]]\n\
    --port N       the monitor's TCP port (default $MONITOR_PORT, else 50101; 0 = any free port)\n\
    --http-port N  the web UI's port (default $MONITOR_HTTP_PORT, else the monitor's + 2; 0 = any free port)\n\
    --tour    connect to the demo's own monitor, run a few commands, print the transcript and exit\n\
    --tokio-console [ADDR]  also serve tokio-console (default 127.0.0.1:6669; needs the\n\
    \x20         tokio-console feature: add --features tokio-console to this demo's cargo run)";

impl Options {
    /// Reads the options from the command line; prints usage and exits on
    /// `--help` or a bad argument.
    pub fn from_args() -> Self {
        match Self::parse(std::env::args().skip(1)) {
            Ok(Some(options)) => options,
            Ok(None) => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Err(message) => {
                eprintln!("demo: {message}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }

    /// Parses arguments; `Ok(None)` for `--help`.
    ///
    /// # Errors
    ///
    /// A message naming the bad argument and what is accepted.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Self>, String> {
        let mut port = None;
        let mut http_port = None;
        let mut tour = false;
        let mut tokio_console = None;
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--tour" => tour = true,
                "--tokio-console" if cfg!(feature = "tokio-console") => {
                    let addr = args.next_if(|next| !next.starts_with("--"));
                    tokio_console = Some(
                        addr.map(|addr| {
                            addr.parse::<SocketAddr>().map_err(|_| {
                                format!(
                                    "invalid --tokio-console address {addr:?} (expected \
                                     IP:PORT such as 127.0.0.1:6669)"
                                )
                            })
                        })
                        .transpose()?,
                    );
                }
                "--tokio-console" => {
                    return Err(
                        "--tokio-console needs the demo built with the tokio-console \
                                feature: add --features tokio-console to cargo run"
                            .into(),
                    );
                }
                "--port" => {
                    let value = args
                        .next()
                        .ok_or("--port needs a value, e.g. --port 50101")?;
                    port = Some(value.parse::<u16>().map_err(|_| {
                        format!("invalid port {value:?} (expected a number from 0 to 65535)")
                    })?);
                }
                "--http-port" => {
                    let value = args
                        .next()
                        .ok_or("--http-port needs a value, e.g. --http-port 50103")?;
                    http_port = Some(value.parse::<u16>().map_err(|_| {
                        format!("invalid HTTP port {value:?} (expected a number from 0 to 65535)")
                    })?);
                }
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Some(Self {
            port,
            http_port,
            tour,
            tokio_console,
        }))
    }

    /// Applies the options to the demo's monitor: `--port` and
    /// `--http-port` win over the environment (`MONITOR_PORT`, …), which the
    /// builder reads itself; the tour must work even when 50101 is taken,
    /// so without either it uses any free port (and the web UI follows).
    /// `--tokio-console` turns the bridge on.
    pub fn configure(&self, builder: MonitorBuilder) -> MonitorBuilder {
        let builder = match self.port {
            Some(port) => builder.port(port),
            None if self.tour && std::env::var_os("MONITOR_PORT").is_none() => builder.port(0),
            None => builder,
        };
        let builder = match self.http_port {
            Some(port) => builder.http_port(port),
            None => builder,
        };
        #[cfg(feature = "tokio-console")]
        if let Some(addr) = self.tokio_console {
            return builder.tokio_console(addr);
        }
        builder
    }
}

/// The demo application's shared state, exposed in the console.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Ticks counted by the ticker task.
    pub ticks: Arc<AtomicU64>,
    /// How long the ticker sleeps between ticks, in milliseconds; tunable
    /// from the console.
    pub delay_ms: Arc<RwLock<u64>>,
}

impl AppState {
    /// A fresh state: no ticks, a 250 ms delay.
    pub fn new() -> Self {
        Self {
            ticks: Arc::new(AtomicU64::new(0)),
            delay_ms: Arc::new(RwLock::new(250)),
        }
    }

    /// The ticker's current delay.
    pub fn delay(&self) -> Duration {
        Duration::from_millis(*self.delay_ms.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Counts one tick.
    pub fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// The console namespace: the tick counter, the delay tunable, and an
    /// action that spawns N short tasks through `spawn_short` (which the
    /// runtime-specific demo provides).
    pub fn namespace(&self, spawn_short: impl Fn(u64) + Send + Sync + 'static) -> Namespace {
        let spawn_short = Arc::new(spawn_short);
        Namespace::new()
            .tunable(
                "ticks",
                "ticks counted by the ticker task",
                Arc::clone(&self.ticks),
            )
            .tunable(
                "delay_ms",
                "the ticker's delay between ticks, in milliseconds",
                Arc::clone(&self.delay_ms),
            )
            .value("pid", "this process's id", std::process::id)
            .action(
                "spawn_short",
                "spawn N short-lived tasks (1 to 1000)",
                [Arg::int("N").help("how many tasks")],
                move |args| {
                    let n: i64 = args.get("N").unwrap_or(0);
                    let spawn_short = Arc::clone(&spawn_short);
                    async move {
                        if !(1..=1000).contains(&n) {
                            return Err(format!("N must be between 1 and 1000, not {n}").into());
                        }
                        spawn_short(n as u64);
                        Ok(format!(
                            "spawned {n} short tasks; see them with ps-terminated"
                        ))
                    }
                },
            )
    }
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}

/// What every demo does once its app runs: report a monitor that could not
/// start (exit 1), print how to connect, then run the tour (`--tour`,
/// printing its transcript; exit 1 if it fails) and return, or keep serving
/// until the process is stopped.
///
/// Blocks the calling thread: call it from a plain thread (tokio's demo
/// calls it inside `spawn_blocking`).
pub fn serve(
    runtime: &str,
    monitor: Result<Monitor, MonitorError>,
    echo: SocketAddr,
    options: Options,
) {
    let monitor = monitor.unwrap_or_else(|err| {
        eprintln!("demo: could not start the monitor: {err}");
        std::process::exit(1);
    });
    println!("Demo app on {runtime} is running.");
    if monitor.is_closed() {
        println!("Monitor: off (MONITOR=off)");
        if options.tour {
            eprintln!("demo: the tour needs the monitor; unset MONITOR=off");
            std::process::exit(1);
        }
    }
    if let Some(addr) = monitor.tcp_addr() {
        println!(
            "Monitor: nc {} {}   (or: telnet {0} {1}, monitor-cli --port {1})",
            addr.ip(),
            addr.port()
        );
    }
    if let Some(addr) = monitor.console_addr() {
        println!("Console: nc {} {}", addr.ip(), addr.port());
    }
    #[cfg(feature = "tokio-console")]
    if let Some(addr) = monitor.tokio_console_addr() {
        println!("tokio-console: tokio-console http://{addr}");
    }
    if let Some(addr) = monitor.http_addr() {
        println!("Web UI: http://{addr}/   (JSON: /api/tasks, Prometheus: /metrics)");
    }
    println!("Echo server: nc {} {}", echo.ip(), echo.port());

    if options.tour {
        let addr = monitor
            .tcp_addr()
            .expect("the demo's monitor listens on TCP");
        match tour(addr) {
            Ok(transcript) => print!("{transcript}"),
            Err(err) => {
                eprintln!("demo: the tour failed: {err}");
                std::process::exit(1);
            }
        }
        return;
    }
    println!("Press Ctrl-C to stop.");
    // The runtime's own threads run the app; this thread only keeps the
    // monitor alive.
    loop {
        std::thread::park();
    }
}

/// Runs the scripted tour against the monitor at `addr` and returns its
/// transcript: `help`, `ps`, `where` on a child task, `cancel` on the task
/// waiting forever, `ps-terminated`, and a visit to the console.
///
/// # Errors
///
/// Connection and timeout errors.
pub fn tour(addr: SocketAddr) -> io::Result<String> {
    // Let the app run a little, so the reporter's children come and go.
    std::thread::sleep(Duration::from_millis(700));
    let mut console = ConsoleClient::connect(addr)?;
    let mut transcript = format!("\n$ nc {} {}\n{}", addr.ip(), addr.port(), console.intro());
    let mut prompt = "monitor >>> ";
    let mut run = |console: &mut ConsoleClient, prompt: &str, line: &str| -> io::Result<String> {
        let reply = console.command(line)?;
        transcript.push_str(&format!("{prompt}{line}\n{reply}"));
        Ok(reply)
    };
    run(&mut console, prompt, "help")?;
    let ps = run(&mut console, prompt, "ps")?;
    let id_of = |name: &str| -> Option<String> {
        ps.lines()
            .find(|line| line.contains(name))
            .and_then(|line| {
                line.split(|c: char| !c.is_ascii_digit())
                    .find(|word| !word.is_empty())
            })
            .map(str::to_owned)
    };
    if let Some(archiver) = id_of("report-archiver") {
        run(&mut console, prompt, &format!("where {archiver}"))?;
    }
    if let Some(victim) = id_of("cancel me") {
        run(&mut console, prompt, &format!("cancel {victim}"))?;
    }
    run(&mut console, prompt, "ps-terminated -f cancel")?;
    if run(&mut console, prompt, "help stats")?.contains("stats") {
        run(&mut console, prompt, "stats")?;
    }
    // The console answers with its own prompt.
    console.set_prompt("console >>> ");
    run(&mut console, prompt, "console")?;
    prompt = "console >>> ";
    run(&mut console, prompt, "ls")?;
    run(&mut console, prompt, "set delay_ms 100")?;
    run(&mut console, prompt, "call spawn_short 3")?;
    run(&mut console, prompt, "ticks")?;
    console.set_prompt("monitor >>> ");
    run(&mut console, prompt, "exit")?;
    run(&mut console, "monitor >>> ", "exit")?;
    Ok(transcript)
}

#[cfg(test)]
mod tests {
    use super::Options;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_parse_and_explain_mistakes() {
        let o = parse(&[]).unwrap().unwrap();
        assert_eq!((o.port, o.http_port, o.tour), (None, None, false));
        let o = parse(&["--tour"]).unwrap().unwrap();
        assert_eq!((o.port, o.tour), (None, true));
        let o = parse(&["--http-port", "8080"]).unwrap().unwrap();
        assert_eq!((o.port, o.http_port), (None, Some(8080)));
        assert!(
            parse(&["--http-port", "web"])
                .unwrap_err()
                .contains("HTTP port")
        );
        let o = parse(&["--port", "9000", "--tour"]).unwrap().unwrap();
        assert_eq!(o.port, Some(9000));
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--port"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--port", "x"]).unwrap_err().contains("0 to 65535"));
        assert!(parse(&["--verbose"]).unwrap_err().contains("--verbose"));
    }

    #[cfg(feature = "tokio-console")]
    #[test]
    fn tokio_console_takes_an_optional_address() {
        assert_eq!(parse(&[]).unwrap().unwrap().tokio_console, None);
        let o = parse(&["--tokio-console", "--tour"]).unwrap().unwrap();
        assert_eq!((o.tokio_console, o.tour), (Some(None), true));
        let o = parse(&["--tokio-console", "127.0.0.1:7000"])
            .unwrap()
            .unwrap();
        assert_eq!(
            o.tokio_console,
            Some(Some("127.0.0.1:7000".parse().unwrap()))
        );
        let err = parse(&["--tokio-console", "nowhere"]).unwrap_err();
        assert!(
            err.contains("\"nowhere\"") && err.contains("IP:PORT"),
            "{err}"
        );
    }

    #[cfg(not(feature = "tokio-console"))]
    #[test]
    fn tokio_console_without_the_feature_says_how_to_get_it() {
        let err = parse(&["--tokio-console"]).unwrap_err();
        assert!(err.contains("--features tokio-console"), "{err}");
    }
}
