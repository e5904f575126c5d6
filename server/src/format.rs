//! Human-readable formatting shared by the console's commands.

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
    use super::duration_ns;

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
