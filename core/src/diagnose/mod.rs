//! Diagnostics over the tracked tasks: per-spawn-site statistics
//! ([`SiteTable`], [`SiteStats`]), lints ([`lints`]) and activity over an
//! interval ([`ActivitySample`], [`TopReport`]).
//!
//! Everything here is read from the registry by the monitor, or written
//! when a task is spawned, ends, or has a poll of at least a millisecond —
//! never on an ordinary poll. See `docs/LINTS.md` for what each lint means.

mod activity;
mod histogram;
mod lints;
mod sites;
mod thresholds;

pub use activity::{ActivitySample, SiteActivity, TaskActivity, TopReport};
pub use histogram::{Histogram, HistogramBucket};
pub use lints::{Lint, LintId, LintSet, LintSubject, Severity, TaskLints, lints};
pub use sites::{DEFAULT_MAX_SITES, EndCounts, SiteStats, SiteTable};
pub(crate) use sites::{EndReason, SiteRef};
pub use thresholds::{THRESHOLD_NAMES, ThresholdError, Thresholds};
