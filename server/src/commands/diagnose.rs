//! `lints`, `sites` and `top`: what is wrong with the tasks, per spawn site
//! statistics and the busiest tasks over an interval — plus the note `ps`
//! prints under its table about flagged tasks.

use std::{fmt::Write as _, sync::Arc, time::Duration};

use comfy_table::{Cell, CellAlignment};
use monitor_core::{
    ActivitySample, Histogram, Lint, LintId, LintSet, LintSubject, SiteStats, TopReport,
    dispatch::{Arg, Args, Command, CommandError},
    lints,
};

use super::{MonitorContext, json_flag, render, to_json};
use crate::format::duration_ns;

/// Counts the lint marks on the rows of a `ps` table, for the `Flagged:`
/// line under it; as small as the number of lints, whatever the number of
/// rows.
#[derive(Debug, Default)]
pub(super) struct FlaggedCount(Vec<(LintId, usize)>);

impl FlaggedCount {
    /// Counts one row's marks.
    pub(super) fn add(&mut self, lints: LintSet) {
        for id in lints.iter() {
            match self.0.iter_mut().find(|(counted, _)| *counted == id) {
                Some((_, n)) => *n += 1,
                None => self.0.push((id, 1)),
            }
        }
    }

    /// The line under the table, most severe lint first, fitted to `width`
    /// columns (continued on indented lines when it would not fit):
    /// `Flagged: 1 blocking-poll (!BP), 12 large-future (!LF) — see: lints`;
    /// empty when no row was marked.
    pub(super) fn note(&self, width: Option<usize>) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let mut counts = self.0.clone();
        counts.sort_by_key(|(id, _)| LintId::ALL.iter().position(|known| known == id));
        let mut items: Vec<String> = counts
            .iter()
            .map(|(id, n)| format!("{n} {id} (!{})", render::lint_code(*id)))
            .collect();
        if let Some(last) = items.last_mut() {
            last.push_str(" — see: lints");
        }
        const LEAD: &str = "Flagged: ";
        let width = width.unwrap_or(usize::MAX);
        let mut note = String::from(LEAD);
        let mut line = render::text_width(LEAD);
        let count = items.len();
        for (i, item) in items.iter_mut().enumerate() {
            if i + 1 < count {
                item.push(',');
            }
            let item_width = render::text_width(item);
            if i > 0 {
                if line + 1 + item_width > width {
                    note.push('\n');
                    note.push_str(&" ".repeat(LEAD.len()));
                    line = LEAD.len();
                } else {
                    note.push(' ');
                    line += 1;
                }
            }
            note.push_str(item);
            line += item_width;
        }
        note.push('\n');
        note
    }
}

pub(super) fn commands() -> Vec<Command<MonitorContext>> {
    vec![lints_command(), sites(), top()]
}

fn lints_command() -> Command<MonitorContext> {
    Command::new("lints")
        .about(
            "List what is wrong right now: tasks stuck in or blocking a poll, tasks that never \
             yielded, spawn sites with large futures or live tasks that only grow.\n\n\
             Each lint has a stable id, an explanation and a suggested fix (docs/LINTS.md). \
             --set NAME=VALUE changes a threshold at run time, e.g. --set slow-poll=20ms; \
             names: slow-poll, stuck-worker, never-yielded, large-future, leak-window, \
             leak-growth.",
        )
        .arg(
            Arg::option("set", "NAME=VALUE")
                .help("change one threshold first, e.g. slow-poll=20ms or large-future=4KiB"),
        )
        .arg(json_flag())
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let introspect = ctx.introspect();
            if let Some(setting) = args.get::<String>("set") {
                let sites = introspect.sites().ok_or(
                    "this monitor's task source keeps no thresholds (it is not a TaskRegistry \
                     and does not forward TaskIntrospect::sites)",
                )?;
                let (name, value) = setting.split_once('=').ok_or_else(|| {
                    CommandError::new(format!(
                        "invalid setting {setting:?} (expected NAME=VALUE, e.g. slow-poll=20ms)"
                    ))
                })?;
                let before = sites.thresholds();
                let after = sites
                    .set_threshold(name.trim(), value)
                    .map_err(|err| CommandError::new(err.to_string()))?;
                if !args.flag("json") {
                    let show = |t: monitor_core::Thresholds| {
                        t.settings()
                            .into_iter()
                            .find(|(n, _)| *n == name.trim())
                            .map(|(_, v)| v)
                            .unwrap_or_default()
                    };
                    out.line(format!(
                        "{} = {} (was {})",
                        name.trim(),
                        show(after),
                        show(before)
                    ));
                }
            }
            let fired = lints(&**introspect);
            if args.flag("json") {
                out.line(to_json(&fired)?);
                return Ok(());
            }
            let thresholds = introspect
                .sites()
                .map_or_else(Default::default, |sites| sites.thresholds());
            match fired.len() {
                0 => out.line(format!("No lint fires. (thresholds: {thresholds})")),
                n => {
                    let plural = if n == 1 { "" } else { "s" };
                    out.line(format!("{n} lint{plural} fire (thresholds: {thresholds})"));
                    for lint in &fired {
                        out.write(lint_text(lint));
                    }
                }
            }
            Ok(())
        })
}

fn lint_text(lint: &Lint) -> String {
    let about = match &lint.subject {
        LintSubject::Task { id, location, .. } => {
            format!("task {id} at {}", render::short_location(location))
        }
        LintSubject::Site { location, .. } => format!(
            "site {}",
            location
                .as_deref()
                .map_or("(other sites)", render::short_location)
        ),
        // Subjects added later still print their message.
        _ => "-".to_owned(),
    };
    let mut text = String::new();
    let _ = writeln!(text, "[{}] {} — {about}", lint.severity, lint.id);
    let _ = writeln!(text, "    {}", lint.message);
    let _ = writeln!(text, "    why: {}", lint.explanation);
    let _ = writeln!(text, "    fix: {}", lint.fix);
    text
}

/// The keys `sites --sort` (and the web UI's Sites page) accept.
pub(crate) const SITE_KEYS: [&str; 7] = [
    "busy", "polls", "live", "spawned", "slow", "p99", "location",
];

fn sites() -> Command<MonitorContext> {
    Command::new("sites")
        .about(
            "Statistics per spawn site (file:line:column where tasks are spawned): live and \
             spawned tasks, how they ended, polls, busy time, slow polls, poll-time \
             percentiles, lifetime percentiles and the largest future.\n\n\
             Percentiles are log-bucket bounds (<1ms, <2ms, <4ms, …); with the default 1 ms \
             clock, polls shorter than a millisecond all count as <1ms. Memory is bounded by \
             the number of sites: past the bound, sites share the row (other sites).",
        )
        .arg(
            Arg::choice("sort", &SITE_KEYS)
                .long("sort")
                .short('s')
                .value_name("KEY")
                .help("order by busy (default), polls, live, spawned, slow, p99 or location"),
        )
        .arg(
            Arg::int("limit")
                .long("limit")
                .short('n')
                .value_name("N")
                .help("show at most N sites (0 = all; default all)"),
        )
        .arg(json_flag())
        .run(|ctx: &mut MonitorContext, args: &Args, out| {
            let limit = non_negative(args, "limit")?;
            let introspect = ctx.introspect();
            let Some(table) = introspect.sites() else {
                return Err(CommandError::new(
                    "this monitor's task source keeps no per-site statistics (it is not a \
                     TaskRegistry and does not forward TaskIntrospect::sites)",
                ));
            };
            let mut rows = table.stats(&**introspect);
            let total = rows.len();
            sort_sites(&mut rows, args.get::<String>("sort").as_deref());
            if limit > 0 {
                rows.truncate(limit);
            }
            if args.flag("json") {
                out.line(to_json(&rows)?);
                return Ok(());
            }
            let plural = if total == 1 { "" } else { "s" };
            if rows.len() < total {
                out.line(format!(
                    "{total} spawn site{plural} (showing {})",
                    rows.len()
                ));
            } else {
                out.line(format!("{total} spawn site{plural}"));
            }
            if !rows.is_empty() {
                out.write(sites_table(&rows));
            }
            Ok(())
        })
}

fn non_negative(args: &Args, name: &str) -> Result<usize, CommandError> {
    let value = args.get::<i64>(name).unwrap_or(0);
    usize::try_from(value).map_err(|_| {
        CommandError::new(format!(
            "invalid {name} {value} (expected 0 for all, or a positive count)"
        ))
    })
}

/// Orders site rows by one of [`SITE_KEYS`] (`busy` when `None`).
pub(crate) fn sort_sites(rows: &mut [SiteStats], key: Option<&str>) {
    use std::cmp::Reverse;
    match key {
        Some("polls") => rows.sort_by_key(|r| Reverse(r.polls)),
        Some("live") => rows.sort_by_key(|r| Reverse(r.live)),
        Some("spawned") => rows.sort_by_key(|r| Reverse(r.spawned)),
        Some("slow") => rows.sort_by_key(|r| Reverse(r.slow_polls)),
        Some("p99") => rows.sort_by_key(|r| Reverse(r.poll_time.p99_ns)),
        // Rows arrive sorted by location.
        Some("location") => {}
        _ => rows.sort_by_key(|r| Reverse(r.busy_ns)),
    }
}

/// A percentile as the bucket bound it is: `<1ms`, `<16.0ms`, or `≥16.384s`
/// for the last, open bucket; `-` when there is nothing to rank.
pub(crate) fn percentile(histogram: &Histogram, value: Option<u64>) -> String {
    let Some(ns) = value else {
        return "-".to_owned();
    };
    let open = histogram
        .buckets
        .last()
        .is_some_and(|last| last.to_ns.is_none() && last.from_ns == ns);
    let sign = if open { "≥" } else { "<" };
    format!("{sign}{}", duration_ns(ns))
}

fn sites_table(rows: &[SiteStats]) -> String {
    let mut table = render::table(&[
        "Location",
        "Name",
        "Live",
        "Spawned",
        "Ended ok/cancel/panic",
        "Polls",
        "Busy",
        "Slow",
        "Poll p50/p90/p99",
        "Lifetime p50/p99",
        "Future",
    ]);
    let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
    for row in rows {
        let poll = &row.poll_time;
        let life = &row.lifetime;
        let mut ended = format!(
            "{}/{}/{}",
            row.ended.completed, row.ended.cancelled, row.ended.panicked
        );
        if row.ended.unknown > 0 {
            let _ = write!(ended, " +{} ended", row.ended.unknown);
        }
        table.add_row(vec![
            Cell::new(
                row.location
                    .as_deref()
                    .map_or("(other sites)", render::short_location),
            ),
            Cell::new(row.name.as_deref().unwrap_or("-")),
            right(row.live.to_string()),
            right(row.spawned.to_string()),
            right(ended),
            right(row.polls.to_string()),
            right(duration_ns(row.busy_ns)),
            right(row.slow_polls.to_string()),
            Cell::new(format!(
                "{} {} {}",
                percentile(poll, poll.p50_ns),
                percentile(poll, poll.p90_ns),
                percentile(poll, poll.p99_ns)
            )),
            Cell::new(format!(
                "{} {}",
                percentile(life, life.p50_ns),
                percentile(life, life.p99_ns)
            )),
            right(
                row.largest_future
                    .map_or_else(|| "-".to_owned(), |b| format!("{b}B")),
            ),
        ]);
    }
    format!("{table}\n")
}

/// Bounds of `top --interval`: long enough to see a poll, short enough to
/// stay under the command's timeout.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// How long `top` actually waits between its samples. Under `cargo fuzz`
/// (which sets `cfg(fuzzing)`) never longer than the shortest interval:
/// a fuzzer types `t -i 3s` and a line of empty repeats at once, and
/// seconds of waiting per input would cut its executions a
/// hundredfold — and trip its hang detection — without reaching any more
/// code. The report still says what was asked and measures what passed.
fn sampling_wait(interval: Duration) -> Duration {
    if cfg!(fuzzing) {
        interval.min(MIN_INTERVAL)
    } else {
        interval
    }
}

fn top() -> Command<MonitorContext> {
    Command::new("top")
        .about(
            "The busiest tasks and spawn sites over an interval (default 1s): polls per \
             second and share of a worker thread (100% = one worker busy all the time).\n\n\
             Two samples are taken on the monitor's own thread, the interval apart; the \
             application is never paused. Tasks that ended in between count in their site. \
             monitor-cli top refreshes this full-screen.",
        )
        .arg(
            Arg::duration("interval")
                .long("interval")
                .short('i')
                .value_name("DURATION")
                .help("time between the two samples, 10ms to 60s (default 1s)"),
        )
        .arg(
            Arg::int("limit")
                .long("limit")
                .short('n')
                .value_name("N")
                .help("show at most N tasks and N sites (0 = all; default 10)"),
        )
        .arg(json_flag())
        .timeout(MAX_INTERVAL + Duration::from_secs(5))
        .local()
        .run_async(|ctx: &mut MonitorContext, args: &Args| {
            let introspect = Arc::clone(ctx.introspect());
            let interval = args.get::<Duration>("interval");
            let limit = args.get::<i64>("limit");
            let json = args.flag("json");
            async move {
                let interval = interval.unwrap_or(Duration::from_secs(1));
                if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
                    return Err(CommandError::new(format!(
                        "invalid interval {interval:?} (expected 10ms to 60s, e.g. 1s)"
                    )));
                }
                let limit = match limit {
                    None => 10,
                    Some(n) => usize::try_from(n).map_err(|_| {
                        CommandError::new(format!(
                            "invalid limit {n} (expected 0 for all, or a positive count)"
                        ))
                    })?,
                };
                let first = ActivitySample::take(&*introspect);
                async_io::Timer::after(sampling_wait(interval)).await;
                let second = ActivitySample::take(&*introspect);
                let report = first.top(&second, &*introspect, limit);
                if json {
                    return Ok(format!("{}\n", to_json(&report)?));
                }
                Ok(top_text(&report))
            }
        })
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn top_text(report: &TopReport) -> String {
    let mut text = format!(
        "Busiest over {}: {} task{} and {} site{} polled\n",
        duration_ns(report.interval_ns),
        report.tasks.len(),
        if report.tasks.len() == 1 { "" } else { "s" },
        report.sites.len(),
        if report.sites.len() == 1 { "" } else { "s" },
    );
    let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
    if !report.tasks.is_empty() {
        let mut table = render::table(&["Task ID", "Name", "Location", "Polls/s", "Worker"]);
        for task in &report.tasks {
            table.add_row(vec![
                right(task.id.to_string()),
                Cell::new(task.name.as_deref().unwrap_or("-")),
                Cell::new(render::short_location(&task.location)),
                right(format!("{:.0}", task.polls_per_second)),
                right(percent(task.worker_share)),
            ]);
        }
        let _ = writeln!(text, "{table}");
    }
    if !report.sites.is_empty() {
        let mut table = render::table(&["Site", "Name", "Live", "Spawned", "Polls/s", "Worker"]);
        for site in &report.sites {
            table.add_row(vec![
                Cell::new(
                    site.location
                        .as_deref()
                        .map_or("(other sites)", render::short_location),
                ),
                Cell::new(site.name.as_deref().unwrap_or("-")),
                right(site.live.to_string()),
                right(site.spawned.to_string()),
                right(format!("{:.0}", site.polls_per_second)),
                right(percent(site.worker_share)),
            ]);
        }
        let _ = writeln!(text, "{table}");
    }
    text
}

#[cfg(test)]
mod tests {
    use monitor_core::{LintId, LintSet};

    use super::FlaggedCount;

    #[test]
    fn the_flagged_line_counts_marks_most_severe_first_and_fits_the_width() {
        let mut count = FlaggedCount::default();
        assert_eq!(count.note(Some(100)), "", "nothing marked, no line");
        let everything: LintSet = LintId::ALL.into_iter().collect();
        for _ in 0..2 {
            count.add([LintId::LargeFuture].into_iter().collect());
        }
        count.add(everything);
        let one_line = count.note(None);
        assert_eq!(
            one_line,
            "Flagged: 1 stuck-worker (!SW), 1 blocking-poll (!BP), 1 never-yielded (!NY), \
             3 large-future (!LF), 1 leak-suspect (!LS) — see: lints\n"
        );
        let fitted = count.note(Some(60));
        assert!(fitted.lines().count() > 1, "{fitted}");
        for line in fitted.lines() {
            assert!(line.chars().count() <= 60, "{line:?}");
        }
        assert_eq!(
            fitted.split_whitespace().collect::<Vec<_>>(),
            one_line.split_whitespace().collect::<Vec<_>>(),
            "only the line breaks differ"
        );
    }
}
