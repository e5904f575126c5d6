//! What the bridge remembers between samples of the registry, and how it
//! turns them into tokio-console's messages.
//!
//! Every [`UPDATE_INTERVAL`](super::UPDATE_INTERVAL) the bridge reads the
//! registry through [`TaskIntrospect`] (live tasks streamed with
//! `for_each_live`, ended ones from the terminated history) and compares
//! with what it sent last time: tasks it has not announced go out as new
//! tasks *with* their stats (the stock client ignores a new task whose
//! stats are not in the same update), tasks whose numbers moved go out as
//! stats only. The result is cut into messages of at most
//! [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES), so a snapshot of any
//! size stays under the client's decode limit.
//!
//! Only what the registry really knows is sent; see the module docs of
//! [`tokio_console`](super) for the field-by-field list.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::Arc,
    time::{Duration, SystemTime},
};

use console_api::{
    Field, Id, Location, MetaId, Metadata, PollStats, RegisterMetadata, SpanId, field,
    instrument::Update,
    metadata, register_metadata,
    tasks::{Stats, Task, TaskUpdate, task},
};
use monitor_core::{LintSet, TaskIntrospect, TaskLints, TaskSnapshot, TaskState};
use prost::Message;

/// The one metadata record every task points to: the bridge has no
/// `tracing` callsites, only "a task spawned through the monitor".
const TASK_METADATA: u64 = 1;

/// The `target` the client shows for every task (its Target column).
pub(crate) const TASK_TARGET: &str = "async_monitor::task";

/// The task field naming the monitor's lints that concern a task now
/// (`monitor.lints=blocking-poll,large-future`), shown in the client's
/// Fields column; absent while none does.
pub(crate) const LINTS_FIELD: &str = "monitor.lints";

/// The task field tokio-console reads a future's size from.
pub(crate) const SIZE_FIELD: &str = "size.bytes";

/// Room reserved per task for the map entry and field tags around the
/// task's and stats' own encoded lengths, when estimating a message's size.
const PER_TASK_OVERHEAD: usize = 32;

/// One task as last sent to clients.
#[derive(Debug, Clone)]
struct Known {
    id: u64,
    name: Option<String>,
    location: String,
    parent: Option<u64>,
    /// `size_of` the task's future, for the client's `size.bytes` field.
    future_size: Option<u64>,
    created_at: SystemTime,
    polls: u64,
    /// Time in polls that have returned: a poll in progress is sent as
    /// `last_poll_started` instead, and the client adds it up itself.
    busy: Duration,
    /// When the poll in progress started; `None` between polls.
    poll_started: Option<SystemTime>,
    dropped_at: Option<SystemTime>,
    /// The monitor's lints that concern the live task, as last sent in its
    /// fields; empty once it ended.
    lints: LintSet,
    /// The sample that last found the task live or in the history.
    seen: u64,
}

impl Known {
    fn new(snapshot: &TaskSnapshot, now: SystemTime, epoch: u64, lints: LintSet) -> Self {
        let dropped_at = snapshot
            .ended_ago_ns
            .map(|ago| earlier(now, ago))
            .filter(|_| snapshot.ended.is_some());
        // `age_ns` is the lifetime of an ended task, the age of a live one.
        let created_at = earlier(dropped_at.unwrap_or(now), snapshot.age_ns);
        let (busy, poll_started) = poll_timing(snapshot, now);
        Self {
            id: snapshot.id.as_u64(),
            name: snapshot.name.clone(),
            location: snapshot.location.clone(),
            parent: snapshot.parent.map(|parent| parent.as_u64()),
            future_size: snapshot.future_size,
            created_at,
            polls: snapshot.polls,
            busy,
            poll_started: if dropped_at.is_some() {
                None
            } else {
                poll_started
            },
            lints: if dropped_at.is_some() {
                LintSet::default()
            } else {
                lints
            },
            dropped_at,
            seen: epoch,
        }
    }

    fn task(&self) -> Task {
        let mut fields = vec![
            field_of("task.id", field::Value::U64Val(self.id)),
            field_of("kind", field::Value::StrVal("task".into())),
        ];
        if let Some(name) = &self.name {
            fields.push(field_of("task.name", field::Value::StrVal(name.clone())));
        }
        if let Some(parent) = self.parent {
            fields.push(field_of("parent.task.id", field::Value::U64Val(parent)));
        }
        // What tokio's own instrumentation reports as `size.bytes`: the
        // client's large-future warning reads it. (`original_size.bytes`,
        // set by tokio when its runtime boxed a large future, is not sent:
        // the monitor cannot know what a runtime did with the future.)
        if let Some(size) = self.future_size {
            fields.push(field_of(SIZE_FIELD, field::Value::U64Val(size)));
        }
        if !self.lints.is_empty() {
            let ids: Vec<&str> = self.lints.iter().map(|id| id.as_str()).collect();
            fields.push(field_of(LINTS_FIELD, field::Value::StrVal(ids.join(","))));
        }
        Task {
            id: Some(Id { id: self.id }),
            metadata: Some(MetaId { id: TASK_METADATA }),
            kind: task::Kind::Spawn as i32,
            fields,
            parents: self.parent.map(|id| SpanId { id }).into_iter().collect(),
            location: Some(location_of(&self.location)),
        }
    }

    fn stats(&self) -> Stats {
        // Waker counts: the registry counts no wakes and no waker clones.
        // What it does hold is one clone of the waker of every task that has
        // returned `Pending` (kept so `cancel` can wake it), dropped when
        // the task ends. Reporting exactly that one clone is true, and keeps
        // the client's lost-waker lint (no wakers left on an idle task) from
        // firing on counts nobody took.
        let polled = u64::from(self.polls > 0);
        let ended = u64::from(self.dropped_at.is_some());
        Stats {
            created_at: Some(self.created_at.into()),
            dropped_at: self.dropped_at.map(Into::into),
            wakes: 0,
            waker_clones: polled,
            waker_drops: polled * ended,
            last_wake: None,
            poll_stats: Some(PollStats {
                polls: self.polls,
                first_poll: None,
                last_poll_started: self.poll_started.map(Into::into),
                last_poll_ended: None,
                busy_time: Some(duration_of(self.busy)),
            }),
            self_wakes: 0,
            scheduled_time: None,
        }
    }
}

/// Time in completed polls, and when the poll in progress started.
fn poll_timing(snapshot: &TaskSnapshot, now: SystemTime) -> (Duration, Option<SystemTime>) {
    match snapshot.poll_ns {
        Some(in_poll) if snapshot.state == TaskState::Running => (
            Duration::from_nanos(snapshot.busy_ns.saturating_sub(in_poll)),
            Some(earlier(now, in_poll)),
        ),
        _ => (Duration::from_nanos(snapshot.busy_ns), None),
    }
}

fn earlier(time: SystemTime, ago_ns: u64) -> SystemTime {
    time.checked_sub(Duration::from_nanos(ago_ns))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn field_of(name: &str, value: field::Value) -> Field {
    Field {
        metadata_id: Some(MetaId { id: TASK_METADATA }),
        name: Some(field::Name::StrName(name.into())),
        value: Some(value),
    }
}

fn duration_of(duration: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        // Always below 1e9.
        nanos: duration.subsec_nanos() as i32,
    }
}

/// `file:line:column` as the registry records it; the client shows
/// `file:line:column` back when no module path is given.
fn location_of(text: &str) -> Location {
    let mut parts = text.rsplitn(3, ':');
    let (column, line, file) = (parts.next(), parts.next(), parts.next());
    match (
        file,
        line.and_then(|l| l.parse().ok()),
        column.and_then(|c| c.parse().ok()),
    ) {
        (Some(file), Some(line), Some(column)) => Location {
            file: Some(file.to_owned()),
            module_path: None,
            line: Some(line),
            column: Some(column),
        },
        _ => Location {
            file: Some(text.to_owned()),
            module_path: None,
            line: None,
            column: None,
        },
    }
}

fn metadata() -> RegisterMetadata {
    RegisterMetadata {
        metadata: vec![register_metadata::NewMetadata {
            id: Some(MetaId { id: TASK_METADATA }),
            metadata: Some(Metadata {
                name: "task".into(),
                target: TASK_TARGET.into(),
                module_path: String::new(),
                location: None,
                kind: metadata::Kind::Span as i32,
                level: metadata::Level::Info as i32,
                field_names: Vec::new(),
            }),
        }],
    }
}

/// What one sample found.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Tasks to send whole, with their stats: never sent before, or whose
    /// fields changed (a lint began or stopped firing). The stock client
    /// replaces a task it already knows by the one announced again.
    new: Vec<u64>,
    /// Tasks whose stats moved.
    changed: Vec<u64>,
}

impl Changes {
    /// Task `id` just ended: its stats go out, and its whole task again if
    /// it carried lints (an ended task has none).
    fn ended(&mut self, id: u64, known: &mut Known) {
        if known.lints.is_empty() {
            self.changed.push(id);
        } else {
            known.lints = LintSet::default();
            self.new.push(id);
        }
    }

    #[cfg(test)]
    pub(crate) fn new_ids(&self) -> &[u64] {
        &self.new
    }

    #[cfg(test)]
    pub(crate) fn changed_ids(&self) -> &[u64] {
        &self.changed
    }
}

/// The tasks as the clients know them.
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    tasks: HashMap<u64, Known>,
    epoch: u64,
    /// Whether `tasks` reflects at least one sample.
    initialized: bool,
    /// The snapshot of the current sample, built for the first client that
    /// connected since, shared by the others: many clients connecting at
    /// once cost one snapshot, not one each.
    snapshot: Option<(u64, Arc<[Update]>)>,
}

impl Sampler {
    /// Forgets everything (nobody is watching: the bridge then holds no
    /// memory per task).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    pub(crate) fn is_initialized(&self) -> bool {
        self.initialized
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Reads the registry and records what changed since the last sample.
    pub(crate) fn sample(&mut self, introspect: &dyn TaskIntrospect, now: SystemTime) -> Changes {
        self.epoch += 1;
        self.initialized = true;
        let epoch = self.epoch;
        let mut changes = Changes::default();
        let tasks = &mut self.tasks;
        // Thresholds and flagged sites once per sample; each task's lints
        // from its own snapshot.
        let check = TaskLints::new(introspect);
        introspect.for_each_live(&mut |snapshot| {
            let id = snapshot.id.as_u64();
            let lints = check.of(&snapshot);
            match tasks.entry(id) {
                Entry::Vacant(vacant) => {
                    vacant.insert(Known::new(&snapshot, now, epoch, lints));
                    changes.new.push(id);
                }
                Entry::Occupied(mut occupied) => {
                    let known = occupied.get_mut();
                    known.seen = epoch;
                    if known.dropped_at.is_some() {
                        // Already reported ended (it had left the live set
                        // during the previous sample); ends are final.
                        return;
                    }
                    let (busy, started) = poll_timing(&snapshot, now);
                    let same_poll = known.polls == snapshot.polls;
                    let stats_moved = !(same_poll
                        && known.busy == busy
                        && known.poll_started.is_some() == started.is_some());
                    if stats_moved {
                        // The same poll still running keeps its first-seen
                        // start, so the client's busy time does not jitter.
                        if !(same_poll && known.poll_started.is_some() && started.is_some()) {
                            known.poll_started = started;
                        }
                        known.polls = snapshot.polls;
                        known.busy = busy;
                    }
                    if known.lints != lints {
                        known.lints = lints;
                        changes.new.push(id);
                    } else if stats_moved {
                        changes.changed.push(id);
                    }
                }
            }
        });
        for snapshot in introspect.terminated() {
            let id = snapshot.id.as_u64();
            match tasks.entry(id) {
                Entry::Vacant(vacant) => {
                    // Spawned and ended between two samples, or ended before
                    // the first one: a new task, announced already ended.
                    vacant.insert(Known::new(&snapshot, now, epoch, LintSet::default()));
                    changes.new.push(id);
                }
                Entry::Occupied(mut occupied) => {
                    let known = occupied.get_mut();
                    known.seen = epoch;
                    if known.dropped_at.is_none() {
                        let ended = Known::new(&snapshot, now, epoch, LintSet::default());
                        known.dropped_at = ended.dropped_at;
                        known.polls = ended.polls;
                        known.busy = ended.busy;
                        known.poll_started = None;
                        changes.ended(id, known);
                    }
                }
            }
        }
        // Neither live nor in the history: it ended and has already been
        // pushed out of the history (or is between the two right now). Its
        // end is known only to lie between the two samples; report it as
        // of now, once, then forget it at the next sample.
        tasks.retain(|&id, known| {
            if known.seen == epoch {
                return true;
            }
            if known.dropped_at.is_none() {
                known.dropped_at = Some(now);
                known.poll_started = None;
                changes.ended(id, known);
                return true;
            }
            false
        });
        changes
    }

    /// [`snapshot`](Self::snapshot), built once per sample.
    pub(crate) fn shared_snapshot(&mut self, now: SystemTime) -> Arc<[Update]> {
        match &self.snapshot {
            Some((epoch, snapshot)) if *epoch == self.epoch => Arc::clone(snapshot),
            _ => {
                let snapshot: Arc<[Update]> = self.snapshot(now).into();
                self.snapshot = Some((self.epoch, Arc::clone(&snapshot)));
                snapshot
            }
        }
    }

    /// Every known task, new with its stats, for a client that just
    /// connected; the first message registers the metadata.
    pub(crate) fn snapshot(&self, now: SystemTime) -> Vec<Update> {
        let mut ids: Vec<u64> = self.tasks.keys().copied().collect();
        ids.sort_unstable();
        let mut updates = self.updates(now, &ids, &[]);
        if let Some(first) = updates.first_mut() {
            first.new_metadata = Some(metadata());
        }
        updates
    }

    /// The messages for one sample's changes: at least one (which carries
    /// `now`, so the client's clocks move even when nothing changed).
    pub(crate) fn delta(&self, now: SystemTime, changes: &Changes) -> Vec<Update> {
        self.updates(now, &changes.new, &changes.changed)
    }

    fn updates(&self, now: SystemTime, new: &[u64], changed: &[u64]) -> Vec<Update> {
        let mut updates = Vec::new();
        let mut current = TaskUpdate::default();
        let mut size = 0;
        let flush = |current: &mut TaskUpdate, size: &mut usize, updates: &mut Vec<Update>| {
            updates.push(Update {
                now: Some(now.into()),
                task_update: Some(std::mem::take(current)),
                resource_update: None,
                async_op_update: None,
                new_metadata: None,
            });
            *size = 0;
        };
        let new = new.iter().map(|id| (id, true));
        let changed = changed.iter().map(|id| (id, false));
        for (id, is_new) in new.chain(changed) {
            let Some(known) = self.tasks.get(id) else {
                continue;
            };
            let stats = known.stats();
            let task = is_new.then(|| known.task());
            let bytes = stats.encoded_len()
                + task.as_ref().map_or(0, Message::encoded_len)
                + PER_TASK_OVERHEAD;
            if size + bytes > super::MAX_MESSAGE_BYTES && size > 0 {
                flush(&mut current, &mut size, &mut updates);
            }
            size += bytes;
            current.stats_update.insert(*id, stats);
            current.new_tasks.extend(task);
        }
        if size > 0 || updates.is_empty() {
            flush(&mut current, &mut size, &mut updates);
        }
        updates
    }
}

#[cfg(test)]
mod tests {
    use monitor_core::{TaskEnd, TaskOptions, TaskRegistry};

    use super::*;

    fn stats_of(updates: &[Update], id: u64) -> Option<&Stats> {
        updates
            .iter()
            .filter_map(|u| u.task_update.as_ref())
            .find_map(|t| t.stats_update.get(&id))
    }

    fn new_task(updates: &[Update], id: u64) -> Option<&Task> {
        updates
            .iter()
            .filter_map(|u| u.task_update.as_ref())
            .flat_map(|t| &t.new_tasks)
            .find(|t| t.id.as_ref().map(|i| i.id) == Some(id))
    }

    #[test]
    fn a_new_task_comes_with_its_stats_then_only_changes_follow() {
        let registry = TaskRegistry::new();
        let task = registry.register(TaskOptions::new().name("worker"));
        let id = task.id().as_u64();
        let mut sampler = Sampler::default();

        let now = SystemTime::now();
        let changes = sampler.sample(&*registry, now);
        assert_eq!(changes.new_ids(), [id]);
        let snapshot = sampler.snapshot(now);
        assert!(snapshot[0].new_metadata.is_some(), "metadata comes first");
        let shared = sampler.shared_snapshot(now);
        assert!(
            Arc::ptr_eq(&shared, &sampler.shared_snapshot(now)),
            "built once"
        );
        let sent = new_task(&snapshot, id).expect("the task is announced");
        assert_eq!(sent.metadata.as_ref().unwrap().id, TASK_METADATA);
        assert!(
            sent.fields
                .iter()
                .any(|f| { matches!(&f.value, Some(field::Value::StrVal(v)) if v == "worker") })
        );
        assert!(
            sent.location
                .as_ref()
                .unwrap()
                .file
                .as_deref()
                .unwrap()
                .ends_with(".rs"),
            "{:?}",
            sent.location
        );
        let stats = stats_of(&snapshot, id).expect("stats in the same update");
        assert!(stats.created_at.is_some() && stats.poll_stats.is_some());
        assert_eq!(stats.poll_stats.as_ref().unwrap().polls, 0);

        // Nothing moved: an update carrying only `now`.
        let changes = sampler.sample(&*registry, now);
        assert!(changes.new_ids().is_empty() && changes.changed_ids().is_empty());
        let delta = sampler.delta(now, &changes);
        assert_eq!(delta.len(), 1);
        assert!(delta[0].now.is_some());

        // A poll starts: running, with its start time; then it ends.
        let token = task.poll_started();
        let changes = sampler.sample(&*registry, SystemTime::now());
        assert_eq!(changes.changed_ids(), [id]);
        let delta = sampler.delta(now, &changes);
        let polls = stats_of(&delta, id).unwrap().poll_stats.unwrap();
        assert_eq!(polls.polls, 1);
        assert!(polls.last_poll_started.is_some(), "running");
        assert!(new_task(&delta, id).is_none(), "announced once");
        task.poll_ended(token);
        let changes = sampler.sample(&*registry, SystemTime::now());
        assert_eq!(changes.changed_ids(), [id]);
        let delta = sampler.delta(now, &changes);
        let stats = stats_of(&delta, id).unwrap();
        assert!(
            stats
                .poll_stats
                .as_ref()
                .unwrap()
                .last_poll_started
                .is_none()
        );
        assert_eq!((stats.waker_clones, stats.waker_drops), (1, 0));

        task.finish(TaskEnd::Completed);
        let changes = sampler.sample(&*registry, SystemTime::now());
        assert_eq!(changes.changed_ids(), [id]);
        let delta = sampler.delta(now, &changes);
        let stats = stats_of(&delta, id).unwrap();
        assert!(stats.dropped_at.is_some(), "ended tasks carry dropped_at");
        assert_eq!((stats.waker_clones, stats.waker_drops), (1, 1));
    }

    fn lints_field(task: &Task) -> Option<String> {
        task.fields.iter().find_map(|f| match (&f.name, &f.value) {
            (Some(field::Name::StrName(name)), Some(field::Value::StrVal(value)))
                if name == LINTS_FIELD =>
            {
                Some(value.clone())
            }
            _ => None,
        })
    }

    #[test]
    fn lints_go_out_as_a_task_field_and_the_task_is_sent_again_when_they_change() {
        let registry = TaskRegistry::new();
        let mut thresholds = monitor_core::Thresholds::default();
        thresholds.slow_poll = Duration::from_millis(2);
        registry.sites().set_thresholds(thresholds);
        let big = registry.instrument(
            async {
                let buffer = [1u8; 4096];
                std::future::ready(()).await;
                buffer[0]
            },
            TaskOptions::new(),
        );
        let clean = registry.register(TaskOptions::new().name("clean"));
        let (big_id, clean_id) = (big.id().as_u64(), clean.id().as_u64());
        let mut sampler = Sampler::default();
        let now = SystemTime::now();
        sampler.sample(&*registry, now);
        let snapshot = sampler.snapshot(now);
        let lints_of = |updates: &[Update], id| new_task(updates, id).and_then(lints_field);
        assert_eq!(lints_of(&snapshot, big_id).as_deref(), Some("large-future"));
        let size = new_task(&snapshot, big_id).and_then(|task| {
            task.fields.iter().find_map(|f| match (&f.name, &f.value) {
                (Some(field::Name::StrName(name)), Some(field::Value::U64Val(bytes)))
                    if name == SIZE_FIELD =>
                {
                    Some(*bytes)
                }
                _ => None,
            })
        });
        assert!(
            size.is_some_and(|bytes| bytes >= 4096),
            "size.bytes: {size:?}"
        );
        assert_eq!(lints_of(&snapshot, clean_id), None, "a clean task has none");

        // A poll that outlasts slow-poll: the task is sent again, flagged…
        let token = clean.poll_started();
        let clean_task = monitor_core::TaskId::from_u64(clean_id).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while registry
            .task(clean_task)
            .and_then(|t| t.poll_ns)
            .is_none_or(|ns| ns < 3_000_000)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the poll never lasted 3 ms"
            );
            std::thread::yield_now();
        }
        let changes = sampler.sample(&*registry, SystemTime::now());
        assert_eq!(changes.new_ids(), [clean_id]);
        let delta = sampler.delta(now, &changes);
        assert_eq!(lints_of(&delta, clean_id).as_deref(), Some("blocking-poll"));
        assert!(stats_of(&delta, clean_id).is_some(), "with its stats");
        // …and again without the field once the poll returned.
        clean.poll_ended(token);
        let changes = sampler.sample(&*registry, SystemTime::now());
        assert_eq!(changes.new_ids(), [clean_id]);
        let delta = sampler.delta(now, &changes);
        assert!(new_task(&delta, clean_id).is_some());
        assert_eq!(lints_of(&delta, clean_id), None);
        // Unchanged lints are not sent again.
        let changes = sampler.sample(&*registry, SystemTime::now());
        assert!(changes.new_ids().is_empty(), "{:?}", changes.new_ids());
        // An ended task carries no lints.
        drop(big);
        let changes = sampler.sample(&*registry, SystemTime::now());
        assert_eq!(changes.new_ids(), [big_id]);
        let delta = sampler.delta(now, &changes);
        assert_eq!(lints_of(&delta, big_id), None);
        assert!(stats_of(&delta, big_id).unwrap().dropped_at.is_some());
    }

    #[test]
    fn tasks_that_lived_between_two_samples_arrive_ended() {
        let registry = TaskRegistry::new();
        let mut sampler = Sampler::default();
        sampler.sample(&*registry, SystemTime::now());
        let task = registry.register(TaskOptions::new().name("blink"));
        let id = task.id().as_u64();
        task.finish(TaskEnd::Completed);
        let now = SystemTime::now();
        let changes = sampler.sample(&*registry, now);
        assert_eq!(changes.new_ids(), [id]);
        let delta = sampler.delta(now, &changes);
        assert!(new_task(&delta, id).is_some());
        let stats = stats_of(&delta, id).unwrap();
        let (created, dropped) = (stats.created_at.unwrap(), stats.dropped_at.unwrap());
        assert!(SystemTime::try_from(created).unwrap() <= SystemTime::try_from(dropped).unwrap());
    }

    #[test]
    fn tasks_pushed_out_of_the_history_end_once_and_are_forgotten() {
        let registry = TaskRegistry::builder().history_capacity(1).build();
        let mut sampler = Sampler::default();
        let first = registry.register(TaskOptions::new());
        let first_id = first.id().as_u64();
        sampler.sample(&*registry, SystemTime::now());
        first.finish(TaskEnd::Completed);
        registry
            .register(TaskOptions::new())
            .finish(TaskEnd::Completed);
        let changes = sampler.sample(&*registry, SystemTime::now());
        assert!(
            changes.changed_ids().contains(&first_id),
            "its end is reported"
        );
        let changes = sampler.sample(&*registry, SystemTime::now());
        assert!(!changes.changed_ids().contains(&first_id), "only once");
        assert_eq!(sampler.len(), 1, "the evicted task is forgotten");
    }

    #[test]
    fn a_hundred_thousand_tasks_fit_the_clients_message_limit() {
        let registry: Arc<TaskRegistry> = TaskRegistry::new();
        let tasks: Vec<_> = (0..100_000)
            .map(|n| registry.register(TaskOptions::new().name(format!("connection-{n}"))))
            .collect();
        let mut sampler = Sampler::default();
        let now = SystemTime::now();
        sampler.sample(&*registry, now);
        let snapshot = sampler.snapshot(now);
        assert!(snapshot.len() > 1, "cut into several messages");
        let mut announced = 0;
        for update in &snapshot {
            // The stock client decodes at most 4 MiB per message.
            assert!(update.encoded_len() <= super::super::MAX_MESSAGE_BYTES);
            let tasks = update.task_update.as_ref().unwrap();
            for task in &tasks.new_tasks {
                assert!(tasks.stats_update.contains_key(&task.id.unwrap().id));
            }
            announced += tasks.new_tasks.len();
        }
        assert_eq!(announced, tasks.len());
        drop(tasks);
    }

    #[test]
    fn locations_split_into_file_line_and_column() {
        let location = location_of("src/main.rs:12:5");
        assert_eq!(location.file.as_deref(), Some("src/main.rs"));
        assert_eq!((location.line, location.column), (Some(12), Some(5)));
        let odd = location_of("C:\\odd path");
        assert_eq!(odd.file.as_deref(), Some("C:\\odd path"));
        assert_eq!(odd.line, None);
    }
}
