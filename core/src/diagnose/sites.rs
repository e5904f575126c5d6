//! Per-spawn-site statistics: one row per `file:line:column` that spawns
//! tasks, bounded by the number of sites rather than of tasks.

use std::{
    collections::HashMap,
    fmt,
    hash::{Hash, Hasher},
    panic::Location,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use rustc_hash::FxHasher;
use serde::Serialize;

use super::{
    histogram::{AtomicHistogram, Histogram, LIFETIME_BUCKETS, POLL_BUCKETS, RESOLUTION_NS},
    thresholds::{SharedThresholds, ThresholdError, Thresholds},
};
use crate::{TaskEnd, TaskIntrospect, TaskSnapshot, clock::precise_now_ns, sync::CacheLine};

/// The default bound on distinct spawn sites; tasks of further sites are
/// counted in the overflow row.
pub const DEFAULT_MAX_SITES: usize = 1024;

/// How many live-count samples a site keeps for `leak-suspect`.
const SAMPLES: usize = 16;

/// Statistics for every spawn site of one registry.
///
/// Written at three moments, none of them an ordinary poll:
/// - **spawn**: the site's spawned count, its name and its largest future;
/// - **a poll of at least 1 ms** (at most one per thread per millisecond):
///   the poll-time histogram and, above
///   [`Thresholds::slow_poll`], the slow-poll count;
/// - **task end**: the task's polls, busy time, lifetime and how it ended
///   are folded into its site.
///
/// Polls and busy time of tasks still alive are added when the statistics
/// are read ([`SiteTable::stats`]), from the same snapshots `ps` uses. So
/// the poll path gains one comparison, and memory grows with the number of
/// sites (bounded by [`TaskRegistryBuilder::max_sites`](crate::TaskRegistryBuilder::max_sites),
/// after which everything lands in one overflow row), never with the number
/// of tasks.
///
/// ```
/// use monitor_core::{TaskIntrospect, TaskOptions, TaskRegistry};
///
/// let registry = TaskRegistry::new();
/// for _ in 0..3 {
///     let task = registry.instrument(async {}, TaskOptions::new().name("job"));
///     futures_lite::future::block_on(task).unwrap();
/// }
/// let stats = registry.sites().stats(&*registry);
/// assert_eq!(stats[0].spawned, 3);
/// assert_eq!(stats[0].ended.completed, 3);
/// assert_eq!(stats[0].name.as_deref(), Some("job"));
/// ```
pub struct SiteTable {
    /// Open addressing, twice as many slots as sites allowed, so a probe
    /// always ends at an empty slot or its site.
    slots: Box<[OnceLock<Box<Site>>]>,
    created: AtomicUsize,
    max_sites: usize,
    overflow: Site,
    thresholds: SharedThresholds,
    last_sample_ns: AtomicU64,
}

impl fmt::Debug for SiteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteTable")
            .field("sites", &self.created.load(Ordering::Relaxed))
            .field("max_sites", &self.max_sites)
            .field("thresholds", &self.thresholds.load())
            .finish()
    }
}

/// How a task ended, as counted per site.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EndReason {
    Completed = 0,
    Cancelled = 1,
    Panicked = 2,
    Unknown = 3,
}

impl EndReason {
    pub(crate) fn of(end: &TaskEnd) -> Self {
        match end {
            TaskEnd::Completed => Self::Completed,
            TaskEnd::Cancelled { .. } => Self::Cancelled,
            TaskEnd::Panicked { .. } => Self::Panicked,
            TaskEnd::Ended => Self::Unknown,
        }
    }
}

/// One row of a [`SiteTable`], as the tasks spawned there keep it: the
/// index of its slot, or [`SiteRef::OVERFLOW`]. Sites are never removed, so
/// the index stays valid for the table's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SiteRef(u32);

impl SiteRef {
    /// The overflow row (also what a site index past the table reads as).
    pub(crate) const OVERFLOW: Self = Self(u32::MAX);
}

struct Site {
    /// `None` for the overflow row.
    location: Option<&'static Location<'static>>,
    /// The name of the first task spawned here (`None`: unnamed)…
    name: OnceLock<Option<Box<str>>>,
    /// …unless later tasks had other names.
    name_varies: AtomicBool,
    /// Written by the spawning thread.
    spawned: AtomicU64,
    largest_future: AtomicU64,
    slow_polls: AtomicU64,
    /// Polls of at least [`RESOLUTION_NS`]; shorter ones are the rest of
    /// the site's polls, counted when read.
    long_polls: AtomicHistogram<POLL_BUCKETS>,
    /// Live counts sampled every `leak_window / 16`, oldest first.
    samples: Mutex<Vec<u64>>,
    /// Written by the thread that ends a task, often not the one that
    /// spawned it: on lines of their own, so that a worker spawning here
    /// and one ending tasks of this site do not pass lines back and forth.
    ends: CacheLine<Ends>,
}

/// What a site's ended tasks add up to.
struct Ends {
    /// Counts per [`EndReason`].
    ended: [AtomicU64; 4],
    /// Polls and busy time of the tasks that ended.
    polls: AtomicU64,
    busy_ns: AtomicU64,
    lifetimes: AtomicHistogram<LIFETIME_BUCKETS>,
}

impl Site {
    fn new(location: Option<&'static Location<'static>>) -> Self {
        Self {
            location,
            name: OnceLock::new(),
            name_varies: AtomicBool::new(false),
            spawned: AtomicU64::new(0),
            largest_future: AtomicU64::new(0),
            slow_polls: AtomicU64::new(0),
            long_polls: AtomicHistogram::new(),
            samples: Mutex::new(Vec::with_capacity(SAMPLES)),
            ends: CacheLine(Ends {
                ended: std::array::from_fn(|_| AtomicU64::new(0)),
                polls: AtomicU64::new(0),
                busy_ns: AtomicU64::new(0),
                lifetimes: AtomicHistogram::new(),
            }),
        }
    }

    fn ended_total(&self) -> u64 {
        self.ends
            .ended
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    fn is(&self, location: &Location<'_>) -> bool {
        self.location.is_some_and(|own| {
            std::ptr::eq(own, location)
                || (own.line() == location.line()
                    && own.column() == location.column()
                    && own.file() == location.file())
        })
    }

    fn location_text(&self) -> Option<String> {
        self.location
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
    }

    fn sample(&self) {
        let live = self
            .spawned
            .load(Ordering::Relaxed)
            .saturating_sub(self.ended_total());
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == SAMPLES {
            samples.remove(0);
        }
        samples.push(live);
    }

    /// `leak-suspect`: over a full window of samples the live count never
    /// fell, rose in at least half of the intervals and by at least
    /// `growth` overall.
    fn only_grows(&self, growth: u64) -> Option<(u64, u64)> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < SAMPLES {
            return None;
        }
        let mut rises = 0;
        for pair in samples.windows(2) {
            if pair[1] < pair[0] {
                return None;
            }
            rises += usize::from(pair[1] > pair[0]);
        }
        let (first, last) = (samples[0], samples[SAMPLES - 1]);
        (rises * 2 >= SAMPLES - 1 && last - first >= growth).then_some((first, last))
    }
}

impl SiteTable {
    pub(crate) fn new(max_sites: usize, thresholds: Thresholds) -> Arc<Self> {
        let table = Arc::new(Self {
            slots: (0..(max_sites.max(1) * 2).next_power_of_two())
                .map(|_| OnceLock::new())
                .collect(),
            created: AtomicUsize::new(0),
            max_sites,
            overflow: Site::new(None),
            thresholds: SharedThresholds::new(thresholds),
            last_sample_ns: AtomicU64::new(precise_now_ns()),
        });
        sampler::watch(&table);
        table
    }

    /// The site of `location`, created on first use; the overflow row once
    /// `max_sites` exist.
    fn find(&self, location: &'static Location<'static>) -> SiteRef {
        // Line, column and the path's length, not the path's bytes: equal
        // locations hash alike wherever their `Location` lives, and hashing
        // a 50-byte path on every spawn would cost more than the rare probe
        // past a site with the same numbers in another file.
        let mut hasher = FxHasher::default();
        (location.line(), location.column(), location.file().len()).hash(&mut hasher);
        let mask = self.slots.len() - 1;
        let mut index = hasher.finish() as usize & mask;
        for _ in 0..self.slots.len() {
            let slot = &self.slots[index];
            let site = match slot.get() {
                Some(site) => site,
                None if self.created.load(Ordering::Relaxed) >= self.max_sites => break,
                None => slot.get_or_init(|| {
                    self.created.fetch_add(1, Ordering::Relaxed);
                    Box::new(Site::new(Some(location)))
                }),
            };
            if site.is(location) {
                return u32::try_from(index).map_or(SiteRef::OVERFLOW, SiteRef);
            }
            index = (index + 1) & mask;
        }
        SiteRef::OVERFLOW
    }

    /// The site `site` names (found by [`SiteTable::find`] in this table).
    #[inline]
    fn get(&self, site: SiteRef) -> &Site {
        match self.slots.get(site.0 as usize).and_then(OnceLock::get) {
            Some(site) => site,
            None => &self.overflow,
        }
    }

    fn sites(&self) -> impl Iterator<Item = &Site> {
        self.slots
            .iter()
            .filter_map(|slot| slot.get().map(|site| &**site))
            .chain(std::iter::once(&self.overflow))
    }

    // ---- written by the registry: spawn, long polls, task end.

    /// A task was spawned at `location`; `future_size` is its future's
    /// `size_of` when known (wrapped futures, not hook-tracked ones).
    /// Returns the site, which the task keeps so that its long polls and its
    /// end are counted there without looking the location up again.
    pub(crate) fn task_spawned(
        &self,
        location: &'static Location<'static>,
        name: Option<&str>,
        future_size: Option<usize>,
    ) -> SiteRef {
        let found = self.find(location);
        let site = self.get(found);
        site.spawned.fetch_add(1, Ordering::Relaxed);
        let first = site.name.get_or_init(|| name.map(Box::from));
        if first.as_deref() != name && !site.name_varies.load(Ordering::Relaxed) {
            site.name_varies.store(true, Ordering::Relaxed);
        }
        if let Some(size) = future_size {
            let size = size as u64;
            // Read first: the common case (not larger) writes nothing.
            if size > site.largest_future.load(Ordering::Relaxed) {
                site.largest_future.fetch_max(size, Ordering::Relaxed);
            }
        }
        found
    }

    /// A poll of a task of `site` took `spent_ns`. Inlined into the poll
    /// path as one comparison; only polls of at least a millisecond — at
    /// most one per thread per millisecond — go further.
    #[inline]
    pub(crate) fn poll_took(&self, site: SiteRef, spent_ns: u64) {
        if spent_ns >= RESOLUTION_NS {
            self.long_poll(site, spent_ns);
        }
    }

    #[cold]
    #[inline(never)]
    fn long_poll(&self, site: SiteRef, spent_ns: u64) {
        let site = self.get(site);
        site.long_polls.record(spent_ns);
        if spent_ns >= self.thresholds.slow_poll_ns() {
            site.slow_polls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Folds an ended task's totals into its site.
    pub(crate) fn task_ended(
        &self,
        site: SiteRef,
        reason: EndReason,
        polls: u64,
        busy_ns: u64,
        lifetime_ns: u64,
    ) {
        let ends = &self.get(site).ends;
        ends.polls.fetch_add(polls, Ordering::Relaxed);
        ends.busy_ns.fetch_add(busy_ns, Ordering::Relaxed);
        ends.lifetimes.record(lifetime_ns);
        // Counted last: a reader that sees the end also sees the totals.
        ends.ended[reason as usize].fetch_add(1, Ordering::Release);
    }

    // ---- read by the monitor.

    /// The thresholds the lints use now.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds.load()
    }

    /// Replaces every threshold.
    pub fn set_thresholds(&self, thresholds: Thresholds) {
        self.thresholds.store(thresholds);
    }

    /// Sets one threshold by name (`"slow-poll"`, `"20ms"`) and returns the
    /// thresholds now in force. Slow polls are counted against the new
    /// `slow-poll` from now on; earlier counts stay as they were.
    ///
    /// # Errors
    ///
    /// [`ThresholdError`] when the name or value is not accepted; nothing
    /// changes then.
    pub fn set_threshold(&self, name: &str, value: &str) -> Result<Thresholds, ThresholdError> {
        let mut thresholds = self.thresholds.load();
        thresholds.set(name, value)?;
        self.thresholds.store(thresholds);
        Ok(thresholds)
    }

    /// The most distinct spawn sites kept before the overflow row is used.
    pub fn max_sites(&self) -> usize {
        self.max_sites
    }

    /// Takes one sample of every site's live count, for `leak-suspect`.
    ///
    /// A background thread (`monitor-sites`) calls it every
    /// `leak_window / 16`; call it yourself to drive the samples in a test.
    pub fn sample(&self) {
        self.last_sample_ns
            .store(precise_now_ns(), Ordering::Relaxed);
        for site in self.sites() {
            site.sample();
        }
    }

    /// How long until the next sample is due, taking it if it is.
    fn sample_if_due(&self) -> Duration {
        let interval = (self.thresholds.leak_window_ns() / SAMPLES as u64).max(1_000_000);
        let since = precise_now_ns().saturating_sub(self.last_sample_ns.load(Ordering::Relaxed));
        if since >= interval {
            self.sample();
            Duration::from_nanos(interval)
        } else {
            Duration::from_nanos(interval - since)
        }
    }

    /// Spawn sites whose largest future is at least `threshold` bytes, with
    /// that size.
    pub(crate) fn large_sites(&self, threshold: u64) -> Vec<(Option<String>, Option<String>, u64)> {
        self.sites()
            .filter_map(|site| {
                let size = site.largest_future.load(Ordering::Relaxed);
                (size >= threshold && size > 0)
                    .then(|| (site.location_text(), stable_name(site), size))
            })
            .collect()
    }

    /// Spawn sites whose live tasks only grew over the last `leak_window`,
    /// with their live count at the start and at the end of the window.
    pub(crate) fn growing_sites(&self) -> Vec<(Option<String>, Option<String>, u64, u64)> {
        let growth = self.thresholds.load().leak_growth;
        self.sites()
            .filter_map(|site| {
                let (from, to) = site.only_grows(growth)?;
                Some((site.location_text(), stable_name(site), from, to))
            })
            .collect()
    }

    /// One row per spawn site (plus the overflow row when it was used):
    /// what ended tasks folded in, plus the live tasks of `introspect`,
    /// streamed now. Sorted by location.
    pub fn stats(&self, introspect: &dyn TaskIntrospect) -> Vec<SiteStats> {
        self.stats_visiting(introspect, &mut |_| {})
    }

    /// [`SiteTable::stats`], also handing every live snapshot to `visit`
    /// so a caller needing both streams the tasks once.
    pub(crate) fn stats_visiting(
        &self,
        introspect: &dyn TaskIntrospect,
        visit: &mut dyn FnMut(&TaskSnapshot),
    ) -> Vec<SiteStats> {
        let mut rows: Vec<SiteStats> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut short: Vec<u64> = Vec::new();
        for site in self.sites() {
            let is_overflow = site.location.is_none();
            if is_overflow && site.spawned.load(Ordering::Relaxed) == 0 {
                continue;
            }
            if let Some(location) = site.location_text() {
                index.insert(location, rows.len());
            }
            rows.push(folded(site));
            short.push(0);
        }
        let overflow = |rows: &mut Vec<SiteStats>, short: &mut Vec<u64>| match rows
            .iter()
            .position(|row| row.location.is_none())
        {
            Some(at) => at,
            None => {
                rows.push(folded(&self.overflow));
                short.push(0);
                rows.len() - 1
            }
        };
        introspect.for_each_live(&mut |task| {
            visit(&task);
            let at = match index.get(&task.location) {
                Some(&at) => at,
                None => overflow(&mut rows, &mut short),
            };
            let row = &mut rows[at];
            row.live += 1;
            row.polls += task.polls;
            row.busy_ns += task.busy_ns;
        });
        for row in &mut rows {
            row.finish_histogram();
        }
        rows.sort_by(|a, b| match (&a.location, &b.location) {
            (Some(a), Some(b)) => a.cmp(b),
            (a, b) => b.is_none().cmp(&a.is_none()),
        });
        rows
    }
}

fn stable_name(site: &Site) -> Option<String> {
    if site.name_varies.load(Ordering::Relaxed) {
        return None;
    }
    site.name
        .get()
        .and_then(|name| name.as_deref().map(str::to_owned))
}

/// A site's row with only the folded-in (ended tasks') values and the
/// long-poll buckets; live tasks are added by the caller.
fn folded(site: &Site) -> SiteStats {
    // Acquire pairs with the Release count in `task_ended`.
    let ended = |reason: EndReason| site.ends.ended[reason as usize].load(Ordering::Acquire);
    let largest = site.largest_future.load(Ordering::Relaxed);
    SiteStats {
        location: site.location_text(),
        name: stable_name(site),
        live: 0,
        spawned: site.spawned.load(Ordering::Relaxed),
        ended: EndCounts {
            completed: ended(EndReason::Completed),
            cancelled: ended(EndReason::Cancelled),
            panicked: ended(EndReason::Panicked),
            unknown: ended(EndReason::Unknown),
        },
        polls: site.ends.polls.load(Ordering::Relaxed),
        busy_ns: site.ends.busy_ns.load(Ordering::Relaxed),
        slow_polls: site.slow_polls.load(Ordering::Relaxed),
        poll_time: Histogram::from_counts(&site.long_polls.counts()),
        lifetime: Histogram::from_counts(&site.ends.lifetimes.counts()),
        largest_future: (largest > 0).then_some(largest),
    }
}

/// How the tasks of one site ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EndCounts {
    /// Returned `Ready`.
    pub completed: u64,
    /// Cancelled on request or dropped before completing.
    pub cancelled: u64,
    /// Panicked.
    pub panicked: u64,
    /// Ended without the runtime saying how (hook-tracked tasks).
    pub unknown: u64,
}

impl EndCounts {
    /// Every ended task.
    pub fn total(&self) -> u64 {
        self.completed + self.cancelled + self.panicked + self.unknown
    }
}

/// One spawn site's statistics: what `sites` shows, `/metrics` exports and
/// the web UI draws.
///
/// Serializes to one JSON object per site:
///
/// ```json
/// {"location":"src/main.rs:40:9","name":"conn","live":12,"spawned":5100,
///  "ended":{"completed":5000,"cancelled":88,"panicked":0,"unknown":0},
///  "polls":91000,"busy_ns":2400000000,"slow_polls":3,
///  "poll_time":{"buckets":[{"from_ns":0,"to_ns":1000000,"count":90990},…],
///               "p50_ns":1000000,"p90_ns":1000000,"p99_ns":1000000},
///  "lifetime":{…},"largest_future":512}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SiteStats {
    /// The spawn site, `file:line:column`; `None` for the overflow row that
    /// collects every site past the bound.
    pub location: Option<String>,
    /// The name every task spawned here had; `None` when unnamed or when
    /// names differ between tasks.
    pub name: Option<String>,
    /// Tasks alive now.
    pub live: u64,
    /// Tasks spawned here since the registry was created.
    pub spawned: u64,
    /// How the others ended.
    pub ended: EndCounts,
    /// Polls of every task spawned here, alive or ended.
    pub polls: u64,
    /// Time inside `poll` of every task spawned here.
    pub busy_ns: u64,
    /// Polls that took at least [`Thresholds::slow_poll`] (as it was when
    /// they ended).
    pub slow_polls: u64,
    /// How long polls took.
    pub poll_time: Histogram,
    /// How long ended tasks lived.
    pub lifetime: Histogram,
    /// The largest future spawned here, in bytes (`size_of` of the future
    /// at spawn); `None` for hook-tracked tasks, whose size is unknown.
    pub largest_future: Option<u64>,
}

impl SiteStats {
    /// The location, or `(other sites)` for the overflow row, for tables.
    pub fn display_location(&self) -> &str {
        self.location.as_deref().unwrap_or("(other sites)")
    }

    /// Puts the polls shorter than the histogram's resolution — every poll
    /// not in a long-poll bucket — into its first bucket.
    fn finish_histogram(&mut self) {
        let long = self.poll_time.count();
        let mut counts = [0u64; POLL_BUCKETS];
        for bucket in &self.poll_time.buckets {
            counts[super::histogram::bucket_of(bucket.from_ns, POLL_BUCKETS)] = bucket.count;
        }
        // A long poll of a live task can be recorded before its poll count
        // is read; never let that make the short count negative.
        counts[0] = self.polls.saturating_sub(long);
        self.poll_time = Histogram::from_counts(&counts);
    }
}

/// The background thread that samples every registry's live counts per
/// site for `leak-suspect`, so the samples exist before anyone asks.
mod sampler {
    use std::{
        sync::{Arc, Mutex, Once, Weak},
        thread,
        time::Duration,
    };

    use super::SiteTable;

    static TABLES: Mutex<Vec<Weak<SiteTable>>> = Mutex::new(Vec::new());
    static THREAD: Once = Once::new();

    pub(super) fn watch(table: &Arc<SiteTable>) {
        TABLES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(table));
        THREAD.call_once(|| {
            let spawned = thread::Builder::new()
                .name("monitor-sites".into())
                .spawn(run);
            // Without it `leak-suspect` never fires; everything else works.
            if let Err(err) = spawned {
                eprintln!("monitor: could not start the site sampler ({err}); leak-suspect is off");
            }
        });
    }

    fn run() {
        loop {
            let tables: Vec<Arc<SiteTable>> = {
                let mut tables = TABLES.lock().unwrap_or_else(|e| e.into_inner());
                tables.retain(|table| table.strong_count() > 0);
                tables.iter().filter_map(Weak::upgrade).collect()
            };
            let mut next = Duration::from_secs(1);
            for table in &tables {
                next = next.min(table.sample_if_due());
            }
            drop(tables);
            thread::sleep(next.max(Duration::from_millis(1)));
        }
    }
}
