//! Per-spawn-site statistics and lints over HTTP: `GET /api/sites`,
//! `GET /api/lints`, the Sites and Lints pages, the marks in the tasks
//! table, and their series in `/metrics`.
#![cfg(feature = "http")]

mod http_support;
mod support;

use std::{sync::Arc, time::Duration};

use monitor_core::{JoinHandle, Spawner, TaskId, TaskIntrospect, TaskRegistry};
use monitor_server::MonitorBuilder;

use http_support::get;
use support::{TinyPool, eventually};

struct App {
    spawner: Spawner,
    registry: Arc<TaskRegistry>,
    monitor: monitor_server::Monitor,
}

impl App {
    fn new(registry: Arc<TaskRegistry>) -> Self {
        let pool = TinyPool::new(2);
        let spawner = Spawner::new(pool.clone(), Arc::clone(&registry));
        let monitor = MonitorBuilder::new(Arc::clone(&registry))
            .no_tcp()
            .http_port(0)
            .console_enabled(false)
            .executor(Arc::new(pool))
            .start()
            .unwrap();
        Self {
            spawner,
            registry,
            monitor,
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.monitor.http_addr().expect("HTTP is on")
    }

    fn location(&self, id: TaskId) -> String {
        self.registry.task(id).unwrap().location
    }
}

/// Short tasks, all spawned at this one site; returns the site.
fn quick_tasks(app: &App, n: usize) -> String {
    let handles: Vec<JoinHandle<()>> = (0..n)
        .map(|_| app.spawner.task().name("quick").spawn(async {}))
        .collect();
    let location = app.registry.task(handles[0].id()).map(|t| t.location);
    for handle in handles {
        futures_lite::future::block_on(handle).unwrap();
    }
    location.unwrap_or_else(|| {
        let stats = app.registry.sites().stats(&*app.registry);
        stats
            .iter()
            .find(|row| row.name.as_deref() == Some("quick"))
            .and_then(|row| row.location.clone())
            .unwrap()
    })
}

/// Waiting tasks spawned at this one site; they end when the guard drops.
fn sleepers(app: &App, n: usize) -> (Vec<TaskId>, async_channel::Sender<()>) {
    let (tx, rx) = async_channel::bounded::<()>(1);
    let ids = (0..n)
        .map(|_| {
            let rx = rx.clone();
            app.spawner
                .task()
                .name("sleeper")
                .spawn(async move {
                    let _ = rx.recv().await;
                })
                .id()
        })
        .collect();
    (ids, tx)
}

/// A task that blocks its worker inside one poll until the sender sends.
fn blocker(app: &App) -> (TaskId, std::sync::mpsc::Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let handle = app.spawner.task().name("blocker").spawn(async move {
        let _ = rx.recv_timeout(Duration::from_secs(30));
    });
    (handle.id(), tx)
}

/// A task whose future is 4 KiB (a buffer held across an await).
fn large(app: &App) -> (TaskId, async_channel::Sender<()>) {
    let (tx, rx) = async_channel::bounded::<()>(1);
    let handle = app.spawner.task().name("large").spawn(async move {
        let buffer = [7u8; 4096];
        let _ = rx.recv().await;
        std::hint::black_box(buffer);
    });
    (handle.id(), tx)
}

#[test]
fn api_sites_is_sites_json_sorted_and_limited_and_bad_queries_are_400() {
    let app = App::new(TaskRegistry::new());
    let quick = quick_tasks(&app, 3);
    let (ids, _release) = sleepers(&app, 2);
    let waiting = app.location(ids[0]);
    eventually("three ended, two polled", || {
        let stats = app.registry.sites().stats(&*app.registry);
        let ended = stats
            .iter()
            .any(|row| row.location.as_deref() == Some(&quick) && row.ended.completed == 3);
        let polled = ids
            .iter()
            .all(|&id| app.registry.task(id).is_some_and(|t| t.polls > 0));
        (ended && polled).then_some(())
    });

    let response = get(app.addr(), "/api/sites");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let rows = response.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    // The objects `sites --json` prints: the same serializer.
    let expected = serde_json::to_value(app.registry.sites().stats(&*app.registry)).unwrap();
    let row_of = |rows: &[serde_json::Value], location: &str| {
        rows.iter()
            .find(|row| row["location"] == location)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {location} in {rows:?}"))
    };
    let quick_row = row_of(rows, &quick);
    assert_eq!(quick_row, row_of(expected.as_array().unwrap(), &quick));
    assert_eq!(quick_row["spawned"], 3);
    assert_eq!(quick_row["live"], 0);
    assert_eq!(quick_row["ended"]["completed"], 3);
    assert_eq!(quick_row["name"], "quick");
    assert!(quick_row["poll_time"]["p99_ns"].is_u64(), "{quick_row}");
    let waiting_row = row_of(rows, &waiting);
    assert_eq!(waiting_row["live"], 2);
    assert_eq!(waiting_row["spawned"], 2);

    let top = get(app.addr(), "/api/sites?sort=live&limit=1").json();
    assert_eq!(top.as_array().unwrap().len(), 1);
    assert_eq!(top[0]["location"], waiting.as_str());
    let top = get(app.addr(), "/api/sites?sort=spawned&limit=1").json();
    assert_eq!(top[0]["location"], quick.as_str());

    let message = get(app.addr(), "/api/sites?sort=colour").assert_error(400);
    assert!(
        message.contains("colour") && message.contains("spawned"),
        "{message}"
    );
    let message = get(app.addr(), "/api/sites?limit=many").assert_error(400);
    assert!(message.contains("many"), "{message}");
    let message =
        http_support::request(app.addr(), "POST", "/api/sites", &[], b"").assert_error(405);
    assert!(message.contains("GET"), "{message}");
}

#[test]
fn the_sites_page_is_the_table_sortable_by_its_headers() {
    let app = App::new(TaskRegistry::new());
    let quick = quick_tasks(&app, 2);
    let (ids, _release) = sleepers(&app, 1);
    let waiting = app.location(ids[0]);
    let page = get(app.addr(), "/sites");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    for location in [&quick, &waiting] {
        assert!(
            page.body.contains(&format!("data-location=\"{location}\"")),
            "{location} missing in {}",
            page.body
        );
    }
    for key in [
        "live", "spawned", "polls", "busy", "slow", "p99", "location",
    ] {
        assert!(
            page.body.contains(&format!("href=\"/sites?sort={key}\"")),
            "{key}"
        );
    }
    // A site links to its live tasks.
    assert!(page.body.contains("href=\"/?filter="), "{}", page.body);
    // Sorted by spawned: the quick site (2) before the waiting one (1).
    let sorted = get(app.addr(), "/sites?sort=spawned").body;
    let at = |location: &str| {
        sorted
            .find(&format!("data-location=\"{location}\""))
            .unwrap()
    };
    assert!(at(&quick) < at(&waiting));
    let sorted = get(app.addr(), "/sites?sort=live").body;
    let at = |location: &str| {
        sorted
            .find(&format!("data-location=\"{location}\""))
            .unwrap()
    };
    assert!(at(&waiting) < at(&quick));
    get(app.addr(), "/sites?sort=colour").assert_error(400);
}

#[test]
fn lints_fire_in_the_api_the_page_and_the_tasks_table_and_stop_when_fixed() {
    let app = App::new(TaskRegistry::new());
    let nothing = get(app.addr(), "/api/lints").json();
    assert_eq!(nothing, serde_json::json!([]));
    assert!(
        get(app.addr(), "/lints")
            .body
            .contains("No lint fires now.")
    );

    let (large_id, _keep) = large(&app);
    let (blocked, release) = blocker(&app);
    let lints = eventually("blocking-poll fires", || {
        let lints = get(app.addr(), "/api/lints").json();
        lints
            .as_array()
            .unwrap()
            .iter()
            .any(|lint| lint["id"] == "blocking-poll" || lint["id"] == "stuck-worker")
            .then_some(lints)
    });
    let lints = lints.as_array().unwrap();
    // The objects `lints --json` prints: the same serializer.
    let expected = serde_json::to_value(monitor_core::lints(&*app.registry)).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&lints[0]), keys(&expected[0]));
    let poll_lint = lints
        .iter()
        .find(|lint| lint["subject"]["kind"] == "task")
        .unwrap();
    assert_eq!(poll_lint["subject"]["id"], blocked.as_u64());
    assert!(!poll_lint["fix"].as_str().unwrap().is_empty());
    let large_lint = lints
        .iter()
        .find(|lint| lint["id"] == "large-future")
        .expect("large-future fires");
    assert_eq!(large_lint["subject"]["kind"], "site");
    assert_eq!(large_lint["subject"]["location"], app.location(large_id));

    let page = get(app.addr(), "/lints").body;
    assert!(page.contains("id=\"large-future\""), "{page}");
    assert!(
        page.contains(&format!("href=\"/tasks/{blocked}\"")),
        "{page}"
    );
    assert!(page.contains("Fix: "), "{page}");

    // The tasks table marks both tasks, linking to the explanation.
    let tasks = get(app.addr(), "/").body;
    let row = |id: TaskId| {
        let start = tasks.find(&format!("data-task-id=\"{id}\"")).unwrap();
        let end = tasks[start..].find("</tr>").unwrap() + start;
        tasks[start..end].to_owned()
    };
    assert!(row(large_id).contains("href=\"/lints#large-future\""));
    let blocked_row = row(blocked);
    assert!(
        blocked_row.contains("data-lint=\"blocking-poll\"")
            || blocked_row.contains("data-lint=\"stuck-worker\""),
        "{blocked_row}"
    );
    assert!(tasks.contains("flagged"));

    release.send(()).unwrap();
    eventually("the poll lint stops", || {
        let lints = get(app.addr(), "/api/lints").json();
        (!lints
            .as_array()
            .unwrap()
            .iter()
            .any(|lint| lint["subject"]["kind"] == "task"))
        .then_some(())
    });
}

/// The value of the one sample of `/metrics` whose line starts with
/// `series` (name and labels), or `None`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

#[test]
fn metrics_export_per_site_totals_live_slow_polls_and_lints_by_location_not_name() {
    let app = App::new(TaskRegistry::new());
    let quick = quick_tasks(&app, 3);
    let (ids, _release) = sleepers(&app, 2);
    let waiting = app.location(ids[0]);
    let (blocked, release) = blocker(&app);
    let blocking = app.location(blocked);
    eventually("the blocker is in its poll", || {
        app.registry
            .task(blocked)?
            .poll_ns
            // Well past the 10 ms threshold: the poll's own measure reads
            // a clock ticked by a thread a loaded machine may delay.
            .filter(|&ns| ns >= 200_000_000)
    });
    release.send(()).unwrap();
    eventually("the blocker ended", || {
        app.registry
            .task(blocked)
            .is_none_or(|task| task.state.is_terminal())
            .then_some(())
    });
    let (_large, _keep) = large(&app);

    let metrics = get(app.addr(), "/metrics").body;
    let at = |name: &str, location: &str, extra: &str| {
        sample(
            &metrics,
            &format!("{name}{{location=\"{location}\"{extra}}}"),
        )
        .unwrap_or_else(|| panic!("no {name} for {location} in\n{metrics}"))
    };
    assert_eq!(at("monitor_site_tasks_spawned_total", &quick, ""), 3.0);
    assert_eq!(
        at(
            "monitor_site_tasks_ended_total",
            &quick,
            ",reason=\"completed\""
        ),
        3.0
    );
    assert_eq!(
        at(
            "monitor_site_tasks_ended_total",
            &quick,
            ",reason=\"panicked\""
        ),
        0.0
    );
    assert_eq!(at("monitor_site_live_tasks", &waiting, ""), 2.0);
    assert_eq!(at("monitor_site_live_tasks", &quick, ""), 0.0);
    assert_eq!(at("monitor_site_slow_polls_total", &blocking, ""), 1.0);
    assert_eq!(at("monitor_site_slow_polls_total", &quick, ""), 0.0);
    assert!(at("monitor_site_polls_total", &quick, "") >= 3.0);
    assert_eq!(
        sample(&metrics, "monitor_lints_firing{lint=\"large-future\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "monitor_lints_firing{lint=\"stuck-worker\"}"),
        Some(0.0),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE monitor_site_tasks_spawned_total counter"));
    // Task names never become labels.
    assert!(!metrics.contains("sleeper") && !metrics.contains("quick"));
}

#[test]
fn metrics_sites_past_the_bound_share_the_other_row() {
    let app = App::new(TaskRegistry::builder().max_sites(1).build());
    let quick = quick_tasks(&app, 2);
    let (ids, _release) = sleepers(&app, 3);
    assert_ne!(app.location(ids[0]), quick);
    eventually("three live", || {
        (app.registry.live_count() == 3).then_some(())
    });
    let metrics = get(app.addr(), "/metrics").body;
    assert_eq!(
        sample(
            &metrics,
            &format!("monitor_site_tasks_spawned_total{{location=\"{quick}\"}}")
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "monitor_site_tasks_spawned_total{location=\"other\"}"
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "monitor_site_live_tasks{location=\"other\"}"),
        Some(3.0)
    );
    let sites = get(app.addr(), "/api/sites").json();
    assert_eq!(sites.as_array().unwrap().len(), 2);
    assert!(get(app.addr(), "/sites").body.contains("(other sites)"));
}
