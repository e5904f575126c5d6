//! Human-readable formatting shared by the console's commands.

use std::{borrow::Cow, fmt::Write as _};

/// Formats a duration the way the console prints ages and poll times:
/// `850ns`, `12.3µs`, `4.5ms`, `1.250s`, `02:05.300` (minutes), `3h04m`,
/// `2d03h`.
pub(crate) fn duration_ns(ns: u64) -> String {
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    const MIN: u64 = 60 * S;
    const H: u64 = 60 * MIN;
    const D: u64 = 24 * H;
    match ns {
        0..US => format!("{ns}ns"),
        US..MS => format!("{:.1}µs", ns as f64 / US as f64),
        MS..S => format!("{:.1}ms", ns as f64 / MS as f64),
        S..MIN => format!("{:.3}s", ns as f64 / S as f64),
        MIN..H => format!("{:02}:{:02}.{:03}", ns / MIN, ns % MIN / S, ns % S / MS),
        H..D => format!("{}h{:02}m", ns / H, ns % H / MIN),
        _ => format!("{}d{:02}h", ns / D, ns % D / H),
    }
}

/// A free-form field that must stay on one line — a task or thread name, a
/// spawn location, a panic message — as a text reply shows it: line breaks,
/// tabs and every other control character, and Unicode's line and paragraph
/// separators, are written as escapes (`\n`, `\r`, `\t`, `\xNN`,
/// `\u{2028}`).
///
/// These fields hold text the application's users may have chosen (a task
/// named after a request, a panic message quoting one). A raw line break in
/// one would start a line of the attacker's choosing in the reply: a fake
/// row, a fake answer, a fake `monitor >>>` prompt. Every text reply passes
/// such fields through here, table cells included; `--json` output escapes
/// them itself.
pub(crate) fn single_line(text: &str) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !text.contains(escaped) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => clean.push_str("\\n"),
            '\r' => clean.push_str("\\r"),
            '\t' => clean.push_str("\\t"),
            // Every other control character is below U+00A0: two digits do.
            c if c.is_control() => {
                let _ = write!(clean, "\\x{:02x}", u32::from(c));
            }
            c if escaped(c) => {
                let _ = write!(clean, "\\u{{{:04x}}}", u32::from(c));
            }
            c => clean.push(c),
        }
    }
    Cow::Owned(clean)
}

/// Busy time for a table or page. The default clock ticks every
/// millisecond, so below that the honest answer is "under a millisecond",
/// not `0ns`.
pub(crate) fn busy(ns: u64) -> String {
    if ns < 1_000_000 {
        "<1ms".to_owned()
    } else {
        duration_ns(ns)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{duration_ns, single_line};

    #[test]
    fn single_line_fields_show_line_breaks_and_controls_escaped() {
        assert_eq!(single_line("plain name ✓"), "plain name ✓");
        assert!(matches!(single_line("plain"), Cow::Borrowed(_)));
        assert_eq!(
            single_line("a\nmonitor >>> b\r\n\tc"),
            "a\\nmonitor >>> b\\r\\n\\tc"
        );
        assert_eq!(single_line("x\x1b[2J\u{85}"), "x\\x1b[2J\\x85");
        assert_eq!(single_line("p\u{2028}q\u{2029}"), "p\\u{2028}q\\u{2029}");
    }

    #[test]
    fn durations_read_naturally_at_every_scale() {
        assert_eq!(duration_ns(850), "850ns");
        assert_eq!(duration_ns(12_300), "12.3µs");
        assert_eq!(duration_ns(4_500_000), "4.5ms");
        assert_eq!(duration_ns(1_250_000_000), "1.250s");
        assert_eq!(duration_ns(125_300_000_000), "02:05.300");
        assert_eq!(
            duration_ns(3 * 3_600_000_000_000 + 4 * 60_000_000_000),
            "3h04m"
        );
        assert_eq!(
            duration_ns(2 * 86_400_000_000_000 + 3 * 3_600_000_000_000),
            "2d03h"
        );
    }
}
