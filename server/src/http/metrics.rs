//! `GET /metrics`: the monitor's view in the OpenMetrics text format.
//!
//! Everything is read from the registry at scrape time (nothing is
//! counted on the application's hot path for it), in one function,
//! [`collect`], which is where further sources (per-spawn-site totals,
//! the adapter's runtime metrics through
//! [`WebExtension::collect_metrics`](super::WebExtension::collect_metrics))
//! are added.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
};

use monitor_core::{TaskEnd, TaskState};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::HttpState;

/// Distinct spawn locations exported per scrape; beyond this, tasks are
/// counted under `location="other"`, so a generated call site can never
/// blow up Prometheus's memory. Locations come from the program's source,
/// never from free-form task names.
pub(super) const MAX_LOCATIONS: usize = 500;

/// The label `location` takes for the tasks beyond [`MAX_LOCATIONS`].
pub(super) const OTHER_LOCATION: &str = "other";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLocation {
    state: &'static str,
    location: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Location {
    location: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LocationReason {
    location: String,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LintLabel {
    lint: &'static str,
}

#[derive(Default)]
struct SiteTotals {
    idle: i64,
    running: i64,
    polls: u64,
    busy_ns: u64,
}

/// Builds this scrape's registry.
pub(super) fn collect(state: &HttpState) -> Registry {
    let mut registry = Registry::with_prefix("monitor");

    // Live tasks, folded per spawn location.
    let mut sites: BTreeMap<String, SiteTotals> = BTreeMap::new();
    let mut longest_poll_ns = 0u64;
    state.shared.introspect.for_each_live(&mut |task| {
        let location = if sites.len() < MAX_LOCATIONS || sites.contains_key(&task.location) {
            task.location
        } else {
            OTHER_LOCATION.to_owned()
        };
        let site = sites.entry(location).or_default();
        match task.state {
            TaskState::Running => site.running += 1,
            _ => site.idle += 1,
        }
        site.polls += task.polls;
        site.busy_ns += task.busy_ns;
        longest_poll_ns = longest_poll_ns.max(task.poll_ns.unwrap_or(0));
    });
    let tasks = Family::<StateLocation, Gauge>::default();
    let polls = Family::<Location, Gauge>::default();
    let busy = Family::<Location, Gauge<f64, AtomicU64>>::default();
    for (location, site) in &sites {
        for (name, count) in [("idle", site.idle), ("running", site.running)] {
            tasks
                .get_or_create(&StateLocation {
                    state: name,
                    location: location.clone(),
                })
                .set(count);
        }
        let labels = Location {
            location: location.clone(),
        };
        polls
            .get_or_create(&labels)
            .set(i64::try_from(site.polls).unwrap_or(i64::MAX));
        busy.get_or_create(&labels).set(site.busy_ns as f64 / 1e9);
    }
    registry.register(
        "tasks",
        "Live tasks by state (running = a worker is inside its poll now) and spawn location",
        tasks,
    );
    registry.register(
        "live_task_polls",
        "Polls so far of the tasks alive now, by spawn location",
        polls,
    );
    registry.register(
        "live_task_busy_seconds",
        "Time spent inside poll so far by the tasks alive now, by spawn location",
        busy,
    );
    let longest = Gauge::<f64, AtomicU64>::default();
    longest.set(longest_poll_ns as f64 / 1e9);
    registry.register(
        "longest_poll_seconds",
        "How long the longest poll in progress has lasted (0 when no task is inside a poll): a \
         worker blocked by a task shows here",
        longest,
    );

    // Ended tasks still in the bounded history, by how they ended.
    let mut ended: BTreeMap<&'static str, i64> = ["completed", "cancelled", "panicked", "ended"]
        .into_iter()
        .map(|reason| (reason, 0))
        .collect();
    for task in state.shared.introspect.terminated() {
        let reason = match task.ended {
            Some(TaskEnd::Completed) => "completed",
            Some(TaskEnd::Cancelled { .. }) => "cancelled",
            Some(TaskEnd::Panicked { .. }) => "panicked",
            _ => "ended",
        };
        *ended.entry(reason).or_default() += 1;
    }
    let history = Family::<Reason, Gauge>::default();
    for (reason, count) in ended {
        history.get_or_create(&Reason { reason }).set(count);
    }
    registry.register(
        "terminated_history_tasks",
        "Ended tasks kept in the bounded terminated history, by how they ended",
        history,
    );

    let spawned = Counter::<u64, AtomicU64>::default();
    spawned.inc_by(monitor_core::TaskId::issued());
    registry.register(
        "tasks_spawned",
        "Tasks given an id since the process started (every registry and runtime in it)",
        spawned,
    );

    let sessions = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
    sessions.set(i64::try_from(state.shared.sessions.load(Ordering::Relaxed)).unwrap_or(0));
    registry.register("console_sessions", "Open console sessions", sessions);
    let connections = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
    connections.set(i64::try_from(state.connections.get()).unwrap_or(0));
    registry.register(
        "http_connections",
        "Open HTTP connections (this scrape's included)",
        connections,
    );

    sites_and_lints(state, &mut registry);

    for extension in &state.extensions {
        extension.collect_metrics(&mut registry);
    }
    registry
}

/// The per-spawn-site totals of the registry's site table (one series per
/// row: the table is bounded by `max_sites`, past which sites share the
/// overflow row, exported as `location="other"`) and the lints firing now.
fn sites_and_lints(state: &HttpState, registry: &mut Registry) {
    let introspect = &state.shared.introspect;
    if let Some(table) = introspect.sites() {
        let spawned = Family::<Location, Counter>::default();
        let ended = Family::<LocationReason, Counter>::default();
        let live = Family::<Location, Gauge>::default();
        let polls = Family::<Location, Counter>::default();
        let busy = Family::<Location, Counter<f64, AtomicU64>>::default();
        let slow = Family::<Location, Counter>::default();
        for row in table.stats(&**introspect) {
            let location = row.location.unwrap_or_else(|| OTHER_LOCATION.to_owned());
            let labels = Location {
                location: location.clone(),
            };
            spawned.get_or_create(&labels).inc_by(row.spawned);
            for (reason, count) in [
                ("completed", row.ended.completed),
                ("cancelled", row.ended.cancelled),
                ("panicked", row.ended.panicked),
                ("unknown", row.ended.unknown),
            ] {
                ended
                    .get_or_create(&LocationReason {
                        location: location.clone(),
                        reason,
                    })
                    .inc_by(count);
            }
            live.get_or_create(&labels)
                .set(i64::try_from(row.live).unwrap_or(i64::MAX));
            polls.get_or_create(&labels).inc_by(row.polls);
            busy.get_or_create(&labels).inc_by(row.busy_ns as f64 / 1e9);
            slow.get_or_create(&labels).inc_by(row.slow_polls);
        }
        registry.register(
            "site_tasks_spawned",
            "Tasks spawned since start, by spawn location (location=\"other\": the sites past \
             the site table's bound)",
            spawned,
        );
        registry.register(
            "site_tasks_ended",
            "Tasks ended since start, by spawn location and how they ended (unknown: the \
             runtime did not say)",
            ended,
        );
        registry.register(
            "site_live_tasks",
            "Tasks alive now, by spawn location",
            live,
        );
        registry.register(
            "site_polls",
            "Polls since start of the tasks spawned at a location, alive or ended",
            polls,
        );
        registry.register(
            "site_busy_seconds",
            "Time inside poll since start of the tasks spawned at a location, alive or ended",
            busy,
        );
        registry.register(
            "site_slow_polls",
            "Polls that took at least the slow-poll threshold, by spawn location",
            slow,
        );
    }
    let firing = Family::<LintLabel, Gauge>::default();
    for id in monitor_core::LintId::ALL {
        firing
            .get_or_create(&LintLabel { lint: id.as_str() })
            .set(0);
    }
    for lint in monitor_core::lints(&**introspect) {
        firing
            .get_or_create(&LintLabel {
                lint: lint.id.as_str(),
            })
            .inc();
    }
    registry.register(
        "lints_firing",
        "Lints firing now, by lint id (a task or a spawn site each; see docs/LINTS.md)",
        firing,
    );
}

/// The classic Prometheus text format (0.0.4) of an OpenMetrics text made
/// by [`collect`]: the two differ, for the gauges and counters exported
/// here, only in a counter's family name (`x` in OpenMetrics, `x_total`
/// in the classic format, as its samples are named) and the `# EOF` line.
pub(super) fn classic_text(openmetrics: &str) -> String {
    let lines: Vec<&str> = openmetrics.lines().collect();
    let mut out = String::with_capacity(openmetrics.len() + 64);
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            continue;
        }
        let counter_of = |line: &str| {
            line.strip_prefix("# TYPE ")
                .and_then(|rest| rest.strip_suffix(" counter"))
                .map(str::to_owned)
        };
        // A counter's HELP line comes right before its TYPE line.
        let renamed = match (line.strip_prefix("# HELP "), lines.get(i + 1)) {
            (Some(rest), Some(next)) => counter_of(next).and_then(|name| {
                rest.strip_prefix(&format!("{name} "))
                    .map(|help| format!("# HELP {name}_total {help}"))
            }),
            _ => None,
        }
        .or_else(|| counter_of(line).map(|name| format!("# TYPE {name}_total counter")));
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::classic_text;

    #[test]
    fn classic_text_names_counter_families_like_their_samples_and_drops_eof() {
        let openmetrics = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total 3\n\
                           # HELP c Level.\n# TYPE c gauge\nc 1\n# EOF\n";
        assert_eq!(
            classic_text(openmetrics),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total 3\n\
             # HELP c Level.\n# TYPE c gauge\nc 1\n"
        );
    }
}
