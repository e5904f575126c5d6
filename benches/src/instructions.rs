//! Instructions per poll and per spawn, counted by callgrind: figures that
//! do not move when other jobs share the machine.
//!
//! Each system runs in a child process of this same binary under
//! `valgrind --tool=callgrind`, once with the workload and once with
//! nothing to do; the difference divided by the number of polls (spawns)
//! is the marginal cost. Callgrind runs the threads one at a time, so these
//! figures count work, not contention between workers: a shared counter
//! costs its few instructions here, but a cache-line transfer between cores
//! in the timed runs.

use std::{collections::BTreeMap, process::Command};

use serde::{Deserialize, Serialize};

use crate::summary::Sizes;

/// Instructions per unit for one system.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Instructions {
    pub(crate) per_poll: f64,
    pub(crate) per_spawn: f64,
    /// Extra instructions per poll (spawn) over the same runtime's bare.
    pub(crate) per_poll_above_bare: f64,
    pub(crate) per_spawn_above_bare: f64,
}

/// The systems counted: bare and tracked on each runtime, the precise
/// timing mode, and the core's wrapper without the tokio adapter.
pub(crate) const SYSTEMS: &[&str] = &[
    "tokio/bare",
    "tokio/tracked",
    "tokio/tracked-precise",
    "tokio/tracked-core",
    "smol/bare",
    "smol/tracked",
    "async-std/bare",
    "async-std/tracked",
];

/// Counts every system in [`SYSTEMS`]; `Err` when valgrind is missing or a
/// child fails.
pub(crate) fn count(sizes: &Sizes) -> Result<BTreeMap<String, Instructions>, String> {
    let polls = (sizes.poll_tasks * (sizes.poll_yields + 1)) as f64;
    let spawns = sizes.spawn_tasks as f64;
    let mut raw = BTreeMap::new();
    for system in SYSTEMS {
        eprintln!("instructions: {system} under callgrind ...");
        let idle = run(system, "none")?;
        let poll = (run(system, "poll")? - idle) / polls;
        let spawn = (run(system, "spawn")? - idle) / spawns;
        raw.insert(*system, (poll, spawn));
    }
    Ok(raw
        .iter()
        .map(|(system, &(poll, spawn))| {
            let runtime = system.split('/').next().unwrap_or_default();
            let (bare_poll, bare_spawn) = raw[format!("{runtime}/bare").as_str()];
            let figures = Instructions {
                per_poll: poll,
                per_spawn: spawn,
                per_poll_above_bare: poll - bare_poll,
                per_spawn_above_bare: spawn - bare_spawn,
            };
            ((*system).to_owned(), figures)
        })
        .collect())
}

/// Total instructions of one `--once` run of `workload` on `system`.
fn run(system: &str, workload: &str) -> Result<f64, String> {
    let me = std::env::current_exe().map_err(|err| err.to_string())?;
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(&me)
        .args(["--once", "--only", workload, "--system", system])
        .output()
        .map_err(|err| format!("could not run valgrind: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "valgrind on {system} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_collected(&String::from_utf8_lossy(&output.stderr))
        .ok_or_else(|| format!("no instruction count in valgrind's output for {system}"))
}

/// Reads `==123== Collected : 578459041` from callgrind's report.
fn parse_collected(report: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|line| line.split_once("Collected :"))
        .and_then(|(_, n)| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_callgrinds_total() {
        let report = "==5305== Events    : Ir\n==5305== Collected : 578459041\n==5305==\n";
        assert_eq!(super::parse_collected(report), Some(578_459_041.0));
        assert_eq!(super::parse_collected("nothing here"), None);
    }
}
