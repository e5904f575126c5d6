//! Task identifiers that are never reused.

use std::{
    fmt,
    num::NonZeroU64,
    str::FromStr,
    sync::atomic::{AtomicU64, Ordering},
};

use serde::{Deserialize, Serialize};

use crate::sync::CacheLine;

/// Identifies one task for the lifetime of the process.
///
/// Ids come from one process-wide counter, so they are unique across every
/// registry and every runtime in the process and are never handed out twice
/// (unlike Python's `id(task)`, which aiomonitor shows and which the
/// interpreter reuses once the task object is freed). Ids start at 1 and are
/// printed as plain integers, which is also what [`FromStr`] accepts.
///
/// ```
/// use monitor_core::TaskId;
///
/// let id: TaskId = "42".parse().unwrap();
/// assert_eq!(id.as_u64(), 42);
/// assert_eq!(id.to_string().parse::<TaskId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(NonZeroU64);

/// Written by every spawn: on lines of its own, so that it does not drag
/// read-mostly neighbours (the coarse clock every poll reads) along.
static NEXT_ID: CacheLine<AtomicU64> = CacheLine(AtomicU64::new(1));

impl TaskId {
    /// Takes the next id from the process-wide counter. Only the registry
    /// hands out ids: one it did not hand out names no task.
    pub(crate) fn next() -> Self {
        // Relaxed is enough: uniqueness comes from the atomic increment
        // itself, and no other memory is published through the counter.
        let raw = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        // A u64 counter incremented once per spawn cannot wrap in practice
        // (5.8 centuries at a billion spawns per second).
        Self(NonZeroU64::new(raw).expect("task id counter wrapped"))
    }

    /// How many ids have been handed out in this process so far: every task
    /// spawned or registered, in any registry or runtime (`/metrics`
    /// exports it as the spawned-tasks counter). Never decreases.
    pub fn issued() -> u64 {
        NEXT_ID.load(Ordering::Relaxed) - 1
    }

    /// The id as a plain integer.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }

    /// Rebuilds an id from [`TaskId::as_u64`]; `None` for zero, which no task
    /// ever has.
    pub fn from_u64(raw: u64) -> Option<Self> {
        NonZeroU64::new(raw).map(Self)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

/// Why a piece of text is not a [`TaskId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid task id {text:?} (expected a positive integer such as 42)")]
pub struct ParseTaskIdError {
    text: String,
}

impl FromStr for TaskId {
    type Err = ParseTaskIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        // Accept the `#42` spelling too: it is how ids read in tables.
        let digits = trimmed.strip_prefix('#').unwrap_or(trimmed);
        digits
            .parse::<u64>()
            .ok()
            .and_then(Self::from_u64)
            .ok_or_else(|| ParseTaskIdError { text: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_never_repeat_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..25_000).map(|_| TaskId::next()).collect::<Vec<_>>()))
            .collect();
        let mut seen = HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(seen.insert(id), "{id} handed out twice");
            }
        }
        assert_eq!(seen.len(), 100_000);
    }

    #[test]
    fn parse_rejects_non_ids_with_a_clear_message() {
        assert_eq!("7".parse::<TaskId>().unwrap().as_u64(), 7);
        assert_eq!("#7".parse::<TaskId>().unwrap().as_u64(), 7);
        for bad in ["", "0", "-1", "abc", "1.5", "99999999999999999999999"] {
            let err = bad.parse::<TaskId>().unwrap_err().to_string();
            assert!(err.contains("expected a positive integer"), "{err}");
        }
    }
}
