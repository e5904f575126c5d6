//! Tables for `ps` and `ps-terminated`, and the text of `where`.
//!
//! Tables are laid out for the session's width: the columns holding
//! numbers and states keep their natural width, and the free-form ones
//! (names, spawn locations, panic messages, threads) share what is left,
//! each cut with `…` when it does not fit. Widths come from a first pass
//! over the rows that measures cells without keeping them, so a table can
//! then be written in chunks ([`Layout::row`] per task) and is never held
//! whole: `ps` over a million tasks costs the monitor what `ps --json` does.
//!
//! Whatever the width (even `--wide`), a free-form cell is cut at
//! [`FREE_CELL_CAP`] columns: one 64 KiB task name must not pad every row of
//! the table to 64 KiB. `where` and `--json` show such values whole.

use std::{
    borrow::Cow,
    fmt::{self, Write as _},
};

use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use monitor_core::{LintId, LintSet, TaskEnd, TaskSnapshot, TaskTrace};

use crate::format::{busy, duration_ns, single_line};

/// The widest a free-form cell (name, location, message, thread) gets in a
/// table, even with `--wide`.
pub(crate) const FREE_CELL_CAP: usize = 120;

/// Blank columns between two table columns.
const GAP: usize = 2;

/// How a column's cells are placed, and how they are shortened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fit {
    /// Numbers and durations: right-aligned, never cut.
    Number,
    /// Short fixed words (states): left-aligned, never cut.
    Word,
    /// Free text whose start matters (names, messages): cut at the end.
    Head,
    /// Paths, whose end matters (`file.rs:12:5`): cut at the start.
    Tail,
}

/// A bordered comfy-table with `header`, for the small tables of `sites`,
/// `lints` and `top` (a few hundred rows at most, so built whole).
pub(super) fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    table
}

impl Fit {
    fn flexible(self) -> bool {
        matches!(self, Fit::Head | Fit::Tail)
    }
}

/// One column: its header and how its cells fit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    header: &'static str,
    fit: Fit,
}

const fn column(header: &'static str, fit: Fit) -> Column {
    Column { header, fit }
}

/// The columns of `ps`.
pub(super) const LIVE_COLUMNS: [Column; 8] = [
    column("ID", Fit::Number),
    column("State", Fit::Word),
    column("Name", Fit::Head),
    column("Location", Fit::Tail),
    column("Age", Fit::Number),
    column("Polls", Fit::Number),
    column("Busy", Fit::Number),
    column("In poll", Fit::Head),
];

/// The columns of `ps-terminated`.
pub(super) const TERMINATED_COLUMNS: [Column; 6] = [
    column("ID", Fit::Number),
    column("Name", Fit::Head),
    column("Ended", Fit::Head),
    column("Location", Fit::Tail),
    column("Lifetime", Fit::Number),
    column("Ended ago", Fit::Number),
];

/// The display width of `text` in a terminal's columns.
pub(super) fn text_width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Collects the natural width of every column over the rows of a table,
/// without keeping the rows.
#[derive(Debug, Clone)]
pub(super) struct Measure {
    columns: &'static [Column],
    widths: Vec<usize>,
}

impl Measure {
    pub(super) fn new(columns: &'static [Column]) -> Self {
        Self {
            columns,
            widths: columns.iter().map(|c| text_width(c.header)).collect(),
        }
    }

    /// Takes one row's cells into account.
    pub(super) fn row(&mut self, cells: &[&str]) {
        for ((width, cell), column) in self.widths.iter_mut().zip(cells).zip(self.columns) {
            let mut cell_width = text_width(cell);
            if column.fit.flexible() {
                cell_width = cell_width.min(FREE_CELL_CAP);
            }
            *width = (*width).max(cell_width);
        }
    }

    /// Fixes the column widths for a session `width` columns wide (`None`:
    /// as wide as the cells need, as with `--wide`).
    ///
    /// The fixed columns keep their natural width; the flexible ones share
    /// the rest, the narrow ones first keeping all they need (so a short
    /// name column is never cut to make room for a long path it does not
    /// compete with). A flexible column gets at least its header's width,
    /// so an impossibly narrow session gets a table a little too wide
    /// rather than one of unreadable stubs.
    pub(super) fn layout(self, width: Option<usize>) -> Layout {
        let Self {
            columns,
            mut widths,
        } = self;
        if let Some(total) = width {
            let fixed: usize = columns
                .iter()
                .zip(&widths)
                .filter(|(c, _)| !c.fit.flexible())
                .map(|(_, w)| *w)
                .sum();
            let gaps = GAP * columns.len().saturating_sub(1);
            let mut room = total.saturating_sub(fixed + gaps);
            let mut flexible: Vec<usize> = (0..columns.len())
                .filter(|&i| columns[i].fit.flexible())
                .collect();
            flexible.sort_by_key(|&i| widths[i]);
            let mut left = flexible.len();
            for i in flexible {
                let share = room / left;
                let minimum = text_width(columns[i].header);
                widths[i] = widths[i].min(share).max(minimum);
                room = room.saturating_sub(widths[i]);
                left -= 1;
            }
        }
        Layout { columns, widths }
    }
}

/// Column widths fixed for one table: writes its header and rows.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    columns: &'static [Column],
    widths: Vec<usize>,
}

impl Layout {
    /// The header and the rule under it.
    pub(super) fn header(&self, out: &mut String) {
        let headers: Vec<&str> = self.columns.iter().map(|c| c.header).collect();
        self.row(&headers, out);
        let rules: Vec<String> = self.widths.iter().map(|w| "─".repeat(*w)).collect();
        let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
        self.row(&rules, out);
    }

    /// One row, each cell padded or cut to its column's width.
    ///
    /// A cell that is never cut (a number, a state with its lint marks) may
    /// be wider than its column when the task changed between measuring
    /// and writing (it started a poll, a lint began to fire); the flexible
    /// cells after it give up that room, so the row still fits.
    pub(super) fn row(&self, cells: &[&str], out: &mut String) {
        let start = out.len();
        // Columns taken by never-cut cells beyond their column's width.
        let mut debt = 0;
        for (i, ((cell, column), &width)) in
            cells.iter().zip(self.columns).zip(&self.widths).enumerate()
        {
            if i > 0 {
                out.push_str(&" ".repeat(GAP));
            }
            let room = if column.fit.flexible() {
                width.saturating_sub(debt).max(1)
            } else {
                width
            };
            let cell = fit(cell, room, column.fit);
            let used = text_width(&cell).max(room);
            debt = (debt + used).saturating_sub(width);
            let pad = room.saturating_sub(text_width(&cell));
            if column.fit == Fit::Number {
                push_spaces(out, pad);
                out.push_str(&cell);
            } else {
                out.push_str(&cell);
                push_spaces(out, pad);
            }
        }
        // No trailing blanks: they would wrap a terminal exactly as wide.
        let end = out[start..].trim_end().len() + start;
        out.truncate(end);
        out.push('\n');
    }
}

fn push_spaces(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// `text` shortened to `width` columns with `…` where it was cut (its end
/// for [`Fit::Head`], its start for [`Fit::Tail`]); numbers and words are
/// never cut.
pub(super) fn fit(text: &str, width: usize, how: Fit) -> Cow<'_, str> {
    if text_width(text) <= width || !how.flexible() {
        return Cow::Borrowed(text);
    }
    let room = width.saturating_sub(1);
    let mut used = 0;
    let mut keep = |c: &char| {
        used += c.width().unwrap_or(0);
        used <= room
    };
    match how {
        Fit::Tail => {
            let tail: Vec<char> = text.chars().rev().take_while(&mut keep).collect();
            let mut cut = String::with_capacity(tail.len() + 3);
            cut.push('…');
            cut.extend(tail.into_iter().rev());
            Cow::Owned(cut)
        }
        _ => {
            let mut cut: String = text.chars().take_while(&mut keep).collect();
            cut.push('…');
            Cow::Owned(cut)
        }
    }
}

/// Shortens a spawn location for a table to the crate's directory and the
/// path inside it: `adapters/tokio/examples/demo.rs:71:47` becomes
/// `tokio/examples/demo.rs:71:47`, a path in the cargo registry
/// `tokio-1.48.0/src/…`. The crate's directory is the one before the first
/// `src`, `examples`, `tests` or `benches` component; a path without one is
/// kept as it is.
pub(super) fn short_location(location: &str) -> &str {
    const REGISTRY: &str = "/.cargo/registry/src/";
    let location = match location.find(REGISTRY) {
        // Skip the registry's `index.crates.io-…/` directory as well.
        Some(at) => {
            let rest = &location[at + REGISTRY.len()..];
            rest.split_once('/').map_or(rest, |(_, rest)| rest)
        }
        None => location,
    };
    let mut previous: Option<usize> = None;
    let mut start = 0;
    for (at, _) in location
        .match_indices('/')
        .chain(std::iter::once((location.len(), "")))
    {
        let component = &location[start..at];
        if matches!(component, "src" | "examples" | "tests" | "benches") {
            return match previous {
                Some(crate_dir) => &location[crate_dir..],
                None => location,
            };
        }
        if !component.is_empty() {
            previous = Some(start);
        }
        start = at + 1;
    }
    location
}

/// The short code `ps` marks a row with for lint `id`, after a `!` in its
/// State cell (`running !BP`); the `Flagged:` line under the table spells
/// the codes out.
pub(super) fn lint_code(id: LintId) -> &'static str {
    match id {
        LintId::StuckWorker => "SW",
        LintId::BlockingPoll => "BP",
        LintId::NeverYielded => "NY",
        LintId::LargeFuture => "LF",
        LintId::LeakSuspect => "LS",
        // A lint added to the core later still marks the row.
        _ => "?",
    }
}

/// A task's state with its lint marks: `idle`, `running !BP,NY`.
fn state_cell(task: &TaskSnapshot, lints: LintSet) -> Cow<'static, str> {
    let state = task.state.as_str();
    if lints.is_empty() {
        return Cow::Borrowed(state);
    }
    let mut cell = String::with_capacity(state.len() + 2 + 3 * lints.len());
    cell.push_str(state);
    cell.push_str(" !");
    for (i, id) in lints.iter().enumerate() {
        if i > 0 {
            cell.push(',');
        }
        cell.push_str(lint_code(id));
    }
    Cow::Owned(cell)
}

/// The cells of one `ps` row.
pub(super) struct LiveRow<'a> {
    id: String,
    state: Cow<'static, str>,
    name: Cow<'a, str>,
    location: Cow<'a, str>,
    age: String,
    polls: String,
    busy: String,
    in_poll: String,
}

impl<'a> LiveRow<'a> {
    /// The row of `task`, marked with the lints that concern it.
    pub(super) fn new(task: &'a TaskSnapshot, lints: LintSet) -> Self {
        let in_poll = match (task.poll_ns, &task.thread) {
            (Some(ns), Some(thread)) => {
                format!("{} on {}", duration_ns(ns), single_line(thread))
            }
            (Some(ns), None) => duration_ns(ns),
            _ => "-".to_owned(),
        };
        Self {
            id: task.id.to_string(),
            state: state_cell(task, lints),
            // Shown escaped: a newline in a name must not forge a line.
            name: single_line(task.display_name()),
            location: single_line(short_location(&task.location)),
            age: duration_ns(task.age_ns),
            polls: task.polls.to_string(),
            busy: busy(task.busy_ns),
            in_poll,
        }
    }

    pub(super) fn with_cells<T>(&self, f: impl FnOnce(&[&str]) -> T) -> T {
        f(&[
            &self.id,
            &self.state,
            &self.name,
            &self.location,
            &self.age,
            &self.polls,
            &self.busy,
            &self.in_poll,
        ])
    }
}

/// The cells of one `ps-terminated` row.
fn terminated_cells(task: &TaskSnapshot) -> [String; 6] {
    let ended = match &task.ended {
        Some(TaskEnd::Panicked { message }) => format!("panicked: {message}"),
        Some(end) => end.to_string(),
        None => "-".to_owned(),
    };
    [
        task.id.to_string(),
        single_line(task.display_name()).into_owned(),
        single_line(&ended).into_owned(),
        single_line(short_location(&task.location)).into_owned(),
        duration_ns(task.age_ns),
        duration_ns(task.ended_ago_ns.unwrap_or(0)),
    ]
}

/// The `ps-terminated` table. The history is bounded, so it is built
/// whole.
pub(super) fn terminated_table(tasks: &[TaskSnapshot], width: Option<usize>) -> String {
    let rows: Vec<[String; 6]> = tasks.iter().map(terminated_cells).collect();
    let mut measure = Measure::new(&TERMINATED_COLUMNS);
    for row in &rows {
        measure.row(&row.each_ref().map(String::as_str));
    }
    let layout = measure.layout(width);
    let mut out = String::new();
    layout.header(&mut out);
    for row in &rows {
        layout.row(&row.each_ref().map(String::as_str), &mut out);
    }
    out
}

/// The text of `where`: state, current poll, creation chain and await stack.
pub(super) fn trace(trace: &TaskTrace) -> String {
    let mut out = String::new();
    write_trace(&mut out, trace).expect("writing to a String cannot fail");
    out
}

fn write_trace(out: &mut String, trace: &TaskTrace) -> fmt::Result {
    let task = &trace.task;
    writeln!(
        out,
        "Task {} ({}) is {}",
        task.id,
        single_line(task.display_name()),
        task.state
    )?;
    if let Some(poll_ns) = task.poll_ns {
        writeln!(
            out,
            "  inside poll #{} for {} on thread {}",
            task.polls,
            duration_ns(poll_ns),
            single_line(task.thread.as_deref().unwrap_or("?"))
        )?;
    }
    if let Some(ended) = &task.ended {
        writeln!(out, "  ended: {}", single_line(&ended.to_string()))?;
    }
    writeln!(out, "Creation chain (root first):")?;
    let mut depth = 0;
    for frame in &trace.ancestors {
        let mut line = String::new();
        let _ = write!(
            line,
            "{:indent$}task {} ({})",
            "",
            frame.id,
            single_line(frame.name.as_deref().unwrap_or("-")),
            indent = 2 + depth * 2
        );
        match (&frame.location, frame.state) {
            (Some(location), Some(state)) => {
                let _ = write!(line, " spawned at {} [{state}]", single_line(location));
            }
            _ => line.push_str(" [no longer recorded]"),
        }
        writeln!(out, "{line}")?;
        depth += 1;
    }
    writeln!(
        out,
        "{:indent$}task {} ({}) spawned at {}",
        "",
        task.id,
        single_line(task.display_name()),
        single_line(&task.location),
        indent = 2 + depth * 2
    )?;
    trace.write_await_stacks(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_shown_from_the_crate_directory() {
        assert_eq!(
            short_location("adapters/tokio/examples/demo.rs:71:47"),
            "tokio/examples/demo.rs:71:47"
        );
        assert_eq!(
            short_location(
                "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.48.0/src/runtime/task/mod.rs:3:1"
            ),
            "tokio-1.48.0/src/runtime/task/mod.rs:3:1"
        );
        assert_eq!(
            short_location("server/tests/server_sessions.rs:9:1"),
            "server/tests/server_sessions.rs:9:1"
        );
        assert_eq!(short_location("src/main.rs:1:1"), "src/main.rs:1:1");
        assert_eq!(short_location("main.rs:1:1"), "main.rs:1:1");
    }

    #[test]
    fn names_lose_their_end_and_paths_their_start() {
        assert_eq!(fit("waits-forever", 8, Fit::Head), "waits-f…");
        assert_eq!(fit("tokio/src/lib.rs:1:2", 10, Fit::Tail), "…ib.rs:1:2");
        assert_eq!(fit("short", 8, Fit::Head), "short");
        assert_eq!(fit("123456789", 3, Fit::Number), "123456789");
        // Wide characters count two columns each.
        assert_eq!(fit("日本語の名前", 7, Fit::Head), "日本語…");
    }

    #[test]
    fn flexible_columns_share_the_width_narrow_first() {
        let mut measure = Measure::new(&LIVE_COLUMNS);
        let long_path = format!("app/src/{}.rs:1:1", "deep/".repeat(30));
        measure.row(&["12", "idle", "ticker", &long_path, "1.0s", "3", "<1ms", "-"]);
        let layout = measure.layout(Some(80));
        let mut out = String::new();
        layout.header(&mut out);
        layout.row(
            &["12", "idle", "ticker", &long_path, "1.0s", "3", "<1ms", "-"],
            &mut out,
        );
        for line in out.lines() {
            assert!(
                text_width(line) <= 80,
                "{line:?} is {} wide",
                text_width(line)
            );
        }
        assert!(out.contains("ticker"), "{out}");
        assert!(
            out.contains("  …deep/") && out.contains("deep/.rs:1:1  "),
            "{out}"
        );
    }

    #[test]
    fn a_state_cell_grown_since_measuring_takes_its_room_from_the_name() {
        let path = format!("app/src/{}.rs:1:1", "deep/".repeat(30));
        let measured = ["7", "idle", "handler", &path, "1.0s", "3", "<1ms", "-"];
        let mut measure = Measure::new(&LIVE_COLUMNS);
        measure.row(&measured);
        let layout = measure.layout(Some(80));
        // Between measuring and writing, a poll started and two lints fired.
        let written = [
            "7",
            "running !SW,NY",
            "handler",
            &path,
            "1.0s",
            "3",
            "<1ms",
            "2.0s on worker-1",
        ];
        let mut out = String::new();
        layout.header(&mut out);
        layout.row(&written, &mut out);
        for line in out.lines() {
            assert!(
                text_width(line) <= 80,
                "{line:?} is {} wide",
                text_width(line)
            );
        }
        assert!(out.contains("running !SW,NY"), "{out}");
    }

    #[test]
    fn rows_are_marked_with_the_codes_of_their_lints() {
        let registry = monitor_core::TaskRegistry::new();
        let task = registry.register(monitor_core::TaskOptions::new());
        let snapshot = monitor_core::TaskIntrospect::task(&*registry, task.id()).unwrap();
        assert_eq!(state_cell(&snapshot, LintSet::default()), "idle");
        let lints: LintSet = [LintId::LeakSuspect, LintId::LargeFuture]
            .into_iter()
            .collect();
        assert_eq!(state_cell(&snapshot, lints), "idle !LF,LS");
    }

    #[test]
    fn a_huge_cell_is_capped_even_when_wide() {
        let name = "n".repeat(65_536);
        let mut measure = Measure::new(&LIVE_COLUMNS);
        measure.row(&["1", "idle", &name, "a.rs:1:1", "1s", "1", "<1ms", "-"]);
        let layout = measure.layout(None);
        let mut out = String::new();
        layout.row(
            &["1", "idle", &name, "a.rs:1:1", "1s", "1", "<1ms", "-"],
            &mut out,
        );
        assert!(out.len() < 300, "{} bytes", out.len());
        assert!(out.contains('…'));
    }
}
