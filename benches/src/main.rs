//! Overhead benchmarks of the monitor, side by side with the bare runtimes
//! and with other task instrumentation, in one process run.
//!
//! ```text
//! cargo run --release -p benches -- [--quick] [--update-docs]
//! ```
//!
//! Prints Markdown tables and writes `target/bench-summary.json` (and
//! `target/performance.svg`; with `--update-docs` also
//! `docs/performance.svg`). See docs/PERFORMANCE.md for what each workload
//! does and how to read the figures. This is a program, not a test: timing
//! assertions have no place in `cargo test`.

mod alloc;
mod chart;
mod clock;
#[cfg(feature = "console")]
mod console;
mod frames;
mod instructions;
mod scale;
mod summary;
mod systems;
mod workloads;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Instant,
};

use monitor_core::TaskRegistry;

use crate::{
    alloc::CountingAlloc,
    summary::{ConsoleStatus, Samples, Sizes, Summary, SystemSummary, Target},
    systems::{AsyncStd, Label, Smol, SmolRuntime, System, Tokio, TokioKind, WORKERS},
    workloads::Cost,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// One system behind an object-safe face, so runs can alternate over a list.
trait Bench {
    fn label(&self) -> Label;
    fn poll_heavy(&self, sizes: &Sizes) -> Cost;
    fn spawn_heavy(&self, sizes: &Sizes) -> Cost;
    fn requests(&self, sizes: &Sizes) -> Cost;
    fn idle_memory(&self, sizes: &Sizes) -> f64;
}

struct Entry<S: System, M: Fn() -> S> {
    system: Arc<S>,
    /// Builds a fresh instance for the memory workload.
    make: M,
}

impl<S: System, M: Fn() -> S> Bench for Entry<S, M> {
    fn label(&self) -> Label {
        self.system.label()
    }
    fn poll_heavy(&self, sizes: &Sizes) -> Cost {
        workloads::poll_heavy(&self.system, sizes.poll_tasks, sizes.poll_yields)
    }
    fn spawn_heavy(&self, sizes: &Sizes) -> Cost {
        workloads::spawn_heavy(&self.system, sizes.spawn_tasks)
    }
    fn requests(&self, sizes: &Sizes) -> Cost {
        workloads::requests(&self.system, sizes.requests, sizes.requests_in_flight)
    }
    fn idle_memory(&self, sizes: &Sizes) -> f64 {
        workloads::idle_memory(&self.make, sizes.memory_tasks)
    }
}

fn entry<S: System, M: Fn() -> S + 'static>(make: M) -> Box<dyn Bench> {
    Box::new(Entry {
        system: Arc::new(make()),
        make,
    })
}

#[derive(Debug, Default)]
struct Options {
    quick: bool,
    update_docs: bool,
    console_only: bool,
    console_bin: Option<PathBuf>,
    /// Workloads to run (`poll`, `spawn`, `requests`, `memory`, `scale`,
    /// `wedged`, `clock`, `frames`, `console`); all when empty. For investigating one figure; the
    /// summary of such a run is incomplete.
    only: Vec<String>,
    /// Only the systems whose `runtime/system` label is listed.
    systems: Vec<String>,
    /// One round of each chosen workload, no warm-up, no repetitions: for
    /// running under `valgrind --tool=callgrind`, where instruction counts
    /// do not vary between runs.
    once: bool,
    /// Also count instructions per poll and spawn under callgrind.
    instructions: bool,
    /// Only redraw the chart from a summary written earlier.
    chart_from: Option<PathBuf>,
}

impl Options {
    fn runs(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| w == workload)
    }
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--update-docs" => options.update_docs = true,
            "--console-only" => options.console_only = true,
            "--console-bin" => {
                options.console_bin = Some(args.next().ok_or("--console-bin needs a path")?.into())
            }
            "--only" => {
                let list = args.next().ok_or("--only needs a list, e.g. poll,memory")?;
                options.only = list.split(',').map(str::to_owned).collect();
            }
            "--system" => {
                let list = args
                    .next()
                    .ok_or("--system needs a list, e.g. tokio/bare")?;
                options.systems = list.split(',').map(str::to_owned).collect();
            }
            "--once" => options.once = true,
            "--instructions" => options.instructions = true,
            "--chart-from" => {
                options.chart_from = Some(args.next().ok_or("--chart-from needs a path")?.into())
            }
            "-h" | "--help" => {
                return Err(
                    "usage: benches [--quick] [--update-docs] [--console-bin PATH] \
                     [--only poll,spawn,requests,memory,scale,wedged,clock,frames,console] \
                     [--system tokio/bare,tokio/tracked,...] [--once] [--instructions] \
                     [--chart-from SUMMARY.json]\n\
                     (--console-only is what the harness passes to the console build)"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    // Timed runs report every system as a ratio to its runtime's bare one.
    if !options.once {
        for system in &options.systems {
            let runtime = system.split('/').next().unwrap_or_default();
            let bare = format!("{runtime}/{}", systems::BARE);
            if !options.systems.contains(&bare) {
                return Err(format!(
                    "--system lists {system} without {bare}: timed runs report ratios to \
                     the bare runtime, so add {bare} (or pass --once for an untimed round)"
                ));
            }
        }
    }
    Ok(options)
}

/// The workspace directory, whatever `CARGO_TARGET_DIR` says.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ sits in the workspace")
        .to_path_buf()
}

fn sizes(quick: bool) -> Sizes {
    Sizes {
        poll_tasks: 1_000,
        poll_yields: 1_000,
        spawn_tasks: 200_000,
        memory_tasks: 100_000,
        repetitions: if quick { 5 } else { 15 },
        memory_repetitions: 3,
        workers: WORKERS,
        requests: 20_000,
        requests_in_flight: 1_024,
    }
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::var_os("ASYNC_STD_THREAD_COUNT").is_none() {
        // SAFETY: no other thread exists yet that could read the
        // environment concurrently.
        unsafe { std::env::set_var("ASYNC_STD_THREAD_COUNT", WORKERS.to_string()) };
    }
    if let Some(path) = &options.chart_from {
        return redraw(path, &options);
    }
    let sizes = sizes(options.quick);
    if options.console_only {
        return console_only(&sizes);
    }
    let started = Instant::now();

    let tokio_rt = systems::tokio_runtime();
    let smol_rt = SmolRuntime::new();
    let benches: Vec<Box<dyn Bench>> = vec![
        entry({
            let rt = tokio_rt.clone();
            move || Tokio::new(&rt, TokioKind::Bare)
        }),
        entry({
            let rt = tokio_rt.clone();
            move || Tokio::new(&rt, TokioKind::Tracked(TaskRegistry::new()))
        }),
        entry({
            let rt = tokio_rt.clone();
            move || {
                let registry = TaskRegistry::builder().precise_timing(true).build();
                Tokio::new(&rt, TokioKind::TrackedPrecise(registry))
            }
        }),
        entry({
            let rt = tokio_rt.clone();
            move || Tokio::new(&rt, TokioKind::TrackedCore(TaskRegistry::new()))
        }),
        entry({
            let rt = tokio_rt.clone();
            move || Tokio::new(&rt, TokioKind::Backtrace)
        }),
        entry({
            let rt = tokio_rt.clone();
            move || Tokio::new(&rt, TokioKind::Metrics(tokio_metrics::TaskMonitor::new()))
        }),
        entry({
            let rt = smol_rt.clone();
            move || Smol {
                runtime: rt.clone(),
                registry: None,
            }
        }),
        entry({
            let rt = smol_rt.clone();
            move || Smol {
                runtime: rt.clone(),
                registry: Some(TaskRegistry::new()),
            }
        }),
        entry(|| AsyncStd { registry: None }),
        entry(|| AsyncStd {
            registry: Some(TaskRegistry::new()),
        }),
    ];

    let known: Vec<String> = benches.iter().map(|b| b.label().to_string()).collect();
    if let Some(unknown) = options.systems.iter().find(|s| !known.contains(s)) {
        eprintln!(
            "--system: no system {unknown:?} in this build; known: {}",
            known.join(", ")
        );
        return ExitCode::FAILURE;
    }
    let benches: Vec<Box<dyn Bench>> = benches
        .into_iter()
        .filter(|b| {
            let label = b.label().to_string();
            options.systems.is_empty() || options.systems.contains(&label)
        })
        .collect();
    if options.once {
        return once(&benches, &sizes, &options);
    }
    let samples = measure(&benches, &sizes, &options);
    drop(benches);
    let mut runtimes = summarize(&samples);

    let console = if options.runs("console") {
        run_console_binary(&options)
    } else {
        Err("not measured: left out with --only".to_owned())
    };
    let console_status = match console {
        Ok(systems) => {
            runtimes.insert("tokio-unstable".to_owned(), systems);
            ConsoleStatus {
                measured: true,
                note: format!(
                    "runtime `tokio-unstable`: built with --cfg tokio_unstable, ratios are to \
                     the bare tokio of that build, measured alternately in the same process; \
                     retention 1 s instead of 1 h, and {CONSOLE_SPAWN_TASKS} spawned / \
                     {CONSOLE_MEMORY_TASKS} idle tasks instead of the sizes above, because \
                     each task costs ~50 kB there"
                ),
            }
        }
        Err(note) => {
            eprintln!("console-subscriber: {note}");
            ConsoleStatus {
                measured: false,
                note,
            }
        }
    };

    // Await-stack frames: their own table, not part of the summary's
    // runtimes (the systems are call-chain markings, not spawn wrappers).
    let frames = options.runs("frames").then(|| {
        let results = frames::measure(if options.quick { 5 } else { 15 });
        let path = workspace().join("target").join("bench-frames.json");
        if let Err(err) = serde_json::to_vec_pretty(&results)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&path, json))
        {
            eprintln!("could not write {}: {err}", path.display());
        }
        frames::table(&results)
    });

    let mut scale = Vec::new();
    if options.runs("scale") {
        eprintln!("scale: ps --json and ps over live tasks ...");
        let repetitions = if options.quick { 3 } else { 5 };
        scale.push(scale::scale(100_000, repetitions, "ps --json", false));
        if !options.quick {
            scale.push(scale::scale(1_000_000, 3, "ps --json", false));
        }
        scale.push(scale::scale(100_000, repetitions, "ps", false));
        if !options.quick {
            scale.push(scale::scale(1_000_000, 3, "ps", false));
        }
        // The per-row lint check at its worst: every row marked.
        scale.push(scale::scale(100_000, repetitions, "ps --json", true));
        scale.push(scale::scale(100_000, repetitions, "ps", true));
    }
    let wedged = options.runs("wedged").then(|| {
        eprintln!("wedged: ps with every worker blocked ...");
        scale::wedged(1_000, if options.quick { 5 } else { 15 })
    });

    let clock = options.runs("clock").then(|| {
        eprintln!("clock: coarse ticker vs CLOCK_MONOTONIC_COARSE ...");
        clock::measure(options.quick)
    });

    let instructions = if options.instructions {
        instructions::count(&sizes).unwrap_or_else(|err| {
            eprintln!("instructions: {err}");
            BTreeMap::new()
        })
    } else {
        BTreeMap::new()
    };

    let mut summary = Summary {
        instructions,
        quick: options.quick,
        sizes,
        runtimes,
        console_subscriber: console_status,
        scale,
        wedged,
        clock,
        targets: Vec::new(),
    };
    summary.targets = targets(&summary);

    // A run left incomplete by --only or --system must not replace the
    // summary (or the chart) of a full run.
    let partial = !options.only.is_empty() || !options.systems.is_empty();
    let target_dir = workspace().join("target");
    let json_path = target_dir.join(if partial {
        "bench-summary-partial.json"
    } else {
        "bench-summary.json"
    });
    if let Err(err) = summary.write(&json_path) {
        eprintln!("could not write {}: {err}", json_path.display());
        return ExitCode::FAILURE;
    }
    let charts = if partial {
        Vec::new()
    } else {
        let Some(charts) = draw(&summary, &options) else {
            return ExitCode::FAILURE;
        };
        charts
    };

    println!("{}", summary.table());
    println!("{}", summary.instructions_table());
    println!("{}", scale_table(&summary));
    println!("{}", summary.clock_table());
    println!("{}", summary.targets_table());
    if let Some(frames) = &frames {
        println!("Await-stack frames (nested calls, tracked tasks, tokio):\n\n{frames}");
    }
    let written: Vec<String> = std::iter::once(&json_path)
        .chain(&charts)
        .map(|p| p.display().to_string())
        .collect();
    println!(
        "wrote {} in {:.0} s",
        written.join(", "),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// Draws the chart into target/ (and docs/ with `--update-docs`); returns
/// the paths written, or `None` after reporting a failure.
fn draw(summary: &Summary, options: &Options) -> Option<Vec<PathBuf>> {
    let mut charts = vec![workspace().join("target").join("performance.svg")];
    if options.update_docs {
        charts.push(workspace().join("docs").join("performance.svg"));
    }
    for path in &charts {
        if let Err(err) = chart::write(summary, path) {
            eprintln!("could not draw {}: {err}", path.display());
            return None;
        }
    }
    Some(charts)
}

fn redraw(path: &Path, options: &Options) -> ExitCode {
    let summary: Summary = match std::fs::read(path)
        .map_err(|err| err.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|err| err.to_string()))
    {
        Ok(summary) => summary,
        Err(err) => {
            eprintln!("could not read {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
    };
    match draw(&summary, options) {
        Some(_) => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}

/// One untimed round, for instruction counting.
fn once(benches: &[Box<dyn Bench>], sizes: &Sizes, options: &Options) -> ExitCode {
    for bench in benches {
        if options.runs("poll") {
            println!("{} poll: {:?}", bench.label(), bench.poll_heavy(sizes));
        }
        if options.runs("spawn") {
            println!("{} spawn: {:?}", bench.label(), bench.spawn_heavy(sizes));
        }
        if options.runs("requests") {
            println!("{} requests: {:?}", bench.label(), bench.requests(sizes));
        }
        if options.runs("memory") {
            println!(
                "{} memory: {:.1} B",
                bench.label(),
                bench.idle_memory(sizes)
            );
        }
    }
    ExitCode::SUCCESS
}

/// Runs every workload on every system, alternating systems within each
/// repetition (and rotating which goes first) so that a slow patch of the
/// machine hits all of them alike. One untimed warm-up round first.
fn measure(benches: &[Box<dyn Bench>], sizes: &Sizes, options: &Options) -> Vec<(Label, Samples)> {
    let mut samples: Vec<(Label, Samples)> = benches
        .iter()
        .map(|b| (b.label(), Samples::default()))
        .collect();
    let n = benches.len();
    let (poll, spawn, requests) = (
        options.runs("poll"),
        options.runs("spawn"),
        options.runs("requests"),
    );
    if poll || spawn || requests {
        eprintln!("warming up ...");
        for bench in benches {
            bench.poll_heavy(sizes);
            bench.spawn_heavy(sizes);
            bench.requests(sizes);
        }
    }
    for rep in 0..sizes.repetitions {
        if !(poll || spawn || requests) {
            break;
        }
        eprintln!("repetition {}/{} ...", rep + 1, sizes.repetitions);
        for k in 0..n {
            let i = (k + rep) % n;
            if poll {
                samples[i].1.push_poll(benches[i].poll_heavy(sizes));
            }
        }
        for k in 0..n {
            let i = (k + rep) % n;
            if spawn {
                samples[i].1.push_spawn(benches[i].spawn_heavy(sizes));
            }
        }
        for k in 0..n {
            let i = (k + rep) % n;
            if requests {
                samples[i].1.push_request(benches[i].requests(sizes));
            }
        }
    }
    if options.runs("memory") {
        eprintln!("memory ...");
    }
    for rep in 0..sizes.memory_repetitions {
        if !options.runs("memory") {
            break;
        }
        for k in 0..n {
            let i = (k + rep) % n;
            samples[i].1.bytes.push(benches[i].idle_memory(sizes));
        }
    }
    samples
}

fn summarize(samples: &[(Label, Samples)]) -> BTreeMap<String, BTreeMap<String, SystemSummary>> {
    let mut runtimes: BTreeMap<String, BTreeMap<String, SystemSummary>> = BTreeMap::new();
    for (label, system) in samples {
        let bare = samples
            .iter()
            .find(|(l, _)| l.runtime == label.runtime && l.system == systems::BARE)
            .map(|(_, s)| s)
            .expect("every runtime has a bare system");
        runtimes
            .entry(label.runtime.to_owned())
            .or_default()
            .insert(label.system.to_owned(), SystemSummary::new(system, bare));
    }
    runtimes
}

/// The console-subscriber build, when present: runs it and reads its
/// systems from its standard output.
fn run_console_binary(options: &Options) -> Result<BTreeMap<String, SystemSummary>, String> {
    let bin = options.console_bin.clone().unwrap_or_else(|| {
        workspace()
            .join("target/unstable/release/benches")
            .with_extension(std::env::consts::EXE_EXTENSION)
    });
    if !bin.exists() {
        return Err(format!(
            "not measured: the tokio_unstable build {} does not exist; build it with \
             `RUSTFLAGS=\"--cfg tokio_unstable\" CARGO_TARGET_DIR=target/unstable cargo build \
             --release -p benches --features console` and run the harness again",
            bin.display()
        ));
    }
    eprintln!("console-subscriber: running {} ...", bin.display());
    let mut command = std::process::Command::new(&bin);
    command.arg("--console-only");
    if options.quick {
        command.arg("--quick");
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|err| format!("not measured: could not run {}: {err}", bin.display()))?;
    if !output.status.success() {
        return Err(format!(
            "not measured: {} failed ({})",
            bin.display(),
            output.status
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|err| {
        format!(
            "not measured: unreadable output from {}: {err}",
            bin.display()
        )
    })
}

/// console-subscriber keeps two HDR histograms (~50 kB) per task, so the
/// console build runs smaller spawn and memory workloads (bare tokio in that
/// build runs the same ones): 200 000 tasks at once would need ~10 GB.
const CONSOLE_SPAWN_TASKS: usize = 20_000;
const CONSOLE_MEMORY_TASKS: usize = 10_000;

#[cfg(feature = "console")]
fn console_only(sizes: &Sizes) -> ExitCode {
    if !cfg!(tokio_unstable) {
        eprintln!("console-subscriber needs RUSTFLAGS=\"--cfg tokio_unstable\"");
        return ExitCode::FAILURE;
    }
    let sizes = &Sizes {
        spawn_tasks: CONSOLE_SPAWN_TASKS,
        memory_tasks: CONSOLE_MEMORY_TASKS,
        ..sizes.clone()
    };
    let runtime = systems::tokio_runtime();
    let benches: Vec<Box<dyn Bench>> = vec![
        entry(move || Tokio::new(&runtime, TokioKind::Bare)),
        // One console runtime for all repetitions: its server thread and
        // aggregator are process-wide in an application too.
        Box::new(Entry {
            system: Arc::new(console::console_system()),
            make: console::console_system,
        }),
    ];
    let samples = measure(&benches, sizes, &Options::default());
    let systems = summarize(&samples).remove("tokio").unwrap_or_default();
    println!(
        "{}",
        serde_json::to_string(&systems).expect("summary serializes")
    );
    ExitCode::SUCCESS
}

#[cfg(not(feature = "console"))]
fn console_only(_sizes: &Sizes) -> ExitCode {
    eprintln!("this build has no console-subscriber: build with --features console");
    ExitCode::FAILURE
}

fn scale_table(summary: &Summary) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "| command | live tasks | first byte (ms) | whole reply (ms) | in-process ps --json (ms) | \
         reply | peak heap growth | per task | kept after |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in &summary.scale {
        let _ = writeln!(
            out,
            "| `{}` | {} | {:.1} | {:.1} | {:.1} | {:.1} MB | {:.1} MB | {:.0} B | {:.1} kB |",
            s.command,
            s.tasks,
            s.ps_json_first_byte_ms,
            s.ps_json_total_ms,
            s.in_process_ms,
            s.reply_bytes as f64 / 1e6,
            s.peak_growth_bytes as f64 / 1e6,
            s.peak_growth_bytes_per_task,
            s.retained_bytes as f64 / 1e3
        );
    }
    if let Some(w) = &summary.wedged {
        let _ = writeln!(
            out,
            "\n| {} idle + {} blocked tasks (ms) | runtime free | all {} workers blocked |\n\
             |---|---:|---:|\n\
             | `ps`, whole reply | {:.2} | {:.2} |\n\
             | `ps --json`, whole reply | - | {:.2} |\n\
             | `ps` through `ConsoleClient` | {:.2} | {:.2} |",
            w.idle_tasks,
            w.blocked_workers,
            w.blocked_workers,
            w.ps_free_ms,
            w.ps_wedged_ms,
            w.ps_json_wedged_ms,
            w.console_client_ps_free_ms,
            w.console_client_ps_wedged_ms,
        );
    }
    out
}

fn targets(summary: &Summary) -> Vec<Target> {
    let mut targets = Vec::new();
    for runtime in ["tokio", "smol", "async-std"] {
        let Some(tracked) = summary
            .runtimes
            .get(runtime)
            .and_then(|systems| systems.get(systems::TRACKED))
        else {
            continue;
        };
        targets.push(Target {
            what: format!("{runtime}: poll_ratio"),
            goal: "≤ 1.15".to_owned(),
            measured: format!("{:.2}", tracked.poll_ratio),
            met: tracked.poll_ratio <= 1.15,
        });
        targets.push(Target {
            what: format!("{runtime}: spawn_ratio"),
            goal: "≤ 1.25".to_owned(),
            measured: format!("{:.2}", tracked.spawn_ratio),
            met: tracked.spawn_ratio <= 1.25,
        });
        targets.push(Target {
            what: format!("{runtime}: request_ratio (realistic workload, end to end)"),
            goal: "≤ 1.05".to_owned(),
            measured: format!("{:.2}", tracked.request_ratio),
            met: tracked.request_ratio <= 1.05,
        });
        targets.push(Target {
            what: format!("{runtime}: memory per live task above bare"),
            goal: "≤ 256 B".to_owned(),
            measured: format!("{:.0} B", tracked.bytes_above_bare),
            met: tracked.bytes_above_bare <= 256.0,
        });
    }
    for s in &summary.scale {
        if s.tasks == 100_000 {
            targets.push(Target {
                what: format!(
                    "`{}` over 100 000 tasks, server side (first byte)",
                    s.command
                ),
                goal: "< 100 ms".to_owned(),
                measured: format!("{:.1} ms", s.ps_json_first_byte_ms),
                met: s.ps_json_first_byte_ms < 100.0,
            });
        }
    }
    // Bounded means the monitor's working memory for a command does not
    // grow with the number of tasks: a streamed reply would need a fixed
    // buffer, so anything past a generous 16 MB at a million tasks is
    // growth in proportion to the task count.
    for command in ["ps --json", "ps"] {
        let runs: Vec<_> = summary
            .scale
            .iter()
            .filter(|s| s.command == command)
            .collect();
        let [small, large, ..] = runs.as_slice() else {
            continue;
        };
        let per_task = large.peak_growth_bytes_per_task;
        targets.push(Target {
            what: format!(
                "`{command}` over {} tasks: monitor memory does not grow with the task count",
                large.tasks
            ),
            goal: "bounded".to_owned(),
            measured: format!(
                "peak +{:.0} MB ({per_task:.0} B/task; {:.0} B/task at {})",
                large.peak_growth_bytes as f64 / 1e6,
                small.peak_growth_bytes_per_task,
                small.tasks
            ),
            met: large.peak_growth_bytes < 16 << 20,
        });
    }
    if let Some(w) = &summary.wedged {
        targets.push(Target {
            what: "`ps` while every worker is blocked".to_owned(),
            goal: "< 50 ms".to_owned(),
            measured: format!("{:.2} ms", w.ps_wedged_ms),
            met: w.ps_wedged_ms < 50.0 && w.blocked_tasks_shown_running,
        });
    }
    targets
}
