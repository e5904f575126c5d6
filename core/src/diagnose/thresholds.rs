//! When a lint fires: thresholds set on the registry builder and changeable
//! at run time.

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use serde::Serialize;

use crate::dispatch::parse_duration;

/// The thresholds the lints compare against.
///
/// Set them when building the registry
/// ([`TaskRegistryBuilder::thresholds`](crate::TaskRegistryBuilder::thresholds))
/// or at run time, by name, with [`SiteTable::set_threshold`](crate::SiteTable::set_threshold)
/// (the console's `lints --set slow-poll=20ms`).
///
/// ```
/// use std::time::Duration;
/// use monitor_core::{TaskRegistry, Thresholds};
///
/// let mut thresholds = Thresholds::default();
/// thresholds.slow_poll = Duration::from_millis(25);
/// let registry = TaskRegistry::builder().thresholds(thresholds).build();
/// assert_eq!(registry.sites().thresholds().slow_poll, Duration::from_millis(25));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Thresholds {
    /// `blocking-poll`: a task inside one poll for this long now (default
    /// 10 ms). Also the bound above which a finished poll counts as slow in
    /// the per-site statistics.
    pub slow_poll: Duration,
    /// `stuck-worker`: a worker thread inside one poll for this long
    /// (default 100 ms).
    pub stuck_worker: Duration,
    /// `never-yielded`: a task still inside its first poll after this long
    /// (default 1 s).
    pub never_yielded: Duration,
    /// `large-future`: a spawn site whose future is at least this many bytes
    /// (default 1024).
    pub large_future: u64,
    /// `leak-suspect`: the window over which a site's live tasks must only
    /// have grown (default 60 s). The live count is sampled 16 times per
    /// window.
    pub leak_window: Duration,
    /// `leak-suspect`: how many more live tasks a site must have at the end
    /// of the window than at its start (default 10).
    pub leak_growth: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            slow_poll: Duration::from_millis(10),
            stuck_worker: Duration::from_millis(100),
            never_yielded: Duration::from_secs(1),
            large_future: 1024,
            leak_window: Duration::from_secs(60),
            leak_growth: 10,
        }
    }
}

/// The names [`Thresholds`] are set by, in the order they are listed.
pub const THRESHOLD_NAMES: [&str; 6] = [
    "slow-poll",
    "stuck-worker",
    "never-yielded",
    "large-future",
    "leak-window",
    "leak-growth",
];

/// Why a threshold could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    /// No threshold has this name.
    #[error("unknown threshold {name:?} (expected one of: {})", THRESHOLD_NAMES.join(", "))]
    UnknownName {
        /// The name given.
        name: String,
    },
    /// The value does not parse for this threshold.
    #[error("invalid value {value:?} for {name} (expected {expected})")]
    InvalidValue {
        /// The threshold.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
}

const DURATION: &str = "a duration above zero such as 10ms, 1s or 1m";
const BYTES: &str = "a size in bytes such as 1024, 4KiB or 1MiB";
const COUNT: &str = "a whole number of tasks above zero such as 10";

impl Thresholds {
    /// Each threshold as `(name, value)` in the form [`Thresholds::set`]
    /// accepts back: `("slow-poll", "10ms")`, `("large-future", "1KiB")`, …
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("slow-poll", format_duration(self.slow_poll)),
            ("stuck-worker", format_duration(self.stuck_worker)),
            ("never-yielded", format_duration(self.never_yielded)),
            ("large-future", format_bytes(self.large_future)),
            ("leak-window", format_duration(self.leak_window)),
            ("leak-growth", self.leak_growth.to_string()),
        ]
    }

    /// Sets one threshold by name from text (`"slow-poll"`, `"20ms"`).
    ///
    /// # Errors
    ///
    /// [`ThresholdError`] naming the accepted names or values; `self` is
    /// unchanged then.
    ///
    /// ```
    /// use monitor_core::Thresholds;
    ///
    /// let mut thresholds = Thresholds::default();
    /// thresholds.set("large-future", "4KiB").unwrap();
    /// assert_eq!(thresholds.large_future, 4096);
    /// assert!(thresholds.set("slow-poll", "soon").is_err());
    /// ```
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ThresholdError> {
        let invalid = |name: &'static str, expected: &'static str| ThresholdError::InvalidValue {
            name,
            value: value.to_owned(),
            expected,
        };
        let duration = |name: &'static str| {
            parse_duration(value)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid(name, DURATION))
        };
        match name {
            "slow-poll" => self.slow_poll = duration("slow-poll")?,
            "stuck-worker" => self.stuck_worker = duration("stuck-worker")?,
            "never-yielded" => self.never_yielded = duration("never-yielded")?,
            "leak-window" => self.leak_window = duration("leak-window")?,
            "large-future" => {
                self.large_future =
                    parse_bytes(value).ok_or_else(|| invalid("large-future", BYTES))?
            }
            "leak-growth" => {
                self.leak_growth = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid("leak-growth", COUNT))?
            }
            other => {
                return Err(ThresholdError::UnknownName {
                    name: other.to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for Thresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.settings().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(scale)
}

fn format_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 && b.is_multiple_of(1024 * 1024) => {
            format!("{}MiB", b / (1024 * 1024))
        }
        b if b >= 1024 && b.is_multiple_of(1024) => format!("{}KiB", b / 1024),
        b => b.to_string(),
    }
}

fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// [`Thresholds`] shared between the threads that read them (the poll path
/// reads `slow_poll` when a poll took a millisecond or more) and the console
/// that changes them.
#[derive(Debug)]
pub(crate) struct SharedThresholds {
    slow_poll_ns: AtomicU64,
    stuck_worker_ns: AtomicU64,
    never_yielded_ns: AtomicU64,
    large_future: AtomicU64,
    leak_window_ns: AtomicU64,
    leak_growth: AtomicU64,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl SharedThresholds {
    pub(crate) fn new(thresholds: Thresholds) -> Self {
        let shared = Self {
            slow_poll_ns: AtomicU64::new(0),
            stuck_worker_ns: AtomicU64::new(0),
            never_yielded_ns: AtomicU64::new(0),
            large_future: AtomicU64::new(0),
            leak_window_ns: AtomicU64::new(0),
            leak_growth: AtomicU64::new(0),
        };
        shared.store(thresholds);
        shared
    }

    pub(crate) fn store(&self, t: Thresholds) {
        self.slow_poll_ns.store(ns(t.slow_poll), Ordering::Relaxed);
        self.stuck_worker_ns
            .store(ns(t.stuck_worker), Ordering::Relaxed);
        self.never_yielded_ns
            .store(ns(t.never_yielded), Ordering::Relaxed);
        self.large_future.store(t.large_future, Ordering::Relaxed);
        self.leak_window_ns
            .store(ns(t.leak_window), Ordering::Relaxed);
        self.leak_growth.store(t.leak_growth, Ordering::Relaxed);
    }

    pub(crate) fn load(&self) -> Thresholds {
        Thresholds {
            slow_poll: Duration::from_nanos(self.slow_poll_ns.load(Ordering::Relaxed)),
            stuck_worker: Duration::from_nanos(self.stuck_worker_ns.load(Ordering::Relaxed)),
            never_yielded: Duration::from_nanos(self.never_yielded_ns.load(Ordering::Relaxed)),
            large_future: self.large_future.load(Ordering::Relaxed),
            leak_window: Duration::from_nanos(self.leak_window_ns.load(Ordering::Relaxed)),
            leak_growth: self.leak_growth.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn slow_poll_ns(&self) -> u64 {
        self.slow_poll_ns.load(Ordering::Relaxed)
    }

    pub(crate) fn leak_window_ns(&self) -> u64 {
        self.leak_window_ns.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_set() {
        let custom = Thresholds {
            slow_poll: Duration::from_micros(2500),
            large_future: 3 * 1024,
            leak_growth: 7,
            ..Thresholds::default()
        };
        let mut parsed = Thresholds::default();
        for (name, value) in custom.settings() {
            parsed.set(name, &value).unwrap();
        }
        assert_eq!(parsed, custom);
        assert_eq!(
            Thresholds::default().to_string(),
            "slow-poll=10ms stuck-worker=100ms never-yielded=1s large-future=1KiB \
             leak-window=60s leak-growth=10"
        );
    }

    #[test]
    fn bad_names_and_values_say_what_is_accepted() {
        let mut t = Thresholds::default();
        let err = t.set("slowpoll", "1ms").unwrap_err().to_string();
        assert!(err.contains("slow-poll, stuck-worker"), "{err}");
        let err = t.set("slow-poll", "0ms").unwrap_err().to_string();
        assert!(err.contains("above zero"), "{err}");
        assert!(t.set("large-future", "12 parsecs").is_err());
        assert!(t.set("leak-growth", "-3").is_err());
        assert_eq!(t, Thresholds::default());
    }
}
