//! What a run found: per-system figures, ratios to bare, the console
//! figures and the targets, written as `target/bench-summary.json`.

use std::{collections::BTreeMap, fmt::Write as _, fs, io, path::Path};

use serde::{Deserialize, Serialize};

use crate::{
    instructions::Instructions,
    scale::{ScaleResult, WedgedResult},
    workloads::Cost,
};

/// The repeated measurements of one system, in the order taken.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    pub(crate) poll: Vec<f64>,
    pub(crate) poll_cpu: Vec<f64>,
    pub(crate) spawn: Vec<f64>,
    pub(crate) spawn_cpu: Vec<f64>,
    pub(crate) request: Vec<f64>,
    pub(crate) request_cpu: Vec<f64>,
    pub(crate) bytes: Vec<f64>,
}

impl Samples {
    pub(crate) fn push_poll(&mut self, cost: Cost) {
        self.poll.push(cost.wall_ns);
        self.poll_cpu.push(cost.cpu_ns);
    }

    pub(crate) fn push_spawn(&mut self, cost: Cost) {
        self.spawn.push(cost.wall_ns);
        self.spawn_cpu.push(cost.cpu_ns);
    }

    pub(crate) fn push_request(&mut self, cost: Cost) {
        self.request.push(cost.wall_ns);
        self.request_cpu.push(cost.cpu_ns);
    }
}

/// One system's figures: medians, and ratios to the bare runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SystemSummary {
    /// Wall-clock nanoseconds per poll, all workers together.
    pub(crate) ns_per_poll: f64,
    pub(crate) ns_per_spawn: f64,
    pub(crate) bytes_per_task: f64,
    pub(crate) poll_ratio: f64,
    pub(crate) spawn_ratio: f64,
    pub(crate) bytes_above_bare: f64,
    /// Process CPU nanoseconds per poll (all threads), and its ratio.
    pub(crate) cpu_ns_per_poll: f64,
    pub(crate) cpu_ns_per_spawn: f64,
    pub(crate) poll_cpu_ratio: f64,
    pub(crate) spawn_cpu_ratio: f64,
    /// First and third quartiles of the per-repetition wall-clock ratios:
    /// how far to trust the medians on a busy machine.
    pub(crate) poll_ratio_quartiles: [f64; 2],
    pub(crate) spawn_ratio_quartiles: [f64; 2],
    /// The realistic workload (`workloads::requests`): wall-clock and CPU
    /// nanoseconds per request end to end, their ratios and the wall
    /// ratio's quartiles. Absent (NaN) in summaries from before it existed.
    #[serde(default = "nan")]
    pub(crate) ns_per_request: f64,
    #[serde(default = "nan")]
    pub(crate) cpu_ns_per_request: f64,
    #[serde(default = "nan")]
    pub(crate) request_ratio: f64,
    #[serde(default = "nan")]
    pub(crate) request_cpu_ratio: f64,
    #[serde(default = "nan2")]
    pub(crate) request_ratio_quartiles: [f64; 2],
}

fn nan() -> f64 {
    f64::NAN
}

fn nan2() -> [f64; 2] {
    [f64::NAN; 2]
}

impl SystemSummary {
    /// Summarises `samples` against the same runtime's bare samples, taken
    /// alternately with them. Ratios are the medians of the per-repetition
    /// ratios, so slow drift of the machine (both systems of a repetition
    /// ran seconds apart) cancels out.
    pub(crate) fn new(samples: &Samples, bare: &Samples) -> Self {
        Self {
            ns_per_poll: median(&samples.poll),
            ns_per_spawn: median(&samples.spawn),
            bytes_per_task: median(&samples.bytes),
            poll_ratio: paired_ratio(&samples.poll, &bare.poll),
            spawn_ratio: paired_ratio(&samples.spawn, &bare.spawn),
            bytes_above_bare: median(&samples.bytes) - median(&bare.bytes),
            cpu_ns_per_poll: median(&samples.poll_cpu),
            cpu_ns_per_spawn: median(&samples.spawn_cpu),
            poll_cpu_ratio: paired_ratio(&samples.poll_cpu, &bare.poll_cpu),
            spawn_cpu_ratio: paired_ratio(&samples.spawn_cpu, &bare.spawn_cpu),
            poll_ratio_quartiles: quartiles(&ratios(&samples.poll, &bare.poll)),
            spawn_ratio_quartiles: quartiles(&ratios(&samples.spawn, &bare.spawn)),
            ns_per_request: median(&samples.request),
            cpu_ns_per_request: median(&samples.request_cpu),
            request_ratio: paired_ratio(&samples.request, &bare.request),
            request_cpu_ratio: paired_ratio(&samples.request_cpu, &bare.request_cpu),
            request_ratio_quartiles: quartiles(&ratios(&samples.request, &bare.request)),
        }
    }
}

/// The median; NaN for no samples, which serializes as `null`.
pub(crate) fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// Linear-interpolated quantile `q` (0..=1); NaN for no samples.
fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = q * (sorted.len() - 1) as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (at - low as f64)
}

fn quartiles(values: &[f64]) -> [f64; 2] {
    [quantile(values, 0.25), quantile(values, 0.75)]
}

fn ratios(values: &[f64], bare: &[f64]) -> Vec<f64> {
    values.iter().zip(bare).map(|(v, b)| v / b).collect()
}

fn paired_ratio(values: &[f64], bare: &[f64]) -> f64 {
    median(&ratios(values, bare))
}

/// The sizes a run used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Sizes {
    pub(crate) poll_tasks: usize,
    pub(crate) poll_yields: usize,
    pub(crate) spawn_tasks: usize,
    pub(crate) memory_tasks: usize,
    pub(crate) repetitions: usize,
    pub(crate) memory_repetitions: usize,
    pub(crate) workers: usize,
    /// The realistic workload: requests per round and the most handled at
    /// once.
    #[serde(default)]
    pub(crate) requests: usize,
    #[serde(default)]
    pub(crate) requests_in_flight: usize,
}

/// One goal, what was measured against it, and whether it was met.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Target {
    pub(crate) what: String,
    pub(crate) goal: String,
    pub(crate) measured: String,
    pub(crate) met: bool,
}

/// Whether console-subscriber was measured, and if not, why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ConsoleStatus {
    pub(crate) measured: bool,
    pub(crate) note: String,
}

/// Everything `target/bench-summary.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub(crate) quick: bool,
    pub(crate) sizes: Sizes,
    /// runtime → system → figures. `tokio-unstable` is the binary built
    /// with `--cfg tokio_unstable` for console-subscriber, whose ratios are
    /// to the bare tokio of that same binary.
    pub(crate) runtimes: BTreeMap<String, BTreeMap<String, SystemSummary>>,
    pub(crate) console_subscriber: ConsoleStatus,
    /// `runtime/system` → instructions per poll and spawn (with
    /// `--instructions`; empty otherwise).
    pub(crate) instructions: BTreeMap<String, Instructions>,
    pub(crate) scale: Vec<ScaleResult>,
    pub(crate) wedged: Option<WedgedResult>,
    /// The clock comparison (`crate::clock`); absent in older summaries.
    #[serde(default)]
    pub(crate) clock: Option<crate::clock::ClockResult>,
    pub(crate) targets: Vec<Target>,
}

impl Summary {
    /// Pretty JSON; non-finite figures (nothing measured) become `null`.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summary serializes")
    }

    pub(crate) fn write(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(path, self.to_json() + "\n")
    }

    /// The per-system table, as Markdown so the same text goes into
    /// docs/PERFORMANCE.md.
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| runtime | system | ns/poll | × bare | CPU × bare | ns/spawn | × bare | CPU × bare \
             | B/task | B above bare | µs/request | × bare | CPU × bare |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for (runtime, systems) in &self.runtimes {
            // Bare first, then the others in name order.
            let mut rows: Vec<_> = systems.iter().collect();
            rows.sort_by_key(|(name, _)| (name.as_str() != crate::systems::BARE, *name));
            for (system, s) in rows {
                if s.ns_per_poll.is_nan() && s.ns_per_spawn.is_nan() && s.bytes_per_task.is_nan() {
                    // Left out with --only.
                    continue;
                }
                let _ = writeln!(
                    out,
                    "| {runtime} | {system} | {:.1} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.0} \
                     | {:+.0} | {:.2} | {:.2} | {:.2} |",
                    s.ns_per_poll,
                    s.poll_ratio,
                    s.poll_cpu_ratio,
                    s.ns_per_spawn,
                    s.spawn_ratio,
                    s.spawn_cpu_ratio,
                    s.bytes_per_task,
                    s.bytes_above_bare,
                    s.ns_per_request / 1e3,
                    s.request_ratio,
                    s.request_cpu_ratio,
                );
            }
        }
        out
    }

    pub(crate) fn instructions_table(&self) -> String {
        if self.instructions.is_empty() {
            return String::new();
        }
        let mut out = String::from(
            "| system | instructions/poll | above bare | instructions/spawn | above bare |\n\
             |---|---:|---:|---:|---:|\n",
        );
        for (system, i) in &self.instructions {
            let _ = writeln!(
                out,
                "| {system} | {:.0} | {:+.0} | {:.0} | {:+.0} |",
                i.per_poll, i.per_poll_above_bare, i.per_spawn, i.per_spawn_above_bare
            );
        }
        out
    }

    pub(crate) fn clock_table(&self) -> String {
        let Some(c) = &self.clock else {
            return String::new();
        };
        let ticker = c
            .ticker_cpu_percent
            .map_or("not readable".to_owned(), |p| format!("{p:.3} % of a core"));
        format!(
            "| clock read | ns per read | staleness |\n|---|---:|---|\n\
             | coarse (atomic load, 1 kHz ticker thread) | {:.2} | ≤ 1 ms; ticker costs {ticker} |\n\
             | `CLOCK_MONOTONIC_COARSE` (vDSO) | {:.2} | ≤ {:.1} ms (kernel tick) |\n\
             | `Instant::now()` (`CLOCK_MONOTONIC`) | {:.2} | none |\n",
            c.coarse_ticker_read_ns,
            c.monotonic_coarse_read_ns,
            c.monotonic_coarse_resolution_ns as f64 / 1e6,
            c.instant_now_read_ns,
        )
    }

    pub(crate) fn targets_table(&self) -> String {
        let mut out = String::from("| target | goal | measured | met |\n|---|---|---|---|\n");
        for target in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                target.what,
                target.goal,
                target.measured,
                if target.met { "yes" } else { "**no**" }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(quartiles(&[5.0, 1.0, 3.0, 2.0, 4.0]), [2.0, 4.0]);
    }

    #[test]
    fn ratios_are_paired_per_repetition() {
        // The machine got twice as slow for the second repetition; the
        // paired ratio still sees a steady 1.1.
        let mut bare = Samples::default();
        let mut tracked = Samples::default();
        for (b, t) in [(10.0, 11.0), (20.0, 22.0), (10.0, 11.0)] {
            bare.push_poll(Cost {
                wall_ns: b,
                cpu_ns: 2.0 * b,
            });
            tracked.push_poll(Cost {
                wall_ns: t,
                cpu_ns: 2.0 * t,
            });
            bare.push_spawn(Cost {
                wall_ns: 10.0 * b,
                cpu_ns: 10.0 * b,
            });
            tracked.push_spawn(Cost {
                wall_ns: 12.0 * b,
                cpu_ns: 12.0 * b,
            });
        }
        bare.bytes.push(300.0);
        tracked.bytes.push(500.0);
        let s = SystemSummary::new(&tracked, &bare);
        assert!((s.poll_ratio - 1.1).abs() < 1e-9);
        assert!((s.poll_cpu_ratio - 1.1).abs() < 1e-9);
        assert!((s.spawn_ratio - 1.2).abs() < 1e-9);
        assert_eq!(s.bytes_above_bare, 200.0);
        assert_eq!(s.ns_per_poll, 11.0);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let bare = bare_samples();
        let mut tokio = BTreeMap::new();
        tokio.insert("bare".to_owned(), SystemSummary::new(&bare, &bare));
        let summary = Summary {
            quick: true,
            sizes: Sizes {
                poll_tasks: 1,
                poll_yields: 1,
                spawn_tasks: 1,
                memory_tasks: 1,
                repetitions: 1,
                memory_repetitions: 1,
                workers: 2,
                requests: 1,
                requests_in_flight: 1,
            },
            runtimes: BTreeMap::from([("tokio".to_owned(), tokio)]),
            console_subscriber: ConsoleStatus {
                measured: false,
                note: "not built".to_owned(),
            },
            instructions: BTreeMap::new(),
            scale: Vec::new(),
            wedged: None,
            clock: None,
            targets: Vec::new(),
        };
        let json: serde_json::Value = serde_json::from_str(&summary.to_json()).unwrap();
        let bare = &json["runtimes"]["tokio"]["bare"];
        for key in [
            "ns_per_poll",
            "ns_per_spawn",
            "bytes_per_task",
            "poll_ratio",
            "spawn_ratio",
        ] {
            assert!(bare[key].is_number(), "{key} in {bare}");
        }
        assert_eq!(bare["poll_ratio"], 1.0);
        assert!(
            summary
                .table()
                .contains("| tokio | bare | 10.0 | 1.00 | 1.00 |")
        );

        // A system summary read back (as the console binary's output is)
        // is the one written.
        let back: SystemSummary = serde_json::from_value(bare.clone()).unwrap();
        assert_eq!(back, SystemSummary::new(&bare_samples(), &bare_samples()));
    }

    fn bare_samples() -> Samples {
        let mut samples = Samples::default();
        samples.push_poll(Cost {
            wall_ns: 10.0,
            cpu_ns: 20.0,
        });
        samples.push_spawn(Cost {
            wall_ns: 100.0,
            cpu_ns: 200.0,
        });
        samples.push_request(Cost {
            wall_ns: 1_000.0,
            cpu_ns: 2_000.0,
        });
        samples.bytes.push(300.0);
        samples
    }
}
