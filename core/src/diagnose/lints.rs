//! Lints: what is wrong with the tasks right now, each with a stable id, an
//! explanation and a suggested fix.

use std::fmt;

use serde::Serialize;

use super::Thresholds;
use crate::{TaskId, TaskIntrospect, TaskSnapshot, TaskState};

/// The stable identifier of a lint, as printed and as accepted in scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LintId {
    /// A worker thread has been inside one poll for at least
    /// [`Thresholds::stuck_worker`].
    StuckWorker,
    /// A task has been inside one poll for at least
    /// [`Thresholds::slow_poll`] (and less than `stuck_worker`).
    BlockingPoll,
    /// A task is still in its first poll after [`Thresholds::never_yielded`].
    NeverYielded,
    /// A spawn site's future is at least [`Thresholds::large_future`] bytes.
    LargeFuture,
    /// A spawn site's live tasks only grew over [`Thresholds::leak_window`].
    LeakSuspect,
}

impl LintId {
    /// Every lint, most severe first.
    pub const ALL: [LintId; 5] = [
        LintId::StuckWorker,
        LintId::BlockingPoll,
        LintId::NeverYielded,
        LintId::LargeFuture,
        LintId::LeakSuspect,
    ];

    /// The id as text: `stuck-worker`, `blocking-poll`, `never-yielded`,
    /// `large-future`, `leak-suspect`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LintId::StuckWorker => "stuck-worker",
            LintId::BlockingPoll => "blocking-poll",
            LintId::NeverYielded => "never-yielded",
            LintId::LargeFuture => "large-future",
            LintId::LeakSuspect => "leak-suspect",
        }
    }

    /// How bad it is.
    pub const fn severity(self) -> Severity {
        match self {
            LintId::StuckWorker => Severity::Error,
            _ => Severity::Warning,
        }
    }

    /// One line: what the lint means.
    pub const fn explanation(self) -> &'static str {
        match self {
            LintId::StuckWorker => {
                "a worker thread is stuck inside one poll: every task queued on it waits"
            }
            LintId::BlockingPoll => {
                "a poll is running long: it holds its worker thread, so other tasks wait"
            }
            LintId::NeverYielded => {
                "a task has not returned from its first poll: it never reached an .await that waits"
            }
            LintId::LargeFuture => {
                "futures spawned here are large: each spawn allocates and moves that many bytes"
            }
            LintId::LeakSuspect => {
                "live tasks spawned here only grow: they are spawned faster than they end"
            }
        }
    }

    /// One line: what usually fixes it.
    pub const fn fix(self) -> &'static str {
        match self {
            LintId::StuckWorker | LintId::BlockingPoll => {
                "move blocking or CPU-heavy work off the async workers (spawn_blocking, a \
                 thread pool) or yield in long loops; `where ID` shows the task's await stack \
                 when available"
            }
            LintId::NeverYielded => {
                "look for a loop or a blocking call before the task's first real .await; \
                 `where ID` shows where it runs"
            }
            LintId::LargeFuture => {
                "Box::pin large sub-futures or big local buffers held across .await, so the \
                 task itself stays small"
            }
            LintId::LeakSuspect => {
                "check that these tasks can end: a missing timeout, a channel never closed, \
                 handles dropped without cancel; `ps -f LOCATION` lists them"
            }
        }
    }
}

impl fmt::Display for LintId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How bad a lint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// The application is harmed right now.
    Error,
    /// Worth a look.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What a lint is about: one task, or a spawn site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum LintSubject {
    /// A live task.
    Task {
        /// The task.
        id: TaskId,
        /// Its name.
        name: Option<String>,
        /// Its spawn site.
        location: String,
        /// The thread polling it, for poll lints.
        thread: Option<String>,
    },
    /// A spawn site.
    Site {
        /// The site, `file:line:column`; `None` for the overflow row.
        location: Option<String>,
        /// The name its tasks share, if they do.
        name: Option<String>,
    },
}

impl LintSubject {
    /// Whether `task` is what this lint is about: the task itself, or a
    /// task spawned at the flagged site.
    pub fn covers(&self, task: &TaskSnapshot) -> bool {
        match self {
            LintSubject::Task { id, .. } => *id == task.id,
            LintSubject::Site { location, .. } => location.as_deref() == Some(&task.location),
        }
    }
}

/// One lint firing now.
///
/// Serializes (`lints --json`) to
/// `{"id":"blocking-poll","severity":"warning","subject":{"kind":"task","id":7,…},
/// "message":"…","explanation":"…","fix":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Lint {
    /// Which lint.
    pub id: LintId,
    /// How bad.
    pub severity: Severity,
    /// What it is about.
    pub subject: LintSubject,
    /// What was observed, with the numbers.
    pub message: String,
    /// [`LintId::explanation`].
    pub explanation: &'static str,
    /// [`LintId::fix`].
    pub fix: &'static str,
}

impl Lint {
    fn new(id: LintId, subject: LintSubject, message: String) -> Self {
        Self {
            id,
            severity: id.severity(),
            subject,
            message,
            explanation: id.explanation(),
            fix: id.fix(),
        }
    }
}

/// Every lint that fires now for the tasks of `introspect`, most severe
/// first.
///
/// Task lints (`stuck-worker`, `blocking-poll`, `never-yielded`) come from
/// the live snapshots; site lints (`large-future`, `leak-suspect`) from the
/// registry's [`SiteTable`](crate::SiteTable), and are absent when the
/// introspector has none. Thresholds are the site table's, or the defaults.
///
/// ```
/// use monitor_core::{TaskOptions, TaskRegistry, lints};
///
/// let registry = TaskRegistry::new();
/// let big = registry.instrument(async { let buf = [0u8; 4096]; std::future::ready(()).await; buf.len() }, TaskOptions::new());
/// let fired = lints(&*registry);
/// assert_eq!(fired[0].id.as_str(), "large-future");
/// # drop(big);
/// ```
pub fn lints(introspect: &dyn TaskIntrospect) -> Vec<Lint> {
    let sites = introspect.sites();
    let thresholds = sites.map_or_else(Thresholds::default, |sites| sites.thresholds());
    let mut found = Vec::new();
    introspect.for_each_live(&mut |task| task_lints(&task, &thresholds, &mut found));
    if let Some(sites) = sites {
        for (location, name, size) in sites.large_sites(thresholds.large_future) {
            let message = format!(
                "futures spawned at {} are {size} bytes (threshold {})",
                location.as_deref().unwrap_or("(other sites)"),
                thresholds.large_future
            );
            found.push(Lint::new(
                LintId::LargeFuture,
                LintSubject::Site { location, name },
                message,
            ));
        }
        for (location, name, from, to) in sites.growing_sites() {
            let message = format!(
                "live tasks spawned at {} grew from {from} to {to} over the last {:?} \
                 without ever falling",
                location.as_deref().unwrap_or("(other sites)"),
                thresholds.leak_window
            );
            found.push(Lint::new(
                LintId::LeakSuspect,
                LintSubject::Site { location, name },
                message,
            ));
        }
    }
    found.sort_by(|a, b| {
        (a.severity, a.id)
            .cmp(&(b.severity, b.id))
            .then_with(|| subject_key(&a.subject).cmp(&subject_key(&b.subject)))
    });
    found
}

fn subject_key(subject: &LintSubject) -> (u64, Option<&str>) {
    match subject {
        LintSubject::Task { id, .. } => (id.as_u64(), None),
        LintSubject::Site { location, .. } => (0, location.as_deref()),
    }
}

fn task_lints(task: &TaskSnapshot, thresholds: &Thresholds, found: &mut Vec<Lint>) {
    let Some(poll_ns) = task.poll_ns.filter(|_| task.state == TaskState::Running) else {
        return;
    };
    let subject = || LintSubject::Task {
        id: task.id,
        name: task.name.clone(),
        location: task.location.clone(),
        thread: task.thread.clone(),
    };
    // Whole milliseconds read better than nanoseconds in a message.
    let took = format!(
        "{:?}",
        std::time::Duration::from_millis(poll_ns / 1_000_000)
    );
    let thread = task.thread.as_deref().unwrap_or("its worker");
    let ns = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if poll_ns >= ns(thresholds.stuck_worker) {
        found.push(Lint::new(
            LintId::StuckWorker,
            subject(),
            format!(
                "thread {thread} has been inside one poll of task {} ({}) for {took}",
                task.id,
                task.display_name()
            ),
        ));
    } else if poll_ns >= ns(thresholds.slow_poll) {
        found.push(Lint::new(
            LintId::BlockingPoll,
            subject(),
            format!(
                "task {} ({}) has been inside one poll for {took} on {thread}",
                task.id,
                task.display_name()
            ),
        ));
    }
    if task.polls <= 1 && poll_ns >= ns(thresholds.never_yielded) {
        found.push(Lint::new(
            LintId::NeverYielded,
            subject(),
            format!(
                "task {} ({}) has been in its first poll for {took}: it never yielded",
                task.id,
                task.display_name()
            ),
        ));
    }
}
