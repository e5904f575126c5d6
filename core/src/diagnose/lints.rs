//! Lints: what is wrong with the tasks right now, each with a stable id, an
//! explanation and a suggested fix.

use std::{collections::HashMap, fmt};

use serde::{Serialize, ser::SerializeSeq};

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

/// A set of lint ids: the lints that concern one task now.
///
/// A byte, so marking every row of a 100 000-task `ps` costs nothing to
/// keep; iterates and serializes (as `["blocking-poll","large-future"]`)
/// most severe first, in the order of [`LintId::ALL`].
///
/// ```
/// use monitor_core::{LintId, LintSet};
///
/// let mut set = LintSet::default();
/// set.insert(LintId::LargeFuture);
/// set.insert(LintId::BlockingPoll);
/// assert!(set.contains(LintId::LargeFuture));
/// assert_eq!(set.iter().collect::<Vec<_>>(), [LintId::BlockingPoll, LintId::LargeFuture]);
/// assert_eq!(serde_json::to_string(&set).unwrap(), r#"["blocking-poll","large-future"]"#);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LintSet(u8);

impl LintSet {
    const fn bit(id: LintId) -> u8 {
        1 << id as u8
    }

    /// Adds `id`.
    pub fn insert(&mut self, id: LintId) {
        self.0 |= Self::bit(id);
    }

    /// Whether `id` is in the set.
    pub const fn contains(self, id: LintId) -> bool {
        self.0 & Self::bit(id) != 0
    }

    /// Whether no lint is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many lints are in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The lints in the set, most severe first.
    pub fn iter(self) -> impl Iterator<Item = LintId> {
        LintId::ALL.into_iter().filter(move |id| self.contains(*id))
    }

    /// Both sets' lints.
    #[must_use]
    pub const fn union(self, other: LintSet) -> LintSet {
        LintSet(self.0 | other.0)
    }
}

impl FromIterator<LintId> for LintSet {
    fn from_iter<I: IntoIterator<Item = LintId>>(ids: I) -> Self {
        let mut set = LintSet::default();
        for id in ids {
            set.insert(id);
        }
        set
    }
}

impl Serialize for LintSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for id in self.iter() {
            seq.serialize_element(&id)?;
        }
        seq.end()
    }
}

/// Which lints concern each task, prepared once and then checked task by
/// task without allocating — what `ps` marks its rows with and what the
/// tokio-console bridge sends as a task field.
///
/// [`TaskLints::new`] reads the thresholds and the spawn sites that fire
/// `large-future` or `leak-suspect` (bounded by the number of sites);
/// [`TaskLints::of`] then tells, from one task's snapshot, the same lints
/// [`lints`] would report for that task: its poll lints from the snapshot
/// itself, the site lints of the site it was spawned at.
///
/// ```
/// use monitor_core::{LintId, TaskIntrospect, TaskLints, TaskOptions, TaskRegistry};
///
/// let registry = TaskRegistry::new();
/// let big = registry.instrument(async { let buf = [0u8; 4096]; std::future::ready(()).await; buf.len() }, TaskOptions::new());
/// let small = registry.instrument(async {}, TaskOptions::new());
/// let check = TaskLints::new(&*registry);
/// let of = |id| check.of(&registry.task(id).unwrap());
/// assert!(of(big.id()).contains(LintId::LargeFuture));
/// assert!(of(small.id()).is_empty());
/// # drop((big, small));
/// ```
#[derive(Debug, Clone)]
pub struct TaskLints {
    thresholds: Thresholds,
    /// Spawn site (`file:line:column`) → the site lints firing for it.
    sites: HashMap<String, LintSet>,
}

impl TaskLints {
    /// Reads the thresholds and the flagged spawn sites of `introspect`
    /// (none when it keeps no [`SiteTable`](crate::SiteTable)).
    pub fn new(introspect: &dyn TaskIntrospect) -> Self {
        let Some(sites) = introspect.sites() else {
            return Self {
                thresholds: Thresholds::default(),
                sites: HashMap::new(),
            };
        };
        let thresholds = sites.thresholds();
        let mut flagged: HashMap<String, LintSet> = HashMap::new();
        // The overflow row (no location) covers no task, as in
        // [`LintSubject::covers`].
        for (location, ..) in sites.large_sites(thresholds.large_future) {
            if let Some(location) = location {
                flagged
                    .entry(location)
                    .or_default()
                    .insert(LintId::LargeFuture);
            }
        }
        for (location, ..) in sites.growing_sites() {
            if let Some(location) = location {
                flagged
                    .entry(location)
                    .or_default()
                    .insert(LintId::LeakSuspect);
            }
        }
        Self {
            thresholds,
            sites: flagged,
        }
    }

    /// The thresholds the checks compare against.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The lints that concern `task` now: its poll lints, read from the
    /// snapshot, and the lints of its spawn site.
    pub fn of(&self, task: &TaskSnapshot) -> LintSet {
        let site = if self.sites.is_empty() {
            LintSet::default()
        } else {
            self.sites
                .get(task.location.as_str())
                .copied()
                .unwrap_or_default()
        };
        poll_lints(task, &self.thresholds).union(site)
    }
}

/// The task lints of `task`: `stuck-worker` or `blocking-poll`, and
/// `never-yielded`, all about a poll in progress.
fn poll_lints(task: &TaskSnapshot, thresholds: &Thresholds) -> LintSet {
    let mut set = LintSet::default();
    let Some(poll_ns) = task.poll_ns.filter(|_| task.state == TaskState::Running) else {
        return set;
    };
    let ns = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if poll_ns >= ns(thresholds.stuck_worker) {
        set.insert(LintId::StuckWorker);
    } else if poll_ns >= ns(thresholds.slow_poll) {
        set.insert(LintId::BlockingPoll);
    }
    if task.polls <= 1 && poll_ns >= ns(thresholds.never_yielded) {
        set.insert(LintId::NeverYielded);
    }
    set
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
    let fired = poll_lints(task, thresholds);
    if fired.is_empty() {
        return;
    }
    let subject = || LintSubject::Task {
        id: task.id,
        name: task.name.clone(),
        location: task.location.clone(),
        thread: task.thread.clone(),
    };
    // Whole milliseconds read better than nanoseconds in a message.
    let took = format!(
        "{:?}",
        std::time::Duration::from_millis(task.poll_ns.unwrap_or(0) / 1_000_000)
    );
    let thread = task.thread.as_deref().unwrap_or("its worker");
    for id in fired.iter() {
        let message = match id {
            LintId::StuckWorker => format!(
                "thread {thread} has been inside one poll of task {} ({}) for {took}",
                task.id,
                task.display_name()
            ),
            LintId::BlockingPoll => format!(
                "task {} ({}) has been inside one poll for {took} on {thread}",
                task.id,
                task.display_name()
            ),
            LintId::NeverYielded => format!(
                "task {} ({}) has been in its first poll for {took}: it never yielded",
                task.id,
                task.display_name()
            ),
            // Site lints are not poll lints.
            LintId::LargeFuture | LintId::LeakSuspect => continue,
        };
        found.push(Lint::new(id, subject(), message));
    }
}
