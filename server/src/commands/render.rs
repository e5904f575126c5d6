//! Tables for `ps` and `ps-terminated`.

use std::fmt::{self, Write as _};

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};

use monitor_core::{TaskEnd, TaskSnapshot, TaskTrace};

use crate::format::{busy, duration_ns};

pub(super) fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    table
}

/// Shortens a spawn location for a table: paths inside the cargo registry
/// lose the registry prefix (`…/tokio-1.48.0/src/…`).
pub(super) fn short_location(location: &str) -> String {
    match location.find("/.cargo/registry/src/") {
        Some(start) => {
            let rest = &location[start + "/.cargo/registry/src/".len()..];
            // Skip the `index.crates.io-…/` directory.
            let rest = rest.split_once('/').map_or(rest, |(_, rest)| rest);
            format!("<cargo>/{rest}")
        }
        None => location.to_owned(),
    }
}

pub(super) fn live_table(tasks: &[TaskSnapshot]) -> String {
    let mut table = table(&[
        "Task ID", "State", "Name", "Location", "Age", "Polls", "Busy", "In poll",
    ]);
    for task in tasks {
        let in_poll = match (task.poll_ns, &task.thread) {
            (Some(ns), Some(thread)) => format!("{} on {thread}", duration_ns(ns)),
            (Some(ns), None) => duration_ns(ns),
            _ => "-".to_owned(),
        };
        table.add_row(vec![
            Cell::new(task.id).set_alignment(CellAlignment::Right),
            Cell::new(task.state),
            Cell::new(task.display_name()),
            Cell::new(short_location(&task.location)),
            Cell::new(duration_ns(task.age_ns)).set_alignment(CellAlignment::Right),
            Cell::new(task.polls).set_alignment(CellAlignment::Right),
            Cell::new(busy(task.busy_ns)).set_alignment(CellAlignment::Right),
            Cell::new(in_poll),
        ]);
    }
    format!("{table}\n")
}

pub(super) fn terminated_table(tasks: &[TaskSnapshot]) -> String {
    let mut table = table(&[
        "Task ID",
        "Name",
        "Ended",
        "Location",
        "Lifetime",
        "Ended ago",
    ]);
    for task in tasks {
        let ended = match &task.ended {
            Some(TaskEnd::Panicked { message }) => {
                let mut short: String = message.chars().take(60).collect();
                if short.len() < message.len() {
                    short.push('…');
                }
                format!("panicked: {short}")
            }
            Some(end) => end.to_string(),
            None => "-".to_owned(),
        };
        table.add_row(vec![
            Cell::new(task.id).set_alignment(CellAlignment::Right),
            Cell::new(task.display_name()),
            Cell::new(ended),
            Cell::new(short_location(&task.location)),
            Cell::new(duration_ns(task.age_ns)).set_alignment(CellAlignment::Right),
            Cell::new(duration_ns(task.ended_ago_ns.unwrap_or(0)))
                .set_alignment(CellAlignment::Right),
        ]);
    }
    format!("{table}\n")
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
        task.display_name(),
        task.state
    )?;
    if let Some(poll_ns) = task.poll_ns {
        writeln!(
            out,
            "  inside poll #{} for {} on thread {}",
            task.polls,
            duration_ns(poll_ns),
            task.thread.as_deref().unwrap_or("?")
        )?;
    }
    if let Some(ended) = &task.ended {
        writeln!(out, "  ended: {ended}")?;
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
            frame.name.as_deref().unwrap_or("-"),
            indent = 2 + depth * 2
        );
        match (&frame.location, frame.state) {
            (Some(location), Some(state)) => {
                let _ = write!(line, " spawned at {location} [{state}]");
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
        task.display_name(),
        task.location,
        indent = 2 + depth * 2
    )?;
    match &trace.stack {
        Some(stack) => {
            writeln!(out, "Stack:")?;
            for line in stack.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        None => writeln!(
            out,
            "(no await stack: this runtime adapter does not capture one)"
        )?,
    }
    Ok(())
}
