//! The tokio-console bridge, checked with a gRPC client built from
//! `console-api` as the stock `tokio-console` client uses it: for tasks of
//! smol, async-std, tokio and a custom runtime, the updates carry their
//! names, spawn locations, parents, polls and ends; and the bridge keeps to
//! the protocol's rules (metadata before the tasks that use it, a new task
//! with its stats in the same update, messages under the client's 4 MiB
//! decode limit), pauses and resumes, and serves many clients; the
//! monitor's lints and each task's future size reach the client as task
//! fields.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use conformance_tests::support::Gate;
use console_api::{
    field,
    instrument::{
        InstrumentRequest, PauseRequest, ResumeRequest, StateRequest, TaskDetailsRequest,
        Temporality, Update, instrument_client::InstrumentClient,
    },
    tasks::{Stats, Task},
};
use futures_lite::future::yield_now;
use monitor_core::{
    Executor, ExternalTask, Spawner, TaskEnd, TaskIntrospect, TaskOptions, TaskRegistry, TaskState,
    Thresholds,
};
use monitor_server::{Monitor, MonitorBuilder};
use tonic::{Streaming, transport::Channel};

/// Generous: the bridge sends once a second, and a 100 000-task snapshot
/// takes a few seconds to decode in a debug build on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

fn start(registry: &Arc<TaskRegistry>) -> Monitor {
    MonitorBuilder::new(Arc::clone(registry))
        .port(0)
        .tokio_console(SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .expect("monitor with tokio-console started")
}

/// Runs the client side on a current-thread tokio runtime of its own.
fn on_client<F: Future<Output = ()>>(future: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
        .block_on(future);
}

async fn connect(monitor: &Monitor) -> InstrumentClient<Channel> {
    let addr = monitor.tokio_console_addr().expect("bridge listening");
    InstrumentClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to the bridge")
}

/// A new client's `WatchUpdates` stream.
async fn watch(monitor: &Monitor) -> Streaming<Update> {
    updates_of(&mut connect(monitor).await).await
}

/// `WatchUpdates` on an existing client.
async fn updates_of(client: &mut InstrumentClient<Channel>) -> Streaming<Update> {
    client
        .watch_updates(InstrumentRequest {})
        .await
        .expect("WatchUpdates")
        .into_inner()
}

/// A bridge over `count` hook-style tasks named `conn-N`: many tasks,
/// cheaply.
fn bridge_over_connections(count: usize) -> (Vec<ExternalTask>, Monitor) {
    let registry = TaskRegistry::new();
    let tasks = (0..count)
        .map(|n| registry.register(TaskOptions::new().name(format!("conn-{n}"))))
        .collect();
    (tasks, start(&registry))
}

fn finish_all(tasks: Vec<ExternalTask>) {
    for task in tasks {
        task.finish(TaskEnd::Completed);
    }
}

/// What a client knows after reading updates, checked against the
/// protocol's rules as it goes.
#[derive(Default)]
struct View {
    metadata: HashSet<u64>,
    tasks: HashMap<u64, Task>,
    stats: HashMap<u64, Stats>,
    messages: usize,
}

impl View {
    #[track_caller]
    fn apply(&mut self, update: Update) {
        self.messages += 1;
        assert!(update.now.is_some(), "every update carries `now`");
        if let Some(new) = update.new_metadata {
            self.metadata
                .extend(new.metadata.iter().filter_map(|m| m.id.map(|id| id.id)));
        }
        let Some(tasks) = update.task_update else {
            return;
        };
        for task in tasks.new_tasks {
            let id = task.id.expect("a task has an id").id;
            assert_ne!(id, 0, "task ids are non-zero");
            let meta = task.metadata.expect("a task names its metadata").id;
            assert!(
                self.metadata.contains(&meta),
                "task {id} uses metadata {meta} before it was registered"
            );
            assert!(
                tasks.stats_update.contains_key(&id),
                "new task {id} arrived without its stats in the same update"
            );
            self.tasks.insert(id, task);
        }
        for (id, stats) in tasks.stats_update {
            assert!(
                self.tasks.contains_key(&id),
                "stats for task {id}, which was never announced"
            );
            assert!(stats.created_at.is_some(), "stats of {id} lack created_at");
            assert!(stats.poll_stats.is_some(), "stats of {id} lack poll_stats");
            self.stats.insert(id, stats);
        }
    }

    fn field(&self, id: u64, name: &str) -> Option<field::Value> {
        let task = self.tasks.get(&id)?;
        task.fields
            .iter()
            .find(|f| matches!(&f.name, Some(field::Name::StrName(n)) if n == name))
            .and_then(|f| f.value.clone())
    }

    fn text_field(&self, id: u64, name: &str) -> Option<String> {
        match self.field(id, name)? {
            field::Value::StrVal(text) => Some(text),
            other => panic!("field {name} of task {id} is not text: {other:?}"),
        }
    }

    fn named(&self, name: &str) -> Option<u64> {
        self.tasks
            .keys()
            .copied()
            .find(|&id| self.field(id, "task.name") == Some(field::Value::StrVal(name.to_owned())))
    }

    fn polls(&self, id: u64) -> u64 {
        self.stats[&id].poll_stats.as_ref().map_or(0, |p| p.polls)
    }

    fn ended(&self, id: u64) -> bool {
        self.stats[&id].dropped_at.is_some()
    }
}

/// Reads updates into `view` until `done` holds; fails after [`PATIENCE`].
async fn read_until(
    stream: &mut Streaming<Update>,
    view: &mut View,
    what: &str,
    done: impl Fn(&View) -> bool,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done(view) {
        let next = tokio::time::timeout_at(deadline, stream.message()).await;
        match next {
            Ok(Ok(Some(update))) => view.apply(update),
            Ok(Ok(None)) => panic!("the update stream ended while waiting for {what}"),
            Ok(Err(status)) => {
                panic!("the update stream failed while waiting for {what}: {status}")
            }
            Err(_) => panic!(
                "no {what} within {PATIENCE:?}; the client saw {} tasks, among them {:?}",
                view.tasks.len(),
                view.tasks
                    .keys()
                    .take(20)
                    .map(|&id| (id, view.field(id, "task.name")))
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// Spawns, on `executor`: a task that yields three times then waits
/// forever (4 polls), one that finishes at once, and a parent whose child
/// waits forever; then checks what a tokio-console client sees.
fn tasks_of_a_runtime_reach_the_client(runtime: &str, executor: Arc<dyn Executor>) {
    let registry = TaskRegistry::new();
    let monitor = start(&registry);
    let spawner = Spawner::from_arc(executor, Arc::clone(&registry));
    let waiting = spawner
        .task()
        .name(format!("{runtime}-waiter"))
        .spawn(async {
            for _ in 0..3 {
                yield_now().await;
            }
            std::future::pending::<()>().await;
        });
    let finished = spawner
        .task()
        .name(format!("{runtime}-finisher"))
        .spawn(async {});
    let child_spawner = spawner.clone();
    let child_name = format!("{runtime}-child");
    let parent = spawner
        .task()
        .name(format!("{runtime}-parent"))
        .spawn(async move {
            let child = child_spawner
                .task()
                .name(child_name)
                .spawn(std::future::pending::<()>());
            std::future::pending::<()>().await;
            drop(child);
        });

    on_client(async {
        let mut updates = watch(&monitor).await;
        let mut view = View::default();
        let waiter = format!("{runtime}-waiter");
        read_until(&mut updates, &mut view, "the waiter after 4 polls", |v| {
            v.named(&waiter).is_some_and(|id| v.polls(id) == 4)
        })
        .await;
        let id = view.named(&waiter).unwrap();
        assert_eq!(
            id,
            waiting.id().as_u64(),
            "{runtime}: the monitor's task id"
        );
        assert_eq!(
            view.field(id, "task.id"),
            Some(field::Value::U64Val(id)),
            "{runtime}"
        );
        assert_eq!(
            view.field(id, "kind"),
            Some(field::Value::StrVal("task".into())),
            "{runtime}"
        );
        let location = view.tasks[&id].location.clone().expect("a location");
        assert!(
            location
                .file
                .as_deref()
                .is_some_and(|f| f.ends_with("tokio_console.rs")),
            "{runtime}: the spawn site is this file, not the adapter: {location:?}"
        );
        assert!(location.line.is_some() && location.column.is_some());
        assert!(!view.ended(id), "{runtime}: the waiter is live");

        let finisher = format!("{runtime}-finisher");
        read_until(&mut updates, &mut view, "the finisher, ended", |v| {
            v.named(&finisher).is_some_and(|id| v.ended(id))
        })
        .await;
        let done = view.named(&finisher).unwrap();
        assert_eq!(done, finished.id().as_u64());
        assert!(
            view.polls(done) >= 1,
            "{runtime}: it was polled to completion"
        );

        let child = format!("{runtime}-child");
        read_until(&mut updates, &mut view, "the child", |v| {
            v.named(&child).is_some()
        })
        .await;
        let child = view.named(&child).unwrap();
        let parent_id = parent.id().as_u64();
        assert_eq!(
            view.tasks[&child]
                .parents
                .iter()
                .map(|p| p.id)
                .collect::<Vec<_>>(),
            [parent_id],
            "{runtime}: the child names its parent"
        );
        assert_eq!(
            view.field(child, "parent.task.id"),
            Some(field::Value::U64Val(parent_id))
        );

        // The lost-waker lint needs "no waker left" on an idle task: the
        // monitor's own clone keeps it from firing on counts nobody took.
        let stats = &view.stats[&id];
        assert!(stats.waker_clones > stats.waker_drops, "{runtime}");
        assert_eq!((stats.wakes, stats.self_wakes), (0, 0), "{runtime}");

        // Cancelled from the monitor: the client sees it end.
        waiting.cancel();
        read_until(&mut updates, &mut view, "the waiter's end", |v| v.ended(id)).await;
    });
    drop(parent);
}

#[test]
fn smol_tasks_reach_the_client() {
    tasks_of_a_runtime_reach_the_client("smol", Arc::new(monitor_smol::SmolExecutor::new()));
}

#[test]
fn async_std_tasks_reach_the_client() {
    tasks_of_a_runtime_reach_the_client(
        "async-std",
        Arc::new(monitor_async_std::AsyncStdExecutor::new()),
    );
}

#[test]
fn tokio_tasks_reach_the_client() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    tasks_of_a_runtime_reach_the_client(
        "tokio",
        Arc::new(monitor_tokio::TokioExecutor::from_handle(
            runtime.handle().clone(),
        )),
    );
}

#[test]
fn custom_runtime_tasks_reach_the_client() {
    let pool = conformance_tests::custom::ThreadPool::new("custom", 2);
    tasks_of_a_runtime_reach_the_client("custom", Arc::new(pool.clone()));
    pool.shutdown();
}

/// A task whose future is 4 KiB and one blocking its worker carry the
/// monitor's lint ids in `monitor.lints` (the client's Fields column); a
/// small idle task carries none; the blocked task is sent again without
/// the field once its poll returned. Every wrapped task carries its
/// future's size as `size.bytes`, which the client's own large-future
/// warning reads.
#[test]
fn lints_and_future_sizes_reach_the_client_as_task_fields() {
    let registry = TaskRegistry::new();
    let mut thresholds = Thresholds::default();
    thresholds.slow_poll = Duration::from_millis(20);
    thresholds.stuck_worker = Duration::from_secs(600);
    registry.sites().set_thresholds(thresholds);
    let monitor = start(&registry);
    let pool = conformance_tests::custom::ThreadPool::new("lints", 2);
    let spawner = Spawner::from_arc(Arc::new(pool.clone()), Arc::clone(&registry));
    let big = spawner.task().name("big").spawn(async {
        let buffer = [3u8; 4096];
        std::future::pending::<()>().await;
        buffer[0]
    });
    let small = spawner
        .task()
        .name("small")
        .spawn(std::future::pending::<()>());
    let (gate, key) = Gate::new();
    let blocked = spawner.task().name("blocked").spawn(async move {
        yield_now().await;
        gate.wait();
    });

    on_client(async {
        let mut updates = watch(&monitor).await;
        let mut view = View::default();
        let lints_of = |v: &View, name: &str| {
            v.named(name)
                .and_then(|id| v.text_field(id, "monitor.lints"))
        };
        read_until(
            &mut updates,
            &mut view,
            "the three tasks, two flagged",
            |v| {
                v.named("small").is_some()
                    && lints_of(v, "big").as_deref() == Some("large-future")
                    && lints_of(v, "blocked").as_deref() == Some("blocking-poll")
            },
        )
        .await;
        let size = |name: &str| match view.field(view.named(name).unwrap(), "size.bytes") {
            Some(field::Value::U64Val(bytes)) => bytes,
            other => panic!("{name}: size.bytes is {other:?}"),
        };
        assert!(size("big") >= 4096, "{}", size("big"));
        assert!(size("small") < 1024, "{}", size("small"));
        assert_eq!(
            lints_of(&view, "small"),
            None,
            "a clean task has no lints field"
        );

        key.open();
        read_until(
            &mut updates,
            &mut view,
            "the unblocked task without lints",
            |v| {
                let id = v.named("blocked").unwrap();
                v.ended(id) && lints_of(v, "blocked").is_none()
            },
        )
        .await;
        assert_eq!(lints_of(&view, "big").as_deref(), Some("large-future"));
    });
    let blocked = registry.task(blocked.id()).map(|t| t.state);
    assert!(
        blocked.is_none_or(|state| state == TaskState::Completed),
        "{blocked:?}"
    );
    drop((big, small));
    pool.shutdown();
}

#[test]
fn a_hundred_thousand_tasks_arrive_within_the_clients_message_limit() {
    let (tasks, monitor) = bridge_over_connections(100_000);
    on_client(async {
        // The generated client keeps tonic's default 4 MiB decode limit, as
        // the stock tokio-console does: a bigger message would fail here.
        let mut updates = watch(&monitor).await;
        let mut view = View::default();
        read_until(&mut updates, &mut view, "100 000 tasks", |v| {
            v.tasks.len() >= tasks.len()
        })
        .await;
        assert!(view.messages > 1, "the snapshot was cut into messages");
    });
    finish_all(tasks);
}

#[test]
fn a_stalled_client_is_disconnected_and_resyncs_on_reconnect() {
    // 100 000 tasks make a ~15 MB snapshot, far more than HTTP/2's flow
    // control lets the server buffer for a client that reads nothing.
    let (tasks, monitor) = bridge_over_connections(100_000);
    on_client(async {
        let mut stalled = watch(&monitor).await;
        // Read nothing for longer than the bridge waits for a client.
        tokio::time::sleep(monitor_server::tokio_console::SEND_TIMEOUT + Duration::from_secs(2))
            .await;
        // What was in flight drains, then the stream ends instead of
        // holding a snapshot's worth of memory for this client.
        let mut view = View::default();
        let drained = tokio::time::timeout(PATIENCE, async {
            while let Ok(Some(update)) = stalled.message().await {
                view.apply(update);
            }
        })
        .await;
        assert!(drained.is_ok(), "the stalled client's stream never ended");
        assert!(
            view.tasks.len() < tasks.len(),
            "the stalled client got everything ({} tasks): the bridge kept buffering for it",
            view.tasks.len()
        );
        // Reconnecting (the stock client does it by itself) starts over.
        let mut fresh = watch(&monitor).await;
        let mut view = View::default();
        read_until(&mut fresh, &mut view, "a full snapshot", |v| {
            v.tasks.len() >= tasks.len()
        })
        .await;
    });
    finish_all(tasks);
}

#[test]
fn pause_stops_updates_and_resume_restarts_them() {
    let registry = TaskRegistry::new();
    let monitor = start(&registry);
    on_client(async {
        let mut client = connect(&monitor).await;
        let mut states = client
            .watch_state(StateRequest {})
            .await
            .expect("WatchState")
            .into_inner();
        let first = states.message().await.unwrap().unwrap();
        assert_eq!(first.temporality(), Temporality::Live);
        let mut updates = updates_of(&mut client).await;
        let mut view = View::default();
        read_until(&mut updates, &mut view, "the snapshot", |v| v.messages > 0).await;

        client.pause(PauseRequest {}).await.expect("Pause");
        let paused = states.message().await.unwrap().unwrap();
        assert_eq!(paused.temporality(), Temporality::Paused);
        // Whatever was already in flight drains; then nothing while paused,
        // even though a task appears.
        let task = registry.register(TaskOptions::new().name("while-paused"));
        let quiet = tokio::time::timeout(Duration::from_millis(2500), async {
            loop {
                let update = updates.message().await.unwrap().unwrap();
                view.apply(update);
                if view.named("while-paused").is_some() {
                    break;
                }
            }
        })
        .await;
        assert!(quiet.is_err(), "a paused bridge sent the new task");

        client.resume(ResumeRequest {}).await.expect("Resume");
        let live = states.message().await.unwrap().unwrap();
        assert_eq!(live.temporality(), Temporality::Live);
        read_until(&mut updates, &mut view, "the task after resume", |v| {
            v.named("while-paused").is_some()
        })
        .await;
        drop(task);
    });
}

#[test]
fn many_clients_at_once_each_get_a_full_snapshot() {
    let registry = TaskRegistry::new();
    let _task = registry.register(TaskOptions::new().name("shared"));
    let monitor = start(&registry);
    on_client(async {
        let mut streams = Vec::new();
        for _ in 0..12 {
            streams.push(watch(&monitor).await);
        }
        for updates in &mut streams {
            let mut view = View::default();
            read_until(updates, &mut view, "the shared task", |v| {
                v.named("shared").is_some()
            })
            .await;
        }
    });
}

#[test]
fn streams_beyond_the_limit_are_refused_with_a_reason() {
    let registry = TaskRegistry::new();
    let monitor = start(&registry);
    on_client(async {
        let mut client = connect(&monitor).await;
        let mut open = Vec::new();
        for _ in 0..monitor_server::tokio_console::MAX_STREAMS {
            open.push(
                client
                    .watch_state(StateRequest {})
                    .await
                    .expect("within the limit")
                    .into_inner(),
            );
        }
        let refused = client
            .watch_updates(InstrumentRequest {})
            .await
            .expect_err("one stream too many");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("at most"), "{refused}");
        // Closing one makes room again.
        drop(open.pop());
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match client.watch_updates(InstrumentRequest {}).await {
                Ok(_) => break,
                Err(status) if tokio::time::Instant::now() < deadline => {
                    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
                    tokio::task::yield_now().await;
                }
                Err(status) => panic!("no room after a stream closed: {status}"),
            }
        }
    });
}

#[test]
fn task_details_stream_for_live_tasks_and_not_found_for_unknown_ones() {
    let registry = TaskRegistry::new();
    let task = registry.register(TaskOptions::new().name("detailed"));
    let monitor = start(&registry);
    on_client(async {
        let mut client = connect(&monitor).await;
        let mut details = client
            .watch_task_details(TaskDetailsRequest {
                id: Some(task.id().as_u64().into()),
            })
            .await
            .expect("WatchTaskDetails")
            .into_inner();
        let first = details.message().await.unwrap().expect("details");
        assert_eq!(first.task_id.map(|id| id.id), Some(task.id().as_u64()));
        let now = SystemTime::try_from(first.now.expect("now")).unwrap();
        assert!(now.elapsed().unwrap_or_default() < PATIENCE);

        let missing = client
            .watch_task_details(TaskDetailsRequest {
                id: Some(u64::MAX.into()),
            })
            .await
            .expect_err("an unknown task");
        assert_eq!(missing.code(), tonic::Code::NotFound);
        assert!(missing.message().contains("no task"), "{missing}");
    });
}

#[test]
fn a_busy_port_is_an_error_at_start() {
    let registry = TaskRegistry::new();
    let first = start(&registry);
    let taken = first.tokio_console_addr().unwrap();
    let err = MonitorBuilder::new(registry)
        .port(0)
        .tokio_console(taken)
        .start()
        .expect_err("the port is taken");
    assert!(err.to_string().contains("in use"), "{err}");
}

#[test]
fn non_loopback_addresses_need_allow_remote() {
    let err = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .tokio_console(SocketAddr::from(([0, 0, 0, 0], 0)))
        .start()
        .expect_err("refused");
    assert!(err.to_string().contains("allow_remote"), "{err}");
}

#[test]
fn closing_the_monitor_frees_the_bridges_port() {
    let registry = TaskRegistry::new();
    let mut monitor = start(&registry);
    let addr = monitor.tokio_console_addr().unwrap();
    monitor.close();
    std::net::TcpListener::bind(addr).expect("the port is free again");
}
