//! `top`: which tasks and sites were busiest between two samples.

use std::collections::HashMap;

use serde::Serialize;

use crate::{TaskId, TaskIntrospect, clock::precise_now_ns};

/// Polls and busy time of every live task and every spawn site at one
/// moment; two of them make a [`TopReport`].
///
/// Taking a sample only reads the registry (the same snapshots `ps` uses),
/// so it never waits for the application's runtime. Memory: two integers
/// per live task and per site.
#[derive(Debug, Clone)]
pub struct ActivitySample {
    at_ns: u64,
    tasks: HashMap<TaskId, (u64, u64)>,
    sites: HashMap<Option<String>, SiteTotals>,
}

#[derive(Debug, Clone, Default)]
struct SiteTotals {
    name: Option<String>,
    live: u64,
    spawned: u64,
    polls: u64,
    busy_ns: u64,
}

impl ActivitySample {
    /// Samples `introspect` now.
    pub fn take(introspect: &dyn TaskIntrospect) -> Self {
        let at_ns = precise_now_ns();
        let mut tasks = HashMap::new();
        let mut sites = HashMap::new();
        let mut record = |task: &crate::TaskSnapshot| {
            tasks.insert(task.id, (task.polls, task.busy_ns));
        };
        match introspect.sites() {
            Some(table) => {
                for row in table.stats_visiting(introspect, &mut record) {
                    sites.insert(
                        row.location,
                        SiteTotals {
                            name: row.name,
                            live: row.live,
                            spawned: row.spawned,
                            polls: row.polls,
                            busy_ns: row.busy_ns,
                        },
                    );
                }
            }
            None => introspect.for_each_live(&mut |task| record(&task)),
        }
        Self {
            at_ns,
            tasks,
            sites,
        }
    }

    /// The busiest tasks and sites between `self` and the `later` sample,
    /// at most `limit` of each (0 = all), busiest first. Tasks and sites
    /// without a poll in between are left out; tasks that ended in between
    /// count in their site only. Names and locations are read from
    /// `introspect` for the tasks listed.
    pub fn top(
        &self,
        later: &ActivitySample,
        introspect: &dyn TaskIntrospect,
        limit: usize,
    ) -> TopReport {
        let interval_ns = later.at_ns.saturating_sub(self.at_ns).max(1);
        let per_second = |n: u64| n as f64 * 1e9 / interval_ns as f64;
        let share = |busy: u64| busy as f64 / interval_ns as f64;
        let mut busiest: Vec<(TaskId, u64, u64)> = later
            .tasks
            .iter()
            .filter_map(|(id, &(polls, busy))| {
                let (polls0, busy0) = self.tasks.get(id).copied().unwrap_or((0, 0));
                let polls = polls.saturating_sub(polls0);
                (polls > 0).then(|| (*id, polls, busy.saturating_sub(busy0)))
            })
            .collect();
        busiest.sort_unstable_by_key(|&(id, polls, busy)| {
            (std::cmp::Reverse(busy), std::cmp::Reverse(polls), id)
        });
        let mut tasks = Vec::new();
        for (id, polls, busy_ns) in busiest {
            if limit > 0 && tasks.len() == limit {
                break;
            }
            let Some(task) = introspect.task(id) else {
                continue;
            };
            tasks.push(TaskActivity {
                id,
                name: task.name,
                location: task.location,
                polls,
                busy_ns,
                polls_per_second: per_second(polls),
                worker_share: share(busy_ns),
            });
        }
        let mut sites: Vec<SiteActivity> = later
            .sites
            .iter()
            .filter_map(|(location, now)| {
                let before = self.sites.get(location).cloned().unwrap_or_default();
                let polls = now.polls.saturating_sub(before.polls);
                let busy_ns = now.busy_ns.saturating_sub(before.busy_ns);
                (polls > 0).then(|| SiteActivity {
                    location: location.clone(),
                    name: now.name.clone(),
                    live: now.live,
                    spawned: now.spawned.saturating_sub(before.spawned),
                    polls,
                    busy_ns,
                    polls_per_second: per_second(polls),
                    worker_share: share(busy_ns),
                })
            })
            .collect();
        sites.sort_by(|a, b| {
            (b.busy_ns, b.polls)
                .cmp(&(a.busy_ns, a.polls))
                .then_with(|| a.location.cmp(&b.location))
        });
        if limit > 0 {
            sites.truncate(limit);
        }
        TopReport {
            interval_ns,
            tasks,
            sites,
        }
    }
}

/// What `top` shows: the busiest tasks and spawn sites over an interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TopReport {
    /// The time between the two samples.
    pub interval_ns: u64,
    /// Busiest tasks first.
    pub tasks: Vec<TaskActivity>,
    /// Busiest spawn sites first.
    pub sites: Vec<SiteActivity>,
}

/// One task's activity over a [`TopReport`]'s interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TaskActivity {
    /// The task.
    pub id: TaskId,
    /// Its name.
    pub name: Option<String>,
    /// Its spawn site.
    pub location: String,
    /// Polls in the interval.
    pub polls: u64,
    /// Time inside `poll` in the interval.
    pub busy_ns: u64,
    /// Polls per second.
    pub polls_per_second: f64,
    /// Busy time over the interval: 1.0 is one worker thread fully taken.
    pub worker_share: f64,
}

/// One spawn site's activity over a [`TopReport`]'s interval, its tasks
/// that ended in between included.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SiteActivity {
    /// The site; `None` for the overflow row.
    pub location: Option<String>,
    /// The name its tasks share, if they do.
    pub name: Option<String>,
    /// Live tasks at the end of the interval.
    pub live: u64,
    /// Tasks spawned in the interval.
    pub spawned: u64,
    /// Polls in the interval.
    pub polls: u64,
    /// Time inside `poll` in the interval.
    pub busy_ns: u64,
    /// Polls per second.
    pub polls_per_second: f64,
    /// Busy time over the interval: 1.0 is one worker thread fully taken.
    pub worker_share: f64,
}
