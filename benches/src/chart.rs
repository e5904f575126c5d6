//! The SVG chart of docs/PERFORMANCE.md: per-poll and per-spawn cost of
//! every system relative to its bare runtime, with the goals drawn in.

use std::path::Path;

use plotters::{coord::ranged1d::SegmentValue, prelude::*};

use crate::{summary::Summary, systems::BARE};

/// Ratios above this are drawn clipped (their label still says the real
/// value), so that a 6× system does not squash the 1.0–1.3 range where the
/// interesting differences are.
const CLIP: f64 = 3.0;

/// Writes the chart to `path`.
pub(crate) fn write(summary: &Summary, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut labels = Vec::new();
    let mut poll = Vec::new();
    let mut spawn = Vec::new();
    for (runtime, systems) in &summary.runtimes {
        let mut rows: Vec<_> = systems.iter().collect();
        rows.sort_by_key(|(name, _)| (name.as_str() != BARE, *name));
        for (system, figures) in rows {
            labels.push(format!("{runtime} / {system}"));
            poll.push(figures.poll_ratio);
            spawn.push(figures.spawn_ratio);
        }
    }

    let height = 140 + 34 * labels.len() as u32;
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "Cost relative to the bare runtime ({} workers; medians of {} alternating runs{})",
        summary.sizes.workers,
        summary.sizes.repetitions,
        if summary.quick { ", --quick" } else { "" }
    );
    let root = root.titled(&title, ("sans-serif", 20))?;
    let panels = root.split_evenly((1, 2));
    let specs = [
        (
            format!(
                "per poll: {} tasks × {} yield_now (goal ≤ 1.15)",
                summary.sizes.poll_tasks, summary.sizes.poll_yields
            ),
            &poll,
            1.15,
        ),
        (
            format!(
                "per spawn + completion: {} tasks (goal ≤ 1.25)",
                summary.sizes.spawn_tasks
            ),
            &spawn,
            1.25,
        ),
    ];
    for (panel, (caption, values, goal)) in panels.iter().zip(specs) {
        bars(panel, &caption, &labels, values, goal)?;
    }
    root.present()?;
    Ok(())
}

fn bars(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    labels: &[String],
    values: &[f64],
    goal: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = labels.len();
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let max = finite.fold(goal, f64::max).min(CLIP) * 1.12;
    // Row 0 is drawn at the bottom; list the first system at the top.
    let row = |i: usize| n - 1 - i;

    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(210)
        .build_cartesian_2d(0f64..max, (0usize..n).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|value| match value {
            SegmentValue::CenterOf(r) if *r < n => labels[n - 1 - r].clone(),
            _ => String::new(),
        })
        .x_desc("× bare")
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 13))
        .draw()?;

    chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
        let color = if labels[i].ends_with(BARE) {
            RGBColor(160, 160, 160)
        } else if labels[i].contains("tracked") {
            RGBColor(31, 119, 180)
        } else {
            RGBColor(255, 127, 14)
        };
        let end = if v.is_finite() { v.min(max) } else { 0.0 };
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(row(i))),
                (end, SegmentValue::Exact(row(i) + 1)),
            ],
            color.filled(),
        );
        bar.set_margin(4, 4, 0, 0);
        bar
    }))?;
    chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
        let text = if v.is_finite() {
            format!("{v:.2}×")
        } else {
            "n/a".to_owned()
        };
        // A bar that reaches the right edge (or is clipped there) carries
        // its label inside its end.
        let at = if !v.is_finite() {
            0.0
        } else if v > max * 0.86 {
            max * 0.86
        } else {
            v + max * 0.01
        };
        Text::new(
            text,
            (at, SegmentValue::CenterOf(row(i))),
            ("sans-serif", 12),
        )
    }))?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![
            (goal, SegmentValue::Exact(0)),
            (goal, SegmentValue::Exact(n)),
        ],
        RED.stroke_width(2),
    )))?;
    Ok(())
}
