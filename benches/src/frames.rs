//! The cost of await-stack frames: the same nested async calls unmarked,
//! marked with `#[monitor_core::frame]`, and marked with
//! `#[async_backtrace::framed]`, each run in tasks tracked the same way, so
//! the only difference between them is the frames.
//!
//! Each task's body is itself a marked function (as in an application that
//! marks its task functions), and calls a chain of three marked functions
//! `CALLS` times; the innermost yields `yields` times. With 1 yield, each
//! call links and unlinks three frames per two polls (call-heavy); with 100
//! yields, the polls dominate (poll-heavy).

use std::{sync::Arc, time::Instant};

use monitor_core::{TaskOptions, TaskRegistry};
use serde::Serialize;

use crate::workloads::{Cost, cost};

/// The same call chain, with `$mark` on every function.
macro_rules! chain {
    ($module:ident $(, #[$mark:meta])?) => {
        mod $module {
            $(#[$mark])?
            pub(crate) async fn task_body(calls: usize, yields: usize) {
                for _ in 0..calls {
                    outer(yields).await;
                }
            }

            $(#[$mark])?
            async fn outer(yields: usize) {
                middle(yields).await
            }

            $(#[$mark])?
            async fn middle(yields: usize) {
                inner(yields).await
            }

            $(#[$mark])?
            async fn inner(yields: usize) {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
            }
        }
    };
}

chain!(unmarked);
chain!(monitor, #[monitor_core::frame]);
chain!(backtrace, #[async_backtrace::framed]);

/// The systems compared, in the order they are printed.
pub(crate) const SYSTEMS: [&str; 3] = ["unmarked", "monitor #[frame]", "async-backtrace #[framed]"];

const TASKS: usize = 1_000;

/// One shape of the workload.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Shape {
    pub(crate) name: &'static str,
    pub(crate) calls: usize,
    pub(crate) yields: usize,
}

pub(crate) const SHAPES: [Shape; 2] = [
    Shape {
        name: "call-heavy (1 yield per call)",
        calls: 200,
        yields: 1,
    },
    Shape {
        name: "poll-heavy (100 yields per call)",
        calls: 10,
        yields: 100,
    },
];

/// Medians of one shape, per system: ns per poll, wall and CPU.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ShapeResult {
    pub(crate) shape: Shape,
    /// `[system] -> (wall ns per poll, cpu ns per poll)`.
    pub(crate) ns_per_poll: Vec<(&'static str, f64, f64)>,
}

fn run(
    runtime: &tokio::runtime::Runtime,
    registry: &Arc<TaskRegistry>,
    system: usize,
    shape: Shape,
) -> Cost {
    // Polls per task: each call is `yields + 1` polls of the chain.
    let polls = TASKS * shape.calls * (shape.yields + 1);
    let registry = Arc::clone(registry);
    cost(polls, || {
        runtime.block_on(async move {
            let start = Instant::now();
            let handles: Vec<_> = (0..TASKS)
                .map(|_| {
                    let options = TaskOptions::new();
                    let (calls, yields) = (shape.calls, shape.yields);
                    match system {
                        0 => tokio::spawn(
                            registry.instrument(unmarked::task_body(calls, yields), options),
                        ),
                        1 => tokio::spawn(
                            registry.instrument(monitor::task_body(calls, yields), options),
                        ),
                        _ => tokio::spawn(
                            registry.instrument(backtrace::task_body(calls, yields), options),
                        ),
                    }
                })
                .collect();
            for handle in handles {
                let _ = handle.await;
            }
            start.elapsed()
        })
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs every shape for every system, alternating systems within each
/// repetition (rotating which goes first), after one warm-up round.
pub(crate) fn measure(repetitions: usize) -> Vec<ShapeResult> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(crate::systems::WORKERS)
        .build()
        .expect("tokio runtime");
    let registry = TaskRegistry::new();
    let mut results = Vec::new();
    for shape in SHAPES {
        eprintln!("frames: {} ...", shape.name);
        for system in 0..SYSTEMS.len() {
            run(&runtime, &registry, system, shape);
        }
        let mut wall = vec![Vec::new(); SYSTEMS.len()];
        let mut cpu = vec![Vec::new(); SYSTEMS.len()];
        for rep in 0..repetitions {
            for k in 0..SYSTEMS.len() {
                let system = (k + rep) % SYSTEMS.len();
                let cost = run(&runtime, &registry, system, shape);
                wall[system].push(cost.wall_ns);
                cpu[system].push(cost.cpu_ns);
            }
        }
        results.push(ShapeResult {
            shape,
            ns_per_poll: SYSTEMS
                .iter()
                .enumerate()
                .map(|(i, name)| (*name, median(&mut wall[i]), median(&mut cpu[i])))
                .collect(),
        });
    }
    results
}

/// A Markdown table: ns per poll of the chain and the ratios to the
/// unmarked code and to async-backtrace.
pub(crate) fn table(results: &[ShapeResult]) -> String {
    let mut out = String::from(
        "| workload | system | ns/poll (wall) | ns/poll (CPU) | × unmarked (CPU) | × async-backtrace (CPU) |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for result in results {
        let unmarked = result.ns_per_poll[0].2;
        let backtrace = result.ns_per_poll[2].2;
        for &(system, wall, cpu) in &result.ns_per_poll {
            out.push_str(&format!(
                "| {} | {system} | {wall:.1} | {cpu:.1} | {:.2} | {:.2} |\n",
                result.shape.name,
                cpu / unmarked,
                cpu / backtrace
            ));
        }
    }
    out
}
